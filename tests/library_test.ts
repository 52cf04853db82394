// Integration: the library's Container, in-process (this runner is single-threaded) and through the helper.

import assert from "node:assert/strict";
import { Container, ContainerStartError, images, pull, PullError } from "../mod.ts";
import { startRegistry, writeBusyboxLayout } from "./fixtures/registry.ts";
import { makeBusyboxRoot, removeRoot } from "./helpers.ts";

const root = await makeBusyboxRoot();

Deno.test("library: output() collects stdout, stderr and the exit code", async () => {
  const out = await new Container({
    root,
    command: "/bin/sh",
    args: ["-c", "echo hi $(id -u) $$; echo oops >&2; exit 3"],
    network: false,
  }).output();
  assert.equal(out.code, 3);
  assert.equal(out.success, false);
  assert.equal(out.signal, null);
  assert.equal(new TextDecoder().decode(out.stdout), "hi 0 1\n");
  assert.equal(new TextDecoder().decode(out.stderr), "oops\n");
});

Deno.test("library: spawn() gives piped stdin and stdout, pid and status", async () => {
  const child = await new Container({
    root,
    command: "/bin/sh",
    args: ["-c", "read line; echo got-$line"],
    network: false,
    stdin: "piped",
    stdout: "piped",
    stderr: "null",
  }).spawn();
  assert.ok(child.pid > 1);
  const w = child.stdin!.getWriter();
  await w.write(new TextEncoder().encode("ping\n"));
  await w.close();
  const out = await child.output();
  assert.equal(new TextDecoder().decode(out.stdout), "got-ping\n");
  assert.equal(out.code, 0);
});

Deno.test("library: kill() sends a signal to INIT", async () => {
  const child = await new Container({
    root,
    command: "/bin/sh",
    args: ["-c", "trap 'exit 9' USR1; echo ready; while :; do sleep 0.05; done"],
    network: false,
    stdout: "piped",
    stderr: "null",
    stdin: "null",
  }).spawn();
  const reader = child.stdout!.getReader();
  assert.equal(new TextDecoder().decode((await reader.read()).value), "ready\n");
  child.kill("SIGUSR1");
  const status = await child.status;
  reader.releaseLock();
  await child.stdout!.cancel();
  assert.equal(status.code, 9);
});

Deno.test("library: a failing step rejects with ContainerStartError naming the step", async () => {
  await assert.rejects(
    new Container({ root, command: "/bin/true", cwd: "/missing", network: false }).output(),
    (e: unknown) =>
      e instanceof ContainerStartError && e.step === "change directory to /missing" &&
      e.code === "ENOENT" && e.exitCode === 125,
  );
});

Deno.test("library: from a multi-threaded process, Container works through the helper", async () => {
  const script = new URL("./fixtures/library_script.ts", import.meta.url).pathname;
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--no-config", script, root],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stdout);
  assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
  assert.deepEqual(JSON.parse(text), { code: 4, stdout: "out-helper-box\n", stderr: "err\n" });
});

Deno.test("library: pull() fetches into the user's store and images() lists it", async () => {
  const registry = await startRegistry();
  const data = await Deno.makeTempDir({ prefix: "paranoid-data-" });
  const before = Deno.env.get("XDG_DATA_HOME");
  Deno.env.set("XDG_DATA_HOME", data);
  try {
    await writeBusyboxLayout(`${registry.base}/oci`, "v1");
    await registry.push(`${registry.base}/oci`, "v1", "lib/busybox:1");
    const digest = await pull(`${registry.host}/lib/busybox:1`);
    assert.match(digest, /^sha256:[0-9a-f]{64}$/);
    const list = await images();
    assert.deepEqual(list.map((i) => i.reference), [`${registry.host}/lib/busybox:1`]);
    await assert.rejects(pull(`${registry.host}/lib/missing:1`), PullError);
  } finally {
    if (before === undefined) Deno.env.delete("XDG_DATA_HOME");
    else Deno.env.set("XDG_DATA_HOME", before);
    await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", "--no-config", new URL("../main.ts", import.meta.url).pathname, "prune"],
      env: { XDG_DATA_HOME: data },
    }).output();
    await Deno.remove(data, { recursive: true }).catch(() => {});
    await registry.close();
  }
});

Deno.test("library: cleanup", async () => {
  await removeRoot(root);
});
