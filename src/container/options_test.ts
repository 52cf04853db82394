// Tests for the container options' own checks: generated hostnames, hostname validation.

import assert from "node:assert/strict";
import { generateHostname, hostnameProblem } from "./options.ts";

Deno.test("options: generated hostnames are valid ones (buildSpec does not check them)", () => {
  const seen = new Set<string>();
  for (let i = 0; i < 500; i++) {
    const name = generateHostname();
    assert.equal(hostnameProblem(name), null, name);
    assert.match(name, /^[a-z]+-[0-9a-f]{4}$/);
    seen.add(name);
  }
  assert.ok(seen.size > 400, `only ${seen.size} distinct names of 500`);
});

Deno.test("options: a hostname given is checked as sethostname and RFC 1123 want it", () => {
  assert.equal(hostnameProblem("box-1.example"), null);
  assert.match(hostnameProblem("") ?? "", /1 to 64 characters/);
  assert.match(hostnameProblem("a".repeat(65)) ?? "", /1 to 64 characters/);
  assert.match(hostnameProblem("-lead") ?? "", /inner hyphens/);
  assert.match(hostnameProblem("under_score") ?? "", /inner hyphens/);
});
