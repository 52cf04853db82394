// Ethernet II frames (IEEE 802.3 with an EtherType, RFC 894): a view over the bytes and a parsed record.

import { MalformedFrame } from "./malformed.ts";

/** Offset of the destination MAC address. */
export const ETH_DST = 0;
/** Offset of the source MAC address. */
export const ETH_SRC = 6;
/** Offset of the EtherType. */
export const ETH_TYPE = 12;
/** Length of the Ethernet II header (no VLAN tag, no FCS: the TAP gives neither). */
export const ETH_HEADER_LEN = 14;

/** EtherType values the stack knows. */
export const EtherType = {
  /** Internet Protocol version 4. */
  IPV4: 0x0800,
  /** Address Resolution Protocol. */
  ARP: 0x0806,
  /** Internet Protocol version 6. */
  IPV6: 0x86dd,
} as const;

/** The broadcast MAC address ff:ff:ff:ff:ff:ff. */
export const MAC_BROADCAST: Uint8Array = new Uint8Array([0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);

/** Parses `"02:50:00:00:00:01"` into 6 bytes; throws a `TypeError` otherwise. */
export function parseMac(text: string): Uint8Array {
  const parts = text.split(":");
  if (parts.length !== 6 || parts.some((p) => !/^[0-9a-fA-F]{2}$/.test(p))) {
    throw new TypeError(`Invalid MAC address "${text}"`);
  }
  return new Uint8Array(parts.map((p) => parseInt(p, 16)));
}

/** Formats 6 bytes as lowercase colon-separated hex. */
export function formatMac(mac: Uint8Array): string {
  return Array.from(mac.subarray(0, 6), (b) => b.toString(16).padStart(2, "0")).join(":");
}

/** True when the two 6-byte addresses are equal. */
export function macEquals(a: Uint8Array, b: Uint8Array): boolean {
  for (let i = 0; i < 6; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** True for a broadcast or multicast address (the I/G bit, IEEE 802 section 8.2). */
export function isGroupMac(mac: Uint8Array): boolean {
  return (mac[0]! & 1) === 1;
}

/**
 * A zero-copy view over an Ethernet II frame. The constructor does not check
 * the length; use {@link EthernetFrame.check} first on untrusted input.
 */
export class EthernetFrame {
  /** The whole frame. */
  readonly bytes: Uint8Array;

  /** Wraps `bytes` without copying. */
  constructor(bytes: Uint8Array) {
    this.bytes = bytes;
  }

  /** Wraps `bytes` after checking that a header fits; throws {@link MalformedFrame}. */
  static check(bytes: Uint8Array): EthernetFrame {
    if (bytes.length < ETH_HEADER_LEN) throw new MalformedFrame("eth-truncated");
    return new EthernetFrame(bytes);
  }

  /** The destination address: a view, not a copy. */
  get dst(): Uint8Array {
    return this.bytes.subarray(ETH_DST, ETH_DST + 6);
  }
  set dst(mac: Uint8Array) {
    this.bytes.set(mac.subarray(0, 6), ETH_DST);
  }

  /** The source address: a view, not a copy. */
  get src(): Uint8Array {
    return this.bytes.subarray(ETH_SRC, ETH_SRC + 6);
  }
  set src(mac: Uint8Array) {
    this.bytes.set(mac.subarray(0, 6), ETH_SRC);
  }

  /** The EtherType. */
  get etherType(): number {
    return (this.bytes[ETH_TYPE]! << 8) | this.bytes[ETH_TYPE + 1]!;
  }
  set etherType(value: number) {
    this.bytes[ETH_TYPE] = value >>> 8;
    this.bytes[ETH_TYPE + 1] = value;
  }

  /** Everything after the header: a view. */
  get payload(): Uint8Array {
    return this.bytes.subarray(ETH_HEADER_LEN);
  }
}

/** The parsed Ethernet header. */
export interface EthernetRepr {
  /** Source MAC (6 bytes). */
  src: Uint8Array;
  /** Destination MAC (6 bytes). */
  dst: Uint8Array;
  /** EtherType, e.g. {@link EtherType.IPV4}. */
  etherType: number;
}

/** Parse, emit and size an {@link EthernetRepr}. */
export const EthernetRepr = {
  /** Parses the header of `bytes` (addresses are copied); throws {@link MalformedFrame}. */
  parse(bytes: Uint8Array): EthernetRepr {
    const f = EthernetFrame.check(bytes);
    return { src: f.src.slice(), dst: f.dst.slice(), etherType: f.etherType };
  },
  /** Writes the header into the first 14 bytes of `bytes`. */
  emit(repr: EthernetRepr, bytes: Uint8Array): void {
    const f = new EthernetFrame(bytes);
    f.dst = repr.dst;
    f.src = repr.src;
    f.etherType = repr.etherType;
  },
  /** The header length: 14. */
  bufferLen(): number {
    return ETH_HEADER_LEN;
  },
};
