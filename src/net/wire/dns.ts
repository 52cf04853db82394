// DNS messages (RFC 1035), only what a forwarder needs: header fields, the first question, SERVFAIL, TCP framing.

import { MalformedFrame } from "./malformed.ts";

/** Offset of the message id. */
export const DNS_ID = 0;
/** Offset of the flags word (QR, opcode, AA, TC, RD, RA, Z, RCODE). */
export const DNS_FLAGS = 2;
/** Offset of the question count. */
export const DNS_QDCOUNT = 4;
/** Offset of the answer count. */
export const DNS_ANCOUNT = 6;
/** Offset of the authority count. */
export const DNS_NSCOUNT = 8;
/** Offset of the additional count. */
export const DNS_ARCOUNT = 10;
/** Length of the header. */
export const DNS_HEADER_LEN = 12;

/** QR: the message is a response (RFC 1035 section 4.1.1). */
export const DNS_FLAG_QR = 0x8000;
/** TC: truncated. */
export const DNS_FLAG_TC = 0x0200;
/** RD: recursion desired. */
export const DNS_FLAG_RD = 0x0100;
/** RA: recursion available. */
export const DNS_FLAG_RA = 0x0080;
/** RCODE 2: server failure. */
export const DNS_RCODE_SERVFAIL = 2;

/** A zero-copy view over a DNS message header. */
export class DnsMessage {
  /** The message bytes. */
  readonly bytes: Uint8Array;

  /** Wraps `bytes` without copying or checking. */
  constructor(bytes: Uint8Array) {
    this.bytes = bytes;
  }

  /** Checks that a header fits; throws {@link MalformedFrame}. */
  static check(bytes: Uint8Array): DnsMessage {
    if (bytes.length < DNS_HEADER_LEN) throw new MalformedFrame("dns-truncated");
    return new DnsMessage(bytes);
  }

  private u16(o: number): number {
    return (this.bytes[o]! << 8) | this.bytes[o + 1]!;
  }
  private setU16(o: number, v: number): void {
    this.bytes[o] = v >>> 8;
    this.bytes[o + 1] = v;
  }

  /** Message id. */
  get id(): number {
    return this.u16(DNS_ID);
  }
  set id(v: number) {
    this.setU16(DNS_ID, v);
  }
  /** The flags word. */
  get flags(): number {
    return this.u16(DNS_FLAGS);
  }
  set flags(v: number) {
    this.setU16(DNS_FLAGS, v);
  }
  /** True for a response. */
  get isResponse(): boolean {
    return (this.flags & DNS_FLAG_QR) !== 0;
  }
  /** The opcode (0 standard query). */
  get opcode(): number {
    return (this.flags >>> 11) & 0xf;
  }
  /** The response code. */
  get rcode(): number {
    return this.flags & 0xf;
  }
  /** Question count. */
  get qdcount(): number {
    return this.u16(DNS_QDCOUNT);
  }
  set qdcount(v: number) {
    this.setU16(DNS_QDCOUNT, v);
  }
  /** Answer count. */
  get ancount(): number {
    return this.u16(DNS_ANCOUNT);
  }
  set ancount(v: number) {
    this.setU16(DNS_ANCOUNT, v);
  }
  /** Authority count. */
  get nscount(): number {
    return this.u16(DNS_NSCOUNT);
  }
  set nscount(v: number) {
    this.setU16(DNS_NSCOUNT, v);
  }
  /** Additional count. */
  get arcount(): number {
    return this.u16(DNS_ARCOUNT);
  }
  set arcount(v: number) {
    this.setU16(DNS_ARCOUNT, v);
  }
}

/** The first question of a message (RFC 1035 section 4.1.2). */
export interface DnsQuestion {
  /** The name in dotted form without the trailing dot ("" for the root). */
  name: string;
  /** QTYPE, e.g. 1 for A. */
  qtype: number;
  /** QCLASS, e.g. 1 for IN. */
  qclass: number;
  /** Offset just past the question in the message. */
  end: number;
}

/**
 * Reads a possibly compressed name at `offset` (RFC 1035 section 4.1.4);
 * returns the name and the offset after it in the message. Throws
 * {@link MalformedFrame} on truncation, loops or over-long names.
 */
export function readDnsName(msg: Uint8Array, offset: number): { name: string; end: number } {
  const labels: string[] = [];
  let i = offset;
  let end = -1;
  let jumps = 0;
  let length = 0;
  for (;;) {
    if (i >= msg.length) throw new MalformedFrame("dns-truncated");
    const len = msg[i]!;
    if (len === 0) {
      if (end < 0) end = i + 1;
      break;
    }
    if ((len & 0xc0) === 0xc0) {
      if (i + 1 >= msg.length) throw new MalformedFrame("dns-truncated");
      if (++jumps > 64) throw new MalformedFrame("dns-name-loop");
      if (end < 0) end = i + 2;
      i = ((len & 0x3f) << 8) | msg[i + 1]!;
      continue;
    }
    if ((len & 0xc0) !== 0) throw new MalformedFrame("dns-bad-label");
    if (i + 1 + len > msg.length) throw new MalformedFrame("dns-truncated");
    length += len + 1;
    if (length > 255) throw new MalformedFrame("dns-name-too-long");
    labels.push(String.fromCharCode(...msg.subarray(i + 1, i + 1 + len)));
    i += 1 + len;
  }
  return { name: labels.join("."), end };
}

/** Parses the first question of `msg`; throws {@link MalformedFrame} when there is none or it is cut. */
export function parseDnsQuestion(msg: Uint8Array): DnsQuestion {
  const m = DnsMessage.check(msg);
  if (m.qdcount < 1) throw new MalformedFrame("dns-no-question");
  const { name, end } = readDnsName(msg, DNS_HEADER_LEN);
  if (end + 4 > msg.length) throw new MalformedFrame("dns-truncated");
  return {
    name,
    qtype: (msg[end]! << 8) | msg[end + 1]!,
    qclass: (msg[end + 2]! << 8) | msg[end + 3]!,
    end: end + 4,
  };
}

/**
 * Builds a SERVFAIL response to `query` (RFC 1035 section 4.1.1): same id,
 * opcode and RD, QR and RA set, RCODE 2, the first question echoed when it
 * parses, no records. Throws {@link MalformedFrame} when `query` has no header.
 *
 * @example
 * ```ts
 * import { buildServfail, DnsMessage } from "./dns.ts";
 * const query = new Uint8Array([0x12, 0x34, 0x01, 0x00, 0, 0, 0, 0, 0, 0, 0, 0]);
 * const reply = new DnsMessage(buildServfail(query));
 * console.assert(reply.id === 0x1234 && reply.rcode === 2 && reply.isResponse);
 * ```
 */
export function buildServfail(query: Uint8Array): Uint8Array {
  const q = DnsMessage.check(query);
  let questionEnd = DNS_HEADER_LEN;
  let qdcount = 0;
  try {
    questionEnd = parseDnsQuestion(query).end;
    qdcount = 1;
  } catch {
    // No usable question: answer with the header alone.
  }
  const out = query.slice(0, questionEnd);
  const r = new DnsMessage(out);
  r.flags = DNS_FLAG_QR | (q.opcode << 11) | (q.flags & DNS_FLAG_RD) | DNS_FLAG_RA |
    DNS_RCODE_SERVFAIL;
  r.qdcount = qdcount;
  r.ancount = 0;
  r.nscount = 0;
  r.arcount = 0;
  return out;
}

/** Prefixes a message with its 16-bit length for DNS over TCP (RFC 1035 section 4.2.2). */
export function frameDnsTcp(msg: Uint8Array): Uint8Array {
  if (msg.length > 0xffff) throw new RangeError(`DNS message too long for TCP: "${msg.length}"`);
  const out = new Uint8Array(2 + msg.length);
  out[0] = msg.length >>> 8;
  out[1] = msg.length;
  out.set(msg, 2);
  return out;
}

/**
 * Splits a DNS-over-TCP byte stream into messages (RFC 1035 section 4.2.2,
 * RFC 7766 section 8): feed chunks in arrival order, get whole messages out.
 */
export class DnsTcpDeframer {
  private buffer = new Uint8Array(0);

  /** Appends `chunk` and returns every message now complete (copies). */
  push(chunk: Uint8Array): Uint8Array[] {
    const joined = new Uint8Array(this.buffer.length + chunk.length);
    joined.set(this.buffer);
    joined.set(chunk, this.buffer.length);
    const out: Uint8Array[] = [];
    let i = 0;
    while (i + 2 <= joined.length) {
      const len = (joined[i]! << 8) | joined[i + 1]!;
      if (i + 2 + len > joined.length) break;
      out.push(joined.slice(i + 2, i + 2 + len));
      i += 2 + len;
    }
    this.buffer = joined.slice(i);
    return out;
  }

  /** Bytes held waiting for the rest of a message. */
  get pending(): number {
    return this.buffer.length;
  }
}
