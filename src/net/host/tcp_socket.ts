// Host TCP connections through FFI, waited for by the network's reactor, so that a host's answer can reach the container without a thread switch.
//
// Theory of operation: the socket is non-blocking. read() and write() try
// recv(2) and send(2) at once; only when the kernel has nothing (EAGAIN) does
// the call wait, by asking the reactor for POLLIN or POLLOUT. A successful
// write asks the reactor to linger for the answer, which then wakes the main
// thread directly (see ../reactor.ts). The methods are the part of Deno.Conn
// that the TCP bridge uses, with the same results: read resolves to null at the
// end of the stream, and a closed socket rejects with Deno.errors.BadResource.

import { lastErrno, libc } from "../../../ffi/libc.ts";
import { close as closeFd, EAGAIN, POLL, SOCK, socket, SOL_SOCKET } from "../../../ffi/sys.ts";
import { SyscallError } from "../../../ffi/errno.ts";
import type { Reactor } from "../reactor.ts";
import { sockaddr } from "./sockaddr.ts";

const MSG_DONTWAIT = 0x40;
const MSG_NOSIGNAL = 0x4000;
const SO_ERROR = 4;
const SHUT_WR = 1;
const EINPROGRESS = 115;

/** What the TCP bridge needs of a host connection: the matching part of Deno.Conn. */
export interface HostStream {
  /** Reads into `p`; resolves to the byte count, or null at the end of the stream. */
  read(p: Uint8Array): Promise<number | null>;
  /** Writes some of `p`; resolves to how many bytes went. */
  write(p: Uint8Array): Promise<number>;
  /**
   * Optional: writes what the kernel takes of `p` now, without waiting; undefined when it takes
   * nothing now (then {@link write} waits). Throws when the connection failed.
   */
  tryWrite?(p: Uint8Array): number | undefined;
  /** Sends FIN (shutdown(SHUT_WR)). */
  closeWrite(): Promise<void>;
  /** Closes the connection. */
  close(): void;
}

interface Pending<T> {
  readonly buf: Uint8Array;
  readonly resolve: (v: T) => void;
  readonly reject: (e: unknown) => void;
}

/** A connected, non-blocking host TCP socket; see the file's header. */
export class HostTcpSocket implements HostStream {
  readonly #fd: number;
  readonly #reactor: Reactor;
  #reading: Pending<number | null> | null = null;
  #writing: Pending<number> | null = null;
  #closed = false;

  /** Takes over a connected non-blocking socket, such as one accept4(2) returned. */
  static adopt(fd: number, reactor: Reactor): HostTcpSocket {
    return new HostTcpSocket(fd, reactor);
  }

  private constructor(fd: number, reactor: Reactor) {
    this.#fd = fd;
    this.#reactor = reactor;
    reactor.watch(fd, 0, (revents) => this.#ready(revents));
  }

  /**
   * Connects to `hostname` (an IPv4 or IPv6 address, as the bridge's destination map gives)
   * and `port`. Rejects with Deno.errors.ConnectionRefused, or a SyscallError for other
   * failures.
   */
  static connect(reactor: Reactor, hostname: string, port: number): Promise<HostTcpSocket> {
    const v6 = hostname.includes(":");
    const addr = new Uint8Array(28);
    const len = sockaddr(addr, v6, hostname, port);
    let fd: number;
    try {
      fd = socket(v6 ? SOCK.AF_INET6 : SOCK.AF_INET, SOCK.STREAM | SOCK.NONBLOCK);
    } catch (e) {
      return Promise.reject(e); // EMFILE and the like
    }
    if (libc.connect(fd, addr, len) === 0) return Promise.resolve(new HostTcpSocket(fd, reactor));
    const errno = lastErrno();
    if (errno !== EINPROGRESS) {
      closeFd(fd);
      return Promise.reject(connectError(errno, hostname, port));
    }
    return new Promise((resolve, reject) => {
      const onWritable = (revents: number) => {
        reactor.unwatch(fd);
        if (revents & POLL.NVAL) {
          // The network closed while connecting.
          closeFd(fd);
          reject(new Deno.errors.BadResource("the network closed"));
          return;
        }
        const err = new Int32Array(1);
        const errLen = new Uint32Array([4]);
        const r = libc.getsockopt(fd, SOL_SOCKET, SO_ERROR, new Uint8Array(err.buffer), errLen);
        const failure = r !== 0 ? lastErrno() : err[0]!;
        if (failure === 0 && !isConnected(fd)) {
          // Woken without the connect having finished: wait on.
          reactor.watch(fd, POLL.OUT, onWritable);
          return;
        }
        if (failure !== 0) {
          closeFd(fd);
          reject(connectError(failure, hostname, port));
          return;
        }
        resolve(new HostTcpSocket(fd, reactor));
      };
      reactor.watch(fd, POLL.OUT, onWritable);
    });
  }

  /** Reads into `p`: what is there now, else waits; null at the end of the stream. */
  read(p: Uint8Array): Promise<number | null> {
    if (this.#closed) return Promise.reject(new Deno.errors.BadResource("socket closed"));
    if (this.#reading) return Promise.reject(new Deno.errors.Busy("a read is pending"));
    const n = this.#recv(p);
    if (n !== undefined) return n instanceof Error ? Promise.reject(n) : Promise.resolve(n);
    return new Promise((resolve, reject) => {
      this.#reading = { buf: p, resolve, reject };
      this.#updateEvents();
    });
  }

  /** Writes what the kernel takes of `p` now, else waits until it takes some. */
  write(p: Uint8Array): Promise<number> {
    if (this.#closed) return Promise.reject(new Deno.errors.BadResource("socket closed"));
    if (this.#writing) return Promise.reject(new Deno.errors.Busy("a write is pending"));
    const n = this.#send(p);
    if (n !== undefined) return n instanceof Error ? Promise.reject(n) : Promise.resolve(n);
    return new Promise((resolve, reject) => {
      this.#writing = { buf: p, resolve, reject };
      this.#updateEvents();
    });
  }

  /** Writes what the kernel takes of `p` now; undefined when it takes nothing now. */
  tryWrite(p: Uint8Array): number | undefined {
    if (this.#closed) throw new Deno.errors.BadResource("socket closed");
    if (this.#writing) return undefined;
    const n = this.#send(p);
    if (n instanceof Error) throw n;
    return n;
  }

  /** Half-closes: the host peer reads the end of the stream. */
  closeWrite(): Promise<void> {
    if (this.#closed) return Promise.reject(new Deno.errors.BadResource("socket closed"));
    if (libc.shutdown(this.#fd, SHUT_WR) !== 0) {
      return Promise.reject(new SyscallError("shutdown", lastErrno(), "SHUT_WR"));
    }
    return Promise.resolve();
  }

  /** Closes the socket; a pending read or write rejects with Deno.errors.BadResource. */
  close(): void {
    if (this.#closed) throw new Deno.errors.BadResource("socket closed");
    this.#closed = true;
    this.#reactor.unwatch(this.#fd);
    closeFd(this.#fd);
    const err = new Deno.errors.BadResource("socket closed");
    this.#reading?.reject(err);
    this.#writing?.reject(err);
    this.#reading = this.#writing = null;
  }

  #ready(revents: number): void {
    if (revents & POLL.NVAL) {
      // The network closed under a connection still open: as if closed here.
      if (!this.#closed) this.close();
      return;
    }
    const r = this.#reading;
    if (r && revents & (POLL.IN | POLL.ERR | POLL.HUP)) {
      const n = this.#recv(r.buf);
      if (n !== undefined) {
        this.#reading = null;
        if (n instanceof Error) r.reject(n);
        else r.resolve(n);
      }
    }
    const w = this.#writing;
    if (w && !this.#closed && revents & (POLL.OUT | POLL.ERR | POLL.HUP)) {
      const n = this.#send(w.buf);
      if (n !== undefined) {
        this.#writing = null;
        if (n instanceof Error) w.reject(n);
        else w.resolve(n);
      }
    }
    if (!this.#closed) this.#updateEvents();
  }

  #updateEvents(): void {
    this.#reactor.setEvents(
      this.#fd,
      (this.#reading ? POLL.IN : 0) | (this.#writing ? POLL.OUT : 0),
    );
  }

  /** recv(2) without waiting: the count, null at the end, undefined for "not yet". */
  #recv(p: Uint8Array): number | null | undefined | Error {
    const n = Number(libc.recvfrom(this.#fd, p, BigInt(p.length), MSG_DONTWAIT, null, null));
    if (n > 0) return n;
    if (n === 0) return p.length === 0 ? 0 : null;
    const errno = lastErrno();
    return errno === EAGAIN ? undefined : streamError("recv", errno);
  }

  /** send(2) without waiting: the count, or undefined for "not yet". */
  #send(p: Uint8Array): number | undefined | Error {
    const n = Number(
      libc.sendto(this.#fd, p, BigInt(p.length), MSG_DONTWAIT | MSG_NOSIGNAL, null, 0),
    );
    if (n >= 0) {
      this.#reactor.expectAnswer(n);
      return n;
    }
    const errno = lastErrno();
    return errno === EAGAIN ? undefined : streamError("send", errno);
  }
}

/** Whether a connect has finished: getpeername(2) fails with ENOTCONN until then. */
function isConnected(fd: number): boolean {
  const addr = new Uint8Array(128);
  const len = new Uint32Array([addr.length]);
  return libc.getpeername(fd, addr, new Uint8Array(len.buffer)) === 0;
}

const ECONNREFUSED = 111;
const ECONNRESET = 104;
const EPIPE = 32;

function connectError(errno: number, hostname: string, port: number): Error {
  const where = `${hostname.includes(":") ? `[${hostname}]` : hostname}:${port}`;
  if (errno === ECONNREFUSED) return new Deno.errors.ConnectionRefused(`connect ${where}`);
  return new SyscallError("connect", errno, where);
}

function streamError(call: string, errno: number): Error {
  if (errno === ECONNRESET || errno === EPIPE) return new Deno.errors.ConnectionReset(call);
  return new SyscallError(call, errno);
}
