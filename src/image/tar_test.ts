// Tests for the streaming tar reader and decompression
import assert from "node:assert/strict";
import * as zlib from "node:zlib";
import { decompress, readTar, TarError } from "./tar.ts";
import { buildTar, concat, gzip, streamOf } from "../../tests/fixtures/tar_builder.ts";

async function list(bytes: Uint8Array, readAll = true) {
  const out: { name: string; type: string; text: string; link: string; mode: number }[] = [];
  for await (const e of readTar(streamOf(bytes, 77))) {
    let text = "";
    if (readAll) {
      const parts: Uint8Array[] = [];
      for await (const c of e.read()) parts.push(c);
      text = new TextDecoder().decode(concat(parts));
    }
    out.push({ name: e.name, type: e.type, text, link: e.linkName, mode: e.mode });
  }
  return out;
}

Deno.test("tar: reads ustar files, directories, symlinks and hard links", async () => {
  const bytes = buildTar([
    { name: "dir/", type: "5", mode: 0o4755 },
    { name: "dir/a.txt", data: "hello", mode: 0o640 },
    { name: "dir/big", data: "x".repeat(1300) },
    { name: "dir/link", type: "2", linkName: "a.txt" },
    { name: "dir/hard", type: "1", linkName: "dir/a.txt" },
    { name: "dev/null", type: "3" },
  ]);
  const got = await list(bytes);
  assert.deepEqual(got.map((e) => [e.name, e.type]), [
    ["dir/", "directory"],
    ["dir/a.txt", "file"],
    ["dir/big", "file"],
    ["dir/link", "symlink"],
    ["dir/hard", "hardlink"],
    ["dev/null", "chardev"],
  ]);
  assert.equal(got[0]?.mode, 0o4755);
  assert.equal(got[1]?.text, "hello");
  assert.equal(got[2]?.text.length, 1300);
  assert.equal(got[3]?.link, "a.txt");
});

Deno.test("tar: skips content that the caller does not read", async () => {
  const bytes = buildTar([{ name: "a", data: "1".repeat(700) }, { name: "b", data: "2" }]);
  const got = await list(bytes, false);
  assert.deepEqual(got.map((e) => e.name), ["a", "b"]);
});

Deno.test("tar: resumes correctly after a partial read of an entry", async () => {
  const bytes = buildTar([{ name: "a", data: "1".repeat(2000) }, { name: "b", data: "bee" }]);
  const names: string[] = [];
  let bText = "";
  for await (const e of readTar(streamOf(bytes, 300))) {
    names.push(e.name);
    for await (const c of e.read()) {
      if (e.name === "a") break;
      bText += new TextDecoder().decode(c);
    }
  }
  assert.deepEqual(names, ["a", "b"]);
  assert.equal(bText, "bee");
});

Deno.test("tar: applies GNU long names and long link names", async () => {
  const long = "d/".repeat(80) + "file.txt";
  const target = "t/".repeat(70) + "target";
  const got = await list(buildTar([
    { name: long, data: "x", gnuLongName: true },
    { name: "sym", type: "2", linkName: target, gnuLongLink: true },
    { name: "after", data: "y" },
  ]));
  assert.equal(got[0]?.name, long);
  assert.equal(got[1]?.link, target);
  assert.equal(got[2]?.name, "after");
});

Deno.test("tar: applies PAX path, linkpath, ids, mtime and xattrs to the next entry only", async () => {
  const long = "p/".repeat(120) + "名前.txt";
  const cap = new Uint8Array([1, 0, 0, 2, 0, 0x20, 0, 0]);
  const entries: { name: string; uid: number; gid: number; mtime: number; x: string[] }[] = [];
  const bytes = buildTar([
    {
      name: "short",
      data: "z",
      pax: {
        path: long,
        uid: "3000000",
        gid: "3000001",
        mtime: "1700000000.5",
        "SCHILY.xattr.security.capability": cap,
        "SCHILY.xattr.user.note": "hi",
      },
    },
    { name: "l", type: "2", linkName: "x", pax: { linkpath: "target/" + "q".repeat(150) } },
    { name: "plain", data: "" },
  ]);
  const xattrValues: Uint8Array[] = [];
  const links: string[] = [];
  for await (const e of readTar(streamOf(bytes))) {
    entries.push({ name: e.name, uid: e.uid, gid: e.gid, mtime: e.mtime, x: [...e.xattrs.keys()] });
    const v = e.xattrs.get("security.capability");
    if (v) xattrValues.push(v);
    links.push(e.linkName);
  }
  assert.equal(entries[0]?.name, long);
  assert.equal(entries[0]?.uid, 3000000);
  assert.equal(entries[0]?.gid, 3000001);
  assert.equal(entries[0]?.mtime, 1700000000.5);
  assert.deepEqual(entries[0]?.x, ["security.capability", "user.note"]);
  assert.deepEqual(xattrValues[0], cap);
  assert.equal(links[1], "target/" + "q".repeat(150));
  assert.deepEqual(entries[2], { name: "plain", uid: 0, gid: 0, mtime: 1700000000, x: [] });
});

Deno.test("tar: refuses a header with a bad checksum naming the entry", async () => {
  const bytes = buildTar([{ name: "ok", data: "1" }, {
    name: "evil",
    data: "2",
    badChecksum: true,
  }]);
  await assert.rejects(list(bytes), (e: unknown) => {
    assert.ok(e instanceof TarError);
    assert.match(e.message, /checksum mismatch for entry "evil"/);
    return true;
  });
});

Deno.test("tar: refuses a truncated archive naming the entry", async () => {
  const bytes = buildTar([{ name: "cut", data: "1".repeat(2000) }]).subarray(0, 1024);
  await assert.rejects(list(bytes), /Unexpected end of archive in entry "cut"/);
});

Deno.test("tar: reads an archive that ends at EOF without zero blocks", async () => {
  const full = buildTar([{ name: "a", data: "1" }]);
  const got = await list(full.subarray(0, full.length - 1024));
  assert.deepEqual(got.map((e) => e.name), ["a"]);
});

Deno.test("tar: decompresses gzip, zstd and plain archives detected by magic bytes", async () => {
  const plain = buildTar([{ name: "a", data: "abc".repeat(5000) }]);
  const zstd = new Uint8Array(zlib.zstdCompressSync(plain));
  for (const bytes of [plain, await gzip(plain), zstd]) {
    const entries = [];
    for await (const e of readTar(await decompress(streamOf(bytes, 1000)))) {
      let n = 0;
      for await (const c of e.read()) n += c.length;
      entries.push([e.name, n]);
    }
    assert.deepEqual(entries, [["a", 15000]]);
  }
});

Deno.test("tar: refuses bzip2 and xz layers by name", async () => {
  await assert.rejects(decompress(streamOf(new TextEncoder().encode("BZh91AY"))), /bzip2/);
  const xz = new Uint8Array([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0]);
  await assert.rejects(decompress(streamOf(xz)), /xz/);
});

Deno.test("tar: reports a truncated gzip stream as an error", async () => {
  const noise = new Uint8Array(20000).map((_, i) => (i * 7919) % 251);
  const full = await gzip(buildTar([{ name: "a", data: noise }]));
  const gz = full.subarray(0, full.length >> 1);
  await assert.rejects(async () => {
    for await (const e of readTar(await decompress(streamOf(gz)))) {
      for await (const _ of e.read()) { /* drain */ }
    }
  });
});
