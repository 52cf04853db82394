// Integration: pulling from a registry that demands credentials (docker-registry with htpasswd).

import assert from "node:assert/strict";
import { paranoid } from "./helpers.ts";
import { startRegistry, writeBusyboxLayout } from "./fixtures/registry.ts";

Deno.test("images: a private registry refuses without credentials and serves with REGISTRY_AUTH_FILE or ~/.docker/config.json", async () => {
  const auth = { user: "alice", password: "s3cret-pass" };
  const registry = await startRegistry(auth);
  const data = await Deno.makeTempDir({ prefix: "paranoid-data-" });
  const home = await Deno.makeTempDir({ prefix: "paranoid-home-" });
  try {
    await writeBusyboxLayout(`${registry.base}/oci`, "v1");
    await registry.push(`${registry.base}/oci`, "v1", "private/busybox:1");
    const ref = `${registry.host}/private/busybox:1`;
    const env = { XDG_DATA_HOME: data, HOME: home };

    const refused = await paranoid(["pull", ref], { env });
    assert.equal(refused.code, 1);
    assert.equal(refused.stderr.trim().split("\n").length, 1, refused.stderr);
    assert.match(refused.stderr, /401|unauthori[sz]ed|credentials/i);

    const authFile = `${home}/auth.json`;
    const token = btoa(`${auth.user}:${auth.password}`);
    await Deno.writeTextFile(
      authFile,
      JSON.stringify({ auths: { [registry.host]: { auth: token } } }),
    );
    const viaAuthFile = await paranoid(["pull", ref], {
      env: { ...env, REGISTRY_AUTH_FILE: authFile },
    });
    assert.equal(viaAuthFile.code, 0, viaAuthFile.stderr);
    assert.match(viaAuthFile.stdout, /^pulled /);

    await Deno.mkdir(`${home}/.docker`);
    await Deno.writeTextFile(
      `${home}/.docker/config.json`,
      JSON.stringify({ auths: { [`http://${registry.host}`]: { auth: token } } }),
    );
    const data2 = await Deno.makeTempDir({ prefix: "paranoid-data-" });
    try {
      const viaDocker = await paranoid(["pull", ref], {
        env: { XDG_DATA_HOME: data2, HOME: home },
      });
      assert.equal(viaDocker.code, 0, viaDocker.stderr);
    } finally {
      await paranoid(["prune"], { env: { XDG_DATA_HOME: data2, HOME: home } });
      await Deno.remove(data2, { recursive: true }).catch(() => {});
    }
  } finally {
    await paranoid(["prune"], { env: { XDG_DATA_HOME: data, HOME: home } });
    await Deno.remove(data, { recursive: true }).catch(() => {});
    await Deno.remove(home, { recursive: true });
    await registry.close();
  }
});
