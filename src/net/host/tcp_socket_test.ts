// Tests for the FFI host TCP sockets and listener against real loopback peers, and the reactor that waits for them.

import assert from "node:assert/strict";
import { Reactor } from "../reactor.ts";
import { HostTcpSocket } from "./tcp_socket.ts";
import { HostTcpListener } from "./tcp_listener.ts";
import { SyscallError } from "../../../ffi/errno.ts";
import { libc } from "../../../ffi/libc.ts";
import { close, eventFd, POLL } from "../../../ffi/sys.ts";

async function readAll(conn: { read(p: Uint8Array): Promise<number | null> }): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  const buf = new Uint8Array(65536);
  for (;;) {
    const n = await conn.read(buf);
    if (n === null) break;
    parts.push(buf.slice(0, n));
  }
  const out = new Uint8Array(parts.reduce((a, p) => a + p.length, 0));
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

async function writeAll(sock: HostTcpSocket, data: Uint8Array): Promise<void> {
  for (let off = 0; off < data.length;) off += await sock.write(data.subarray(off));
}

Deno.test("host tcp socket: talks to a Deno server both ways, with half-close each way", async () => {
  const reactor = new Reactor();
  const server = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const served = (async () => {
    const c = await server.accept();
    const got = await readAll(c);
    await c.write(new TextEncoder().encode(`got ${got.length} bytes`));
    c.close();
  })();
  const sock = await HostTcpSocket.connect(reactor, "127.0.0.1", server.addr.port);
  // 4 MiB: more than the socket buffers take at once, so writes wait for POLLOUT.
  const data = new Uint8Array(4 * 1024 * 1024).map((_, i) => i & 0xff);
  await writeAll(sock, data);
  await sock.closeWrite();
  assert.equal(new TextDecoder().decode(await readAll(sock)), `got ${data.length} bytes`);
  assert.equal(await sock.read(new Uint8Array(10)), null);
  sock.close();
  await served;
  server.close();
  await reactor.close();
});

Deno.test("host tcp socket: a closed port is refused; closing rejects a pending read", async () => {
  const reactor = new Reactor();
  const probe = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = probe.addr.port;
  probe.close();
  await assert.rejects(
    HostTcpSocket.connect(reactor, "127.0.0.1", port),
    Deno.errors.ConnectionRefused,
  );
  const server = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const accepted = server.accept();
  const sock = await HostTcpSocket.connect(reactor, "127.0.0.1", server.addr.port);
  const pending = sock.read(new Uint8Array(10));
  sock.close();
  await assert.rejects(pending, Deno.errors.BadResource);
  await assert.rejects(sock.write(new Uint8Array(1)), Deno.errors.BadResource);
  (await accepted).close();
  server.close();
  await reactor.close();
});

Deno.test("host tcp socket: a reset by the peer rejects the read", async () => {
  const reactor = new Reactor();
  const listener = HostTcpListener.listen("127.0.0.1", 0);
  const accepted = new Promise<HostTcpSocket>((r) => listener.serve(reactor, r));
  const sock = await HostTcpSocket.connect(reactor, "127.0.0.1", listener.localPort);
  const peer = await accepted;
  // Unread data at close makes the kernel send RST instead of FIN.
  await sock.write(new Uint8Array(100));
  await new Promise((r) => setTimeout(r, 20));
  peer.close();
  await assert.rejects(readAll(sock), Deno.errors.ConnectionReset);
  sock.close();
  listener.close();
  await reactor.close();
});

Deno.test("host tcp listener: accepts v4 and v6 clients with their addresses; a used port is EADDRINUSE", async () => {
  const reactor = new Reactor();
  for (const host of ["127.0.0.1", "::1"]) {
    const listener = HostTcpListener.listen(host, 0);
    const port = listener.localPort;
    assert.ok(port > 0);
    const got = new Promise<{ sock: HostTcpSocket; from: string }>((resolve) =>
      listener.serve(reactor, (sock, from) => resolve({ sock, from: from.address }))
    );
    const client = await Deno.connect({ hostname: host, port });
    const { sock, from } = await got;
    assert.equal(from, host);
    assert.equal(from === "::1" ? (client.localAddr as Deno.NetAddr).hostname : from, host);
    await client.write(new TextEncoder().encode("hello"));
    client.closeWrite();
    assert.equal(new TextDecoder().decode(await readAll(sock)), "hello");
    sock.close();
    client.close();
    assert.throws(
      () => HostTcpListener.listen(host, port),
      (e) => e instanceof SyscallError && e.code === "EADDRINUSE",
    );
    listener.close();
  }
  await reactor.close();
});

/** A TCP echo server on 127.0.0.1 in a worker thread, so that it answers while this one waits. */
async function echoWorker(): Promise<{ port: number; stop(): void }> {
  const code = `
    const server = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    self.postMessage(server.addr.port);
    for await (const c of server) {
      (async () => {
        const buf = new Uint8Array(16);
        for (;;) {
          const n = await c.read(buf).catch(() => null);
          if (n === null) break;
          await c.write(buf.subarray(0, n));
        }
        c.close();
      })();
    }`;
  const worker = new Worker(`data:text/javascript,${encodeURIComponent(code)}`, { type: "module" });
  const port = await new Promise<number>((r) => worker.onmessage = (e) => r(e.data));
  return { port, stop: () => worker.terminate() };
}

Deno.test("host tcp socket: request and answer through a worker's echo server, each write lingering", async () => {
  const reactor = new Reactor();
  const echo = await echoWorker();
  const sock = await HostTcpSocket.connect(reactor, "127.0.0.1", echo.port);
  const buf = new Uint8Array(16);
  for (let i = 0; i < 50; i++) {
    await sock.write(new Uint8Array([i]));
    assert.equal(await sock.read(buf), 1);
    assert.equal(buf[0], i);
  }
  // Each write asked for a linger (whether the answer came within one depends on the load).
  assert.ok(reactor.stats.lingers >= 25, `lingers: ${reactor.stats.lingers}`);
  sock.close();
  echo.stop();
  await reactor.close();
});

Deno.test("reactor: a linger takes what is ready within microtasks, before any event-loop turn", async () => {
  const reactor = new Reactor();
  const efd = eventFd();
  const eight = new Uint8Array(8);
  let calls = 0;
  reactor.watch(efd, POLL.IN, () => {
    if (Number(libc.read(efd, eight, 8n)) === 8) calls++;
  });
  libc.write(efd, new Uint8Array(new BigUint64Array([1n]).buffer), 8n);
  reactor.expectAnswer(1);
  // Microtask turns only: the thread pool's wait cannot have delivered anything yet.
  for (let i = 0; i < 10; i++) await null;
  assert.equal(calls, 1);
  assert.equal(reactor.stats.lingers, 1);
  assert.equal(reactor.stats.lingerHits, 1);
  // Not watched any more: a readable descriptor no longer reaches the handler.
  reactor.unwatch(efd);
  libc.write(efd, new Uint8Array(new BigUint64Array([1n]).buffer), 8n);
  reactor.expectAnswer(1);
  for (let i = 0; i < 10; i++) await null;
  await new Promise((r) => setTimeout(r, 20));
  assert.equal(calls, 1);
  close(efd);
  await reactor.close();
});

Deno.test("host tcp socket: a connect in flight when the network closes is rejected and closed", async () => {
  const reactor = new Reactor();
  // Never served, with the smallest queue: once it is full the kernel drops further SYNs, and
  // a connect stays in progress.
  const listener = HostTcpListener.listen("127.0.0.1", 0, 0);
  const sockets = () =>
    [...Deno.readDirSync("/proc/self/fd")].filter((e) => {
      try {
        return Deno.readLinkSync(`/proc/self/fd/${e.name}`).startsWith("socket:");
      } catch {
        return false; // the directory's own descriptor, gone
      }
    }).length;
  const connected: HostTcpSocket[] = [];
  let stuck: Promise<HostTcpSocket> | null = null;
  for (let i = 0; i < 8 && stuck === null; i++) {
    const attempt = HostTcpSocket.connect(reactor, "127.0.0.1", listener.localPort);
    const settled = await Promise.race([
      attempt.then((s) => s),
      new Promise<null>((r) => setTimeout(() => r(null), 1000)),
    ]);
    if (settled === null) stuck = attempt;
    else connected.push(settled);
  }
  assert.ok(stuck, "every connect completed: the queue never filled");
  for (const s of connected) s.close();
  const before = sockets();
  await reactor.close();
  await assert.rejects(stuck, Deno.errors.BadResource);
  assert.equal(sockets(), before - 1, "the in-flight socket was closed");
  listener.close();
});

Deno.test("reactor: readiness of a closed descriptor never reaches a new one with its number", async () => {
  const reactor = new Reactor();
  const one = new Uint8Array(new BigUint64Array([1n]).buffer);
  const [a, b] = [eventFd(), eventFd()];
  libc.write(a, one, 8n);
  libc.write(b, one, 8n);
  let reused = -1;
  let wrongCalls = 0;
  reactor.watch(a, POLL.IN, () => {
    libc.read(a, new Uint8Array(8), 8n);
    // Close b, whose readiness this same wait reported, and open another descriptor in its
    // place: the kernel gives it b's number.
    reactor.unwatch(b);
    close(b);
    reused = eventFd();
    reactor.watch(reused, POLL.IN, () => wrongCalls++);
  });
  reactor.watch(b, POLL.IN, () => {});
  reactor.expectAnswer(1);
  for (let i = 0; i < 10; i++) await null;
  assert.equal(reused, b, "the new descriptor took the closed one's number");
  assert.equal(wrongCalls, 0);
  reactor.unwatch(a);
  reactor.unwatch(reused);
  close(a);
  close(reused);
  await reactor.close();
});
