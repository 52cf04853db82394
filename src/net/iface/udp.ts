// UDP as a transport protocol (RFC 768): gateway services by port, everything else to a host forwarder.
//
// Theory of operation: a datagram to the gateway (or broadcast) whose port has
// a bound service (DHCP on 67, DNS on 53) goes to that service. Every other
// datagram from the container, including those to other gateway ports, goes
// to the injectable {@link UdpForwarder} (the host bridge), which answers
// through the {@link UdpSink} it is given. Without a forwarder, or when the
// forwarder refuses a flow, the container gets an ICMP port unreachable
// (RFC 1122 section 4.1.3.1), so its socket sees ECONNREFUSED.

import { UDP_HEADER_LEN, UdpPacket } from "../wire/udp.ts";
import { IpProtocol } from "../wire/ipv4.ts";
import { IPV4_BROADCAST } from "../wire/ipv4_address.ts";
import { MalformedFrame } from "../wire/malformed.ts";
import { type NetworkConfig, subnetBroadcast } from "../config.ts";
import type { Ipv4Datagram, Ipv4Sender, TransportProtocol } from "./protocol.ts";
import type { Counters } from "./counters.ts";
import type { IcmpErrorSender } from "./ipv4.ts";
import { UnreachableCode } from "../wire/icmpv4.ts";

/** A UDP datagram with its addresses; `payload` from the stack is a view valid only during the call. */
export interface UdpDatagram {
  /** Source address. */
  readonly src: number;
  /** Source port. */
  readonly srcPort: number;
  /** Destination address. */
  readonly dst: number;
  /** Destination port. */
  readonly dstPort: number;
  /** The data. */
  readonly payload: Uint8Array;
}

/** The way back for a {@link UdpForwarder}. */
export interface UdpSink {
  /** Sends `datagram` to the container (src is the remote as the container knows it). */
  deliver(datagram: UdpDatagram): void;
  /**
   * Tells the container that the flow `datagram` (as the container sent it:
   * src is the container) was refused: an ICMP port unreachable.
   */
  refused(datagram: UdpDatagram): void;
}

/** Carries container datagrams to the outside world (the host UDP bridge). */
export interface UdpForwarder {
  /** Called once by the stack with the way back. */
  attach(sink: UdpSink): void;
  /** One datagram from the container; `payload` is valid only during the call. */
  forward(datagram: UdpDatagram, now: number): void;
  /** Runs idle timeouts. */
  poll(now: number): void;
  /** The next idle deadline, or undefined. */
  pollAt(): number | undefined;
}

/** A service bound to a gateway port; `payload` is valid only during the call. */
export type UdpService = (datagram: UdpDatagram, now: number) => void;

/** The UDP protocol (number 17). */
export class UdpProtocol implements TransportProtocol, UdpSink {
  private readonly services = new Map<number, UdpService>();
  private scratch = new Uint8Array(2048);
  private readonly broadcast: number;
  /** The IPv6 gateway's addresses as interned ids (set by the stack): its bound services answer too. */
  readonly gatewayIds6: Set<number> = new Set();

  /**
   * Creates the protocol; `forwarder` gets datagrams for the outside. `ip` and
   * `icmp` may route by address family (IPv6 addresses are interned ids).
   */
  constructor(
    private readonly config: NetworkConfig,
    private readonly ip: Ipv4Sender,
    private readonly icmp: Pick<IcmpErrorSender, "destinationUnreachable">,
    private readonly counters: Counters,
    private readonly forwarder?: UdpForwarder,
  ) {
    this.broadcast = subnetBroadcast(config);
    forwarder?.attach(this);
  }

  /** Binds `service` to gateway port `port` (also reached by broadcast). */
  bind(port: number, service: UdpService): void {
    this.services.set(port, service);
  }

  /** Handles one datagram from the container. */
  input(d: Ipv4Datagram, now: number): void {
    const p = UdpPacket.check(d.payload);
    if (!p.verifyChecksum(d.src, d.dst)) throw new MalformedFrame("udp-bad-checksum");
    const dstPort = p.dstPort;
    const srcPort = p.srcPort;
    if (dstPort === 0) throw new MalformedFrame("udp-port-zero");
    const datagram: UdpDatagram = {
      src: d.src,
      srcPort,
      dst: d.dst,
      dstPort,
      payload: p.payload,
    };
    const toBroadcast = d.dst === IPV4_BROADCAST || d.dst === this.broadcast;
    if (toBroadcast || d.dst === this.config.gatewayAddress || this.gatewayIds6.has(d.dst)) {
      const service = this.services.get(dstPort);
      if (service !== undefined) {
        this.counters.count("udp-service");
        service(datagram, now);
        return;
      }
      if (toBroadcast) {
        this.counters.drop("udp-broadcast-unbound");
        return;
      }
    }
    if (d.src === 0) throw new MalformedFrame("ipv4-bad-source");
    if (this.forwarder === undefined) {
      this.counters.drop("udp-no-forwarder");
      this.refused(datagram);
      return;
    }
    this.counters.count("udp-forwarded");
    this.forwarder.forward(datagram, now);
  }

  /** Runs the forwarder's idle timeouts. */
  poll(now: number): void {
    this.forwarder?.poll(now);
  }

  /** The forwarder's next deadline. */
  pollAt(): number | undefined {
    return this.forwarder?.pollAt();
  }

  /** UdpSink: sends `d` to the container (or broadcast), checksum filled in. */
  deliver(d: UdpDatagram): void {
    const len = UDP_HEADER_LEN + d.payload.length;
    if (len > 0xffff - 20) {
      this.counters.drop("udp-too-long");
      return;
    }
    if (this.scratch.length < len) {
      this.scratch = new Uint8Array(Math.max(len, this.scratch.length * 2));
    }
    const bytes = this.scratch.subarray(0, len);
    const p = new UdpPacket(bytes);
    p.srcPort = d.srcPort;
    p.dstPort = d.dstPort;
    p.length = len;
    bytes.set(d.payload, UDP_HEADER_LEN);
    p.fillChecksum(d.src, d.dst);
    this.counters.count("udp-delivered");
    this.ip.sendIpv4(d.src, d.dst, IpProtocol.UDP, bytes);
  }

  /** UdpSink: an ICMP port unreachable about the container's datagram `d`. */
  refused(d: UdpDatagram): void {
    const quoted = Math.min(d.payload.length, 56);
    const bytes = new Uint8Array(UDP_HEADER_LEN + quoted);
    const p = new UdpPacket(bytes);
    p.srcPort = d.srcPort;
    p.dstPort = d.dstPort;
    p.length = UDP_HEADER_LEN + d.payload.length;
    bytes.set(d.payload.subarray(0, quoted), UDP_HEADER_LEN);
    this.counters.count("udp-refused");
    this.icmp.destinationUnreachable(
      { src: d.src, dst: d.dst, protocol: IpProtocol.UDP, ttl: 64, payload: bytes },
      UnreachableCode.PORT,
    );
  }
}
