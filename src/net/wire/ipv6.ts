// The IPv6 header (RFC 8200 section 3) as a zero-copy view and a parsed record, plus extension-header skipping.

import { MalformedFrame } from "./malformed.ts";

/** Offset of version, traffic class and flow label. */
export const IPV6_VERSION_CLASS_FLOW = 0;
/** Offset of the payload length. */
export const IPV6_PAYLOAD_LENGTH = 4;
/** Offset of the next header. */
export const IPV6_NEXT_HEADER = 6;
/** Offset of the hop limit. */
export const IPV6_HOP_LIMIT = 7;
/** Offset of the source address. */
export const IPV6_SRC = 8;
/** Offset of the destination address. */
export const IPV6_DST = 24;
/** Length of the fixed header. */
export const IPV6_HEADER_LEN = 40;
/** The minimum link MTU every IPv6 link supports (RFC 8200 section 5). */
export const IPV6_MIN_MTU = 1280;

/** Next-header values the stack knows (IANA protocol numbers). */
export const Ipv6NextHeader = {
  /** Hop-by-hop options (RFC 8200 section 4.3). */
  HOP_BY_HOP: 0,
  /** TCP. */
  TCP: 6,
  /** UDP. */
  UDP: 17,
  /** Routing header (RFC 8200 section 4.4). */
  ROUTING: 43,
  /** Fragment header (RFC 8200 section 4.5). */
  FRAGMENT: 44,
  /** ICMPv6 (RFC 4443). */
  ICMPV6: 58,
  /** No next header (RFC 8200 section 4.7). */
  NO_NEXT: 59,
  /** Destination options (RFC 8200 section 4.6). */
  DEST_OPTIONS: 60,
} as const;

/** A zero-copy view over an IPv6 packet. */
export class Ipv6Packet {
  /** The packet bytes (header and payload). */
  readonly bytes: Uint8Array;

  /** Wraps `bytes` without copying or checking. */
  constructor(bytes: Uint8Array) {
    this.bytes = bytes;
  }

  /**
   * Checks version and lengths (RFC 8200 section 3) and returns a view
   * trimmed to the header plus payload length (dropping link padding).
   * Throws {@link MalformedFrame}.
   */
  static check(bytes: Uint8Array): Ipv6Packet {
    if (bytes.length < IPV6_HEADER_LEN) throw new MalformedFrame("ipv6-truncated");
    if (bytes[0]! >> 4 !== 6) throw new MalformedFrame("ipv6-bad-version");
    const len = (bytes[IPV6_PAYLOAD_LENGTH]! << 8) | bytes[IPV6_PAYLOAD_LENGTH + 1]!;
    if (IPV6_HEADER_LEN + len > bytes.length) throw new MalformedFrame("ipv6-truncated");
    return new Ipv6Packet(bytes.subarray(0, IPV6_HEADER_LEN + len));
  }

  /** Version (6 for a valid packet). */
  get version(): number {
    return this.bytes[0]! >> 4;
  }
  /** Traffic class. */
  get trafficClass(): number {
    return ((this.bytes[0]! & 0x0f) << 4) | (this.bytes[1]! >> 4);
  }
  /** Flow label (20 bits). */
  get flowLabel(): number {
    return ((this.bytes[1]! & 0x0f) << 16) | (this.bytes[2]! << 8) | this.bytes[3]!;
  }
  /** Sets version 6, the traffic class and the flow label. */
  setVersionClassFlow(trafficClass: number, flowLabel: number): void {
    this.bytes[0] = 0x60 | (trafficClass >> 4);
    this.bytes[1] = ((trafficClass & 0x0f) << 4) | ((flowLabel >> 16) & 0x0f);
    this.bytes[2] = flowLabel >> 8;
    this.bytes[3] = flowLabel;
  }
  /** Payload length (everything after the fixed header). */
  get payloadLength(): number {
    return (this.bytes[IPV6_PAYLOAD_LENGTH]! << 8) | this.bytes[IPV6_PAYLOAD_LENGTH + 1]!;
  }
  set payloadLength(v: number) {
    this.bytes[IPV6_PAYLOAD_LENGTH] = v >> 8;
    this.bytes[IPV6_PAYLOAD_LENGTH + 1] = v;
  }
  /** Next header. */
  get nextHeader(): number {
    return this.bytes[IPV6_NEXT_HEADER]!;
  }
  set nextHeader(v: number) {
    this.bytes[IPV6_NEXT_HEADER] = v;
  }
  /** Hop limit. */
  get hopLimit(): number {
    return this.bytes[IPV6_HOP_LIMIT]!;
  }
  set hopLimit(v: number) {
    this.bytes[IPV6_HOP_LIMIT] = v;
  }
  /** Source address (a view). */
  get src(): Uint8Array {
    return this.bytes.subarray(IPV6_SRC, IPV6_SRC + 16);
  }
  set src(a: Uint8Array) {
    this.bytes.set(a.subarray(0, 16), IPV6_SRC);
  }
  /** Destination address (a view). */
  get dst(): Uint8Array {
    return this.bytes.subarray(IPV6_DST, IPV6_DST + 16);
  }
  set dst(a: Uint8Array) {
    this.bytes.set(a.subarray(0, 16), IPV6_DST);
  }
  /** The payload (a view, extension headers included). */
  get payload(): Uint8Array {
    return this.bytes.subarray(IPV6_HEADER_LEN, IPV6_HEADER_LEN + this.payloadLength);
  }
}

/** The upper-layer protocol and data after the extension headers were skipped. */
export interface Ipv6UpperLayer {
  /** The upper-layer next-header value (or FRAGMENT, ROUTING: headers the caller must refuse). */
  readonly protocol: number;
  /** Offset of the upper-layer data in the IPv6 payload. */
  readonly offset: number;
}

/**
 * Skips hop-by-hop and destination options headers (RFC 8200 sections 4.3 and
 * 4.6; their options are not acted on) and stops at any other header. Throws
 * {@link MalformedFrame} when an extension header runs past the payload.
 */
export function skipExtensionHeaders(nextHeader: number, payload: Uint8Array): Ipv6UpperLayer {
  let nh = nextHeader;
  let off = 0;
  while (nh === Ipv6NextHeader.HOP_BY_HOP || nh === Ipv6NextHeader.DEST_OPTIONS) {
    if (off + 2 > payload.length) throw new MalformedFrame("ipv6-truncated-extension");
    const len = (payload[off + 1]! + 1) * 8;
    if (off + len > payload.length) throw new MalformedFrame("ipv6-truncated-extension");
    nh = payload[off]!;
    off += len;
  }
  return { protocol: nh, offset: off };
}

/** A parsed IPv6 header (no extension headers); addresses are copies. */
export interface Ipv6Repr {
  /** Source address. */
  src: Uint8Array;
  /** Destination address. */
  dst: Uint8Array;
  /** Next header. */
  nextHeader: number;
  /** Hop limit. */
  hopLimit: number;
  /** Payload length. */
  payloadLength: number;
}

/** Parse, emit and size an {@link Ipv6Repr}. */
export const Ipv6Repr = {
  /** Parses the header of `bytes`; throws {@link MalformedFrame}. */
  parse(bytes: Uint8Array): Ipv6Repr {
    const p = Ipv6Packet.check(bytes);
    return {
      src: p.src.slice(),
      dst: p.dst.slice(),
      nextHeader: p.nextHeader,
      hopLimit: p.hopLimit,
      payloadLength: p.payloadLength,
    };
  },
  /** Writes the 40-byte header (traffic class and flow label zero) at the start of `bytes`. */
  emit(repr: Ipv6Repr, bytes: Uint8Array): void {
    const p = new Ipv6Packet(bytes);
    p.setVersionClassFlow(0, 0);
    p.payloadLength = repr.payloadLength;
    p.nextHeader = repr.nextHeader;
    p.hopLimit = repr.hopLimit;
    p.src = repr.src;
    p.dst = repr.dst;
  },
  /** The header length. */
  bufferLen(_repr: Ipv6Repr): number {
    return IPV6_HEADER_LEN;
  },
};
