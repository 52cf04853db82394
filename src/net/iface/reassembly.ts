// IPv4 fragment reassembly (RFC 791 section 3.2, RFC 815) with bounded memory and a fixed timeout.
//
// Theory of operation: fragments are keyed by (source, destination, protocol,
// identification) as RFC 791 requires. Each partial datagram keeps a sorted
// list of copied fragment payloads and, once seen, the first fragment's
// header. Any overlap that is not an exact duplicate discards the whole
// datagram (the IPv6 rule of RFC 5722, which Linux also applies to IPv4): it
// defeats the overlapping-fragment attacks of RFC 1858 and keeps the bookkeeping
// simple. Limits: at most `maxDatagrams` partial datagrams and `maxBytes`
// buffered payload bytes in all; when either is exceeded the oldest partial
// datagram is evicted. A partial datagram lives `timeoutMs` from its first
// fragment (RFC 791's reassembly timer; Linux uses 30 s) and is then dropped.
// Left out: ICMP Time Exceeded (code 1) on timeout, which RFC 1122 makes optional.

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

  /** Creates an empty reassembler; drops are counted in `counters`. */
  constructor(
    private readonly counters: Counters,
    private readonly limits: ReassemblyLimits = DEFAULT_REASSEMBLY_LIMITS,
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
    const offset = packet.fragmentOffset;
    const more = packet.moreFragments;
    const data = packet.payload;
    const end = offset + data.length;
    if (data.length === 0 || (more && data.length % 8 !== 0)) {
      // RFC 791: every fragment but the last carries a multiple of 8 bytes.
      this.counters.drop("ipv4-frag-bad-length");
      return undefined;
    }
    if (end + packet.headerLen > 0xffff) {
      this.counters.drop("ipv4-frag-too-long");
      return undefined;
    }
    const key = `${packet.src}/${packet.dst}/${packet.protocol}/${packet.ident}`;
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
        return this.discard(key, "ipv4-frag-inconsistent");
      }
      // Data already held beyond the end the last fragment gives is a contradiction.
      for (const f of partial.fragments) {
        if (f.offset + f.data.length > end) return this.discard(key, "ipv4-frag-inconsistent");
      }
      partial.total = end;
    }
    if (partial.total >= 0 && end > partial.total) {
      return this.discard(key, "ipv4-frag-inconsistent");
    }
    let insertAt = partial.fragments.length;
    for (let i = 0; i < partial.fragments.length; i++) {
      const f = partial.fragments[i]!;
      const fEnd = f.offset + f.data.length;
      if (f.offset === offset && fEnd === end) {
        this.counters.drop("ipv4-frag-duplicate");
        return undefined;
      }
      if (offset < fEnd && f.offset < end) return this.discard(key, "ipv4-frag-overlap");
      if (f.offset > offset && insertAt === partial.fragments.length) insertAt = i;
    }
    partial.fragments.splice(insertAt, 0, { offset, data: data.slice() });
    partial.bytes += data.length;
    this.bufferedBytes += data.length;
    if (offset === 0) partial.header = packet.header.slice();
    if (partial.header !== null && partial.total >= 0 && partial.bytes === partial.total) {
      // No overlaps and the byte count matches the extent: the datagram is whole.
      this.partials.delete(key);
      this.bufferedBytes -= partial.bytes;
      return assemble(partial.header, partial.fragments, partial.total);
    }
    while (this.bufferedBytes > this.limits.maxBytes && this.partials.size > 0) this.evictOldest();
    return undefined;
  }

  /** Drops partial datagrams whose time is up. */
  poll(now: number): void {
    for (const [key, partial] of this.partials) {
      if (partial.deadline <= now) this.discard(key, "ipv4-frag-timeout");
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
    if (!oldest.done) this.discard(oldest.value, "ipv4-frag-evicted");
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

function assemble(header: Uint8Array, fragments: Fragment[], total: number): Uint8Array {
  const out = new Uint8Array(header.length + total);
  out.set(header);
  for (const f of fragments) out.set(f.data, header.length + f.offset);
  const p = new Ipv4Packet(out);
  p.totalLength = out.length;
  p.flagsFrag = 0;
  p.fillChecksum();
  return out;
}
