// Tests for the TCP bridge: a "container" TcpLayer drives connections through the bridge to real sockets.

import assert from "node:assert/strict";
import { FakeContainer, parseSent } from "../_test_container.ts";
import { DEFAULT_NETWORK_CONFIG } from "../config.ts";
import { NetworkStack } from "../stack.ts";
import type { TcpConnection } from "../tcp/connection.ts";
import { TcpLayer } from "../tcp/layer.ts";
import { patternBytes } from "../tcp/_testing.ts";
import { dnsOverTcp, TcpBridge } from "./tcp_bridge.ts";

const GATEWAY = DEFAULT_NETWORK_CONFIG.gatewayAddress;
const CONTAINER = DEFAULT_NETWORK_CONFIG.containerAddress;
const MSS = 16 * 1024;

interface Packet {
  to: TcpLayer;
  src: number;
  dst: number;
  bytes: Uint8Array;
}

/** A memory link between the container's TCP and the stack's TCP, run on real time. */
class Harness {
  readonly container: TcpLayer;
  readonly stack: TcpLayer;
  readonly bridge: TcpBridge;
  #queue: Packet[] = [];
  #flushTimer: ReturnType<typeof setTimeout> | undefined;
  #pollTimer: ReturnType<typeof setTimeout> | undefined;
  #stopped = false;

  constructor(bufferSize = 256 * 1024) {
    const wake = () => this.#schedulePoll();
    const common = {
      mss: MSS,
      sendBufferSize: bufferSize,
      recvBufferSize: bufferSize,
      timeWait: 50,
      wake,
    };
    this.container = new TcpLayer({ ...common, sender: this.#sender(() => this.stack) });
    this.stack = new TcpLayer({ ...common, sender: this.#sender(() => this.container) });
    this.bridge = new TcpBridge(this.stack, { config: DEFAULT_NETWORK_CONFIG });
  }

  /** Opens a connection from the container to the gateway's `port`. */
  connect(port: number, srcPort = 40000): TcpConnection {
    return this.container.connect(CONTAINER, srcPort, GATEWAY, port, performance.now());
  }

  /** Stops timers and closes every host socket. */
  stop(): void {
    this.#stopped = true;
    this.bridge.close();
    this.container.abortAll();
    this.stack.abortAll();
    clearTimeout(this.#flushTimer);
    clearTimeout(this.#pollTimer);
  }

  #sender(to: () => TcpLayer) {
    return {
      sendIpv4: (src: number, dst: number, _p: number, payload: Uint8Array) => {
        if (this.#stopped) return;
        this.#queue.push({ to: to(), src, dst, bytes: payload.slice() });
        if (this.#flushTimer === undefined) this.#flushTimer = setTimeout(() => this.#flush(), 0);
      },
    };
  }

  #flush(): void {
    this.#flushTimer = undefined;
    const q = this.#queue;
    this.#queue = [];
    const now = performance.now();
    for (const p of q) {
      p.to.input({ src: p.src, dst: p.dst, protocol: 6, ttl: 64, payload: p.bytes }, now);
    }
    this.#schedulePoll();
  }

  #schedulePoll(): void {
    if (this.#stopped) return;
    clearTimeout(this.#pollTimer);
    const at = Math.min(this.container.pollAt() ?? Infinity, this.stack.pollAt() ?? Infinity);
    if (at === Infinity) return;
    this.#pollTimer = setTimeout(() => {
      const now = performance.now();
      this.container.poll(now);
      this.stack.poll(now);
      this.#schedulePoll();
    }, Math.max(0, Math.min(at - performance.now(), 2 ** 30)));
  }
}

/** Resolves when `cond` holds, checking after every macrotask (bounded, no timing assertion). */
async function until(cond: () => boolean, what: string, limit = 200_000): Promise<void> {
  for (let i = 0; i < limit; i++) {
    if (cond()) return;
    await new Promise((r) => setTimeout(r, i < 1000 ? 0 : 1));
  }
  throw new Error(`Gave up waiting for ${what}`);
}

/** An echo server on 127.0.0.1 with an ephemeral port; closes each connection after EOF. */
function echoServer(): { port: number; done: Promise<void>; close(): void } {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const conns: Promise<void>[] = [];
  const done = (async () => {
    for await (const c of listener) {
      conns.push((async () => {
        const buf = new Uint8Array(64 * 1024);
        try {
          for (;;) {
            const n = await c.read(buf);
            if (n === null) break;
            let off = 0;
            while (off < n) off += await c.write(buf.subarray(off, n));
          }
          await c.closeWrite();
        } finally {
          c.close();
        }
      })());
    }
    await Promise.all(conns);
  })();
  return { port: (listener.addr as Deno.NetAddr).port, done, close: () => listener.close() };
}

/** Writes `total` pattern bytes into `conn` as it has room, then half-closes. */
function pump(conn: TcpConnection, total: number, seed: number): () => number {
  let sent = 0;
  const go = () => {
    while (sent < total) {
      const n = Math.min(conn.writable, total - sent, 256 * 1024);
      if (n <= 0) return;
      sent += conn.write(patternBytes(sent, n, seed));
    }
    conn.shutdownWrite();
  };
  conn.onwritable = go;
  conn.onopen = go;
  go();
  return () => sent;
}

/** Reads and checks pattern bytes. */
function verify(conn: TcpConnection, seed: number): () => number {
  let got = 0;
  const buf = new Uint8Array(256 * 1024);
  conn.ondata = () => {
    for (;;) {
      const n = conn.read(buf);
      if (n === 0) return;
      const want = patternBytes(got, n, seed);
      for (let i = 0; i < n; i++) {
        if (buf[i] !== want[i]) throw new Error(`Byte mismatch at "${got + i}"`);
      }
      got += n;
    }
  };
  return () => got;
}

Deno.test("tcp_bridge: 20 MB byte-exact both ways through an echo server", async () => {
  const server = echoServer();
  const h = new Harness();
  try {
    const total = 20 * 1024 * 1024;
    const conn = h.connect(server.port);
    const sent = pump(conn, total, 3);
    const got = verify(conn, 3);
    let closed = false;
    conn.onclose = () => closed = true;
    await until(() => conn.eof, "the echo to finish");
    assert.equal(sent(), total);
    assert.equal(got(), total);
    conn.close();
    await until(() => closed, "the container connection to close");
    assert.equal(h.bridge.stats.bytesToHost, total);
    assert.equal(h.bridge.stats.bytesToContainer, total);
    assert.equal(h.bridge.active, 0, "host socket closed after both half-closes");
  } finally {
    h.stop();
    server.close();
    await server.done;
  }
});

Deno.test("tcp_bridge: a refused host port becomes RST to the container", async () => {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  const h = new Harness();
  try {
    const conn = h.connect(port);
    const reasons: string[] = [];
    conn.onreset = (r) => reasons.push(r);
    await until(() => conn.state === "CLOSED", "the refusal");
    assert.deepEqual(reasons, ["refused"]);
    assert.equal(h.bridge.stats.refused, 1);
    assert.equal(h.stack.connectionCount, 0);
  } finally {
    h.stop();
  }
});

Deno.test("tcp_bridge: host loopback disabled refuses the gateway address", async () => {
  const h = new Harness();
  h.bridge.close();
  const bridge = new TcpBridge(h.stack, {
    config: { ...DEFAULT_NETWORK_CONFIG, disableHostLoopback: true },
  });
  try {
    const conn = h.connect(1);
    await until(() => conn.state === "CLOSED", "the refusal");
    assert.equal(bridge.stats.refused, 1);
  } finally {
    bridge.close();
    h.stop();
  }
});

Deno.test("tcp_bridge: a host peer that does not read closes the container's window", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const h = new Harness(64 * 1024);
  let hostSide: Deno.Conn | undefined;
  try {
    const accepted = listener.accept();
    const conn = h.connect((listener.addr as Deno.NetAddr).port);
    hostSide = await accepted;
    const limit = 512 * 1024 * 1024;
    const sent = pump(conn, limit, 5);
    // The host never reads: kernel buffers fill, the bridge's write stays pending, the stack
    // stops consuming, and the window the container sees reaches zero.
    // (Both ends' views of the window, which a host socket that takes a little more can open
    // by a few bytes for a moment under load: waited for together.)
    const stackSide = () => [...h.stack.connections()][0];
    await until(
      () =>
        conn.state === "ESTABLISHED" && conn.peerWindow === 0 && conn.writable === 0 &&
        stackSide()?.receiveWindow === 0,
      "a zero window",
    );
    assert.ok(sent() < limit);
    // Now the host drains what was sent so far; the window opens again.
    const buf = new Uint8Array(1024 * 1024);
    let drained = 0;
    const target = sent();
    while (drained < target) {
      const n = await hostSide.read(buf);
      assert.ok(n !== null);
      const want = patternBytes(drained, n, 5);
      assert.deepEqual(buf.subarray(0, n), want);
      drained += n;
    }
    await until(() => sent() > target, "the window to reopen");
  } finally {
    h.stop();
    hostSide?.close();
    listener.close();
  }
});

Deno.test("tcp_bridge: a container that does not read stops the bridge reading the host", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const h = new Harness(64 * 1024);
  let hostSide: Deno.Conn | undefined;
  let writer: Promise<void> | undefined;
  try {
    const accepted = listener.accept();
    const conn = h.connect((listener.addr as Deno.NetAddr).port);
    hostSide = await accepted;
    const total = 8 * 1024 * 1024;
    let written = 0;
    const host = hostSide;
    writer = (async () => {
      try {
        while (written < total) {
          written += await host.write(
            patternBytes(written, Math.min(256 * 1024, total - written), 9),
          );
        }
        await host.closeWrite();
      } catch { /* closed by the test */ }
    })();
    // The container reads nothing: its window closes, the stack's send buffer fills and the
    // bridge stops reading, so the host writer blocks short of the total.
    await until(() => conn.receiveWindow === 0, "the container window to close");
    const stackSide = [...h.stack.connections()][0]!;
    await until(() => stackSide.writable === 0, "the stack send buffer to fill");
    assert.equal(conn.peerWindow > 0, true);
    assert.ok(written < total, "the host writer is held back");
    // Reading resumes the flow to the end, byte-exact, with the host's EOF as FIN.
    const got = verify(conn, 9);
    conn.ondata!();
    await until(() => conn.eof, "the host EOF");
    assert.equal(got(), total);
    await writer;
  } finally {
    h.stop();
    hostSide?.close();
    listener.close();
    await writer;
  }
});

Deno.test("tcp_bridge: publish pipes a host connection into the container", async () => {
  const h = new Harness();
  // The "container" listens: accept on its TcpLayer, echo what arrives.
  h.container.accept = (r) => {
    const c = r.connection;
    c.ondata = () => {
      const v = c.peek();
      const n = c.write(v);
      c.consume(n);
    };
    c.onend = () => c.shutdownWrite();
    return r.dstPort === 8080;
  };
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  // What a published port does with each accepted connection.
  const serving = listener.accept().then((conn) => h.bridge.publish(conn, 8080));
  let client: Deno.Conn | undefined;
  try {
    client = await Deno.connect({
      hostname: "127.0.0.1",
      port: (listener.addr as Deno.NetAddr).port,
    });
    const msg = new TextEncoder().encode("hello, container");
    await client.write(msg);
    await client.closeWrite();
    const out: number[] = [];
    const buf = new Uint8Array(100);
    for (;;) {
      const n = await client.read(buf);
      if (n === null) break;
      out.push(...buf.subarray(0, n));
    }
    assert.equal(new TextDecoder().decode(new Uint8Array(out)), "hello, container");
    assert.equal(h.bridge.stats.published, 1);
  } finally {
    client?.close();
    h.stop();
    await serving;
    listener.close();
  }
});

Deno.test("tcp_bridge: DNS over TCP to the gateway is served in-process", async () => {
  const queries: number[] = [];
  const forward = (q: Uint8Array) => {
    queries.push(q.length);
    // The "reply": the query with the QR bit set.
    const r = q.slice();
    r[2] = r[2]! | 0x80;
    return Promise.resolve(r);
  };
  const h = new Harness();
  h.bridge.close();
  const bridge = new TcpBridge(h.stack, {
    config: DEFAULT_NETWORK_CONFIG,
    gatewayServices: new Map([[53, dnsOverTcp(forward)]]),
  });
  try {
    const conn = h.connect(53);
    const q1 = new Uint8Array([0, 14, 0x12, 0x34, 0x01, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0]);
    const q2 = new Uint8Array([0, 12, 0x56, 0x78, 0x01, 0, 0, 1, 0, 0, 0, 0, 0, 0]);
    // Both queries in one write, the second split across segments does not matter here.
    const both = new Uint8Array([...q1, ...q2]);
    conn.onopen = () => {
      conn.write(both);
      conn.shutdownWrite();
    };
    const got: number[] = [];
    conn.ondata = () => {
      const v = conn.peek();
      got.push(...v);
      conn.consume(v.length);
    };
    await until(() => conn.eof, "the replies and FIN");
    assert.deepEqual(queries, [14, 12]);
    const want = [...q1, ...q2];
    want[4] = want[4]! | 0x80;
    want[16 + 4] = want[16 + 4]! | 0x80;
    assert.deepEqual(got, want);
    assert.equal(bridge.active, 0, "no host socket was opened");
  } finally {
    bridge.close();
    h.stop();
  }
});

Deno.test("tcp_bridge: through the whole NetworkStack: Ethernet, ARP, IPv4, TCP, host echo", async () => {
  const server = echoServer();
  const fake = new FakeContainer();
  const frames: Uint8Array[] = [];
  let flushTimer: ReturnType<typeof setTimeout> | undefined;
  let pollTimer: ReturnType<typeof setTimeout> | undefined;
  let stopped = false;
  const stack = new NetworkStack({ send: (f) => frames.push(f.slice()) });
  const schedule = () => {
    if (stopped) return;
    if (frames.length > 0 || toStack.length > 0) {
      flushTimer ??= setTimeout(flush, 0);
    }
    clearTimeout(pollTimer);
    const at = Math.min(stack.pollAt() ?? Infinity, container.pollAt() ?? Infinity);
    if (at !== Infinity) {
      pollTimer = setTimeout(() => {
        stack.poll(performance.now());
        container.poll(performance.now());
        schedule();
      }, Math.max(0, Math.min(at - performance.now(), 2 ** 30)));
    }
  };
  const toStack: Uint8Array[] = [];
  const mss = stack.config.mtu - 40;
  const container = new TcpLayer({
    mss,
    wake: schedule,
    sender: {
      sendIpv4: (_src, dst, protocol, payload) => {
        toStack.push(fake.ipv4(protocol, payload, dst));
        schedule();
      },
    },
  });
  const tcp = new TcpLayer({ mss, wake: schedule, sender: stack.ipv4 });
  stack.registerProtocol(6, tcp);
  const bridge = new TcpBridge(tcp, { config: stack.config });
  const flush = () => {
    flushTimer = undefined;
    const now = performance.now();
    for (const f of toStack.splice(0)) stack.receive(f, now);
    for (const f of frames.splice(0)) {
      const r = parseSent(f);
      if (r.arp) toStack.push(fake.arpReply());
      else if (r.ip?.protocol === 6 && r.ipPayload) {
        container.input({ ...r.ip, payload: r.ipPayload }, now);
      }
    }
    schedule();
  };
  try {
    const total = 4 * 1024 * 1024;
    const conn = container.connect(
      stack.config.containerAddress,
      45000,
      stack.config.gatewayAddress,
      server.port,
      performance.now(),
    );
    const sent = pump(conn, total, 11);
    const got = verify(conn, 11);
    await until(() => conn.eof, "the echo through the stack");
    assert.equal(sent(), total);
    assert.equal(got(), total);
    assert.equal(bridge.stats.bytesToHost, total);
  } finally {
    stopped = true;
    clearTimeout(flushTimer);
    clearTimeout(pollTimer);
    bridge.close();
    container.abortAll();
    tcp.abortAll();
    stack.close();
    server.close();
    await server.done;
  }
});
