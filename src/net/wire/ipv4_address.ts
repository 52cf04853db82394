// Parsing and formatting IPv4 addresses as uint32 numbers in host order (RFC 791 section 3.2).

/** The limited broadcast address 255.255.255.255 (RFC 919). */
export const IPV4_BROADCAST = 0xffffffff;
/** The unspecified address 0.0.0.0. */
export const IPV4_UNSPECIFIED = 0;

/**
 * Parses dotted-quad notation (`"10.0.15.2"`) into a uint32. Throws a
 * `TypeError` for anything else (no shorthand forms, no leading zeros beyond "0").
 *
 * @example
 * ```ts
 * import { parseIpv4 } from "./ipv4_address.ts";
 * console.assert(parseIpv4("10.0.15.2") === 0x0a000f02);
 * ```
 */
export function parseIpv4(text: string): number {
  const parts = text.split(".");
  if (parts.length !== 4) throw new TypeError(`Invalid IPv4 address "${text}"`);
  let value = 0;
  for (const part of parts) {
    if (!/^(0|[1-9][0-9]{0,2})$/.test(part)) throw new TypeError(`Invalid IPv4 address "${text}"`);
    const n = Number(part);
    if (n > 255) throw new TypeError(`Invalid IPv4 address "${text}"`);
    value = value * 256 + n;
  }
  return value;
}

/** Returns the address as a uint32, or undefined when `text` is not a dotted quad. */
export function tryParseIpv4(text: string): number | undefined {
  try {
    return parseIpv4(text);
  } catch {
    return undefined;
  }
}

/**
 * Formats a uint32 address as a dotted quad.
 *
 * @example
 * ```ts
 * import { formatIpv4 } from "./ipv4_address.ts";
 * console.assert(formatIpv4(0x0a000f01) === "10.0.15.1");
 * ```
 */
export function formatIpv4(address: number): string {
  return `${(address >>> 24) & 0xff}.${(address >>> 16) & 0xff}.${(address >>> 8) & 0xff}.${
    address & 0xff
  }`;
}

/** Returns the netmask for a prefix length 0..32 as a uint32 (e.g. 30 gives 255.255.255.252). */
export function prefixToMask(prefix: number): number {
  if (!Number.isInteger(prefix) || prefix < 0 || prefix > 32) {
    throw new RangeError(`Invalid prefix length "${prefix}"`);
  }
  return prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
}

/** Reads a big-endian uint32 address at `offset`. */
export function readIpv4(bytes: Uint8Array, offset: number): number {
  return ((bytes[offset]! << 24) | (bytes[offset + 1]! << 16) | (bytes[offset + 2]! << 8) |
    bytes[offset + 3]!) >>> 0;
}

/** Writes a uint32 address big-endian at `offset`. */
export function writeIpv4(bytes: Uint8Array, offset: number, address: number): void {
  bytes[offset] = address >>> 24;
  bytes[offset + 1] = address >>> 16;
  bytes[offset + 2] = address >>> 8;
  bytes[offset + 3] = address;
}

/** True for 224.0.0.0/4 (RFC 5771). */
export function isMulticast(address: number): boolean {
  return (address >>> 28) === 0xe;
}
