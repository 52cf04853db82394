// Tests for the in-memory link pair.

import assert from "node:assert/strict";
import { memoryLinkPair } from "./memory.ts";

Deno.test("memory: delivers copies in order, to the inbox or the callback", () => {
  const [a, b] = memoryLinkPair();
  const frame = new Uint8Array([1, 2, 3]);
  a.send(frame);
  frame[0] = 9;
  a.send(frame);
  assert.equal(b.pending, 2);
  assert.deepEqual([...b.recv()!], [1, 2, 3]);
  assert.deepEqual(b.drain().map((f) => f[0]), [9]);
  assert.equal(b.recv(), undefined);
  const seen: number[] = [];
  a.onFrame = (f) => seen.push(f.length);
  b.send(new Uint8Array(5));
  assert.deepEqual(seen, [5]);
  assert.equal(a.pending, 0);
});
