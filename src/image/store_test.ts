// Tests for the image store and registry client against an in-memory registry
import assert from "node:assert/strict";
import { ImageNotFoundError, ImageStore, type PullProgress } from "./store.ts";
import { DigestMismatchError, RegistryClient } from "./registry.ts";
import { ManifestError } from "./manifest.ts";
import {
  buildImage,
  FakeRegistry,
  type FakeRegistryOptions,
} from "../../tests/fixtures/fake_registry.ts";
import { buildTar, type FixtureEntry, gzip } from "../../tests/fixtures/tar_builder.ts";

const LAYERS: FixtureEntry[][] = [
  [
    { name: "bin/", type: "5" },
    { name: "bin/sh", data: "#!shell", mode: 0o755 },
    { name: "etc/", type: "5" },
    { name: "etc/motd", data: "hello" },
  ],
  [{ name: "etc/.wh.motd", data: "" }, { name: "etc/hostname", data: "box" }],
];
const REF = "registry.test/team/app";

async function withStore(
  opts: FakeRegistryOptions & { index?: boolean },
  fn: (store: ImageStore, reg: FakeRegistry, root: string) => Promise<void>,
): Promise<void> {
  const root = await Deno.makeTempDir({ prefix: "paranoid-store-" });
  try {
    const reg = new FakeRegistry(await buildImage(LAYERS, { index: opts.index ?? false }), opts);
    const store = new ImageStore(root, {
      registry: new RegistryClient({ fetch: reg.fetch, authFiles: [] }),
      extract: { chown: false },
    });
    await fn(store, reg, root);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
}

async function listTree(dir: string, prefix = ""): Promise<string[]> {
  const out: string[] = [];
  for await (const e of Deno.readDir(dir)) {
    const rel = `${prefix}${e.name}`;
    out.push(rel);
    if (e.isDirectory) out.push(...await listTree(`${dir}/${e.name}`, `${rel}/`));
  }
  return out.sort();
}

Deno.test("store: pulls an image through an index with a bearer token and resolves it", async () => {
  await withStore({ bearer: true, index: true }, async (store, reg) => {
    const events: PullProgress[] = [];
    const result = await store.pull(REF, { onProgress: (e) => events.push(e) });
    assert.equal(result.blobsDownloaded, 3);
    assert.equal(result.layersUnpacked, 2);
    assert.equal(reg.tokenRequests.length, 1);
    assert.match(reg.tokenRequests[0]!, /service=registry.test&scope=repository%3Ax%3Apull/);
    assert.ok(events.some((e) => e.kind === "blob" && e.state === "downloading" && e.bytes > 0));
    const image = await store.resolve(REF);
    assert.equal(image.record.manifestDigest, reg.image.manifestDigest);
    assert.deepEqual(image.config.Entrypoint, ["/bin/sh"]);
    assert.equal(image.layerDirs.length, 2);
    assert.equal(await Deno.readTextFile(`${image.layerDirs[0]}/bin/sh`), "#!shell");
    const whiteout = await Deno.lstat(`${image.layerDirs[1]}/etc/motd`);
    assert.ok(whiteout.isCharDevice, "overlay whiteout in the upper layer");
    assert.deepEqual((await store.images()).map((i) => i.reference), [`${REF}:latest`]);
  });
});

Deno.test("store: a second pull downloads nothing", async () => {
  await withStore({}, async (store, reg) => {
    await store.pull(REF);
    const before = reg.blobRequests.length;
    const again = await store.pull(REF);
    assert.equal(again.blobsDownloaded, 0);
    assert.equal(again.layersUnpacked, 0);
    assert.equal(reg.blobRequests.length, before);
  });
});

Deno.test("store: refuses a corrupted blob naming its digest and keeps nothing of it", async () => {
  await withStore({ corrupt: new Set() }, async (store, reg, root) => {
    const bad = reg.image.layerDigests[1]!;
    reg.opts.corrupt!.add(bad);
    await assert.rejects(store.pull(REF), (e) => {
      assert.ok(e instanceof DigestMismatchError, String(e));
      assert.match(e.message, new RegExp(`"${bad}"`));
      return true;
    });
    const files = await listTree(`${root}/blobs/sha256`);
    assert.ok(!files.includes(bad.slice(7)), "the bad blob is not stored");
    assert.deepEqual(files.filter((f) => f.startsWith(".tmp")), []);
    assert.deepEqual((await listTree(`${root}/layers`)).filter((f) => f.startsWith(".tmp")), []);
    assert.deepEqual(await store.images(), []);
  });
});

Deno.test("store: an interrupted pull leaves the store consistent and the next one completes", async () => {
  await withStore({ failOnce: new Set() }, async (store, reg, root) => {
    const [first, second] = reg.image.layerDigests as [string, string];
    reg.opts.failOnce!.add(second);
    await assert.rejects(store.pull(REF), /connection reset/);
    assert.deepEqual(await store.images(), []);
    const blobs = await listTree(`${root}/blobs/sha256`);
    assert.deepEqual(blobs.filter((f) => f.startsWith(".tmp")), []);
    assert.ok(!blobs.includes(second.slice(7)));
    const requested = reg.blobRequests.length;
    const result = await store.pull(REF);
    const refetched = reg.blobRequests.slice(requested);
    assert.ok(refetched.includes(second));
    assert.ok(!refetched.includes(reg.image.configDigest), "config was complete already");
    assert.equal(result.record.layers[0], first);
    assert.equal((await store.resolve(REF)).layerDirs.length, 2);
  });
});

Deno.test("store: removes images and prunes what nothing references", async () => {
  await withStore({}, async (store, _reg, root) => {
    await store.pull(REF);
    await Deno.writeTextFile(`${root}/blobs/sha256/.tmp-leftover`, "x");
    assert.deepEqual(await store.prune(), { blobs: 0, layers: 0 });
    assert.ok(!(await listTree(`${root}/blobs/sha256`)).includes(".tmp-leftover"));
    await store.remove(`${REF}:latest`);
    await assert.rejects(store.resolve(REF), ImageNotFoundError);
    await assert.rejects(
      store.remove(REF),
      /Image "registry.test\/team\/app:latest" is not in the store/,
    );
    assert.deepEqual(await store.prune(), { blobs: 4, layers: 2 });
    assert.deepEqual(await listTree(`${root}/layers`), []);
  });
});

Deno.test("store: concurrent pulls of the same image both succeed under the lock", async () => {
  await withStore({}, async (store, reg) => {
    const [a, b] = await Promise.all([store.pull(REF), store.pull(REF)]);
    assert.equal(a.blobsDownloaded + b.blobsDownloaded, 3);
    assert.equal(new Set(reg.blobRequests).size, 3);
    assert.equal((await store.images()).length, 1);
  });
});

Deno.test("registry: names the available platforms when none matches", async () => {
  await withStore({ index: true }, async (store) => {
    await assert.rejects(
      store.pull(REF, { platform: { os: "linux", architecture: "riscv64" } }),
      (e) => {
        assert.ok(e instanceof ManifestError);
        assert.match(
          e.message,
          /No image for platform "linux\/riscv64".*"linux\/s390x", "linux\/amd64"/,
        );
        return true;
      },
    );
  });
});

Deno.test("registry: reports a missing tag as not found naming the reference", async () => {
  await withStore({}, async (store) => {
    await assert.rejects(store.pull(`${REF}:nope`), /registry.test\/team\/app:nope.*not found/);
  });
});

Deno.test("store: a layer that unpacks fine but does not match its digest is not committed", async () => {
  await withStore({}, async (store, reg, root) => {
    const bad = reg.image.layerDigests[1]!;
    const original = reg.image.blobs.get(bad)!;
    // A valid layer of its own, padded with zeros to the size the manifest gives: it unpacks
    // completely before the digest check at the end of the download can fail.
    const other = await gzip(buildTar([{ name: "planted", data: "x" }]));
    assert.ok(other.length <= original.length, "the replacement fits");
    const served = new Uint8Array(original.length);
    served.set(other);
    reg.image.blobs.set(bad, served);
    await assert.rejects(store.pull(REF), (e) => {
      assert.ok(e instanceof DigestMismatchError, String(e));
      assert.match(e.message, new RegExp(`"${bad}"`));
      return true;
    });
    assert.ok(!(await listTree(`${root}/layers`)).includes(bad.slice(7)), "no layer committed");
    assert.ok(!(await listTree(`${root}/blobs/sha256`)).includes(bad.slice(7)), "no blob");
    assert.deepEqual((await listTree(`${root}/layers`)).filter((f) => f.includes(".tmp")), []);
    assert.deepEqual(
      (await listTree(`${root}/blobs/sha256`)).filter((f) => f.startsWith(".tmp")),
      [],
    );
    assert.deepEqual(await store.images(), []);
    // The registry heals: the next pull fetches and commits the layer.
    reg.image.blobs.set(bad, original);
    await store.pull(REF);
    assert.equal(await Deno.readTextFile(`${store.layerPath(bad)}/etc/hostname`), "box");
  });
});
