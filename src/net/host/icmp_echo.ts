// Echo to hosts other than the gateway: unprivileged ICMP datagram sockets where net.ipv4.ping_group_range allows.
//
// The kernel lets a user open socket(AF_INET, SOCK_DGRAM, IPPROTO_ICMP) when
// one of its groups lies in net.ipv4.ping_group_range. Each container echo
// request is sent through such a socket (the kernel picks the identifier), and
// the reply is matched back by sequence number. Where the sysctl forbids it,
// the container gets "communication administratively prohibited" and the host
// side says once which sysctl would enable it.

import { lastErrno, libc } from "../../../ffi/libc.ts";
import { close, pollReadable, SOCK, socket } from "../../../ffi/sys.ts";
import { putSockaddrIn } from "../../../ffi/structs.ts";
import { SyscallError } from "../../../ffi/errno.ts";
import type { IcmpEchoHook, IcmpEchoRequest, IcmpEchoSink } from "../iface/icmp.ts";

const IPPROTO_ICMP = 1;
const MSG_DONTWAIT = 0x40;
/** RFC 1812: communication administratively prohibited. */
const UNREACH_ADMIN_PROHIBITED = 13;
/** How long a request waits for its reply. */
const REPLY_TIMEOUT_MS = 10_000;

/** The sentence printed once when ping sockets are not allowed. */
export const PING_DISABLED_MESSAGE =
  'ping to hosts other than the gateway is unavailable: this user\'s groups are outside net.ipv4.ping_group_range; as root, sysctl -w net.ipv4.ping_group_range="0 2147483647" enables it';

/** Forwards echo requests through a host ICMP datagram socket. */
export class HostIcmpEcho implements IcmpEchoHook {
  #sink: IcmpEchoSink | null = null;
  #fd = -1;
  #disabled = false;
  #closed = false;
  readonly #pending = new Map<number, { request: IcmpEchoRequest; expires: number }>();
  readonly #warn: (message: string) => void;
  #seq = 0;

  /** `warn` receives the one-time explanation when the sysctl forbids ping sockets. */
  constructor(warn: (message: string) => void) {
    this.#warn = warn;
  }

  /** Called once by the stack. */
  attach(sink: IcmpEchoSink): void {
    this.#sink = sink;
  }

  /** Sends one echo request to the host network. */
  echo(request: IcmpEchoRequest, now: number): void {
    if (this.#closed || this.#sink === null) return;
    if (!this.#open()) {
      this.#sink.unreachable(request, UNREACH_ADMIN_PROHIBITED);
      return;
    }
    const seq = this.#seq = (this.#seq + 1) & 0xffff;
    const packet = new Uint8Array(8 + request.data.length);
    packet[0] = 8; // echo request; the kernel fills identifier and checksum
    packet[6] = seq >> 8;
    packet[7] = seq & 0xff;
    packet.set(request.data, 8);
    const addr = new Uint8Array(16);
    putSockaddrIn(addr, 0, request.dst);
    const n = Number(libc.sendto(this.#fd, packet, BigInt(packet.length), MSG_DONTWAIT, addr, 16));
    if (n < 0) {
      this.#sink.unreachable(request, 1 /* host unreachable */);
      return;
    }
    for (const [k, v] of this.#pending) if (v.expires < now) this.#pending.delete(k);
    this.#pending.set(seq, { request, expires: now + REPLY_TIMEOUT_MS });
  }

  #open(): boolean {
    if (this.#fd >= 0) return true;
    if (this.#disabled) return false;
    try {
      this.#fd = socket(SOCK.AF_INET, SOCK.DGRAM, IPPROTO_ICMP);
    } catch (e) {
      this.#disabled = true;
      if (e instanceof SyscallError && (e.code === "EACCES" || e.code === "EPERM")) {
        this.#warn(PING_DISABLED_MESSAGE);
      } else {
        this.#warn(`ping to hosts other than the gateway is unavailable: ${(e as Error).message}`);
      }
      return false;
    }
    void this.#receiveLoop(this.#fd);
    return true;
  }

  async #receiveLoop(fd: number): Promise<void> {
    const buf = new Uint8Array(65536);
    const from = new Uint8Array(16);
    const fromLen = new Uint32Array(1);
    while (!this.#closed) {
      await pollReadable([fd], 500);
      for (;;) {
        fromLen[0] = 16;
        const n = Number(
          libc.recvfrom(
            fd,
            buf,
            BigInt(buf.length),
            MSG_DONTWAIT,
            from,
            new Uint8Array(fromLen.buffer),
          ),
        );
        if (n < 0) {
          void lastErrno();
          break;
        }
        if (n < 8 || buf[0] !== 0) continue; // only echo replies
        const seq = (buf[6]! << 8) | buf[7]!;
        const entry = this.#pending.get(seq);
        if (!entry) continue;
        this.#pending.delete(seq);
        this.#sink?.reply(entry.request, buf.slice(8, n));
      }
    }
    close(fd);
  }

  /** Closes the socket; pending requests are forgotten. */
  close(): void {
    this.#closed = true;
    this.#pending.clear();
  }

  /** For the debug dump. */
  describe(): string {
    if (this.#disabled) return "ping sockets disabled by net.ipv4.ping_group_range";
    return this.#fd >= 0 ? `ping socket open, ${this.#pending.size} pending` : "unused";
  }
}
