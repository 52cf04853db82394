// Tests for id-map planning.

import assert from "node:assert/strict";
import { formatIdMap, parseSubordinateIds, planIdMapping } from "./idmap.ts";

Deno.test("idmap: finds ranges by user name or by uid and skips comments and junk", () => {
  const text = "# c\nbob:1:2\nalice:100000:65536\n1000:200000:10\nalice:bad:1\n";
  assert.deepEqual(parseSubordinateIds(text, "alice", 1000), [
    { start: 100000, count: 65536 },
    { start: 200000, count: 10 },
  ]);
  assert.deepEqual(parseSubordinateIds(text, "carol", 5), []);
});

Deno.test("idmap: maps 0 to the user and 1..N onto the subordinate range", () => {
  const m = planIdMapping(1000, 1001, [{ start: 100000, count: 65536 }], [{
    start: 300000,
    count: 10,
  }], true);
  assert.equal(m.helpers, true);
  assert.equal(formatIdMap(m.uids), "0 1000 1\n1 100000 65536\n");
  assert.equal(formatIdMap(m.gids), "0 1001 1\n1 300000 10\n");
});

Deno.test("idmap: maps one id when the helpers or the ranges are missing", () => {
  const ranges = [{ start: 100000, count: 65536 }];
  for (
    const m of [
      planIdMapping(1000, 1000, ranges, ranges, false),
      planIdMapping(1000, 1000, [], ranges, true),
    ]
  ) {
    assert.equal(m.helpers, false);
    assert.equal(formatIdMap(m.uids), "0 1000 1\n");
  }
});

Deno.test("idmap: consecutive ranges continue numbering inside", () => {
  const m = planIdMapping(5, 5, [{ start: 100, count: 10 }, { start: 500, count: 5 }], [{
    start: 100,
    count: 1,
  }], true);
  assert.equal(formatIdMap(m.uids), "0 5 1\n1 100 10\n11 500 5\n");
});
