// Joining a running container: run another process in its namespaces, confined as INIT is.
//
// Theory of operation: this process opens INIT's namespaces (/proc/PID/ns/*)
// and forks (V8 single-threaded, as for starting a container). The child, now
// single-threaded and limited to synchronous calls, joins the user namespace
// first (which gives it every capability there, as its owner), then ipc, uts,
// net, cgroup, pid and mount; joining the mount namespace sets its root and
// working directory to the container's. A pid namespace applies only to
// children, so it forks once more: the grandchild takes the working directory,
// the user, the capability bounding set, no_new_privs and the seccomp filter,
// and executes the program. The child waits for it and exits with its status.
// Setup failures are written to stderr as one sentence by the child (exit
// status 125; 127 when the program is not found).

import {
  chdir,
  close,
  O,
  open,
  receiveMessageAsync,
  SOCK,
  socketpair,
  writeAll,
} from "../../ffi/sys.ts";
import {
  execve,
  exitNow,
  fork,
  getppid,
  installSeccomp,
  kill,
  PR,
  prctl,
  resetSignals,
  setns,
  waitpid,
  waitpidAsync,
} from "../../ffi/process.ts";
import { SyscallError } from "../../ffi/errno.ts";
import { isSingleThreaded, NotSingleThreadedError } from "./single_thread.ts";
import { dropBoundingSet, findInPath, setCapabilities, switchUser } from "./process/identity.ts";
import { attachContainerTerminal, type WindowSize } from "./process/terminal.ts";
import { relayTerminal } from "./tty.ts";

/** The process to run inside the container, fully resolved. */
export interface JoinProcess {
  /** The program and its arguments. */
  args: string[];
  /** Its environment as K=V. */
  env: string[];
  /** Working directory inside the container. */
  cwd: string;
  /** Uid and gid inside the container. */
  user: { uid: number; gid: number };
  /** Supplementary groups. */
  groups: number[];
  /** Capability mask for the bounding, permitted (and, for root, effective) sets. */
  capabilities: bigint;
  /** A seccomp program, or null. */
  seccomp: Uint8Array | null;
  /**
   * Give the program a terminal: a pty from the container's devpts, relayed to this
   * process's stdin and stdout (with this size, when known). Absent or null: stdio inherited.
   */
  terminal?: WindowSize | "unsized" | null;
}

/** Options of {@link joinContainer}. */
export interface JoinOptions {
  /** Checked after the namespaces are open: false when `pid` is no longer the container's INIT. */
  stillInit?: () => boolean;
  /** Where to write the pid of the process that ends with the program's status. */
  pidFile?: string | null;
  /** Return at once; the process outlives this one (for a subreaper such as conmon). */
  detach?: boolean;
  /** Prefix of the one-sentence errors the child prints, e.g. "paranoid". */
  program?: string;
}

/** A container that cannot be joined. */
export class JoinError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "JoinError";
  }
}

/** Namespaces in the order they are joined; the user namespace first, the mount one last. */
const NAMESPACES = [
  ["user", 0x10000000],
  ["ipc", 0x08000000],
  ["uts", 0x04000000],
  ["net", 0x40000000],
  ["cgroup", 0x02000000],
  ["pid", 0x20000000],
  ["mnt", 0x00020000],
] as const;

const SIGKILL = 9;
let prefix = "paranoid";

function fail(message: string, code: number): never {
  writeAll(2, new TextEncoder().encode(`${prefix}: ${message}\n`));
  exitNow(code);
}

function describe(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/**
 * Runs `process` inside the namespaces of the container whose INIT is `pid`,
 * with stdio inherited; returns its exit status (128+N when signal N ended it).
 */
export async function joinContainer(
  pid: number,
  process: JoinProcess,
  options: JoinOptions = {},
): Promise<number> {
  if (!isSingleThreaded()) throw new NotSingleThreadedError();
  if (process.args.length === 0) throw new JoinError("exec needs a program to run");
  prefix = options.program ?? "paranoid";
  const detach = options.detach ?? false;
  const pidFile = options.pidFile ?? null;
  const fds: [number, number, string][] = [];
  try {
    for (const [name, flag] of NAMESPACES) {
      const path = `/proc/${pid}/ns/${name}`;
      fds.push([open(path, O.RDONLY | O.CLOEXEC), flag, path]);
    }
  } catch (e) {
    for (const [fd] of fds) close(fd);
    throw new JoinError(`cannot open the namespaces of the container: ${describe(e)}`);
  }
  // The namespaces are INIT's only if INIT is still the process recorded.
  if (options.stillInit && !options.stillInit()) {
    for (const [fd] of fds) close(fd);
    throw new JoinError("the container is not running");
  }
  const parent = Deno.pid;
  // With a terminal, the program's process sends the pty master back over this pair.
  const wantsTerminal = !detach && process.terminal !== undefined && process.terminal !== null;
  const [ptyHost, ptyChild] = wantsTerminal ? socketpair(SOCK.SEQPACKET) : [-1, -1];
  let child: number;
  try {
    child = fork();
  } catch (e) {
    for (const [fd] of fds) close(fd);
    if (wantsTerminal) [ptyHost, ptyChild].forEach(close);
    throw e;
  }
  if (child === 0) {
    if (wantsTerminal) close(ptyHost);
    joinAndRun(fds, detach ? null : parent, process, ptyChild);
  }
  for (const [fd] of fds) close(fd);
  let relay: Promise<void> = Promise.resolve();
  if (wantsTerminal) {
    close(ptyChild);
    // The master comes before the program runs; end of file means it failed before (said).
    const got = await receiveMessageAsync(ptyHost, new Uint8Array(256));
    close(ptyHost);
    const [master, ...extra] = got.fds;
    extra.forEach(close);
    if (got.length > 0 && master !== undefined) relay = relayTerminal(master);
    else if (master !== undefined) close(master);
  }
  if (pidFile !== null) {
    const tmp = `${pidFile}.${Deno.pid}.tmp`;
    Deno.writeTextFileSync(tmp, String(child));
    Deno.renameSync(tmp, pidFile);
  }
  if (detach) return 0;
  const forward: [Deno.Signal, () => void][] = (
    [["SIGINT", 2], ["SIGTERM", 15], ["SIGHUP", 1]] as const
  ).map(([name, n]) => [name, () => void kill(child, n)]);
  for (const [name, fn] of forward) Deno.addSignalListener(name, fn);
  try {
    const s = await waitpidAsync(child);
    await relay;
    return s.signal !== null ? 128 + s.signal : s.code ?? 0;
  } finally {
    for (const [name, fn] of forward) Deno.removeSignalListener(name, fn);
  }
}

type Prepared = JoinProcess;

/** The forked child: synchronous calls only; `parent` null when detached. Never returns. */
function joinAndRun(
  fds: [number, number, string][],
  parent: number | null,
  p: Prepared,
  ptySock: number,
): never {
  try {
    if (parent !== null) {
      prctl(PR.SET_PDEATHSIG, BigInt(SIGKILL));
      if (getppid() !== parent) exitNow(125);
    }
    for (const [fd, flag, path] of fds) setns(fd, flag, path);
    for (const [fd] of fds) close(fd);
  } catch (e) {
    fail(`cannot join the container's namespaces: ${describe(e)}`, 125);
  }
  let grandchild: number;
  try {
    grandchild = fork();
  } catch (e) {
    fail(`cannot fork inside the container: ${describe(e)}`, 125);
  }
  if (grandchild === 0) runProgram(p, ptySock);
  if (ptySock >= 0) close(ptySock);
  for (;;) {
    try {
      const { status } = waitpid(grandchild);
      exitNow(status.signal !== null ? 128 + status.signal : status.code ?? 0);
    } catch (e) {
      if (e instanceof SyscallError && e.errno === 4) continue;
      exitNow(125);
    }
  }
}

function runProgram(p: Prepared, ptySock: number): never {
  let where = "set the parent death signal";
  try {
    prctl(PR.SET_PDEATHSIG, BigInt(SIGKILL)); // dies with the child that reports its status
    if (ptySock >= 0) {
      where = "attach a terminal from /dev/pts/ptmx";
      attachContainerTerminal(ptySock, p.terminal === "unsized" ? null : p.terminal ?? null);
      close(ptySock);
    }
    where = `change directory to ${p.cwd}`;
    chdir(p.cwd);
    where = "limit the capability bounding set";
    dropBoundingSet(p.capabilities);
    where = `switch to user ${p.user.uid}:${p.user.gid}`;
    switchUser(p.user.uid, p.user.gid, p.groups);
    where = "set capabilities";
    setCapabilities(p.user.uid, p.capabilities, null);
    where = "set no_new_privs";
    prctl(PR.SET_NO_NEW_PRIVS, 1n);
    resetSignals();
    where = "install the seccomp filter";
    if (p.seccomp) installSeccomp(p.seccomp);
  } catch (e) {
    fail(`cannot ${where}: ${describe(e)}`, 125);
  }
  const program = findInPath(p.args[0]!, p.env);
  if (program === null) fail(`exec: "${p.args[0]}" was not found in the container`, 127);
  try {
    execve(program, p.args, p.env);
  } catch (e) {
    const errno = e instanceof SyscallError ? e.errno : 0;
    fail(`cannot execute "${program}": ${describe(e)}`, errno === 2 ? 127 : 126);
  }
}
