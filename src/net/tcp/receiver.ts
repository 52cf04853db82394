// The receive side of a connection: in-order delivery, out-of-order reassembly and the receive window.

import { ByteRing } from "./ring.ts";
import { seqAdd, seqDiff, seqGt, seqLe, seqLt } from "./seqnum.ts";

/**
 * Receive buffer and reassembly. Out-of-order data is written straight into the ring at its
 * offset beyond the in-order tail, and its sequence range is remembered; when the gap fills,
 * the ranges are committed. The window is the ring's free space, so unread data shrinks it
 * (RFC 9293 section 3.8.6.2.2: the right edge never moves left while data arrives).
 */
export class Receiver {
  /** In-order bytes not yet consumed by the application, plus room for out-of-order ones. */
  readonly ring: ByteRing;
  /** RCV.NXT: the next sequence number expected. */
  nxt = 0;
  /** Out-of-order ranges [start, end) in sequence space, sorted, disjoint, all beyond `nxt`. */
  readonly #ranges: number[] = [];

  /** Creates a receiver with a buffer of `capacity` bytes. */
  constructor(capacity: number) {
    this.ring = new ByteRing(capacity);
  }

  /** Bytes that may still arrive beyond RCV.NXT: the real receive window. */
  get window(): number {
    return this.ring.free;
  }

  /** Number of out-of-order ranges held. */
  get outOfOrderRanges(): number {
    return this.#ranges.length / 2;
  }

  /**
   * Stores `payload` that starts at sequence `seq`, trimming what is old or beyond the window.
   * Returns the number of bytes newly delivered in order (RCV.NXT advanced by that much).
   */
  accept(seq: number, payload: Uint8Array): number {
    let off = seqDiff(seq, this.nxt);
    if (off < 0) {
      if (-off >= payload.length) return 0;
      payload = payload.subarray(-off);
      off = 0;
    }
    const room = this.ring.free - off;
    if (room <= 0) return 0;
    if (payload.length > room) payload = payload.subarray(0, room);
    if (payload.length === 0) return 0;
    this.ring.writeAt(this.ring.length + off, payload);
    if (off > 0) {
      this.#insert(seqAdd(this.nxt, off), seqAdd(this.nxt, off + payload.length));
      return 0;
    }
    const before = this.nxt;
    this.ring.commit(payload.length);
    this.nxt = seqAdd(this.nxt, payload.length);
    // Pull in queued ranges that the new data reaches.
    const r = this.#ranges;
    while (r.length > 0 && seqLe(r[0]!, this.nxt)) {
      const end = r[1]!;
      if (seqGt(end, this.nxt)) {
        this.ring.commit(seqDiff(end, this.nxt));
        this.nxt = end;
      }
      r.splice(0, 2);
    }
    return seqDiff(this.nxt, before);
  }

  /** Advances RCV.NXT past a control flag (SYN or FIN) that occupies one sequence number. */
  advanceForFlag(): void {
    this.nxt = seqAdd(this.nxt, 1);
  }

  #insert(start: number, end: number): void {
    const r = this.#ranges;
    let i = 0;
    while (i < r.length && seqLt(r[i + 1]!, start)) i += 2;
    // Merge with every range that overlaps or touches [start, end).
    let s = start;
    let e = end;
    let j = i;
    while (j < r.length && seqLe(r[j]!, e)) {
      if (seqGt(s, r[j]!)) s = r[j]!;
      if (seqGt(r[j + 1]!, e)) e = r[j + 1]!;
      j += 2;
    }
    r.splice(i, j - i, s, e);
  }
}
