// Seeded simulation: two TCP layers over a lossy, duplicating, reordering channel under a fake clock.

import assert from "node:assert/strict";
import type { Ipv4Sender } from "../iface/protocol.ts";
import type { TcpConnection } from "./connection.ts";
import { TcpLayer } from "./layer.ts";
import { LOCAL, patternBytes, PEER, seededRandom } from "./_testing.ts";

interface Flight {
  at: number;
  order: number;
  to: TcpLayer;
  src: number;
  dst: number;
  bytes: Uint8Array;
}

interface ChannelParams {
  seed: number;
  loss: number;
  duplicate: number;
  delay: number;
  jitter: number;
}

/** A channel with seeded loss, duplication and per-packet random delay (hence reordering). */
class Channel {
  readonly #queue: Flight[] = [];
  readonly #rand: () => number;
  #order = 0;
  now = 0;
  delivered = 0;
  dropped = 0;

  constructor(readonly params: ChannelParams) {
    this.#rand = seededRandom(params.seed);
  }

  sender(to: () => TcpLayer): Ipv4Sender {
    return {
      sendIpv4: (src, dst, _protocol, payload) => {
        const copies = this.#rand() < this.params.loss
          ? 0
          : this.#rand() < this.params.duplicate
          ? 2
          : 1;
        if (copies === 0) this.dropped++;
        for (let i = 0; i < copies; i++) {
          const at = this.now + this.params.delay + this.#rand() * this.params.jitter;
          this.#push({ at, order: this.#order++, to: to(), src, dst, bytes: payload.slice() });
        }
      },
    };
  }

  get nextAt(): number {
    return this.#queue.length ? this.#queue[0]!.at : Infinity;
  }

  /** Delivers every packet due at or before `now`. */
  deliver(now: number): void {
    while (this.#queue.length && this.#queue[0]!.at <= now) {
      const f = this.#pop();
      this.delivered++;
      f.to.input({ src: f.src, dst: f.dst, protocol: 6, ttl: 64, payload: f.bytes }, now);
    }
  }

  // A binary min-heap on (at, order).
  #push(f: Flight): void {
    const q = this.#queue;
    q.push(f);
    let i = q.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (less(q[p]!, q[i]!)) break;
      [q[p], q[i]] = [q[i]!, q[p]!];
      i = p;
    }
  }

  #pop(): Flight {
    const q = this.#queue;
    const top = q[0]!;
    const last = q.pop()!;
    if (q.length) {
      q[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1, r = l + 1;
        let m = i;
        if (l < q.length && less(q[l]!, q[m]!)) m = l;
        if (r < q.length && less(q[r]!, q[m]!)) m = r;
        if (m === i) break;
        [q[m], q[i]] = [q[i]!, q[m]!];
        i = m;
      }
    }
    return top;
  }
}

function less(a: Flight, b: Flight): boolean {
  return a.at < b.at || (a.at === b.at && a.order < b.order);
}

/** Writes `total` pattern bytes as the send buffer allows, then half-closes. */
function pump(conn: TcpConnection, total: number, seed: number): () => number {
  let sent = 0;
  const go = () => {
    while (sent < total) {
      const n = Math.min(conn.writable, total - sent, 64 * 1024);
      if (n <= 0) return;
      const w = conn.write(patternBytes(sent, n, seed));
      sent += w;
      if (w < n) return;
    }
    conn.shutdownWrite();
  };
  conn.onwritable = go;
  go();
  return () => sent;
}

/** Reads everything, checking each byte against the pattern. */
function verify(conn: TcpConnection, seed: number, slowEvery = 0): () => number {
  let got = 0;
  let calls = 0;
  const buf = new Uint8Array(32 * 1024);
  conn.ondata = () => {
    // A slow reader now and then: leave data unread to exercise the window.
    if (slowEvery && ++calls % slowEvery === 0) return;
    for (;;) {
      const n = conn.read(buf);
      if (n === 0) break;
      const want = patternBytes(got, n, seed);
      for (let i = 0; i < n; i++) {
        if (buf[i] !== want[i]) throw new Error(`Byte mismatch at "${got + i}"`);
      }
      got += n;
    }
  };
  return () => got;
}

function simulate(params: ChannelParams, bytes: number, delayedAck = 0): void {
  const ch = new Channel(params);
  let isn = params.seed * 7919;
  const common = {
    isn: () => (isn = (isn * 1103515245 + 12345) >>> 0),
    timeWait: 1000,
    delayedAck,
  };
  const a: TcpLayer = new TcpLayer({ ...common, sender: ch.sender(() => b) });
  const b: TcpLayer = new TcpLayer({ ...common, sender: ch.sender(() => a) });
  let bConn: TcpConnection | undefined;
  const got: { a?: () => number; b?: () => number } = {};
  b.accept = (r) => {
    bConn = r.connection;
    pump(bConn, bytes, 2);
    got.b = verify(bConn, 1, 7);
    return true;
  };
  const aConn = a.connect(LOCAL, 5555, PEER, 80, 0);
  aConn.onopen = () => {
    pump(aConn, bytes, 1);
  };
  got.a = verify(aConn, 2, 5);
  let steps = 0;
  let now = 0;
  for (;;) {
    const t = Math.min(ch.nextAt, a.pollAt() ?? Infinity, b.pollAt() ?? Infinity);
    if (t === Infinity) break;
    now = Math.max(now, t);
    ch.now = now;
    ch.deliver(now);
    if ((a.pollAt() ?? Infinity) <= now) a.poll(now);
    if ((b.pollAt() ?? Infinity) <= now) b.poll(now);
    // Slow readers eventually catch up.
    if (aConn.readable && steps % 3 === 0) aConn.ondata?.();
    if (bConn?.readable && steps % 3 === 0) bConn.ondata?.();
    if (++steps > 5_000_000) throw new Error("Simulation did not finish");
  }
  assert.ok(bConn);
  assert.equal(got.a!(), bytes, "A received everything B sent");
  assert.equal(got.b!(), bytes, "B received everything A sent");
  assert.ok(aConn.eof && bConn.eof);
  assert.equal(aConn.state, "CLOSED");
  assert.equal(bConn.state, "CLOSED");
  assert.equal(a.connectionCount + b.connectionCount, 0);
  assert.ok(ch.dropped > 0 || params.loss === 0);
}

Deno.test("tcp sim: 8 MB each way byte-exact over 1% loss, duplication and reordering", () => {
  simulate({ seed: 1, loss: 0.01, duplicate: 0.01, delay: 5, jitter: 4 }, 8 * 1024 * 1024);
});

Deno.test("tcp sim: 1 MB each way byte-exact over 8% loss and heavy reordering", () => {
  simulate({ seed: 42, loss: 0.08, duplicate: 0.03, delay: 2, jitter: 20 }, 1024 * 1024);
});

Deno.test("tcp sim: 2 MB each way on a clean link", () => {
  simulate({ seed: 7, loss: 0, duplicate: 0, delay: 1, jitter: 0 }, 2 * 1024 * 1024);
});

Deno.test("tcp sim: 2 MB each way with delayed ACKs over 2% loss", () => {
  simulate({ seed: 9, loss: 0.02, duplicate: 0.01, delay: 3, jitter: 6 }, 2 * 1024 * 1024, 40);
});
