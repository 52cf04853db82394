// TCP segments on the wire (RFC 9293 section 3.1): a zero-copy view, option parsing and emit helpers.

import { foldChecksum, ipv4PseudoSum, sumWords } from "./checksum.ts";

/** Byte offsets of the fixed TCP header fields (RFC 9293 section 3.1). */
export const TcpField = {
  SRC_PORT: 0,
  DST_PORT: 2,
  SEQ: 4,
  ACK: 8,
  DATA_OFFSET: 12,
  FLAGS: 13,
  WINDOW: 14,
  CHECKSUM: 16,
  URGENT: 18,
} as const;

/** Length of the TCP header without options. */
export const TCP_HEADER_LEN = 20;
/** Largest header: data offset 15 words. */
export const TCP_MAX_HEADER_LEN = 60;
/** The IP protocol number of TCP. */
export const TCP_PROTOCOL = 6;

/** TCP control bits (RFC 9293 section 3.1; ECE/CWR from RFC 3168). */
export const TcpFlag = {
  FIN: 0x01,
  SYN: 0x02,
  RST: 0x04,
  PSH: 0x08,
  ACK: 0x10,
  URG: 0x20,
  ECE: 0x40,
  CWR: 0x80,
} as const;

/** TCP option kinds (RFC 9293 section 3.2, RFC 7323, RFC 2018). */
export const TcpOptionKind = {
  END: 0,
  NOP: 1,
  MSS: 2,
  WINDOW_SCALE: 3,
  SACK_PERMITTED: 4,
  SACK: 5,
  TIMESTAMPS: 8,
} as const;

/** The one error for a malformed TCP segment; the stack counts it as a drop. */
export class TcpWireError extends Error {
  /** Creates the error with a sentence-case message. */
  constructor(message: string) {
    super(message);
    this.name = "TcpWireError";
  }
}

/** A zero-copy view over the bytes of one TCP segment (header, options and payload). */
export class TcpPacket {
  /** The segment bytes; getters and setters read and write them in place. */
  readonly bytes: Uint8Array;
  readonly #view: DataView;

  /** Wraps `bytes` without copying or checking; call {@link TcpPacket.check} before trusting it. */
  constructor(bytes: Uint8Array) {
    this.bytes = bytes;
    this.#view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  /** Throws {@link TcpWireError} when the buffer is too short or the data offset is invalid. */
  check(): void {
    const len = this.bytes.length;
    if (len < TCP_HEADER_LEN) throw new TcpWireError(`Truncated TCP header: "${len}" bytes`);
    const off = this.dataOffset;
    if (off < TCP_HEADER_LEN) throw new TcpWireError(`Bad TCP data offset: "${off}"`);
    if (off > len) throw new TcpWireError(`TCP data offset beyond segment: "${off}" > "${len}"`);
  }

  /** Source port. */
  get srcPort(): number {
    return this.#view.getUint16(TcpField.SRC_PORT);
  }
  set srcPort(v: number) {
    this.#view.setUint16(TcpField.SRC_PORT, v);
  }
  /** Destination port. */
  get dstPort(): number {
    return this.#view.getUint16(TcpField.DST_PORT);
  }
  set dstPort(v: number) {
    this.#view.setUint16(TcpField.DST_PORT, v);
  }
  /** Sequence number. */
  get seq(): number {
    return this.#view.getUint32(TcpField.SEQ);
  }
  set seq(v: number) {
    this.#view.setUint32(TcpField.SEQ, v >>> 0);
  }
  /** Acknowledgment number. */
  get ack(): number {
    return this.#view.getUint32(TcpField.ACK);
  }
  set ack(v: number) {
    this.#view.setUint32(TcpField.ACK, v >>> 0);
  }
  /** Header length in bytes (data offset times four). */
  get dataOffset(): number {
    return (this.bytes[TcpField.DATA_OFFSET]! >> 4) * 4;
  }
  set dataOffset(bytes: number) {
    this.bytes[TcpField.DATA_OFFSET] = ((bytes / 4) << 4) & 0xf0;
  }
  /** The eight control bits; see {@link TcpFlag}. */
  get flags(): number {
    return this.bytes[TcpField.FLAGS]!;
  }
  set flags(v: number) {
    this.bytes[TcpField.FLAGS] = v;
  }
  /** Window field as on the wire (unscaled). */
  get window(): number {
    return this.#view.getUint16(TcpField.WINDOW);
  }
  set window(v: number) {
    this.#view.setUint16(TcpField.WINDOW, v);
  }
  /** Checksum field. */
  get checksum(): number {
    return this.#view.getUint16(TcpField.CHECKSUM);
  }
  set checksum(v: number) {
    this.#view.setUint16(TcpField.CHECKSUM, v);
  }
  /** Urgent pointer. */
  get urgent(): number {
    return this.#view.getUint16(TcpField.URGENT);
  }
  set urgent(v: number) {
    this.#view.setUint16(TcpField.URGENT, v);
  }
  /** The option bytes (a view). */
  get options(): Uint8Array {
    return this.bytes.subarray(TCP_HEADER_LEN, this.dataOffset);
  }
  /** The payload (a view). */
  get payload(): Uint8Array {
    return this.bytes.subarray(this.dataOffset);
  }

  /** True when the checksum over the IPv4 pseudo-header and segment is correct. */
  verifyChecksum(src: number, dst: number): boolean {
    const len = this.bytes.length;
    return foldChecksum(
      sumWords(this.bytes, 0, len, ipv4PseudoSum(src, dst, TCP_PROTOCOL, len)),
    ) ===
      0;
  }

  /** Computes and stores the checksum (RFC 9293 section 3.1, IPv4 pseudo-header). */
  fillChecksum(src: number, dst: number): void {
    this.checksum = 0;
    const len = this.bytes.length;
    this.checksum = foldChecksum(
      sumWords(this.bytes, 0, len, ipv4PseudoSum(src, dst, TCP_PROTOCOL, len)),
    );
  }
}

/** Parsed TCP options; absent values are `-1` (numbers) or `false`. */
export interface TcpOptions {
  /** Maximum segment size (RFC 9293 section 3.7.1), or -1. */
  mss: number;
  /** Window scale shift (RFC 7323 section 2), or -1. */
  windowScale: number;
  /** SACK-permitted seen (RFC 2018); not acted upon. */
  sackPermitted: boolean;
  /** Timestamp value (RFC 7323 section 3), or -1; parsed, not acted upon. */
  tsVal: number;
  /** Timestamp echo reply, or -1. */
  tsEcr: number;
}

/** Returns a fresh options record with every option absent. */
export function emptyTcpOptions(): TcpOptions {
  return { mss: -1, windowScale: -1, sackPermitted: false, tsVal: -1, tsEcr: -1 };
}

/**
 * Parses option bytes into `into` (reset first). Unknown options are skipped by their length.
 * Throws {@link TcpWireError} on an option that runs past the end or has a bad length.
 */
export function parseTcpOptions(
  bytes: Uint8Array,
  into: TcpOptions = emptyTcpOptions(),
): TcpOptions {
  resetTcpOptions(into);
  let i = 0;
  while (i < bytes.length) {
    const kind = bytes[i]!;
    if (kind === TcpOptionKind.END) break;
    if (kind === TcpOptionKind.NOP) {
      i++;
      continue;
    }
    if (i + 1 >= bytes.length) throw new TcpWireError(`Truncated TCP option: kind "${kind}"`);
    const len = bytes[i + 1]!;
    if (len < 2 || i + len > bytes.length) {
      throw new TcpWireError(`Bad TCP option length: kind "${kind}" length "${len}"`);
    }
    const at = i + 2;
    switch (kind) {
      case TcpOptionKind.MSS:
        if (len !== 4) throw new TcpWireError(`Bad TCP MSS option length: "${len}"`);
        into.mss = (bytes[at]! << 8) | bytes[at + 1]!;
        break;
      case TcpOptionKind.WINDOW_SCALE:
        if (len !== 3) throw new TcpWireError(`Bad TCP window scale option length: "${len}"`);
        // RFC 7323 section 2.3: a shift above 14 is treated as 14.
        into.windowScale = Math.min(bytes[at]!, 14);
        break;
      case TcpOptionKind.SACK_PERMITTED:
        if (len !== 2) throw new TcpWireError(`Bad TCP SACK-permitted option length: "${len}"`);
        into.sackPermitted = true;
        break;
      case TcpOptionKind.TIMESTAMPS:
        if (len !== 10) throw new TcpWireError(`Bad TCP timestamps option length: "${len}"`);
        into.tsVal = readU32(bytes, at);
        into.tsEcr = readU32(bytes, at + 4);
        break;
      default:
        break;
    }
    i += len;
  }
  return into;
}

function resetTcpOptions(o: TcpOptions): void {
  o.mss = -1;
  o.windowScale = -1;
  o.sackPermitted = false;
  o.tsVal = -1;
  o.tsEcr = -1;
}

function readU16(b: Uint8Array, at: number): number {
  return (b[at]! << 8) | b[at + 1]!;
}

function readU32(b: Uint8Array, at: number): number {
  return ((b[at]! << 24) | (b[at + 1]! << 16) | (b[at + 2]! << 8) | b[at + 3]!) >>> 0;
}

function writeU32(b: Uint8Array, at: number, v: number): void {
  b[at] = v >>> 24;
  b[at + 1] = v >>> 16;
  b[at + 2] = v >>> 8;
  b[at + 3] = v;
}

/** Returns the length of the options `emitTcpOptions` writes, padded to a multiple of four. */
export function tcpOptionsLen(o: TcpOptions): number {
  let n = 0;
  if (o.mss >= 0) n += 4;
  if (o.windowScale >= 0) n += 3;
  if (o.sackPermitted) n += 2;
  if (o.tsVal >= 0) n += 10;
  return (n + 3) & ~3;
}

/** Writes options at `bytes[at]`, NOP-padded to a multiple of four; returns the bytes written. */
export function emitTcpOptions(o: TcpOptions, bytes: Uint8Array, at: number): number {
  const start = at;
  if (o.mss >= 0) {
    bytes[at++] = TcpOptionKind.MSS;
    bytes[at++] = 4;
    bytes[at++] = o.mss >> 8;
    bytes[at++] = o.mss;
  }
  if (o.windowScale >= 0) {
    bytes[at++] = TcpOptionKind.WINDOW_SCALE;
    bytes[at++] = 3;
    bytes[at++] = o.windowScale;
  }
  if (o.sackPermitted) {
    bytes[at++] = TcpOptionKind.SACK_PERMITTED;
    bytes[at++] = 2;
  }
  if (o.tsVal >= 0) {
    bytes[at++] = TcpOptionKind.TIMESTAMPS;
    bytes[at++] = 10;
    writeU32(bytes, at, o.tsVal);
    writeU32(bytes, at + 4, Math.max(o.tsEcr, 0));
    at += 8;
  }
  while ((at - start) & 3) bytes[at++] = TcpOptionKind.NOP;
  return at - start;
}

/** A parsed TCP segment (the record view). Reusable: {@link TcpRepr.parse} overwrites every field. */
export class TcpRepr {
  /** Source port. */
  srcPort = 0;
  /** Destination port. */
  dstPort = 0;
  /** Sequence number. */
  seq = 0;
  /** Acknowledgment number (meaningful with ACK). */
  ack = 0;
  /** Control bits; see {@link TcpFlag}. */
  flags = 0;
  /** Window field as on the wire (unscaled). */
  window = 0;
  /** Urgent pointer. */
  urgent = 0;
  /** Options. */
  options: TcpOptions = emptyTcpOptions();
  /** Payload; after parse, a view into the parsed bytes. */
  payload: Uint8Array = new Uint8Array(0);

  /**
   * Parses and validates `bytes` sent from `src` to `dst` into this record and returns it.
   * Throws {@link TcpWireError} on truncation, bad data offset, bad options or bad checksum.
   * `checksumValid` skips the checksum (the link vouches for it: virtio NEEDS_CSUM from the
   * container's own kernel, virtio 1.2 5.1.6.2.1).
   */
  parse(bytes: Uint8Array, src: number, dst: number, checksumValid = false): this {
    // Reads the bytes directly (no view object): this runs once per received segment.
    const len = bytes.length;
    if (len < TCP_HEADER_LEN) throw new TcpWireError(`Truncated TCP header: "${len}" bytes`);
    const off = (bytes[TcpField.DATA_OFFSET]! >> 4) * 4;
    if (off < TCP_HEADER_LEN) throw new TcpWireError(`Bad TCP data offset: "${off}"`);
    if (off > len) throw new TcpWireError(`TCP data offset beyond segment: "${off}" > "${len}"`);
    if (!checksumValid) {
      const sum = sumWords(bytes, 0, len, ipv4PseudoSum(src, dst, TCP_PROTOCOL, len));
      if (foldChecksum(sum) !== 0) {
        throw new TcpWireError(`Bad TCP checksum: "${readU16(bytes, TcpField.CHECKSUM)}"`);
      }
    }
    this.srcPort = readU16(bytes, TcpField.SRC_PORT);
    this.dstPort = readU16(bytes, TcpField.DST_PORT);
    this.seq = readU32(bytes, TcpField.SEQ);
    this.ack = readU32(bytes, TcpField.ACK);
    this.flags = bytes[TcpField.FLAGS]!;
    this.window = readU16(bytes, TcpField.WINDOW);
    this.urgent = readU16(bytes, TcpField.URGENT);
    if (off > TCP_HEADER_LEN) parseTcpOptions(bytes.subarray(TCP_HEADER_LEN, off), this.options);
    else resetTcpOptions(this.options);
    this.payload = bytes.subarray(off);
    return this;
  }

  /** The number of bytes {@link TcpRepr.emit} writes. */
  bufferLen(): number {
    return TCP_HEADER_LEN + tcpOptionsLen(this.options) + this.payload.length;
  }

  /** Writes header, options, payload and checksum into `bytes`; returns the segment length. */
  emit(bytes: Uint8Array, src: number, dst: number): number {
    const hlen = emitTcpHeader(bytes, this, this.options);
    bytes.set(this.payload, hlen);
    const len = hlen + this.payload.length;
    new TcpPacket(bytes.subarray(0, len)).fillChecksum(src, dst);
    return len;
  }
}

/** The header fields {@link emitTcpHeader} needs. */
export interface TcpHeaderFields {
  /** Source port. */
  srcPort: number;
  /** Destination port. */
  dstPort: number;
  /** Sequence number. */
  seq: number;
  /** Acknowledgment number. */
  ack: number;
  /** Control bits. */
  flags: number;
  /** Window field (already scaled down). */
  window: number;
  /** Urgent pointer. */
  urgent: number;
}

/**
 * Writes the fixed header and `options` (or none) at the start of `bytes`, with a zero checksum;
 * returns the header length. Fill the checksum once the payload is in place.
 */
export function emitTcpHeader(
  bytes: Uint8Array,
  h: TcpHeaderFields,
  options?: TcpOptions,
): number {
  const hlen = TCP_HEADER_LEN + (options ? emitTcpOptions(options, bytes, TCP_HEADER_LEN) : 0);
  bytes[0] = h.srcPort >> 8;
  bytes[1] = h.srcPort;
  bytes[2] = h.dstPort >> 8;
  bytes[3] = h.dstPort;
  writeU32(bytes, TcpField.SEQ, h.seq >>> 0);
  writeU32(bytes, TcpField.ACK, h.ack >>> 0);
  bytes[TcpField.DATA_OFFSET] = (hlen / 4) << 4;
  bytes[TcpField.FLAGS] = h.flags;
  bytes[TcpField.WINDOW] = h.window >> 8;
  bytes[TcpField.WINDOW + 1] = h.window;
  bytes[TcpField.CHECKSUM] = 0;
  bytes[TcpField.CHECKSUM + 1] = 0;
  bytes[TcpField.URGENT] = h.urgent >> 8;
  bytes[TcpField.URGENT + 1] = h.urgent;
  return hlen;
}

/**
 * Writes only the pseudo-header sum (folded, not complemented) into the checksum field, for a
 * device to complete over the segment: a partial checksum (virtio 1.2 5.1.6.2, Linux
 * CHECKSUM_PARTIAL).
 */
export function fillTcpPseudoChecksum(segment: Uint8Array, src: number, dst: number): void {
  const c = ~foldChecksum(ipv4PseudoSum(src, dst, TCP_PROTOCOL, segment.length)) & 0xffff;
  segment[TcpField.CHECKSUM] = c >> 8;
  segment[TcpField.CHECKSUM + 1] = c;
}

/** Fills the checksum of the complete segment `segment` (header, options and payload). */
export function fillTcpChecksum(segment: Uint8Array, src: number, dst: number): void {
  segment[TcpField.CHECKSUM] = 0;
  segment[TcpField.CHECKSUM + 1] = 0;
  const c = foldChecksum(
    sumWords(segment, 0, segment.length, ipv4PseudoSum(src, dst, TCP_PROTOCOL, segment.length)),
  );
  segment[TcpField.CHECKSUM] = c >> 8;
  segment[TcpField.CHECKSUM + 1] = c;
}
