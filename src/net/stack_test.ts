// Interface-level tests of the stack on a memory link with a fake clock.

import assert from "node:assert/strict";
import { NetworkStack } from "./stack.ts";
import { DEFAULT_NETWORK_CONFIG, networkConfig } from "./config.ts";
import { memoryLinkPair } from "./link/memory.ts";
import { CONTAINER_MAC, FakeContainer, parseSent } from "./_test_container.ts";
import { ArpOperation } from "./wire/arp.ts";
import { formatMac, MAC_BROADCAST } from "./wire/ethernet.ts";
import { Icmpv4Repr } from "./wire/icmpv4.ts";
import { IpProtocol } from "./wire/ipv4.ts";
import { formatIpv4, parseIpv4 } from "./wire/ipv4_address.ts";
import { UdpRepr } from "./wire/udp.ts";
import { DHCP_FLAG_BROADCAST, DhcpMessageType, DhcpRepr } from "./wire/dhcp.ts";
import { DnsMessage } from "./wire/dns.ts";
import type { IcmpEchoHook, IcmpEchoRequest, IcmpEchoSink } from "./iface/icmp.ts";
import type { UdpDatagram, UdpForwarder, UdpSink } from "./iface/udp.ts";
import type { Ipv4Datagram, TransportProtocol } from "./iface/protocol.ts";

const GW = DEFAULT_NETWORK_CONFIG.gatewayAddress;
const CT = DEFAULT_NETWORK_CONFIG.containerAddress;

function setup(opts: Partial<ConstructorParameters<typeof NetworkStack>[0]> = {}) {
  const [stackEnd, containerEnd] = memoryLinkPair();
  const stack = new NetworkStack({ send: stackEnd.send, ...opts });
  const c = new FakeContainer(stack.config);
  return { stack, link: containerEnd, c };
}

function icmpOf(frame: Uint8Array) {
  const r = parseSent(frame);
  assert.equal(r.ip?.protocol, IpProtocol.ICMP);
  return { ip: r.ip!, icmp: Icmpv4Repr.parse(r.ipPayload!) };
}

Deno.test("stack: answers ARP for the gateway and learns the container", () => {
  const { stack, link, c } = setup();
  stack.receive(c.arpRequest(), 0);
  const reply = parseSent(link.recv()!);
  assert.equal(reply.arp?.operation, ArpOperation.REPLY);
  assert.equal(formatIpv4(reply.arp!.senderIp), "10.0.15.1");
  assert.equal(formatMac(reply.arp!.senderMac), formatMac(DEFAULT_NETWORK_CONFIG.gatewayMac));
  assert.equal(formatMac(reply.eth.dst), formatMac(CONTAINER_MAC));
  // A request for another address is not answered.
  stack.receive(c.arpRequest(parseIpv4("10.0.15.3")), 1);
  assert.equal(link.pending, 0);
  stack.close();
});

Deno.test("stack: answers a ping to the gateway", () => {
  const { stack, link, c } = setup();
  stack.receive(c.ping(GW, 7, new TextEncoder().encode("hello")), 0);
  const { ip, icmp } = icmpOf(link.recv()!);
  assert.equal(ip.src, GW);
  assert.equal(ip.dst, CT);
  assert.equal(icmp.kind, "echo-reply");
  if (icmp.kind !== "echo-reply") return;
  assert.equal(icmp.seq, 7);
  assert.equal(icmp.ident, 0x4242);
  assert.equal(new TextDecoder().decode(icmp.data), "hello");
  assert.equal(stack.counters().events["icmp-echo-answered"], 1);
  stack.close();
});

Deno.test("stack: drops frames for other MACs, bad checksums and foreign sources", () => {
  const { stack, link, c } = setup();
  const other = c.ping();
  other[5]! ^= 0xff;
  stack.receive(other, 0);
  const bad = c.ping();
  bad[14 + 11]! ^= 0xff;
  stack.receive(bad, 0);
  stack.receive(c.udp(1000, GW, 9, new Uint8Array(4), parseIpv4("10.9.9.9")), 0);
  stack.receive(c.ping(parseIpv4("127.0.0.1")), 0);
  stack.receive(c.ethernet(0x86dd, new Uint8Array(40)), 0);
  assert.equal(link.pending, 0);
  const d = stack.counters().drops;
  assert.equal(d["eth-not-for-us"], 1);
  assert.equal(d["ipv4-bad-checksum"], 1);
  assert.equal(d["ipv4-bad-source"], 1);
  assert.equal(d["ipv4-not-for-us"], 1);
  assert.equal(d["ipv6-bad-version"], 1);
  stack.close();
});

Deno.test("stack: queues output while resolving the container's MAC, retries and gives up", () => {
  let sink: IcmpEchoSink | undefined;
  const requests: IcmpEchoRequest[] = [];
  const hook: IcmpEchoHook = {
    attach: (s) => sink = s,
    echo: (r) => requests.push(r),
  };
  const { stack, link, c } = setup({ hooks: { icmpEcho: hook } });
  const request: IcmpEchoRequest = {
    src: CT,
    dst: parseIpv4("1.1.1.1"),
    ident: 1,
    seq: 1,
    data: new Uint8Array(8),
    ttl: 64,
  };
  sink!.reply(request);
  const arp = parseSent(link.recv()!);
  assert.equal(arp.arp?.operation, ArpOperation.REQUEST);
  assert.equal(formatMac(arp.eth.dst), formatMac(MAC_BROADCAST));
  assert.equal(arp.arp?.targetIp, CT);
  assert.equal(stack.pollAt(), 1000);
  stack.poll(1000);
  assert.equal(parseSent(link.recv()!).arp?.operation, ArpOperation.REQUEST);
  // The container answers: the queued reply goes out.
  stack.receive(c.arpReply(), 1500);
  const { ip, icmp } = icmpOf(link.recv()!);
  assert.equal(formatIpv4(ip.src), "1.1.1.1");
  assert.equal(icmp.kind, "echo-reply");
  assert.equal(stack.pollAt(), undefined);
  stack.close();

  // Without an answer, three requests then the queue is dropped.
  const s2 = setup({ hooks: { icmpEcho: hook } });
  sink!.reply(request);
  s2.stack.poll(1000);
  s2.stack.poll(2000);
  s2.stack.poll(3000);
  assert.equal(s2.link.drain().length, 3);
  assert.equal(s2.stack.counters().drops["arp-unresolved"], 1);
  assert.equal(s2.stack.pollAt(), undefined);
  s2.stack.close();
});

Deno.test("stack: hands echoes for other hosts to the hook, refuses them without one", () => {
  const requests: IcmpEchoRequest[] = [];
  let sink: IcmpEchoSink | undefined;
  const { stack, link, c } = setup({
    hooks: { icmpEcho: { attach: (s) => sink = s, echo: (r) => requests.push(r) } },
  });
  stack.receive(c.ping(parseIpv4("8.8.8.8"), 3), 0);
  assert.equal(requests.length, 1);
  assert.equal(formatIpv4(requests[0]!.dst), "8.8.8.8");
  sink!.unreachable(requests[0]!, 1);
  const { icmp } = icmpOf(link.recv()!);
  assert.equal(icmp.kind, "dest-unreachable");
  stack.close();

  const bare = setup();
  bare.stack.receive(bare.c.ping(parseIpv4("8.8.8.8")), 0);
  const r = icmpOf(bare.link.recv()!);
  assert.equal(r.icmp.kind, "dest-unreachable");
  if (r.icmp.kind === "dest-unreachable") assert.equal(r.icmp.code, 13);
  bare.stack.close();
});

Deno.test("stack: sends time exceeded for TTL 1 to another host, protocol unreachable for unknown protocols", () => {
  const { stack, link, c } = setup();
  stack.receive(c.ipv4(IpProtocol.UDP, new Uint8Array(8), parseIpv4("1.1.1.1"), { ttl: 1 }), 0);
  const te = icmpOf(link.recv()!);
  assert.equal(te.icmp.kind, "time-exceeded");
  assert.equal(te.ip.src, GW);
  stack.receive(c.ipv4(99, new Uint8Array(8), GW), 0);
  const pu = icmpOf(link.recv()!);
  assert.equal(pu.icmp.kind, "dest-unreachable");
  if (pu.icmp.kind === "dest-unreachable") assert.equal(pu.icmp.code, 2);
  stack.close();
});

Deno.test("stack: delivers to a registered transport protocol and sends through ipv4", () => {
  const seen: Ipv4Datagram[] = [];
  const tcp: TransportProtocol = {
    input: (d) => seen.push({ ...d, payload: d.payload.slice() }),
    poll: () => {},
    pollAt: () => 5000,
  };
  const { stack, link, c } = setup();
  stack.registerProtocol(6, tcp);
  stack.receive(c.ipv4(6, new Uint8Array([1, 2, 3]), parseIpv4("93.184.216.34")), 0);
  assert.equal(seen.length, 1);
  assert.equal(formatIpv4(seen[0]!.dst), "93.184.216.34");
  assert.equal(stack.pollAt(), 5000);
  stack.ipv4.sendIpv4(parseIpv4("93.184.216.34"), CT, 6, new Uint8Array([9, 9]));
  const r = parseSent(link.recv()!);
  assert.equal(r.ip?.protocol, 6);
  assert.deepEqual([...r.ipPayload!], [9, 9]);
  stack.close();
});

Deno.test("stack: reassembles fragments in any order and fragments output to the MTU", () => {
  const { stack, link, c } = setup({ config: networkConfig({ mtu: 1500 }) });
  const data = new Uint8Array(4000).map((_, i) => i & 0xff);
  const echo = c.icmpEcho(5, data);
  const parts = [
    c.fragment(IpProtocol.ICMP, 77, 1480, echo.subarray(1480, 2960), true),
    c.fragment(IpProtocol.ICMP, 77, 2960, echo.subarray(2960), false),
    c.fragment(IpProtocol.ICMP, 77, 0, echo.subarray(0, 1480), true),
  ];
  for (const p of parts) stack.receive(p, 0);
  const frames = link.drain().map(parseSent);
  assert.equal(frames.length, 3);
  const payload = new Uint8Array(echo.length);
  let off = 0;
  for (const f of frames) {
    assert.ok(f.ipPayload!.length <= 1480);
    payload.set(f.ipPayload!, off);
    off += f.ipPayload!.length;
  }
  assert.equal(off, echo.length);
  const icmp = Icmpv4Repr.parse(payload);
  assert.equal(icmp.kind, "echo-reply");
  assert.deepEqual(icmp.data, data);
  assert.equal(stack.counters().reassemblyDatagrams, 0);
  stack.close();
});

Deno.test("stack: drops overlapping fragments and times out incomplete datagrams", () => {
  const { stack, link, c } = setup();
  const echo = c.icmpEcho(1, new Uint8Array(64));
  stack.receive(c.fragment(IpProtocol.ICMP, 9, 0, echo.subarray(0, 40), true), 0);
  stack.receive(c.fragment(IpProtocol.ICMP, 9, 32, echo.subarray(32), false), 0);
  assert.equal(link.pending, 0);
  assert.equal(stack.counters().drops["ipv4-frag-overlap"], 1);
  // An exact duplicate is harmless.
  stack.receive(c.fragment(IpProtocol.ICMP, 10, 0, echo.subarray(0, 40), true), 0);
  stack.receive(c.fragment(IpProtocol.ICMP, 10, 0, echo.subarray(0, 40), true), 0);
  assert.equal(stack.counters().drops["ipv4-frag-duplicate"], 1);
  assert.equal(stack.pollAt(), 30_000);
  stack.poll(29_999);
  assert.equal(stack.counters().reassemblyDatagrams, 1);
  stack.poll(30_000);
  assert.equal(stack.counters().drops["ipv4-frag-timeout"], 1);
  assert.equal(stack.counters().reassemblyDatagrams, 0);
  assert.equal(stack.pollAt(), undefined);
  stack.close();
});

Deno.test("stack: bounds reassembly memory", () => {
  const { stack, c } = setup({ reassembly: { maxDatagrams: 8, maxBytes: 4096, timeoutMs: 1000 } });
  for (let id = 0; id < 100; id++) {
    stack.receive(c.fragment(IpProtocol.UDP, id, 0, new Uint8Array(1024), true), 0);
  }
  const counters = stack.counters();
  assert.ok(counters.reassemblyDatagrams <= 4);
  assert.ok(counters.reassemblyBytes <= 4096);
  assert.ok((counters.drops["ipv4-frag-evicted"] ?? 0) >= 96);
  stack.close();
});

Deno.test("stack: gives the container its lease over DHCP", () => {
  const { stack, link, c } = setup();
  const request = (type: number, extra: Partial<DhcpRepr>) => {
    const repr: DhcpRepr = {
      op: 1,
      xid: 0xcafe,
      secs: 0,
      flags: DHCP_FLAG_BROADCAST,
      ciaddr: 0,
      yiaddr: 0,
      siaddr: 0,
      giaddr: 0,
      clientMac: CONTAINER_MAC,
      messageType: type,
      parameterRequestList: new Uint8Array([1, 3, 6, 26, 51]),
      ...extra,
    };
    const msg = new Uint8Array(DhcpRepr.bufferLen(repr));
    DhcpRepr.emit(repr, msg);
    return c.udp(68, 0xffffffff, 67, msg, 0);
  };
  const reply = () => {
    const r = parseSent(link.recv()!);
    assert.equal(formatMac(r.eth.dst), formatMac(MAC_BROADCAST));
    assert.equal(r.ip?.dst, 0xffffffff);
    const udp = UdpRepr.parse(r.ipPayload!, r.ip!.src, r.ip!.dst);
    assert.equal(udp.srcPort, 67);
    assert.equal(udp.dstPort, 68);
    return DhcpRepr.parse(udp.payload);
  };
  stack.receive(request(DhcpMessageType.DISCOVER, {}), 0);
  const offer = reply();
  assert.equal(offer.messageType, DhcpMessageType.OFFER);
  assert.equal(formatIpv4(offer.yiaddr), "10.0.15.2");
  assert.equal(offer.xid, 0xcafe);
  stack.receive(request(DhcpMessageType.REQUEST, { requestedIp: CT, serverId: GW }), 1);
  const ack = reply();
  assert.equal(ack.messageType, DhcpMessageType.ACK);
  assert.equal(formatIpv4(ack.yiaddr), "10.0.15.2");
  assert.equal(formatIpv4(ack.subnetMask!), "255.255.255.252");
  assert.equal(ack.router, GW);
  assert.deepEqual(ack.dnsServers, [GW]);
  assert.equal(ack.mtu, 65520);
  assert.equal(ack.leaseTime, 86400);
  stack.receive(request(DhcpMessageType.REQUEST, { requestedIp: parseIpv4("10.0.15.3") }), 2);
  assert.equal(reply().messageType, DhcpMessageType.NAK);
  stack.close();
});

Deno.test("stack: refuses UDP without a forwarder and hands flows to one", () => {
  const bare = setup();
  bare.stack.receive(bare.c.udp(4000, parseIpv4("1.1.1.1"), 9999, new Uint8Array([1])), 0);
  const r = icmpOf(bare.link.recv()!);
  assert.equal(r.icmp.kind, "dest-unreachable");
  if (r.icmp.kind === "dest-unreachable") assert.equal(r.icmp.code, 3);
  assert.equal(formatIpv4(r.ip.src), "1.1.1.1");
  bare.stack.close();

  const flows: UdpDatagram[] = [];
  let sink: UdpSink | undefined;
  const fwd: UdpForwarder = {
    attach: (s) => sink = s,
    forward: (d) => flows.push({ ...d, payload: d.payload.slice() }),
    poll: () => {},
    pollAt: () => undefined,
  };
  const { stack, link, c } = setup({ hooks: { udp: fwd } });
  stack.receive(c.udp(4000, GW, 8080, new TextEncoder().encode("q")), 0);
  assert.equal(flows.length, 1);
  assert.equal(flows[0]!.dstPort, 8080);
  sink!.deliver({ src: GW, srcPort: 8080, dst: CT, dstPort: 4000, payload: new Uint8Array([7]) });
  const back = parseSent(link.recv()!);
  const udp = UdpRepr.parse(back.ipPayload!, back.ip!.src, back.ip!.dst);
  assert.equal(udp.dstPort, 4000);
  assert.deepEqual([...udp.payload], [7]);
  stack.close();
});

Deno.test("stack: answers DNS with SERVFAIL without a resolver and forwards with one", async () => {
  const query = new Uint8Array([0xab, 0xcd, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1, 0x61, 0, 0, 1, 0, 1]);
  const bare = setup();
  bare.stack.receive(bare.c.udp(5353, GW, 53, query), 0);
  const r = parseSent(bare.link.recv()!);
  const m = new DnsMessage(UdpRepr.parse(r.ipPayload!, r.ip!.src, r.ip!.dst).payload);
  assert.equal(m.id, 0xabcd);
  assert.equal(m.rcode, 2);
  bare.stack.close();

  const { stack, link, c } = setup({
    hooks: {
      dns: {
        forwardQuery: (q) => {
          const reply = q.slice();
          reply[2] = 0x81;
          reply[3] = 0x80;
          return Promise.resolve(reply);
        },
      },
    },
  });
  stack.receive(c.udp(5353, GW, 53, query), 0);
  await Promise.resolve();
  const f = parseSent(link.recv()!);
  const udp = UdpRepr.parse(f.ipPayload!, f.ip!.src, f.ip!.dst);
  assert.equal(udp.srcPort, 53);
  assert.equal(udp.dstPort, 5353);
  assert.equal(new DnsMessage(udp.payload).rcode, 0);
  stack.close();
});

Deno.test("stack: receive never throws and close stops output", () => {
  const { stack, link, c } = setup();
  stack.receive(new Uint8Array(0), 0);
  stack.receive(c.ethernet(0x0800, new Uint8Array(3)), 0);
  stack.close();
  stack.receive(c.ping(), 0);
  assert.equal(link.pending, 0);
  assert.equal(stack.counters().drops["eth-truncated"], 1);
  assert.equal(stack.counters().drops["ipv4-truncated"], 1);
});
