// IPv6 addresses (RFC 4291) as 16-byte arrays: parsing, RFC 5952 text, scopes, and numeric ids.
//
// The TCP layer and the UDP services key flows by numbers. An IPv6 address is
// interned to a number above 2^32 (never an IPv4 address) whose low 32 bits
// are chosen so that the IPv4 pseudo-header arithmetic of `ipv4PseudoSum`
// (the two 16-bit halves of each address) gives the same one's complement sum
// as the 128-bit address does in the IPv6 pseudo-header (RFC 8200 section
// 8.1): the other fields (length, protocol) are summed alike for segments
// under 64 KiB, so TCP and UDP checksums need no family switch. Ids are
// stable for the life of the process and never reclaimed: the table is capped
// at {@link IPV6_ID_CAPACITY} addresses (about 40 MB at worst), after which
// packets from or to new addresses are dropped and counted.

/** Length of an IPv6 address in bytes. */
export const IPV6_ADDRESS_LEN = 16;
/** The most distinct addresses that can be interned. */
export const IPV6_ID_CAPACITY = 1 << 18;
/** The first id: everything from here up is an interned IPv6 address. */
export const IPV6_ID_BASE = 2 ** 32;

/** The unspecified address `::`. */
export const IPV6_UNSPECIFIED: Uint8Array = new Uint8Array(16);
/** All-nodes link-local multicast `ff02::1` (RFC 4291 section 2.7.1). */
export const IPV6_ALL_NODES: Uint8Array = parseIpv6("ff02::1");
/** All-routers link-local multicast `ff02::2`. */
export const IPV6_ALL_ROUTERS: Uint8Array = parseIpv6("ff02::2");

/**
 * Parses RFC 4291 section 2.2 text (`"fd00:15::1"`, `"::ffff:1.2.3.4"`) into 16 bytes.
 * Throws a `TypeError` for anything else (no zone ids, no prefixes).
 *
 * @example
 * ```ts
 * import { parseIpv6 } from "./ipv6_address.ts";
 * const a = parseIpv6("fd00:15::1");
 * console.assert(a[0] === 0xfd && a[3] === 0x15 && a[15] === 1);
 * ```
 */
export function parseIpv6(text: string): Uint8Array {
  const bad = () => new TypeError(`Invalid IPv6 address "${text}"`);
  let body = text;
  const tail: number[] = [];
  const v4 = /^(.*:)(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (v4 !== null) {
    body = v4[1]!.endsWith("::") ? v4[1]! : v4[1]!.slice(0, -1);
    for (const part of v4[2]!.split(".")) {
      if (!/^(0|[1-9][0-9]{0,2})$/.test(part) || Number(part) > 255) throw bad();
      tail.push(Number(part));
    }
  }
  const halves = body.split("::");
  if (halves.length > 2) throw bad();
  const groups = (s: string): number[] => {
    if (s === "") return [];
    return s.split(":").map((g) => {
      if (!/^[0-9a-fA-F]{1,4}$/.test(g)) throw bad();
      return parseInt(g, 16);
    });
  };
  const head = groups(halves[0]!);
  const rest = halves.length === 2 ? groups(halves[1]!) : [];
  const words = 8 - tail.length / 2;
  const missing = words - head.length - rest.length;
  if (halves.length === 2 ? missing < 1 : missing !== 0) throw bad();
  const all = [...head, ...new Array<number>(missing).fill(0), ...rest];
  const out = new Uint8Array(16);
  all.forEach((w, i) => {
    out[2 * i] = w >> 8;
    out[2 * i + 1] = w & 0xff;
  });
  out.set(tail, 12);
  return out;
}

/** Returns the address, or undefined when `text` is not IPv6 text. */
export function tryParseIpv6(text: string): Uint8Array | undefined {
  try {
    return parseIpv6(text);
  } catch {
    return undefined;
  }
}

/**
 * Formats 16 bytes as RFC 5952 text: lowercase, no leading zeros, the longest
 * run of two or more zero groups (the first on a tie) shortened to `::`.
 *
 * @example
 * ```ts
 * import { formatIpv6, parseIpv6 } from "./ipv6_address.ts";
 * console.assert(formatIpv6(parseIpv6("FD00:0015:0:0:0:0:0:0001")) === "fd00:15::1");
 * ```
 */
export function formatIpv6(address: Uint8Array): string {
  const w: number[] = [];
  for (let i = 0; i < 8; i++) w.push((address[2 * i]! << 8) | address[2 * i + 1]!);
  let bestAt = -1;
  let bestLen = 1;
  for (let i = 0; i < 8;) {
    if (w[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && w[j] === 0) j++;
    if (j - i > bestLen) {
      bestAt = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hexes = w.map((x) => x.toString(16));
  if (bestAt < 0) return hexes.join(":");
  return `${hexes.slice(0, bestAt).join(":")}::${hexes.slice(bestAt + bestLen).join(":")}`;
}

/** True when both addresses hold the same 16 bytes. */
export function ipv6Equals(a: Uint8Array, b: Uint8Array): boolean {
  for (let i = 0; i < 16; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** True for `::` (RFC 4291 section 2.5.2). */
export function isIpv6Unspecified(a: Uint8Array): boolean {
  return ipv6Equals(a, IPV6_UNSPECIFIED);
}

/** True for multicast, `ff00::/8` (RFC 4291 section 2.7). */
export function isIpv6Multicast(a: Uint8Array): boolean {
  return a[0] === 0xff;
}

/** True for link-local unicast, `fe80::/10` (RFC 4291 section 2.5.6). */
export function isIpv6LinkLocal(a: Uint8Array): boolean {
  return a[0] === 0xfe && (a[1]! & 0xc0) === 0x80;
}

/** True when the first `prefixLength` bits of `a` and `prefix` agree. */
export function ipv6InPrefix(a: Uint8Array, prefix: Uint8Array, prefixLength: number): boolean {
  let bits = prefixLength;
  for (let i = 0; bits > 0; i++, bits -= 8) {
    const mask = bits >= 8 ? 0xff : (0xff << (8 - bits)) & 0xff;
    if (((a[i]! ^ prefix[i]!) & mask) !== 0) return false;
  }
  return true;
}

/**
 * True for unicast destinations a flow may leave the link for: not
 * unspecified, loopback, multicast, link-local, IPv4-mapped (`::ffff:0:0/96`)
 * or site-local (RFC 4291 sections 2.5 and 2.7, RFC 3879).
 */
export function isIpv6GlobalUnicast(a: Uint8Array): boolean {
  if (isIpv6Unspecified(a) || isIpv6Multicast(a) || isIpv6LinkLocal(a)) return false;
  if (a[0] === 0xfe && (a[1]! & 0xc0) === 0xc0) return false;
  let zeros = 0;
  while (zeros < 15 && a[zeros] === 0) zeros++;
  if (zeros === 15 && a[15] === 1) return false; // ::1
  if (zeros >= 10 && a[10] === 0xff && a[11] === 0xff) return false; // ::ffff:0:0/96
  return true;
}

/** The solicited-node multicast address `ff02::1:ffXX:XXXX` of `a` (RFC 4291 section 2.7.1). */
export function solicitedNodeAddress(a: Uint8Array): Uint8Array {
  const out = parseIpv6("ff02::1:ff00:0");
  out.set(a.subarray(13, 16), 13);
  return out;
}

/** The Ethernet group MAC `33:33:` + the low 32 bits of multicast `a` (RFC 2464 section 7). */
export function multicastMac(a: Uint8Array): Uint8Array {
  const mac = new Uint8Array([0x33, 0x33, 0, 0, 0, 0]);
  mac.set(a.subarray(12, 16), 2);
  return mac;
}

/** The modified EUI-64 link-local address of `mac` (RFC 4291 appendix A, RFC 4862 section 5.3). */
export function linkLocalFromMac(mac: Uint8Array): Uint8Array {
  const out = parseIpv6("fe80::");
  out[8] = mac[0]! ^ 0x02;
  out[9] = mac[1]!;
  out[10] = mac[2]!;
  out[11] = 0xff;
  out[12] = 0xfe;
  out[13] = mac[3]!;
  out[14] = mac[4]!;
  out[15] = mac[5]!;
  return out;
}

const ids = new Map<string, number>();
const addresses: Uint8Array[] = [];

function keyOf(a: Uint8Array): string {
  let s = "";
  for (let i = 0; i < 16; i++) s += String.fromCharCode(a[i]!);
  return s;
}

/**
 * The numeric id of `address` (see the file comment), interning it on first
 * use. Returns undefined when the table is full.
 *
 * @example
 * ```ts
 * import { ipv6FromId, ipv6Id, parseIpv6 } from "./ipv6_address.ts";
 * const id = ipv6Id(parseIpv6("fd00:15::1"))!;
 * console.assert(id >= 2 ** 32 && ipv6Id(parseIpv6("fd00:15::1")) === id);
 * console.assert(ipv6FromId(id)![15] === 1);
 * ```
 */
export function ipv6Id(address: Uint8Array): number | undefined {
  const key = keyOf(address);
  const known = ids.get(key);
  if (known !== undefined) return known;
  const index = addresses.length;
  if (index >= IPV6_ID_CAPACITY) return undefined;
  let sum = 0;
  for (let i = 0; i < 16; i += 2) sum += (address[i]! << 8) | address[i + 1]!;
  // ipv4PseudoSum adds (id >>> 16) + (id & 0xffff), both taken from id mod 2^32:
  // (index & 0xffff) + low must equal the address's word sum modulo 0xffff.
  const low = (((sum - (index & 0xffff)) % 0xffff) + 0xffff) % 0xffff;
  const id = IPV6_ID_BASE + index * 0x10000 + low;
  ids.set(key, id);
  addresses.push(address.slice(0, 16));
  return id;
}

/** The address behind an id from {@link ipv6Id}, or undefined for any other number. */
export function ipv6FromId(id: number): Uint8Array | undefined {
  if (id < IPV6_ID_BASE) return undefined;
  const a = addresses[Math.floor((id - IPV6_ID_BASE) / 0x10000)];
  return a !== undefined && ids.get(keyOf(a)) === id ? a : undefined;
}

/** True when `n` is (shaped like) an interned IPv6 id rather than an IPv4 address. */
export function isIpv6Id(n: number): boolean {
  return n >= IPV6_ID_BASE;
}
