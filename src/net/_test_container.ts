// Test helpers that play the container on a memory link: build frames it would send, parse what it gets.

import { DEFAULT_NETWORK_CONFIG, type NetworkConfig } from "./config.ts";
import { ArpOperation, ArpRepr } from "./wire/arp.ts";
import {
  ETH_HEADER_LEN,
  EthernetFrame,
  EthernetRepr,
  EtherType,
  MAC_BROADCAST,
} from "./wire/ethernet.ts";
import { Icmpv4Repr } from "./wire/icmpv4.ts";
import { IpProtocol, IPV4_FLAG_MF, IPV4_HEADER_LEN, Ipv4Packet, Ipv4Repr } from "./wire/ipv4.ts";
import { UdpRepr } from "./wire/udp.ts";

/** The container's MAC in tests. */
export const CONTAINER_MAC = new Uint8Array([0x02, 0, 0, 0, 0, 0x02]);

/** Builds frames from the container to the gateway. */
export class FakeContainer {
  /** Creates the helper for `config`. */
  constructor(readonly config: NetworkConfig = DEFAULT_NETWORK_CONFIG) {}

  /** An Ethernet frame around `payload`. */
  ethernet(
    etherType: number,
    payload: Uint8Array,
    dst: Uint8Array = this.config.gatewayMac,
  ): Uint8Array {
    const f = new Uint8Array(ETH_HEADER_LEN + payload.length);
    EthernetRepr.emit({ dst, src: CONTAINER_MAC, etherType }, f);
    f.set(payload, ETH_HEADER_LEN);
    return f;
  }

  /** An ARP request for `target` (the gateway by default). */
  arpRequest(
    target = this.config.gatewayAddress,
    sender = this.config.containerAddress,
  ): Uint8Array {
    const arp = new Uint8Array(28);
    ArpRepr.emit({
      operation: ArpOperation.REQUEST,
      senderMac: CONTAINER_MAC,
      senderIp: sender,
      targetMac: new Uint8Array(6),
      targetIp: target,
    }, arp);
    return this.ethernet(EtherType.ARP, arp, MAC_BROADCAST);
  }

  /** An ARP reply telling the gateway where the container is. */
  arpReply(): Uint8Array {
    const arp = new Uint8Array(28);
    ArpRepr.emit({
      operation: ArpOperation.REPLY,
      senderMac: CONTAINER_MAC,
      senderIp: this.config.containerAddress,
      targetMac: this.config.gatewayMac,
      targetIp: this.config.gatewayAddress,
    }, arp);
    return this.ethernet(EtherType.ARP, arp);
  }

  /** An IPv4 datagram (unfragmented) in a frame. */
  ipv4(
    protocol: number,
    payload: Uint8Array,
    dst = this.config.gatewayAddress,
    opts: { src?: number; ttl?: number; ident?: number } = {},
  ): Uint8Array {
    const ip = new Uint8Array(IPV4_HEADER_LEN + payload.length);
    Ipv4Repr.emit({
      src: opts.src ?? this.config.containerAddress,
      dst,
      protocol,
      ttl: opts.ttl ?? 64,
      payloadLen: payload.length,
      ident: opts.ident ?? 1,
    }, ip);
    ip.set(payload, IPV4_HEADER_LEN);
    const bcast = dst === 0xffffffff;
    return this.ethernet(EtherType.IPV4, ip, bcast ? MAC_BROADCAST : this.config.gatewayMac);
  }

  /** One fragment: `data` at byte `offset` of the datagram's payload. */
  fragment(
    protocol: number,
    ident: number,
    offset: number,
    data: Uint8Array,
    more: boolean,
    dst = this.config.gatewayAddress,
  ): Uint8Array {
    const frame = this.ipv4(protocol, data, dst, { ident });
    const p = new Ipv4Packet(frame.subarray(ETH_HEADER_LEN));
    p.flagsFrag = (more ? IPV4_FLAG_MF : 0) | (offset >>> 3);
    p.fillChecksum();
    return frame;
  }

  /** An ICMP echo request frame. */
  ping(dst = this.config.gatewayAddress, seq = 1, data = new Uint8Array([1, 2, 3, 4])): Uint8Array {
    return this.ipv4(IpProtocol.ICMP, this.icmpEcho(seq, data), dst);
  }

  /** An ICMP echo request message. */
  icmpEcho(seq: number, data: Uint8Array, ident = 0x4242): Uint8Array {
    const repr: Icmpv4Repr = { kind: "echo-request", ident, seq, data };
    const msg = new Uint8Array(Icmpv4Repr.bufferLen(repr));
    Icmpv4Repr.emit(repr, msg);
    return msg;
  }

  /** A UDP datagram frame. */
  udp(
    srcPort: number,
    dst: number,
    dstPort: number,
    payload: Uint8Array,
    src = this.config.containerAddress,
  ): Uint8Array {
    const repr = { srcPort, dstPort, payload };
    const msg = new Uint8Array(UdpRepr.bufferLen(repr));
    UdpRepr.emit(repr, msg, src, dst);
    return this.ipv4(IpProtocol.UDP, msg, dst, { src });
  }
}

/** What the container received, parsed as far as it goes. */
export interface Received {
  /** The Ethernet header. */
  eth: EthernetRepr;
  /** The IPv4 header, for IPv4 frames. */
  ip?: Ipv4Repr;
  /** The raw IP payload. */
  ipPayload?: Uint8Array;
  /** The ARP packet, for ARP frames. */
  arp?: ArpRepr;
}

/** Parses a frame the stack sent. Fragments are left unparsed above IP (ip undefined, ipPayload set). */
export function parseSent(frame: Uint8Array): Received {
  const eth = EthernetRepr.parse(frame);
  const body = new EthernetFrame(frame).payload;
  if (eth.etherType === EtherType.ARP) return { eth, arp: ArpRepr.parse(body) };
  const p = Ipv4Packet.check(body);
  if (p.moreFragments || p.fragmentOffset !== 0) return { eth, ipPayload: p.payload };
  return { eth, ip: Ipv4Repr.parse(body), ipPayload: p.payload };
}
