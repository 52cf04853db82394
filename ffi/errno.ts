// The one error class for failed system calls: syscall name, errno (number and symbolic name), path.

/** Symbolic names of the Linux errno values (x86-64 and aarch64 share them). */
const ERRNO_NAMES: Record<number, string> = {
  1: "EPERM",
  2: "ENOENT",
  3: "ESRCH",
  4: "EINTR",
  5: "EIO",
  6: "ENXIO",
  7: "E2BIG",
  8: "ENOEXEC",
  9: "EBADF",
  10: "ECHILD",
  11: "EAGAIN",
  12: "ENOMEM",
  13: "EACCES",
  14: "EFAULT",
  15: "ENOTBLK",
  16: "EBUSY",
  17: "EEXIST",
  18: "EXDEV",
  19: "ENODEV",
  20: "ENOTDIR",
  21: "EISDIR",
  22: "EINVAL",
  23: "ENFILE",
  24: "EMFILE",
  25: "ENOTTY",
  26: "ETXTBSY",
  27: "EFBIG",
  28: "ENOSPC",
  29: "ESPIPE",
  30: "EROFS",
  31: "EMLINK",
  32: "EPIPE",
  34: "ERANGE",
  36: "ENAMETOOLONG",
  38: "ENOSYS",
  39: "ENOTEMPTY",
  40: "ELOOP",
  61: "ENODATA",
  75: "EOVERFLOW",
  88: "ENOTSOCK",
  90: "EMSGSIZE",
  92: "ENOPROTOOPT",
  93: "EPROTONOSUPPORT",
  95: "EOPNOTSUPP",
  97: "EAFNOSUPPORT",
  98: "EADDRINUSE",
  99: "EADDRNOTAVAIL",
  100: "ENETDOWN",
  101: "ENETUNREACH",
  104: "ECONNRESET",
  105: "ENOBUFS",
  106: "EISCONN",
  107: "ENOTCONN",
  110: "ETIMEDOUT",
  111: "ECONNREFUSED",
  113: "EHOSTUNREACH",
  115: "EINPROGRESS",
  122: "EDQUOT",
};

/** Short descriptions, as strerror(3) gives them, for the errno values users meet most. */
const ERRNO_TEXT: Record<number, string> = {
  1: "operation not permitted",
  2: "no such file or directory",
  3: "no such process",
  9: "bad file descriptor",
  12: "out of memory",
  13: "permission denied",
  16: "device or resource busy",
  17: "file exists",
  20: "not a directory",
  21: "is a directory",
  22: "invalid argument",
  28: "no space left on device",
  30: "read-only file system",
  38: "function not implemented",
  40: "too many levels of symbolic links",
  98: "address already in use",
  111: "connection refused",
};

/** Returns the symbolic name of an errno value, such as `EPERM`, or `errno N` when unknown. */
export function errnoName(errno: number): string {
  return ERRNO_NAMES[errno] ?? `errno ${errno}`;
}

/** Returns the errno value for a symbolic name such as `ENOENT`, or undefined. */
export function errnoValue(name: string): number | undefined {
  for (const [value, n] of Object.entries(ERRNO_NAMES)) {
    if (n === name) return Number(value);
  }
  return undefined;
}

/** Returns a short human description of an errno value, such as "permission denied". */
export function errnoText(errno: number): string {
  return ERRNO_TEXT[errno] ?? errnoName(errno);
}

/**
 * A failed system call: which call, the errno it returned and the path or
 * argument it was about.
 *
 * @example
 * ```ts
 * import { SyscallError } from "./errno.ts";
 * const e = new SyscallError("mount", 1, "/proc");
 * console.assert(e.code === "EPERM");
 * console.assert(e.message === 'mount "/proc": EPERM (operation not permitted)');
 * ```
 */
export class SyscallError extends Error {
  /** The system call that failed, such as "mount". */
  readonly syscall: string;
  /** The errno value it returned. */
  readonly errno: number;
  /** The symbolic errno name, such as "EPERM". */
  readonly code: string;
  /** The path or argument the call was about, if any. */
  readonly path: string | undefined;

  /** Builds the error from the call's name, its errno and the path involved. */
  constructor(syscall: string, errno: number, path?: string) {
    const where = path === undefined ? "" : ` ${JSON.stringify(path)}`;
    super(`${syscall}${where}: ${errnoName(errno)} (${errnoText(errno)})`);
    this.name = "SyscallError";
    this.syscall = syscall;
    this.errno = errno;
    this.code = errnoName(errno);
    this.path = path;
  }
}
