// ARP for IPv4 over Ethernet (RFC 826): a view over the 28-byte packet and a parsed record.

import { MalformedFrame } from "./malformed.ts";
import { readIpv4, writeIpv4 } from "./ipv4_address.ts";

/** Offset of the hardware type. */
export const ARP_HTYPE = 0;
/** Offset of the protocol type. */
export const ARP_PTYPE = 2;
/** Offset of the hardware address length. */
export const ARP_HLEN = 4;
/** Offset of the protocol address length. */
export const ARP_PLEN = 5;
/** Offset of the operation. */
export const ARP_OPER = 6;
/** Offset of the sender hardware address. */
export const ARP_SHA = 8;
/** Offset of the sender protocol address. */
export const ARP_SPA = 14;
/** Offset of the target hardware address. */
export const ARP_THA = 18;
/** Offset of the target protocol address. */
export const ARP_TPA = 24;
/** Length of an Ethernet/IPv4 ARP packet. */
export const ARP_LEN = 28;

/** ARP operations (RFC 826). */
export const ArpOperation = {
  /** Who has TPA? */
  REQUEST: 1,
  /** SPA is at SHA. */
  REPLY: 2,
} as const;

/** A zero-copy view over an ARP packet (the Ethernet payload). */
export class ArpPacket {
  /** The packet bytes. */
  readonly bytes: Uint8Array;

  /** Wraps `bytes` without copying or checking. */
  constructor(bytes: Uint8Array) {
    this.bytes = bytes;
  }

  /** Checks length and the Ethernet/IPv4 type fields; throws {@link MalformedFrame}. */
  static check(bytes: Uint8Array): ArpPacket {
    if (bytes.length < ARP_LEN) throw new MalformedFrame("arp-truncated");
    const p = new ArpPacket(bytes);
    // RFC 826: only hardware type 1 (Ethernet) with protocol 0x0800 and lengths 6/4 are handled.
    if (p.htype !== 1 || p.ptype !== 0x0800 || p.hlen !== 6 || p.plen !== 4) {
      throw new MalformedFrame("arp-unsupported");
    }
    return p;
  }

  private u16(o: number): number {
    return (this.bytes[o]! << 8) | this.bytes[o + 1]!;
  }
  private setU16(o: number, v: number): void {
    this.bytes[o] = v >>> 8;
    this.bytes[o + 1] = v;
  }

  /** Hardware type (1 = Ethernet). */
  get htype(): number {
    return this.u16(ARP_HTYPE);
  }
  set htype(v: number) {
    this.setU16(ARP_HTYPE, v);
  }
  /** Protocol type (0x0800 = IPv4). */
  get ptype(): number {
    return this.u16(ARP_PTYPE);
  }
  set ptype(v: number) {
    this.setU16(ARP_PTYPE, v);
  }
  /** Hardware address length. */
  get hlen(): number {
    return this.bytes[ARP_HLEN]!;
  }
  set hlen(v: number) {
    this.bytes[ARP_HLEN] = v;
  }
  /** Protocol address length. */
  get plen(): number {
    return this.bytes[ARP_PLEN]!;
  }
  set plen(v: number) {
    this.bytes[ARP_PLEN] = v;
  }
  /** Operation: 1 request, 2 reply. */
  get operation(): number {
    return this.u16(ARP_OPER);
  }
  set operation(v: number) {
    this.setU16(ARP_OPER, v);
  }
  /** Sender hardware address (a view). */
  get senderMac(): Uint8Array {
    return this.bytes.subarray(ARP_SHA, ARP_SHA + 6);
  }
  set senderMac(mac: Uint8Array) {
    this.bytes.set(mac.subarray(0, 6), ARP_SHA);
  }
  /** Sender protocol address. */
  get senderIp(): number {
    return readIpv4(this.bytes, ARP_SPA);
  }
  set senderIp(ip: number) {
    writeIpv4(this.bytes, ARP_SPA, ip);
  }
  /** Target hardware address (a view). */
  get targetMac(): Uint8Array {
    return this.bytes.subarray(ARP_THA, ARP_THA + 6);
  }
  set targetMac(mac: Uint8Array) {
    this.bytes.set(mac.subarray(0, 6), ARP_THA);
  }
  /** Target protocol address. */
  get targetIp(): number {
    return readIpv4(this.bytes, ARP_TPA);
  }
  set targetIp(ip: number) {
    writeIpv4(this.bytes, ARP_TPA, ip);
  }
}

/** A parsed Ethernet/IPv4 ARP packet. */
export interface ArpRepr {
  /** {@link ArpOperation}. */
  operation: number;
  /** Sender MAC (6 bytes). */
  senderMac: Uint8Array;
  /** Sender IPv4 address. */
  senderIp: number;
  /** Target MAC (6 bytes; zero in requests). */
  targetMac: Uint8Array;
  /** Target IPv4 address. */
  targetIp: number;
}

/** Parse, emit and size an {@link ArpRepr}. */
export const ArpRepr = {
  /** Parses an ARP packet (addresses copied); throws {@link MalformedFrame}. */
  parse(bytes: Uint8Array): ArpRepr {
    const p = ArpPacket.check(bytes);
    const operation = p.operation;
    if (operation !== ArpOperation.REQUEST && operation !== ArpOperation.REPLY) {
      throw new MalformedFrame("arp-bad-operation");
    }
    return {
      operation,
      senderMac: p.senderMac.slice(),
      senderIp: p.senderIp,
      targetMac: p.targetMac.slice(),
      targetIp: p.targetIp,
    };
  },
  /** Writes the 28-byte packet into `bytes`. */
  emit(repr: ArpRepr, bytes: Uint8Array): void {
    const p = new ArpPacket(bytes);
    p.htype = 1;
    p.ptype = 0x0800;
    p.hlen = 6;
    p.plen = 4;
    p.operation = repr.operation;
    p.senderMac = repr.senderMac;
    p.senderIp = repr.senderIp;
    p.targetMac = repr.targetMac;
    p.targetIp = repr.targetIp;
  },
  /** Always 28. */
  bufferLen(): number {
    return ARP_LEN;
  },
};
