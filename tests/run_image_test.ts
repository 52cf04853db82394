// Integration: `paranoid run IMAGE` pulls from a real registry and runs the image copy-on-write on an overlay.

import assert from "node:assert/strict";
import { MAIN, paranoid, type RunResult } from "./helpers.ts";
import { startRegistry, writeBusyboxLayout } from "./fixtures/registry.ts";

function cli(data: string, args: string[]): Promise<RunResult> {
  return paranoid(args, { env: { XDG_DATA_HOME: data } });
}

// One registry with one pushed image for the file; each test has its own store.
const registry = await startRegistry();
await writeBusyboxLayout(`${registry.base}/oci`, "v1");
await registry.push(`${registry.base}/oci`, "v1", "test/busybox:1");
const ref = `${registry.host}/test/busybox:1`;

/** Runs `fn` with a fresh XDG_DATA_HOME, pruned and removed afterwards. */
async function withStore(fn: (data: string) => Promise<void>): Promise<void> {
  const data = await Deno.makeTempDir({ prefix: "paranoid-data-" });
  try {
    await fn(data);
  } finally {
    await cli(data, ["prune"]);
    await Deno.remove(data, { recursive: true }).catch(() => {});
  }
}

Deno.test("run: an image from a real registry runs on an overlay, with its config applied and layers untouched", async () => {
  await withStore(async (data) => {
    // Pulls on first use; the whiteout in the top layer hides /etc/hello of the lower one.
    const first = await cli(data, [
      "run",
      "--name",
      "web",
      "-N",
      ref,
      "--",
      "sh",
      "-c",
      "test -e /etc/hello || echo hidden; echo changed > /etc/motd; id -u; echo $$",
    ]);
    assert.equal(first.code, 0, first.stderr);
    assert.deepEqual(first.stdout.trim().split("\n"), ["hidden", "0", "1"]);

    // The image itself never changes: a second container does not see the first one's write.
    const second = await cli(data, [
      "run",
      "--rm",
      "-N",
      ref,
      "--",
      "sh",
      "-c",
      "cat /etc/motd 2>/dev/null || echo no-motd",
    ]);
    assert.equal(second.code, 0, second.stderr);
    assert.equal(second.stdout.trim(), "no-motd");

    // The named container is listed as exited; the --rm one is gone.
    const ps = await cli(data, ["ps", "-a"]);
    assert.equal(ps.code, 0, ps.stderr);
    assert.match(ps.stdout, /web/);
    assert.equal(ps.stdout.trim().split("\n").length, 2, ps.stdout);
    const dup = await cli(data, ["run", "--name", "web", "-N", ref, "--", "true"]);
    assert.equal(dup.code, 125);
    assert.match(dup.stderr, /web/);
    // exec joins a running container's namespaces.
    const bg = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        "--no-config",
        MAIN,
        "run",
        "--name",
        "live",
        "-N",
        "-h",
        "livehost",
        ref,
        "--",
        "sh",
        "-c",
        "echo up; exec sleep 1000",
      ],
      env: { XDG_DATA_HOME: data },
      stdout: "piped",
      stderr: "null",
    }).spawn();
    const reader = bg.stdout.getReader();
    assert.equal(new TextDecoder().decode((await reader.read()).value), "up\n");
    const ex = await cli(data, [
      "exec",
      "live",
      "--",
      "sh",
      "-c",
      "hostname; cat /proc/1/cmdline | tr '\\0' ' '; echo; id -u",
    ]);
    assert.equal(ex.code, 0, ex.stderr);
    assert.deepEqual(ex.stdout.trim().split("\n").map((l) => l.trim()), [
      "livehost",
      "sleep 1000",
      "0",
    ]);
    const exCode = await cli(data, ["exec", "live", "sh", "-c", "exit 5"]);
    assert.equal(exCode.code, 5);
    // -t: a pty from the container's devpts, relayed (CRLF line ends), its status kept.
    const exTty = await cli(data, [
      "exec",
      "-it",
      "live",
      "sh",
      "-c",
      "tty; test -t 0 && test -t 1 && echo tty-ok; echo $TERM; exit 3",
    ]);
    assert.equal(exTty.code, 3, exTty.stderr);
    assert.match(exTty.stdout, /^\/dev\/pts\/\d+\r\ntty-ok\r\n\S+\r\n$/);
    bg.kill("SIGKILL");
    await bg.status;
    await reader.cancel();
    const gone = await cli(data, ["exec", "live", "--", "true"]);
    assert.equal(gone.code, 125);
    assert.match(gone.stderr, /not running/);
    await cli(data, ["rm", "-f", "live"]);
    const rm = await cli(data, ["rm", "web"]);
    assert.equal(rm.code, 0, rm.stderr);
  });
});

Deno.test("run: an image that is not in the registry is one sentence and exit 125", async () => {
  await withStore(async (data) => {
    const r = await cli(data, ["run", "-N", `${registry.host}/no/such:image`, "--", "true"]);
    assert.equal(r.code, 125);
    assert.match(r.stderr, /no\/such/);
    assert.equal(r.stderr.trim().split("\n").length, 1, r.stderr);
  });
});

Deno.test("run: where overlay is refused, the image runs on a copy with its whiteouts applied, and says so", async () => {
  await withStore(async (data) => {
    // PARANOID_NO_OVERLAY=1 stands in for a kernel that refuses unprivileged overlayfs.
    const r = await paranoid(
      [
        "run",
        "--rm",
        "-N",
        ref,
        "--",
        "sh",
        "-c",
        "test -e /etc/hello || echo hidden; ls /bin/busybox",
      ],
      { env: { XDG_DATA_HOME: data, PARANOID_NO_OVERLAY: "1" } },
    );
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(r.stdout.trim().split("\n"), ["hidden", "/bin/busybox"]);
    assert.match(r.stderr, /refused an overlay .*running on a copy of the image/);
  });
});

Deno.test("run: cleanup of the registry", async () => {
  await registry.close();
});
