// The libc symbol table: the project's only Deno.dlopen, each parameter commented with its C type.

import { SyscallError } from "./errno.ts";
import { RAW_CALL_NAMES, rawCalls, type RawSyscall } from "./raw_calls.ts";

/**
 * Every libc function the project calls. Blocking calls that the host side
 * makes while the event loop must keep running are declared a second time
 * with `nonblocking: true` (they then run on Deno's thread pool and return a
 * Promise); the forked children, which have no event loop, use the plain ones.
 */
export const LIBC_SYMBOLS = {
  // pid_t fork(void)
  fork: { parameters: [], result: "i32" },
  // int unshare(int flags)
  unshare: { parameters: ["i32"], result: "i32" },
  // int setns(int fd, int nstype)
  setns: { parameters: ["i32", "i32"], result: "i32" },
  // int socketpair(int domain, int type, int protocol, int sv[2])
  socketpair: { parameters: ["i32", "i32", "i32", "buffer"], result: "i32" },
  // int socket(int domain, int type, int protocol)
  socket: { parameters: ["i32", "i32", "i32"], result: "i32" },
  // ssize_t sendmsg(int sockfd, const struct msghdr *msg, int flags)
  sendmsg: { parameters: ["i32", "buffer", "i32"], result: "isize" },
  // ssize_t recvmsg(int sockfd, struct msghdr *msg, int flags)
  recvmsg: { parameters: ["i32", "buffer", "i32"], result: "isize" },
  // ssize_t recvmsg(int sockfd, struct msghdr *msg, int flags), on the thread pool
  recvmsgAsync: {
    name: "recvmsg",
    parameters: ["i32", "buffer", "i32"],
    result: "isize",
    nonblocking: true,
  },
  // ssize_t read(int fd, void *buf, size_t count)
  read: { parameters: ["i32", "buffer", "usize"], result: "isize" },
  // ssize_t read(int fd, void *buf, size_t count), on the thread pool
  readAsync: {
    name: "read",
    parameters: ["i32", "buffer", "usize"],
    result: "isize",
    nonblocking: true,
  },
  // ssize_t write(int fd, const void *buf, size_t count)
  write: { parameters: ["i32", "buffer", "usize"], result: "isize" },
  // ssize_t write(int fd, const void *buf, size_t count), on the thread pool
  writeAsync: {
    name: "write",
    parameters: ["i32", "buffer", "usize"],
    result: "isize",
    nonblocking: true,
  },
  // int open(const char *pathname, int flags, mode_t mode)
  open: { parameters: ["buffer", "i32", "u32"], result: "i32" },
  // int close(int fd)
  close: { parameters: ["i32"], result: "i32" },
  // int close_range(unsigned int first, unsigned int last, int flags)
  close_range: { parameters: ["u32", "u32", "i32"], result: "i32" },
  // int dup2(int oldfd, int newfd)
  dup2: { parameters: ["i32", "i32"], result: "i32" },
  // int pipe2(int pipefd[2], int flags)
  pipe2: { parameters: ["buffer", "i32"], result: "i32" },
  // int fcntl(int fd, int cmd, int arg)
  fcntl: { parameters: ["i32", "i32", "i32"], result: "i32" },
  // int ioctl(int fd, unsigned long request, void *argp)
  ioctl: { parameters: ["i32", "u64", "buffer"], result: "i32" },
  // int ioctl(int fd, unsigned long request, unsigned long arg), e.g. TUNSETOFFLOAD
  ioctlValue: { name: "ioctl", parameters: ["i32", "u64", "u64"], result: "i32" },
  // ssize_t writev(int fd, const struct iovec *iov, int iovcnt)
  writev: { parameters: ["i32", "buffer", "i32"], result: "isize" },
  // pid_t waitpid(pid_t pid, int *wstatus, int options)
  waitpid: { parameters: ["i32", "buffer", "i32"], result: "i32" },
  // pid_t waitpid(pid_t pid, int *wstatus, int options), on the thread pool
  waitpidAsync: {
    name: "waitpid",
    parameters: ["i32", "buffer", "i32"],
    result: "i32",
    nonblocking: true,
  },
  // void _exit(int status)
  _exit: { parameters: ["i32"], result: "void" },
  // int execve(const char *path, char *const argv[], char *const envp[])
  execve: { parameters: ["buffer", "buffer", "buffer"], result: "i32" },
  // uid_t getuid(void)
  getuid: { parameters: [], result: "u32" },
  // gid_t getgid(void)
  getgid: { parameters: [], result: "u32" },
  // pid_t getpid(void)
  getpid: { parameters: [], result: "i32" },
  // pid_t getppid(void)
  getppid: { parameters: [], result: "i32" },
  // pid_t setsid(void)
  setsid: { parameters: [], result: "i32" },
  // int kill(pid_t pid, int sig)
  kill: { parameters: ["i32", "i32"], result: "i32" },
  // int prctl(int option, unsigned long arg2, unsigned long arg3, unsigned long arg4, unsigned long arg5)
  prctl: { parameters: ["i32", "u64", "u64", "u64", "u64"], result: "i32" },
  // int prctl(int option, unsigned long arg2, void *arg3, ...) for PR_SET_SECCOMP
  prctlPointer: {
    name: "prctl",
    parameters: ["i32", "u64", "buffer", "u64", "u64"],
    result: "i32",
  },
  // int mount(const char *source, const char *target, const char *fstype, unsigned long flags, const void *data)
  mount: { parameters: ["buffer", "buffer", "buffer", "u64", "buffer"], result: "i32" },
  // int umount2(const char *target, int flags)
  umount2: { parameters: ["buffer", "i32"], result: "i32" },
  // int pivot_root(const char *new_root, const char *put_old)
  pivot_root: { parameters: ["buffer", "buffer"], result: "i32" },
  // int chdir(const char *path)
  chdir: { parameters: ["buffer"], result: "i32" },
  // int sethostname(const char *name, size_t len)
  sethostname: { parameters: ["buffer", "usize"], result: "i32" },
  // int setresuid(uid_t ruid, uid_t euid, uid_t suid)
  setresuid: { parameters: ["u32", "u32", "u32"], result: "i32" },
  // int setresgid(gid_t rgid, gid_t egid, gid_t sgid)
  setresgid: { parameters: ["u32", "u32", "u32"], result: "i32" },
  // int setgroups(size_t size, const gid_t *list)
  setgroups: { parameters: ["usize", "buffer"], result: "i32" },
  // int capset(cap_user_header_t hdrp, const cap_user_data_t datap)
  capset: { parameters: ["buffer", "buffer"], result: "i32" },
  // int capget(cap_user_header_t hdrp, cap_user_data_t datap)
  capget: { parameters: ["buffer", "buffer"], result: "i32" },
  // int sigprocmask(int how, const sigset_t *set, sigset_t *oldset)
  sigprocmask: { parameters: ["i32", "buffer", "buffer"], result: "i32" },
  // sighandler_t signal(int signum, sighandler_t handler)
  signal: { parameters: ["i32", "usize"], result: "usize" },
  // int signalfd(int fd, const sigset_t *mask, int flags)
  signalfd: { parameters: ["i32", "buffer", "i32"], result: "i32" },
  // int setrlimit(int resource, const struct rlimit *rlim)
  setrlimit: { parameters: ["i32", "buffer"], result: "i32" },
  // int poll(struct pollfd *fds, nfds_t nfds, int timeout), on the thread pool
  pollAsync: {
    name: "poll",
    parameters: ["buffer", "u64", "i32"],
    result: "i32",
    nonblocking: true,
  },
  // int ppoll(struct pollfd *fds, nfds_t nfds, const struct timespec *tmo_p, const sigset_t *sigmask)
  ppoll: { parameters: ["buffer", "u64", "buffer", "pointer"], result: "i32" },
  // int ppoll(...), on the thread pool
  ppollAsync: {
    name: "ppoll",
    parameters: ["buffer", "u64", "buffer", "pointer"],
    result: "i32",
    nonblocking: true,
  },
  // int eventfd(unsigned int initval, int flags)
  eventfd: { parameters: ["u32", "i32"], result: "i32" },
  // ssize_t sendto(int sockfd, const void *buf, size_t len, int flags, const struct sockaddr *dest_addr, socklen_t addrlen)
  sendto: { parameters: ["i32", "buffer", "usize", "i32", "buffer", "u32"], result: "isize" },
  // ssize_t recvfrom(int sockfd, void *buf, size_t len, int flags, struct sockaddr *src_addr, socklen_t *addrlen)
  recvfrom: { parameters: ["i32", "buffer", "usize", "i32", "buffer", "buffer"], result: "isize" },
  // long syscall(long number, long a1, long a2, long a3): for calls glibc does not wrap (keyctl)
  syscall3: { name: "syscall", parameters: ["i64", "i64", "i64", "i64"], result: "i64" },
  // long syscall(long number, long a1, ..., long a6): the one binding behind raw_calls.ts
  syscall6: {
    name: "syscall",
    parameters: ["i64", "i64", "i64", "i64", "i64", "i64", "i64"],
    result: "i64",
  },
  // int bind(int sockfd, const struct sockaddr *addr, socklen_t addrlen)
  bind: { parameters: ["i32", "buffer", "u32"], result: "i32" },
  // int setsockopt(int sockfd, int level, int optname, const void *optval, socklen_t optlen)
  setsockopt: { parameters: ["i32", "i32", "i32", "buffer", "u32"], result: "i32" },
  // int connect(int sockfd, const struct sockaddr *addr, socklen_t addrlen)
  connect: { parameters: ["i32", "buffer", "u32"], result: "i32" },
  // int getsockopt(int sockfd, int level, int optname, void *optval, socklen_t *optlen)
  getsockopt: { parameters: ["i32", "i32", "i32", "buffer", "buffer"], result: "i32" },
  // int listen(int sockfd, int backlog)
  listen: { parameters: ["i32", "i32"], result: "i32" },
  // int accept4(int sockfd, struct sockaddr *addr, socklen_t *addrlen, int flags)
  accept4: { parameters: ["i32", "buffer", "buffer", "i32"], result: "i32" },
  // int getpeername(int sockfd, struct sockaddr *addr, socklen_t *addrlen)
  getpeername: { parameters: ["i32", "buffer", "buffer"], result: "i32" },
  // int shutdown(int sockfd, int how)
  shutdown: { parameters: ["i32", "i32"], result: "i32" },
  // int getsockname(int sockfd, struct sockaddr *addr, socklen_t *addrlen)
  getsockname: { parameters: ["i32", "buffer", "buffer"], result: "i32" },
  // int posix_spawn(pid_t *pid, const char *path, const posix_spawn_file_actions_t *actions,
  //                 const posix_spawnattr_t *attr, char *const argv[], char *const envp[])
  posix_spawn: {
    parameters: ["buffer", "buffer", "buffer", "pointer", "buffer", "buffer"],
    result: "i32",
  },
  // int posix_spawn(...), on the thread pool
  posix_spawnAsync: {
    name: "posix_spawn",
    parameters: ["buffer", "buffer", "buffer", "pointer", "buffer", "buffer"],
    result: "i32",
    nonblocking: true,
  },
  // int posix_spawn_file_actions_init(posix_spawn_file_actions_t *file_actions)
  posix_spawn_file_actions_init: { parameters: ["buffer"], result: "i32" },
  // int posix_spawn_file_actions_adddup2(posix_spawn_file_actions_t *file_actions, int fildes, int newfildes)
  posix_spawn_file_actions_adddup2: { parameters: ["buffer", "i32", "i32"], result: "i32" },
  // int posix_spawn_file_actions_destroy(posix_spawn_file_actions_t *file_actions)
  posix_spawn_file_actions_destroy: { parameters: ["buffer"], result: "i32" },
  // int access(const char *pathname, int mode)
  access: { parameters: ["buffer", "i32"], result: "i32" },
  // ssize_t readlink(const char *pathname, char *buf, size_t bufsiz)
  readlink: { parameters: ["buffer", "buffer", "usize"], result: "isize" },
  // int isatty(int fd)
  isatty: { parameters: ["i32"], result: "i32" },
  // int *__errno_location(void)
  __errno_location: { parameters: [], result: "pointer" },
} as const satisfies Deno.ForeignLibraryInterface;

/** libc's functions as Deno.dlopen declares them. */
export type LibcSymbols = Deno.DynamicLibrary<typeof LIBC_SYMBOLS>["symbols"];

/**
 * The functions called per frame or per event by the network, or by the children for every
 * system call, and fork (between the pages it makes inheritable and the fork itself, nothing
 * may allocate: the general call path makes its result an ArrayBuffer). Deno compiles a call
 * trampoline for each of these (fast calls, about 0.2 to 0.7 ms of compiling apiece).
 */
const FAST_SYMBOLS: ReadonlySet<string> = new Set([
  "fork",
  "read",
  "writev",
  "ppoll",
  "sendto",
  "recvfrom",
  "syscall3",
  "syscall6",
]);

/**
 * The libc functions, shared by every wrapper in ffi/. Each is bound on first use. Those in
 * {@link FAST_SYMBOLS} get Deno's compiled fast calls; the others, called a few times per start
 * at most, are bound so that Deno compiles nothing for them (see {@link bindWithoutTrampoline}).
 */
export const libc: LibcSymbols = {} as LibcSymbols;
/** The functions made as raw system calls through one binding (see raw_calls.ts). */
let raw: Record<string, (...args: never[]) => unknown> | null = null;
for (const name of Object.keys(LIBC_SYMBOLS) as (keyof typeof LIBC_SYMBOLS)[]) {
  Object.defineProperty(libc, name, {
    configurable: true,
    enumerable: true,
    get() {
      let bound;
      if (RAW_CALL_NAMES.has(name)) {
        raw ??= rawCalls(libc.syscall6 as unknown as RawSyscall);
        bound = raw[name];
      } else if (FAST_SYMBOLS.has(name)) {
        bound = Deno.dlopen("libc.so.6", { [name]: LIBC_SYMBOLS[name] }).symbols[name];
      } else {
        bound = bindWithoutTrampoline(name, LIBC_SYMBOLS[name]);
      }
      Object.defineProperty(libc, name, { value: bound, enumerable: true });
      return bound;
    },
  });
}

/**
 * Binds `name` on Deno's general call path, which compiles nothing: Deno compiles a fast-call
 * trampoline for every symbol whose types allow it, and a struct in the signature does not.
 * The result is declared as a struct of its one scalar, which the C calling conventions of
 * x86-64 and aarch64 return in the same register as the scalar itself; the struct's bytes are
 * read back here. Each call costs a microsecond or two more, which rare calls do not notice.
 * Thread-pool (nonblocking) symbols compile nothing already and are bound as declared.
 */
function bindWithoutTrampoline(name: string, symbol: Deno.ForeignFunction): unknown {
  const result = symbol.result;
  if (symbol.nonblocking || typeof result !== "string" || result === "void") {
    return Deno.dlopen("libc.so.6", { [name]: symbol }).symbols[name];
  }
  const general = Deno.dlopen("libc.so.6", {
    [name]: { ...symbol, result: { struct: [result] } },
  }).symbols[name] as (...args: unknown[]) => Uint8Array<ArrayBuffer>;
  const read = scalarReader(result);
  return (...args: unknown[]) => read(new DataView(general(...args).buffer));
}

/** Reads a scalar result of type `type` from the start of its struct's bytes. */
function scalarReader(type: Deno.NativeResultType): (v: DataView) => unknown {
  switch (type) {
    case "i32":
      return (v) => v.getInt32(0, true);
    case "u32":
      return (v) => v.getUint32(0, true);
    case "pointer":
      return (v) => Deno.UnsafePointer.create(v.getBigUint64(0, true));
    case "i64":
    case "isize":
      return (v) => safeNumber(v.getBigInt64(0, true));
    case "u64":
    case "usize":
      return (v) => safeNumber(v.getBigUint64(0, true));
    default:
      throw new Error(`libc: no general binding for a ${String(type)} result`);
  }
}

/** A 64-bit result as Deno gives it: a number when exact, a bigint otherwise. */
function safeNumber(n: bigint): number | bigint {
  return n >= BigInt(Number.MIN_SAFE_INTEGER) && n <= BigInt(Number.MAX_SAFE_INTEGER)
    ? Number(n)
    : n;
}

/** Binds `names` now rather than on first use (see {@link libc}). */
export function bindLibc(names: readonly (keyof typeof LIBC_SYMBOLS)[]): void {
  for (const name of names) void libc[name];
}

/**
 * What a forked child calls before its parent has written its id maps (death signal, unshare,
 * the control channel), all but errno through the one syscall binding (raw_calls.ts). fork()
 * binds these and {@link LATE_CHILD_SYMBOLS} in the parent.
 */
export const EARLY_CHILD_SYMBOLS = [
  "__errno_location",
  "syscall6",
] as const satisfies readonly (keyof typeof LIBC_SYMBOLS)[];

/**
 * The rest of what the forked children bind on their way to INIT: read(2), kept a binding of
 * its own for the network's per-frame reads. fork() binds it in the parent, unless the caller
 * lets its child bind it (the container's child does, while newuidmap runs); INIT's process,
 * forked from that child, inherits it bound.
 */
export const LATE_CHILD_SYMBOLS = [
  "read",
] as const satisfies readonly (keyof typeof LIBC_SYMBOLS)[];

/**
 * Throws a SyscallError for `syscall` (errno from {@link lastErrno}) when `result` is negative;
 * returns the result otherwise. For the typed wrappers of sys.ts and process.ts.
 */
export function check<T extends number | bigint>(result: T, syscall: string, path?: string): T {
  if (result < 0) throw new SyscallError(syscall, lastErrno(), path);
  return result;
}

/** Reads errno of the calling thread: call it right after the failing call, on the same thread. */
export function lastErrno(): number {
  errnoView ??= new Deno.UnsafePointerView(libc.__errno_location()!);
  return errnoView.getInt32();
}

/**
 * errno of the thread that runs this module's JavaScript: its address is fixed for the thread
 * (a Worker has its own module instance), and a forked child has it at the same address.
 */
let errnoView: Deno.UnsafePointerView | null = null;
