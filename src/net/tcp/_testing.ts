// Test helpers: a scripted raw-segment peer for one TcpLayer, with a fake clock.

import assert from "node:assert/strict";
import { emptyTcpOptions, TcpFlag, type TcpOptions, TcpRepr } from "../wire/tcp.ts";
import { TcpLayer, type TcpLayerOptions } from "./layer.ts";

/** The stack side address in scenarios (10.0.15.1). */
export const LOCAL = 0x0a000f01;
/** The container side address in scenarios (10.0.15.2). */
export const PEER = 0x0a000f02;

/** One segment captured from the layer under test. */
export interface Captured extends TcpRepr {
  /** Source address. */
  src: number;
  /** Destination address. */
  dst: number;
}

/** What the scripted peer puts into a segment. */
export interface SegmentSpec {
  /** Control bits. */
  flags: number;
  /** Sequence number. */
  seq: number;
  /** Acknowledgment number. */
  ack?: number;
  /** Window field. */
  window?: number;
  /** Payload. */
  payload?: Uint8Array;
  /** Options (MSS, window scale). */
  options?: Partial<TcpOptions>;
  /** Ports; default 40000 -> 80. */
  srcPort?: number;
  /** Destination port. */
  dstPort?: number;
}

/** A scripted peer talking raw segments to a {@link TcpLayer} under a fake clock. */
export class ScriptedPeer {
  /** The layer under test. */
  readonly tcp: TcpLayer;
  /** Segments the layer sent and nobody has inspected yet. */
  readonly sent: Captured[] = [];
  /** Fake time in ms. */
  now = 0;

  /** Creates a layer with `options` whose output is captured; ISNs are fixed at 1000. */
  constructor(options: Omit<TcpLayerOptions, "sender"> = {}) {
    this.tcp = new TcpLayer({
      isn: () => 1000,
      ...options,
      sender: {
        sendIpv4: (src, dst, _p, payload) => {
          const r = new TcpRepr().parse(payload.slice(), src, dst) as Captured;
          r.src = src;
          r.dst = dst;
          this.sent.push(r);
        },
      },
    });
  }

  /** Sends a segment from the peer (10.0.15.2:40000) to the layer. */
  send(s: SegmentSpec): void {
    const r = new TcpRepr();
    r.srcPort = s.srcPort ?? 40000;
    r.dstPort = s.dstPort ?? 80;
    r.seq = s.seq >>> 0;
    r.ack = (s.ack ?? 0) >>> 0;
    r.flags = s.flags;
    r.window = s.window ?? 65535;
    r.options = { ...emptyTcpOptions(), ...s.options };
    r.payload = s.payload ?? new Uint8Array(0);
    const bytes = new Uint8Array(r.bufferLen());
    r.emit(bytes, PEER, LOCAL);
    this.tcp.input({ src: PEER, dst: LOCAL, protocol: 6, ttl: 64, payload: bytes }, this.now);
  }

  /** Takes the next captured segment, asserting there is one and checking `flags` if given. */
  expect(flags?: number, what = "a segment"): Captured {
    const s = this.sent.shift();
    assert.ok(s, `expected ${what}, got nothing`);
    if (flags !== undefined) {
      assert.equal(s.flags, flags, `expected flags ${flagNames(flags)}, got ${flagNames(s.flags)}`);
    }
    return s;
  }

  /** Asserts that nothing was sent. */
  expectNothing(): void {
    assert.equal(
      this.sent.length,
      0,
      `expected silence, got ${this.sent.map((s) => flagNames(s.flags))}`,
    );
  }

  /** Moves the clock forward by `ms`, running every timer due on the way. */
  advance(ms: number): void {
    const end = this.now + ms;
    for (;;) {
      const at = this.tcp.pollAt();
      if (at === undefined || at > end) break;
      this.now = Math.max(this.now, at);
      this.tcp.poll(this.now);
    }
    this.now = end;
  }

  /** Moves the clock to the next timer and runs it; returns the time elapsed. */
  fireNextTimer(): number {
    const at = this.tcp.pollAt();
    assert.ok(at !== undefined, "expected an armed timer");
    const dt = at - this.now;
    this.now = at;
    this.tcp.poll(this.now);
    return dt;
  }
}

/** Formats control bits for messages, e.g. "SYN|ACK". */
export function flagNames(f: number): string {
  const names: string[] = [];
  for (const [k, v] of Object.entries(TcpFlag)) if (f & v) names.push(k);
  return names.join("|") || "none";
}

/** Deterministic bytes: a simple LCG stream, so both ends can regenerate and compare. */
export function patternBytes(offset: number, len: number, seed = 1): Uint8Array {
  const out = new Uint8Array(len);
  for (let i = 0; i < len; i++) {
    const x = offset + i;
    out[i] = (Math.imul(x ^ (x >>> 7), 0x9e3779b1) + seed * 31) >>> 24;
  }
  return out;
}

/** A small seeded PRNG (mulberry32) returning floats in [0, 1). */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
