// ICMPv4 as a transport protocol (RFC 792): echo for the gateway, a hook for other echoes, error generation.
//
// Theory of operation: echo requests to the gateway address are answered
// here (RFC 1122 section 3.2.2.6). Echo requests to any other destination go
// to an injectable {@link IcmpEchoHook} (host ICMP sockets, written
// elsewhere), which answers through the {@link IcmpEchoSink} it is given;
// without a hook they get "communication administratively prohibited"
// (RFC 1812 section 5.2.7.1) so that ping fails at once instead of hanging.
// Errors are never sent about ICMP errors, broadcasts, non-initial fragments
// or unspecified sources (RFC 1122 section 3.2.2), and at most
// `ERRORS_PER_SECOND` per second are sent (RFC 1812 section 4.3.2.8).
// ICMP errors and replies from the container are counted and ignored.

import { IpProtocol, IPV4_HEADER_LEN, Ipv4Packet } from "../wire/ipv4.ts";
import { ICMP_HEADER_LEN, IcmpType, Icmpv4Packet, UnreachableCode } from "../wire/icmpv4.ts";
import { IPV4_BROADCAST, isMulticast } from "../wire/ipv4_address.ts";
import { MalformedFrame } from "../wire/malformed.ts";
import { type NetworkConfig, subnetBroadcast } from "../config.ts";
import type { Ipv4Datagram, TransportProtocol } from "./protocol.ts";
import type { Counters } from "./counters.ts";
import type { IcmpErrorSender, Ipv4Layer } from "./ipv4.ts";

/** The most ICMP errors sent in one second. */
export const ERRORS_PER_SECOND = 100;
/** Bytes of the offending datagram's data quoted in an error (RFC 792 asks for 8; Linux quotes more). */
export const ERROR_QUOTE_LEN = 64;

/** An echo request from the container to a destination other than the gateway. */
export interface IcmpEchoRequest {
  /** The container's address. */
  readonly src: number;
  /** The destination it pinged. */
  readonly dst: number;
  /** Echo identifier. */
  readonly ident: number;
  /** Echo sequence number. */
  readonly seq: number;
  /** Echo data (a copy the hook may keep). */
  readonly data: Uint8Array;
  /** TTL as received. */
  readonly ttl: number;
}

/** The way back for an {@link IcmpEchoHook}. */
export interface IcmpEchoSink {
  /** Sends an echo reply from `request.dst` to the container, with `data` (defaults to the request's). */
  reply(request: IcmpEchoRequest, data?: Uint8Array): void;
  /** Tells the container that `request` cannot be delivered (an RFC 792 unreachable code). */
  unreachable(request: IcmpEchoRequest, code: number): void;
}

/** Handles echo requests to destinations other than the gateway (e.g. with host ICMP sockets). */
export interface IcmpEchoHook {
  /** Called once by the stack with the way back. */
  attach(sink: IcmpEchoSink): void;
  /** One echo request; answer later through the sink, or never. */
  echo(request: IcmpEchoRequest, now: number): void;
}

/** The ICMP protocol (number 1). */
export class IcmpProtocol implements TransportProtocol, IcmpErrorSender, IcmpEchoSink {
  private scratch = new Uint8Array(1500);
  private windowStart = -Infinity;
  private errorsInWindow = 0;
  private readonly broadcast: number;

  /** Creates the protocol; `hook` handles echoes to other hosts. */
  constructor(
    private readonly config: NetworkConfig,
    private readonly ip: Ipv4Layer,
    private readonly counters: Counters,
    private readonly hook?: IcmpEchoHook,
  ) {
    this.broadcast = subnetBroadcast(config);
    hook?.attach(this);
  }

  /** Handles one ICMP message from the container. */
  input(d: Ipv4Datagram, now: number): void {
    const p = Icmpv4Packet.check(d.payload);
    if (!p.verifyChecksum()) throw new MalformedFrame("icmp-bad-checksum");
    if (p.type !== IcmpType.ECHO_REQUEST) {
      this.counters.drop(p.type === IcmpType.ECHO_REPLY ? "icmp-unexpected-reply" : "icmp-ignored");
      return;
    }
    if (d.dst === IPV4_BROADCAST || d.dst === this.broadcast) {
      // RFC 1122 section 3.2.2.6: answering broadcast echoes is optional; we do not.
      this.counters.drop("icmp-broadcast-echo");
      return;
    }
    if (d.dst === this.config.gatewayAddress) {
      this.counters.count("icmp-echo-answered");
      this.sendEcho(IcmpType.ECHO_REPLY, d.dst, d.src, p.ident, p.seq, p.data);
      return;
    }
    const request: IcmpEchoRequest = {
      src: d.src,
      dst: d.dst,
      ident: p.ident,
      seq: p.seq,
      data: p.data.slice(),
      ttl: d.ttl,
    };
    if (this.hook === undefined) {
      this.counters.drop("icmp-echo-no-handler");
      this.unreachable(request, UnreachableCode.ADMIN_PROHIBITED);
      return;
    }
    this.counters.count("icmp-echo-forwarded");
    this.hook.echo(request, now);
  }

  /** No timers. */
  poll(_now: number): void {}

  /** No timers. */
  pollAt(): number | undefined {
    return undefined;
  }

  /** IcmpEchoSink: sends an echo reply from the pinged host to the container. */
  reply(request: IcmpEchoRequest, data: Uint8Array = request.data): void {
    this.sendEcho(IcmpType.ECHO_REPLY, request.dst, request.src, request.ident, request.seq, data);
  }

  /** IcmpEchoSink: sends an unreachable about the echo request. */
  unreachable(request: IcmpEchoRequest, code: number): void {
    const echo = new Uint8Array(ICMP_HEADER_LEN + Math.min(request.data.length, ERROR_QUOTE_LEN));
    const p = new Icmpv4Packet(echo);
    p.type = IcmpType.ECHO_REQUEST;
    p.ident = request.ident;
    p.seq = request.seq;
    echo.set(request.data.subarray(0, echo.length - ICMP_HEADER_LEN), ICMP_HEADER_LEN);
    p.fillChecksum();
    this.destinationUnreachable(
      {
        src: request.src,
        dst: request.dst,
        protocol: IpProtocol.ICMP,
        ttl: request.ttl,
        payload: echo,
      },
      code,
    );
  }

  /** RFC 792 destination unreachable about `d`, from the address it was sent to. */
  destinationUnreachable(d: Ipv4Datagram, code: number): void {
    this.sendError(IcmpType.DEST_UNREACHABLE, code, d);
  }

  /** RFC 792 time exceeded in transit, from the gateway (the hop where it expired). */
  timeExceeded(d: Ipv4Datagram): void {
    this.sendError(IcmpType.TIME_EXCEEDED, 0, d);
  }

  private sendEcho(
    type: number,
    src: number,
    dst: number,
    ident: number,
    seq: number,
    data: Uint8Array,
  ): void {
    const len = ICMP_HEADER_LEN + data.length;
    const msg = this.buffer(len);
    const p = new Icmpv4Packet(msg);
    p.type = type;
    p.code = 0;
    p.ident = ident;
    p.seq = seq;
    msg.set(data, ICMP_HEADER_LEN);
    p.fillChecksum();
    this.ip.sendIpv4(src, dst, IpProtocol.ICMP, msg);
  }

  private sendError(type: number, code: number, d: Ipv4Datagram): void {
    // RFC 1122 section 3.2.2: never about an ICMP error, a broadcast or an unspecified source.
    if (d.protocol === IpProtocol.ICMP) {
      const t = d.payload[0];
      if (t !== IcmpType.ECHO_REQUEST) return;
    }
    if (d.dst === IPV4_BROADCAST || d.dst === this.broadcast || isMulticast(d.dst)) return;
    if (d.src === 0 || d.src === IPV4_BROADCAST || isMulticast(d.src)) return;
    const now = this.ip.now;
    if (now - this.windowStart >= 1000) {
      this.windowStart = now;
      this.errorsInWindow = 0;
    }
    if (++this.errorsInWindow > ERRORS_PER_SECOND) {
      this.counters.drop("icmp-error-rate-limited");
      return;
    }
    const quoted = Math.min(d.payload.length, ERROR_QUOTE_LEN);
    const len = ICMP_HEADER_LEN + IPV4_HEADER_LEN + quoted;
    const msg = this.buffer(len);
    const p = new Icmpv4Packet(msg);
    p.type = type;
    p.code = code;
    p.restOfHeader = 0;
    // The quoted header is rebuilt from the datagram's fields: the receiver matches on addresses,
    // protocol and the transport ports that follow it.
    const h = new Ipv4Packet(msg.subarray(ICMP_HEADER_LEN));
    h.setVersionAndHeaderLen(IPV4_HEADER_LEN);
    h.tos = 0;
    h.totalLength = IPV4_HEADER_LEN + d.payload.length;
    h.ident = 0;
    h.flagsFrag = 0;
    h.ttl = d.ttl;
    h.protocol = d.protocol;
    h.src = d.src;
    h.dst = d.dst;
    h.fillChecksum();
    msg.set(d.payload.subarray(0, quoted), ICMP_HEADER_LEN + IPV4_HEADER_LEN);
    p.fillChecksum();
    // Port and protocol unreachables come from the destination host; the rest from the router.
    const fromHost = type === IcmpType.DEST_UNREACHABLE &&
      (code === UnreachableCode.PORT || code === UnreachableCode.PROTOCOL);
    const from = fromHost ? d.dst : this.config.gatewayAddress;
    this.counters.count("icmp-errors-sent");
    this.ip.sendIpv4(from, d.src, IpProtocol.ICMP, msg);
  }

  private buffer(len: number): Uint8Array {
    if (this.scratch.length < len) {
      this.scratch = new Uint8Array(Math.max(len, this.scratch.length * 2));
    }
    return this.scratch.subarray(0, len);
  }
}
