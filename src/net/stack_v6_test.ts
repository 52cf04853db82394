// IPv6 tests of the stack on a memory link with a fake clock: NDP, router advertisements, echo, UDP, TCP.

import assert from "node:assert/strict";
import { NetworkStack } from "./stack.ts";
import { DEFAULT_NETWORK_CONFIG, networkConfig } from "./config.ts";
import { memoryLinkPair } from "./link/memory.ts";
import { CONTAINER_MAC } from "./_test_container.ts";
import { ETH_HEADER_LEN, EthernetRepr, EtherType, formatMac } from "./wire/ethernet.ts";
import { IPV6_HEADER_LEN, Ipv6Packet, Ipv6Repr } from "./wire/ipv6.ts";
import { ICMPV6_PROTOCOL, Icmpv6Repr } from "./wire/icmpv6.ts";
import {
  formatIpv6,
  ipv6FromId,
  ipv6Id,
  linkLocalFromMac,
  parseIpv6,
  solicitedNodeAddress,
} from "./wire/ipv6_address.ts";
import { UdpPacket, UdpRepr } from "./wire/udp.ts";
import { TcpFlag, TcpRepr } from "./wire/tcp.ts";
import { TcpLayer } from "./tcp/layer.ts";
import type { UdpDatagram, UdpForwarder, UdpSink } from "./iface/udp.ts";
import { RA_INTERVAL_MS } from "./iface/icmpv6.ts";
import { Dhcpv6Repr } from "./wire/dhcpv6.ts";
import { foldChecksum, ipv6PseudoSum, sumWords } from "./wire/checksum.ts";

const GW6 = DEFAULT_NETWORK_CONFIG.gatewayAddress6;
const CT6 = DEFAULT_NETWORK_CONFIG.containerAddress6;
const GW_LL = linkLocalFromMac(DEFAULT_NETWORK_CONFIG.gatewayMac);
const CT_LL = linkLocalFromMac(CONTAINER_MAC);
const ALL_ROUTERS = parseIpv6("ff02::2");

function frame(
  src: Uint8Array,
  dst: Uint8Array,
  nh: number,
  payload: Uint8Array,
  hopLimit = 64,
  ethDst: Uint8Array = DEFAULT_NETWORK_CONFIG.gatewayMac,
): Uint8Array {
  const f = new Uint8Array(ETH_HEADER_LEN + IPV6_HEADER_LEN + payload.length);
  EthernetRepr.emit({ dst: ethDst, src: CONTAINER_MAC, etherType: EtherType.IPV6 }, f);
  Ipv6Repr.emit(
    { src, dst, nextHeader: nh, hopLimit, payloadLength: payload.length },
    f.subarray(ETH_HEADER_LEN),
  );
  f.set(payload, ETH_HEADER_LEN + IPV6_HEADER_LEN);
  return f;
}

function icmp(
  src: Uint8Array,
  dst: Uint8Array,
  m: Icmpv6Repr,
  hopLimit = 255,
  ethDst?: Uint8Array,
) {
  const b = new Uint8Array(Icmpv6Repr.bufferLen(m));
  Icmpv6Repr.emit(m, b, src, dst);
  return frame(src, dst, ICMPV6_PROTOCOL, b, hopLimit, ethDst);
}

function udp(src: Uint8Array, srcPort: number, dst: Uint8Array, dstPort: number, data: Uint8Array) {
  const b = new Uint8Array(8 + data.length);
  UdpRepr.emit({ srcPort, dstPort, payload: data }, b, ipv6Id(src)!, ipv6Id(dst)!);
  return frame(src, dst, 17, b);
}

/** Parses a frame the stack sent: Ethernet destination, IPv6 header and payload. */
function sent(f: Uint8Array) {
  const eth = EthernetRepr.parse(f);
  assert.equal(eth.etherType, EtherType.IPV6);
  const p = Ipv6Packet.check(f.subarray(ETH_HEADER_LEN));
  return { ethDst: formatMac(eth.dst), ip: Ipv6Repr.parse(p.bytes), payload: p.payload.slice() };
}

function icmpSent(f: Uint8Array) {
  const s = sent(f);
  assert.equal(s.ip.nextHeader, ICMPV6_PROTOCOL);
  return { ...s, m: Icmpv6Repr.parse(s.payload, s.ip.src, s.ip.dst) };
}

function setup(opts: Partial<ConstructorParameters<typeof NetworkStack>[0]> = {}) {
  const [stackEnd, containerEnd] = memoryLinkPair();
  const stack = new NetworkStack({ send: stackEnd.send, ...opts });
  return { stack, link: containerEnd };
}

Deno.test("stack v6: answers a neighbour solicitation for the gateway with a router NA", () => {
  const { stack, link } = setup();
  const target = GW6;
  const ns = icmp(
    CT6,
    solicitedNodeAddress(target),
    {
      kind: "neighbor-solicit",
      target,
      sourceMac: CONTAINER_MAC,
    },
    255,
    new Uint8Array([0x33, 0x33, 0xff, 0, 0, 1]),
  );
  stack.receive(ns, 0);
  const na = icmpSent(link.recv()!);
  assert.equal(na.ethDst, formatMac(CONTAINER_MAC));
  assert.equal(formatIpv6(na.ip.dst), "fd00:15::2");
  assert.equal(na.ip.hopLimit, 255);
  assert.equal(na.m.kind, "neighbor-advert");
  if (na.m.kind !== "neighbor-advert") return;
  assert.ok(na.m.router && na.m.solicited && na.m.override);
  assert.equal(formatIpv6(na.m.target), "fd00:15::1");
  assert.equal(formatMac(na.m.targetMac!), formatMac(DEFAULT_NETWORK_CONFIG.gatewayMac));
  // The link-local gateway address is answered too.
  stack.receive(
    icmp(CT_LL, solicitedNodeAddress(GW_LL), {
      kind: "neighbor-solicit",
      target: GW_LL,
      sourceMac: CONTAINER_MAC,
    }),
    1,
  );
  const na2 = icmpSent(link.recv()!);
  assert.equal(na2.m.kind, "neighbor-advert");
  stack.close();
});

Deno.test("stack v6: ignores DAD for the container's own address and NS with a bad hop limit", () => {
  const { stack, link } = setup();
  const dad = icmp(
    new Uint8Array(16),
    solicitedNodeAddress(CT6),
    {
      kind: "neighbor-solicit",
      target: CT6,
      sourceMac: null,
    },
    255,
    new Uint8Array([0x33, 0x33, 0xff, 0, 0, 2]),
  );
  stack.receive(dad, 0);
  assert.equal(link.pending, 0);
  // A DAD probe for the gateway's address is answered to all nodes (RFC 4861 section 7.2.4).
  stack.receive(
    icmp(
      new Uint8Array(16),
      solicitedNodeAddress(GW6),
      {
        kind: "neighbor-solicit",
        target: GW6,
        sourceMac: null,
      },
      255,
      new Uint8Array([0x33, 0x33, 0xff, 0, 0, 1]),
    ),
    0,
  );
  const na = icmpSent(link.recv()!);
  assert.equal(formatIpv6(na.ip.dst), "ff02::1");
  assert.equal(na.ethDst, "33:33:00:00:00:01");
  stack.receive(icmp(CT6, GW6, { kind: "neighbor-solicit", target: GW6, sourceMac: null }, 64), 0);
  assert.equal(link.pending, 0);
  assert.equal(stack.counters().drops["ndp-bad-hop-limit"], 1);
  stack.close();
});

Deno.test("stack v6: answers a router solicitation with a router advertisement for SLAAC", () => {
  const { stack, link } = setup();
  const rs = icmp(
    CT_LL,
    ALL_ROUTERS,
    { kind: "router-solicit", sourceMac: CONTAINER_MAC },
    255,
    new Uint8Array([0x33, 0x33, 0, 0, 0, 2]),
  );
  stack.receive(rs, 0);
  // The container was heard: the first (unsolicited) advertisement is due at once.
  assert.equal(stack.pollAt(), 0);
  stack.poll(0);
  const ra = icmpSent(link.recv()!);
  assert.equal(ra.ip.hopLimit, 255);
  assert.equal(formatIpv6(ra.ip.src), formatIpv6(GW_LL));
  assert.equal(formatIpv6(ra.ip.dst), "ff02::1");
  assert.equal(ra.m.kind, "router-advert");
  if (ra.m.kind !== "router-advert") return;
  assert.ok(ra.m.routerLifetime > 0);
  assert.equal(ra.m.mtu, DEFAULT_NETWORK_CONFIG.mtu);
  assert.equal(ra.m.prefixes.length, 1);
  const pi = ra.m.prefixes[0]!;
  assert.equal(formatIpv6(pi.prefix), "fd00:15::");
  assert.equal(pi.prefixLength, 64);
  assert.ok(pi.onLink && pi.autonomous);
  assert.equal(formatIpv6(ra.m.dns!.servers[0]!), "fd00:15::1");
  // Periodic advertisements follow; a second RS is delayed by MIN_DELAY_BETWEEN_RAS.
  assert.equal(stack.pollAt(), RA_INTERVAL_MS);
  stack.receive(rs, 100);
  assert.equal(stack.pollAt(), 3000);
  stack.poll(3000);
  assert.equal(icmpSent(link.recv()!).m.kind, "router-advert");
  stack.close();
});

Deno.test("stack v6: keeps no timer armed before the container speaks IPv6", () => {
  const { stack } = setup();
  assert.equal(stack.pollAt(), undefined);
  stack.close();
});

Deno.test("stack v6: answers echo to the gateway, refuses echo elsewhere", () => {
  const { stack, link } = setup();
  const data = new TextEncoder().encode("hello6");
  stack.receive(icmp(CT6, GW6, { kind: "echo-request", ident: 9, seq: 3, data }, 64), 0);
  stack.poll(0); // the first router advertisement
  const replies = [icmpSent(link.recv()!), icmpSent(link.recv()!)];
  const reply = replies.find((r) => r.m.kind === "echo-reply")!;
  assert.equal(formatIpv6(reply.ip.src), "fd00:15::1");
  assert.equal(formatIpv6(reply.ip.dst), "fd00:15::2");
  assert.deepEqual(reply.m, { kind: "echo-reply", ident: 9, seq: 3, data });
  stack.receive(icmp(CT_LL, GW_LL, { kind: "echo-request", ident: 1, seq: 1, data }, 64), 1);
  assert.equal(formatIpv6(icmpSent(link.recv()!).ip.src), formatIpv6(GW_LL));
  const far = parseIpv6("2001:db8::1");
  stack.receive(icmp(CT6, far, { kind: "echo-request", ident: 1, seq: 1, data }, 64), 2);
  const err = icmpSent(link.recv()!);
  assert.equal(err.m.kind, "error");
  if (err.m.kind !== "error") return;
  assert.equal(err.m.type, 1);
  assert.equal(err.m.code, 1);
  assert.equal(stack.counters().events["icmpv6-echo-answered"], 2);
  stack.close();
});

Deno.test("stack v6: solicits the neighbour before sending to an unknown address", () => {
  const { stack, link } = setup();
  const slaac = parseIpv6("fd00:15::50:ff:fe00:f02");
  // A frame from the container teaches the stack fd00:15::2, not the SLAAC address.
  stack.receive(
    icmp(slaac, GW6, { kind: "echo-request", ident: 1, seq: 1, data: new Uint8Array(0) }, 64),
    0,
  );
  // Learned from the packet's source: the reply goes straight out.
  assert.equal(icmpSent(link.recv()!).m.kind, "echo-reply");
  stack.poll(0);
  link.recv();
  const tcp = new TcpLayer({ sender: stack.ipv4 });
  stack.registerProtocol(6, tcp);
  tcp.connect(ipv6Id(GW6)!, 5000, ipv6Id(CT6)!, 80, 10);
  const ns = icmpSent(link.recv()!);
  assert.equal(ns.m.kind, "neighbor-solicit");
  assert.equal(formatIpv6(ns.ip.dst), formatIpv6(solicitedNodeAddress(CT6)));
  assert.equal(link.pending, 0);
  stack.receive(
    icmp(CT6, GW6, {
      kind: "neighbor-advert",
      router: false,
      solicited: true,
      override: true,
      target: CT6,
      targetMac: CONTAINER_MAC,
    }),
    11,
  );
  const syn = sent(link.recv()!);
  assert.equal(syn.ip.nextHeader, 6);
  assert.equal(syn.ethDst, formatMac(CONTAINER_MAC));
  stack.close();
});

Deno.test("stack v6: a TCP handshake to the gateway with IPv6 checksums", async () => {
  const { stack, link } = setup();
  const tcp = new TcpLayer({ sender: stack.ipv4, isn: () => 1000 });
  const seen: string[] = [];
  tcp.accept = (req) => {
    seen.push(`${formatIpv6(ipv6FromId(req.src)!)} -> ${formatIpv6(ipv6FromId(req.dst)!)}`);
    return true;
  };
  stack.registerProtocol(6, tcp);
  const seg = new TcpRepr();
  seg.srcPort = 40000;
  seg.dstPort = 8080;
  seg.seq = 5000;
  seg.flags = TcpFlag.SYN;
  seg.window = 65535;
  seg.options.mss = 1440;
  const b = new Uint8Array(seg.bufferLen());
  // The IPv4-style arithmetic over interned ids gives the IPv6 pseudo-header checksum.
  seg.emit(b, ipv6Id(CT6)!, ipv6Id(GW6)!);
  stack.receive(frame(CT6, GW6, 6, b), 0);
  await Promise.resolve();
  assert.deepEqual(seen, ["fd00:15::2 -> fd00:15::1"]);
  const out = [];
  for (let f = link.recv(); f !== undefined; f = link.recv()) out.push(sent(f));
  const synAck = out.find((s) => s.ip.nextHeader === 6)!;
  assert.equal(formatIpv6(synAck.ip.src), "fd00:15::1");
  // Verify the checksum independently with the IPv6 pseudo-header.
  const len = synAck.payload.length;
  assert.equal(
    foldChecksum(sumWords(synAck.payload, 0, len, ipv6PseudoSum(GW6, CT6, 6, len))),
    0,
  );
  const r = new TcpRepr().parse(synAck.payload, ipv6Id(GW6)!, ipv6Id(CT6)!);
  assert.equal(r.flags, TcpFlag.SYN | TcpFlag.ACK);
  assert.equal(r.ack, 5001);
  const ack = new TcpRepr();
  ack.srcPort = 40000;
  ack.dstPort = 8080;
  ack.seq = 5001;
  ack.ack = r.seq + 1;
  ack.flags = TcpFlag.ACK;
  ack.window = 65535;
  const a = new Uint8Array(ack.bufferLen());
  ack.emit(a, ipv6Id(CT6)!, ipv6Id(GW6)!);
  stack.receive(frame(CT6, GW6, 6, a), 1);
  const conn = tcp.find(ipv6Id(GW6)!, 8080, ipv6Id(CT6)!, 40000)!;
  assert.equal(conn.state, "ESTABLISHED");
  stack.close();
});

Deno.test("stack v6: DNS to the gateway, UDP elsewhere to the forwarder, refusals as ICMPv6", async () => {
  let sink: UdpSink | undefined;
  const forwarded: UdpDatagram[] = [];
  const forwarder: UdpForwarder = {
    attach: (s) => sink = s,
    forward: (d) => forwarded.push({ ...d, payload: d.payload.slice() }),
    poll: () => {},
    pollAt: () => undefined,
  };
  const answered: Uint8Array[] = [];
  const { stack, link } = setup({
    hooks: {
      udp: forwarder,
      dns: {
        forwardQuery: (q) => {
          answered.push(q);
          return Promise.resolve(q);
        },
      },
    },
  });
  const query = new Uint8Array([0xab, 0xcd, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1, 0x61, 0, 0, 28, 0, 1]);
  stack.receive(udp(CT6, 5353, GW6, 53, query), 0);
  await new Promise((r) => setTimeout(r, 0));
  assert.equal(answered.length, 1);
  const replies = [];
  for (let f = link.recv(); f !== undefined; f = link.recv()) replies.push(sent(f));
  const dns = replies.find((s) => s.ip.nextHeader === 17)!;
  assert.equal(formatIpv6(dns.ip.src), "fd00:15::1");
  assert.equal(new UdpPacket(dns.payload).srcPort, 53);
  assert.ok(new UdpPacket(dns.payload).verifyChecksum(ipv6Id(GW6)!, ipv6Id(CT6)!));
  const far = parseIpv6("2001:db8::7");
  stack.receive(udp(CT6, 4000, far, 9999, new Uint8Array([1, 2])), 1);
  assert.equal(forwarded.length, 1);
  assert.equal(formatIpv6(ipv6FromId(forwarded[0]!.dst)!), "2001:db8::7");
  sink!.refused(forwarded[0]!);
  const err = icmpSent(link.recv()!);
  assert.equal(formatIpv6(err.ip.src), "2001:db8::7");
  assert.equal(err.m.kind, "error");
  if (err.m.kind !== "error") return;
  assert.equal(err.m.type, 1);
  assert.equal(err.m.code, 4);
  sink!.deliver({
    src: forwarded[0]!.dst,
    srcPort: 9999,
    dst: forwarded[0]!.src,
    dstPort: 4000,
    payload: new Uint8Array([3]),
  });
  const back = sent(link.recv()!);
  assert.equal(formatIpv6(back.ip.src), "2001:db8::7");
  // A zero UDP checksum is invalid over IPv6 (RFC 8200 section 8.1).
  const zero = udp(CT6, 4000, far, 9999, new Uint8Array([1]));
  zero[ETH_HEADER_LEN + IPV6_HEADER_LEN + 6] = 0;
  zero[ETH_HEADER_LEN + IPV6_HEADER_LEN + 7] = 0;
  stack.receive(zero, 2);
  assert.equal(stack.counters().drops["udp-zero-checksum"], 1);
  stack.close();
});

Deno.test("stack v6: drops foreign sources, packets for other hosts on the link, and fragments that never complete", () => {
  const { stack, link } = setup();
  const data = new Uint8Array(4);
  stack.receive(
    icmp(parseIpv6("2001:db8::2"), GW6, { kind: "echo-request", ident: 1, seq: 1, data }, 64),
    0,
  );
  stack.receive(
    icmp(CT6, parseIpv6("fd00:15::9"), { kind: "echo-request", ident: 1, seq: 1, data }, 64),
    0,
  );
  // A first fragment (offset 0, more to come: UDP, identification 7) whose rest never comes.
  const first = new Uint8Array(8 + 16);
  first.set([17, 0, 0, 1, 0, 0, 0, 7]);
  stack.receive(frame(CT6, parseIpv6("2001:db8::1"), 44, first), 0);
  stack.poll(31_000);
  const d = stack.counters().drops;
  assert.equal(d["ipv6-bad-source"], 1);
  assert.equal(d["ipv6-not-for-us"], 1);
  assert.equal(d["ipv6-frag-timeout"], 1);
  while (link.recv() !== undefined);
  stack.close();
});

Deno.test("stack v6: DHCPv6 from the link-local address to ff02::1:2 is answered by the gateway", () => {
  const { stack, link } = setup();
  const solicit = Dhcpv6Repr.emit({
    msgType: 1,
    transactionId: 42,
    clientId: new Uint8Array([0, 3, 0, 1, ...CONTAINER_MAC]),
    serverId: null,
    iaNa: [{ iaid: 1, t1: 0, t2: 0, addresses: [], status: null }],
    requested: [23],
    rapidCommit: false,
    status: null,
    dnsServers: [],
  });
  const f = udp(CT_LL, 546, parseIpv6("ff02::1:2"), 547, solicit);
  f.set([0x33, 0x33, 0, 1, 0, 2], 0);
  stack.receive(f, 0);
  const out = [];
  for (let x = link.recv(); x !== undefined; x = link.recv()) out.push(sent(x));
  const reply = out.find((x) => x.ip.nextHeader === 17)!;
  assert.equal(formatIpv6(reply.ip.src), formatIpv6(GW_LL));
  assert.equal(formatIpv6(reply.ip.dst), formatIpv6(CT_LL));
  const u = new UdpPacket(reply.payload);
  assert.equal(u.srcPort, 547);
  assert.equal(u.dstPort, 546);
  assert.ok(u.verifyChecksum(ipv6Id(GW_LL)!, ipv6Id(CT_LL)!));
  const adv = Dhcpv6Repr.parse(u.payload);
  assert.equal(adv.msgType, 2);
  assert.equal(adv.transactionId, 42);
  assert.equal(formatIpv6(adv.iaNa[0]!.addresses[0]!.address), "fd00:15::2");
  assert.equal(stack.counters().events["dhcpv6-replies"], 1);
  stack.close();
});

Deno.test("stack v6: a TCP segment larger than the MTU is cut into MTU-sized segments", () => {
  const [stackEnd, link] = memoryLinkPair();
  const stack = new NetworkStack({ send: stackEnd.send, config: networkConfig({ mtu: 1500 }) });
  // The container's MAC is learned from its first packet.
  stack.receive(
    icmp(CT6, GW6, { kind: "echo-request", ident: 1, seq: 1, data: new Uint8Array(0) }, 64),
    0,
  );
  while (link.recv() !== undefined);
  const seg = new TcpRepr();
  seg.srcPort = 80;
  seg.dstPort = 40000;
  seg.seq = 0xfffffff0;
  seg.ack = 1;
  seg.flags = TcpFlag.ACK | TcpFlag.PSH | TcpFlag.FIN;
  seg.window = 100;
  seg.payload = new Uint8Array(3000).map((_, i) => i);
  const b = new Uint8Array(seg.bufferLen());
  seg.emit(b, ipv6Id(GW6)!, ipv6Id(CT6)!);
  stack.ipv4.sendIpv4(ipv6Id(GW6)!, ipv6Id(CT6)!, 6, b);
  const got = [];
  for (let f = link.recv(); f !== undefined; f = link.recv()) {
    assert.ok(f.length <= 14 + 1500);
    const s = sent(f);
    got.push(new TcpRepr().parse(s.payload, ipv6Id(GW6)!, ipv6Id(CT6)!));
  }
  assert.deepEqual(got.map((r) => r.payload.length), [1440, 1440, 120]);
  assert.deepEqual(got.map((r) => r.seq), [0xfffffff0, 1440 - 16, 2880 - 16]);
  assert.deepEqual(got.map((r) => r.flags), [TcpFlag.ACK, TcpFlag.ACK, seg.flags]);
  assert.deepEqual([...got.flatMap((r) => [...r.payload])], [...seg.payload]);
  stack.close();
});

Deno.test("stack v6: survives 200,000 mutated IPv6 frames and still answers a ping", () => {
  let capture: ((frame: Uint8Array) => void) | null = null;
  const forwarder: UdpForwarder = {
    attach: () => {},
    forward: () => {},
    poll: () => {},
    pollAt: () => undefined,
  };
  const live = new NetworkStack({
    send: (f) => capture?.(f),
    hooks: { udp: forwarder },
  });
  const tcp = new TcpLayer({ sender: live.ipv4, accept: () => true });
  live.registerProtocol(6, tcp);
  const syn = new TcpRepr();
  syn.srcPort = 40000;
  syn.dstPort = 80;
  syn.flags = TcpFlag.SYN;
  syn.window = 1000;
  const synBytes = new Uint8Array(syn.bufferLen());
  syn.emit(synBytes, ipv6Id(CT6)!, ipv6Id(GW6)!);
  const data = new Uint8Array(16).fill(7);
  const templates = [
    icmp(CT6, solicitedNodeAddress(GW6), {
      kind: "neighbor-solicit",
      target: GW6,
      sourceMac: CONTAINER_MAC,
    }),
    icmp(CT_LL, ALL_ROUTERS, { kind: "router-solicit", sourceMac: CONTAINER_MAC }),
    icmp(CT6, GW6, { kind: "echo-request", ident: 1, seq: 1, data }, 64),
    icmp(CT6, GW6, {
      kind: "neighbor-advert",
      router: false,
      solicited: true,
      override: true,
      target: CT6,
      targetMac: CONTAINER_MAC,
    }),
    udp(
      CT6,
      1234,
      GW6,
      53,
      new Uint8Array([1, 2, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1, 0x61, 0, 0, 28, 0, 1]),
    ),
    udp(CT6, 1234, parseIpv6("2001:db8::1"), 9, data),
    frame(CT6, GW6, 6, synBytes),
    frame(CT6, parseIpv6("2001:db8::2"), 6, synBytes, 1),
  ];
  let s = 0x5eed6;
  const next = () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    return s >>>= 0;
  };
  const scratch = new Uint8Array(256);
  let now = 0;
  for (let i = 0; i < 200_000; i++) {
    const r = next();
    const t = templates[r % templates.length]!;
    scratch.set(t);
    let len = t.length;
    const flips = 1 + ((r >>> 8) & 3);
    for (let k = 0; k < flips; k++) {
      // Mutate past the Ethernet header (the interface's own checks are covered elsewhere).
      const bit = 14 * 8 + next() % ((len - 14) * 8);
      scratch[bit >>> 3]! ^= 1 << (bit & 7);
    }
    if ((r & 0x3000) === 0) len = 14 + next() % (len - 14);
    const f = scratch.subarray(0, len);
    if ((r & 0xc000) !== 0 && len >= 54) fixChecksum(f);
    live.receive(f, now);
    if ((i & 1023) === 0) {
      now += 50;
      const at = live.pollAt();
      if (at !== undefined && at <= now) live.poll(now);
    }
  }
  const counters = live.counters();
  assert.equal(counters.drops["internal-error"], undefined, JSON.stringify(counters.drops));
  for (
    const reason of ["ipv6-bad-source", "ndp-bad-option", "icmpv6-bad-checksum", "ipv6-truncated"]
  ) {
    assert.ok(
      (counters.drops[reason] ?? 0) > 0,
      `no ${reason} drops: ${JSON.stringify(counters.drops)}`,
    );
  }
  assert.ok(
    (counters.events["ndp-adverts-sent"] ?? 0) > 0 && (counters.events["dns-servfail"] ?? 0) > 0,
  );
  const out: Uint8Array[] = [];
  capture = (f) => out.push(f.slice());
  live.receive(icmp(CT6, GW6, { kind: "echo-request", ident: 5, seq: 999, data }, 64), now);
  const reply = out.map(icmpSent).find((x) => x.m.kind === "echo-reply");
  assert.ok(reply !== undefined, JSON.stringify(counters.drops));
  tcp.abortAll();
  live.close();
});

/** Recomputes the upper-layer checksum of a mutated frame so that mutations reach deeper layers. */
function fixChecksum(f: Uint8Array): void {
  const nh = f[ETH_HEADER_LEN + 6];
  const at = nh === 58 ? 2 : nh === 17 ? 6 : nh === 6 ? 16 : -1;
  const start = ETH_HEADER_LEN + IPV6_HEADER_LEN;
  if (at < 0 || f.length < start + at + 2) return;
  const src = f.slice(ETH_HEADER_LEN + 8, ETH_HEADER_LEN + 24);
  const dst = f.slice(ETH_HEADER_LEN + 24, ETH_HEADER_LEN + 40);
  f[start + at] = 0;
  f[start + at + 1] = 0;
  const c = foldChecksum(
    sumWords(f, start, f.length, ipv6PseudoSum(src, dst, nh!, f.length - start)),
  );
  f[start + at] = c >> 8;
  f[start + at + 1] = c;
}
