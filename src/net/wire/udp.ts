// UDP datagrams (RFC 768) over IPv4: a view with pseudo-header checksum helpers, and a parsed record.

import { foldChecksum, ipv4PseudoSum, sumWords } from "./checksum.ts";
import { MalformedFrame } from "./malformed.ts";

/** Offset of the source port. */
export const UDP_SRC_PORT = 0;
/** Offset of the destination port. */
export const UDP_DST_PORT = 2;
/** Offset of the length (header plus data). */
export const UDP_LENGTH = 4;
/** Offset of the checksum. */
export const UDP_CHECKSUM = 6;
/** Length of the UDP header. */
export const UDP_HEADER_LEN = 8;

/** A zero-copy view over a UDP datagram. */
export class UdpPacket {
  /** The datagram bytes (may extend past `length`). */
  readonly bytes: Uint8Array;

  /** Wraps `bytes` without copying or checking. */
  constructor(bytes: Uint8Array) {
    this.bytes = bytes;
  }

  /** Checks the header and length field against the buffer; throws {@link MalformedFrame}. */
  static check(bytes: Uint8Array): UdpPacket {
    if (bytes.length < UDP_HEADER_LEN) throw new MalformedFrame("udp-truncated");
    const p = new UdpPacket(bytes);
    const len = p.length;
    if (len < UDP_HEADER_LEN) throw new MalformedFrame("udp-bad-length");
    if (len > bytes.length) throw new MalformedFrame("udp-truncated");
    return p;
  }

  private u16(o: number): number {
    return (this.bytes[o]! << 8) | this.bytes[o + 1]!;
  }
  private setU16(o: number, v: number): void {
    this.bytes[o] = v >>> 8;
    this.bytes[o + 1] = v;
  }

  /** Source port. */
  get srcPort(): number {
    return this.u16(UDP_SRC_PORT);
  }
  set srcPort(v: number) {
    this.setU16(UDP_SRC_PORT, v);
  }
  /** Destination port. */
  get dstPort(): number {
    return this.u16(UDP_DST_PORT);
  }
  set dstPort(v: number) {
    this.setU16(UDP_DST_PORT, v);
  }
  /** Length of header plus data. */
  get length(): number {
    return this.u16(UDP_LENGTH);
  }
  set length(v: number) {
    this.setU16(UDP_LENGTH, v);
  }
  /** Checksum as stored (0 means none was computed). */
  get checksum(): number {
    return this.u16(UDP_CHECKSUM);
  }
  set checksum(v: number) {
    this.setU16(UDP_CHECKSUM, v);
  }
  /** The data (a view, bounded by `length`). */
  get payload(): Uint8Array {
    return this.bytes.subarray(UDP_HEADER_LEN, this.length);
  }
  /** RFC 768: a zero checksum means none was sent; otherwise header, data and pseudo-header sum to zero. */
  verifyChecksum(src: number, dst: number): boolean {
    if (this.checksum === 0) return true;
    const len = this.length;
    return foldChecksum(sumWords(this.bytes, 0, len, ipv4PseudoSum(src, dst, 17, len))) === 0;
  }
  /** Computes and stores the checksum; a computed zero is sent as 0xffff (RFC 768). */
  fillChecksum(src: number, dst: number): void {
    this.checksum = 0;
    const len = this.length;
    const c = foldChecksum(sumWords(this.bytes, 0, len, ipv4PseudoSum(src, dst, 17, len)));
    this.checksum = c === 0 ? 0xffff : c;
  }
}

/** A parsed UDP datagram; `payload` is a view into the input on parse. */
export interface UdpRepr {
  /** Source port. */
  srcPort: number;
  /** Destination port. */
  dstPort: number;
  /** The data. */
  payload: Uint8Array;
}

/** Parse, emit and size a {@link UdpRepr}; the IPv4 addresses feed the pseudo-header. */
export const UdpRepr = {
  /** Parses and verifies the checksum; throws {@link MalformedFrame}. */
  parse(bytes: Uint8Array, src: number, dst: number): UdpRepr {
    const p = UdpPacket.check(bytes);
    if (!p.verifyChecksum(src, dst)) throw new MalformedFrame("udp-bad-checksum");
    return { srcPort: p.srcPort, dstPort: p.dstPort, payload: p.payload };
  },
  /** Writes header, data and checksum into `bytes`. */
  emit(repr: UdpRepr, bytes: Uint8Array, src: number, dst: number): void {
    const p = new UdpPacket(bytes);
    p.srcPort = repr.srcPort;
    p.dstPort = repr.dstPort;
    p.length = UDP_HEADER_LEN + repr.payload.length;
    bytes.set(repr.payload, UDP_HEADER_LEN);
    p.fillChecksum(src, dst);
  },
  /** Header plus data length. */
  bufferLen(repr: UdpRepr): number {
    return UDP_HEADER_LEN + repr.payload.length;
  },
};
