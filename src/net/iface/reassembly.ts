// IPv4 and IPv6 fragment reassembly (RFC 791 section 3.2, RFC 815, RFC 8200 section 4.5) with bounded memory and a fixed timeout.
//
// Theory of operation: fragments are keyed by (source, destination, protocol,
// identification) as RFC 791 requires, or by (source, destination,
// identification) for IPv6 (RFC 8200 4.5). Each partial datagram keeps a sorted
// list of copied fragment payloads and, once seen, the first fragment's
// header. Any overlap that is not an exact duplicate discards the whole
// datagram (the IPv6 rule of RFC 5722, which Linux also applies to IPv4): it
// defeats the overlapping-fragment attacks of RFC 1858 and keeps the bookkeeping
// simple. Limits: at most `maxDatagrams` partial datagrams and `maxBytes`
// buffered payload bytes in all; when either is exceeded the oldest partial
// datagram is evicted. A partial datagram lives `timeoutMs` from its first
// fragment (RFC 791's reassembly timer; Linux uses 30 s) and is then dropped.
// Left out: ICMP Time Exceeded (code 1) on timeout, which RFC 1122 makes optional.
// The IPv4 and IPv6 layers each have a reassembler; drop reasons carry the
// family ("ipv4-frag-overlap", "ipv6-frag-overlap").

import { Ipv4Packet } from "../wire/ipv4.ts";
import type { Counters } from "./counters.ts";

/** Limits for {@link Reassembler}. */
export interface ReassemblyLimits {
  /** Partial datagrams held at once. */
  readonly maxDatagrams: number;
  /** Payload bytes buffered across all partial datagrams. */
  readonly maxBytes: number;
  /** Lifetime of a partial datagram from its first fragment, in ms. */
  readonly timeoutMs: number;
}

/** The default limits: 64 datagrams, 4 MiB, 30 s. */
export const DEFAULT_REASSEMBLY_LIMITS: ReassemblyLimits = Object.freeze({
  maxDatagrams: 64,
  maxBytes: 4 * 1024 * 1024,
  timeoutMs: 30_000,
});

interface Fragment {
  offset: number;
  data: Uint8Array;
}

interface Partial {
  fragments: Fragment[];
  /** Payload length, known once the last fragment (MF clear) arrived; -1 until then. */
  total: number;
  header: Uint8Array | null;
  bytes: number;
  deadline: number;
}

/** Collects fragments and returns whole datagrams. */
export class Reassembler {
  private readonly partials = new Map<string, Partial>();
  private bufferedBytes = 0;

  /** Creates an empty reassembler; drops are counted in `counters` under the family's name. */
  constructor(
    private readonly counters: Counters,
    private readonly limits: ReassemblyLimits = DEFAULT_REASSEMBLY_LIMITS,
    private readonly family: "ipv4" | "ipv6" = "ipv4",
  ) {}

  /** Partial datagrams held now. */
  get size(): number {
    return this.partials.size;
  }

  /** Payload bytes buffered now. */
  get buffered(): number {
    return this.bufferedBytes;
  }

  /**
   * Adds one fragment (a checked, checksum-verified packet with MF set or a
   * non-zero offset). Returns the reassembled datagram, header first with
   * flags, offset, length and checksum rewritten, when this fragment completes
   * it; otherwise undefined.
   */
  add(packet: Ipv4Packet, now: number): Uint8Array | undefined {
    const data = packet.payload;
    if (packet.fragmentOffset + data.length + packet.headerLen > 0xffff) {
      this.counters.drop(`${this.family}-frag-too-long`);
      return undefined;
    }
    const whole = this.addFragment(
      `${packet.src}/${packet.dst}/${packet.protocol}/${packet.ident}`,
      packet.fragmentOffset,
      packet.moreFragments,
      data,
      packet.header,
      now,
    );
    return whole && assembleIpv4(whole.header, whole.fragments, whole.total);
  }

  /**
   * Adds one IPv6 fragment: `fragmentable` is what follows its fragment header, `offset`,
   * `more` and `nextHeader` that header's fields, `key` names the datagram (source,
   * destination, identification). Returns the whole datagram's fragmentable part, with the
   * next header of its first fragment (the one RFC 8200 4.5 says counts), when this fragment
   * completes it.
   */
  addIpv6(
    key: string,
    offset: number,
    more: boolean,
    nextHeader: number,
    fragmentable: Uint8Array,
    now: number,
  ): { nextHeader: number; fragmentable: Uint8Array } | undefined {
    if (offset + fragmentable.length > 0xffff) {
      // RFC 8200 4.5: the reassembled payload must fit the 16-bit payload length.
      this.counters.drop(`${this.family}-frag-too-long`);
      return undefined;
    }
    const first = new Uint8Array([nextHeader]);
    const whole = this.addFragment(key, offset, more, fragmentable, first, now);
    if (whole === undefined) return undefined;
    const out = new Uint8Array(whole.total);
    for (const f of whole.fragments) out.set(f.data, f.offset);
    return { nextHeader: whole.header[0]!, fragmentable: out };
  }

  /** The family-neutral part of {@link add}: the fragment list, overlaps and limits. */
  private addFragment(
    key: string,
    offset: number,
    more: boolean,
    data: Uint8Array,
    header: Uint8Array,
    now: number,
  ): { header: Uint8Array; fragments: Fragment[]; total: number } | undefined {
    const end = offset + data.length;
    const f = this.family;
    if (data.length === 0 || (more && data.length % 8 !== 0)) {
      // RFC 791, RFC 8200: every fragment but the last carries a multiple of 8 bytes.
      this.counters.drop(`${f}-frag-bad-length`);
      return undefined;
    }
    let partial = this.partials.get(key);
    if (partial === undefined) {
      while (this.partials.size >= this.limits.maxDatagrams) this.evictOldest();
      partial = {
        fragments: [],
        total: -1,
        header: null,
        bytes: 0,
        deadline: now + this.limits.timeoutMs,
      };
      this.partials.set(key, partial);
    }
    if (!more) {
      if (partial.total >= 0 && partial.total !== end) {
        return this.discard(key, `${f}-frag-inconsistent`);
      }
      // Data already held beyond the end the last fragment gives is a contradiction.
      for (const g of partial.fragments) {
        if (g.offset + g.data.length > end) return this.discard(key, `${f}-frag-inconsistent`);
      }
      partial.total = end;
    }
    if (partial.total >= 0 && end > partial.total) {
      return this.discard(key, `${f}-frag-inconsistent`);
    }
    let insertAt = partial.fragments.length;
    for (let i = 0; i < partial.fragments.length; i++) {
      const g = partial.fragments[i]!;
      const gEnd = g.offset + g.data.length;
      if (g.offset === offset && gEnd === end) {
        this.counters.drop(`${f}-frag-duplicate`);
        return undefined;
      }
      if (offset < gEnd && g.offset < end) return this.discard(key, `${f}-frag-overlap`);
      if (g.offset > offset && insertAt === partial.fragments.length) insertAt = i;
    }
    partial.fragments.splice(insertAt, 0, { offset, data: data.slice() });
    partial.bytes += data.length;
    this.bufferedBytes += data.length;
    if (offset === 0) partial.header = header.slice();
    if (partial.header !== null && partial.total >= 0 && partial.bytes === partial.total) {
      // No overlaps and the byte count matches the extent: the datagram is whole.
      this.partials.delete(key);
      this.bufferedBytes -= partial.bytes;
      return { header: partial.header, fragments: partial.fragments, total: partial.total };
    }
    while (this.bufferedBytes > this.limits.maxBytes && this.partials.size > 0) this.evictOldest();
    return undefined;
  }

  /** Drops partial datagrams whose time is up. */
  poll(now: number): void {
    for (const [key, partial] of this.partials) {
      if (partial.deadline <= now) this.discard(key, `${this.family}-frag-timeout`);
    }
  }

  /** The earliest deadline, or undefined when nothing is pending. */
  pollAt(): number | undefined {
    let at: number | undefined;
    for (const p of this.partials.values()) {
      if (at === undefined || p.deadline < at) at = p.deadline;
    }
    return at;
  }

  /** Forgets everything. */
  clear(): void {
    this.partials.clear();
    this.bufferedBytes = 0;
  }

  private evictOldest(): void {
    const oldest = this.partials.keys().next();
    if (!oldest.done) this.discard(oldest.value, `${this.family}-frag-evicted`);
  }

  private discard(key: string, reason: string): undefined {
    const p = this.partials.get(key);
    if (p !== undefined) {
      this.bufferedBytes -= p.bytes;
      this.partials.delete(key);
    }
    this.counters.drop(reason);
    return undefined;
  }
}

function assembleIpv4(header: Uint8Array, fragments: Fragment[], total: number): Uint8Array {
  const out = new Uint8Array(header.length + total);
  out.set(header);
  for (const f of fragments) out.set(f.data, header.length + f.offset);
  const p = new Ipv4Packet(out);
  p.totalLength = out.length;
  p.flagsFrag = 0;
  p.fillChecksum();
  return out;
}
