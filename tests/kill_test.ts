// Integration: SIGKILL of the host side at any point of start-up or while running leaves nothing behind.

import assert from "node:assert/strict";
import { eventually, MAIN, paranoid, processesWith } from "./helpers.ts";

/** Every path under `dir`, relative, sorted; the cached roots are listed but not entered. */
function listing(dir: string, rel = ""): string[] {
  const out: string[] = [];
  let entries: Deno.DirEntry[];
  try {
    entries = [...Deno.readDirSync(`${dir}/${rel}`)];
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return out;
    throw e;
  }
  for (const e of entries) {
    const path = rel === "" ? e.name : `${rel}/${e.name}`;
    out.push(path);
    if (e.isDirectory && !/^paranoid\/rootfs\/[^/]+$/.test(path)) out.push(...listing(dir, path));
  }
  return out.sort();
}

function mountinfo(): string {
  return Deno.readTextFileSync("/proc/self/mountinfo");
}

/** A running host side whose INIT (and its children) carry `marker` in their arguments. */
interface Started {
  child: Deno.ChildProcess;
  marker: string;
  /** Resolves with the first line INIT writes ("ready"), or "" at end of output. */
  firstLine: Promise<string>;
}

/** Starts the CLI on the cached default root; INIT forks a child, a daemon, then says "ready". */
function start(cache: string, extra: readonly string[] = []): Started {
  const marker = `paranoid-kill-${crypto.randomUUID()}`;
  // The subshells are forks of INIT, so they carry the marker in their command line too; the
  // daemon leaves INIT's session to show that the pid namespace, not the session, is what ends.
  const script = "(while :; do sleep 1; done) & " +
    "setsid sh -c 'while :; do sleep 1; done' \"$0\" & " +
    "trap '' TERM HUP INT; echo ready; wait";
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--no-config", MAIN, "-N", ...extra, "--", "sh", "-c", script, marker],
    env: { XDG_CACHE_HOME: cache },
    stdin: "null",
    stdout: "piped",
    stderr: "null",
  }).spawn();
  const firstLine = (async () => {
    const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
    let text = "";
    try {
      while (!text.includes("\n")) {
        const { value, done } = await reader.read();
        if (done) break;
        text += value;
      }
    } finally {
      await reader.cancel().catch(() => {});
    }
    return text.split("\n")[0] ?? "";
  })();
  return { child, marker, firstLine };
}

/** Kills the host side with SIGKILL and checks that nothing of the container is left. */
async function killAndCheck(
  s: Started,
  cache: string,
  before: { mounts: string; files: string[] },
  what: string,
): Promise<void> {
  try {
    s.child.kill("SIGKILL");
  } catch (e) {
    // It may have failed on its own before the signal: that is a bug of its own.
    throw new Error(`${what}: the host side had already exited`, { cause: e });
  }
  const status = await s.child.status;
  assert.equal(status.signal, "SIGKILL", what);
  await s.firstLine;
  await eventually(
    () => processesWith(s.marker).length === 0,
    `${what}: the container's processes to go (${processesWith(s.marker).join(" ")})`,
  );
  assert.equal(mountinfo(), before.mounts, `${what}: the mount table changed`);
  assert.deepEqual(listing(cache), before.files, `${what}: stray files in the cache`);
}

/** A cache directory with the default root already built, and the state to compare against. */
async function preparedCache(): Promise<{ cache: string; mounts: string; files: string[] }> {
  const cache = await Deno.makeTempDir({ prefix: "paranoid-kill-cache-" });
  const r = await paranoid(["-N", "--", "true"], { env: { XDG_CACHE_HOME: cache } });
  assert.equal(r.code, 0, r.stderr);
  const files = listing(cache);
  assert.ok(files.some((f) => /^paranoid\/rootfs\/[^/]+$/.test(f)), files.join(" "));
  return { cache, mounts: mountinfo(), files };
}

Deno.test("security: SIGKILL of the host side while the container runs leaves nothing behind", async () => {
  const { cache, ...before } = await preparedCache();
  try {
    for (const extra of [[], ["--init"], ["--read-only", "-h", "killed"]]) {
      const s = start(cache, extra);
      assert.equal(await s.firstLine, "ready");
      // INIT, its child and the daemon (whose own child sleeps) are all up.
      await eventually(() => processesWith(s.marker).length >= 3, "the container's processes");
      await killAndCheck(s, cache, before, `running ${extra.join(" ")}`);
    }
  } finally {
    await Deno.remove(cache, { recursive: true });
  }
});

Deno.test("security: SIGKILL of the host side at ten points of start-up leaves nothing behind", async () => {
  const { cache, ...before } = await preparedCache();
  try {
    // How long a start takes here, so that the ten points span all of it (at least 300 ms).
    const t0 = performance.now();
    const first = start(cache);
    assert.equal(await first.firstLine, "ready");
    const span = Math.max(300, performance.now() - t0);
    await killAndCheck(first, cache, before, "after the first start");
    for (let i = 0; i < 10; i++) {
      const delay = Math.round((span * i) / 9);
      const s = start(cache);
      await new Promise((r) => setTimeout(r, delay));
      await killAndCheck(s, cache, before, `killed ${delay} ms into start-up`);
    }
  } finally {
    await Deno.remove(cache, { recursive: true });
  }
});

Deno.test("security: a start killed while building the default root leaves no temporary build behind", async () => {
  const cache = await Deno.makeTempDir({ prefix: "paranoid-kill-cache-" });
  try {
    const base = `${cache}/paranoid/rootfs`;
    const s = start(cache);
    // Kill as soon as the build directory appears, so that it is surely half-built.
    for (let i = 0; !listing(base).some((f) => f.startsWith(".build-")); i++) {
      if (i === 20000) throw new Error("Timed out waiting for the build directory");
      await new Promise((r) => setTimeout(r, 1));
    }
    s.child.kill("SIGKILL");
    await s.child.status;
    await s.firstLine;
    await eventually(() => processesWith(s.marker).length === 0, "the killed start to go");
    // The next start builds the root again and must not leave the killed one's build lying.
    const r = await paranoid(["-N", "--", "true"], { env: { XDG_CACHE_HOME: cache } });
    assert.equal(r.code, 0, r.stderr);
    const top = [...Deno.readDirSync(base)].map((e) => e.name);
    assert.equal(top.length, 1, `expected only the cached root in ${base}: ${top.join(" ")}`);
    assert.match(top[0]!, /^busybox-/);
  } finally {
    await Deno.remove(cache, { recursive: true });
  }
});
