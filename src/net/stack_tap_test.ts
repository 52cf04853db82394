// End-to-end: a real Linux network stack on a TAP pings the gateway (fragmented too) and resolves names.

import assert from "node:assert/strict";
import dgram from "node:dgram";
import { NetworkStack } from "./stack.ts";
import { networkConfig } from "./config.ts";
import { runOnTap, tapAvailable } from "./_test_tap.ts";
import { DnsForwarder } from "./services/dns_forwarder.ts";
import { parseDnsQuestion } from "./wire/dns.ts";
import { UdpBridge } from "./host/udp_bridge.ts";

const SETUP = "ip addr add 10.0.15.2/30 dev eth0 && ip route add default via 10.0.15.1 && ";

Deno.test({
  name: "stack: Linux pings the gateway through a TAP, with 1500-byte MTU fragments",
  ignore: !tapAvailable(),
  async fn() {
    const config = networkConfig({ mtu: 1500 });
    let stack: NetworkStack | undefined;
    const run = await runOnTap(
      SETUP + "busybox ping -c 2 -W 2 10.0.15.1 && busybox ping -c 1 -s 4000 -W 2 10.0.15.1",
      (send) => stack = new NetworkStack({ config, send }),
    );
    if (run.unsupported) return;
    assert.ok(run.success, run.log);
    assert.match(run.log, /2 packets transmitted, 2 packets received/);
    assert.match(run.log, /4008 bytes from 10\.0\.15\.1/);
    assert.ok(stack!.counters().events["ipv4-reassembled"]! >= 1);
  },
});

Deno.test({
  name: "stack: Linux resolves a name through the gateway's DNS forwarder",
  ignore: !tapAvailable(),
  async fn() {
    // A tiny upstream on host loopback that answers every A query with 192.0.2.7.
    const upstream = dgram.createSocket("udp4");
    upstream.on("message", (q: Uint8Array, from) => {
      const end = parseDnsQuestion(q).end;
      const reply = new Uint8Array(end + 16);
      reply.set(q.subarray(0, end));
      reply.set([0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 0], 2);
      reply.set([0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 192, 0, 2, 7], end);
      upstream.send(reply, from.port, from.address);
    });
    await new Promise<void>((r) => upstream.bind(0, "127.0.0.1", r));
    const dns = new DnsForwarder({ upstreams: [`127.0.0.1:${upstream.address().port}`] });
    const config = networkConfig({});
    const udp = new UdpBridge({ config });
    try {
      const run = await runOnTap(
        SETUP + "busybox nslookup -type=a example.test 10.0.15.1",
        (send) => new NetworkStack({ config, send, hooks: { dns, udp } }),
      );
      if (run.unsupported) return;
      assert.ok(run.success, run.log);
      assert.match(run.log, /Address: 192\.0\.2\.7/);
    } finally {
      dns.close();
      await udp.close();
      await new Promise<void>((r) => upstream.close(() => r()));
    }
  },
});
