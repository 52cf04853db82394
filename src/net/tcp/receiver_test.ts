// Tests for the byte ring and the receive-side reassembly.

import assert from "node:assert/strict";
import { Receiver } from "./receiver.ts";
import { ByteRing } from "./ring.ts";

const bytes = (s: string) => new TextEncoder().encode(s);
const text = (b: Uint8Array) => new TextDecoder().decode(b);

function drain(r: Receiver): string {
  let out = "";
  for (;;) {
    const v = r.ring.peek(Infinity);
    if (v.length === 0) return out;
    out += text(v);
    r.ring.drop(v.length);
  }
}

Deno.test("ring: wraps writes, reads and random-access copies", () => {
  const r = new ByteRing(8);
  assert.equal(r.push(bytes("abcdef")), 6);
  r.drop(4);
  assert.equal(r.push(bytes("ghijklmn")), 6, "only the free space is taken");
  assert.equal(r.length, 8);
  const out = new Uint8Array(8);
  r.copyOut(0, 8, out, 0);
  assert.equal(text(out), "efghijkl");
  assert.equal(text(r.peek(100)), "efgh", "peek stops at the wrap");
  r.drop(8);
  assert.equal(r.free, 8);
});

Deno.test("receiver: in-order data advances RCV.NXT and shrinks the window", () => {
  const r = new Receiver(10);
  r.nxt = 100;
  assert.equal(r.accept(100, bytes("hello")), 5);
  assert.equal(r.nxt, 105);
  assert.equal(r.window, 5);
  assert.equal(r.accept(100, bytes("hello")), 0, "a duplicate adds nothing");
  assert.equal(r.accept(103, bytes("lo, world")), 5, "overlap trimmed, the rest cut at the window");
  assert.equal(r.window, 0);
  assert.equal(drain(r), "hello, wor");
});

Deno.test("receiver: out-of-order ranges merge and are delivered when the gap fills", () => {
  const r = new Receiver(64);
  r.nxt = 0xfffffffc; // across the wrap
  assert.equal(r.accept(0xfffffffc + 10, bytes("KLM")), 0);
  assert.equal(r.accept(0xfffffffc + 5, bytes("FGH")), 0);
  assert.equal(r.accept(0xfffffffc + 8, bytes("IJ")), 0, "touching ranges merge");
  assert.equal(r.outOfOrderRanges, 1);
  assert.equal(r.accept(0xfffffffc + 20, bytes("U")), 0);
  assert.equal(r.outOfOrderRanges, 2);
  assert.equal(r.accept(0xfffffffc, bytes("ABCDE")), 13);
  assert.equal(r.nxt, 9);
  assert.equal(r.outOfOrderRanges, 1);
  assert.equal(drain(r), "ABCDEFGHIJKLM");
  // Consuming everything must keep the queued byte where it was written.
  assert.equal(r.accept(0xfffffffc + 13, bytes("NOPQRST")), 8);
  assert.equal(drain(r), "NOPQRSTU");
});
