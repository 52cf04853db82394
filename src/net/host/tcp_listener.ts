// A host TCP listener through FFI: bound up front, then accepting into HostTcpSockets waited for by the network's reactor.

import { lastErrno, libc } from "../../../ffi/libc.ts";
import {
  close as closeFd,
  EAGAIN,
  EINTR,
  POLL,
  SOCK,
  socket,
  SOL_SOCKET,
} from "../../../ffi/sys.ts";
import { SyscallError } from "../../../ffi/errno.ts";
import type { Reactor } from "../reactor.ts";
import { readSockaddr, sockaddr } from "./sockaddr.ts";
import { HostTcpSocket } from "./tcp_socket.ts";

const SO_REUSEADDR = 2;
const BACKLOG = 4096;
const ECONNABORTED = 103;
/** How long accepting pauses when the process is out of descriptors. */
const RETRY_MS = 100;

/** Where an accepted connection comes from. */
export interface RemoteAddress {
  readonly address: string;
  readonly port: number;
}

/** A listening host TCP socket. */
export class HostTcpListener {
  readonly #fd: number;
  #reactor: Reactor | null = null;
  #closed = false;

  private constructor(fd: number) {
    this.#fd = fd;
  }

  /**
   * Binds and listens on `hostname` (an IPv4 or IPv6 address) and `port`, with SO_REUSEADDR as
   * servers have, queueing up to `backlog` connections not yet accepted. Throws a SyscallError (its `code` EADDRINUSE, EACCES, EADDRNOTAVAIL...).
   */
  static listen(hostname: string, port: number, backlog = BACKLOG): HostTcpListener {
    const v6 = hostname.includes(":");
    const addr = new Uint8Array(28);
    const len = sockaddr(addr, v6, hostname, port);
    const fd = socket(v6 ? SOCK.AF_INET6 : SOCK.AF_INET, SOCK.STREAM | SOCK.NONBLOCK);
    try {
      const one = new Uint8Array(new Int32Array([1]).buffer);
      libc.setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, one, 4);
      const where = `${v6 ? `[${hostname}]` : hostname}:${port}`;
      if (libc.bind(fd, addr, len) !== 0) throw new SyscallError("bind", lastErrno(), where);
      if (libc.listen(fd, backlog) !== 0) throw new SyscallError("listen", lastErrno(), where);
    } catch (e) {
      closeFd(fd);
      throw e;
    }
    return new HostTcpListener(fd);
  }

  /** The port it listens on (the kernel's choice when 0 was asked for). */
  get localPort(): number {
    const addr = new Uint8Array(28);
    const len = new Uint32Array([addr.length]);
    if (libc.getsockname(this.#fd, addr, new Uint8Array(len.buffer)) !== 0) {
      throw new SyscallError("getsockname", lastErrno());
    }
    return readSockaddr(addr).port;
  }

  /** Accepts every connection, as it comes, with `reactor` waiting; until {@link close}. */
  serve(reactor: Reactor, onConnection: (sock: HostTcpSocket, from: RemoteAddress) => void): void {
    if (this.#closed || this.#reactor) return;
    this.#reactor = reactor;
    const addr = new Uint8Array(28);
    const addrLen = new Uint32Array(1);
    const lenBytes = new Uint8Array(addrLen.buffer);
    reactor.watch(this.#fd, POLL.IN, () => {
      while (!this.#closed) {
        addrLen[0] = addr.length;
        const fd = libc.accept4(this.#fd, addr, lenBytes, SOCK.NONBLOCK | SOCK.CLOEXEC);
        if (fd < 0) {
          const errno = lastErrno();
          if (errno === EAGAIN) return;
          if (errno === EINTR || errno === ECONNABORTED) continue;
          // Out of descriptors or memory (EMFILE, ENFILE, ENOBUFS): the client waits in the
          // backlog; try again in a moment rather than spin on a listener that stays readable.
          reactor.setEvents(this.#fd, 0);
          setTimeout(() => {
            if (!this.#closed) reactor.setEvents(this.#fd, POLL.IN);
          }, RETRY_MS);
          return;
        }
        const { address, port } = readSockaddr(addr);
        onConnection(HostTcpSocket.adopt(fd, reactor), { address, port });
      }
    });
  }

  /** Stops accepting and closes the socket. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#reactor?.unwatch(this.#fd);
    closeFd(this.#fd);
  }
}
