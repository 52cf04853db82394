// Integration: the container network as the unprivileged user, busybox inside, real servers on the host's loopback.

import assert from "node:assert/strict";
import dgram from "node:dgram";
import { Container } from "../mod.ts";
import {
  dnsQueryOverTcp,
  randomBytes,
  readRequestLine,
  readToEnd,
  replyHttp,
  serveDns,
  serveTcp,
  serveUdpEcho,
  sha256,
  writeAll,
} from "./fixtures/net_servers.ts";
import {
  describe,
  eventually,
  makeBusyboxRoot,
  makeSocatRoot,
  paranoid,
  processesWith,
  removeRoot,
  requireProgram,
  requireTun,
  type RunResult,
  runScript,
} from "./helpers.ts";

const MB20 = 20 * 1024 * 1024;
const GATEWAY = "10.0.15.1";

requireTun();
const root = await makeBusyboxRoot();
const socatRoot = await makeSocatRoot();

/** Runs `script` in a container on `rootDir` (see runScript). */
function inContainer(
  script: string,
  options: readonly string[] = [],
  rootDir = root,
): Promise<RunResult> {
  return runScript(rootDir, script, options);
}

/** Runs `script` in the socat root, with the host's /usr read-only. */
function inSocatContainer(script: string, options: readonly string[] = []): Promise<RunResult> {
  return inContainer(script, ["-v", "/usr:/usr:ro", ...options], socatRoot);
}

Deno.test("network: a 20 MB download from the host's loopback arrives byte-exact", async () => {
  const data = randomBytes(MB20);
  const expected = await sha256(data);
  const requests: string[] = [];
  const server = serveTcp(async (conn) => {
    requests.push(await readRequestLine(conn));
    await replyHttp(conn, data);
  });
  try {
    const r = await inContainer(`wget -q -O - http://${GATEWAY}:${server.port}/blob | sha256sum`);
    assert.equal(r.code, 0, describe(r));
    assert.equal(r.stdout.split(/\s+/)[0], expected, describe(r));
    assert.deepEqual(requests, ["GET /blob HTTP/1.1"]);
  } finally {
    await server.close();
  }
  assert.deepEqual(server.errors, []);
});

Deno.test("network: a 20 MB upload to the host's loopback arrives byte-exact", async () => {
  const got: { length: number; hash: string }[] = [];
  const server = serveTcp(async (conn) => {
    const data = await readToEnd(conn);
    got.push({ length: data.length, hash: await sha256(data) });
    await writeAll(conn, new TextEncoder().encode(`received ${data.length}\n`));
  });
  try {
    const r = await inContainer(
      `head -c ${MB20} /dev/urandom > /tmp/upload && sha256sum /tmp/upload && ` +
        `nc ${GATEWAY} ${server.port} < /tmp/upload && rm /tmp/upload`,
    );
    assert.equal(r.code, 0, describe(r));
    const [hashLine, reply] = r.stdout.trim().split("\n");
    assert.equal(got.length, 1, describe(r));
    assert.equal(got[0]!.length, MB20);
    assert.equal(got[0]!.hash, hashLine!.split(/\s+/)[0]);
    assert.equal(reply, `received ${MB20}`);
  } finally {
    await server.close();
  }
  assert.deepEqual(server.errors, []);
});

Deno.test("network: TCP half-close: the host replies after the container's EOF", async () => {
  const server = serveTcp(async (conn) => {
    const text = new TextDecoder().decode(await readToEnd(conn));
    // Only reached once the container has shut down its sending side.
    await writeAll(conn, new TextEncoder().encode(`after EOF: ${text.toUpperCase()}`));
  });
  try {
    const r = await inContainer(`printf 'one\\ntwo\\n' | nc ${GATEWAY} ${server.port}`);
    assert.equal(r.code, 0, describe(r));
    assert.equal(r.stdout, "after EOF: ONE\nTWO\n");
    assert.equal(server.accepted, 1);
  } finally {
    await server.close();
  }
  assert.deepEqual(server.errors, []);
});

Deno.test("network: a download read slowly in the container arrives byte-exact (zero window)", async () => {
  const data = randomBytes(8 * 1024 * 1024);
  const server = serveTcp(async (conn) => {
    await readRequestLine(conn);
    await replyHttp(conn, data);
  });
  try {
    // The reader starts late, so the pipe, wget and the TCP window fill up and stay closed.
    const r = await inContainer(
      `wget -q -O - http://${GATEWAY}:${server.port}/ | (sleep 2; sha256sum)`,
    );
    assert.equal(r.code, 0, describe(r));
    assert.equal(r.stdout.split(/\s+/)[0], await sha256(data));
  } finally {
    await server.close();
  }
  assert.deepEqual(server.errors, []);
});

Deno.test("network: with --mtu 1500, 8 MB each way arrive byte-exact", async () => {
  const data = randomBytes(8 * 1024 * 1024);
  const uploads: string[] = [];
  const server = serveTcp(async (conn, i) => {
    if (i === 0) {
      await readRequestLine(conn);
      await replyHttp(conn, data);
    } else {
      const got = await readToEnd(conn);
      uploads.push(await sha256(got));
      await writeAll(conn, new TextEncoder().encode(`${got.length}\n`));
    }
  });
  try {
    const r = await inContainer(
      `wget -q -O - http://${GATEWAY}:${server.port}/ | sha256sum && ` +
        `head -c 8388608 /dev/urandom > /tmp/up8 && sha256sum /tmp/up8 && ` +
        `nc ${GATEWAY} ${server.port} < /tmp/up8 && rm /tmp/up8 && ip link show eth0`,
      ["--mtu", "1500"],
    );
    assert.equal(r.code, 0, describe(r));
    const [down, up, length] = r.stdout.split("\n");
    assert.equal(down!.split(/\s+/)[0], await sha256(data));
    assert.deepEqual(uploads, [up!.split(/\s+/)[0]]);
    assert.equal(length, "8388608");
    assert.match(r.stdout, /mtu 1500 /);
  } finally {
    await server.close();
  }
  assert.deepEqual(server.errors, []);
});

Deno.test("network: five downloads and five uploads at once all arrive byte-exact", async () => {
  const data = randomBytes(4 * 1024 * 1024);
  const down = serveTcp(async (conn) => {
    await readRequestLine(conn);
    await replyHttp(conn, data);
  });
  const up = serveTcp(async (conn) => {
    const got = await readToEnd(conn);
    await writeAll(conn, new TextEncoder().encode(`up ${await sha256(got)}\n`));
  });
  try {
    const r = await inContainer(
      `head -c 4194304 /dev/urandom > /tmp/up4 && sha256sum /tmp/up4 && ` +
        `for i in 1 2 3 4 5; do ` +
        `(wget -q -O - http://${GATEWAY}:${down.port}/ | sha256sum) & ` +
        `nc ${GATEWAY} ${up.port} < /tmp/up4 & done; wait; rm /tmp/up4`,
    );
    assert.equal(r.code, 0, describe(r));
    const lines = r.stdout.trim().split("\n");
    const upHash = lines[0]!.split(/\s+/)[0]!;
    const rest = lines.slice(1).sort();
    const downHash = await sha256(data);
    assert.deepEqual(
      rest,
      [
        ...Array(5).fill(`${downHash}  -`),
        ...Array(5).fill(`up ${upHash}`),
      ].sort(),
    );
  } finally {
    await down.close();
    await up.close();
  }
  assert.deepEqual(down.errors, []);
  assert.deepEqual(up.errors, []);
});

Deno.test("network: 20 MB echoed back at once, both directions full, arrive byte-exact", async () => {
  // The echo reads and writes independently: busybox nc blocks in write() while its send
  // buffer is full and reads nothing meanwhile, so an echo that stopped reading while its
  // own writes wait would deadlock with it once 20 MB exceed every buffer on the path (as
  // it would over the kernel's own TCP), whatever the stack in between does.
  const server = serveTcp(async (conn) => {
    const queue: Uint8Array[] = [];
    let ended = false;
    const waiting: { wake: (() => void) | null } = { wake: null };
    const writer = (async () => {
      for (;;) {
        const chunk = queue.shift();
        if (chunk !== undefined) {
          await writeAll(conn, chunk);
          continue;
        }
        if (ended) break;
        await new Promise<void>((r) => waiting.wake = r);
      }
      await conn.closeWrite();
    })();
    for (;;) {
      const buf = new Uint8Array(64 * 1024);
      const n = await conn.read(buf);
      if (n === null) break;
      queue.push(buf.subarray(0, n));
      waiting.wake?.();
    }
    ended = true;
    waiting.wake?.();
    await writer;
  });
  try {
    const r = await inContainer(
      `head -c ${MB20} /dev/urandom > /tmp/duplex && sha256sum < /tmp/duplex && ` +
        `nc ${GATEWAY} ${server.port} < /tmp/duplex | sha256sum; rm /tmp/duplex`,
    );
    assert.equal(r.code, 0, describe(r));
    const [sent, received] = r.stdout.trim().split("\n");
    assert.match(sent!, /^[0-9a-f]{64} /);
    assert.equal(received, sent);
  } finally {
    await server.close();
  }
  assert.deepEqual(server.errors, []);
});

Deno.test("network: a container that stops reading early ends the host's send with an error", async () => {
  const server = serveTcp(async (conn) => {
    await readRequestLine(conn);
    await replyHttp(conn, randomBytes(MB20));
  });
  try {
    const r = await inContainer(
      `wget -q -O - http://${GATEWAY}:${server.port}/ | head -c 1000 | wc -c`,
    );
    assert.equal(r.code, 0, describe(r));
    assert.equal(r.stdout.trim(), "1000");
  } finally {
    await server.close(); // returns only once the host side of the connection has ended
  }
  assert.equal(server.errors.length, 1, "the host's write fails (reset or broken pipe)");
  assert.match(String(server.errors[0]), /Broken pipe|Connection reset/);
});

Deno.test("network: with --mtu 576 a download arrives byte-exact", async () => {
  const data = randomBytes(2 * 1024 * 1024);
  const server = serveTcp(async (conn) => {
    await readRequestLine(conn);
    await replyHttp(conn, data);
  });
  try {
    const r = await inContainer(`wget -q -O - http://${GATEWAY}:${server.port}/ | sha256sum`, [
      "--mtu",
      "576",
    ]);
    assert.equal(r.code, 0, describe(r));
    assert.equal(r.stdout.split(/\s+/)[0], await sha256(data));
  } finally {
    await server.close();
  }
});

Deno.test("network: with --mtu 1500, 50 parallel downloads and 30 parallel uploads of 2 MB", async () => {
  const data = randomBytes(2 * 1024 * 1024);
  const down = serveTcp(async (conn) => {
    await readRequestLine(conn);
    await replyHttp(conn, data);
  });
  const uploads: string[] = [];
  const up = serveTcp(async (conn) => {
    const got = await readToEnd(conn);
    uploads.push(await sha256(got));
    await writeAll(conn, new TextEncoder().encode("stored\n"));
  });
  try {
    const r = await inContainer(
      `head -c 2097152 /dev/urandom > /tmp/up2 && sha256sum < /tmp/up2 && ` +
        `for i in $(seq 1 50); do (wget -q -O - http://${GATEWAY}:${down.port}/ | sha256sum) & done; ` +
        `for i in $(seq 1 30); do nc ${GATEWAY} ${up.port} < /tmp/up2 & done; wait; rm /tmp/up2`,
      ["--mtu", "1500"],
    );
    assert.equal(r.code, 0, describe(r));
    const [upHash, ...rest] = r.stdout.trim().split("\n");
    const downHash = `${await sha256(data)}  -`;
    assert.equal(rest.filter((l) => l === downHash).length, 50, describe(r));
    assert.equal(rest.filter((l) => l === "stored").length, 30, describe(r));
    assert.deepEqual(uploads, Array(30).fill(upHash!.split(/\s+/)[0]));
  } finally {
    await down.close();
    await up.close();
  }
  assert.deepEqual(down.errors, []);
  assert.deepEqual(up.errors, []);
});

Deno.test("network: a host server that closes mid-response is seen as a premature close", async () => {
  const server = serveTcp(async (conn) => {
    await readRequestLine(conn);
    const head = "HTTP/1.0 200 OK\r\nContent-Length: 10000000\r\n\r\n";
    await writeAll(conn, new TextEncoder().encode(head));
    await writeAll(conn, randomBytes(100_000));
  });
  try {
    const r = await inContainer(`wget -O /dev/null http://${GATEWAY}:${server.port}/`);
    assert.notEqual(r.code, 0, describe(r));
    assert.match(r.stderr, /connection closed prematurely/, describe(r));
  } finally {
    await server.close();
  }
});

Deno.test("network: 500 sequential connections all complete (port reuse)", async () => {
  const server = serveTcp(async (conn, i) => {
    await readRequestLine(conn);
    await replyHttp(conn, `reply ${i}\n`);
  });
  try {
    const r = await inContainer(
      `for i in $(seq 1 500); do wget -q -O - http://${GATEWAY}:${server.port}/ || echo FAILED; done`,
    );
    assert.equal(r.code, 0, describe(r));
    const lines = r.stdout.trim().split("\n");
    assert.equal(lines.length, 500);
    assert.equal(new Set(lines).size, 500, "500 distinct replies, none failed");
    assert.equal(server.accepted, 500);
  } finally {
    await server.close();
  }
  assert.deepEqual(server.errors, []);
});

Deno.test("network: addresses other than the gateway are dialled on the host as they are", async () => {
  const address = Deno.networkInterfaces().find((i) =>
    i.family === "IPv4" && !i.address.startsWith("127.")
  )?.address;
  assert.ok(address !== undefined, "the host needs a non-loopback IPv4 address for this test");
  const listener = Deno.listen({ hostname: address, port: 0 });
  const served = (async () => {
    const conn = await listener.accept();
    try {
      await readRequestLine(conn);
      await replyHttp(conn, `direct to ${address}\n`);
    } finally {
      conn.close();
    }
  })();
  try {
    const r = await inContainer(`wget -q -O - http://${address}:${listener.addr.port}/`);
    assert.equal(r.code, 0, describe(r));
    assert.equal(r.stdout, `direct to ${address}\n`);
    await served;
  } finally {
    listener.close();
  }
});

Deno.test("network: UDP datagrams make the round trip to a host echo server (socat)", async () => {
  const echo = await serveUdpEcho();
  try {
    // One datagram each, the last one 30005 bytes (socat's -b lifts its 8192-byte default).
    const big = "x".repeat(30000);
    const r = await inSocatContainer(
      // socat sends what one read returns as one datagram: from a file, not a pipe that a
      // writer may fill in pieces.
      `for m in hello "two words" ${big}; do printf %s "$m" > /tmp/datagram; ` +
        `socat -b 65536 -t 2 - UDP4:${GATEWAY}:${echo.port} < /tmp/datagram; echo; done`,
    );
    assert.equal(r.code, 0, describe(r));
    const lines = r.stdout.split("\n");
    assert.deepEqual(lines.slice(0, 2), ["echo:hello", "echo:two words"], describe(r));
    assert.ok(
      lines[2] === `echo:${big}`,
      `the 30000-byte datagram came back as ${lines[2]?.length}`,
    );
    assert.equal(echo.received, 3);
  } finally {
    await echo.close();
  }
});

Deno.test("network: with --mtu 1500 a 30000-byte UDP datagram is fragmented both ways", async () => {
  const echo = await serveUdpEcho();
  try {
    const r = await inSocatContainer(
      `head -c 30000 /dev/zero | tr '\\0' y > /tmp/datagram; ` +
        `socat -b 65536 -t 2 - UDP4:${GATEWAY}:${echo.port} < /tmp/datagram | wc -c`,
      ["--mtu", "1500"],
    );
    assert.equal(r.code, 0, describe(r));
    assert.equal(r.stdout.trim(), "30005");
    assert.equal(echo.received, 1);
  } finally {
    await echo.close();
  }
});

Deno.test("network: UDP to the gateway with --disable-host-loopback is refused (ICMP)", async () => {
  const echo = await serveUdpEcho();
  try {
    const r = await inSocatContainer(
      `echo hello | socat -t 2 - UDP4:${GATEWAY}:${echo.port}; echo "socat exit $?"`,
      ["--disable-host-loopback"],
    );
    assert.equal(r.code, 0, describe(r));
    assert.match(r.stderr, /Connection refused/, describe(r));
    assert.match(r.stdout, /socat exit [1-9]/);
    assert.equal(echo.received, 0);
  } finally {
    await echo.close();
  }
});

Deno.test("network: UDP to a closed host port is refused (ICMP port unreachable)", async () => {
  const closed = await serveUdpEcho();
  const port = closed.port;
  await closed.close();
  const r = await inSocatContainer(
    `echo hello | socat -t 2 - UDP4:${GATEWAY}:${port}; echo "socat exit $?"`,
  );
  assert.equal(r.code, 0, describe(r));
  // Linux would answer with ICMP port unreachable, which the container sees as ECONNREFUSED.
  assert.match(r.stderr, /Connection refused/, describe(r));
  assert.match(r.stdout, /socat exit [1-9]/);
});

Deno.test("network: nslookup resolves through the gateway's forwarder to --dns-upstream", async () => {
  const dns = await serveDns();
  try {
    const r = await inContainer("cat /etc/resolv.conf; nslookup -type=a www.example.test", [
      "--dns-upstream",
      `127.0.0.1:${dns.port}`,
    ]);
    assert.equal(r.code, 0, describe(r));
    assert.match(r.stdout, /nameserver 10\.0\.15\.1/);
    assert.match(r.stdout, /Server:\s+10\.0\.15\.1/);
    assert.match(r.stdout, /Name:\s+www\.example\.test\nAddress:\s+192\.0\.2\.7/);
    assert.ok(dns.received >= 1);
  } finally {
    await dns.close();
  }
});

Deno.test("network: DNS over TCP to the gateway is answered from --dns-upstream (socat)", async () => {
  const dns = await serveDns();
  try {
    await Deno.writeFile(`${socatRoot}/tmp/query`, dnsQueryOverTcp("tcp.example.test", 0x4242));
    const r = await inSocatContainer(
      `socat -t 5 - TCP4:${GATEWAY}:53 < /tmp/query | od -An -v -tx1`,
      ["--dns-upstream", `127.0.0.1:${dns.port}`],
    );
    assert.equal(r.code, 0, describe(r));
    const bytes = r.stdout.trim().split(/\s+/).map((h) => parseInt(h, 16));
    assert.ok(bytes.length > 14, describe(r));
    assert.equal((bytes[0]! << 8) | bytes[1]!, bytes.length - 2, "the TCP length prefix");
    assert.deepEqual(bytes.slice(2, 4), [0x42, 0x42], "the query id");
    assert.equal(bytes[5]! & 0x0f, 0, "RCODE");
    assert.deepEqual(bytes.slice(-4), [192, 0, 2, 7]);
    assert.equal(dns.received, 1);
  } finally {
    await Deno.remove(`${socatRoot}/tmp/query`);
    await dns.close();
  }
});

Deno.test("network: DNS over TCP gets SERVFAIL when the upstream does not answer", async () => {
  const dead = await serveUdpEcho();
  const port = dead.port;
  await dead.close();
  try {
    await Deno.writeFile(`${socatRoot}/tmp/query`, dnsQueryOverTcp("dead.example.test", 0x0707));
    const r = await inSocatContainer(
      `socat -t 10 - TCP4:${GATEWAY}:53 < /tmp/query | od -An -v -tx1`,
      ["--dns-upstream", `127.0.0.1:${port}`],
    );
    assert.equal(r.code, 0, describe(r));
    const bytes = r.stdout.trim().split(/\s+/).map((h) => parseInt(h, 16));
    assert.deepEqual(bytes.slice(2, 4), [0x07, 0x07], describe(r));
    assert.equal(bytes[5]! & 0x0f, 2, "RCODE SERVFAIL");
  } finally {
    await Deno.remove(`${socatRoot}/tmp/query`);
  }
});

Deno.test("network: udhcpc obtains the lease of 10.0.15.2 from the gateway", async () => {
  const r = await inContainer("udhcpc -i eth0 -n -q -f -s /bin/true 2>&1");
  assert.equal(r.code, 0, describe(r));
  assert.match(r.stdout, /lease of 10\.0\.15\.2 obtained from 10\.0\.15\.1/, describe(r));
});

Deno.test("network: the DHCP lease carries the router, DNS server, netmask, MTU and lease time", async () => {
  const script = `${root}/tmp/lease.sh`;
  await Deno.writeTextFile(
    script,
    '#!/bin/sh\n[ "$1" = bound ] && ' +
      'echo "LEASE ip=$ip router=$router dns=$dns subnet=$subnet mtu=$mtu lease=$lease"\nexit 0\n',
    { mode: 0o755 },
  );
  try {
    const r = await inContainer("udhcpc -i eth0 -n -q -f -s /tmp/lease.sh");
    assert.equal(r.code, 0, describe(r));
    assert.match(
      r.stdout,
      /LEASE ip=10\.0\.15\.2 router=10\.0\.15\.1 dns=10\.0\.15\.1 subnet=255\.255\.255\.252 mtu=65520 lease=86400/,
      describe(r),
    );
  } finally {
    await Deno.remove(script);
  }
});

Deno.test("network: ping of the gateway is answered, with 1500-byte MTU fragments too", async () => {
  const r = await inContainer(
    `ping -c 3 ${GATEWAY} && ping -c 2 -s 4000 ${GATEWAY} && ip link show eth0`,
    ["--mtu", "1500"],
  );
  assert.equal(r.code, 0, describe(r));
  assert.match(r.stdout, /3 packets transmitted, 3 packets received, 0% packet loss/);
  assert.match(r.stdout, /2 packets transmitted, 2 packets received, 0% packet loss/);
  assert.match(r.stdout, /4008 bytes from 10\.0\.15\.1/);
  assert.match(r.stdout, /mtu 1500 /);
});

Deno.test("network: ping beyond the gateway is answered, or refused with the reason on stderr", async () => {
  const address = Deno.networkInterfaces().find((i) =>
    i.family === "IPv4" && !i.address.startsWith("127.")
  )?.address;
  assert.ok(address !== undefined, "the host needs a non-loopback IPv4 address for this test");
  const r = await inContainer(`ping -c 1 -W 3 ${address}; echo "ping exit $?"`);
  assert.equal(r.code, 0, describe(r));
  if (/1 packets received/.test(r.stdout)) {
    assert.match(r.stdout, /ping exit 0/);
  } else {
    // Unprivileged ICMP sockets are off here (net.ipv4.ping_group_range): paranoid says so.
    assert.match(r.stderr, /ping_group_range/, describe(r));
    assert.match(r.stdout, /ping exit 1/);
  }
});

Deno.test("network: 100 parallel connections are all open at once and all complete", async () => {
  const paths = new Set<string>();
  let release!: () => void;
  const allOpen = new Promise<void>((r) => release = r);
  // Fallback so that a stack that cannot hold 100 connections fails the assertion, not hangs.
  const fallback = setTimeout(release, 60_000);
  const server = serveTcp(async (conn) => {
    const line = await readRequestLine(conn);
    const path = line.split(" ")[1]!;
    paths.add(path);
    if (paths.size === 100) release();
    await allOpen;
    await replyHttp(conn, `reply for ${path}\n`);
  });
  try {
    const script = `for i in $(seq 1 100); do ` +
      `wget -q -O /tmp/r$i http://${GATEWAY}:${server.port}/c$i & done; wait; ` +
      `for i in $(seq 1 100); do [ "$(cat /tmp/r$i)" = "reply for /c$i" ] && echo ok$i; done; ` +
      `rm -f /tmp/r*`;
    const r = await inContainer(script);
    assert.equal(r.code, 0, describe(r));
    assert.equal(server.accepted, 100);
    assert.equal(paths.size, 100, "distinct requests open at once before any reply");
    const oks = r.stdout.trim().split("\n");
    assert.deepEqual(oks, Array.from({ length: 100 }, (_, i) => `ok${i + 1}`));
  } finally {
    clearTimeout(fallback);
    release();
    await server.close();
  }
  assert.deepEqual(server.errors, []);
});

Deno.test("network: a --net-trace path that cannot be written fails the start with one sentence", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.chmod(dir, 0o500);
    const path = `${dir}/trace.pcap`;
    const marker = `trace-${crypto.randomUUID()}`;
    const r = await inContainer(`echo ${marker}`, ["--net-trace", path]);
    assert.equal(r.code, 125, describe(r));
    assert.equal(r.stderr.trim().split("\n").length, 1, r.stderr);
    assert.match(r.stderr, new RegExp(`cannot write the network trace ${path}`));
    assert.doesNotMatch(r.stdout, new RegExp(marker));
  } finally {
    await Deno.chmod(dir, 0o700);
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("network: --net-trace writes a pcap that tcpdump reads, with the container's SYN", async () => {
  requireProgram("/usr/bin/tcpdump", "tcpdump");
  const dir = await Deno.makeTempDir({ prefix: "paranoid-trace-" });
  const server = serveTcp(async (conn) => {
    await readRequestLine(conn);
    await replyHttp(conn, "traced\n");
  });
  try {
    const file = `${dir}/trace.pcap`;
    const r = await inContainer(`wget -q -O - http://${GATEWAY}:${server.port}/`, [
      "--net-trace",
      file,
    ]);
    assert.equal(r.code, 0, describe(r));
    assert.equal(r.stdout, "traced\n");
    const dump = await new Deno.Command("/usr/bin/tcpdump", {
      args: ["-nn", "-r", file],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const text = new TextDecoder().decode(dump.stdout);
    assert.equal(dump.code, 0, new TextDecoder().decode(dump.stderr));
    assert.match(
      text,
      new RegExp(`IP 10\\.0\\.15\\.2\\.\\d+ > 10\\.0\\.15\\.1\\.${server.port}: Flags \\[S\\]`),
    );
    assert.match(
      text,
      new RegExp(`IP 10\\.0\\.15\\.1\\.${server.port} > 10\\.0\\.15\\.2\\.\\d+: Flags \\[S\\.\\]`),
    );
  } finally {
    await server.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("network: a connection to a closed host port is refused", async () => {
  // A port that was free a moment ago and has no listener now.
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = l.addr.port;
  l.close();
  const r = await inContainer(`wget -q -O - http://${GATEWAY}:${port}/`);
  assert.notEqual(r.code, 0, describe(r));
  assert.match(r.stderr, /Connection refused/, describe(r));
});

Deno.test("network: --disable-host-loopback makes the gateway's ports unreachable", async () => {
  const server = serveTcp(async (conn) => {
    await readRequestLine(conn);
    await replyHttp(conn, "should not be reached\n");
  });
  try {
    const r = await inContainer(
      `wget -q -O - http://${GATEWAY}:${server.port}/; echo "wget exit $?"; ping -c 1 ${GATEWAY}`,
      ["--disable-host-loopback"],
    );
    assert.equal(r.code, 0, describe(r));
    assert.match(r.stdout, /wget exit [1-9]/, describe(r));
    assert.doesNotMatch(r.stdout, /should not be reached/);
    assert.match(r.stdout, /1 packets received/, "the gateway itself still answers");
    assert.equal(server.accepted, 0);
  } finally {
    await server.close();
  }
});

Deno.test("network: -N leaves only lo", async () => {
  const r = await inContainer("ip -o link; ip -o -4 addr; ip route; cat /etc/resolv.conf", ["-N"]);
  assert.equal(r.code, 0, describe(r));
  const links = r.stdout.split("\n").filter((l) => /^\d+: /.test(l) && l.includes("mtu"));
  assert.deepEqual(links.map((l) => l.split(":")[1]!.trim()), ["lo"], describe(r));
  assert.doesNotMatch(r.stdout, /eth0|10\.0\.15/);
});

Deno.test("network: after a networked run no process is left and open host connections close", async () => {
  const marker = `net-marker-${crypto.randomUUID()}`;
  let holdEnded = false;
  const server = serveTcp(async (conn) => {
    await readRequestLine(conn);
    // Promise more than is sent, so the container's wget stays connected.
    await writeAll(
      conn,
      new TextEncoder().encode("HTTP/1.0 200 OK\r\nContent-Length: 1000000\r\n\r\nstarted\n"),
    );
    await readToEnd(conn).catch(() => {}); // EOF or reset: the container side is gone
    holdEnded = true;
  });
  try {
    const script = `sh -c 'while :; do sleep 1; done' "$0" & ` +
      `wget -q -O /tmp/hold http://${GATEWAY}:${server.port}/hold & ` +
      `until [ -s /tmp/hold ]; do sleep 0.05; done; cat /tmp/hold; rm /tmp/hold`;
    const r = await paranoid([`--root=${root}`, "--", "/bin/sh", "-c", script, marker]);
    assert.equal(r.code, 0, describe(r));
    assert.equal(r.stdout, "started\n");
    await eventually(() => holdEnded, "the host connection to close");
    await eventually(() => processesWith(marker).length === 0, "the container's processes to die");
  } finally {
    await server.close();
  }
  assert.equal(server.accepted, 1);
});

Deno.test("network: the library, in-process, leaks no host socket after a connection-heavy run", async () => {
  const dns = await serveDns();
  const echo = await serveUdpEcho();
  const server = serveTcp(async (conn, i) => {
    await readRequestLine(conn);
    await replyHttp(conn, `n${i}\n`);
  });
  try {
    const script =
      `for i in $(seq 1 30); do wget -q -O - http://${GATEWAY}:${server.port}/; done; ` +
      `for i in $(seq 1 30); do wget -q -O /dev/null http://${GATEWAY}:${server.port}/ & done; ` +
      `wait; nslookup -type=a lib.example.test | grep -c 192.0.2.7; ping -c 2 ${GATEWAY} | ` +
      `grep -c 'bytes from'`;
    const out = await new Container({
      root,
      command: "/bin/sh",
      args: ["-c", script],
      network: { dnsUpstreams: [`127.0.0.1:${dns.port}`] },
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stdout = new TextDecoder().decode(out.stdout);
    assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
    const lines = stdout.trim().split("\n");
    assert.equal(lines.length, 32, stdout);
    assert.equal(new Set(lines.slice(0, 30)).size, 30, "30 distinct sequential replies");
    assert.deepEqual(lines.slice(30), ["1", "2"]);
    assert.equal(server.accepted, 60);
  } finally {
    await server.close();
    await echo.close();
    await dns.close();
  }
  assert.deepEqual(server.errors, []);
  // The test sanitizers now check that no resource (host socket, TAP read, timer) is left.
});

/** The running kernel's version as [major, minor]. */
function kernelVersion(): [number, number] {
  const [major, minor] = Deno.osRelease().split(".").map((p) => parseInt(p, 10));
  return [major ?? 0, minor ?? 0];
}

for (
  const [family, gateway, host] of [["udp4", GATEWAY, "127.0.0.1"], [
    "udp6",
    "fd00:15::1",
    "::1",
  ]] as const
) {
  Deno.test(`network: a UDP_SEGMENT send (${family}) reaches the host as the datagrams it holds`, async () => {
    requireProgram("/usr/bin/python3", "python3");
    const sock = dgram.createSocket(family);
    const got: Uint8Array[] = [];
    sock.on("message", (m) => got.push(new Uint8Array(m)));
    await new Promise<void>((r) => sock.bind(0, host, r));
    try {
      // 9500 bytes in one sendto with UDP_SEGMENT (103) at 1000: nine datagrams of 1000 and one
      // of 500, which the container's kernel hands over whole where the TAP agreed to USO.
      const program =
        `import socket; s = socket.socket(socket.${
          family === "udp4" ? "AF_INET" : "AF_INET6"
        }, socket.SOCK_DGRAM); s.setsockopt(socket.SOL_UDP, 103, 1000); ` +
        `s.sendto(bytes(i % 251 for i in range(9500)), ("${gateway}", ${sock.address().port}))`;
      const r = await inSocatContainer(`python3 -c '${program}'`, ["--net-stats"]);
      assert.equal(r.code, 0, describe(r));
      await eventually(() => got.length >= 10, "ten datagrams at the host");
      assert.deepEqual(got.map((d) => d.length), [...Array(9).fill(1000), 500]);
      const joined = new Uint8Array(9500);
      got.forEach((d, i) => joined.set(d, i * 1000));
      assert.ok(joined.every((b, i) => b === i % 251), "the bytes arrived intact, in order");
      const line = r.stderr.split("\n").find((l) => l.startsWith("paranoid: network counters "));
      assert.ok(line, r.stderr);
      const link = JSON.parse(line.slice("paranoid: network counters ".length)).link;
      // Linux 6.2 and later take TUN_F_USO4/USO6: the send crossed the TAP as one frame.
      const [major, minor] = kernelVersion();
      if (major > 6 || (major === 6 && minor >= 2)) assert.ok(link.gsoIn >= 1, line);
      assert.equal(link.dropsIn, 0, line);
    } finally {
      sock.close();
    }
  });
}

Deno.test("network: --net-stats dumps the stack's counters, with drops by reason", async () => {
  const r = await inContainer("ping -c 2 10.0.15.1 >/dev/null", ["--net-stats"]);
  assert.equal(r.code, 0, describe(r));
  const line = r.stderr.split("\n").find((l) => l.startsWith("paranoid: network counters "));
  assert.ok(line, r.stderr);
  const counters = JSON.parse(line.slice("paranoid: network counters ".length));
  assert.ok(counters.stack.events["icmp-echo-answered"] >= 2, line);
  assert.equal(typeof counters.stack.drops, "object");
  assert.ok(counters.link.framesIn >= 2);
});

Deno.test("network: cleanup of the shared roots", async () => {
  await removeRoot(root);
  await removeRoot(socatRoot);
});
