// Tests for manifest parsing and platform selection
import assert from "node:assert/strict";
import {
  type ImageIndex,
  ManifestError,
  parseManifest,
  parsePlatform,
  selectPlatform,
} from "./manifest.ts";

const d = (n: number) => `sha256:${String(n).repeat(64).slice(0, 64)}`;
const entry = (n: number, architecture: string, variant?: string) => ({
  mediaType: "application/vnd.oci.image.manifest.v1+json",
  digest: d(n),
  size: 1,
  platform: variant ? { os: "linux", architecture, variant } : { os: "linux", architecture },
});

const index: ImageIndex = {
  schemaVersion: 2,
  manifests: [
    entry(1, "amd64"),
    entry(2, "arm", "v6"),
    entry(3, "arm", "v7"),
    entry(4, "arm64", "v8"),
    { ...entry(5, "unknown"), platform: { os: "unknown", architecture: "unknown" } },
  ],
};

Deno.test("manifest: selects the entry for a platform, matching variants", () => {
  assert.equal(selectPlatform(index, { os: "linux", architecture: "amd64" }, "x").digest, d(1));
  assert.equal(selectPlatform(index, parsePlatform("linux/arm64"), "x").digest, d(4));
  assert.equal(selectPlatform(index, parsePlatform("linux/arm64/v8"), "x").digest, d(4));
  assert.equal(selectPlatform(index, parsePlatform("linux/arm/v6"), "x").digest, d(2));
  assert.equal(selectPlatform(index, parsePlatform("linux/arm"), "x").digest, d(3));
  assert.throws(
    () => selectPlatform(index, parsePlatform("linux/arm/v5"), '"img"'),
    /No image for platform "linux\/arm\/v5" in "img": available "linux\/amd64", "linux\/arm\/v6"/,
  );
});

Deno.test("manifest: rejects malformed platforms", () => {
  assert.throws(() => parsePlatform("linux"), /Invalid platform "linux"/);
  assert.throws(() => parsePlatform("linux/arm/v7/x"), ManifestError);
});

Deno.test("manifest: parses Docker schema 2 manifests and lists, refusing schema 1 and foreign layers", () => {
  const enc = (v: unknown) => new TextEncoder().encode(JSON.stringify(v));
  const layer = {
    mediaType: "application/vnd.docker.image.rootfs.diff.tar.gzip",
    digest: d(7),
    size: 3,
  };
  const config = {
    mediaType: "application/vnd.docker.container.image.v1+json",
    digest: d(8),
    size: 2,
  };
  const m = parseManifest(
    enc({ schemaVersion: 2, config, layers: [layer] }),
    "application/vnd.docker.distribution.manifest.v2+json",
    "m",
  );
  assert.equal(m.kind, "manifest");
  const list = parseManifest(enc({ schemaVersion: 2, manifests: [entry(1, "amd64")] }), "", "l");
  assert.equal(list.kind, "index");
  assert.throws(() => parseManifest(enc({ schemaVersion: 1 }), "", '"old"'), /schemaVersion "1"/);
  assert.throws(
    () =>
      parseManifest(
        enc({ schemaVersion: 2, config, layers: [{ ...layer, urls: ["https://x"] }] }),
        "",
        "w",
      ),
    /foreign layer/,
  );
  assert.throws(
    () =>
      parseManifest(
        enc({ schemaVersion: 2, config, layers: [{ ...layer, digest: "md5:1" }] }),
        "",
        "w",
      ),
    /Invalid digest "md5:1"/,
  );
});
