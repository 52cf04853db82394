// Integration test: pull a busybox image from a real registry (Debian docker-registry) via the store
//
// Needs the Debian packages docker-registry, skopeo and busybox-static; it fails (never
// skips) without them. It writes an OCI layout by hand (two layers, the second with a
// whiteout), pushes it with skopeo to a registry on 127.0.0.1, and pulls it back.

import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { ImageStore } from "../src/image/store.ts";
import { DigestMismatchError } from "../src/image/registry.ts";
import { unpackLayer } from "../src/image/extract.ts";
import { buildTar, type FixtureEntry, gzip } from "./fixtures/tar_builder.ts";

const REGISTRY_BIN = "/usr/bin/docker-registry";
const NEEDS: [string, string][] = [
  [REGISTRY_BIN, "docker-registry"],
  ["/usr/bin/skopeo", "skopeo"],
  ["/bin/busybox", "busybox-static"],
];

const enc = new TextEncoder();
const digestOf = (b: Uint8Array) => `sha256:${createHash("sha256").update(b).digest("hex")}`;

async function requireTools(): Promise<void> {
  for (const [path, pkg] of NEEDS) {
    try {
      await Deno.stat(path);
    } catch {
      throw new Error(`"${path}" is missing: install the Debian package "${pkg}"`);
    }
  }
}

function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

/** Writes an OCI image layout with two gzip layers; returns the layer digests. */
async function writeLayout(dir: string, tag: string): Promise<string[]> {
  const busybox = await Deno.readFile("/bin/busybox");
  const layers: FixtureEntry[][] = [
    [
      { name: "bin/", type: "5" },
      { name: "bin/busybox", data: busybox, mode: 0o755 },
      { name: "bin/sh", type: "2", linkName: "busybox" },
      { name: "bin/echo", type: "1", linkName: "bin/busybox" },
      { name: "etc/", type: "5" },
      { name: "etc/hello", data: "hello from layer 1\n" },
      { name: "etc/keep", data: "kept\n" },
    ],
    [
      { name: "etc/", type: "5" },
      { name: "etc/.wh.hello", data: "" },
      { name: "etc/added", data: "added in layer 2\n" },
    ],
  ];
  await Deno.mkdir(`${dir}/blobs/sha256`, { recursive: true });
  const put = async (bytes: Uint8Array) => {
    const d = digestOf(bytes);
    await Deno.writeFile(`${dir}/blobs/sha256/${d.slice(7)}`, bytes);
    return { digest: d, size: bytes.length };
  };
  const descs = [];
  const diffIds = [];
  for (const entries of layers) {
    const tar = buildTar(entries);
    diffIds.push(digestOf(tar));
    descs.push({
      mediaType: "application/vnd.oci.image.layer.v1.tar+gzip",
      ...await put(await gzip(tar)),
    });
  }
  const config = await put(enc.encode(JSON.stringify({
    architecture: "amd64",
    os: "linux",
    config: { Cmd: ["/bin/sh"], Env: ["PATH=/bin"], WorkingDir: "/etc", User: "0:0" },
    rootfs: { type: "layers", diff_ids: diffIds },
  })));
  const manifest = await put(enc.encode(JSON.stringify({
    schemaVersion: 2,
    mediaType: "application/vnd.oci.image.manifest.v1+json",
    config: { mediaType: "application/vnd.oci.image.config.v1+json", ...config },
    layers: descs,
  })));
  await Deno.writeTextFile(`${dir}/oci-layout`, JSON.stringify({ imageLayoutVersion: "1.0.0" }));
  await Deno.writeTextFile(
    `${dir}/index.json`,
    JSON.stringify({
      schemaVersion: 2,
      manifests: [{
        mediaType: "application/vnd.oci.image.manifest.v1+json",
        ...manifest,
        annotations: { "org.opencontainers.image.ref.name": tag },
      }],
    }),
  );
  return descs.map((d) => d.digest);
}

async function run(cmd: string, args: string[]): Promise<string> {
  const out = await new Deno.Command(cmd, { args, stdout: "piped", stderr: "piped" }).output();
  const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
  if (!out.success) throw new Error(`"${cmd} ${args.join(" ")}" failed: ${text.trim()}`);
  return text;
}

async function waitForRegistry(url: string, child: Deno.ChildProcess): Promise<void> {
  let exited = false;
  child.status.then(() => exited = true);
  for (let i = 0; i < 200 && !exited; i++) {
    try {
      const res = await fetch(url);
      await res.body?.cancel();
      if (res.ok) return;
    } catch { /* not listening yet */ }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`docker-registry did not come up at "${url}"${exited ? " (it exited)" : ""}`);
}

Deno.test("image registry: pushes with skopeo, pulls through the store, refuses a corrupted blob", async () => {
  await requireTools();
  const base = await Deno.makeTempDir({ prefix: "paranoid-registry-" });
  const port = freePort();
  const config = `${base}/config.yml`;
  await Deno.writeTextFile(
    config,
    [
      "version: 0.1",
      "log:",
      "  level: warn",
      "storage:",
      "  filesystem:",
      `    rootdirectory: ${base}/storage`,
      "http:",
      `  addr: 127.0.0.1:${port}`,
      "",
    ].join("\n"),
  );
  const child = new Deno.Command(REGISTRY_BIN, {
    args: ["serve", config],
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const log = new Response(child.stderr).text();
  try {
    await waitForRegistry(`http://127.0.0.1:${port}/v2/`, child);
    const layerDigests = await writeLayout(`${base}/oci`, "v1");
    const ref = `127.0.0.1:${port}/test/busybox:v1`;
    await run("skopeo", [
      "copy",
      "--insecure-policy",
      "--dest-tls-verify=false",
      `oci:${base}/oci:v1`,
      `docker://${ref}`,
    ]);

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
    const data = `${base}/storage/docker/registry/v2/blobs/sha256/${bad.slice(7, 9)}/${
      bad.slice(7)
    }/data`;
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
    child.kill("SIGTERM");
    await child.status;
    const text = await log;
    if (text.includes("panic")) console.error(text);
    await Deno.remove(base, { recursive: true });
  }
});
