// Integration: the single-file bundle from scripts/compile.sh behaves as main.ts does.

import assert from "node:assert/strict";
import { makeBusyboxRoot, paranoid, removeRoot } from "./helpers.ts";

const repo = new URL("..", import.meta.url).pathname;

Deno.test("bundle: scripts/compile.sh builds dist/paranoid.js, and it runs containers as main.ts does", async () => {
  const build = await new Deno.Command("bash", {
    args: [`${repo}/scripts/compile.sh`],
    stdout: "piped",
    stderr: "piped",
    env: { TARGETS: "" },
  }).output();
  const log = new TextDecoder().decode(build.stdout) + new TextDecoder().decode(build.stderr);
  assert.equal(build.code, 0, log);
  assert.match(log, /built dist\/paranoid\.js/);
  // Offline, the binary cannot be built: the script must say so in one line, not fail.
  assert.ok(
    /built dist\/paranoid$/m.test(log) || /dist\/paranoid was not built: .*DENORT_BIN/.test(log),
    log,
  );
  const root = await makeBusyboxRoot();
  try {
    const script = [
      "-N",
      `--root=${root}`,
      "-h",
      "bundled",
      "--",
      "sh",
      "-c",
      "echo $$ $(hostname) $(id -u)",
    ];
    const viaBundle = await paranoid(script, { main: `${repo}/dist/paranoid.js` });
    const viaMain = await paranoid(script);
    assert.equal(viaBundle.code, 0, viaBundle.stderr);
    assert.equal(viaBundle.stdout, "1 bundled 0\n");
    assert.equal(viaBundle.stdout, viaMain.stdout);
    const bad = await paranoid(["--bogus"], { main: `${repo}/dist/paranoid.js` });
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /unknown option "--bogus"/);
  } finally {
    await removeRoot(root);
  }
});
