// libc functions the forked children call, made through one syscall(2) binding instead of a binding each (about 0.3 ms apiece, in every start).
//
// Deno compiles a call trampoline for every symbol it binds, and a container's
// start binds each function its children call: some thirty of them cost about
// 10 ms per start, in the parent or in the child while the host side waits for
// it. Each function here keeps its libc signature (so callers do not change)
// and is one system call through a single binding of syscall(3), which sets
// errno as the libc function would. Buffers are passed as their addresses; the
// caller's reference keeps them alive for the call. Where libc's function is
// more than its system call, the difference is done here (open is openat,
// signal sets a disposition with rt_sigaction).

/** The libc functions this file makes (see {@link rawCalls}). */
export const RAW_CALL_NAMES: ReadonlySet<string> = new Set([
  "_exit",
  "access",
  "capset",
  "chdir",
  "close",
  "close_range",
  "dup2",
  "execve",
  "fcntl",
  "eventfd",
  "getgid",
  "getpeername",
  "getpid",
  "getppid",
  "getuid",
  "ioctl",
  "ioctlValue",
  "kill",
  "mount",
  "open",
  "pipe2",
  "pivot_root",
  "prctl",
  "prctlPointer",
  "readlink",
  "recvmsg",
  "sendmsg",
  "setgroups",
  "sethostname",
  "setns",
  "setresgid",
  "setresuid",
  "setrlimit",
  "setsid",
  "signal",
  "signalfd",
  "sigprocmask",
  "socket",
  "socketpair",
  "syscall3",
  "umount2",
  "unshare",
  "waitpid",
  "write",
]);

/** The one binding every call here goes through: long syscall(long nr, long a1..a6). */
export type RawSyscall = (
  nr: number,
  a1: number | bigint,
  a2: number | bigint,
  a3: number | bigint,
  a4: number | bigint,
  a5: number | bigint,
  a6: number | bigint,
) => number | bigint;

/** System call numbers used here (from the kernel's unistd headers). */
export const RAW_NUMBERS = {
  x86_64: {
    close: 3,
    rt_sigaction: 13,
    rt_sigprocmask: 14,
    ioctl: 16,
    dup2: 33,
    getpid: 39,
    socket: 41,
    sendmsg: 46,
    recvmsg: 47,
    execve: 59,
    kill: 62,
    fcntl: 72,
    chdir: 80,
    getppid: 110,
    setsid: 112,
    setgroups: 116,
    setresuid: 117,
    setresgid: 119,
    capset: 126,
    statfs: 137,
    pivot_root: 155,
    prctl: 157,
    mount: 165,
    sethostname: 170,
    exit_group: 231,
    openat: 257,
    readlinkat: 267,
    faccessat: 269,
    unshare: 272,
    signalfd4: 289,
    dup3: 292,
    prlimit64: 302,
    setns: 308,
    close_range: 436,
    write: 1,
    wait4: 61,
    umount2: 166,
    socketpair: 53,
    pipe2: 293,
    getuid: 102,
    getgid: 104,
    eventfd2: 290,
    getpeername: 52,
    mkdirat: 258,
    mknodat: 259,
    symlinkat: 266,
    unlinkat: 263,
    chroot: 161,
    fchdir: 81,
    open_tree: 428,
    move_mount: 429,
    mount_setattr: 442,
    keyctl: 250,
    clone: 56,
    madvise: 28,
    ppoll: 271,
  },
  aarch64: {
    close: 57,
    rt_sigaction: 134,
    rt_sigprocmask: 135,
    ioctl: 29,
    dup2: -1, // none: dup3
    getpid: 172,
    socket: 198,
    sendmsg: 211,
    recvmsg: 212,
    execve: 221,
    kill: 129,
    fcntl: 25,
    chdir: 49,
    getppid: 173,
    setsid: 157,
    setgroups: 159,
    setresuid: 147,
    setresgid: 149,
    capset: 91,
    statfs: 43,
    pivot_root: 41,
    prctl: 167,
    mount: 40,
    sethostname: 161,
    exit_group: 94,
    openat: 56,
    readlinkat: 78,
    faccessat: 48,
    unshare: 97,
    signalfd4: 74,
    dup3: 24,
    prlimit64: 261,
    setns: 268,
    close_range: 436,
    write: 64,
    wait4: 260,
    umount2: 39,
    socketpair: 199,
    pipe2: 59,
    getuid: 174,
    getgid: 176,
    eventfd2: 19,
    getpeername: 205,
    mkdirat: 34,
    mknodat: 33,
    symlinkat: 36,
    unlinkat: 35,
    chroot: 51,
    fchdir: 50,
    open_tree: 428,
    move_mount: 429,
    mount_setattr: 442,
    keyctl: 219,
    clone: 220,
    madvise: 233,
    ppoll: 73,
  },
} as const;

/** The system call numbers of the machine this runs on. */
export const SYSCALL_NUMBERS: (typeof RAW_NUMBERS)["x86_64" | "aarch64"] =
  Deno.build.arch === "aarch64" ? RAW_NUMBERS.aarch64 : RAW_NUMBERS.x86_64;

const AT_FDCWD = -100;
const F_GETFD = 1;
/** The kernel's sigset_t: 64 signals. */
const SIGSET_SIZE = 8;

type Arg = number | bigint;
type Buf = BufferSource | null;

/** The address of a buffer argument (0 for NULL or an empty buffer). */
function addr(b: Buf): Arg {
  if (b === null) return 0;
  const view = ArrayBuffer.isView(b) ? b : new Uint8Array(b);
  return Deno.UnsafePointer.value(Deno.UnsafePointer.of(view)) ?? 0;
}

/** An int result as libc gives it. */
function int(r: number | bigint): number {
  return Number(r);
}

/**
 * The libc functions made as raw system calls, by name, given the syscall binding. Results are
 * typed as libc's: int results as numbers, ssize_t results as given.
 */
export function rawCalls(sys: RawSyscall): Record<string, (...args: never[]) => unknown> {
  const nr = SYSCALL_NUMBERS;
  const call = (n: number, a1: Arg = 0, a2: Arg = 0, a3: Arg = 0, a4: Arg = 0, a5: Arg = 0) =>
    sys(n, a1, a2, a3, a4, a5, 0);
  const calls = {
    _exit: (code: number) => void call(nr.exit_group, code),
    close: (fd: number) => int(call(nr.close, fd)),
    getppid: () => int(call(nr.getppid)),
    getpid: () => int(call(nr.getpid)),
    getuid: () => int(call(nr.getuid)),
    getgid: () => int(call(nr.getgid)),
    eventfd: (initval: number, flags: number) => int(call(nr.eventfd2, initval, flags)),
    pipe2: (fds: Buf, flags: number) => int(call(nr.pipe2, addr(fds), flags)),
    getpeername: (fd: number, sa: Buf, len: Buf) =>
      int(call(nr.getpeername, fd, addr(sa), addr(len))),
    socketpair: (domain: number, type: number, protocol: number, fds: Buf) =>
      int(call(nr.socketpair, domain, type, protocol, addr(fds))),
    setsid: () => int(call(nr.setsid)),
    kill: (pid: number, sig: number) => int(call(nr.kill, pid, sig)),
    unshare: (flags: number) => int(call(nr.unshare, flags)),
    setns: (fd: number, type: number) => int(call(nr.setns, fd, type)),
    prctl: (op: number, a: Arg, b: Arg, c: Arg, d: Arg) => int(call(nr.prctl, op, a, b, c, d)),
    prctlPointer: (op: number, a: Arg, p: Buf, c: Arg, d: Arg) =>
      int(call(nr.prctl, op, a, addr(p), c, d)),
    sendmsg: (fd: number, msg: Buf, flags: number) => call(nr.sendmsg, fd, addr(msg), flags),
    recvmsg: (fd: number, msg: Buf, flags: number) => call(nr.recvmsg, fd, addr(msg), flags),
    socket: (domain: number, type: number, protocol: number) =>
      int(call(nr.socket, domain, type, protocol)),
    fcntl: (fd: number, cmd: number, arg: number) => int(call(nr.fcntl, fd, cmd, arg)),
    ioctl: (fd: number, req: Arg, arg: Buf) => int(call(nr.ioctl, fd, req, addr(arg))),
    ioctlValue: (fd: number, req: Arg, value: Arg) => int(call(nr.ioctl, fd, req, value)),
    dup2: (from: number, to: number) => {
      if (nr.dup2 >= 0) return int(call(nr.dup2, from, to));
      // dup3 refuses equal descriptors, where dup2 checks the descriptor and returns it.
      if (from === to) return int(call(nr.fcntl, from, F_GETFD)) < 0 ? -1 : to;
      return int(call(nr.dup3, from, to, 0));
    },
    close_range: (first: number, last: number, flags: number) =>
      int(call(nr.close_range, first, last, flags)),
    open: (path: Buf, flags: number, mode: number) =>
      int(call(nr.openat, AT_FDCWD, addr(path), flags, mode)),
    access: (path: Buf, mode: number) => int(call(nr.faccessat, AT_FDCWD, addr(path), mode, 0)),
    readlink: (path: Buf, buf: Buf, size: Arg) =>
      call(nr.readlinkat, AT_FDCWD, addr(path), addr(buf), size),
    chdir: (path: Buf) => int(call(nr.chdir, addr(path))),
    pivot_root: (a: Buf, b: Buf) => int(call(nr.pivot_root, addr(a), addr(b))),
    mount: (src: Buf, target: Buf, fstype: Buf, flags: Arg, data: Buf) =>
      int(call(nr.mount, addr(src), addr(target), addr(fstype), flags, addr(data))),
    sethostname: (name: Buf, len: Arg) => int(call(nr.sethostname, addr(name), len)),
    setresuid: (r: number, e: number, s: number) => int(call(nr.setresuid, r, e, s)),
    setresgid: (r: number, e: number, s: number) => int(call(nr.setresgid, r, e, s)),
    setgroups: (n: Arg, list: Buf) => int(call(nr.setgroups, n, addr(list))),
    capset: (hdr: Buf, data: Buf) => int(call(nr.capset, addr(hdr), addr(data))),
    execve: (path: Buf, argv: Buf, envp: Buf) =>
      int(call(nr.execve, addr(path), addr(argv), addr(envp))),
    setrlimit: (resource: number, rlim: Buf) => int(call(nr.prlimit64, 0, resource, addr(rlim), 0)),
    sigprocmask: (how: number, set: Buf, old: Buf) =>
      int(call(nr.rt_sigprocmask, how, addr(set), addr(old), SIGSET_SIZE)),
    signalfd: (fd: number, mask: Buf, flags: number) =>
      int(call(nr.signalfd4, fd, addr(mask), SIGSET_SIZE, flags)),
    // Only SIG_DFL and SIG_IGN are set this way: a handler would need libc's restorer.
    signal: (sig: number, handler: Arg) => {
      const act = new BigUint64Array(4); // handler, flags, restorer, mask
      act[0] = BigInt(handler);
      const r = call(nr.rt_sigaction, sig, addr(act), 0, SIGSET_SIZE);
      return Number(r) < 0 ? -1n : 0n;
    },
    write: (fd: number, buf: Buf, n: Arg) => call(nr.write, fd, addr(buf), n),
    waitpid: (pid: number, status: Buf, options: number) =>
      int(call(nr.wait4, pid, addr(status), options, 0)),
    umount2: (target: Buf, flags: number) => int(call(nr.umount2, addr(target), flags)),
    syscall3: (n: Arg, a: Arg, b: Arg, c: Arg) => sys(Number(n), a, b, c, 0, 0, 0),
  };
  return calls as unknown as Record<string, (...args: never[]) => unknown>;
}
