// Tests for the on-disk cache of the compiled default seccomp program.

import assert from "node:assert/strict";
import { defaultSeccompProgram } from "./cache.ts";
import { compileDefaultProfile, hostArch } from "./default.ts";

Deno.test("seccomp cache: stores the compiled program, serves it again and prunes old keys", async () => {
  const home = Deno.makeTempDirSync({ prefix: "paranoid-cache-" });
  const before = Deno.env.get("XDG_CACHE_HOME");
  Deno.env.set("XDG_CACHE_HOME", home);
  try {
    const dir = `${home}/paranoid/seccomp`;
    const first = await defaultSeccompProgram(0x1n);
    assert.deepEqual(first, compileDefaultProfile(0x1n, hostArch()));
    const stored = [...Deno.readDirSync(dir)].map((e) => e.name);
    assert.equal(stored.length, 1);
    assert.match(stored[0]!, new RegExp(`^${hostArch()}-[0-9a-f]{8}-1\\.bpf$`));
    // Served from the file: a program written there under the same key comes back as it is.
    const marker = new Uint8Array(16).fill(7);
    Deno.writeFileSync(`${dir}/${stored[0]}`, marker);
    assert.deepEqual(await defaultSeccompProgram(0x1n), marker);
    // A program of another key is removed when a new one is stored, once a day old; a
    // recent one (another copy of paranoid in use) stays.
    const old = `${dir}/${hostArch()}-00000000-1.bpf`;
    const recent = `${dir}/${hostArch()}-11111111-1.bpf`;
    Deno.writeFileSync(old, marker);
    Deno.writeFileSync(recent, marker);
    const twoDaysAgo = new Date(Date.now() - 2 * 24 * 3600 * 1000);
    Deno.utimeSync(old, twoDaysAgo, twoDaysAgo);
    await defaultSeccompProgram(0x3n);
    const after = [...Deno.readDirSync(dir)].map((e) => e.name).sort();
    assert.equal(after.length, 3, after.join(", "));
    assert.ok(after.every((n) => !n.includes("-00000000-")), after.join(", "));
    assert.ok(after.some((n) => n.includes("-11111111-")), after.join(", "));
  } finally {
    if (before === undefined) Deno.env.delete("XDG_CACHE_HOME");
    else Deno.env.set("XDG_CACHE_HOME", before);
    Deno.removeSync(home, { recursive: true });
  }
});
