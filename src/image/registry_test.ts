// Tests for the registry client: schemes, Basic auth, redirects and digest verification
import assert from "node:assert/strict";
import {
  DigestMismatchError,
  isLoopback,
  RegistryClient,
  RegistryError,
  sha256,
  verifyingStream,
} from "./registry.ts";
import { parseReference } from "./reference.ts";

Deno.test("registry: treats localhost, 127.0.0.0/8 and ::1 as loopback", () => {
  for (const h of ["localhost", "localhost:5000", "127.0.0.1:5000", "127.1.2.3", "[::1]:5000"]) {
    assert.ok(isLoopback(h), h);
  }
  for (
    const h of [
      "registry-1.docker.io",
      "10.0.0.1:5000",
      "128.0.0.1",
      "[::2]:5000",
      "localhost.example",
    ]
  ) {
    assert.ok(!isLoopback(h), h);
  }
});

Deno.test("registry: uses plain HTTP only for loopback or insecure registries", () => {
  const c = new RegistryClient({ authFiles: [], insecure: ["lab:5000"] });
  assert.equal(c.baseUrl(parseReference("localhost:5000/a")), "http://localhost:5000");
  assert.equal(c.baseUrl(parseReference("lab:5000/a")), "http://lab:5000");
  assert.equal(c.baseUrl(parseReference("quay.io/a")), "https://quay.io");
  assert.equal(c.baseUrl(parseReference("alpine")), "https://registry-1.docker.io");
});

Deno.test("registry: answers a Basic challenge with credentials and drops them on a cross-origin redirect", async () => {
  const blob = new TextEncoder().encode("layer bytes");
  const digest = sha256(blob);
  const seen: string[] = [];
  const fakeFetch: typeof fetch = (input, init) => {
    const url = String(input);
    const auth = new Headers(init?.headers).get("authorization") ?? "-";
    seen.push(`${url} ${auth}`);
    if (url.startsWith("https://cdn.test/")) return Promise.resolve(new Response(blob));
    if (auth === "-") {
      return Promise.resolve(
        new Response("", { status: 401, headers: { "www-authenticate": 'Basic realm="r"' } }),
      );
    }
    return Promise.resolve(
      new Response(null, { status: 307, headers: { location: "https://cdn.test/blob?sig=1" } }),
    );
  };
  const client = new RegistryClient({
    fetch: fakeFetch,
    authFiles: [],
    credentials: { username: "u", password: "p" },
  });
  const stream = await client.blob(parseReference("reg.test/a/b"), { digest, size: blob.length });
  assert.equal(await new Response(stream).text(), "layer bytes");
  assert.deepEqual(seen, [
    `https://reg.test/v2/a/b/blobs/${digest} -`,
    `https://reg.test/v2/a/b/blobs/${digest} Basic ${btoa("u:p")}`,
    "https://cdn.test/blob?sig=1 -",
  ]);
});

Deno.test("registry: asks for a login when a Basic challenge comes without credentials", async () => {
  const client = new RegistryClient({
    authFiles: [],
    fetch: () =>
      Promise.resolve(new Response("", { status: 401, headers: { "www-authenticate": "Basic" } })),
  });
  await assert.rejects(
    client.manifest(parseReference("reg.test/a")),
    (e) => e instanceof RegistryError && /requires a login/.test(e.message),
  );
});

Deno.test("registry: a verifying stream refuses wrong content and oversized content", async () => {
  const good = new TextEncoder().encode("abc");
  const run = (bytes: Uint8Array<ArrayBuffer>, digest: string, size?: number) =>
    new Response(new Response(bytes).body!.pipeThrough(verifyingStream(digest, size))).text();
  assert.equal(await run(good, sha256(good), 3), "abc");
  const other = sha256(new TextEncoder().encode("abd"));
  await assert.rejects(
    run(good, other),
    (e) => e instanceof DigestMismatchError && e.message.includes(other),
  );
  await assert.rejects(run(good, sha256(good), 2), /more than the expected 2 bytes/);
});

Deno.test("registry: refuses a manifest whose bytes do not match the digest asked for", async () => {
  const asked = sha256(new TextEncoder().encode("x"));
  const client = new RegistryClient({
    authFiles: [],
    fetch: () => Promise.resolve(new Response('{"schemaVersion":2}')),
  });
  await assert.rejects(
    client.manifest(parseReference("reg.test/a"), asked),
    (e) => e instanceof DigestMismatchError && e.message.includes(asked),
  );
});
