// Typed system calls: each wrapper calls libc once and throws SyscallError(syscall, errno, path) on failure.

import { SyscallError } from "./errno.ts";
import { bindLibc, EARLY_CHILD_SYMBOLS, lastErrno, LATE_CHILD_SYMBOLS, libc } from "./libc.ts";
import { type RawSyscall, SYSCALL_NUMBERS } from "./raw_calls.ts";
import { addressOf, cstr, cstrArray, MessageHeader } from "./structs.ts";

/** Throws a SyscallError for `syscall` when `result` is negative; returns the result otherwise. */
function check<T extends number | bigint>(result: T, syscall: string, path?: string): T {
  if (result < 0) throw new SyscallError(syscall, lastErrno(), path);
  return result;
}

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

/** ppoll(2)'s struct pollfd and struct timespec for {@link waitReadable}, made once. */
const pollFd = new Int32Array(2);
const pollTimeout = new BigInt64Array(2);
let pollAddresses: [bigint, bigint] | null = null;

/**
 * Waits until `fd` is readable (or at end of file, or in error), at most `timeoutMs` (0: only
 * looks); false when the time ran out. On this thread, through the one syscall binding
 * (ppoll(2)), allocating nothing, so that a caller may look again and again.
 */
export function waitReadable(fd: number, timeoutMs: number): boolean {
  const [pfd, ts] = pollAddresses ??= [
    addressOf(new Uint8Array(pollFd.buffer)),
    addressOf(new Uint8Array(pollTimeout.buffer)),
  ];
  const ms = timeoutMs > 0 ? Math.floor(timeoutMs) : 0;
  const call = libc.syscall6 as unknown as RawSyscall;
  for (;;) {
    pollFd[0] = fd;
    pollFd[1] = POLL.IN; // events; revents (the high half) cleared
    if (ms === 0) {
      pollTimeout[0] = 0n; // no BigInt made for a mere look
      pollTimeout[1] = 0n;
    } else {
      pollTimeout[0] = BigInt(Math.floor(ms / 1000));
      pollTimeout[1] = BigInt((ms % 1000) * 1_000_000);
    }
    const r = Number(call(SYSCALL_NUMBERS.ppoll, pfd, 1, ts, 0, 8, 0));
    if (r < 0 && lastErrno() === EINTR) continue;
    return check(r, "ppoll") > 0;
  }
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

/** Whether something exists at `path` (access(2) with F_OK), without an exception either way. */
export function pathExists(path: string): boolean {
  return libc.access(cstr(path), 0) === 0;
}

/**
 * Whether `path` is a directory (or a link to one), without an exception either way: an
 * O_PATH open, which needs no permission on the directory itself. Deno.statSync costs about
 * 0.3 ms the first time a process calls it.
 */
export function isDirectory(path: string): boolean {
  const fd = libc.open(cstr(path), O.PATH | O.DIRECTORY | O.CLOEXEC, 0);
  if (fd < 0) return false;
  libc.close(fd);
  return true;
}

/** Whether the caller may execute `path` (access(2) with X_OK), without an exception either way. */
export function isExecutable(path: string): boolean {
  return libc.access(cstr(path), 1) === 0;
}

const linkBuffer = new Uint8Array(4096);

/**
 * readlink(2) without an exception for the common answer: the target of the symbolic link at
 * `path`, or null when it is not one (or cannot be read). Cheap in a forked child, where a
 * thrown error per path component cost more than the system call.
 */
export function readLinkOrNull(path: string): string | null {
  const n = Number(libc.readlink(cstr(path), linkBuffer, BigInt(linkBuffer.length)));
  if (n < 0 || n >= linkBuffer.length) return null;
  return new TextDecoder().decode(linkBuffer.subarray(0, n));
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

// Files and descriptors ----------------------------------------------------------------------

/** open(2) flags used here. */
export const O = {
  RDONLY: 0,
  WRONLY: 1,
  RDWR: 2,
  CREAT: 0o100,
  EXCL: 0o200,
  NOCTTY: 0o400,
  TRUNC: 0o1000,
  NONBLOCK: 0o4000,
  DIRECTORY: 0o200000,
  NOFOLLOW: 0o400000,
  CLOEXEC: 0o2000000,
  PATH: 0o10000000,
} as const;

/** open(2). */
export function open(path: string, flags: number, mode = 0): number {
  return check(libc.open(cstr(path), flags, mode), "open", path);
}

/** close(2); errors are ignored, as the descriptor is gone either way. */
export function close(fd: number): void {
  libc.close(fd);
}

/** close_range(2) from `first` to the last descriptor. */
export function closeFrom(first: number): void {
  check(libc.close_range(first, 0xffffffff, 0), "close_range");
}

/** dup2(2). */
export function dup2(from: number, to: number): void {
  check(libc.dup2(from, to), "dup2");
}

const F_GETFL = 3;
const F_SETFL = 4;

/** Sets or clears O_NONBLOCK on `fd`. */
export function setNonBlocking(fd: number, on: boolean): void {
  const flags = check(libc.fcntl(fd, F_GETFL, 0), "fcntl");
  check(libc.fcntl(fd, F_SETFL, on ? flags | O.NONBLOCK : flags & ~O.NONBLOCK), "fcntl");
}

/** pipe2(2) with O_CLOEXEC: returns [read end, write end]. */
export function pipe(): [number, number] {
  const fds = new Int32Array(2);
  check(libc.pipe2(new Uint8Array(fds.buffer), O.CLOEXEC), "pipe2");
  return [fds[0]!, fds[1]!];
}

/** Synchronous read(2), retrying on EINTR; returns 0 at end of file. */
export function read(fd: number, buf: Uint8Array): number {
  for (;;) {
    const n = Number(libc.read(fd, buf as Uint8Array<ArrayBuffer>, BigInt(buf.length)));
    if (n < 0 && lastErrno() === 4) continue;
    return check(n, "read");
  }
}

/** read(2) on Deno's thread pool; returns -1 on error (errno is not available across threads). */
export async function readAsync(fd: number, buf: Uint8Array): Promise<number> {
  return Number(await libc.readAsync(fd, buf as Uint8Array<ArrayBuffer>, BigInt(buf.length)));
}

/** Synchronous write(2) of the whole buffer, retrying on EINTR and short writes. */
export function writeAll(fd: number, buf: Uint8Array): void {
  let off = 0;
  while (off < buf.length) {
    const part = buf.subarray(off) as Uint8Array<ArrayBuffer>;
    const n = Number(libc.write(fd, part, BigInt(part.length)));
    if (n < 0 && lastErrno() === 4) continue;
    off += check(n, "write");
  }
}

/** write(2) of the whole buffer on Deno's thread pool; false when the descriptor failed. */
export async function writeAllAsync(fd: number, buf: Uint8Array): Promise<boolean> {
  let off = 0;
  while (off < buf.length) {
    const part = buf.subarray(off) as Uint8Array<ArrayBuffer>;
    const n = Number(await libc.writeAsync(fd, part, BigInt(part.length)));
    if (n <= 0) return false;
    off += n;
  }
  return true;
}

/** ioctl(2) with a pointer argument. */
export function ioctl(fd: number, request: number, arg: Uint8Array, what?: string): number {
  return check(libc.ioctl(fd, BigInt(request), arg as Uint8Array<ArrayBuffer>), "ioctl", what);
}

/** isatty(3). */
export function isatty(fd: number): boolean {
  return libc.isatty(fd) === 1;
}

// Sockets ------------------------------------------------------------------------------------

/** Socket constants used here. */
export const SOCK = {
  AF_UNIX: 1,
  AF_INET: 2,
  AF_INET6: 10,
  STREAM: 1,
  DGRAM: 2,
  SEQPACKET: 5,
  CLOEXEC: 0o2000000,
  NONBLOCK: 0o4000,
} as const;

/** The socket level of setsockopt(2) and getsockopt(2). */
export const SOL_SOCKET = 1;

/** socketpair(2) with SOCK_CLOEXEC. */
export function socketpair(type: number): [number, number] {
  const fds = new Int32Array(2);
  check(
    libc.socketpair(SOCK.AF_UNIX, type | SOCK.CLOEXEC, 0, new Uint8Array(fds.buffer)),
    "socketpair",
  );
  return [fds[0]!, fds[1]!];
}

/** socket(2) with SOCK_CLOEXEC. */
export function socket(domain: number, type: number, protocol = 0): number {
  return check(libc.socket(domain, type | SOCK.CLOEXEC, protocol), "socket");
}

const MSG_CMSG_CLOEXEC = 0x40000000;

/** Sends one message, with descriptors attached as SCM_RIGHTS. */
export function sendMessage(fd: number, payload: Uint8Array, fds: readonly number[] = []): void {
  const m = new MessageHeader(payload, fds);
  for (;;) {
    const r = Number(libc.sendmsg(fd, m.header, 0));
    if (r < 0 && lastErrno() === 4) continue;
    check(r, "sendmsg");
    return;
  }
}

/** Receives one message synchronously: the byte count (0 at end of file) and any descriptors. */
export function receiveMessage(fd: number, buf: Uint8Array): { length: number; fds: number[] } {
  const m = new MessageHeader(buf, "receive");
  for (;;) {
    const r = Number(libc.recvmsg(fd, m.header, MSG_CMSG_CLOEXEC));
    if (r < 0 && lastErrno() === 4) continue;
    check(r, "recvmsg");
    return { length: r, fds: m.receivedFds() };
  }
}

/** Receives one message on Deno's thread pool; length -1 on error. */
export async function receiveMessageAsync(
  fd: number,
  buf: Uint8Array,
): Promise<{ length: number; fds: number[] }> {
  const m = new MessageHeader(buf, "receive");
  const r = Number(await libc.recvmsgAsync(fd, m.header, MSG_CMSG_CLOEXEC));
  return { length: r, fds: r >= 0 ? m.receivedFds() : [] };
}

// Mounts ---------------------------------------------------------------------------------------

/** mount(2) flags. */
export const MS = {
  RDONLY: 1,
  NOSUID: 2,
  NODEV: 4,
  NOEXEC: 8,
  REMOUNT: 32,
  NOATIME: 1024,
  NODIRATIME: 2048,
  BIND: 4096,
  MOVE: 8192,
  REC: 16384,
  PRIVATE: 1 << 18,
  SLAVE: 1 << 19,
  RELATIME: 1 << 21,
  STRICTATIME: 1 << 24,
} as const;

/** MNT_DETACH for umount2(2): detach now, release when no longer busy. */
export const MNT_DETACH = 2;

/** chdir(2). */
export function chdir(path: string): void {
  check(libc.chdir(cstr(path)), "chdir", path);
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

// Readiness ------------------------------------------------------------------------------------

/** poll(2) event bits. */
export const POLL = { IN: 0x1, OUT: 0x4, ERR: 0x8, HUP: 0x10, NVAL: 0x20 } as const;

/**
 * Waits on Deno's thread pool until one of `fds` is readable (or `timeoutMs`
 * passes; -1 waits forever). Returns the revents of each descriptor.
 */
export async function pollReadable(fds: readonly number[], timeoutMs: number): Promise<number[]> {
  const buf = new Uint8Array(8 * fds.length);
  const v = new DataView(buf.buffer);
  fds.forEach((fd, i) => {
    v.setInt32(8 * i, fd, true);
    v.setInt16(8 * i + 4, POLL.IN, true);
  });
  await libc.pollAsync(buf, BigInt(fds.length), timeoutMs);
  return fds.map((_, i) => v.getInt16(8 * i + 6, true));
}

/** eventfd(2), close-on-exec and non-blocking: a descriptor another task can make readable. */
export function eventFd(): number {
  return check(libc.eventfd(0, 0o2000000 | 0o4000), "eventfd");
}

/** Errno values the non-blocking paths look for. */
export const EAGAIN = 11;
/** Errno: interrupted by a signal; retry. */
export const EINTR = 4;
