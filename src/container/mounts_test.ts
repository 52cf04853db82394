// Tests for the mount plan and for resolving container paths inside the root.

import assert from "node:assert/strict";
import { MASKED_PATHS, planMounts, resolveInRoot } from "./mounts.ts";
import type { ContainerSpec } from "./spec.ts";

function spec(over: Partial<ContainerSpec> = {}): ContainerSpec {
  return {
    root: "/r",
    rootOverlay: null,
    argv: ["sh"],
    env: [],
    cwd: "/",
    hostname: "h",
    uid: 0,
    gid: 0,
    groups: [0],
    mounts: [],
    readOnly: false,
    readOnlyTmpfs: true,
    tty: false,
    windowSize: null,
    init: false,
    capabilities: 0n,
    capabilitySets: null,
    noNewPrivileges: true,
    seccomp: null,
    startGate: null,
    maskPaths: true,
    idMapping: {
      uids: [{ inside: 0, outside: 1000, count: 1 }],
      gids: [{ inside: 0, outside: 1000, count: 1 }],
      helpers: false,
    },
    network: { mode: "none", address: 0, prefixLength: 0, gateway: 0, mtu: 1500 },
    etc: { hostname: "h\n", hosts: "", resolvConf: null },
    ...over,
  };
}

Deno.test("mounts: /proc comes first, then /sys, /dev and the devices", () => {
  const steps = planMounts(spec());
  assert.deepEqual(steps.slice(0, 4).map((s) => s.step), [
    "mount /proc",
    "mount /sys",
    "mount /dev",
    "bind /dev/null",
  ]);
});

Deno.test("mounts: devpts names gid 5 only when it is mapped", () => {
  const data = (s: ContainerSpec) => planMounts(s).find((m) => m.step === "mount /dev/pts");
  const one = data(spec());
  assert.ok(one?.op === "mount" && !one.data!.includes("gid=5"));
  const many = data(
    spec({
      idMapping: {
        uids: [],
        gids: [{ inside: 0, outside: 1, count: 1 }, { inside: 1, outside: 100000, count: 65536 }],
        helpers: true,
      },
    }),
  );
  assert.ok(many?.op === "mount" && many.data!.includes("gid=5"));
});

Deno.test("mounts: a read-only volume is bound, then remounted read-only", () => {
  const steps = planMounts(
    spec({ mounts: [{ type: "bind", source: "/tmp", target: "/data", readonly: true }] }),
  );
  const i = steps.findIndex((s) => s.step === "bind /tmp to /data");
  assert.ok(i > 0);
  assert.deepEqual(steps[i + 1], {
    op: "remount-readonly",
    step: "make /data read-only",
    target: "/data",
    optional: false,
  });
});

Deno.test("mounts: --read-only adds tmpfs on /tmp and /run unless the user mounts them", () => {
  const targets = (s: ContainerSpec) =>
    planMounts(s).filter((m) => m.op === "mount" && m.fstype === "tmpfs").map((m) =>
      m.op === "mount" ? m.target : ""
    );
  assert.ok(targets(spec({ readOnly: true })).includes("/tmp"));
  assert.ok(targets(spec({ readOnly: true })).includes("/run"));
  assert.ok(!targets(spec()).includes("/tmp"));
});

Deno.test("mounts: masked paths are planned only when masking is on", () => {
  const has = (s: ContainerSpec) => planMounts(s).some((m) => m.step === `mask ${MASKED_PATHS[1]}`);
  assert.equal(has(spec()), true);
  assert.equal(has(spec({ maskPaths: false })), false);
});

Deno.test("mounts: resolveInRoot follows the root's own links without leaving it", () => {
  const links: Record<string, string> = {
    "/r/data": "/etc",
    "/r/up": "../../../../outside",
    "/r/etc/rel": "../var",
    "/r/loop": "/loop",
  };
  const readLink = (p: string) => {
    const l = links[p];
    if (l === undefined) throw new Error("not a link");
    return l;
  };
  assert.equal(resolveInRoot("/r", "/data/passwd", readLink), "/r/etc/passwd");
  assert.equal(resolveInRoot("/r", "/up/x", readLink), "/r/outside/x");
  assert.equal(resolveInRoot("/r", "/etc/rel/lib", readLink), "/r/var/lib");
  assert.equal(resolveInRoot("/r", "/../../x", readLink), "/r/x");
  assert.throws(() => resolveInRoot("/r", "/loop/x", readLink), /Too many symbolic links/);
});
