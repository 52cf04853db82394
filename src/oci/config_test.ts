// Unit tests: config.json translation, field by field, without starting containers.

import assert from "node:assert/strict";
import { idMappingProblem, OciConfigError, parseConfig, translateConfig } from "./config.ts";

const NS = ["pid", "network", "ipc", "uts", "mount"].map((type) => ({ type }));

function minimal(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    ociVersion: "1.0.2-dev",
    root: { path: "rootfs" },
    process: { args: ["sh"], cwd: "/" },
    linux: { namespaces: NS },
    ...extra,
  };
}

function refused(config: Record<string, unknown>, message: RegExp): void {
  assert.throws(() => translateConfig(config, "/bundle"), (e: unknown) => {
    assert.ok(e instanceof OciConfigError);
    assert.match(e.message, message);
    return true;
  });
}

Deno.test("config: a minimal config becomes options with no capabilities and no seccomp", () => {
  const t = translateConfig(minimal(), "/bundle");
  assert.equal(t.rootfs, "/bundle/rootfs");
  assert.equal(t.options.command, "sh");
  assert.equal(t.options.capabilities, 0n);
  assert.equal(t.options.seccomp, null);
  assert.equal(t.options.maskPaths, false);
  assert.deepEqual(t.overrides, { env: [], groups: [0] });
  assert.equal(t.idMappings, null);
});

Deno.test("config: capabilities.bounding is the mask and every set is kept", () => {
  const t = translateConfig(
    minimal({
      process: {
        args: ["sh"],
        capabilities: {
          bounding: ["CAP_KILL", "CAP_CHOWN"],
          effective: ["CAP_KILL"],
          permitted: ["CAP_KILL", "CAP_CHOWN"],
          inheritable: ["CAP_KILL"],
          ambient: ["CAP_KILL", "CAP_CHOWN"],
        },
      },
    }),
    "/b",
  );
  assert.equal(t.options.capabilities, (1n << 5n) | 1n);
  // An ambient capability survives only where it is permitted and inheritable.
  assert.deepEqual(t.options.capabilitySets, {
    effective: 1n << 5n,
    permitted: (1n << 5n) | 1n,
    inheritable: 1n << 5n,
    ambient: 1n << 5n,
  });
});

Deno.test("config: standard mounts are accepted, binds and tmpfs translated, others refused", () => {
  const t = translateConfig(
    minimal({
      mounts: [
        { destination: "/proc", type: "proc", source: "proc" },
        { destination: "/sys/fs/cgroup", type: "cgroup", source: "cgroup" },
        { destination: "/data", type: "none", source: "data", options: ["rbind", "ro"] },
        { destination: "/t/", type: "tmpfs", source: "tmpfs", options: ["nosuid", "size=1m"] },
      ],
    }),
    "/b",
  );
  assert.deepEqual(t.options.mounts, [
    { type: "bind", source: "/b/data", target: "/data", readonly: true },
    { type: "tmpfs", target: "/t", options: "size=1m" },
  ]);
  refused(
    minimal({ mounts: [{ destination: "/proc", type: "tmpfs" }] }),
    /mounts\[0\]\.type "tmpfs" at "\/proc" is not supported/,
  );
});

Deno.test("config: namespaces must be created, not joined or shared", () => {
  refused(
    minimal({ linux: { namespaces: [...NS, { type: "time" }] } }),
    /linux\.namespaces\[5\]\.type "time" is not supported/,
  );
  refused(
    minimal({ linux: { namespaces: NS.filter((n) => n.type !== "network") } }),
    /sharing the host's network namespace is not supported: add \{"type": "network"\}/,
  );
});

Deno.test("config: resources other than devices need a delegated cgroup", () => {
  const t = translateConfig(
    minimal({
      linux: { namespaces: NS, resources: { devices: [{ allow: false, access: "rwm" }] } },
    }),
    "/b",
  );
  assert.equal(t.rootfs, "/b/rootfs");
  refused(
    minimal({ linux: { namespaces: NS, resources: { pids: { limit: 10 } } } }),
    /^config\.json: linux\.resources\.pids is not supported without a delegated cgroup$/,
  );
});

Deno.test("config: seccomp errors name the linux.seccomp field", () => {
  refused(
    minimal({ linux: { namespaces: NS, seccomp: { defaultAction: "SCMP_ACT_BOGUS" } } }),
    /^config\.json: linux\.seccomp: /,
  );
});

Deno.test("config: id mappings must match what paranoid maps", () => {
  const actual = {
    uids: [{ inside: 0, outside: 1000, count: 1 }],
    gids: [{ inside: 0, outside: 1000, count: 1 }],
    helpers: false,
  };
  const same = { uids: [{ containerID: 0, hostID: 1000, size: 1 }], gids: [] };
  assert.equal(
    idMappingProblem({ ...same, gids: same.uids }, actual),
    null,
  );
  assert.match(
    idMappingProblem(same, actual)?.message ?? "",
    /^config\.json: linux\.gidMappings \[\] differs/,
  );
});

Deno.test("config: malformed JSON and unknown fields are errors naming them", () => {
  assert.throws(() => parseConfig("{"), { message: /^config\.json: not valid JSON/ });
  refused(minimal({ vm: { hypervisor: {} } }), /^config\.json: vm is not supported$/);
  refused(
    minimal({ process: { args: ["sh"], cwd: "relative" } }),
    /process\.cwd "relative" must be an absolute path/,
  );
  refused(minimal({ ociVersion: "2.0.0" }), /ociVersion "2\.0\.0" is not supported/);
});
