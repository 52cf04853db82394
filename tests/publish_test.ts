// Integration: published ports (-p) over IPv4 as the unprivileged user: TCP and UDP, ranges,
// the client's real address inside, and ports that cannot be bound.

import assert from "node:assert/strict";
import dgram from "node:dgram";
import {
  describe,
  fetchPublished,
  makeSocatRoot,
  paranoid,
  processesWith,
  removeRoot,
  requireTun,
  type RunResult,
  runScript,
} from "./helpers.ts";

requireTun();
const root = await makeSocatRoot();

/**
 * One of this host's own IPv4 addresses other than loopback. A connection to it stays on
 * the host, and the kernel gives it that address as the source, so the container must see
 * it as the client's address (where a loopback client appears as the gateway).
 */
function hostAddress(): string {
  const found = Deno.networkInterfaces().find((i) =>
    i.family === "IPv4" && !i.address.startsWith("127.")
  );
  if (found === undefined) {
    throw new Error("this host has no IPv4 address besides loopback: the test needs one");
  }
  return found.address;
}

/** `n` consecutive ports that are free for TCP and UDP on every address. */
async function freePorts(n: number): Promise<number> {
  for (let attempt = 0; attempt < 200; attempt++) {
    const base = 20000 + Math.floor(Math.random() * 20000);
    const held: { close(): void }[] = [];
    try {
      for (let p = base; p < base + n; p++) {
        held.push(Deno.listen({ port: p }));
        const udp = dgram.createSocket("udp4");
        held.push(udp);
        await new Promise<void>((resolve, reject) => {
          udp.once("error", reject);
          udp.bind(p, "0.0.0.0", resolve);
        });
      }
      return base;
    } catch {
      // taken: try another base
    } finally {
      for (const h of held) h.close();
    }
  }
  throw new Error("no free port range found");
}

function inContainer(script: string, options: readonly string[]): Promise<RunResult> {
  return runScript(root, script, ["-v", "/usr:/usr:ro", ...options]);
}

/** Sends `message` from a fresh UDP socket until a reply comes back; returns it. */
async function udpAsk(hostname: string, port: number, message: string): Promise<string> {
  const socket = dgram.createSocket("udp4");
  try {
    const reply = new Promise<string>((resolve) =>
      socket.on("message", (m: Uint8Array) => resolve(new TextDecoder().decode(m)))
    );
    await new Promise<void>((resolve) => socket.bind(0, "0.0.0.0", resolve));
    const deadline = Date.now() + 60_000;
    while (Date.now() < deadline) {
      socket.send(message, port, hostname);
      const got = await Promise.race([
        reply,
        new Promise<null>((r) => setTimeout(() => r(null), 200)),
      ]);
      if (got !== null) return got;
    }
    throw new Error(`no UDP reply from ${hostname}:${port}`);
  } finally {
    await new Promise<void>((resolve) => socket.close(() => resolve()));
  }
}

Deno.test("publish: a TCP port sees a loopback client as 10.0.15.1 and any other client as itself", async () => {
  const port = await freePorts(1);
  const address = hostAddress();
  // Two connections, one at a time: each gets netstat's view of itself from inside.
  const run = inContainer(
    "for i in 1 2; do nc -l -p 80 -e netstat -tn; done",
    ["-p", `${port}:80`],
  );
  const fromLoopback = await fetchPublished("127.0.0.1", port);
  const fromAddress = await fetchPublished(address, port);
  const r = await run;
  assert.equal(r.code, 0, describe(r));
  // nc listens on a dual-stack socket: IPv4 peers show as ::ffff:a.b.c.d.
  assert.match(fromLoopback, /10\.0\.15\.2:80\s+(::ffff:)?10\.0\.15\.1:\d+\s+ESTAB/, fromLoopback);
  const escaped = address.replaceAll(".", "\\.");
  const seen = new RegExp(`10\\.0\\.15\\.2:80\\s+(::ffff:)?${escaped}:\\d+\\s+ESTAB`);
  assert.match(fromAddress, seen, fromAddress);
});

Deno.test("publish: a range maps port to port, and HOSTIP limits where the host listens", async () => {
  const base = await freePorts(2);
  const run = inContainer(
    "nc -l -p 8001 -e echo one & nc -l -p 8002 -e echo two & wait",
    ["-p", `127.0.0.1:${base}-${base + 1}:8001-8002`],
  );
  try {
    assert.equal(await fetchPublished("127.0.0.1", base), "one\n");
    assert.equal(await fetchPublished("127.0.0.1", base + 1), "two\n");
    // Bound to 127.0.0.1 only: the host's other address refuses.
    await assert.rejects(Deno.connect({ hostname: hostAddress(), port: base }));
  } finally {
    const r = await run;
    assert.equal(r.code, 0, describe(r));
  }
});

Deno.test("publish: UDP keeps one flow per client, each answered with the address it came from", async () => {
  const port = await freePorts(1);
  const address = hostAddress();
  const signal = await Deno.makeTempDir({ prefix: "paranoid-publish-" });
  const run = inContainer(
    // Each datagram forks a child that answers its sender with the peer address socat saw;
    // the server runs until the test drops a file into /signal.
    `socat UDP4-RECVFROM:9000,fork SYSTEM:'echo "$SOCAT_PEERADDR:$SOCAT_PEERPORT"' & ` +
      `while [ ! -e /signal/done ]; do sleep 0.1; done; kill $!`,
    ["-p", `${port}:9000/udp`, "-v", `${signal}:/signal`],
  );
  try {
    const [a, b] = await Promise.all([
      udpAsk("127.0.0.1", port, "first"),
      udpAsk("127.0.0.1", port, "second"),
    ]);
    const c = await udpAsk(address, port, "third");
    // The two loopback clients come from the gateway, each on a port of its own.
    assert.match(a, /^10\.0\.15\.1:\d+\n$/);
    assert.match(b, /^10\.0\.15\.1:\d+\n$/);
    assert.notEqual(a, b, "two clients shared one flow");
    assert.equal(c.split(":")[0], address);
  } finally {
    await Deno.writeTextFile(`${signal}/done`, "");
    const r = await run;
    await Deno.remove(signal, { recursive: true });
    assert.equal(r.code, 0, describe(r));
  }
});

Deno.test("publish: what a container answers just before it ends reaches the client", async () => {
  // nc answers one connection and exits, and the container with it: the answer is still in the
  // stack's buffers when the container is gone, and must not be lost (five times over).
  for (let i = 0; i < 5; i++) {
    const port = await freePorts(1);
    const run = inContainer("nc -l -p 80 -e echo last-words", ["-p", `127.0.0.1:${port}:80`]);
    const text = await fetchPublished("127.0.0.1", port);
    const r = await run;
    assert.equal(r.code, 0, describe(r));
    assert.equal(text, "last-words\n");
  }
});

Deno.test("publish: a port in use fails the start with one sentence and leaves nothing running", async () => {
  const taken = Deno.listen({ port: 0 });
  const marker = `publish-${crypto.randomUUID()}`;
  try {
    const r = await paranoid([
      `--root=${root}`,
      "-p",
      `${taken.addr.port}:80`,
      "--",
      "sh",
      "-c",
      `echo ${marker}`,
    ]);
    assert.equal(r.code, 125, describe(r));
    assert.match(r.stderr, new RegExp(`port 0\\.0\\.0\\.0:${taken.addr.port}/tcp.*in use`));
    assert.equal(r.stderr.trim().split("\n").length, 1, r.stderr);
    assert.doesNotMatch(r.stdout, new RegExp(marker));
    assert.deepEqual(processesWith(marker), []);
  } finally {
    taken.close();
  }
});

Deno.test("publish: a port below ip_unprivileged_port_start names the sysctl", async () => {
  const start = Number(
    Deno.readTextFileSync("/proc/sys/net/ipv4/ip_unprivileged_port_start").trim(),
  );
  const r = await paranoid([`--root=${root}`, "-p", "127.0.0.1:1:80", "--", "true"]);
  if (start <= 1) {
    // Every port is open to users on this host: publishing port 1 must simply work.
    assert.equal(r.code, 0, describe(r));
    return;
  }
  assert.equal(r.code, 125, describe(r));
  assert.match(r.stderr, /port 127\.0\.0\.1:1\/tcp: ports below \d+ need privileges/);
  assert.match(r.stderr, /sysctl -w net\.ipv4\.ip_unprivileged_port_start=1/);
});

Deno.test("publish: cleanup of the shared root", async () => {
  await removeRoot(root);
});
