// Integration tests of the image commands through the real CLI: pull, images, rmi, prune, extract, ps, rm
//
// Each test has its own XDG_DATA_HOME. The registry tests need the Debian packages
// docker-registry, skopeo and busybox-static (see tests/fixtures/registry.ts). Run as an
// unprivileged user with a subordinate id range, extraction happens in a user namespace.

import assert from "node:assert/strict";
import { paranoid, type RunResult } from "./helpers.ts";
import { freePort, startRegistry, writeBusyboxLayout } from "./fixtures/registry.ts";
import { buildTar, gzip } from "./fixtures/tar_builder.ts";
import { ImageStore } from "../src/image/store.ts";
import { ContainerRegistry } from "../src/cli/containers.ts";
import { PullDisplay } from "../src/cli/progress.ts";
import { ImageRunError, prepareImageRun, resolveImageUser } from "../src/cli/image_run.ts";

async function tempDir(prefix: string): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix });
  await Deno.chmod(dir, 0o755);
  return dir;
}

/** Runs the CLI with XDG_DATA_HOME set to `data`. */
function cli(data: string, args: string[]): Promise<RunResult> {
  return paranoid(args, { env: { XDG_DATA_HOME: data } });
}

function expectOk(r: RunResult, what: string): void {
  assert.equal(r.code, 0, `${what} failed: ${r.stderr}`);
}

/** The start of the calling user's first subordinate range in `file`, or null. */
function subordinateStart(file: string): number | null {
  const user = Deno.env.get("USER") ?? "";
  let text = "";
  try {
    text = Deno.readTextFileSync(file);
  } catch {
    return null;
  }
  for (const line of text.split("\n")) {
    const [who, start] = line.split(":");
    if (who !== undefined && start !== undefined && (who === user || who === String(Deno.uid()))) {
      return Number(start);
    }
  }
  return null;
}

async function names(dir: string): Promise<string[]> {
  const out: string[] = [];
  try {
    for await (const e of Deno.readDir(dir)) out.push(e.name);
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  return out.sort();
}

Deno.test("images: pull, images, run plan, rmi and prune against a real registry", async () => {
  const registry = await startRegistry();
  const data = await tempDir("paranoid-data-");
  try {
    const layers = await writeBusyboxLayout(`${registry.base}/oci`, "v1");
    await registry.push(`${registry.base}/oci`, "v1", "test/busybox:1");
    const ref = `${registry.host}/test/busybox:1`;

    const pulled = await cli(data, ["pull", ref]);
    expectOk(pulled, "pull");
    assert.match(pulled.stdout, new RegExp(`^pulled ${ref} \\(sha256:[0-9a-f]{64}\\)\n$`));
    assert.equal(pulled.stderr, "", "no progress display when stderr is not a terminal");
    const root = `${data}/paranoid`;
    const [lowest, top] = layers.map((d) => `${root}/layers/${d.slice(7)}`) as [string, string];
    const busybox = await Deno.lstat(`${lowest}/bin/busybox`);
    assert.equal(busybox.uid, Deno.uid(), "uid 0 of the layer is the calling user");
    // Other owners survive through the subordinate range (the unpacking ran with the user
    // namespace's capabilities): 405 inside is the range's start + 404 outside.
    const range = subordinateStart("/etc/subuid");
    const owned = await Deno.lstat(`${lowest}/etc/owned`);
    if (range !== null) assert.equal(owned.uid, range + 404, "uid 405 of the layer");
    const groups = subordinateStart("/etc/subgid");
    if (groups !== null) assert.equal(owned.gid, groups + 99, "gid 100 of the layer");
    assert.ok((await Deno.lstat(`${top}/etc/hello`)).isCharDevice, "whiteout kept for overlay");

    const again = await cli(data, ["pull", ref]);
    expectOk(again, "second pull");

    const listed = await cli(data, ["images"]);
    expectOk(listed, "images");
    const rows = listed.stdout.trim().split("\n").map((l) => l.split(/ {3,}/));
    assert.deepEqual(rows[0], ["REPOSITORY", "TAG", "DIGEST", "SIZE", "CREATED"]);
    assert.equal(rows.length, 2);
    assert.equal(rows[1]![0], `${registry.host}/test/busybox`);
    assert.equal(rows[1]![1], "1");
    assert.match(rows[1]![2]!, /^[0-9a-f]{12}$/);
    assert.match(rows[1]![3]!, /^[\d.]+ (kB|MB)$/);

    // The plan `run` would use: Cmd, Env, WorkingDir, User, overlay top first.
    const store = new ImageStore(root);
    const plan = await prepareImageRun(store, ref, { command: [], env: { EXTRA: "1" } });
    assert.deepEqual(plan.argv, ["/bin/sh"]);
    assert.deepEqual(plan.env, { PATH: "/bin", EXTRA: "1" });
    assert.equal(plan.cwd, "/etc");
    assert.deepEqual(plan.user, { uid: 0, gid: 0 });
    assert.deepEqual(plan.rootOverlay.lower, [top, lowest]);
    const dir = `${root}/containers/${plan.record.id}`;
    assert.equal(plan.rootOverlay.upper, `${dir}/upper`);
    assert.equal(plan.rootOverlay.work, `${dir}/work`);
    assert.equal(plan.root, `${dir}/rootfs`);
    const custom = await prepareImageRun(store, ref, {
      command: ["echo", "hi"],
      cwd: "/tmp",
      user: { uid: 7, gid: 8 },
      name: "custom",
    });
    assert.deepEqual(custom.argv, ["echo", "hi"]);
    assert.equal(custom.cwd, "/tmp");
    assert.deepEqual(custom.user, { uid: 7, gid: 8 });
    assert.equal(custom.record.name, "custom");
    await assert.rejects(
      prepareImageRun(store, ref, { command: [], name: "custom" }),
      /name "custom" is already in use/,
    );
    assert.deepEqual(await resolveImageUser("guest", plan.rootOverlay.lower), {
      uid: 405,
      gid: 100,
    });
    assert.deepEqual(await resolveImageUser("guest:root", plan.rootOverlay.lower), {
      uid: 405,
      gid: 0,
    });
    assert.deepEqual(await resolveImageUser("1000", plan.rootOverlay.lower), {
      uid: 1000,
      gid: 0,
    });
    await assert.rejects(resolveImageUser("nobody", plan.rootOverlay.lower), ImageRunError);

    const removed = await cli(data, ["rmi", ref]);
    expectOk(removed, "rmi");
    assert.equal(removed.stdout, `removed ${ref}\n`);
    assert.equal((await cli(data, ["images"])).stdout.trim().split("\n").length, 1);
    const missing = await cli(data, ["rmi", ref]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, new RegExp(`"${ref}" is not in the store`));

    // Both containers are "created" by this test process, which is alive: their layers stay.
    const kept = await cli(data, ["prune"]);
    expectOk(kept, "prune with containers");
    assert.equal(kept.stdout, "removed 0 container(s), 2 blob(s) and 0 layer(s)\n");
    assert.deepEqual(await names(`${root}/layers`), layers.map((d) => d.slice(7)).sort());

    const containers = new ContainerRegistry(`${root}/containers`);
    await containers.markExited(plan.record.id, 0);
    await containers.markExited(custom.record.id, 0);
    const pruned = await cli(data, ["prune"]);
    expectOk(pruned, "prune");
    assert.equal(pruned.stdout, "removed 2 container(s), 2 blob(s) and 2 layer(s)\n");
    assert.deepEqual(await names(`${root}/blobs/sha256`), []);
    assert.deepEqual(await names(`${root}/layers`), []);
    assert.deepEqual(await containers.list(), []);
  } finally {
    await registry.close();
    await Deno.remove(data, { recursive: true });
  }
});

Deno.test("images: pull failures are one line naming the ref, the host or the digest", async () => {
  const registry = await startRegistry();
  const data = await tempDir("paranoid-data-");
  try {
    const layers = await writeBusyboxLayout(`${registry.base}/oci`, "v1");
    await registry.push(`${registry.base}/oci`, "v1", "test/busybox:1");

    const unknown = await cli(data, ["pull", `${registry.host}/test/nothing:1`]);
    assert.equal(unknown.code, 1);
    assert.equal(
      unknown.stderr,
      `paranoid: Image "${registry.host}/test/nothing:1" was not found on registry "${registry.host}"\n`,
    );

    const port = freePort();
    const unreachable = await cli(data, ["pull", `127.0.0.1:${port}/test/busybox:1`]);
    assert.equal(unreachable.code, 1);
    assert.equal(unreachable.stderr.split("\n").length, 2, unreachable.stderr);
    assert.match(
      unreachable.stderr,
      new RegExp(`^paranoid: Cannot reach registry "127.0.0.1:${port}"`),
    );

    const invalid = await cli(data, ["pull", "Not A Reference"]);
    assert.equal(invalid.code, 1);
    assert.match(invalid.stderr, /^paranoid: Invalid image reference "Not A Reference"/);

    const usage = await cli(data, ["pull"]);
    assert.equal(usage.code, 2);

    const bad = layers[1]!;
    const path = registry.blobData(bad);
    const bytes = await Deno.readFile(path);
    bytes[bytes.length >> 1] = (bytes[bytes.length >> 1] ?? 0) ^ 0xff;
    await Deno.writeFile(path, bytes);
    const corrupt = await cli(data, ["pull", `${registry.host}/test/busybox:1`]);
    assert.equal(corrupt.code, 1);
    assert.equal(corrupt.stderr.split("\n").length, 2, corrupt.stderr);
    assert.match(corrupt.stderr, new RegExp(`^paranoid: Content of "${bad}" does not match`));
    assert.ok(!(await names(`${data}/paranoid/blobs/sha256`)).includes(bad.slice(7)));
    assert.equal((await cli(data, ["images"])).stdout.trim().split("\n").length, 1);
  } finally {
    await registry.close();
    await Deno.remove(data, { recursive: true });
  }
});

Deno.test("images: extract refuses a hostile tarball and writes nothing outside DIR", async () => {
  const base = await tempDir("paranoid-extract-");
  try {
    const target = `${base}/target`;
    const hostile = buildTar([
      { name: "ok.txt", data: "fine\n" },
      { name: "link", type: "2", linkName: "../outside" },
      { name: "link/escaped", data: "bad\n" },
    ]);
    await Deno.writeFile(`${base}/hostile.tar`, hostile);
    const refused = await cli(base, ["extract", `${base}/hostile.tar`, target]);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /^paranoid: Refusing archive entry "link\/escaped"/);
    assert.equal(refused.stderr.split("\n").length, 2, refused.stderr);
    assert.deepEqual(await names(base), ["hostile.tar", "target"]);

    const dotdot = buildTar([{ name: "../../escape", data: "bad\n" }]);
    await Deno.writeFile(`${base}/dotdot.tar.gz`, await gzip(dotdot));
    const refused2 = await cli(base, ["extract", `${base}/dotdot.tar.gz`, target]);
    assert.equal(refused2.code, 1);
    assert.match(refused2.stderr, /Refusing archive entry "\.\.\/\.\.\/escape"/);
    assert.deepEqual(await names(base), ["dotdot.tar.gz", "hostile.tar", "target"]);

    // A good archive from stdin, with a device node that is skipped and summarised.
    const good = buildTar([
      { name: "dir/", type: "5" },
      { name: "dir/file", data: "hello\n", uid: 0, gid: 0 },
      { name: "dev-null", type: "3" },
    ]);
    await Deno.writeFile(`${base}/good.tar`, good);
    const fromStdin = await new Deno.Command("/bin/sh", {
      args: [
        "-c",
        `exec "$0" run -A --no-config "$1" extract - "$2" < "$3"`,
        Deno.execPath(),
        new URL("../main.ts", import.meta.url).pathname,
        `${base}/fresh`,
        `${base}/good.tar`,
      ],
      env: { XDG_DATA_HOME: base },
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stderr = new TextDecoder().decode(fromStdin.stderr);
    assert.equal(fromStdin.code, 0, stderr);
    assert.equal(await Deno.readTextFile(`${base}/fresh/dir/file`), "hello\n");
    assert.match(stderr, /^extracted \d+ entries into ".*\/fresh": skipped 1 device node/);
    assert.equal((await Deno.stat(`${base}/fresh/dir/file`)).uid, Deno.uid());
  } finally {
    await Deno.remove(base, { recursive: true });
  }
});

Deno.test("images: ps and rm show and remove container records", async () => {
  const data = await tempDir("paranoid-data-");
  const sleeper = new Deno.Command("sleep", { args: ["600"], stdout: "null", stderr: "null" })
    .spawn();
  try {
    const containers = new ContainerRegistry(`${data}/paranoid/containers`);
    const running = await containers.create("web", "example/app:1", ["httpd", "-f"]);
    await containers.markRunning(running.id, sleeper.pid);
    const done = await containers.create(undefined, "example/app:1", ["true"]);
    await containers.markExited(done.id, 3);
    await assert.rejects(containers.create("web", "x", ["y"]), /name "web" is already in use/);

    // Files of a subordinate id in the upper dir, as a container's user would leave them.
    const owned = buildTar([{ name: "home/", type: "5", uid: 1000, gid: 1000, mode: 0o700 }, {
      name: "home/file",
      data: "x\n",
      uid: 1000,
      gid: 1000,
    }]);
    await Deno.writeFile(`${data}/owned.tar`, owned);
    expectOk(
      await cli(data, ["extract", `${data}/owned.tar`, `${containers.dir(done.id)}/upper`]),
      "extract into upper",
    );

    const ps = await cli(data, ["ps"]);
    expectOk(ps, "ps");
    const psRows = ps.stdout.trim().split("\n");
    assert.equal(psRows.length, 2);
    assert.match(psRows[0]!, /^CONTAINER ID +NAME +IMAGE +COMMAND +CREATED +STATUS$/);
    assert.match(
      psRows[1]!,
      new RegExp(
        `^${
          running.id.slice(0, 12)
        } +web +example/app:1 +"httpd -f" .*running \\(pid ${sleeper.pid}\\)$`,
      ),
    );

    const all = await cli(data, ["ps", "-a"]);
    const allRows = all.stdout.trim().split("\n");
    assert.equal(allRows.length, 3);
    assert.match(allRows[2]!, new RegExp(`${done.name} .*exited \\(3\\)`));

    const refused = await cli(data, ["rm", "web"]);
    assert.equal(refused.code, 1);
    assert.equal(
      refused.stderr,
      `paranoid: Container "web" is running: stop it first or use "rm -f"\n`,
    );
    const unknown = await cli(data, ["rm", "nosuch"]);
    assert.equal(unknown.code, 1);
    assert.equal(unknown.stderr, `paranoid: No such container "nosuch"\n`);

    const removed = await cli(data, ["rm", done.id.slice(0, 8)]);
    expectOk(removed, "rm by id prefix");
    assert.deepEqual(await names(`${data}/paranoid/containers`), [running.id, "names"]);

    const forced = await cli(data, ["rm", "-f", "web"]);
    expectOk(forced, "rm -f");
    const status = await sleeper.status;
    assert.equal(status.signal, "SIGKILL");
    assert.deepEqual(await names(`${data}/paranoid/containers`), ["names"]);
    assert.deepEqual(await names(`${data}/paranoid/containers/names`), []);
    assert.equal((await cli(data, ["ps", "-a"])).stdout.trim().split("\n").length, 1);
  } finally {
    try {
      sleeper.kill("SIGKILL");
    } catch { /* already dead */ }
    await sleeper.status;
    await Deno.remove(data, { recursive: true });
  }
});

Deno.test("images: the pull display redraws one line per blob in place, only on a terminal", () => {
  const chunks: string[] = [];
  const sink = {
    writeSync: (b: Uint8Array) => (chunks.push(new TextDecoder().decode(b)), b.length),
  };
  const digest = `sha256:${"ab".repeat(32)}`;
  const display = new PullDisplay(sink, true);
  display.update({ kind: "manifest", reference: "r/x:1", digest, platform: "linux/amd64" });
  display.update({
    kind: "blob",
    role: "layer",
    digest,
    state: "downloading",
    bytes: 0,
    total: 2_000_000,
  });
  display.update({ kind: "blob", role: "layer", digest, state: "done", bytes: 2e6, total: 2e6 });
  display.finish();
  assert.equal(chunks[0], "\r\x1b[2Kpulling r/x:1 (linux/amd64)\n");
  assert.equal(
    chunks[1],
    "\x1b[1A\r\x1b[2Kpulling r/x:1 (linux/amd64)\n\r\x1b[2K  layer  abababababab  downloading  0 B / 2.0 MB\n",
  );
  assert.ok(chunks.at(-1)!.startsWith("\x1b[2A"), "moves up over both lines");
  assert.ok(chunks.at(-1)!.endsWith("layer  abababababab  done  2.0 MB\n"));

  const quiet: string[] = [];
  const off = new PullDisplay({ writeSync: (b) => (quiet.push("x"), b.length) }, false);
  off.update({ kind: "blob", role: "config", digest, state: "cached", bytes: 1, total: 1 });
  off.finish();
  assert.deepEqual(quiet, []);
});
