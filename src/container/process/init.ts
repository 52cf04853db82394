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
import {
  close,
  exitNow,
  fork,
  kill,
  O,
  open,
  pathExists,
  read,
  signalFd,
  waitpid,
  writeAll,
} from "../../../ffi/sys.ts";
import { lastErrno, libc } from "../../../ffi/libc.ts";
import { configureInterface, configureInterface6 } from "../netconfig.ts";
import type { ContainerSpec } from "../spec.ts";
import { send } from "./messages.ts";
import { setProcessTitle } from "./title.ts";
import { attachContainerTerminal } from "./terminal.ts";
import { reportFailure, step, StepError } from "./steps.ts";
import { type InitPrograms, prepareInit } from "./init_program.ts";
import { failureError, runProgram, type SyscallProgram } from "./program.ts";
import { type RawSyscall, SYSCALL_NUMBERS } from "../../../ffi/raw_calls.ts";

/** Descriptors the init dup2s onto 0, 1 and 2 when there is no terminal. */
export type Stdio = readonly [number, number, number];

const SIGCHLD = 17;
const FORWARDED_SIGNALS = [1, 2, 3, 10, 12, 15, 28] as const; // HUP INT QUIT USR1 USR2 TERM WINCH

/**
 * Writes the init's programs for `spec` (in the host process, before fork): `sock` is INIT's
 * channel to the host side, `stdio` the descriptors its standard streams come from.
 */
export function prepareContainerInit(
  spec: ContainerSpec,
  sock: number,
  stdio: Stdio,
): InitPrograms {
  const n = spec.network;
  return prepareInit(spec, {
    stdio,
    setgroupsDenied: !spec.idMapping.helpers || hostSetgroupsDenied(),
    lastCapability: lastCapability(),
  }, {
    configureNetwork: () => {
      step(
        "configure eth0",
        () => configureInterface("eth0", n.address, n.prefixLength, n.gateway, n.mtu),
      );
      step("configure IPv6 on eth0", () => configureInterface6("eth0", n.mtu));
    },
    attachTerminal: () =>
      step("attach the terminal", () => attachContainerTerminal(sock, spec.windowSize)),
    waitAtGate: (gateFd) =>
      step("wait at the start gate", () => {
        send(sock, { t: "gated" });
        const fd = open(`/proc/self/fd/${gateFd}`, O.WRONLY | O.CLOEXEC);
        writeAll(fd, new Uint8Array([0]));
        close(fd);
        close(gateFd);
      }),
  });
}

/** Whether this process's user namespace denies setgroups(2), which a child namespace inherits. */
function hostSetgroupsDenied(): boolean {
  try {
    return Deno.readTextFileSync("/proc/self/setgroups").trim() === "deny";
  } catch {
    return false;
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

/** Runs the init's programs and execs INIT; never returns. */
export function containerInit(
  spec: ContainerSpec,
  programs: InitPrograms,
  sock: number,
): never {
  try {
    run(programs.setup);
    if (spec.init) runReaper(programs, sock);
    finishAndExec(programs);
  } catch (e) {
    reportFailure(sock, e);
  }
  exitNow(125);
}

/** Runs a program; a failed call becomes the StepError its step names. */
function run(program: SyscallProgram): void {
  const failure = runProgram(program);
  if (failure !== null) {
    throw new StepError(failure.meta.step, failureError(failure), failure.meta.exitCode);
  }
}

/** The last steps, in the process that becomes INIT, then execve along INIT's candidates. */
function finishAndExec(programs: InitPrograms): never {
  run(programs.finish);
  const execve = SYSCALL_NUMBERS.execve;
  const argv = addressOf(programs.argv);
  const envp = addressOf(programs.envp);
  // As execvp: a candidate that is missing is passed over, one that may not be run is
  // remembered in case nothing else is found.
  let denied: string | null = null;
  for (let i = 0; i < programs.candidates.length; i++) {
    (libc.syscall6 as unknown as RawSyscall)(
      execve,
      addressOf(programs.candidatePointers[i]!),
      argv,
      envp,
      0,
      0,
      0,
    );
    const errno = lastErrno();
    const path = programs.candidates[i]!;
    const last = programs.candidates.length === 1;
    if (errno === 13 /* EACCES */ && !last) {
      denied ??= path;
      continue;
    }
    if ((errno === 2 /* ENOENT */ || errno === 20 /* ENOTDIR */) && !last) continue;
    if (errno === 2 && (!last || !pathExists(path))) break;
    throw new StepError(
      `execute INIT ${path}`,
      new SyscallError("execve", errno, path),
      errno === 2 ? 127 : 126,
    );
  }
  if (denied !== null) {
    throw new StepError(`execute INIT ${denied}`, new SyscallError("execve", 13, denied), 126);
  }
  throw new StepError("find INIT", new SyscallError("execve", 2, programs.name), 127);
}

function addressOf(b: Uint8Array): number {
  return Number(Deno.UnsafePointer.value(Deno.UnsafePointer.of(b as Uint8Array<ArrayBuffer>)));
}

/**
 * `--init`: stay as pid 1, run INIT as pid 2, forward signals to it, reap
 * every orphan, and exit with INIT's status (128+N when it died of signal N).
 */
function runReaper(programs: InitPrograms, sock: number): never {
  const sfd = step("block signals for the reaper", () => signalFd([SIGCHLD, ...FORWARDED_SIGNALS]));
  const child = step("fork INIT", () => fork());
  if (child === 0) {
    close(sfd);
    try {
      finishAndExec(programs);
    } catch (e) {
      reportFailure(sock, e);
    }
  }
  close(sock);
  setProcessTitle("paranoid-init");
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
