// Tests for credentials from Docker and containers auth files
import assert from "node:assert/strict";
import { AuthFileError, defaultAuthFiles, findCredentials } from "./auth.ts";

async function withFiles(
  files: Record<string, unknown>,
  fn: (dir: string) => Promise<void>,
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "paranoid-auth-" });
  try {
    for (const [name, body] of Object.entries(files)) {
      await Deno.writeTextFile(
        `${dir}/${name}`,
        typeof body === "string" ? body : JSON.stringify(body),
      );
    }
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("auth: lists REGISTRY_AUTH_FILE, the containers file and the Docker config in order", () => {
  const env: Record<string, string> = {
    REGISTRY_AUTH_FILE: "/a.json",
    XDG_RUNTIME_DIR: "/run/user/1",
    HOME: "/home/u",
  };
  assert.deepEqual(defaultAuthFiles((k) => env[k]), [
    "/a.json",
    "/run/user/1/containers/auth.json",
    "/home/u/.docker/config.json",
  ]);
  assert.deepEqual(
    defaultAuthFiles((k) => ({ DOCKER_CONFIG: "/d", HOME: "/h" } as Record<string, string>)[k]),
    [
      "/d/config.json",
    ],
  );
});

Deno.test("auth: decodes base64 user:password for a host, Docker Hub under its legacy key", async () => {
  await withFiles({
    "first.json": { auths: { "localhost:5000": { auth: btoa("alice:s3:cret") } } },
    "docker.json": {
      auths: {
        "https://index.docker.io/v1/": { auth: btoa("bob:pw") },
        "localhost:5000": { auth: btoa("ignored:x") },
      },
    },
  }, async (dir) => {
    const files = [`${dir}/missing.json`, `${dir}/first.json`, `${dir}/docker.json`];
    assert.deepEqual(await findCredentials("localhost:5000", files), {
      username: "alice",
      password: "s3:cret",
    });
    assert.deepEqual(await findCredentials("docker.io", files), {
      username: "bob",
      password: "pw",
    });
    assert.equal(await findCredentials("quay.io", files), undefined);
  });
});

Deno.test("auth: names the file and key of a malformed entry", async () => {
  await withFiles({
    "bad.json": { auths: { "r.io": { auth: btoa("nocolon") } } },
    "notjson.json": "{",
  }, async (dir) => {
    await assert.rejects(
      findCredentials("r.io", [`${dir}/bad.json`]),
      (e) =>
        e instanceof AuthFileError && /auths\["r.io"\].auth is not "user:password"/.test(e.message),
    );
    await assert.rejects(
      findCredentials("r.io", [`${dir}/notjson.json`]),
      /notjson.json" is not JSON/,
    );
  });
});
