// Integration: a SYN flood from inside the container leaves the host side responsive and bounded in memory.

import assert from "node:assert/strict";
import { MAIN, makeBusyboxRoot, removeRoot } from "./helpers.ts";

function requirePython(): void {
  try {
    Deno.statSync("/usr/bin/python3");
  } catch {
    throw new Error("/usr/bin/python3 is missing: install the Debian package python3");
  }
}

Deno.test("flood: 20000 SYNs from the container, then a normal connection still works and memory stays bounded", async () => {
  requirePython();
  const root = await makeBusyboxRoot();
  await Deno.remove(`${root}/usr`, { recursive: true });
  await Deno.mkdir(`${root}/usr`);
  await Deno.symlink("usr/lib", `${root}/lib`);
  await Deno.symlink("usr/lib64", `${root}/lib64`);
  const script = new URL("./fixtures/syn_flood.py", import.meta.url).pathname;
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    () => new Response("still-here\n"),
  );
  const port = server.addr.port;
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      "--no-config",
      MAIN,
      `--root=${root}`,
      "--init",
      "-v",
      "/usr:/usr:ro",
      "-v",
      `${script}:/flood.py:ro`,
      "--",
      "/bin/sh",
      "-c",
      `python3 /flood.py 10.0.15.1 ${port} 20000 && wget -qO- http://10.0.15.1:${port}/ && echo done && sleep 0.5`,
    ],
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  // The host side is the process we started (it re-executes itself in place, same pid).
  let peakKiB = 0;
  const sample = setInterval(() => {
    try {
      const m = /VmHWM:\s+(\d+) kB/.exec(Deno.readTextFileSync(`/proc/${child.pid}/status`));
      if (m) peakKiB = Math.max(peakKiB, Number(m[1]));
    } catch {
      // gone
    }
  }, 20);
  try {
    const out = await child.output();
    const stdout = new TextDecoder().decode(out.stdout);
    assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
    assert.match(stdout, /sent 20000\nstill-here\ndone/);
    assert.ok(peakKiB > 0, "the host side's memory was sampled");
    assert.ok(peakKiB < 256 * 1024, `host side peak RSS ${peakKiB} KiB`);
  } finally {
    clearInterval(sample);
    await server.shutdown();
    await removeRoot(root);
  }
});
