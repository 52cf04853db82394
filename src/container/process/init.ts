// The container init: pid 1 of the new pid namespace, synchronous only, from mounts to execve of INIT.
//
// Theory of operation: this runs in a process forked from the host side after
// the namespaces exist and the id maps are written. There is no event loop
// here (the threads that would run it did not survive fork), so every call is
// synchronous. The setup is a plain checklist, top to bottom: root and mounts,
// pivot_root, read-only root, hostname, network, terminal or stdio, working
// directory, user, capabilities, no_new_privs and seccomp, then execve. Each
// step either succeeds or is reported to the host side as one StepFailed
// message (step, syscall, errno, path), after which the process exits with
// 125 (setup), 126 (INIT cannot be executed) or 127 (INIT not found).

import { SyscallError } from "../../../ffi/errno.ts";
import {
  chdir,
  close,
  dup2,
  execve,
  exitNow,
  fork,
  installSeccomp,
  joinNewSessionKeyring,
  kill,
  MNT_DETACH,
  mount,
  mountFlagsOf,
  MS,
  O,
  open,
  pathExists,
  pivotRoot,
  PR,
  prctl,
  read,
  resetSignals,
  setCloseOnExec,
  sethostname,
  setsid,
  signalFd,
  umount,
  waitpid,
  writeAll,
} from "../../../ffi/sys.ts";
import { configureInterface, configureInterface6, loopbackUp } from "../netconfig.ts";
import { type MountStep, planMounts, resolveInRoot } from "../mounts.ts";
import type { ContainerSpec } from "../spec.ts";
import { send } from "./messages.ts";
import { setProcessTitle } from "./title.ts";
import { attachContainerTerminal } from "./terminal.ts";
import { reportFailure, step, StepError } from "./steps.ts";
import { dropBoundingSet, findInPath, setCapabilities, switchUser } from "./identity.ts";

/** Descriptors the init dup2s onto 0, 1 and 2 when there is no terminal. */
export type Stdio = readonly [number, number, number];

const SIGKILL = 9;
const SIGCHLD = 17;
const FORWARDED_SIGNALS = [1, 2, 3, 10, 12, 15, 28] as const; // HUP INT QUIT USR1 USR2 TERM WINCH

/** Runs the init checklist and execs INIT; never returns. */
export function containerInit(spec: ContainerSpec, sock: number, stdio: Stdio): never {
  try {
    setupAndExec(spec, sock, stdio);
  } catch (e) {
    reportFailure(sock, e);
  }
  exitNow(125);
}

function setupAndExec(spec: ContainerSpec, sock: number, stdio: Stdio): never {
  step("set the parent death signal", () => prctl(PR.SET_PDEATHSIG, BigInt(SIGKILL)));
  const gate = spec.startGate;
  const gateFd = gate === null
    ? -1
    : step(`open the start gate ${gate}`, () => open(gate, O.PATH | O.CLOEXEC));
  setupRoot(spec);
  if (spec.hostname !== "") step("set the hostname", () => sethostname(spec.hostname));
  // The user's session keyring must not be reachable from the container (runc and crun do the same).
  step("join a fresh session keyring", () => joinNewSessionKeyring());
  step("bring up lo", () => loopbackUp());
  if (spec.network.mode === "tap") {
    const n = spec.network;
    step(
      "configure eth0",
      () => configureInterface("eth0", n.address, n.prefixLength, n.gateway, n.mtu),
    );
    step("configure IPv6 on eth0", () => configureInterface6("eth0", n.mtu));
  }
  const resolved = resolveExecutable(spec);
  if (spec.init) {
    runReaper(spec, sock, stdio, resolved, gateFd);
  }
  finishAndExec(spec, sock, stdio, resolved, gateFd);
}

/** Mounts everything, pivots into the root and detaches the host's mounts. */
function setupRoot(spec: ContainerSpec): void {
  const root = spec.root;
  step("make the host's mounts private", () => mount(null, "/", null, MS.REC | MS.PRIVATE));
  const overlay = spec.rootOverlay;
  if (overlay !== null) {
    const data = `lowerdir=${
      overlay.lower.join(":")
    },upperdir=${overlay.upper},workdir=${overlay.work},userxattr`;
    step("mount the image's overlay root", () => mount("overlay", root, "overlay", 0, data));
  }
  step(`bind the root ${root}`, () => mount(root, root, null, MS.BIND | MS.REC));
  for (const s of planMounts(spec)) applyStep(root, s);
  step("pivot_root", () => {
    chdir(root);
    pivotRoot(".", ".");
    umount(".", MNT_DETACH);
    chdir("/");
  });
  if (spec.readOnly) step("make the root read-only", () => remountReadOnly("/"));
  step("remove the staged /etc files", () => {
    try {
      Deno.removeSync("/dev/.paranoid-etc", { recursive: true });
    } catch {
      // nothing was staged
    }
  });
}

function ensureTarget(path: string, kind: "dir" | "file"): void {
  if (pathExists(path)) return;
  if (kind === "dir") {
    Deno.mkdirSync(path, { recursive: true });
  } else {
    Deno.mkdirSync(path.slice(0, path.lastIndexOf("/")) || "/", { recursive: true });
    Deno.writeFileSync(path, new Uint8Array(), { mode: 0o644 });
  }
}

function remountReadOnly(target: string): void {
  const flags = mountFlagsOf(target);
  mount(null, target, null, MS.BIND | MS.REMOUNT | MS.RDONLY | flags);
}

function applyStep(root: string, s: MountStep): void {
  const run = () => {
    switch (s.op) {
      case "mount": {
        const target = resolveInRoot(root, s.target);
        ensureTarget(target, s.targetKind);
        const source = s.source === null || s.sourceIsHost || s.fstype !== null
          ? s.source
          : resolveInRoot(root, s.source);
        mount(source, target, s.fstype, s.flags, s.data);
        return;
      }
      case "remount-readonly":
        remountReadOnly(resolveInRoot(root, s.target));
        return;
      case "symlink":
        Deno.symlinkSync(s.target, resolveInRoot(root, s.path));
        return;
      case "write": {
        const path = resolveInRoot(root, s.path);
        Deno.mkdirSync(path.slice(0, path.lastIndexOf("/")), { recursive: true });
        Deno.writeTextFileSync(path, s.content);
        return;
      }
    }
  };
  if (s.op !== "symlink" && s.op !== "write" && s.optional) {
    try {
      run();
    } catch {
      // optional: the feature is skipped
    }
    return;
  }
  step(s.step, run);
}

/** Finds INIT inside the new root: as given when it holds a slash, else along PATH. */
function resolveExecutable(spec: ContainerSpec): string {
  const name = spec.argv[0] ?? "";
  const found = findInPath(name, spec.env);
  if (found === null) throw new StepError("find INIT", new SyscallError("execve", 2, name), 127);
  return found;
}

function attachStdio(stdio: Stdio): void {
  setsid();
  stdio.forEach((fd, i) => {
    if (fd !== i) dup2(fd, i);
  });
}

/** The last steps, in the process that becomes INIT. */
function finishAndExec(
  spec: ContainerSpec,
  sock: number,
  stdio: Stdio,
  path: string,
  gateFd: number,
): never {
  if (spec.tty) {
    step("attach the terminal", () => attachContainerTerminal(sock, spec.windowSize));
  } else step("attach stdin, stdout and stderr", () => attachStdio(stdio));
  step("close inherited descriptors", () => closeInherited([sock, gateFd]));
  step(`change directory to ${spec.cwd}`, () => chdir(spec.cwd));
  // Without no_new_privs the kernel wants CAP_SYS_ADMIN to install a filter: install it
  // while INIT's process still has it, before capabilities and user change (as runc does).
  const early = spec.seccomp !== null && !spec.noNewPrivileges;
  if (early) step("install the seccomp filter", () => installSeccomp(spec.seccomp!));
  step("limit the capability bounding set", () => dropBoundingSet(spec.capabilities));
  step(`switch to user ${spec.uid}:${spec.gid}`, () => switchUser(spec.uid, spec.gid, spec.groups));
  step("set capabilities", () => setCapabilities(spec.uid, spec.capabilities, spec.capabilitySets));
  if (spec.noNewPrivileges) step("set no_new_privs", () => prctl(PR.SET_NO_NEW_PRIVS, 1n));
  step("set the parent death signal", () => prctl(PR.SET_PDEATHSIG, BigInt(SIGKILL)));
  // Default dispositions before the gate: a created container dies of SIGTERM like any process.
  resetSignals();
  if (gateFd >= 0) {
    step("wait at the start gate", () => {
      send(sock, { t: "gated" });
      const fd = open(`/proc/self/fd/${gateFd}`, O.WRONLY | O.CLOEXEC);
      writeAll(fd, new Uint8Array([0]));
      close(fd);
      close(gateFd);
    });
  }
  if (spec.seccomp && !early) {
    step("install the seccomp filter", () => installSeccomp(spec.seccomp!));
  }
  try {
    execve(path, spec.argv, spec.env);
  } catch (e) {
    const errno = e instanceof SyscallError ? e.errno : 0;
    if (errno === 2 && !pathExists(path)) throw new StepError("find INIT", e, 127);
    throw new StepError(`execute INIT ${path}`, e, errno === 2 ? 127 : 126);
  }
}

/** Closes every descriptor above 2 but those kept (the message socket first, which closes itself on exec). */
function closeInherited(keep: readonly number[]): void {
  const fds = [...Deno.readDirSync("/proc/self/fd")].map((e) => Number(e.name));
  for (const fd of fds) {
    if (fd > 2 && !keep.includes(fd)) close(fd);
  }
  setCloseOnExec(keep[0]!, true);
}

/**
 * `--init`: stay as pid 1, run INIT as pid 2, forward signals to it, reap
 * every orphan, and exit with INIT's status (128+N when it died of signal N).
 */
function runReaper(
  spec: ContainerSpec,
  sock: number,
  stdio: Stdio,
  path: string,
  gateFd: number,
): never {
  const sfd = step("block signals for the reaper", () => signalFd([SIGCHLD, ...FORWARDED_SIGNALS]));
  const child = step("fork INIT", () => fork());
  if (child === 0) {
    close(sfd);
    try {
      finishAndExec(spec, sock, stdio, path, gateFd);
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
