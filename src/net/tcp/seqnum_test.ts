// Tests for sequence-number arithmetic across the 2**32 wrap.

import assert from "node:assert/strict";
import { seqAdd, seqDiff, seqGe, seqGt, seqInWindow, seqLe, seqLt, seqMax } from "./seqnum.ts";

Deno.test("seqnum: comparisons hold across the wrap", () => {
  const a = 0xfffffff0;
  const b = seqAdd(a, 0x20);
  assert.equal(b, 0x10);
  assert.ok(seqLt(a, b) && seqLe(a, b) && seqGt(b, a) && seqGe(b, a));
  assert.ok(!seqLt(b, a) && !seqGt(a, b));
  assert.equal(seqDiff(b, a), 0x20);
  assert.equal(seqDiff(a, b), -0x20);
  assert.equal(seqMax(a, b), b);
  assert.ok(seqLe(a, a) && seqGe(a, a) && !seqLt(a, a));
});

Deno.test("seqnum: window membership wraps", () => {
  assert.ok(seqInWindow(5, 0xfffffffe, 10));
  assert.ok(seqInWindow(0xfffffffe, 0xfffffffe, 1));
  assert.ok(!seqInWindow(8, 0xfffffffe, 10));
  assert.ok(!seqInWindow(0xfffffffd, 0xfffffffe, 10));
  assert.ok(!seqInWindow(0, 0, 0));
});
