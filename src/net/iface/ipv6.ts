// The IPv6 layer: input checks, delivery to ICMPv6 and the transports, output, and the neighbour cache (RFC 4861).
//
// Theory of operation: the stack is the container's IPv6 router on a link
// with one other host. It takes packets from the container's addresses
// (link-local, or in the link's prefix; the unspecified source only for
// ICMPv6, as DAD and MLD use it) addressed to the gateway's two addresses
// (the global one and the link-local one derived from its MAC), to the
// multicast groups a router listens on, or to a global unicast destination
// elsewhere (forwarded: the host bridges). Hop-by-hop and destination
// options headers are skipped (RFC 8200 section 4). Fragments (a container
// sending a UDP datagram larger than the link MTU fragments it at the source)
// are reassembled with the IPv4 layer's limits (reassembly.ts, RFC 8200 4.5);
// an atomic fragment (offset 0, no more) is taken as it is (RFC 6946). UDP to
// ff02::1:2 reaches the DHCPv6 server.
//
// TCP and UDP are the IPv4 layer's own protocol objects: addresses are
// handed to them as interned ids (wire/ipv6_address.ts), numbers above
// 2^32 whose checksum arithmetic matches the IPv6 pseudo-header, and their
// output comes back here through `sendIpv4`, which the stack routes by id.
//
// Output writes the header and payload into the interface's transmit
// buffer. Multicast goes to the RFC 2464 group MAC; unicast to the cache
// entry learned from neighbour solicitations, advertisements, router
// solicitations or any packet from that address, or waits in a small queue
// while neighbour solicitations are sent every second, three times
// (RFC 4861 section 7.2.2). Nothing larger than the MTU is sent: the
// stack never fragments (RFC 8200 section 5 leaves that to the source).

import { ETH_HEADER_LEN, EtherType, isGroupMac, macEquals } from "../wire/ethernet.ts";
import { IPV6_HEADER_LEN, Ipv6NextHeader, Ipv6Packet, skipExtensionHeaders } from "../wire/ipv6.ts";
import {
  IPV6_ALL_NODES,
  IPV6_ALL_ROUTERS,
  ipv6Equals,
  ipv6FromId,
  ipv6Id,
  ipv6InPrefix,
  isIpv6GlobalUnicast,
  isIpv6LinkLocal,
  isIpv6Multicast,
  isIpv6Unspecified,
  linkLocalFromMac,
  multicastMac,
  parseIpv6,
  solicitedNodeAddress,
} from "../wire/ipv6_address.ts";
import { MalformedFrame } from "../wire/malformed.ts";
import { foldChecksum, ipv6PseudoSum, sumWords } from "../wire/checksum.ts";
import type { NetworkConfig } from "../config.ts";
import type { Counters } from "./counters.ts";
import { DEFAULT_REASSEMBLY_LIMITS, Reassembler } from "./reassembly.ts";
import type { Interface } from "./interface.ts";
import type { Ipv4Datagram, Ipv4Sender, TransportProtocol } from "./protocol.ts";

/** All_DHCP_Relay_Agents_and_Servers, ff02::1:2 (RFC 8415 section 7.1). */
export const ALL_DHCP_SERVERS: Uint8Array = parseIpv6("ff02::1:2");

/** The hop limit of packets the stack originates (RFC 8200 section 3 leaves it to the node). */
export const DEFAULT_HOP_LIMIT = 64;
/** Neighbour solicitation retransmission interval (RFC 4861 section 10, RetransTimer). */
export const NS_RETRY_MS = 1000;
/** Solicitations sent before queued packets are dropped (MAX_MULTICAST_SOLICIT). */
export const NS_MAX_REQUESTS = 3;
/** Packets queued per unresolved neighbour. */
export const NS_QUEUE_FRAMES = 64;
/** Entries kept in the neighbour cache; the oldest is forgotten first. */
export const NEIGHBOUR_CACHE_SIZE = 16;

/** The ICMPv6 side the layer needs: input and the errors it reports. */
export interface Icmpv6Handler {
  /** One ICMPv6 message; `payload` is valid only during the call. */
  input(packet: Ipv6Input, payload: Uint8Array, now: number): void;
  /** RFC 4443 section 3.3: hop limit exceeded in transit, about the packet. */
  timeExceeded(packet: Ipv6Input): void;
  /** RFC 4443 section 3.4: parameter problem with `code` and `pointer`. */
  parameterProblem(packet: Ipv6Input, code: number, pointer: number): void;
  /** Called once the container has been heard from over IPv6 (starts periodic RAs). */
  heard(now: number): void;
}

/** A received IPv6 packet as the layer hands it on; views valid only during the call. */
export interface Ipv6Input {
  /** Source address. */
  readonly src: Uint8Array;
  /** Destination address. */
  readonly dst: Uint8Array;
  /** Hop limit as received. */
  readonly hopLimit: number;
  /** The whole packet (header and payload), for error quotes. */
  readonly packet: Uint8Array;
}

interface Pending {
  frames: Uint8Array[];
  requests: number;
  nextRequest: number;
}

function key(a: Uint8Array): string {
  let s = "";
  for (let i = 0; i < 16; i++) s += String.fromCharCode(a[i]!);
  return s;
}

/** The fragment header's length (RFC 8200 4.5). */
const FRAGMENT_HEADER_LEN = 8;

/** The IPv6 layer of the stack. */
export class Ipv6Layer implements Ipv4Sender {
  /** The gateway's global address, e.g. fd00:15::1. */
  readonly gateway: Uint8Array;
  /** The gateway's link-local address, derived from its MAC (RFC 4291 appendix A). */
  readonly gatewayLinkLocal: Uint8Array;
  /** The gateway's global address as an interned id. */
  readonly gatewayId: number;
  /** The gateway's link-local address as an interned id (the source of DHCPv6 replies). */
  readonly gatewayLinkLocalId: number;
  /** ff02::1:2 as an interned id: DHCPv6 requests arrive there. */
  readonly allDhcpServersId: number;
  /** The latest time seen, for output that happens outside receive/poll. */
  now = 0;
  /** Set by the stack once ICMPv6 exists. */
  icmp: Icmpv6Handler | null = null;
  private readonly protocols = new Map<number, TransportProtocol>();
  private readonly cache = new Map<string, Uint8Array>();
  private readonly pending = new Map<string, Pending>();
  private readonly prefix: Uint8Array;
  private readonly reassembler: Reassembler;
  /** The identification of the last datagram sent as fragments. */
  private nextFragmentId = 0;
  private heard = false;

  /** Creates the layer on top of `iface`. */
  constructor(
    private readonly config: NetworkConfig,
    private readonly iface: Interface,
    private readonly counters: Counters,
  ) {
    this.gateway = config.gatewayAddress6;
    this.gatewayLinkLocal = linkLocalFromMac(config.gatewayMac);
    this.gatewayId = ipv6Id(this.gateway)!;
    this.gatewayLinkLocalId = ipv6Id(this.gatewayLinkLocal)!;
    this.allDhcpServersId = ipv6Id(ALL_DHCP_SERVERS)!;
    this.prefix = config.containerAddress6;
    this.reassembler = new Reassembler(counters, DEFAULT_REASSEMBLY_LIMITS, "ipv6");
  }

  /** Attaches `protocol` (TCP 6, UDP 17) for next header `n`. */
  register(n: number, protocol: TransportProtocol): void {
    this.protocols.set(n, protocol);
  }

  /** True when `a` is one of the gateway's unicast addresses. */
  isGateway(a: Uint8Array): boolean {
    return ipv6Equals(a, this.gateway) || ipv6Equals(a, this.gatewayLinkLocal);
  }

  /** True when `a` may be a source address of the container (link-local or in the prefix). */
  isContainerAddress(a: Uint8Array): boolean {
    if (this.isGateway(a)) return false;
    return isIpv6LinkLocal(a) ||
      ipv6InPrefix(a, this.prefix, this.config.prefixLength6) && !isIpv6Multicast(a);
  }

  /** Handles the Ethernet payload of an IPv6 frame; throws {@link MalformedFrame}. */
  input(bytes: Uint8Array, srcMac: Uint8Array, now: number): void {
    const p = Ipv6Packet.check(bytes);
    const src = p.src;
    const dst = p.dst;
    const unspecified = isIpv6Unspecified(src);
    if (!unspecified && !this.isContainerAddress(src)) throw new MalformedFrame("ipv6-bad-source");
    if (!unspecified) this.learn(src, srcMac);
    if (!this.heard) {
      this.heard = true;
      this.icmp?.heard(now);
    }
    let forwarded = false;
    if (isIpv6Multicast(dst)) {
      if (!this.listensTo(dst)) {
        this.counters.drop("ipv6-multicast-ignored");
        return;
      }
    } else if (!this.isGateway(dst)) {
      if (!isIpv6GlobalUnicast(dst) || ipv6InPrefix(dst, this.prefix, this.config.prefixLength6)) {
        throw new MalformedFrame("ipv6-not-for-us");
      }
      forwarded = true;
    }
    let upper = skipExtensionHeaders(p.nextHeader, p.payload);
    let payload = p.payload.subarray(upper.offset);
    const fragmented = upper.protocol === Ipv6NextHeader.FRAGMENT;
    if (fragmented) {
      const whole = this.reassemble(src, dst, payload, now);
      if (whole === undefined) return;
      upper = skipExtensionHeaders(whole.nextHeader, whole.fragmentable);
      payload = whole.fragmentable.subarray(upper.offset);
    }
    const info: Ipv6Input = { src, dst, hopLimit: p.hopLimit, packet: p.bytes };
    if (upper.protocol === Ipv6NextHeader.ICMPV6) {
      this.counters.count("ipv6-delivered");
      this.icmp?.input(info, payload, now);
      return;
    }
    // RFC 8415 section 7.1: DHCPv6 clients multicast to All_DHCP_Relay_Agents_and_Servers.
    const toDhcp = upper.protocol === Ipv6NextHeader.UDP && ipv6Equals(dst, ALL_DHCP_SERVERS);
    if (unspecified || (isIpv6Multicast(dst) && !toDhcp)) {
      this.counters.drop("ipv6-bad-address");
      return;
    }
    if (forwarded && p.hopLimit <= 1) {
      // RFC 8200 section 3: a router decrements the hop limit and discards at zero.
      this.counters.drop("ipv6-hop-limit-exceeded");
      this.icmp?.timeExceeded(info);
      return;
    }
    const protocol = this.protocols.get(upper.protocol);
    if (protocol === undefined) {
      this.counters.drop(
        upper.protocol === Ipv6NextHeader.FRAGMENT ? "ipv6-fragment" : "ipv6-unknown-protocol",
      );
      // RFC 4443 section 3.4 code 1: unrecognized next header, pointing at the field.
      if (upper.offset === 0 && !fragmented) this.icmp?.parameterProblem(info, 1, 6);
      return;
    }
    if (upper.protocol === Ipv6NextHeader.UDP && payload.length >= 8) {
      // RFC 8200 section 8.1: a zero UDP checksum is invalid over IPv6.
      if (payload[6] === 0 && payload[7] === 0) throw new MalformedFrame("udp-zero-checksum");
    }
    const srcId = ipv6Id(src);
    const dstId = ipv6Id(dst);
    if (srcId === undefined || dstId === undefined) {
      this.counters.drop("ipv6-address-table-full");
      return;
    }
    const datagram: Ipv4Datagram = {
      src: srcId,
      dst: dstId,
      protocol: upper.protocol,
      ttl: p.hopLimit,
      payload,
    };
    this.counters.count("ipv6-delivered");
    protocol.input(datagram, now);
  }

  /**
   * Ipv4Sender for the transports: sends from id `src` to id `dst`. A TCP
   * segment larger than the MTU (one built for segmentation offload, which
   * the link does for IPv4 only) is cut here into MTU-sized segments.
   */
  sendIpv4(src: number, dst: number, protocol: number, payload: Uint8Array, _gso?: number): void {
    const s = ipv6FromId(src);
    const d = ipv6FromId(dst);
    if (s === undefined || d === undefined) {
      this.counters.drop("ipv6-unknown-id");
      return;
    }
    if (protocol === Ipv6NextHeader.TCP && IPV6_HEADER_LEN + payload.length > this.config.mtu) {
      this.segment(s, d, payload);
      return;
    }
    this.send(s, d, protocol, payload, DEFAULT_HOP_LIMIT);
  }

  /** Software segmentation: copies of the header with advancing sequence numbers, FIN and PSH last. */
  private segment(src: Uint8Array, dst: Uint8Array, tcp: Uint8Array): void {
    const hlen = (tcp[12]! >> 4) * 4;
    const mss = this.config.mtu - IPV6_HEADER_LEN - hlen;
    if (hlen < 20 || hlen > tcp.length || mss <= 0) {
      this.counters.drop("ipv6-too-big");
      return;
    }
    const seq0 = ((tcp[4]! << 24) | (tcp[5]! << 16) | (tcp[6]! << 8) | tcp[7]!) >>> 0;
    const data = tcp.subarray(hlen);
    const seg = new Uint8Array(hlen + Math.min(mss, data.length));
    for (let off = 0; off < data.length; off += mss) {
      const n = Math.min(mss, data.length - off);
      const piece = seg.subarray(0, hlen + n);
      piece.set(tcp.subarray(0, hlen));
      const seq = (seq0 + off) >>> 0;
      piece[4] = seq >>> 24;
      piece[5] = seq >>> 16;
      piece[6] = seq >>> 8;
      piece[7] = seq;
      if (off + n < data.length) piece[13]! &= ~0x09; // FIN and PSH only on the last piece
      piece.set(data.subarray(off, off + n), hlen);
      this.counters.count("ipv6-tcp-segmented");
      this.send(src, dst, Ipv6NextHeader.TCP, piece, DEFAULT_HOP_LIMIT);
    }
  }

  /** Sends `payload` (complete, checksummed) from `src` to `dst` with next header `nh`. */
  send(src: Uint8Array, dst: Uint8Array, nh: number, payload: Uint8Array, hopLimit: number): void {
    const length = ETH_HEADER_LEN + IPV6_HEADER_LEN + payload.length;
    if (
      payload.length > 0xffff ||
      (nh === Ipv6NextHeader.TCP && IPV6_HEADER_LEN + payload.length > this.config.mtu)
    ) {
      this.counters.drop("ipv6-too-big");
      return;
    }
    if (IPV6_HEADER_LEN + payload.length > this.config.mtu) {
      this.fragment(src, dst, nh, payload, hopLimit);
      return;
    }
    const buf = this.iface.txBuffer;
    const h = new Ipv6Packet(buf.subarray(ETH_HEADER_LEN));
    h.setVersionClassFlow(0, 0);
    h.payloadLength = payload.length;
    h.nextHeader = nh;
    h.hopLimit = hopLimit;
    h.src = src;
    h.dst = dst;
    const start = ETH_HEADER_LEN + IPV6_HEADER_LEN;
    buf.set(payload, start);
    if (nh === Ipv6NextHeader.TCP && payload.length >= 20) {
      // The TCP layer may have written only the pseudo-header sum for a link that offloads
      // checksums, and the link offloads IPv4 frames only: IPv6 segments leave complete.
      buf[start + 16] = 0;
      buf[start + 17] = 0;
      const c = foldChecksum(
        sumWords(buf, start, length, ipv6PseudoSum(src, dst, nh, payload.length)),
      );
      buf[start + 16] = c >> 8;
      buf[start + 17] = c;
    }
    this.counters.count("ipv6-sent");
    this.transmit(dst, buf.subarray(0, length));
  }

  /**
   * Sends a datagram larger than the MTU as fragments (RFC 8200 4.5), as its source: a UDP
   * datagram from a host socket, say, that the container's MTU cannot carry whole.
   */
  private fragment(
    src: Uint8Array,
    dst: Uint8Array,
    nh: number,
    payload: Uint8Array,
    hopLimit: number,
  ): void {
    const room = (this.config.mtu - IPV6_HEADER_LEN - FRAGMENT_HEADER_LEN) & ~7;
    if (room <= 0) {
      this.counters.drop("ipv6-too-big");
      return;
    }
    const ident = this.nextFragmentId = (this.nextFragmentId + 1) >>> 0;
    const buf = this.iface.txBuffer;
    const start = ETH_HEADER_LEN + IPV6_HEADER_LEN;
    for (let off = 0; off < payload.length; off += room) {
      const n = Math.min(room, payload.length - off);
      const more = off + n < payload.length;
      const h = new Ipv6Packet(buf.subarray(ETH_HEADER_LEN));
      h.setVersionClassFlow(0, 0);
      h.payloadLength = FRAGMENT_HEADER_LEN + n;
      h.nextHeader = Ipv6NextHeader.FRAGMENT;
      h.hopLimit = hopLimit;
      h.src = src;
      h.dst = dst;
      buf[start] = nh;
      buf[start + 1] = 0;
      buf[start + 2] = off >> 8;
      buf[start + 3] = (off & 0xf8) | (more ? 1 : 0);
      buf[start + 4] = ident >>> 24;
      buf[start + 5] = ident >>> 16;
      buf[start + 6] = ident >>> 8;
      buf[start + 7] = ident;
      buf.set(payload.subarray(off, off + n), start + FRAGMENT_HEADER_LEN);
      this.counters.count("ipv6-fragment-sent");
      this.transmit(dst, buf.subarray(0, start + FRAGMENT_HEADER_LEN + n));
    }
  }

  /** Hands a built frame to the link: to its multicast MAC, its cached MAC, or the queue. */
  private transmit(dst: Uint8Array, frame: Uint8Array): void {
    if (isIpv6Multicast(dst)) {
      this.iface.transmitEthernet(frame, multicastMac(dst), EtherType.IPV6);
      return;
    }
    const mac = this.cache.get(key(dst));
    if (mac !== undefined) {
      this.iface.transmitEthernet(frame, mac, EtherType.IPV6);
      return;
    }
    if (!this.isContainerAddress(dst)) {
      this.counters.drop("ipv6-no-route");
      return;
    }
    this.enqueue(dst, frame, this.now);
  }

  /** The MAC cached for `a`, if any. */
  neighbour(a: Uint8Array): Uint8Array | undefined {
    return this.cache.get(key(a));
  }

  /**
   * Records that `a` is at `mac` (from a packet's source, or an NDP
   * link-layer option) and sends what waited for it.
   */
  learn(a: Uint8Array, mac: Uint8Array): void {
    if (isGroupMac(mac) || isIpv6Multicast(a) || isIpv6Unspecified(a)) return;
    const k = key(a);
    const old = this.cache.get(k);
    if (old !== undefined && macEquals(old, mac)) return;
    this.cache.delete(k);
    if (this.cache.size >= NEIGHBOUR_CACHE_SIZE) {
      const first = this.cache.keys().next().value;
      if (first !== undefined) this.cache.delete(first);
    }
    const copy = mac.slice(0, 6);
    this.cache.set(k, copy);
    this.counters.count("ndp-learned");
    const p = this.pending.get(k);
    if (p === undefined) return;
    this.pending.delete(k);
    for (const frame of p.frames) this.iface.transmitEthernet(frame, copy, EtherType.IPV6);
  }

  /**
   * One fragment (RFC 8200 4.5): `payload` starts at its fragment header. Returns the whole
   * datagram's fragmentable part and its first header's type once all fragments are in.
   */
  private reassemble(
    src: Uint8Array,
    dst: Uint8Array,
    payload: Uint8Array,
    now: number,
  ): { nextHeader: number; fragmentable: Uint8Array } | undefined {
    if (payload.length < FRAGMENT_HEADER_LEN) throw new MalformedFrame("ipv6-truncated-extension");
    const nextHeader = payload[0]!;
    const word = (payload[2]! << 8) | payload[3]!;
    const offset = word & 0xfff8; // 13 bits of 8-octet units: the byte offset
    const more = (word & 1) === 1;
    const fragmentable = payload.subarray(FRAGMENT_HEADER_LEN);
    if (offset === 0 && !more) {
      this.counters.count("ipv6-atomic-fragment");
      return { nextHeader, fragmentable };
    }
    const ident = ((payload[4]! << 24) | (payload[5]! << 16) | (payload[6]! << 8) | payload[7]!) >>>
      0;
    const k = `${key(src)}${key(dst)}${ident}`;
    const whole = this.reassembler.addIpv6(k, offset, more, nextHeader, fragmentable, now);
    if (whole !== undefined) this.counters.count("ipv6-reassembled");
    return whole;
  }

  /** Retries neighbour solicitations and drops queues that waited too long. */
  poll(now: number): void {
    this.reassembler.poll(now);
    for (const [k, p] of this.pending) {
      if (p.nextRequest > now) continue;
      if (p.requests >= NS_MAX_REQUESTS) {
        for (let i = 0; i < p.frames.length; i++) this.counters.drop("ndp-unresolved");
        this.pending.delete(k);
        continue;
      }
      this.solicit(k, p, now);
    }
  }

  /** When {@link poll} next has work, or undefined. */
  pollAt(): number | undefined {
    let at: number | undefined = this.reassembler.pollAt();
    for (const p of this.pending.values()) {
      if (at === undefined || p.nextRequest < at) at = p.nextRequest;
    }
    return at;
  }

  /** Forgets neighbours, partial datagrams and queued packets. */
  clear(): void {
    this.reassembler.clear();
    this.cache.clear();
    this.pending.clear();
  }

  private listensTo(dst: Uint8Array): boolean {
    // RFC 4291 section 2.8: a router listens to all-nodes, all-routers and its solicited-node groups.
    if (ipv6Equals(dst, IPV6_ALL_NODES) || ipv6Equals(dst, IPV6_ALL_ROUTERS)) return true;
    if (ipv6Equals(dst, ALL_DHCP_SERVERS)) return true;
    return ipv6Equals(dst, solicitedNodeAddress(this.gateway)) ||
      ipv6Equals(dst, solicitedNodeAddress(this.gatewayLinkLocal));
  }

  private enqueue(dst: Uint8Array, frame: Uint8Array, now: number): void {
    const k = key(dst);
    let p = this.pending.get(k);
    if (p === undefined) {
      if (this.pending.size >= NEIGHBOUR_CACHE_SIZE) {
        this.counters.drop("ndp-queue-full");
        return;
      }
      p = { frames: [], requests: 0, nextRequest: now };
      this.pending.set(k, p);
    }
    if (p.frames.length >= NS_QUEUE_FRAMES) {
      this.counters.drop("ndp-queue-full");
      return;
    }
    p.frames.push(frame.slice());
    if (p.requests === 0) this.solicit(k, p, now);
  }

  private solicit(k: string, p: Pending, now: number): void {
    p.requests++;
    p.nextRequest = now + NS_RETRY_MS;
    const target = new Uint8Array(16);
    for (let i = 0; i < 16; i++) target[i] = k.charCodeAt(i);
    this.counters.count("ndp-solicits-sent");
    this.icmpSolicit?.(target);
  }

  /** Set by ICMPv6: sends a neighbour solicitation for `target` (RFC 4861 section 7.2.2). */
  icmpSolicit: ((target: Uint8Array) => void) | null = null;
}
