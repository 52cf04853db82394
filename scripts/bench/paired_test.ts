// Tests for the paired A/B timing: the bootstrap interval of a median, and the order rounds run the commands in.

import assert from "node:assert/strict";
import { bootstrapMedianInterval, paired } from "./paired.ts";

/** A deterministic generator in [0, 1), so that the intervals below do not depend on luck. */
function seeded(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

Deno.test("paired: the bootstrap interval of a median holds it, and is narrow for a steady sample", () => {
  assert.deepEqual(bootstrapMedianInterval([3, 3, 3, 3], 200, seeded(1)), [3, 3]);
  const values = Array.from({ length: 101 }, (_, i) => i); // median 50
  const [low, high] = bootstrapMedianInterval(values, 2000, seeded(7));
  assert.ok(low <= 50 && 50 <= high, `${low} .. ${high}`);
  assert.ok(low >= 38 && high <= 62, `${low} .. ${high}`);
});

Deno.test("paired: each round runs both commands, the first of them alternating", async () => {
  const dir = Deno.makeTempDirSync();
  try {
    const log = `${dir}/log`;
    const r = await paired(`printf a >> ${log}`, `printf b >> ${log}`, 4);
    // One warm-up run each, then a b, b a, a b, b a.
    assert.equal(Deno.readTextFileSync(log), "ababbaabba");
    assert.ok(r.interval[0] <= r.difference && r.difference <= r.interval[1], JSON.stringify(r));
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});
