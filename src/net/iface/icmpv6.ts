// ICMPv6 for the gateway (RFC 4443): echo, neighbour discovery and router advertisements (RFC 4861), errors.
//
// Theory of operation: the gateway answers echo requests to its addresses
// (RFC 4443 section 4.2) and refuses echoes to anywhere else with
// "administratively prohibited" so that ping fails at once. It answers
// neighbour solicitations for its global and link-local addresses with a
// solicited, overriding router advertisement of its MAC (RFC 4861 section
// 7.2.4), learns the container's MAC from solicitations, advertisements and
// router solicitations, and ignores targets that are not its own. Router
// advertisements (RFC 4861 section 6.2) carry the prefix (on-link,
// autonomous, so SLAAC clients form addresses: RFC 4862), the link MTU, the
// gateway as DNS server (RFC 8106) and a router lifetime; they go to all
// nodes in answer to a router solicitation (no more than one per
// MIN_DELAY_BETWEEN_RAS, RFC 4861 section 6.2.6) and every
// {@link RA_INTERVAL_MS} once the container has been heard from over IPv6
// (until then nothing listens, and the stack keeps no timer armed). NDP
// messages must arrive with hop limit 255 (sections 6.1.1, 7.1.1). Errors
// follow RFC 4443 section 2.4: never about an ICMPv6 error, a multicast
// destination or an unspecified source, rate-limited, and as much of the
// invoking packet as fits in the minimum MTU.

import { DEFAULT_HOP_LIMIT, type Ipv6Input, type Ipv6Layer } from "./ipv6.ts";
import { ICMPV6_PROTOCOL, Icmpv6Repr, Icmpv6Type, Icmpv6UnreachableCode } from "../wire/icmpv6.ts";
import { IPV6_HEADER_LEN, IPV6_MIN_MTU, Ipv6Repr } from "../wire/ipv6.ts";
import {
  IPV6_ALL_NODES,
  ipv6Equals,
  ipv6FromId,
  isIpv6LinkLocal,
  isIpv6Multicast,
  isIpv6Unspecified,
  solicitedNodeAddress,
} from "../wire/ipv6_address.ts";
import { MalformedFrame } from "../wire/malformed.ts";
import type { NetworkConfig } from "../config.ts";
import type { Counters } from "./counters.ts";
import type { Ipv4Datagram } from "./protocol.ts";

/** The hop limit every NDP message carries (RFC 4861 section 6.1.1). */
export const NDP_HOP_LIMIT = 255;
/** Unsolicited router advertisement interval (within RFC 4861 section 6.2.1's 4 s .. 1800 s). */
export const RA_INTERVAL_MS = 60_000;
/** MIN_DELAY_BETWEEN_RAS (RFC 4861 section 10). */
export const RA_MIN_DELAY_MS = 3_000;
/** Router lifetime advertised, in seconds (RFC 4861 section 6.2.1: 3 x the interval by default). */
export const ROUTER_LIFETIME_S = 1800;
/** The most ICMPv6 errors sent in one second (RFC 4443 section 2.4 (f)). */
export const ERRORS_PER_SECOND = 100;

/** The ICMPv6 protocol of the gateway. */
export class Icmpv6Protocol {
  private scratch = new Uint8Array(IPV6_MIN_MTU);
  private nextRa: number | undefined;
  private lastRa = -Infinity;
  private periodic = false;
  private windowStart = -Infinity;
  private errorsInWindow = 0;

  /** Creates the protocol and lets the layer send neighbour solicitations through it. */
  constructor(
    private readonly config: NetworkConfig,
    private readonly ip: Ipv6Layer,
    private readonly counters: Counters,
  ) {
    ip.icmpSolicit = (target) => this.sendSolicit(target);
  }

  /** Handles one ICMPv6 message; throws {@link MalformedFrame}. */
  input(pkt: Ipv6Input, payload: Uint8Array, now: number): void {
    const m = Icmpv6Repr.parse(payload, pkt.src, pkt.dst);
    switch (m.kind) {
      case "echo-request":
        this.echo(pkt, m.ident, m.seq, m.data);
        return;
      case "router-solicit":
        this.ndpCheck(pkt);
        // RFC 4861 section 6.1.1: no source link-layer option from the unspecified address.
        if (isIpv6Unspecified(pkt.src) && m.sourceMac !== null) {
          throw new MalformedFrame("ndp-malformed");
        }
        if (m.sourceMac !== null) this.ip.learn(pkt.src, m.sourceMac);
        this.counters.count("ndp-router-solicits");
        this.scheduleRa(Math.max(now, this.lastRa + RA_MIN_DELAY_MS));
        return;
      case "neighbor-solicit":
        this.ndpCheck(pkt);
        this.solicitation(pkt, m.target, m.sourceMac);
        return;
      case "neighbor-advert":
        this.ndpCheck(pkt);
        if (this.ip.isGateway(m.target)) throw new MalformedFrame("ndp-address-conflict");
        if (m.targetMac !== null && this.ip.isContainerAddress(m.target)) {
          this.ip.learn(m.target, m.targetMac);
        }
        this.counters.count("ndp-adverts-received");
        return;
      case "echo-reply":
        this.counters.drop("icmpv6-unexpected-reply");
        return;
      default:
        this.counters.drop("icmpv6-ignored");
    }
  }

  /** IPv6 layer hook: the container spoke IPv6, so advertise now and periodically. */
  heard(now: number): void {
    if (this.periodic) return;
    this.periodic = true;
    this.scheduleRa(now);
  }

  /** Sends a due router advertisement. */
  poll(now: number): void {
    if (this.nextRa === undefined || this.nextRa > now) return;
    this.sendRa(now);
    this.nextRa = this.periodic ? now + RA_INTERVAL_MS : undefined;
  }

  /** When the next router advertisement is due. */
  pollAt(): number | undefined {
    return this.nextRa;
  }

  /** RFC 4443 section 3.3 code 0: hop limit exceeded in transit, from the gateway. */
  timeExceeded(pkt: Ipv6Input): void {
    this.sendError(Icmpv6Type.TIME_EXCEEDED, 0, 0, this.ip.gateway, pkt.src, pkt.dst, pkt.packet);
  }

  /** RFC 4443 section 3.4: parameter problem `code` at byte `pointer` of the packet. */
  parameterProblem(pkt: Ipv6Input, code: number, pointer: number): void {
    this.sendError(Icmpv6Type.PARAM_PROBLEM, code, pointer, pkt.dst, pkt.src, pkt.dst, pkt.packet);
  }

  /**
   * RFC 4443 section 3.1 about a transport datagram whose addresses are
   * interned ids (the UDP refusal path); `code` is an ICMPv6 unreachable code.
   */
  unreachable(d: Ipv4Datagram, code: number): void {
    const src = ipv6FromId(d.src);
    const dst = ipv6FromId(d.dst);
    if (src === undefined || dst === undefined) return;
    const quoted = Math.min(d.payload.length, IPV6_MIN_MTU - 2 * IPV6_HEADER_LEN - 8);
    const invoking = new Uint8Array(IPV6_HEADER_LEN + quoted);
    Ipv6Repr.emit({
      src,
      dst,
      nextHeader: d.protocol,
      hopLimit: d.ttl,
      payloadLength: d.payload.length,
    }, invoking);
    invoking.set(d.payload.subarray(0, quoted), IPV6_HEADER_LEN);
    // Port unreachables come from the destination; the rest from the router.
    const from = code === Icmpv6UnreachableCode.PORT ? dst : this.ip.gateway;
    this.sendError(Icmpv6Type.DEST_UNREACHABLE, code, 0, from, src, dst, invoking);
  }

  private ndpCheck(pkt: Ipv6Input): void {
    // RFC 4861 sections 6.1.1 and 7.1.1: only on-link senders, who must use hop limit 255.
    if (pkt.hopLimit !== NDP_HOP_LIMIT) throw new MalformedFrame("ndp-bad-hop-limit");
  }

  private echo(pkt: Ipv6Input, ident: number, seq: number, data: Uint8Array): void {
    if (isIpv6Multicast(pkt.dst)) {
      this.counters.drop("icmpv6-multicast-echo");
      return;
    }
    if (isIpv6Unspecified(pkt.src)) throw new MalformedFrame("ipv6-bad-source");
    if (!this.ip.isGateway(pkt.dst)) {
      this.counters.drop("icmpv6-echo-no-handler");
      this.sendError(
        Icmpv6Type.DEST_UNREACHABLE,
        Icmpv6UnreachableCode.ADMIN_PROHIBITED,
        0,
        this.ip.gateway,
        pkt.src,
        pkt.dst,
        pkt.packet,
      );
      return;
    }
    this.counters.count("icmpv6-echo-answered");
    this.send(pkt.dst, pkt.src, { kind: "echo-reply", ident, seq, data }, DEFAULT_HOP_LIMIT);
  }

  private solicitation(pkt: Ipv6Input, target: Uint8Array, sourceMac: Uint8Array | null): void {
    if (isIpv6Multicast(target)) throw new MalformedFrame("ndp-malformed");
    const dad = isIpv6Unspecified(pkt.src);
    if (dad) {
      // RFC 4861 section 7.1.1: DAD probes go to a solicited-node group, without SLLAO.
      if (sourceMac !== null || !ipv6Equals(pkt.dst, solicitedNodeAddress(target))) {
        throw new MalformedFrame("ndp-malformed");
      }
    } else if (sourceMac !== null) {
      this.ip.learn(pkt.src, sourceMac);
    }
    if (!this.ip.isGateway(target)) {
      this.counters.count("ndp-solicits-ignored");
      return;
    }
    // RFC 4861 section 7.2.4: answer DAD to all nodes (not solicited), others to the sender.
    this.counters.count("ndp-adverts-sent");
    this.send(target, dad ? IPV6_ALL_NODES : pkt.src, {
      kind: "neighbor-advert",
      router: true,
      solicited: !dad,
      override: true,
      target: target.slice(),
      targetMac: this.config.gatewayMac,
    }, NDP_HOP_LIMIT);
  }

  private scheduleRa(at: number): void {
    if (this.nextRa === undefined || at < this.nextRa) this.nextRa = at;
  }

  private sendRa(now: number): void {
    this.lastRa = now;
    this.counters.count("ndp-router-adverts");
    const prefix = this.config.containerAddress6.slice();
    const bits = this.config.prefixLength6;
    for (let i = 0; i < 16; i++) {
      const keep = Math.max(0, Math.min(8, bits - 8 * i));
      prefix[i]! &= (0xff << (8 - keep)) & 0xff;
    }
    this.send(this.ip.gatewayLinkLocal, IPV6_ALL_NODES, {
      kind: "router-advert",
      curHopLimit: DEFAULT_HOP_LIMIT,
      managed: false,
      // RFC 4861 section 4.2 O flag: other configuration (DNS) is also available by DHCPv6.
      other: true,
      routerLifetime: ROUTER_LIFETIME_S,
      reachableTime: 0,
      retransTimer: 0,
      sourceMac: this.config.gatewayMac,
      mtu: this.config.mtu,
      prefixes: [{
        prefixLength: bits,
        onLink: true,
        autonomous: true,
        validLifetime: 86400,
        preferredLifetime: 14400,
        prefix,
      }],
      dns: { lifetime: 3 * RA_INTERVAL_MS / 1000, servers: [this.ip.gateway] },
    }, NDP_HOP_LIMIT);
  }

  private sendSolicit(target: Uint8Array): void {
    const src = isIpv6LinkLocal(target) ? this.ip.gatewayLinkLocal : this.ip.gateway;
    this.send(src, solicitedNodeAddress(target), {
      kind: "neighbor-solicit",
      target,
      sourceMac: this.config.gatewayMac,
    }, NDP_HOP_LIMIT);
  }

  private sendError(
    type: number,
    code: number,
    param: number,
    from: Uint8Array,
    to: Uint8Array,
    originalDst: Uint8Array,
    invoking: Uint8Array,
  ): void {
    // RFC 4443 section 2.4 (e): never about errors, to multicast, or to an unspecified source.
    if (isIpv6Multicast(originalDst) || isIpv6Unspecified(to) || isIpv6Multicast(to)) return;
    if (invoking[6] === ICMPV6_PROTOCOL && (invoking[IPV6_HEADER_LEN] ?? 0) < 128) return;
    const now = this.ip.now;
    if (now - this.windowStart >= 1000) {
      this.windowStart = now;
      this.errorsInWindow = 0;
    }
    if (++this.errorsInWindow > ERRORS_PER_SECOND) {
      this.counters.drop("icmpv6-error-rate-limited");
      return;
    }
    const data = invoking.subarray(0, IPV6_MIN_MTU - IPV6_HEADER_LEN - 8);
    this.counters.count("icmpv6-errors-sent");
    this.send(from, to, { kind: "error", type, code, param, data }, DEFAULT_HOP_LIMIT);
  }

  private send(src: Uint8Array, dst: Uint8Array, m: Icmpv6Repr, hopLimit: number): void {
    const len = Icmpv6Repr.bufferLen(m);
    if (this.scratch.length < len) this.scratch = new Uint8Array(len);
    const msg = this.scratch.subarray(0, len);
    Icmpv6Repr.emit(m, msg, src, dst);
    this.ip.send(src, dst, ICMPV6_PROTOCOL, msg, hopLimit);
  }
}
