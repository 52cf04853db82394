// The IPv4 layer: input checks, reassembly, delivery to transport protocols, output with fragmentation.
//
// Theory of operation: the stack is the container's only router, so it takes
// every unicast datagram from the container's address to a routable
// destination, plus those to the gateway and to broadcast (for DHCP); it
// refuses the rest. Input verifies the header (RFC 791 section 3.1, RFC 1122
// section 3.2.1), reassembles fragments, and hands the datagram to the
// protocol registered for its number; an unknown protocol gets an ICMP
// protocol unreachable. Datagrams for other hosts are forwarded, so their
// TTL is checked as a router would (RFC 1812 section 5.3.1): one that would
// expire gets an ICMP time exceeded, which makes traceroute show the gateway.
// Output writes header and payload straight into the interface's transmit
// buffer and fragments datagrams larger than the MTU (RFC 791 section 2.3).

import { internetChecksum } from "../wire/checksum.ts";
import { IPV4_FLAG_DF, IPV4_FLAG_MF, IPV4_HEADER_LEN, Ipv4Packet } from "../wire/ipv4.ts";
import { ETH_HEADER_LEN } from "../wire/ethernet.ts";
import { IPV4_BROADCAST } from "../wire/ipv4_address.ts";
import { MalformedFrame } from "../wire/malformed.ts";
import { isRoutable, type NetworkConfig, subnetBroadcast } from "../config.ts";
import type { Ipv4Datagram, Ipv4Sender, TransportProtocol } from "./protocol.ts";
import type { Counters } from "./counters.ts";
import { Reassembler, type ReassemblyLimits } from "./reassembly.ts";
import type { Interface } from "./interface.ts";

/** The TTL of datagrams the stack originates (RFC 1700 default). */
export const DEFAULT_TTL = 64;

/** Sends ICMP errors about a received datagram; implemented by the ICMP protocol. */
export interface IcmpErrorSender {
  /** RFC 792 destination unreachable with `code` about `datagram`. */
  destinationUnreachable(datagram: Ipv4Datagram, code: number): void;
  /** RFC 792 time exceeded in transit (code 0) about `datagram`. */
  timeExceeded(datagram: Ipv4Datagram): void;
}

/** The IPv4 layer of the stack. */
export class Ipv4Layer implements Ipv4Sender {
  private readonly protocols = new Map<number, TransportProtocol>();
  private readonly reassembler: Reassembler;
  private readonly broadcast: number;
  private ident = 0;
  /** The latest time seen, for output that happens outside receive/poll. */
  now = 0;
  /** Set by the stack once ICMP exists. */
  icmp: IcmpErrorSender | null = null;

  /** Creates the layer on top of `iface`. */
  constructor(
    private readonly config: NetworkConfig,
    private readonly iface: Interface,
    private readonly counters: Counters,
    reassembly?: ReassemblyLimits,
  ) {
    this.reassembler = new Reassembler(counters, reassembly);
    this.broadcast = subnetBroadcast(config);
  }

  /** Attaches `protocol` for IP protocol number `n`, replacing any earlier one. */
  register(n: number, protocol: TransportProtocol): void {
    if (!Number.isInteger(n) || n < 0 || n > 255) {
      throw new RangeError(`Invalid IP protocol "${n}"`);
    }
    this.protocols.set(n, protocol);
  }

  /** Handles the Ethernet payload of an IPv4 frame; throws {@link MalformedFrame}. */
  input(bytes: Uint8Array, srcMac: Uint8Array, now: number): void {
    let p = Ipv4Packet.check(bytes);
    if (!p.verifyChecksum()) throw new MalformedFrame("ipv4-bad-checksum");
    const src = p.src;
    const dst = p.dst;
    const toBroadcast = dst === IPV4_BROADCAST || dst === this.broadcast;
    // RFC 1122 section 3.2.1.3: 0.0.0.0 is a valid source only while a host learns its address.
    if (src !== this.config.containerAddress && !(src === 0 && toBroadcast)) {
      throw new MalformedFrame("ipv4-bad-source");
    }
    if (src !== 0) this.iface.noteSender(src, srcMac);
    const forwarded = dst !== this.config.gatewayAddress && !toBroadcast;
    if (forwarded && !isRoutable(this.config, dst)) throw new MalformedFrame("ipv4-not-for-us");
    if (p.ttl === 0) throw new MalformedFrame("ipv4-ttl-expired");
    if (p.moreFragments || p.fragmentOffset !== 0) {
      this.counters.count("ipv4-fragments-received");
      const whole = this.reassembler.add(p, now);
      if (whole === undefined) return;
      this.counters.count("ipv4-reassembled");
      p = new Ipv4Packet(whole);
    }
    const datagram: Ipv4Datagram = {
      src,
      dst,
      protocol: p.protocol,
      ttl: p.ttl,
      payload: p.payload,
    };
    if (forwarded && p.ttl <= 1) {
      // RFC 1812 section 5.3.1: a router decrements TTL and never forwards a zero.
      this.counters.drop("ipv4-ttl-expired");
      this.icmp?.timeExceeded(datagram);
      return;
    }
    const protocol = this.protocols.get(p.protocol);
    if (protocol === undefined) {
      this.counters.drop("ipv4-unknown-protocol");
      if (!toBroadcast) this.icmp?.destinationUnreachable(datagram, 2);
      return;
    }
    this.counters.count("ipv4-delivered");
    protocol.input(datagram, now);
  }

  /**
   * Sends a datagram to the container (or broadcast): adds a header,
   * fragments to the MTU and resolves the next hop (Ipv4Sender).
   */
  sendIpv4(src: number, dst: number, protocol: number, payload: Uint8Array, gsoSize = 0): void {
    this.send(src, dst, protocol, payload, DEFAULT_TTL, gsoSize);
  }

  /** Like {@link sendIpv4} with an explicit TTL. */
  send(
    src: number,
    dst: number,
    protocol: number,
    payload: Uint8Array,
    ttl: number,
    gsoSize = 0,
  ): void {
    const mtu = this.config.mtu;
    const maxData = mtu - IPV4_HEADER_LEN;
    if (payload.length > 0xffff - IPV4_HEADER_LEN) {
      this.counters.drop("ipv4-too-long");
      return;
    }
    const ident = this.ident = (this.ident + 1) & 0xffff;
    const buf = this.iface.txBuffer;
    // A TSO segment goes whole with DF set; the link cuts it (virtio 1.2 5.1.6.2).
    const whole = gsoSize > 0 && ETH_HEADER_LEN + IPV4_HEADER_LEN + payload.length <= buf.length;
    if (payload.length <= maxData || whole) {
      this.writeHeader(src, dst, protocol, ttl, ident, payload.length, whole ? IPV4_FLAG_DF : 0);
      buf.set(payload, ETH_HEADER_LEN + IPV4_HEADER_LEN);
      this.iface.transmitIpv4(ETH_HEADER_LEN + IPV4_HEADER_LEN + payload.length, dst, this.now);
      this.counters.count("ipv4-sent");
      return;
    }
    // RFC 791 section 3.2 (fragmentation): every fragment but the last carries a multiple of 8 bytes.
    const chunk = maxData & ~7;
    for (let offset = 0; offset < payload.length; offset += chunk) {
      const len = Math.min(chunk, payload.length - offset);
      const more = offset + len < payload.length;
      this.writeHeader(
        src,
        dst,
        protocol,
        ttl,
        ident,
        len,
        (more ? IPV4_FLAG_MF : 0) | (offset >>> 3),
      );
      buf.set(payload.subarray(offset, offset + len), ETH_HEADER_LEN + IPV4_HEADER_LEN);
      this.iface.transmitIpv4(ETH_HEADER_LEN + IPV4_HEADER_LEN + len, dst, this.now);
      this.counters.count("ipv4-fragments-sent");
    }
    this.counters.count("ipv4-sent");
  }

  /** Runs reassembly timeouts and the protocols' timers. */
  poll(now: number): void {
    this.reassembler.poll(now);
    for (const p of this.protocols.values()) p.poll(now);
  }

  /** The earliest timer of reassembly and the protocols. */
  pollAt(): number | undefined {
    let at = this.reassembler.pollAt();
    for (const p of this.protocols.values()) {
      const t = p.pollAt();
      if (t !== undefined && (at === undefined || t < at)) at = t;
    }
    return at;
  }

  /** Drops partial datagrams. */
  clear(): void {
    this.reassembler.clear();
  }

  /** Partial datagrams and bytes held by reassembly (for tests and the debug dump). */
  reassemblyUsage(): { datagrams: number; bytes: number } {
    return { datagrams: this.reassembler.size, bytes: this.reassembler.buffered };
  }

  private writeHeader(
    src: number,
    dst: number,
    protocol: number,
    ttl: number,
    ident: number,
    dataLen: number,
    flagsFrag: number,
  ): void {
    const h = new Ipv4Packet(this.iface.txBuffer.subarray(ETH_HEADER_LEN));
    h.setVersionAndHeaderLen(IPV4_HEADER_LEN);
    h.tos = 0;
    h.totalLength = IPV4_HEADER_LEN + dataLen;
    h.ident = ident;
    h.flagsFrag = flagsFrag;
    h.ttl = ttl;
    h.protocol = protocol;
    h.src = src;
    h.dst = dst;
    h.checksum = 0;
    h.checksum = internetChecksum(
      this.iface.txBuffer,
      ETH_HEADER_LEN,
      ETH_HEADER_LEN + IPV4_HEADER_LEN,
    );
  }
}
