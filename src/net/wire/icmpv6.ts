// ICMPv6 (RFC 4443) and Neighbor Discovery messages and options (RFC 4861, RFC 8106): a view and a parsed record.

import { foldChecksum, ipv6PseudoSum, sumWords } from "./checksum.ts";
import { MalformedFrame } from "./malformed.ts";

/** The ICMPv6 next-header value. */
export const ICMPV6_PROTOCOL = 58;
/** Length of the fixed header (type, code, checksum, 4 bytes of message body). */
export const ICMPV6_HEADER_LEN = 8;

/** ICMPv6 message types (RFC 4443 section 2.1, RFC 4861 section 4). */
export const Icmpv6Type = {
  /** Destination unreachable. */
  DEST_UNREACHABLE: 1,
  /** Packet too big. */
  PACKET_TOO_BIG: 2,
  /** Time exceeded. */
  TIME_EXCEEDED: 3,
  /** Parameter problem. */
  PARAM_PROBLEM: 4,
  /** Echo request. */
  ECHO_REQUEST: 128,
  /** Echo reply. */
  ECHO_REPLY: 129,
  /** Router solicitation. */
  ROUTER_SOLICIT: 133,
  /** Router advertisement. */
  ROUTER_ADVERT: 134,
  /** Neighbor solicitation. */
  NEIGHBOR_SOLICIT: 135,
  /** Neighbor advertisement. */
  NEIGHBOR_ADVERT: 136,
} as const;

/** Destination unreachable codes (RFC 4443 section 3.1). */
export const Icmpv6UnreachableCode = {
  /** No route to destination. */
  NO_ROUTE: 0,
  /** Communication administratively prohibited. */
  ADMIN_PROHIBITED: 1,
  /** Address unreachable. */
  ADDRESS: 3,
  /** Port unreachable. */
  PORT: 4,
} as const;

/** NDP option types (RFC 4861 section 4.6, RFC 8106 section 5.1). */
export const NdpOption = {
  /** Source link-layer address. */
  SOURCE_LL: 1,
  /** Target link-layer address. */
  TARGET_LL: 2,
  /** Prefix information. */
  PREFIX_INFO: 3,
  /** MTU. */
  MTU: 5,
  /** Recursive DNS server. */
  RDNSS: 25,
} as const;

/** A zero-copy view over an ICMPv6 message. */
export class Icmpv6Packet {
  /** The message bytes. */
  readonly bytes: Uint8Array;

  /** Wraps `bytes` without copying or checking. */
  constructor(bytes: Uint8Array) {
    this.bytes = bytes;
  }

  /** Checks the length; throws {@link MalformedFrame}. */
  static check(bytes: Uint8Array): Icmpv6Packet {
    if (bytes.length < ICMPV6_HEADER_LEN) throw new MalformedFrame("icmpv6-truncated");
    return new Icmpv6Packet(bytes);
  }

  /** Message type. */
  get type(): number {
    return this.bytes[0]!;
  }
  /** Message code. */
  get code(): number {
    return this.bytes[1]!;
  }
  /** Checksum field. */
  get checksum(): number {
    return (this.bytes[2]! << 8) | this.bytes[3]!;
  }

  /** True when the checksum over the IPv6 pseudo-header (RFC 4443 section 2.3) is correct. */
  verifyChecksum(src: Uint8Array, dst: Uint8Array): boolean {
    const len = this.bytes.length;
    return foldChecksum(sumWords(this.bytes, 0, len, ipv6PseudoSum(src, dst, 58, len))) === 0;
  }

  /** Computes and stores the checksum. */
  fillChecksum(src: Uint8Array, dst: Uint8Array): void {
    this.bytes[2] = 0;
    this.bytes[3] = 0;
    const len = this.bytes.length;
    const c = foldChecksum(sumWords(this.bytes, 0, len, ipv6PseudoSum(src, dst, 58, len)));
    this.bytes[2] = c >> 8;
    this.bytes[3] = c;
  }
}

/** A prefix information option (RFC 4861 section 4.6.2). */
export interface PrefixInfo {
  /** Prefix length in bits. */
  prefixLength: number;
  /** L flag: the prefix is on-link. */
  onLink: boolean;
  /** A flag: usable for SLAAC (RFC 4862 section 5.5.3). */
  autonomous: boolean;
  /** Valid lifetime in seconds (0xffffffff: infinity). */
  validLifetime: number;
  /** Preferred lifetime in seconds. */
  preferredLifetime: number;
  /** The prefix (16 bytes). */
  prefix: Uint8Array;
}

/** A parsed ICMPv6 message. */
export type Icmpv6Repr =
  | {
    kind: "echo-request" | "echo-reply";
    ident: number;
    seq: number;
    data: Uint8Array;
  }
  | { kind: "router-solicit"; sourceMac: Uint8Array | null }
  | {
    kind: "router-advert";
    curHopLimit: number;
    managed: boolean;
    other: boolean;
    routerLifetime: number;
    reachableTime: number;
    retransTimer: number;
    sourceMac: Uint8Array | null;
    mtu: number | null;
    prefixes: PrefixInfo[];
    /** RFC 8106 recursive DNS servers and their lifetime in seconds. */
    dns: { lifetime: number; servers: Uint8Array[] } | null;
  }
  | { kind: "neighbor-solicit"; target: Uint8Array; sourceMac: Uint8Array | null }
  | {
    kind: "neighbor-advert";
    router: boolean;
    solicited: boolean;
    override: boolean;
    target: Uint8Array;
    targetMac: Uint8Array | null;
  }
  | {
    kind: "error";
    type: number;
    code: number;
    /** The 32-bit field after the checksum: MTU or pointer. */
    param: number;
    /** The invoking packet (as much as fits). */
    data: Uint8Array;
  }
  | { kind: "other"; type: number; code: number };

function u32(b: Uint8Array, o: number): number {
  return ((b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!) >>> 0;
}
function putU32(b: Uint8Array, o: number, v: number): void {
  b[o] = v >>> 24;
  b[o + 1] = v >>> 16;
  b[o + 2] = v >>> 8;
  b[o + 3] = v;
}

interface ParsedOptions {
  sourceMac: Uint8Array | null;
  targetMac: Uint8Array | null;
  mtu: number | null;
  prefixes: PrefixInfo[];
  dns: { lifetime: number; servers: Uint8Array[] } | null;
}

/** RFC 4861 section 4.6: every option is 8-byte units long and never 0. */
function parseOptions(b: Uint8Array, start: number): ParsedOptions {
  const out: ParsedOptions = {
    sourceMac: null,
    targetMac: null,
    mtu: null,
    prefixes: [],
    dns: null,
  };
  let o = start;
  while (o < b.length) {
    if (o + 2 > b.length) throw new MalformedFrame("ndp-bad-option");
    const type = b[o]!;
    const len = b[o + 1]! * 8;
    if (len === 0 || o + len > b.length) throw new MalformedFrame("ndp-bad-option");
    const opt = b.subarray(o, o + len);
    if (type === NdpOption.SOURCE_LL && len >= 8) out.sourceMac = opt.slice(2, 8);
    else if (type === NdpOption.TARGET_LL && len >= 8) out.targetMac = opt.slice(2, 8);
    else if (type === NdpOption.MTU && len === 8) out.mtu = u32(opt, 4);
    else if (type === NdpOption.PREFIX_INFO) {
      if (len !== 32) throw new MalformedFrame("ndp-bad-option");
      out.prefixes.push({
        prefixLength: opt[2]!,
        onLink: (opt[3]! & 0x80) !== 0,
        autonomous: (opt[3]! & 0x40) !== 0,
        validLifetime: u32(opt, 4),
        preferredLifetime: u32(opt, 8),
        prefix: opt.slice(16, 32),
      });
    } else if (type === NdpOption.RDNSS) {
      if (len < 24 || (len - 8) % 16 !== 0) throw new MalformedFrame("ndp-bad-option");
      const servers: Uint8Array[] = [];
      for (let s = 8; s < len; s += 16) servers.push(opt.slice(s, s + 16));
      out.dns = { lifetime: u32(opt, 4), servers };
    }
    o += len;
  }
  return out;
}

function macOptionLen(mac: Uint8Array | null): number {
  return mac === null ? 0 : 8;
}

function emitMacOption(b: Uint8Array, o: number, type: number, mac: Uint8Array | null): number {
  if (mac === null) return o;
  b[o] = type;
  b[o + 1] = 1;
  b.set(mac.subarray(0, 6), o + 2);
  return o + 8;
}

/**
 * Parse, emit and size an {@link Icmpv6Repr}. The addresses feed the
 * pseudo-header of the checksum; parse verifies it and the RFC 4861 length
 * and code rules (section 6.1.1, 7.1.1); the IP hop limit of 255 is the
 * caller's check.
 */
export const Icmpv6Repr = {
  /** Parses `bytes` sent from `src` to `dst`; throws {@link MalformedFrame}. */
  parse(bytes: Uint8Array, src: Uint8Array, dst: Uint8Array): Icmpv6Repr {
    const p = Icmpv6Packet.check(bytes);
    if (!p.verifyChecksum(src, dst)) throw new MalformedFrame("icmpv6-bad-checksum");
    const type = p.type;
    const code = p.code;
    const b = bytes;
    const ndp = (min: number) => {
      if (code !== 0 || b.length < min) throw new MalformedFrame("ndp-malformed");
    };
    switch (type) {
      case Icmpv6Type.ECHO_REQUEST:
      case Icmpv6Type.ECHO_REPLY:
        return {
          kind: type === Icmpv6Type.ECHO_REQUEST ? "echo-request" : "echo-reply",
          ident: (b[4]! << 8) | b[5]!,
          seq: (b[6]! << 8) | b[7]!,
          data: b.slice(8),
        };
      case Icmpv6Type.ROUTER_SOLICIT: {
        ndp(8);
        return { kind: "router-solicit", sourceMac: parseOptions(b, 8).sourceMac };
      }
      case Icmpv6Type.ROUTER_ADVERT: {
        ndp(16);
        const o = parseOptions(b, 16);
        return {
          kind: "router-advert",
          curHopLimit: b[4]!,
          managed: (b[5]! & 0x80) !== 0,
          other: (b[5]! & 0x40) !== 0,
          routerLifetime: (b[6]! << 8) | b[7]!,
          reachableTime: u32(b, 8),
          retransTimer: u32(b, 12),
          sourceMac: o.sourceMac,
          mtu: o.mtu,
          prefixes: o.prefixes,
          dns: o.dns,
        };
      }
      case Icmpv6Type.NEIGHBOR_SOLICIT: {
        ndp(24);
        return {
          kind: "neighbor-solicit",
          target: b.slice(8, 24),
          sourceMac: parseOptions(b, 24).sourceMac,
        };
      }
      case Icmpv6Type.NEIGHBOR_ADVERT: {
        ndp(24);
        return {
          kind: "neighbor-advert",
          router: (b[4]! & 0x80) !== 0,
          solicited: (b[4]! & 0x40) !== 0,
          override: (b[4]! & 0x20) !== 0,
          target: b.slice(8, 24),
          targetMac: parseOptions(b, 24).targetMac,
        };
      }
      case Icmpv6Type.DEST_UNREACHABLE:
      case Icmpv6Type.PACKET_TOO_BIG:
      case Icmpv6Type.TIME_EXCEEDED:
      case Icmpv6Type.PARAM_PROBLEM:
        return { kind: "error", type, code, param: u32(b, 4), data: b.slice(8) };
      default:
        return { kind: "other", type, code };
    }
  },

  /** The number of bytes {@link Icmpv6Repr.emit} writes. */
  bufferLen(repr: Icmpv6Repr): number {
    switch (repr.kind) {
      case "echo-request":
      case "echo-reply":
        return 8 + repr.data.length;
      case "router-solicit":
        return 8 + macOptionLen(repr.sourceMac);
      case "router-advert":
        return 16 + macOptionLen(repr.sourceMac) + (repr.mtu === null ? 0 : 8) +
          32 * repr.prefixes.length + (repr.dns === null ? 0 : 8 + 16 * repr.dns.servers.length);
      case "neighbor-solicit":
        return 24 + macOptionLen(repr.sourceMac);
      case "neighbor-advert":
        return 24 + macOptionLen(repr.targetMac);
      case "error":
        return 8 + repr.data.length;
      case "other":
        return 8;
    }
  },

  /** Writes the message and its checksum into `bytes` (at least {@link bufferLen} long). */
  emit(repr: Icmpv6Repr, bytes: Uint8Array, src: Uint8Array, dst: Uint8Array): void {
    const len = Icmpv6Repr.bufferLen(repr);
    const b = bytes.subarray(0, len);
    b.fill(0);
    switch (repr.kind) {
      case "echo-request":
      case "echo-reply":
        b[0] = repr.kind === "echo-request" ? Icmpv6Type.ECHO_REQUEST : Icmpv6Type.ECHO_REPLY;
        b[4] = repr.ident >> 8;
        b[5] = repr.ident;
        b[6] = repr.seq >> 8;
        b[7] = repr.seq;
        b.set(repr.data, 8);
        break;
      case "router-solicit":
        b[0] = Icmpv6Type.ROUTER_SOLICIT;
        emitMacOption(b, 8, NdpOption.SOURCE_LL, repr.sourceMac);
        break;
      case "router-advert": {
        b[0] = Icmpv6Type.ROUTER_ADVERT;
        b[4] = repr.curHopLimit;
        b[5] = (repr.managed ? 0x80 : 0) | (repr.other ? 0x40 : 0);
        b[6] = repr.routerLifetime >> 8;
        b[7] = repr.routerLifetime;
        putU32(b, 8, repr.reachableTime);
        putU32(b, 12, repr.retransTimer);
        let o = emitMacOption(b, 16, NdpOption.SOURCE_LL, repr.sourceMac);
        if (repr.mtu !== null) {
          b[o] = NdpOption.MTU;
          b[o + 1] = 1;
          putU32(b, o + 4, repr.mtu);
          o += 8;
        }
        for (const p of repr.prefixes) {
          b[o] = NdpOption.PREFIX_INFO;
          b[o + 1] = 4;
          b[o + 2] = p.prefixLength;
          b[o + 3] = (p.onLink ? 0x80 : 0) | (p.autonomous ? 0x40 : 0);
          putU32(b, o + 4, p.validLifetime);
          putU32(b, o + 8, p.preferredLifetime);
          b.set(p.prefix.subarray(0, 16), o + 16);
          o += 32;
        }
        if (repr.dns !== null) {
          b[o] = NdpOption.RDNSS;
          b[o + 1] = 1 + 2 * repr.dns.servers.length;
          putU32(b, o + 4, repr.dns.lifetime);
          o += 8;
          for (const s of repr.dns.servers) {
            b.set(s.subarray(0, 16), o);
            o += 16;
          }
        }
        break;
      }
      case "neighbor-solicit":
        b[0] = Icmpv6Type.NEIGHBOR_SOLICIT;
        b.set(repr.target.subarray(0, 16), 8);
        emitMacOption(b, 24, NdpOption.SOURCE_LL, repr.sourceMac);
        break;
      case "neighbor-advert":
        b[0] = Icmpv6Type.NEIGHBOR_ADVERT;
        b[4] = (repr.router ? 0x80 : 0) | (repr.solicited ? 0x40 : 0) |
          (repr.override ? 0x20 : 0);
        b.set(repr.target.subarray(0, 16), 8);
        emitMacOption(b, 24, NdpOption.TARGET_LL, repr.targetMac);
        break;
      case "error":
        b[0] = repr.type;
        b[1] = repr.code;
        putU32(b, 4, repr.param);
        b.set(repr.data, 8);
        break;
      case "other":
        b[0] = repr.type;
        b[1] = repr.code;
        break;
    }
    new Icmpv6Packet(b).fillChecksum(src, dst);
  },
};
