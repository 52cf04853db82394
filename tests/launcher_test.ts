// Integration: the README's launcher, scripts/paranoid, runs a container from a bundle of the checkout that it keeps up to date.

import assert from "node:assert/strict";
import { makeBusyboxRoot, removeRoot } from "./helpers.ts";

const here = new URL("..", import.meta.url).pathname;
const launcher = `${here}scripts/paranoid`;
const entry = `${here}dist/run/main.js`;

async function launch(args: string[], env: Record<string, string> = {}) {
  const out = await new Deno.Command(launcher, { args, env, stdout: "piped", stderr: "piped" })
    .output();
  const d = new TextDecoder();
  return { code: out.code, stdout: d.decode(out.stdout), stderr: d.decode(out.stderr) };
}

Deno.test("launcher: scripts/paranoid runs a container from the bundle and rebuilds it when a source is newer", async () => {
  const root = await makeBusyboxRoot();
  try {
    const first = await launch([`--root=${root}`, "-N", "--", "sh", "-c", "echo up; echo $$"]);
    assert.equal(first.code, 0, first.stderr);
    assert.equal(first.stdout, "up\n1\n");
    const built = Deno.statSync(entry).mtime!.getTime();
    // A source file edited after the bundle was made: the next start makes a new one.
    const source = `${here}src/cli/version.ts`;
    const later = new Date(built + 2000);
    Deno.utimeSync(source, later, later);
    const second = await launch([`--root=${root}`, "-N", "--", "true"]);
    assert.equal(second.code, 0, second.stderr);
    assert.ok(Deno.statSync(entry).mtime!.getTime() > built, "the bundle was not rebuilt");
    // PARANOID_NO_BUNDLE=1 runs main.ts itself.
    const plain = await launch(["--version"], { PARANOID_NO_BUNDLE: "1" });
    assert.equal(plain.code, 0, plain.stderr);
    assert.match(plain.stdout, /^paranoid \d+\.\d+\.\d+/);
  } finally {
    await removeRoot(root);
  }
});

/** The V8 flags a shell script builds in its v8_flags variable, as the shell would. */
function scriptV8Flags(path: string): string {
  let value = "";
  for (const line of Deno.readTextFileSync(path).split("\n")) {
    const m = line.match(/^\s*(?:local )?v8_flags=(.*)$/);
    if (m) value = m[1]!.replace("$v8_flags", value);
  }
  return value;
}

Deno.test("launcher: scripts/paranoid and scripts/compile.sh give V8 the CLI's own flags", async () => {
  const { CLI_V8_FLAGS } = await import("../src/container/single_thread.ts");
  assert.equal(scriptV8Flags(launcher), CLI_V8_FLAGS);
  assert.equal(scriptV8Flags(`${here}scripts/compile.sh`), CLI_V8_FLAGS);
  assert.match(CLI_V8_FLAGS, /^--single-threaded,/);
});
