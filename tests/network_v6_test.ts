// Integration: IPv6 in the container as the unprivileged user, busybox inside, real servers on the host's ::1.

import assert from "node:assert/strict";
import dgram from "node:dgram";
import { readRequestLine, replyHttp, serveDns } from "./fixtures/net_servers.ts";
import {
  describe,
  fetchPublished,
  makeBusyboxRoot,
  makeSocatRoot,
  removeRoot,
  requireProgram,
  requireTun,
  type RunResult,
  runScript,
} from "./helpers.ts";

const GATEWAY6 = "fd00:15::1";

/** Throws when the host has no IPv6 loopback (the kernel's ipv6 support is off). */
function requireIpv6Loopback(): void {
  try {
    Deno.listen({ hostname: "::1", port: 0 }).close();
  } catch (e) {
    throw new Error(`the host has no ::1 (${e}): boot without ipv6.disable=1`);
  }
}

requireTun();
requireIpv6Loopback();
const root = await makeBusyboxRoot();
addEventListener("unload", () => void removeRoot(root).catch(() => {}));

/** Runs `script` in a container on the shared root (see runScript). */
function inContainer(script: string, options: readonly string[] = []): Promise<RunResult> {
  return runScript(root, script, options);
}

/** A TCP server on [::1] answering every request with `body`; records request lines and peers. */
function serveHttp6(body: string) {
  const listener = Deno.listen({ hostname: "::1", port: 0 });
  const seen: { line: string; peer: string }[] = [];
  const loop = (async () => {
    for await (const conn of listener) {
      try {
        const line = await readRequestLine(conn);
        seen.push({ line, peer: (conn.remoteAddr as Deno.NetAddr).hostname });
        await replyHttp(conn, body);
      } finally {
        conn.close();
      }
    }
  })().catch(() => {});
  return {
    port: listener.addr.port,
    seen,
    async close() {
      listener.close();
      await loop;
    },
  };
}

/** A free TCP port on ::1 (bound and released). */
function freePort6(): number {
  const l = Deno.listen({ hostname: "::1", port: 0 });
  const port = l.addr.port;
  l.close();
  return port;
}

Deno.test("network v6: the container has fd00:15::2, a default route via fd00:15::1, and SLAAC", async () => {
  requireProgram("/bin/busybox", "busybox-static");
  // The address is usable at once (no DAD); the router advertisement adds a SLAAC address.
  const r = await inContainer(
    "ip -6 addr show dev eth0; ip -6 route; sleep 2; echo ---; ip -6 addr show dev eth0; " +
      "cat /etc/resolv.conf /etc/hosts",
  );
  assert.equal(r.code, 0, describe(r));
  const [before, after] = r.stdout.split("---\n");
  assert.match(before!, /inet6 fd00:15::2\/64 scope global/, describe(r));
  assert.doesNotMatch(before!.split("\n").find((l) => l.includes("fd00:15::2/64"))!, /tentative/);
  assert.match(before!, /default via fd00:15::1 dev eth0/);
  assert.match(after!, /inet6 fd00:15::[0-9a-f:]+\/64 scope global .*dynamic/, describe(r));
  assert.match(after!, /nameserver 10\.0\.15\.1\nnameserver fd00:15::1\n/);
  assert.match(after!, /fd00:15::2\t/);
});

Deno.test("network v6: ping -6 reaches the gateway", async () => {
  const r = await inContainer(`ping -6 -c 2 -W 5 ${GATEWAY6}`);
  assert.equal(r.code, 0, describe(r));
  assert.match(r.stdout, /2 packets transmitted, 2 packets received, 0% packet loss/);
  assert.match(r.stdout, /from fd00:15::1/);
});

Deno.test("network v6: HTTP from inside to a server on the host's ::1 via [fd00:15::1]", async () => {
  const server = serveHttp6("hello over IPv6\n");
  try {
    const r = await inContainer(`wget -q -O - http://[${GATEWAY6}]:${server.port}/six`);
    assert.equal(r.code, 0, describe(r));
    assert.equal(r.stdout, "hello over IPv6\n");
    assert.deepEqual(server.seen, [{ line: "GET /six HTTP/1.1", peer: "::1" }]);
  } finally {
    await server.close();
  }
});

Deno.test("network v6: --disable-host-loopback refuses fd00:15::1 at once", async () => {
  const server = serveHttp6("must not be reached\n");
  try {
    const r = await inContainer(
      `wget -q -T 5 -O - http://[${GATEWAY6}]:${server.port}/ || echo refused`,
      ["--disable-host-loopback"],
    );
    assert.equal(r.stdout.trim(), "refused", describe(r));
    assert.deepEqual(server.seen, []);
  } finally {
    await server.close();
  }
});

Deno.test("network v6: DNS over IPv6 to fd00:15::1 reaches the gateway's forwarder", async () => {
  const dns = await serveDns();
  try {
    const r = await inContainer(`nslookup -type=a www.example.test ${GATEWAY6}`, [
      "--dns-upstream",
      `127.0.0.1:${dns.port}`,
    ]);
    assert.equal(r.code, 0, describe(r));
    assert.match(r.stdout, /Server:\s+fd00:15::1/);
    assert.match(r.stdout, /Name:\s+www\.example\.test\nAddress:\s+192\.0\.2\.7/, describe(r));
    assert.ok(dns.received >= 1);
  } finally {
    await dns.close();
  }
});

Deno.test("network v6: UDP over IPv6 to a host echo server on ::1 (busybox nslookup as client)", async () => {
  // nslookup is busybox's one UDP client: a host "DNS" echo on ::1 answers its query verbatim
  // with the response bit set, which nslookup prints as an answerless reply from that server.
  const socket = dgram.createSocket("udp6");
  let received = 0;
  socket.on("message", (msg, rinfo) => {
    received++;
    const reply = Buffer.from(msg);
    reply[2] = reply[2]! | 0x80;
    socket.send(reply, rinfo.port, rinfo.address);
  });
  await new Promise<void>((resolve) => socket.bind(0, "::1", resolve));
  const port = socket.address().port;
  try {
    const r = await inContainer(`nslookup -port=${port} -type=a x.test ${GATEWAY6}; true`);
    assert.ok(received >= 1, describe(r));
    assert.match(r.stdout, /Server:\s+fd00:15::1/, describe(r));
  } finally {
    await new Promise<void>((resolve) => socket.close(() => resolve()));
  }
});

Deno.test("network v6: with --mtu 1500 a 30000-byte UDP datagram is fragmented and reassembled both ways", async () => {
  requireProgram("/usr/bin/python3", "python3");
  const socket = dgram.createSocket("udp6");
  const sizes: number[] = [];
  socket.on("message", (msg, rinfo) => {
    sizes.push(msg.length);
    socket.send(msg, rinfo.port, rinfo.address);
  });
  await new Promise<void>((resolve) => socket.bind(0, "::1", resolve));
  const port = socket.address().port;
  const pyRoot = await makeSocatRoot();
  try {
    // The container's kernel fragments the datagram to the 1500-byte link; the stack
    // reassembles it for the host, and fragments the 30000-byte echo on the way back.
    const program = "import socket; s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM); " +
      "s.settimeout(10); data = bytes(i % 253 for i in range(30000)); " +
      `s.sendto(data, ("${GATEWAY6}", ${port})); back = s.recv(65535); ` +
      "print(len(back), back == data)";
    const r = await runScript(pyRoot, `python3 -c '${program}'`, [
      "-v",
      "/usr:/usr:ro",
      "--mtu",
      "1500",
      "--net-stats",
    ]);
    assert.equal(r.code, 0, describe(r));
    assert.equal(r.stdout.trim(), "30000 True", describe(r));
    assert.deepEqual(sizes, [30000]);
    const line = r.stderr.split("\n").find((l) => l.startsWith("paranoid: network counters "));
    assert.ok(line, r.stderr);
    const events = JSON.parse(line.slice("paranoid: network counters ".length)).stack.events;
    assert.ok(events["ipv6-reassembled"] >= 1, line);
    assert.ok(events["ipv6-fragment-sent"] >= 20, line);
  } finally {
    await removeRoot(pyRoot);
    await new Promise<void>((resolve) => socket.close(() => resolve()));
  }
});

Deno.test("network v6: a published port reached over ::1 sees the client as fd00:15::1", async () => {
  const port = freePort6();
  const run = inContainer("nc -l -p 80 -e netstat -tn", ["-p", `[::1]:${port}:80`]);
  const text = await fetchPublished("::1", port);
  const r = await run;
  assert.equal(r.code, 0, describe(r));
  assert.match(text, /fd00:15::2:80\s+fd00:15::1:\d+\s+ESTABLISHED/, text);
});
