// The Ethernet interface: frame dispatch, ARP for the gateway address, the neighbour entry and transmit.
//
// Theory of operation: the link has exactly two hosts, the container and the
// gateway the stack plays. Received frames must be addressed to the
// gateway's MAC or to broadcast; ARP requests for the gateway address are
// answered (RFC 826), and the container's MAC is learned from any ARP packet
// or IPv4 frame it sends from its address. Outgoing IPv4 frames to the
// container wait in a small queue while its MAC is unknown; an ARP request
// is sent at once and repeated every second, three times, after which the
// queue is dropped (RFC 1122 section 2.3.2.2 asks for at least one queued
// packet and for rate-limited requests). Frames are built by the IPv4 layer
// in this interface's one transmit buffer and handed to `send`, which must
// consume them before returning.

import { ARP_LEN, ArpOperation, ArpPacket } from "../wire/arp.ts";
import {
  ETH_HEADER_LEN,
  EthernetFrame,
  EtherType,
  isGroupMac,
  MAC_BROADCAST,
  macEquals,
} from "../wire/ethernet.ts";
import { IPV4_BROADCAST } from "../wire/ipv4_address.ts";
import { MalformedFrame } from "../wire/malformed.ts";
import { type NetworkConfig, onLink, subnetBroadcast } from "../config.ts";
import type { Counters } from "./counters.ts";

/** Queue and retry limits for neighbour resolution. */
export const ARP_RETRY_MS = 1000;
/** ARP requests sent before queued frames are dropped. */
export const ARP_MAX_REQUESTS = 3;
/** Frames queued per unresolved neighbour. */
export const ARP_QUEUE_FRAMES = 64;
/** Bytes queued per unresolved neighbour. */
export const ARP_QUEUE_BYTES = 1024 * 1024;

interface Pending {
  ip: number;
  frames: Uint8Array[];
  bytes: number;
  requests: number;
  nextRequest: number;
}

/** Receives the Ethernet payload of an IPv4 frame. */
export type Ipv4Input = (packet: Uint8Array, srcMac: Uint8Array, now: number) => void;

/** The Ethernet side of the stack. */
export class Interface {
  /** The reusable transmit buffer: an Ethernet header plus one MTU. */
  readonly txBuffer: Uint8Array;
  private readonly arpBuffer = new Uint8Array(ETH_HEADER_LEN + ARP_LEN);
  private neighbourIp = -1;
  private readonly neighbourMac = new Uint8Array(6);
  private pending: Pending | null = null;
  private readonly broadcast: number;
  /** Receives IPv6 frames once the stack attaches its IPv6 layer; until then they are dropped. */
  ipv6Input: Ipv4Input | null = null;

  /** Creates the interface; `send` gets each outgoing frame, valid only during the call. */
  constructor(
    private readonly config: NetworkConfig,
    private readonly send: (frame: Uint8Array) => void,
    private readonly counters: Counters,
    private readonly ipv4Input: Ipv4Input,
  ) {
    // Room for a whole 64 KiB datagram: TCP segments larger than the MTU go out whole when the
    // link offloads segmentation.
    this.txBuffer = new Uint8Array(ETH_HEADER_LEN + Math.max(config.mtu, 0xffff));
    this.broadcast = subnetBroadcast(config);
  }

  /** The container's MAC once learned. */
  get containerMac(): Uint8Array | undefined {
    return this.neighbourIp === this.config.containerAddress
      ? this.neighbourMac.slice()
      : undefined;
  }

  /** Handles one received frame; throws {@link MalformedFrame} for the caller to count. */
  receive(frame: Uint8Array, now: number): void {
    const eth = EthernetFrame.check(frame);
    const dst = eth.dst;
    // RFC 2464 section 7: IPv6 multicast (NDP, router solicitations) arrives on 33:33:xx groups.
    const v6Group = dst[0] === 0x33 && dst[1] === 0x33 && eth.etherType === EtherType.IPV6;
    if (!macEquals(dst, this.config.gatewayMac) && !macEquals(dst, MAC_BROADCAST) && !v6Group) {
      throw new MalformedFrame(isGroupMac(dst) ? "eth-multicast" : "eth-not-for-us");
    }
    if (isGroupMac(eth.src)) throw new MalformedFrame("eth-bad-source");
    switch (eth.etherType) {
      case EtherType.ARP:
        this.arpInput(eth);
        return;
      case EtherType.IPV4:
        this.ipv4Input(eth.payload, eth.src, now);
        return;
      case EtherType.IPV6:
        if (this.ipv6Input === null) throw new MalformedFrame("eth-ipv6");
        this.ipv6Input(eth.payload, eth.src, now);
        return;
      default:
        throw new MalformedFrame("eth-unknown-type");
    }
  }

  /**
   * Called by the IPv4 layer for a frame from the container's address: keeps
   * the neighbour entry current when the container's MAC changes.
   */
  noteSender(ip: number, mac: Uint8Array): void {
    if (
      ip === this.config.containerAddress &&
      (this.neighbourIp !== ip || !macEquals(mac, this.neighbourMac))
    ) {
      this.learn(ip, mac);
    }
  }

  /**
   * Sends the IPv4 frame of `length` bytes that the caller built in
   * {@link txBuffer} (Ethernet header left for this method) to `nextHop`.
   */
  transmitIpv4(length: number, nextHop: number, now: number): void {
    const frame = this.txBuffer.subarray(0, length);
    const eth = new EthernetFrame(frame);
    eth.src = this.config.gatewayMac;
    eth.etherType = EtherType.IPV4;
    if (nextHop === IPV4_BROADCAST || nextHop === this.broadcast) {
      eth.dst = MAC_BROADCAST;
      this.output(frame);
      return;
    }
    if (!onLink(this.config, nextHop) || nextHop === this.config.gatewayAddress) {
      this.counters.drop("ipv4-no-route");
      return;
    }
    if (this.neighbourIp === nextHop) {
      eth.dst = this.neighbourMac;
      this.output(frame);
      return;
    }
    this.enqueue(nextHop, frame, now);
  }

  /** Sends `frame` (payload in place, Ethernet header written here) to `dstMac` as `etherType`. */
  transmitEthernet(frame: Uint8Array, dstMac: Uint8Array, etherType: number): void {
    const eth = new EthernetFrame(frame);
    eth.dst = dstMac;
    eth.src = this.config.gatewayMac;
    eth.etherType = etherType;
    this.output(frame);
  }

  /** Retries ARP requests and drops queues that waited too long. */
  poll(now: number): void {
    const p = this.pending;
    if (p === null || p.nextRequest > now) return;
    if (p.requests >= ARP_MAX_REQUESTS) {
      for (let i = 0; i < p.frames.length; i++) this.counters.drop("arp-unresolved");
      this.pending = null;
      return;
    }
    this.sendArpRequest(p, now);
  }

  /** When {@link poll} next has work, or undefined. */
  pollAt(): number | undefined {
    return this.pending?.nextRequest;
  }

  /** Forgets the neighbour and drops queued frames. */
  clear(): void {
    this.pending = null;
    this.neighbourIp = -1;
  }

  private output(frame: Uint8Array): void {
    this.counters.count("tx-frames");
    try {
      this.send(frame);
    } catch {
      this.counters.drop("tx-error");
    }
  }

  private enqueue(ip: number, frame: Uint8Array, now: number): void {
    let p = this.pending;
    if (p !== null && p.ip !== ip) {
      // One neighbour on this link: a different target replaces the old queue.
      for (let i = 0; i < p.frames.length; i++) this.counters.drop("arp-unresolved");
      p = null;
    }
    if (p === null) {
      p = { ip, frames: [], bytes: 0, requests: 0, nextRequest: now };
      this.pending = p;
    }
    if (p.frames.length >= ARP_QUEUE_FRAMES || p.bytes + frame.length > ARP_QUEUE_BYTES) {
      this.counters.drop("arp-queue-full");
      return;
    }
    p.frames.push(frame.slice());
    p.bytes += frame.length;
    if (p.requests === 0) this.sendArpRequest(p, now);
  }

  private sendArpRequest(p: Pending, now: number): void {
    p.requests++;
    p.nextRequest = now + ARP_RETRY_MS;
    this.emitArp(ArpOperation.REQUEST, MAC_BROADCAST, new Uint8Array(6), p.ip);
    this.counters.count("arp-requests-sent");
  }

  private emitArp(op: number, ethDst: Uint8Array, targetMac: Uint8Array, targetIp: number): void {
    const eth = new EthernetFrame(this.arpBuffer);
    eth.dst = ethDst;
    eth.src = this.config.gatewayMac;
    eth.etherType = EtherType.ARP;
    const arp = new ArpPacket(this.arpBuffer.subarray(ETH_HEADER_LEN));
    arp.htype = 1;
    arp.ptype = EtherType.IPV4;
    arp.hlen = 6;
    arp.plen = 4;
    arp.operation = op;
    arp.senderMac = this.config.gatewayMac;
    arp.senderIp = this.config.gatewayAddress;
    arp.targetMac = targetMac;
    arp.targetIp = targetIp;
    this.output(this.arpBuffer);
  }

  private arpInput(eth: EthernetFrame): void {
    const arp = ArpPacket.check(eth.payload);
    const op = arp.operation;
    if (op !== ArpOperation.REQUEST && op !== ArpOperation.REPLY) {
      throw new MalformedFrame("arp-bad-operation");
    }
    const senderIp = arp.senderIp;
    if (senderIp === this.config.gatewayAddress) throw new MalformedFrame("arp-address-conflict");
    if (isGroupMac(arp.senderMac)) throw new MalformedFrame("arp-bad-sender");
    // RFC 826 "merge": learn the sender when it is the container (probes have sender 0).
    if (senderIp === this.config.containerAddress) {
      this.noteSender(senderIp, arp.senderMac);
    }
    if (op === ArpOperation.REQUEST && arp.targetIp === this.config.gatewayAddress) {
      if (senderIp === 0) {
        // An RFC 5227 probe for our address: say it is taken.
        this.emitArp(ArpOperation.REPLY, MAC_BROADCAST, arp.senderMac.slice(), senderIp);
      } else {
        this.emitArp(ArpOperation.REPLY, arp.senderMac.slice(), arp.senderMac.slice(), senderIp);
      }
      this.counters.count("arp-replies-sent");
      return;
    }
    this.counters.count("arp-ignored");
  }

  private learn(ip: number, mac: Uint8Array): void {
    this.neighbourIp = ip;
    this.neighbourMac.set(mac.subarray(0, 6));
    this.counters.count("arp-learned");
    const p = this.pending;
    if (p === null || p.ip !== ip) return;
    this.pending = null;
    for (const frame of p.frames) {
      new EthernetFrame(frame).dst = this.neighbourMac;
      this.output(frame);
    }
  }
}
