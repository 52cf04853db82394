// Tests for the DNS forwarder against tiny DNS responders on 127.0.0.1.

import assert from "node:assert/strict";
import dgram from "node:dgram";
import { DnsForwarder, parseResolvConf, parseUpstream } from "./dns_forwarder.ts";
import { DnsMessage, parseDnsQuestion } from "../wire/dns.ts";
import { NetworkStack } from "../stack.ts";
import { DEFAULT_NETWORK_CONFIG } from "../config.ts";
import { memoryLinkPair } from "../link/memory.ts";
import { FakeContainer, parseSent } from "../_test_container.ts";
import { UdpRepr } from "../wire/udp.ts";

// Query id 0x1234, RD, example.com A IN.
const QUERY = new Uint8Array([
  0x12,
  0x34,
  0x01,
  0x00,
  0,
  1,
  0,
  0,
  0,
  0,
  0,
  0,
  7,
  0x65,
  0x78,
  0x61,
  0x6d,
  0x70,
  0x6c,
  0x65,
  3,
  0x63,
  0x6f,
  0x6d,
  0,
  0,
  1,
  0,
  1,
]);

/** A responder that answers every query with NOERROR and one A record 192.0.2.1, or stays silent. */
async function responder(silent = false) {
  const socket = dgram.createSocket("udp4");
  let queries = 0;
  socket.on("message", (q: Uint8Array, from) => {
    queries++;
    if (silent) return;
    const end = parseDnsQuestion(q).end;
    const reply = new Uint8Array(end + 16);
    reply.set(q.subarray(0, end));
    reply[2] = 0x81;
    reply[3] = 0x80;
    reply[7] = 1; // ANCOUNT
    reply.set([0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 192, 0, 2, 1], end);
    socket.send(reply, from.port, from.address);
  });
  await new Promise<void>((r) => socket.bind(0, "127.0.0.1", r));
  return {
    addr: `127.0.0.1:${socket.address().port}`,
    queries: () => queries,
    close: () => new Promise<void>((r) => socket.close(() => r())),
  };
}

Deno.test("dns_forwarder: parses upstreams and resolv.conf", () => {
  assert.deepEqual(parseUpstream("1.1.1.1"), { hostname: "1.1.1.1", port: 53 });
  assert.deepEqual(parseUpstream("127.0.0.1:5353"), { hostname: "127.0.0.1", port: 5353 });
  assert.throws(() => parseUpstream("example.com"), TypeError);
  assert.throws(() => parseUpstream("1.2.3.4:99999"), TypeError);
  const conf = "# c\nsearch lan\nnameserver 127.0.0.53\nnameserver ::1\n nameserver 9.9.9.9 \n";
  assert.deepEqual(parseResolvConf(conf).map((u) => u.hostname), ["127.0.0.53", "9.9.9.9"]);
});

Deno.test("dns_forwarder: forwards a query and returns the upstream's reply", async () => {
  const up = await responder();
  const fwd = new DnsForwarder({ upstreams: [up.addr], timeoutMs: 2000 });
  try {
    const reply = await fwd.forwardQuery(QUERY);
    const m = new DnsMessage(reply);
    assert.equal(m.id, 0x1234);
    assert.equal(m.rcode, 0);
    assert.equal(m.ancount, 1);
  } finally {
    fwd.close();
    await up.close();
  }
});

Deno.test("dns_forwarder: moves to the next upstream after a timeout, SERVFAIL when all fail", async () => {
  const dead = await responder(true);
  const live = await responder();
  try {
    const fwd = new DnsForwarder({ upstreams: [dead.addr, live.addr], timeoutMs: 50 });
    const reply = new DnsMessage(await fwd.forwardQuery(QUERY));
    assert.equal(reply.rcode, 0);
    assert.equal(dead.queries(), 1);
    assert.equal(live.queries(), 1);
    const none = new DnsForwarder({ upstreams: [dead.addr], timeoutMs: 20 });
    const fail = new DnsMessage(await none.forwardQuery(QUERY));
    assert.equal(fail.rcode, 2);
    assert.equal(fail.id, 0x1234);
  } finally {
    await dead.close();
    await live.close();
  }
});

Deno.test("dns_forwarder: the gateway answers UDP port 53 through the forwarder", async () => {
  const up = await responder();
  const fwd = new DnsForwarder({ upstreams: [up.addr] });
  const [a, b] = memoryLinkPair();
  const got = new Promise<Uint8Array>((r) => b.onFrame = r);
  const stack = new NetworkStack({ send: a.send, hooks: { dns: fwd } });
  try {
    const c = new FakeContainer();
    stack.receive(c.udp(33333, DEFAULT_NETWORK_CONFIG.gatewayAddress, 53, QUERY), 0);
    const f = parseSent(await got);
    const udp = UdpRepr.parse(f.ipPayload!, f.ip!.src, f.ip!.dst);
    assert.equal(udp.srcPort, 53);
    assert.equal(udp.dstPort, 33333);
    assert.equal(new DnsMessage(udp.payload).ancount, 1);
  } finally {
    stack.close();
    fwd.close();
    await up.close();
  }
});
