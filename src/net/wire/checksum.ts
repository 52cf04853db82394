// The Internet checksum (RFC 1071) and the IPv4/IPv6 pseudo-header sums that TCP, UDP and ICMPv6 use.

/**
 * Adds the 16-bit big-endian words of `bytes[start, end)` to `sum` without
 * folding; an odd final byte is padded with zero (RFC 1071 section 4.1).
 * Fold the result with {@link foldChecksum}.
 */
export function sumWords(bytes: Uint8Array, start = 0, end = bytes.length, sum = 0): number {
  let i = start;
  const even = end - ((end - start) & 1);
  // Sums stay exact in a double far beyond any frame length: no folding in the loop.
  for (; i < even; i += 2) sum += (bytes[i]! << 8) | bytes[i + 1]!;
  if (i < end) sum += bytes[i]! << 8;
  return sum;
}

/** Folds a running sum to 16 bits and returns its one's complement: the value to put on the wire. */
export function foldChecksum(sum: number): number {
  while (sum > 0xffff) sum = (sum & 0xffff) + Math.floor(sum / 0x10000);
  return ~sum & 0xffff;
}

/**
 * Returns the Internet checksum of `bytes[start, end)`. A region that already
 * holds a correct checksum field sums to 0.
 *
 * @example
 * ```ts
 * import { internetChecksum } from "./checksum.ts";
 * // RFC 1071 section 3 example words 0001 f203 f4f5 f6f7 sum to ddf2; checksum 220d.
 * const b = new Uint8Array([0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7]);
 * console.assert(internetChecksum(b) === 0x220d);
 * ```
 */
export function internetChecksum(bytes: Uint8Array, start = 0, end = bytes.length): number {
  return foldChecksum(sumWords(bytes, start, end));
}

/** The unfolded sum of the IPv4 pseudo-header (RFC 793 section 3.1, RFC 768). Addresses are uint32. */
export function ipv4PseudoSum(src: number, dst: number, protocol: number, length: number): number {
  return (src >>> 16) + (src & 0xffff) + (dst >>> 16) + (dst & 0xffff) + protocol + length;
}

/** The unfolded sum of the IPv6 pseudo-header (RFC 8200 section 8.1); addresses are 16-byte arrays. */
export function ipv6PseudoSum(
  src: Uint8Array,
  dst: Uint8Array,
  nextHeader: number,
  length: number,
): number {
  return sumWords(src, 0, 16) + sumWords(dst, 0, 16) + (length >>> 16) + (length & 0xffff) +
    nextHeader;
}
