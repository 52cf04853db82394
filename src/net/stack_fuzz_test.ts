// Fuzz test: a million random and mutated frames must never break the stack.

import assert from "node:assert/strict";
import { NetworkStack } from "./stack.ts";
import { DEFAULT_NETWORK_CONFIG, networkConfig } from "./config.ts";
import { FakeContainer, parseSent } from "./_test_container.ts";
import { IpProtocol, Ipv4Packet } from "./wire/ipv4.ts";
import { EtherType } from "./wire/ethernet.ts";
import { Icmpv4Repr } from "./wire/icmpv4.ts";
import { parseIpv4 } from "./wire/ipv4_address.ts";
import { DhcpMessageType, DhcpRepr } from "./wire/dhcp.ts";
import type { UdpForwarder } from "./iface/udp.ts";
import type { IcmpEchoHook } from "./iface/icmp.ts";

const FRAMES = 1_000_000;
const GW = DEFAULT_NETWORK_CONFIG.gatewayAddress;

/** xorshift32: fast, seeded, reproducible. */
function rng(seed: number) {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s;
  };
}

function templates(c: FakeContainer): Uint8Array[] {
  const dhcp: DhcpRepr = {
    op: 1,
    xid: 1,
    secs: 0,
    flags: 0x8000,
    ciaddr: 0,
    yiaddr: 0,
    siaddr: 0,
    giaddr: 0,
    clientMac: new Uint8Array([2, 0, 0, 0, 0, 2]),
    messageType: DhcpMessageType.DISCOVER,
  };
  const dhcpBytes = new Uint8Array(DhcpRepr.bufferLen(dhcp));
  DhcpRepr.emit(dhcp, dhcpBytes);
  const echo = c.icmpEcho(1, new Uint8Array(100).fill(0x5a));
  const dnsQuery = new Uint8Array([1, 2, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1, 0x61, 0, 0, 1, 0, 1]);
  return [
    c.arpRequest(),
    c.arpReply(),
    c.ping(),
    c.ping(parseIpv4("8.8.8.8")),
    c.udp(1234, GW, 53, dnsQuery),
    c.udp(68, 0xffffffff, 67, dhcpBytes, 0),
    c.udp(5555, parseIpv4("1.1.1.1"), 443, new Uint8Array(32)),
    c.ipv4(IpProtocol.TCP, new Uint8Array(20), parseIpv4("1.1.1.1")),
    c.ipv4(IpProtocol.UDP, new Uint8Array(8), parseIpv4("1.1.1.1"), { ttl: 1 }),
    c.fragment(IpProtocol.ICMP, 5, 0, echo.subarray(0, 56), true),
    c.fragment(IpProtocol.ICMP, 5, 56, echo.subarray(56), false),
  ];
}

Deno.test("stack: survives a million random and mutated frames and still answers a ping", () => {
  let sent = 0;
  let capture: ((frame: Uint8Array) => void) | null = null;
  const udp: UdpForwarder = {
    attach: () => {},
    forward: () => {},
    poll: () => {},
    pollAt: () => undefined,
  };
  const icmpEcho: IcmpEchoHook = { attach: () => {}, echo: () => {} };
  const stack = new NetworkStack({
    config: networkConfig({ mtu: 1500 }),
    send: (f) => {
      sent++;
      capture?.(f);
    },
    hooks: { udp, icmpEcho },
  });
  const c = new FakeContainer(stack.config);
  const valid = templates(c);
  const next = rng(0x5eed);
  const scratch = new Uint8Array(2048);
  let now = 0;
  for (let i = 0; i < FRAMES; i++) {
    const r = next();
    let frame: Uint8Array;
    if ((r & 3) === 0) {
      // Random bytes; half of them with a plausible Ethernet header to get past the first check.
      const len = next() % 200;
      for (let j = 0; j < len; j += 4) {
        const v = next();
        scratch[j] = v;
        scratch[j + 1] = v >>> 8;
        scratch[j + 2] = v >>> 16;
        scratch[j + 3] = v >>> 24;
      }
      if ((r & 4) !== 0 && len >= 14) {
        scratch.set(stack.config.gatewayMac, 0);
        scratch[6] = 2;
        scratch[12] = 8;
        scratch[13] = (r & 8) !== 0 ? 6 : 0;
      }
      frame = scratch.subarray(0, len);
    } else {
      const t = valid[(r >>> 4) % valid.length]!;
      scratch.set(t);
      let len = t.length;
      const flips = 1 + ((r >>> 8) & 3);
      for (let k = 0; k < flips; k++) {
        const bit = next() % (len * 8);
        scratch[bit >>> 3]! ^= 1 << (bit & 7);
      }
      if ((r & 0x3000) === 0) len = next() % len;
      frame = scratch.subarray(0, len);
      if ((r & 0xc000) === 0 && len >= 34 && frame[12] === 8 && frame[13] === 0) {
        // Repair the IPv4 header checksum so that mutations reach the layers above.
        const p = new Ipv4Packet(frame.subarray(14));
        if (p.headerLen >= 20 && p.headerLen <= len - 14) p.fillChecksum();
      }
    }
    stack.receive(frame, now);
    if ((i & 1023) === 0) {
      now += 50;
      const at = stack.pollAt();
      if (at !== undefined && at <= now) stack.poll(now);
    }
  }
  const counters = stack.counters();
  assert.equal(counters.drops["internal-error"], undefined, JSON.stringify(counters.drops));
  assert.ok(counters.dropped > FRAMES / 2, `only ${counters.dropped} drops`);
  for (
    const reason of ["eth-not-for-us", "ipv4-bad-checksum", "udp-bad-checksum", "icmp-bad-checksum"]
  ) {
    assert.ok((counters.drops[reason] ?? 0) > 0, `no ${reason} drops`);
  }
  assert.ok(sent > 0);

  // The stack still works: a clean ping gets its echo reply.
  const out: Uint8Array[] = [];
  capture = (f) => out.push(f.slice());
  stack.receive(c.ping(GW, 999), now);
  const replies = out.map(parseSent).filter((f) => f.eth.etherType === EtherType.IPV4 && f.ip);
  assert.equal(replies.length, 1);
  const icmp = Icmpv4Repr.parse(replies[0]!.ipPayload!);
  assert.equal(icmp.kind, "echo-reply");
  if (icmp.kind === "echo-reply") assert.equal(icmp.seq, 999);
  stack.close();
});
