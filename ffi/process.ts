// Typed system calls for processes: namespaces, fork and spawn, waiting, identity, signals; each throws SyscallError(syscall, errno, path) on failure.

import { SyscallError } from "./errno.ts";
import {
  bindLibc,
  check,
  EARLY_CHILD_SYMBOLS,
  lastErrno,
  LATE_CHILD_SYMBOLS,
  libc,
} from "./libc.ts";
import { SYSCALL_NUMBERS } from "./raw_calls.ts";
import { addressOf, cstr, cstrArray } from "./structs.ts";

// Namespaces and process creation ---------------------------------------------------------

/** clone(2)/unshare(2) namespace flags. */
export const CLONE = {
  NEWNS: 0x00020000,
  NEWCGROUP: 0x02000000,
  NEWUTS: 0x04000000,
  NEWIPC: 0x08000000,
  NEWUSER: 0x10000000,
  NEWPID: 0x20000000,
  NEWNET: 0x40000000,
} as const;

const MADV_DOFORK = 11;
/** The signal a clone(2)d child sends its parent when it ends, as fork(2)'s do. */
const SIGCHLD = 17;

/** The user address space that fork() clears MADV_DONTFORK in, as [start, length] pieces. */
let forkRanges: [bigint, bigint][] | null = null;

/**
 * The user address space, as [start, length] pieces, without the VM_IO mappings ([vvar], [vvar_vclock]) where
 * madvise(MADV_DOFORK) stops with EINVAL. Kernel 6.x places them among the other mappings
 * (near the libraries, below the stack), so one madvise over the whole space left every V8
 * region above them DONTFORK, and a child that touched one died of SIGSEGV. They never move:
 * read once.
 */
function userRangesForFork(): [bigint, bigint][] {
  const low = 0x1000n;
  const high = 0x7ffffffff000n;
  const cut: [bigint, bigint][] = [];
  try {
    // Only the lines naming [vvar...]: found by search, not by splitting every line.
    const maps = Deno.readTextFileSync("/proc/self/maps");
    for (let at = maps.indexOf("[vvar"); at >= 0; at = maps.indexOf("[vvar", at + 1)) {
      const line = maps.lastIndexOf("\n", at) + 1;
      const dash = maps.indexOf("-", line);
      const space = maps.indexOf(" ", dash);
      cut.push([BigInt(`0x${maps.slice(line, dash)}`), BigInt(`0x${maps.slice(dash + 1, space)}`)]);
    }
  } catch {
    // no /proc: one range
  }
  cut.sort((x, y) => (x[0] < y[0] ? -1 : 1));
  const ranges: [bigint, bigint][] = [];
  let at = low;
  for (const [a, b] of cut) {
    if (a > at) ranges.push([at, a]);
    if (b > at) at = b;
  }
  if (at < high) ranges.push([at, high]);
  return ranges.map(([a, b]) => [a, b - a]);
}

/**
 * fork(2) from Deno. V8 marks its heap MADV_DONTFORK; madvise over the user address space
 * (around [vvar]), with nothing allocated between it and fork(2), undoes that first.
 * What the children call is bound before, in the parent, unless `childBindsLate` (for a child
 * that never calls LATE_CHILD_SYMBOLS, or may bind them itself). V8 must be single-threaded;
 * see src/container/single_thread.ts. The child may make only synchronous calls.
 *
 * With `namespaces` (CLONE_NEW* flags), the child is born in new namespaces: clone(2) itself,
 * as a system call, since glibc's fork takes no flags. Such a child skips glibc's fork
 * bookkeeping (its cached thread id is its parent's, and a lock another thread held at the
 * fork stays held), so it should keep to system calls and to what was bound before the fork
 * until it executes a program.
 */
export function fork(options: { childBindsLate?: boolean; namespaces?: number } = {}): number {
  bindLibc(EARLY_CHILD_SYMBOLS);
  // A caller whose child waits anyway (for its id maps) lets it bind the rest meanwhile.
  if (!options.childBindsLate) bindLibc(LATE_CHILD_SYMBOLS);
  const ranges = forkRanges ??= userRangesForFork();
  // Both through the one syscall binding (each binding of its own costs a compiled trampoline).
  const syscall = libc.syscall6;
  const madvise = BigInt(SYSCALL_NUMBERS.madvise);
  const doFork = BigInt(MADV_DOFORK);
  const forkNow = options.namespaces === undefined ? libc.fork : null;
  const clone = BigInt(SYSCALL_NUMBERS.clone);
  const flags = BigInt((options.namespaces ?? 0) | SIGCHLD);
  // From here to fork(2), nothing may allocate: an allocation can start a garbage collection,
  // which maps fresh V8 pages DONTFORK, and a child touching one dies of SIGSEGV. So an indexed
  // loop (an iterator is an allocation) over lengths computed once (a BigInt subtraction is
  // one too), and the call's arguments made above.
  for (let i = 0; i < ranges.length; i++) {
    syscall(madvise, ranges[i]![0], ranges[i]![1], doFork, 0n, 0n, 0n);
  }
  const pid = forkNow !== null ? forkNow() : Number(syscall(clone, flags, 0n, 0n, 0n, 0n, 0n));
  return pid < 0 ? check(pid, options.namespaces === undefined ? "fork" : "clone") : pid;
}

/** unshare(2). */
export function unshare(flags: number): void {
  check(libc.unshare(flags), "unshare");
}

/** setns(2) into the namespace open at `fd`. */
export function setns(fd: number, nstype: number, path?: string): void {
  check(libc.setns(fd, nstype), "setns", path);
}

/** Terminates the calling process at once, without running any JavaScript cleanup. */
export function exitNow(code: number): never {
  libc._exit(code);
  throw new Error("unreachable");
}

/** execve(2); returns only by throwing. */
export function execve(path: string, argv: readonly string[], env: readonly string[]): never {
  const a = cstrArray(argv);
  const e = cstrArray(env);
  libc.execve(cstr(path), a.pointers, e.pointers);
  throw new SyscallError("execve", lastErrno(), path);
}

/** The decoded result of waitpid: exit code, or the signal that ended the process. */
export interface WaitStatus {
  /** The exit code when the process exited normally. */
  code: number | null;
  /** The signal number when the process was killed by a signal. */
  signal: number | null;
}

/** Decodes a raw wait status word. */
export function decodeWaitStatus(status: number): WaitStatus {
  const sig = status & 0x7f;
  if (sig === 0) return { code: (status >> 8) & 0xff, signal: null };
  return { code: null, signal: sig };
}

/** Blocking waitpid(2) for the forked children; retries on EINTR. */
export function waitpid(pid: number, options = 0): { pid: number; status: WaitStatus } {
  const buf = new Int32Array(1);
  for (;;) {
    const r = libc.waitpid(pid, new Uint8Array(buf.buffer), options);
    if (r < 0 && lastErrno() === 4) continue;
    check(r, "waitpid");
    return { pid: r, status: decodeWaitStatus(buf[0]!) };
  }
}

/** Binds what {@link spawn} calls, so that a caller can do it while it waits for something else. */
export function prepareSpawn(): void {
  bindLibc([
    "posix_spawn",
    "posix_spawnAsync",
    "posix_spawn_file_actions_init",
    "posix_spawn_file_actions_adddup2",
    "posix_spawn_file_actions_destroy",
  ]);
}

/** sizeof(posix_spawn_file_actions_t) is 80 on 64-bit glibc; room to spare. */
const FILE_ACTIONS_SIZE = 128;

/** Three descriptors: what becomes a new process's 0, 1 and 2. */
type Stdio3 = readonly [number, number, number];

/**
 * What one posix_spawn(3) call needs, kept referenced until it returns: the argument arrays
 * and file actions that dup2 `stdio` onto the new process's 0, 1 and 2 (a dup2 of a
 * descriptor onto itself clears its close-on-exec flag there).
 */
class SpawnCall {
  readonly pid = new Int32Array(1);
  readonly path: Uint8Array<ArrayBuffer>;
  readonly args: ReturnType<typeof cstrArray>;
  readonly envp: ReturnType<typeof cstrArray>;
  readonly actions = new Uint8Array(FILE_ACTIONS_SIZE);
  constructor(path: string, argv: readonly string[], env: readonly string[], stdio: Stdio3) {
    this.path = cstr(path);
    this.args = cstrArray(argv);
    this.envp = cstrArray(env);
    const r = libc.posix_spawn_file_actions_init(this.actions);
    if (r !== 0) throw new SyscallError("posix_spawn_file_actions_init", r, path);
    for (let target = 0; target < 3; target++) {
      const r = libc.posix_spawn_file_actions_adddup2(this.actions, stdio[target]!, target);
      if (r !== 0) {
        this.#release();
        throw new SyscallError("posix_spawn_file_actions_adddup2", r, path);
      }
    }
  }
  /** posix_spawn's arguments. */
  arguments() {
    return [
      new Uint8Array(this.pid.buffer),
      this.path,
      this.actions,
      null,
      this.args.pointers,
      this.envp.pointers,
    ] as const;
  }
  /** The pid, or the error that posix_spawn's result `r` names. */
  result(r: number, path: string): number {
    this.#release();
    if (r !== 0) throw new SyscallError("posix_spawn", r, path);
    return this.pid[0]!;
  }
  #release(): void {
    libc.posix_spawn_file_actions_destroy(this.actions);
  }
}

/**
 * Starts `path` with `argv` and `env` through posix_spawn(3): a vfork-style
 * clone, so no copy of this process's page tables and none of the set-up of
 * Deno.Command (several milliseconds the first time). `stdio` gives the
 * descriptors that become the new process's 0, 1 and 2. The call returns once
 * the new process has executed `path` (or failed to); returns its pid. Reap it
 * with {@link waitpid} or {@link waitpidAsync}.
 */
export function spawn(
  path: string,
  argv: readonly string[],
  env: readonly string[],
  stdio: Stdio3,
): number {
  const call = new SpawnCall(path, argv, env, stdio);
  return call.result(libc.posix_spawn(...call.arguments()), path);
}

/**
 * {@link spawn} on Deno's thread pool: the calling thread goes on while the new process
 * executes `path`, so that two processes can be started side by side.
 */
export async function spawnAsync(
  path: string,
  argv: readonly string[],
  env: readonly string[],
  stdio: Stdio3,
): Promise<number> {
  const call = new SpawnCall(path, argv, env, stdio);
  return call.result(await libc.posix_spawnAsync(...call.arguments()), path);
}

/** waitpid(2) on Deno's thread pool, for the host side. */
export async function waitpidAsync(pid: number): Promise<WaitStatus> {
  const buf = new Int32Array(1);
  for (;;) {
    const r = await libc.waitpidAsync(pid, new Uint8Array(buf.buffer), 0);
    if (r === pid) return decodeWaitStatus(buf[0]!);
    if (r < 0) {
      // errno is not reliable across the thread pool; EINTR is the only retryable case.
      const alive = libc.kill(pid, 0) === 0;
      if (!alive) return { code: null, signal: null };
    }
  }
}

/** kill(2); a process that is already gone is not an error. */
export function kill(pid: number, signal: number): boolean {
  return libc.kill(pid, signal) === 0;
}

/** prctl(2) with integer arguments. */
export function prctl(option: number, a2 = 0n, a3 = 0n, a4 = 0n, a5 = 0n): number {
  return check(libc.prctl(option, a2, a3, a4, a5), "prctl", String(option));
}

/** prctl option numbers used here. */
export const PR = {
  SET_PDEATHSIG: 1,
  SET_NO_NEW_PRIVS: 38,
  SET_SECCOMP: 22,
  CAPBSET_DROP: 24,
  CAP_AMBIENT: 47,
  CAP_AMBIENT_RAISE: 2,
  CAP_AMBIENT_CLEAR_ALL: 4,
  SET_CHILD_SUBREAPER: 36,
  SET_KEEPCAPS: 8,
} as const;

/** Installs a seccomp BPF program (struct sock_filter array) with prctl(PR_SET_SECCOMP). */
export function installSeccomp(program: Uint8Array): void {
  const fprog = new Uint8Array(16);
  const v = new DataView(fprog.buffer);
  v.setUint16(0, program.length / 8, true);
  v.setBigUint64(8, addressOf(program), true);
  check(libc.prctlPointer(PR.SET_SECCOMP, 2n, /* SECCOMP_MODE_FILTER */ fprog, 0n, 0n), "seccomp");
}

// Identity ---------------------------------------------------------------------------------

/** The real uid of this process. */
export function getuid(): number {
  return libc.getuid();
}

/** The real gid of this process. */
export function getgid(): number {
  return libc.getgid();
}

/** The pid of this process as its own pid namespace sees it. */
export function getpid(): number {
  return libc.getpid();
}

/** The parent's pid. */
export function getppid(): number {
  return libc.getppid();
}

/** setsid(2). */
export function setsid(): void {
  check(libc.setsid(), "setsid");
}

/** setresuid(2) with all three ids equal. */
export function setuid(uid: number): void {
  check(libc.setresuid(uid, uid, uid), "setresuid", String(uid));
}

/** setresgid(2) with all three ids equal. */
export function setgid(gid: number): void {
  check(libc.setresgid(gid, gid, gid), "setresgid", String(gid));
}

/** setgroups(2). */
export function setgroups(gids: readonly number[]): void {
  const list = new Uint32Array(gids);
  check(libc.setgroups(BigInt(gids.length), new Uint8Array(list.buffer)), "setgroups");
}

/** The five capability sets of a thread as 64-bit masks. */
export interface CapabilitySets {
  effective: bigint;
  permitted: bigint;
  inheritable: bigint;
}

/** capset(2)'s header (_LINUX_CAPABILITY_VERSION_3, this thread) and data for `sets`. */
export function capsetArguments(sets: CapabilitySets): { header: Uint8Array; data: Uint8Array } {
  const header = new Uint32Array([0x20080522, 0]);
  const data = new Uint32Array(6);
  const lo = (m: bigint) => Number(m & 0xffffffffn);
  const hi = (m: bigint) => Number((m >> 32n) & 0xffffffffn);
  data.set([lo(sets.effective), lo(sets.permitted), lo(sets.inheritable)], 0);
  data.set([hi(sets.effective), hi(sets.permitted), hi(sets.inheritable)], 3);
  return { header: new Uint8Array(header.buffer), data: new Uint8Array(data.buffer) };
}

/** capset(2) with _LINUX_CAPABILITY_VERSION_3 for the calling thread. */
export function capset(sets: CapabilitySets): void {
  const { header, data } = capsetArguments(sets);
  check(libc.capset(header, data), "capset");
}

// Signals ----------------------------------------------------------------------------------------

/** Whether a signal's disposition may be set (not KILL, STOP or glibc's own 32 and 33). */
export function dispositionSettable(sig: number): boolean {
  return sig >= 1 && sig < 65 && sig !== 9 && sig !== 19 && sig !== 32 && sig !== 33;
}

/**
 * Sets every signal back to its default disposition and clears the blocked
 * mask, as a fresh process would have it. A raw fork inherits the host side's
 * state (Deno ignores SIGPIPE) and execve keeps ignored signals ignored.
 */
export function resetSignals(): void {
  for (let sig = 1; sig < 65; sig++) {
    if (dispositionSettable(sig)) libc.signal(sig, 0n /* SIG_DFL */);
  }
  const empty = new Uint8Array(128);
  libc.sigprocmask(2, /* SIG_SETMASK */ empty, null);
}

/** Blocks the given signals and returns a signalfd that reports them. */
export function signalFd(signals: readonly number[]): number {
  const set = new BigUint64Array(16);
  for (const s of signals) set[0] = set[0]! | (1n << BigInt(s - 1));
  const bytes = new Uint8Array(set.buffer);
  check(libc.sigprocmask(0, /* SIG_BLOCK */ bytes, null), "sigprocmask");
  return check(libc.signalfd(-1, bytes, 0o2000000 /* SFD_CLOEXEC */), "signalfd");
}

/** setrlimit(2). */
export function setrlimit(resource: number, soft: bigint, hard: bigint): void {
  const r = new BigUint64Array([soft, hard]);
  check(libc.setrlimit(resource, new Uint8Array(r.buffer)), "setrlimit", String(resource));
}
