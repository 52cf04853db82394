// Sequence-number arithmetic modulo 2**32 (RFC 9293 section 3.4): comparisons that survive wrap-around.

/** Adds `n` to sequence number `a`, wrapping to uint32. */
export function seqAdd(a: number, n: number): number {
  return (a + n) >>> 0;
}

/** The signed distance `a - b` (valid while the two are within 2**31 of each other). */
export function seqDiff(a: number, b: number): number {
  return (a - b) | 0;
}

/** `a < b` in sequence space. */
export function seqLt(a: number, b: number): boolean {
  return ((a - b) | 0) < 0;
}

/** `a <= b` in sequence space. */
export function seqLe(a: number, b: number): boolean {
  return ((a - b) | 0) <= 0;
}

/** `a > b` in sequence space. */
export function seqGt(a: number, b: number): boolean {
  return ((a - b) | 0) > 0;
}

/** `a >= b` in sequence space. */
export function seqGe(a: number, b: number): boolean {
  return ((a - b) | 0) >= 0;
}

/** The later of two sequence numbers. */
export function seqMax(a: number, b: number): number {
  return seqGt(a, b) ? a : b;
}

/** True when `start <= x < start + size` in sequence space. */
export function seqInWindow(x: number, start: number, size: number): boolean {
  const d = (x - start) >>> 0;
  return d < size;
}
