// Typed system calls for files, descriptors, sockets, mounts and readiness: each wraps libc once and throws SyscallError(syscall, errno, path) on failure (processes: process.ts).

import { check, lastErrno, libc } from "./libc.ts";
import { type RawSyscall, SYSCALL_NUMBERS } from "./raw_calls.ts";
import { addressOf, cstr, MessageHeader } from "./structs.ts";

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
