// IPv4 headers (RFC 791): a view over the bytes with checksum helpers, and a parsed record.

import { internetChecksum } from "./checksum.ts";
import { readIpv4, writeIpv4 } from "./ipv4_address.ts";
import { MalformedFrame } from "./malformed.ts";

/** Offset of version (high nibble) and IHL (low nibble, in 32-bit words). */
export const IPV4_VER_IHL = 0;
/** Offset of DSCP/ECN (the former type of service). */
export const IPV4_TOS = 1;
/** Offset of the total length. */
export const IPV4_TOTAL_LEN = 2;
/** Offset of the identification. */
export const IPV4_IDENT = 4;
/** Offset of flags (3 bits) and fragment offset (13 bits, in 8-byte units). */
export const IPV4_FLAGS_FRAG = 6;
/** Offset of the time to live. */
export const IPV4_TTL = 8;
/** Offset of the protocol. */
export const IPV4_PROTOCOL = 9;
/** Offset of the header checksum. */
export const IPV4_CHECKSUM = 10;
/** Offset of the source address. */
export const IPV4_SRC = 12;
/** Offset of the destination address. */
export const IPV4_DST = 16;
/** Length of a header without options. */
export const IPV4_HEADER_LEN = 20;

/** The Don't Fragment flag within the 16-bit flags/offset word. */
export const IPV4_FLAG_DF = 0x4000;
/** The More Fragments flag within the 16-bit flags/offset word. */
export const IPV4_FLAG_MF = 0x2000;

/** IP protocol numbers used by the stack. */
export const IpProtocol = {
  /** RFC 792. */
  ICMP: 1,
  /** RFC 793. */
  TCP: 6,
  /** RFC 768. */
  UDP: 17,
} as const;

/** A zero-copy view over an IPv4 header and the datagram after it. */
export class Ipv4Packet {
  /** The datagram bytes (may extend past totalLength, e.g. Ethernet padding). */
  readonly bytes: Uint8Array;

  /** Wraps `bytes` without copying or checking. */
  constructor(bytes: Uint8Array) {
    this.bytes = bytes;
  }

  /**
   * Checks version, header and total lengths against the buffer (RFC 791
   * section 3.1, RFC 1122 section 3.2.1.1); does not verify the checksum.
   * Throws {@link MalformedFrame}.
   */
  static check(bytes: Uint8Array): Ipv4Packet {
    if (bytes.length < IPV4_HEADER_LEN) throw new MalformedFrame("ipv4-truncated");
    const p = new Ipv4Packet(bytes);
    if (p.version !== 4) throw new MalformedFrame("ipv4-bad-version");
    const hl = p.headerLen;
    if (hl < IPV4_HEADER_LEN) throw new MalformedFrame("ipv4-bad-header-length");
    const total = p.totalLength;
    if (total < hl) throw new MalformedFrame("ipv4-bad-total-length");
    if (total > bytes.length || hl > bytes.length) throw new MalformedFrame("ipv4-truncated");
    return p;
  }

  /** The version field (4). */
  get version(): number {
    return this.bytes[IPV4_VER_IHL]! >>> 4;
  }
  /** The header length in bytes (IHL * 4). */
  get headerLen(): number {
    return (this.bytes[IPV4_VER_IHL]! & 0x0f) * 4;
  }
  /** Sets version 4 and the header length in bytes (a multiple of 4). */
  setVersionAndHeaderLen(headerLen: number): void {
    this.bytes[IPV4_VER_IHL] = 0x40 | (headerLen >>> 2);
  }
  /** DSCP and ECN bits. */
  get tos(): number {
    return this.bytes[IPV4_TOS]!;
  }
  set tos(v: number) {
    this.bytes[IPV4_TOS] = v;
  }
  /** Total length of header plus data. */
  get totalLength(): number {
    return (this.bytes[IPV4_TOTAL_LEN]! << 8) | this.bytes[IPV4_TOTAL_LEN + 1]!;
  }
  set totalLength(v: number) {
    this.bytes[IPV4_TOTAL_LEN] = v >>> 8;
    this.bytes[IPV4_TOTAL_LEN + 1] = v;
  }
  /** Identification. */
  get ident(): number {
    return (this.bytes[IPV4_IDENT]! << 8) | this.bytes[IPV4_IDENT + 1]!;
  }
  set ident(v: number) {
    this.bytes[IPV4_IDENT] = v >>> 8;
    this.bytes[IPV4_IDENT + 1] = v;
  }
  /** The raw 16-bit flags and fragment offset word. */
  get flagsFrag(): number {
    return (this.bytes[IPV4_FLAGS_FRAG]! << 8) | this.bytes[IPV4_FLAGS_FRAG + 1]!;
  }
  set flagsFrag(v: number) {
    this.bytes[IPV4_FLAGS_FRAG] = v >>> 8;
    this.bytes[IPV4_FLAGS_FRAG + 1] = v;
  }
  /** Don't Fragment. */
  get dontFragment(): boolean {
    return (this.flagsFrag & IPV4_FLAG_DF) !== 0;
  }
  /** More Fragments. */
  get moreFragments(): boolean {
    return (this.flagsFrag & IPV4_FLAG_MF) !== 0;
  }
  /** Fragment offset in bytes. */
  get fragmentOffset(): number {
    return (this.flagsFrag & 0x1fff) * 8;
  }
  /** Time to live. */
  get ttl(): number {
    return this.bytes[IPV4_TTL]!;
  }
  set ttl(v: number) {
    this.bytes[IPV4_TTL] = v;
  }
  /** Protocol number. */
  get protocol(): number {
    return this.bytes[IPV4_PROTOCOL]!;
  }
  set protocol(v: number) {
    this.bytes[IPV4_PROTOCOL] = v;
  }
  /** Header checksum as stored. */
  get checksum(): number {
    return (this.bytes[IPV4_CHECKSUM]! << 8) | this.bytes[IPV4_CHECKSUM + 1]!;
  }
  set checksum(v: number) {
    this.bytes[IPV4_CHECKSUM] = v >>> 8;
    this.bytes[IPV4_CHECKSUM + 1] = v;
  }
  /** Source address (uint32). */
  get src(): number {
    return readIpv4(this.bytes, IPV4_SRC);
  }
  set src(v: number) {
    writeIpv4(this.bytes, IPV4_SRC, v);
  }
  /** Destination address (uint32). */
  get dst(): number {
    return readIpv4(this.bytes, IPV4_DST);
  }
  set dst(v: number) {
    writeIpv4(this.bytes, IPV4_DST, v);
  }
  /** The header bytes including options (a view). */
  get header(): Uint8Array {
    return this.bytes.subarray(0, this.headerLen);
  }
  /** The data between the header and totalLength (a view). */
  get payload(): Uint8Array {
    return this.bytes.subarray(this.headerLen, this.totalLength);
  }
  /** RFC 791 section 3.1: the header, checksum included, sums to zero. */
  verifyChecksum(): boolean {
    return internetChecksum(this.bytes, 0, this.headerLen) === 0;
  }
  /** Computes and stores the header checksum. */
  fillChecksum(): void {
    this.checksum = 0;
    this.checksum = internetChecksum(this.bytes, 0, this.headerLen);
  }
}

/** A parsed IPv4 header (options are skipped on parse and never emitted). */
export interface Ipv4Repr {
  /** Source address. */
  src: number;
  /** Destination address. */
  dst: number;
  /** Protocol number. */
  protocol: number;
  /** Time to live. */
  ttl: number;
  /** Length of the data after the header. */
  payloadLen: number;
  /** Identification (0 when omitted on emit). */
  ident?: number;
  /** Don't Fragment. */
  dontFragment?: boolean;
}

/** Parse, emit and size an {@link Ipv4Repr}. */
export const Ipv4Repr = {
  /**
   * Parses an unfragmented datagram, verifying lengths and the header
   * checksum; throws {@link MalformedFrame}. Fragments are rejected with
   * reason `ipv4-fragment` (the interface reassembles them with the view).
   */
  parse(bytes: Uint8Array): Ipv4Repr {
    const p = Ipv4Packet.check(bytes);
    if (!p.verifyChecksum()) throw new MalformedFrame("ipv4-bad-checksum");
    if (p.moreFragments || p.fragmentOffset !== 0) throw new MalformedFrame("ipv4-fragment");
    return {
      src: p.src,
      dst: p.dst,
      protocol: p.protocol,
      ttl: p.ttl,
      payloadLen: p.totalLength - p.headerLen,
      ident: p.ident,
      dontFragment: p.dontFragment,
    };
  },
  /** Writes a 20-byte header with its checksum into `bytes`. */
  emit(repr: Ipv4Repr, bytes: Uint8Array): void {
    const p = new Ipv4Packet(bytes);
    p.setVersionAndHeaderLen(IPV4_HEADER_LEN);
    p.tos = 0;
    p.totalLength = IPV4_HEADER_LEN + repr.payloadLen;
    p.ident = repr.ident ?? 0;
    p.flagsFrag = repr.dontFragment === true ? IPV4_FLAG_DF : 0;
    p.ttl = repr.ttl;
    p.protocol = repr.protocol;
    p.src = repr.src;
    p.dst = repr.dst;
    p.fillChecksum();
  },
  /** The emitted header length: 20. */
  bufferLen(): number {
    return IPV4_HEADER_LEN;
  },
};
