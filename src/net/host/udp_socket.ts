// Host UDP sockets through FFI, with ICMP errors: the subset of node:dgram the bridges use, without Node's start-up cost.
//
// Theory of operation: each socket is a non-blocking datagram socket with
// IP_RECVERR (IPV6_RECVERR), so that an ICMP port unreachable for a datagram
// it sent comes back on its error queue: the socket then emits "refused" with
// the address it was sent to. One shared poller waits for every open socket
// with a single poll(2) on Deno's thread pool and drains whichever is ready
// with MSG_DONTWAIT reads on the main thread; an eventfd restarts the wait when
// the set of sockets changes. The API follows node:dgram where the two meet
// (createSocket, bind, send, on("message"), close) so callers read the same.

import { lastErrno, libc } from "../../../ffi/libc.ts";
import {
  close,
  EAGAIN,
  eventFd,
  pollReadable,
  SOCK,
  socket as openSocket,
} from "../../../ffi/sys.ts";
import { errnoName } from "../../../ffi/errno.ts";
import { readSockaddr, sockaddr } from "./sockaddr.ts";

const MSG_DONTWAIT = 0x40;
const MSG_ERRQUEUE = 0x2000;
const SOL_IP = 0;
const IP_RECVERR = 11;
const SOL_IPV6 = 41;
const IPV6_RECVERR = 25;
const IPV6_V6ONLY = 26;
const ECONNREFUSED = 111;

/** Where a datagram came from, as node:dgram reports it. */
export interface RemoteInfo {
  readonly address: string;
  readonly family: "IPv4" | "IPv6";
  readonly port: number;
  readonly size: number;
}

type Listener = (...args: never[]) => void;

/** The one poller behind every open socket. */
class Poller {
  readonly #sockets = new Map<number, UdpSocket>();
  #wake = -1;
  #running = false;

  add(s: UdpSocket): void {
    this.#sockets.set(s.fd, s);
    this.#kick();
  }

  remove(s: UdpSocket): void {
    this.#sockets.delete(s.fd);
    this.#kick();
  }

  #kick(): void {
    if (this.#wake === -1) this.#wake = eventFd();
    if (this.#running) {
      libc.write(this.#wake, new Uint8Array(new BigUint64Array([1n]).buffer), 8n);
    } else if (this.#sockets.size > 0) {
      this.#running = true;
      void this.#loop();
    }
  }

  async #loop(): Promise<void> {
    const drain = new Uint8Array(8);
    for (;;) {
      this.#closePending();
      if (this.#sockets.size === 0) break;
      const fds = [...this.#sockets.keys()];
      const revents = await pollReadable([...fds, this.#wake], -1);
      if (revents[fds.length]! !== 0) libc.read(this.#wake, drain, 8n);
      fds.forEach((fd, i) => {
        if (revents[i] !== 0) this.#sockets.get(fd)?.drain();
      });
    }
    this.#running = false;
  }

  readonly #pendingClose: { fd: number; done: () => void }[] = [];

  #closePending(): void {
    for (const { fd, done } of this.#pendingClose.splice(0)) {
      close(fd);
      done();
    }
  }

  /** Closes `fd` once no poll is using it, then calls `done`. */
  release(fd: number, done: () => void): void {
    this.#pendingClose.push({ fd, done });
    if (this.#running) this.#kick();
    else queueMicrotask(() => this.#closePending());
  }
}

const poller = new Poller();

/** A UDP socket: bind, send, "message", "refused" (an ICMP port unreachable), "error", "close". */
export class UdpSocket {
  /** The descriptor. */
  readonly fd: number;
  readonly #v6: boolean;
  readonly #listeners = new Map<string, Listener[]>();
  readonly #addr = new Uint8Array(28);
  readonly #buf = new Uint8Array(65536);
  #closed = false;
  #bound = false;

  constructor(type: "udp4" | "udp6") {
    this.#v6 = type === "udp6";
    this.fd = openSocket(
      this.#v6 ? SOCK.AF_INET6 : SOCK.AF_INET,
      SOCK.DGRAM | 0o4000, /* NONBLOCK */
    );
    const one = new Uint8Array(new Int32Array([1]).buffer);
    if (this.#v6) {
      libc.setsockopt(this.fd, SOL_IPV6, IPV6_RECVERR, one, 4);
      libc.setsockopt(this.fd, SOL_IPV6, IPV6_V6ONLY, new Uint8Array(4), 4);
    } else {
      libc.setsockopt(this.fd, SOL_IP, IP_RECVERR, one, 4);
    }
  }

  /** Adds a listener. */
  on(event: "message", fn: (data: Uint8Array, from: RemoteInfo) => void): this;
  on(event: "refused", fn: (address: string, port: number) => void): this;
  on(event: "error", fn: (e: Error) => void): this;
  on(event: "close", fn: () => void): this;
  on(event: string, fn: (...args: never[]) => void): this {
    const list = this.#listeners.get(event) ?? [];
    list.push(fn as Listener);
    this.#listeners.set(event, list);
    return this;
  }

  /** Adds an "error" listener called once. */
  once(_event: "error", fn: (e: Error) => void): this {
    const wrapped = (e: Error) => {
      this.off("error", wrapped);
      fn(e);
    };
    return this.on("error", wrapped);
  }

  /** Removes a listener. */
  off(event: string, fn: (...args: never[]) => void): this {
    const list = this.#listeners.get(event);
    if (list) this.#listeners.set(event, list.filter((f) => f !== fn));
    return this;
  }

  #emit(event: string, ...args: unknown[]): void {
    for (const fn of this.#listeners.get(event) ?? []) (fn as (...a: unknown[]) => void)(...args);
  }

  /** Binds to `address:port` (port 0: any); `callback` runs once bound. Errors go to "error". */
  bind(port: number, address?: string, callback?: () => void): void {
    const len = sockaddr(this.#addr, this.#v6, address ?? (this.#v6 ? "::" : "0.0.0.0"), port);
    if (libc.bind(this.fd, this.#addr, len) < 0) {
      const errno = lastErrno();
      const e = Object.assign(new Error(`bind ${address}:${port}: ${errnoName(errno)}`), {
        code: errnoName(errno),
      });
      queueMicrotask(() => this.#emit("error", e));
      return;
    }
    this.#bound = true;
    poller.add(this);
    if (callback) queueMicrotask(callback);
  }

  /** The bound address. */
  address(): { address: string; port: number; family: "IPv4" | "IPv6" } {
    const buf = new Uint8Array(28);
    const len = new Uint32Array([28]);
    libc.getsockname(this.fd, buf, new Uint8Array(len.buffer));
    return readSockaddr(buf);
  }

  /** Sends one datagram; `callback` gets null or an error with a `code`. */
  send(
    data: Uint8Array,
    port: number,
    address: string,
    callback?: (err: (Error & { code?: string }) | null) => void,
  ): void {
    if (this.#closed) {
      callback?.(
        Object.assign(new Error("Socket is closed"), { code: "ERR_SOCKET_DGRAM_NOT_RUNNING" }),
      );
      return;
    }
    if (!this.#bound) this.bind(0);
    const len = sockaddr(this.#addr, this.#v6, address, port);
    const n = Number(
      libc.sendto(
        this.fd,
        data as Uint8Array<ArrayBuffer>,
        BigInt(data.length),
        MSG_DONTWAIT,
        this.#addr,
        len,
      ),
    );
    const errno = n < 0 ? lastErrno() : 0;
    if (callback) {
      const err = n < 0
        ? Object.assign(new Error(`send: ${errnoName(errno)}`), { code: errnoName(errno) })
        : null;
      queueMicrotask(() => callback(err));
    }
  }

  /** Reads everything ready: datagrams, and ICMP errors from the error queue. */
  drain(): void {
    const from = new Uint8Array(28);
    const fromLen = new Uint32Array(1);
    while (!this.#closed) {
      fromLen[0] = 28;
      const n = Number(
        libc.recvfrom(
          this.fd,
          this.#buf,
          BigInt(this.#buf.length),
          MSG_DONTWAIT,
          from,
          new Uint8Array(fromLen.buffer),
        ),
      );
      if (n >= 0) {
        const f = readSockaddr(from);
        this.#emit("message", this.#buf.slice(0, n), { ...f, size: n });
        continue;
      }
      const errno = lastErrno();
      if (errno === EAGAIN) break;
      // An ICMP error: the datagram it concerns is on the error queue, with its destination.
      if (!this.#readErrorQueue()) {
        if (errno !== ECONNREFUSED) {
          this.#emit(
            "error",
            Object.assign(new Error(errnoName(errno)), { code: errnoName(errno) }),
          );
        }
        break;
      }
    }
  }

  /** Reads one entry of the error queue; emits "refused" for a port unreachable. False when empty. */
  #readErrorQueue(): boolean {
    const name = new Uint8Array(28);
    const iovBuf = new Uint8Array(64);
    const control = new Uint8Array(512);
    const iov = new BigUint64Array([ptr(iovBuf), BigInt(iovBuf.length)]);
    const msg = new Uint8Array(56);
    const mv = new DataView(msg.buffer);
    mv.setBigUint64(0, ptr(name), true);
    mv.setUint32(8, name.length, true);
    mv.setBigUint64(16, ptr(new Uint8Array(iov.buffer)), true);
    mv.setBigUint64(24, 1n, true);
    mv.setBigUint64(32, ptr(control), true);
    mv.setBigUint64(40, BigInt(control.length), true);
    const n = Number(libc.recvmsg(this.fd, msg, MSG_ERRQUEUE | MSG_DONTWAIT));
    if (n < 0) return false;
    // struct sock_extended_err follows the cmsghdr (16 bytes): ee_errno first.
    const cv = new DataView(control.buffer);
    const errno = cv.getUint32(16, true);
    if (errno === ECONNREFUSED) {
      const to = readSockaddr(name);
      this.#emit("refused", to.address, to.port);
    }
    return true;
  }

  /** Closes the socket; "close" listeners run once it is gone. */
  close(callback?: () => void): void {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#bound) poller.remove(this);
    poller.release(this.fd, () => {
      this.#emit("close");
      callback?.();
    });
  }
}

function ptr(b: Uint8Array): bigint {
  return BigInt(Deno.UnsafePointer.value(Deno.UnsafePointer.of(b as Uint8Array<ArrayBuffer>)));
}

/** Opens a UDP socket, as dgram.createSocket does. */
export function createSocket(type: "udp4" | "udp6"): UdpSocket {
  return new UdpSocket(type);
}
