// Integration test: pull a busybox image from a real registry (Debian docker-registry) via the store
//
// Needs the Debian packages docker-registry, skopeo and busybox-static; it fails (never
// skips) without them. The fixture writes an OCI layout by hand (two layers, the second with
// a whiteout), pushes it with skopeo to a registry on 127.0.0.1, and this test pulls it back.

import assert from "node:assert/strict";
import { ImageStore } from "../src/image/store.ts";
import { DigestMismatchError } from "../src/image/registry.ts";
import { unpackLayer } from "../src/image/extract.ts";
import { run, startRegistry, writeBusyboxLayout } from "./fixtures/registry.ts";

Deno.test("image registry: pushes with skopeo, pulls through the store, refuses a corrupted blob", async () => {
  const registry = await startRegistry();
  const base = registry.base;
  try {
    const layerDigests = await writeBusyboxLayout(`${base}/oci`, "v1");
    const ref = `${registry.host}/test/busybox:v1`;
    await registry.push(`${base}/oci`, "v1", "test/busybox:v1");

    const store = new ImageStore(`${base}/store`, { registry: { authFiles: [] } });
    const first = await store.pull(ref);
    assert.equal(first.blobsDownloaded, 3);
    assert.deepEqual(first.record.layers, layerDigests, "skopeo kept the layers as written");
    const image = await store.resolve(ref);
    assert.deepEqual(image.config.Cmd, ["/bin/sh"]);
    assert.equal(image.config.WorkingDir, "/etc");
    const [lower, upper] = image.layerDirs as [string, string];
    assert.equal(
      (await Deno.stat(`${lower}/bin/busybox`)).size,
      (await Deno.stat("/bin/busybox")).size,
    );
    assert.equal(await Deno.readLink(`${lower}/bin/sh`), "busybox");
    assert.ok((await Deno.lstat(`${upper}/etc/hello`)).isCharDevice, "overlay whiteout");
    assert.equal(await Deno.readTextFile(`${upper}/etc/added`), "added in layer 2\n");
    assert.deepEqual((await store.images()).map((i) => i.reference), [ref]);

    const second = await store.pull(ref);
    assert.equal(second.blobsDownloaded, 0);
    assert.equal(second.layersUnpacked, 0);

    // The same blobs applied onto one merged directory, as a runtime without overlayfs would.
    const merged = `${base}/merged`;
    for (const blob of image.layerBlobs) await unpackLayer(blob, merged, { whiteouts: "apply" });
    await assert.rejects(Deno.lstat(`${merged}/etc/hello`), Deno.errors.NotFound);
    assert.equal(await Deno.readTextFile(`${merged}/etc/keep`), "kept\n");
    assert.equal((await run(`${merged}/bin/echo`, ["merged", "ok"])).trim(), "merged ok");

    // Corrupt the second layer in the registry's storage: a fresh store must refuse it.
    const bad = layerDigests[1]!;
    const data = registry.blobData(bad);
    const bytes = await Deno.readFile(data);
    bytes[bytes.length >> 1] = (bytes[bytes.length >> 1] ?? 0) ^ 0xff;
    await Deno.writeFile(data, bytes);
    const fresh = new ImageStore(`${base}/fresh`, { registry: { authFiles: [] } });
    await assert.rejects(fresh.pull(ref), (e) => {
      assert.ok(e instanceof DigestMismatchError, String(e));
      assert.ok(e.message.includes(`"${bad}"`), e.message);
      return true;
    });
    const kept = [];
    for await (const e of Deno.readDir(`${base}/fresh/blobs/sha256`)) kept.push(e.name);
    assert.ok(!kept.includes(bad.slice(7)), "the corrupted blob is not in the store");
    assert.ok(kept.every((n) => !n.startsWith(".tmp")), "no partial files");
    assert.deepEqual(await fresh.images(), []);
  } finally {
    await registry.close();
  }
});
