// Tests for safe extraction: ordinary archives, hostile archives and OCI whiteouts
import assert from "node:assert/strict";
import * as zlib from "node:zlib";
import {
  describeResult,
  extractTar,
  type FsHooks,
  unpackLayer,
  UnsafeEntryError,
} from "./extract.ts";
import { buildTar, type FixtureEntry, streamOf } from "../../tests/fixtures/tar_builder.ts";

/** A temp dir with `target/` and a sibling `outside/` that must stay untouched. */
async function sandbox(fn: (target: string, outside: string) => Promise<void>): Promise<void> {
  const base = await Deno.makeTempDir({ prefix: "paranoid-extract-" });
  try {
    await Deno.mkdir(`${base}/target`);
    await Deno.mkdir(`${base}/outside`);
    await Deno.writeTextFile(`${base}/outside/keep`, "original");
    await fn(`${base}/target`, `${base}/outside`);
  } finally {
    await Deno.remove(base, { recursive: true });
  }
}

async function outsideUntouched(outside: string): Promise<void> {
  const names: string[] = [];
  for await (const e of Deno.readDir(outside)) names.push(e.name);
  assert.deepEqual(names, ["keep"]);
  assert.equal(await Deno.readTextFile(`${outside}/keep`), "original");
}

function extract(entries: FixtureEntry[], target: string, opts = {}) {
  return extractTar(streamOf(buildTar(entries), 333), target, opts);
}

const recordingHooks = () => {
  const calls: string[] = [];
  const hooks: FsHooks = {
    setXattr(path, name, value) {
      calls.push(
        `xattr ${path.split("/").slice(-1)[0]} ${name}=${new TextDecoder().decode(value)}`,
      );
      return Promise.resolve();
    },
    async makeWhiteout(path) {
      calls.push(`whiteout ${path.split("/").slice(-1)[0]}`);
      await Deno.writeTextFile(path, "");
    },
  };
  return { calls, hooks };
};

Deno.test("extract: writes files, directories, symlinks and hard links with modes and mtimes", async () => {
  await sandbox(async (target) => {
    const result = await extract([
      { name: "./etc/", type: "5", mode: 0o755, mtime: 1_600_000_000 },
      { name: "/etc/passwd", data: "root:x:0:0", mode: 0o644, mtime: 1_500_000_000 },
      { name: "bin/tool", data: "#!", mode: 0o4755 },
      { name: "bin/alias", type: "2", linkName: "tool" },
      { name: "bin/hard", type: "1", linkName: "/bin/tool" },
      { name: "ro/", type: "5", mode: 0o555 },
      { name: "ro/inside", data: "x", mode: 0o444 },
      { name: "dev/null", type: "3" },
      { name: "run/fifo", type: "6" },
    ], target);
    assert.equal(await Deno.readTextFile(`${target}/etc/passwd`), "root:x:0:0");
    assert.equal((await Deno.stat(`${target}/etc/passwd`)).mtime?.getTime(), 1_500_000_000_000);
    assert.equal((await Deno.stat(`${target}/etc`)).mtime?.getTime(), 1_600_000_000_000);
    assert.equal((await Deno.stat(`${target}/bin/tool`)).mode! & 0o7777, 0o4755);
    assert.equal(await Deno.readLink(`${target}/bin/alias`), "tool");
    assert.equal(
      (await Deno.stat(`${target}/bin/hard`)).ino,
      (await Deno.stat(`${target}/bin/tool`)).ino,
    );
    assert.equal((await Deno.stat(`${target}/ro`)).mode! & 0o777, 0o555);
    assert.equal(result.skippedDevices, 2);
    assert.match(describeResult(result), /skipped 2 device node/);
    await Deno.chmod(`${target}/ro`, 0o755);
  });
});

Deno.test("extract: replaces an existing symlink instead of writing through it", async () => {
  await sandbox(async (target, outside) => {
    await extract([
      { name: "f", type: "2", linkName: `${outside}/keep` },
      { name: "f", data: "new" },
    ], target);
    assert.equal(await Deno.readTextFile(`${target}/f`), "new");
    assert.ok(!(await Deno.lstat(`${target}/f`)).isSymlink);
    await outsideUntouched(outside);
  });
});

Deno.test("extract: strips the leading slash of absolute names and stays inside", async () => {
  await sandbox(async (target, outside) => {
    await extract(
      [{ name: `${outside}/keep`, data: "bad" }, { name: "/etc/x", data: "1" }],
      target,
    );
    assert.equal(await Deno.readTextFile(`${target}${outside}/keep`), "bad");
    assert.equal(await Deno.readTextFile(`${target}/etc/x`), "1");
    await outsideUntouched(outside);
  });
});

Deno.test("extract: follows a planted symlink that stays inside the target", async () => {
  await sandbox(async (target, outside) => {
    await extract([
      { name: "usr/lib/", type: "5" },
      { name: "lib", type: "2", linkName: "usr/lib" },
      { name: "lib/libc.so", data: "elf" },
    ], target);
    assert.equal(await Deno.readTextFile(`${target}/usr/lib/libc.so`), "elf");
    await outsideUntouched(outside);
  });
});

const hostile: [string, (outside: string) => FixtureEntry[], RegExp][] = [
  ["a '..' name", () => [{ name: "../outside/x", data: "bad" }], /"\.\.\/outside\/x".*"\.\."/],
  ["a '..' inside the name", () => [{ name: "a/../../outside/x", data: "bad" }], /".." component/],
  ["an absolute symlink parent", (o) => [
    { name: "a", type: "2", linkName: o },
    { name: "a/b", data: "bad" },
  ], /"a\/b".*symlink "a" pointing outside/],
  ["a symlink to '..'", () => [
    { name: "up", type: "2", linkName: ".." },
    { name: "up/outside/x", data: "bad" },
  ], /"up\/outside\/x": its path climbs out/],
  ["a chain of symlinks climbing out", () => [
    { name: "d/e/", type: "5" },
    { name: "d/e/l1", type: "2", linkName: "../l2" },
    { name: "d/l2", type: "2", linkName: "../../outside" },
    { name: "d/e/l1/x", data: "bad" },
  ], /"d\/e\/l1\/x": its path climbs out/],
  ["a symlink loop", () => [
    { name: "l1", type: "2", linkName: "l2" },
    { name: "l2", type: "2", linkName: "l1" },
    { name: "l1/x", data: "bad" },
  ], /too many levels of symlinks/],
  ["a hard link to outside by '..'", () => [
    { name: "h", type: "1", linkName: "../outside/keep" },
  ], /"h": its hard link target/],
  ["a hard link to an absolute host path", (o) => [
    { name: "h", type: "1", linkName: `${o}/keep` },
  ], /hard link target .* is not in the target/],
  ["a hard link through a planted symlink", (o) => [
    { name: "s", type: "2", linkName: o },
    { name: "h", type: "1", linkName: "s/keep" },
  ], /"h".*symlink "s" pointing outside/],
  ["a whiteout through a planted symlink", (o) => [
    { name: "s", type: "2", linkName: o },
    { name: "s/.wh.keep", data: "" },
  ], /"s\/.wh.keep".*symlink "s" pointing outside/],
];

for (const [label, entries, pattern] of hostile) {
  Deno.test(`extract: refuses ${label} and writes nothing outside`, async () => {
    await sandbox(async (target, outside) => {
      await assert.rejects(extract(entries(outside), target, { whiteouts: "apply" }), (e) => {
        assert.ok(e instanceof UnsafeEntryError, String(e));
        assert.match(e.message, pattern);
        return true;
      });
      await outsideUntouched(outside);
    });
  });
}

Deno.test("extract: does not apply a directory's mode through a symlink that replaced it", async () => {
  await sandbox(async (target, outside) => {
    const before = await Deno.stat(outside);
    await extract([
      { name: "a/", type: "5", mode: 0o777, mtime: 1000 },
      { name: "a", type: "2", linkName: outside },
    ], target);
    await assert.rejects(
      extract([
        { name: "p/q/", type: "5", mode: 0o777, mtime: 1000 },
        { name: "p", type: "2", linkName: `${outside}/..` },
      ], target),
      /"p\/q\/".*symlink "p" pointing outside/,
    );
    const after = await Deno.stat(outside);
    assert.equal(after.mode, before.mode);
    assert.equal(after.mtime?.getTime(), before.mtime?.getTime());
    await outsideUntouched(outside);
  });
});

Deno.test("extract: refuses a file entry that would replace the target itself", async () => {
  await sandbox(async (target, outside) => {
    await assert.rejects(
      extract([{ name: "./", type: "2", linkName: outside }], target),
      UnsafeEntryError,
    );
    assert.ok((await Deno.lstat(target)).isDirectory);
  });
});

Deno.test("extract: applies whiteouts and opaque directories onto earlier layers", async () => {
  await sandbox(async (target) => {
    await extract([
      { name: "etc/", type: "5" },
      { name: "etc/gone", data: "1" },
      { name: "etc/stays", data: "2" },
      { name: "var/cache/", type: "5" },
      { name: "var/cache/old", data: "3" },
      { name: "var/cache/sub/deep", data: "4" },
    ], target);
    const result = await extract(
      [
        { name: "var/cache/new", data: "5" },
        { name: "etc/.wh.gone", data: "" },
        { name: "var/cache/.wh..wh..opq", data: "" },
        { name: "nothing/.wh.here", data: "" },
      ],
      target,
      { whiteouts: "apply" },
    );
    const names = async (dir: string) => {
      const out: string[] = [];
      for await (const e of Deno.readDir(dir)) out.push(e.name);
      return out.sort();
    };
    assert.deepEqual(await names(`${target}/etc`), ["stays"]);
    assert.deepEqual(await names(`${target}/var/cache`), ["new"]);
    assert.deepEqual(await names(target), ["etc", "var"]);
    assert.equal(result.whiteouts, 3);
  });
});

Deno.test("extract: records whiteouts and opaque directories for overlayfs in overlay mode", async () => {
  await sandbox(async (target) => {
    const { calls, hooks } = recordingHooks();
    await extract(
      [
        { name: "etc/.wh.gone", data: "" },
        { name: "var/.wh..wh..opq", data: "" },
        { name: "bin/ping", data: "x", pax: { "SCHILY.xattr.user.overlay.opaque": "y" } },
      ],
      target,
      { whiteouts: "overlay", hooks },
    );
    assert.deepEqual(calls, ["whiteout gone", "xattr var user.overlay.opaque=y"]);
  });
});

Deno.test("extract: makes a real overlay whiteout node with mknod without privileges", async () => {
  await sandbox(async (target) => {
    await extract([{ name: "etc/.wh.gone", data: "" }], target, { whiteouts: "overlay" });
    const info = await Deno.lstat(`${target}/etc/gone`);
    assert.ok(info.isCharDevice, "whiteout is a character device");
    assert.equal(info.rdev, 0);
  });
});

Deno.test("extract: keeps whiteout files as plain files in keep mode", async () => {
  await sandbox(async (target) => {
    await extract([{ name: "etc/.wh.gone", data: "" }], target);
    assert.ok((await Deno.lstat(`${target}/etc/.wh.gone`)).isFile);
  });
});

Deno.test("extract: passes archive xattrs to the hook and refuses overlay ones", async () => {
  await sandbox(async (target) => {
    const { calls, hooks } = recordingHooks();
    const result = await extract(
      [
        {
          name: "bin/ping",
          data: "x",
          pax: { "SCHILY.xattr.user.test": "v", "SCHILY.xattr.trusted.overlay.opaque": "y" },
        },
      ],
      target,
      { hooks },
    );
    assert.deepEqual(calls, ["xattr ping user.test=v"]);
    assert.equal(result.xattrFailures, 1);
  });
});

Deno.test("extract: overlay-mode layers mount as overlayfs lower dirs with userxattr", async () => {
  await sandbox(async (target) => {
    const lower = `${target}/lower`;
    const upper = `${target}/upper`;
    const merged = `${target}/merged`;
    await extract([
      { name: "etc/hello", data: "hi" },
      { name: "etc/keep", data: "keep" },
      { name: "var/cache/old", data: "old" },
    ], lower);
    await extract(
      [
        { name: "etc/.wh.hello", data: "" },
        { name: "var/cache/", type: "5" },
        { name: "var/cache/.wh..wh..opq", data: "" },
        { name: "var/cache/new", data: "new" },
      ],
      upper,
      { whiteouts: "overlay" },
    );
    await Deno.mkdir(merged);
    // An unprivileged user namespace and mount namespace, as the runtime will use.
    const script = `mount -t overlay overlay -o lowerdir=${upper}:${lower},userxattr ${merged}` +
      ` && cd ${merged} && find . -type f | sort`;
    const out = await new Deno.Command("unshare", {
      args: ["-Urm", "sh", "-c", script],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const text = new TextDecoder().decode(out.stdout).trim().split("\n");
    assert.ok(out.success, new TextDecoder().decode(out.stderr));
    assert.deepEqual(text, ["./etc/keep", "./var/cache/new"]);
  });
});

Deno.test("extract: unpacks a zstd layer blob from a file", async () => {
  await sandbox(async (target) => {
    const blob = `${target}/../layer.tar.zst`;
    const tar = buildTar([{ name: "etc/os-release", data: "ID=test" }]);
    await Deno.writeFile(blob, zlib.zstdCompressSync(tar));
    await unpackLayer(blob, `${target}/rootfs`, { chown: false });
    assert.equal(await Deno.readTextFile(`${target}/rootfs/etc/os-release`), "ID=test");
  });
});
