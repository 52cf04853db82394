// Unit tests for the one-sentence explanations of setup failures.

import assert from "node:assert/strict";
import { explainFailure } from "./explain.ts";

Deno.test("explain: a bind whose host source is missing says to check the source", () => {
  const text = explainFailure({
    t: "error",
    step: "bind /no/where to /data",
    syscall: "open_tree",
    errno: 2,
    path: "/no/where",
  });
  assert.equal(
    text,
    'cannot bind /no/where to /data: open_tree "/no/where" failed with ENOENT (no such file or directory); check that the source exists on the host',
  );
});

Deno.test("explain: a mount target that cannot be made under /proc or /sys says so", () => {
  const text = explainFailure({
    t: "error",
    step: "bind /etc/hostname to /sys/kernel/x",
    syscall: "mount",
    errno: 2,
    path: "/sys/kernel/x",
  });
  assert.match(text, /^cannot bind \/etc\/hostname to \/sys\/kernel\/x: mount "\/sys\/kernel\/x"/);
  assert.match(text, /nothing can be made under \/proc or \/sys/);
  assert.doesNotMatch(text, /source exists/);
});
