// ICMPv4 messages (RFC 792): echo and the error messages the stack sends, as a view and a parsed record.

import { internetChecksum } from "./checksum.ts";
import { MalformedFrame } from "./malformed.ts";

/** Offset of the type. */
export const ICMP_TYPE = 0;
/** Offset of the code. */
export const ICMP_CODE = 1;
/** Offset of the checksum. */
export const ICMP_CHECKSUM = 2;
/** Offset of the echo identifier. */
export const ICMP_ECHO_IDENT = 4;
/** Offset of the echo sequence number. */
export const ICMP_ECHO_SEQ = 6;
/** Offset of the next-hop MTU in a "fragmentation needed" message (RFC 1191). */
export const ICMP_NEXT_HOP_MTU = 6;
/** Length of the fixed header (type, code, checksum and 4 bytes of rest-of-header). */
export const ICMP_HEADER_LEN = 8;

/** ICMPv4 message types (RFC 792). */
export const IcmpType = {
  /** Echo reply. */
  ECHO_REPLY: 0,
  /** Destination unreachable. */
  DEST_UNREACHABLE: 3,
  /** Echo request. */
  ECHO_REQUEST: 8,
  /** Time exceeded. */
  TIME_EXCEEDED: 11,
} as const;

/** Destination unreachable codes (RFC 792, RFC 1122 section 3.2.2.1). */
export const UnreachableCode = {
  /** Net unreachable. */
  NET: 0,
  /** Host unreachable. */
  HOST: 1,
  /** Protocol unreachable. */
  PROTOCOL: 2,
  /** Port unreachable. */
  PORT: 3,
  /** Fragmentation needed and DF set. */
  FRAG_NEEDED: 4,
  /** Communication administratively prohibited (RFC 1812). */
  ADMIN_PROHIBITED: 13,
} as const;

/** A zero-copy view over an ICMPv4 message. */
export class Icmpv4Packet {
  /** The message bytes. */
  readonly bytes: Uint8Array;

  /** Wraps `bytes` without copying or checking. */
  constructor(bytes: Uint8Array) {
    this.bytes = bytes;
  }

  /** Checks the length; throws {@link MalformedFrame}. */
  static check(bytes: Uint8Array): Icmpv4Packet {
    if (bytes.length < ICMP_HEADER_LEN) throw new MalformedFrame("icmp-truncated");
    return new Icmpv4Packet(bytes);
  }

  private u16(o: number): number {
    return (this.bytes[o]! << 8) | this.bytes[o + 1]!;
  }
  private setU16(o: number, v: number): void {
    this.bytes[o] = v >>> 8;
    this.bytes[o + 1] = v;
  }

  /** Message type. */
  get type(): number {
    return this.bytes[ICMP_TYPE]!;
  }
  set type(v: number) {
    this.bytes[ICMP_TYPE] = v;
  }
  /** Message code. */
  get code(): number {
    return this.bytes[ICMP_CODE]!;
  }
  set code(v: number) {
    this.bytes[ICMP_CODE] = v;
  }
  /** Checksum as stored. */
  get checksum(): number {
    return this.u16(ICMP_CHECKSUM);
  }
  set checksum(v: number) {
    this.setU16(ICMP_CHECKSUM, v);
  }
  /** Echo identifier. */
  get ident(): number {
    return this.u16(ICMP_ECHO_IDENT);
  }
  set ident(v: number) {
    this.setU16(ICMP_ECHO_IDENT, v);
  }
  /** Echo sequence number. */
  get seq(): number {
    return this.u16(ICMP_ECHO_SEQ);
  }
  set seq(v: number) {
    this.setU16(ICMP_ECHO_SEQ, v);
  }
  /** The 4 rest-of-header bytes as a uint32 (unused, or ident/seq, or MTU). */
  get restOfHeader(): number {
    return ((this.u16(4) << 16) | this.u16(6)) >>> 0;
  }
  set restOfHeader(v: number) {
    this.setU16(4, v >>> 16);
    this.setU16(6, v & 0xffff);
  }
  /** Everything after the 8-byte header (a view). */
  get data(): Uint8Array {
    return this.bytes.subarray(ICMP_HEADER_LEN);
  }
  /** RFC 792: the whole message, checksum included, sums to zero. */
  verifyChecksum(): boolean {
    return internetChecksum(this.bytes) === 0;
  }
  /** Computes and stores the checksum over the whole message. */
  fillChecksum(): void {
    this.checksum = 0;
    this.checksum = internetChecksum(this.bytes);
  }
}

/** A parsed ICMPv4 message. `data` is a view into the input on parse. */
export type Icmpv4Repr =
  | {
    /** Echo request or reply. */
    kind: "echo-request" | "echo-reply";
    /** Identifier. */
    ident: number;
    /** Sequence number. */
    seq: number;
    /** Echo data. */
    data: Uint8Array;
  }
  | {
    /** An error message about a datagram. */
    kind: "dest-unreachable" | "time-exceeded";
    /** The code. */
    code: number;
    /** Next-hop MTU for "fragmentation needed", else 0. */
    mtu: number;
    /** The offending datagram's IP header plus at least 8 bytes of its data (RFC 792). */
    data: Uint8Array;
  }
  | {
    /** Any other type, kept for counting. */
    kind: "other";
    /** The type. */
    type: number;
    /** The code. */
    code: number;
    /** Everything after the header. */
    data: Uint8Array;
  };

/** Parse, emit and size an {@link Icmpv4Repr}. */
export const Icmpv4Repr = {
  /** Parses and verifies the checksum; throws {@link MalformedFrame}. */
  parse(bytes: Uint8Array): Icmpv4Repr {
    const p = Icmpv4Packet.check(bytes);
    if (!p.verifyChecksum()) throw new MalformedFrame("icmp-bad-checksum");
    switch (p.type) {
      case IcmpType.ECHO_REQUEST:
      case IcmpType.ECHO_REPLY:
        return {
          kind: p.type === IcmpType.ECHO_REQUEST ? "echo-request" : "echo-reply",
          ident: p.ident,
          seq: p.seq,
          data: p.data,
        };
      case IcmpType.DEST_UNREACHABLE:
      case IcmpType.TIME_EXCEEDED:
        return {
          kind: p.type === IcmpType.DEST_UNREACHABLE ? "dest-unreachable" : "time-exceeded",
          code: p.code,
          mtu: p.type === IcmpType.DEST_UNREACHABLE && p.code === UnreachableCode.FRAG_NEEDED
            ? p.restOfHeader & 0xffff
            : 0,
          data: p.data,
        };
      default:
        return { kind: "other", type: p.type, code: p.code, data: p.data };
    }
  },
  /** Writes the message with its checksum into `bytes` (at least {@link Icmpv4Repr.bufferLen} long). */
  emit(repr: Icmpv4Repr, bytes: Uint8Array): void {
    const len = ICMP_HEADER_LEN + repr.data.length;
    const p = new Icmpv4Packet(bytes.subarray(0, len));
    switch (repr.kind) {
      case "echo-request":
      case "echo-reply":
        p.type = repr.kind === "echo-request" ? IcmpType.ECHO_REQUEST : IcmpType.ECHO_REPLY;
        p.code = 0;
        p.ident = repr.ident;
        p.seq = repr.seq;
        break;
      case "dest-unreachable":
      case "time-exceeded":
        p.type = repr.kind === "dest-unreachable"
          ? IcmpType.DEST_UNREACHABLE
          : IcmpType.TIME_EXCEEDED;
        p.code = repr.code;
        p.restOfHeader = repr.mtu & 0xffff;
        break;
      case "other":
        p.type = repr.type;
        p.code = repr.code;
        p.restOfHeader = 0;
        break;
    }
    p.bytes.set(repr.data, ICMP_HEADER_LEN);
    p.fillChecksum();
  },
  /** Header plus data length. */
  bufferLen(repr: Icmpv4Repr): number {
    return ICMP_HEADER_LEN + repr.data.length;
  },
};
