// The container init: pid 1 of the new pid namespace, from mounts to execve of INIT, as syscall programs prepared before fork.
//
// Theory of operation: this runs in a process forked from the host side after
// the namespaces exist and the id maps are written. There is no event loop
// here (the threads that would run it did not survive fork), so every call is
// synchronous, and JavaScript is dear (see program.ts): the checklist (root
// and mounts, pivot_root, read-only root, hostname, network, terminal or
// stdio, working directory, capabilities, user, no_new_privs, seccomp) was
// written down by the host side as two programs (init_program.ts), which run
// here; then INIT is executed. Each step either succeeds or is reported to the
// host side as one StepFailed message (step, syscall, errno, path), after
// which the process exits with 125 (setup), 126 (INIT cannot be executed) or
// 127 (INIT not found).

import { SyscallError } from "../../../ffi/errno.ts";
import { close, O, open, pathExists, read, writeAll } from "../../../ffi/sys.ts";
import { exitNow, fork, kill, signalFd, waitpid } from "../../../ffi/process.ts";
import { lastErrno, libc } from "../../../ffi/libc.ts";
import { configureInterface, configureInterface6 } from "../netconfig.ts";
import type { ContainerSpec } from "../spec.ts";
import { send } from "./messages.ts";
import { setProcessTitle } from "./title.ts";
import { attachContainerTerminal } from "./terminal.ts";
import { reportFailure, step, StepError } from "./steps.ts";
import { type InitPrograms, prepareInit } from "./init_program.ts";
import { INIT_HOOK } from "./init_context.ts";
import { setgroupsDenied } from "./identity.ts";
import { failureError, type Hook, runProgram, type SyscallProgram } from "./program.ts";
import { resolveInRoot } from "../mounts.ts";
import { type RawSyscall, SYSCALL_NUMBERS } from "../../../ffi/raw_calls.ts";

/** Descriptors the init dup2s onto 0, 1 and 2 when there is no terminal. */
export type Stdio = readonly [number, number, number];

const SIGCHLD = 17;
const FORWARDED_SIGNALS = [1, 2, 3, 10, 12, 15, 28] as const; // HUP INT QUIT USR1 USR2 TERM WINCH

/**
 * Writes the init's programs for `spec` (in the host process): `sock` is the
 * init's channel to the host side, `stdio` the descriptors INIT's standard streams come from.
 */
export function prepareContainerInit(
  spec: ContainerSpec,
  sock: number,
  stdio: Stdio,
): InitPrograms {
  return prepareInit(spec, {
    sock,
    stdio,
    setgroupsDenied: !spec.idMapping.helpers || setgroupsDenied(),
    lastCapability: lastCapability(),
    signals: hostSignals(),
  });
}

/** The signals this process ignores and catches (SigIgn and SigCgt of /proc/self/status). */
function hostSignals(): { ignored: number[]; caught: number[] } {
  // A mask is 16 hex digits, signal 1 the lowest bit: read as two 32-bit halves.
  const of = (hex: string) => {
    const signals: number[] = [];
    const halves = [parseInt(hex.slice(-8), 16) || 0, parseInt(hex.slice(-16, -8), 16) || 0];
    for (let sig = 1; sig <= 64; sig++) {
      if ((halves[(sig - 1) >> 5]! >>> ((sig - 1) & 31)) & 1) signals.push(sig);
    }
    return signals;
  };
  try {
    const status = Deno.readTextFileSync("/proc/self/status");
    const field = (name: string) => {
      const at = status.indexOf(`\n${name}:`);
      if (at < 0) return "0";
      const end = status.indexOf("\n", at + 1);
      return status.slice(at + name.length + 2, end < 0 ? undefined : end).trim();
    };
    return { ignored: of(field("SigIgn")), caught: of(field("SigCgt")) };
  } catch {
    // No /proc: every signal is reset.
    const all = Array.from({ length: 64 }, (_, i) => i + 1);
    return { ignored: all, caught: all };
  }
}

/** The hooks of the init's programs, in INIT_HOOK's order; `sock` is INIT's channel. */
function initHooks(sock: number): Hook[] {
  const hooks: Hook[] = [];
  hooks[INIT_HOOK.network] = ([address, prefixLength, gateway, mtu]) => {
    step(
      "configure eth0",
      () => configureInterface("eth0", address!, prefixLength!, gateway!, mtu!),
    );
    step("configure IPv6 on eth0", () => configureInterface6("eth0", mtu!));
  };
  hooks[INIT_HOOK.terminal] = ([rows, columns]) =>
    step(
      "attach the terminal",
      () => attachContainerTerminal(sock, rows ? { rows, columns: columns! } : null),
    );
  hooks[INIT_HOOK.gate] = ([gateFd]) =>
    step("wait at the start gate", () => {
      send(sock, { t: "gated" });
      const fd = open(`/proc/self/fd/${gateFd}`, O.WRONLY | O.CLOEXEC);
      writeAll(fd, new Uint8Array([0]));
      close(fd);
      close(gateFd!);
    });
  hooks[INIT_HOOK.follow] = ([pathAddress, file]) => {
    const path = Deno.UnsafePointerView.getCString(
      Deno.UnsafePointer.create(BigInt(pathAddress!))!,
    );
    step(`make ${path}`, () => ensureFollowingLinks(path, file === 1 ? "file" : "dir"));
  };
  return hooks;
}

/**
 * Makes sure `path` exists as mkdir -p would, following the root's links along it (the
 * caller is chrooted into the root, so they cannot lead out): the rare path of a mount
 * target behind a link to a path not made yet.
 */
function ensureFollowingLinks(path: string, kind: "dir" | "file"): void {
  const resolved = resolveInRoot("", path);
  if (pathExists(resolved)) return;
  if (kind === "dir") {
    Deno.mkdirSync(resolved, { recursive: true });
  } else {
    Deno.mkdirSync(resolved.slice(0, resolved.lastIndexOf("/")) || "/", { recursive: true });
    Deno.writeFileSync(resolved, new Uint8Array(), { mode: 0o644 });
  }
}

/** The kernel's highest capability number (63 when it cannot be read: the rest fail harmlessly). */
function lastCapability(): number {
  try {
    const n = Number(Deno.readTextFileSync("/proc/sys/kernel/cap_last_cap").trim());
    return Number.isInteger(n) && n >= 0 && n < 64 ? n : 63;
  } catch {
    return 63;
  }
}

/** Runs the init's programs and execs INIT; never returns. `sock` is INIT's channel. */
export function containerInit(programs: InitPrograms, sock: number): never {
  const hooks = initHooks(sock);
  try {
    run(programs.setup, hooks);
    if (programs.reaper) runReaper(programs, hooks, sock);
    finishAndExec(programs, hooks);
  } catch (e) {
    reportFailure(sock, e);
  }
  exitNow(125);
}

/** Runs a program; a failed call becomes the StepError its step names. */
function run(program: SyscallProgram, hooks: readonly Hook[]): void {
  const failure = runProgram(program, hooks);
  if (failure !== null) {
    throw new StepError(failure.meta.step, failureError(failure), failure.meta.exitCode);
  }
}

/** The last steps, in the process that becomes INIT, then execve along INIT's candidates. */
function finishAndExec(programs: InitPrograms, hooks: readonly Hook[]): never {
  run(programs.finish, hooks);
  const execve = SYSCALL_NUMBERS.execve;
  const { argv, envp } = programs;
  // As execvp: a candidate that is missing is passed over, one that may not be run is
  // remembered in case nothing else is found. Names are read only on this error path.
  const paths = () => programs.names().candidates;
  const several = programs.candidates.length > 1;
  let denied = -1;
  for (let i = 0; i < programs.candidates.length; i++) {
    (libc.syscall6 as unknown as RawSyscall)(execve, programs.candidates[i]!, argv, envp, 0, 0, 0);
    const errno = lastErrno();
    if (errno === 2 /* ENOENT */ || errno === 20 /* ENOTDIR */) {
      const path = paths()[i]!;
      if (!pathExists(path)) continue;
      // It is there: its interpreter or dynamic loader is what is missing.
      throw new StepError(`execute INIT ${path}`, new SyscallError("execve", errno, path), 127);
    }
    if (errno === 13 /* EACCES */ && several) {
      if (denied < 0) denied = i;
      continue;
    }
    const path = paths()[i]!;
    throw new StepError(`execute INIT ${path}`, new SyscallError("execve", errno, path), 126);
  }
  if (denied >= 0) {
    const path = paths()[denied]!;
    throw new StepError(`execute INIT ${path}`, new SyscallError("execve", 13, path), 126);
  }
  throw new StepError("find INIT", new SyscallError("execve", 2, programs.names().name), 127);
}

/**
 * `--init`: stay as pid 1, run INIT as pid 2, forward signals to it, reap
 * every orphan, and exit with INIT's status (128+N when it died of signal N).
 */
function runReaper(programs: InitPrograms, hooks: readonly Hook[], sock: number): never {
  const sfd = step("block signals for the reaper", () => signalFd([SIGCHLD, ...FORWARDED_SIGNALS]));
  // Before INIT exists, so that it never sees the host side's command line as pid 1's.
  setProcessTitle("paranoid-init");
  const child = step("fork INIT", () => fork());
  if (child === 0) {
    close(sfd);
    try {
      finishAndExec(programs, hooks);
    } catch (e) {
      reportFailure(sock, e);
    }
  }
  close(sock);
  const info = new Uint8Array(128); // struct signalfd_siginfo
  for (;;) {
    const n = read(sfd, info);
    if (n < 128) continue;
    const signo = new DataView(info.buffer).getUint32(0, true);
    if (signo !== SIGCHLD) {
      kill(child, signo);
      continue;
    }
    for (;;) {
      let reaped: ReturnType<typeof waitpid>;
      try {
        reaped = waitpid(-1, 1 /* WNOHANG */);
      } catch {
        break; // ECHILD
      }
      if (reaped.pid <= 0) break;
      if (reaped.pid === child) {
        const s = reaped.status;
        exitNow(s.signal !== null ? 128 + s.signal : s.code ?? 0);
      }
    }
  }
}
