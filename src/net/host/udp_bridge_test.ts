// Tests for the UDP bridge through a real loopback UDP echo server.

import assert from "node:assert/strict";
import dgram from "node:dgram";
import { NetworkStack } from "../stack.ts";
import { DEFAULT_NETWORK_CONFIG, networkConfig } from "../config.ts";
import { memoryLinkPair } from "../link/memory.ts";
import { FakeContainer, parseSent } from "../_test_container.ts";
import { UdpBridge } from "./udp_bridge.ts";
import { UdpRepr } from "../wire/udp.ts";
import { Icmpv4Repr } from "../wire/icmpv4.ts";
import { formatIpv4 } from "../wire/ipv4_address.ts";

const GW = DEFAULT_NETWORK_CONFIG.gatewayAddress;

/** A UDP echo server on 127.0.0.1; close() waits for its loop. */
async function echoServer() {
  const socket = dgram.createSocket("udp4");
  socket.on("message", (data, from) => socket.send(data, from.port, from.address));
  await new Promise<void>((r) => socket.bind(0, "127.0.0.1", r));
  return {
    port: socket.address().port,
    close: () => new Promise<void>((r) => socket.close(() => r())),
  };
}

function setup(config = DEFAULT_NETWORK_CONFIG, maxFlows?: number) {
  const [a, b] = memoryLinkPair();
  const bridge = new UdpBridge({
    config,
    idleTimeoutMs: 60_000,
    ...(maxFlows ? { maxFlows } : {}),
  });
  const stack = new NetworkStack({ config, send: a.send, hooks: { udp: bridge } });
  const frames: Uint8Array[] = [];
  let waiter: (() => void) | null = null;
  b.onFrame = (f) => {
    frames.push(f);
    waiter?.();
  };
  const next = async () => {
    while (frames.length === 0) await new Promise<void>((r) => waiter = r);
    waiter = null;
    return frames.shift()!;
  };
  return { stack, bridge, c: new FakeContainer(config), next };
}

Deno.test("udp_bridge: carries a flow to a loopback echo server and back", async () => {
  const server = await echoServer();
  const { stack, bridge, c, next } = setup();
  try {
    stack.receive(c.udp(40000, GW, server.port, new TextEncoder().encode("marco")), 0);
    const r = parseSent(await next());
    assert.equal(r.ip?.src, GW);
    const udp = UdpRepr.parse(r.ipPayload!, r.ip!.src, r.ip!.dst);
    assert.equal(udp.srcPort, server.port);
    assert.equal(udp.dstPort, 40000);
    assert.equal(new TextDecoder().decode(udp.payload), "marco");
    // A second datagram reuses the flow.
    stack.receive(c.udp(40000, GW, server.port, new TextEncoder().encode("polo")), 10);
    await next();
    assert.equal(bridge.stats.opened, 1);
    assert.equal(bridge.flowCount, 1);
    // Idle timeout on the stack's clock.
    assert.equal(stack.pollAt(), 60_010);
    stack.poll(60_010);
    assert.equal(bridge.flowCount, 0);
    assert.equal(bridge.stats.expired, 1);
  } finally {
    stack.close();
    await bridge.close();
    await server.close();
  }
});

Deno.test("udp_bridge: refuses the gateway when host loopback is disabled", async () => {
  const { stack, bridge, c, next } = setup(networkConfig({ disableHostLoopback: true }));
  try {
    stack.receive(c.udp(40001, GW, 9, new Uint8Array([1, 2])), 0);
    const r = parseSent(await next());
    const icmp = Icmpv4Repr.parse(r.ipPayload!);
    assert.equal(icmp.kind, "dest-unreachable");
    if (icmp.kind === "dest-unreachable") assert.equal(icmp.code, 3);
    assert.equal(formatIpv4(r.ip!.src), "10.0.15.1");
    assert.equal(bridge.flowCount, 0);
    assert.equal(bridge.stats.refused, 1);
  } finally {
    stack.close();
    await bridge.close();
  }
});

Deno.test("udp_bridge: caps the number of flows and closes all on close", async () => {
  const server = await echoServer();
  const { stack, bridge, c } = setup(DEFAULT_NETWORK_CONFIG, 2);
  try {
    for (let port = 41000; port < 41003; port++) {
      stack.receive(c.udp(port, GW, server.port, new Uint8Array([port & 0xff])), 0);
    }
    assert.equal(bridge.flowCount, 2);
    assert.equal(bridge.stats.evicted, 1);
  } finally {
    stack.close();
    await bridge.close();
    assert.equal(bridge.flowCount, 0);
    await server.close();
  }
});
