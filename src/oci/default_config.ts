// The config.json that `paranoid oci spec` writes: runc's default, made rootless for paranoid.

import { detectIdMapping } from "../container/idmap.ts";
import { MASKED_PATHS, READONLY_PATHS } from "../container/mounts.ts";
import { OCI_VERSION } from "./state.ts";

const CAPS = ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"];

/**
 * A default config.json as runc's `spec` writes it: `sh` on a terminal in `rootfs`. With
 * `rootless`, a user namespace and the id maps paranoid writes for the current user.
 *
 * @example
 * ```ts
 * import { defaultConfig } from "./default_config.ts";
 * (defaultConfig(false).process as { args: string[] }).args; // ["sh"]
 * ```
 */
export function defaultConfig(rootless: boolean): Record<string, unknown> {
  const namespaces = ["pid", "network", "ipc", "uts", "mount", "cgroup"].map((type) => ({ type }));
  const linux: Record<string, unknown> = {
    namespaces,
    maskedPaths: [...MASKED_PATHS],
    readonlyPaths: [...READONLY_PATHS],
  };
  if (rootless) {
    namespaces.push({ type: "user" });
    const { mapping } = detectIdMapping(Deno.uid() ?? 0, Deno.gid() ?? 0);
    const entries = (ranges: typeof mapping.uids) =>
      ranges.map((r) => ({ containerID: r.inside, hostID: r.outside, size: r.count }));
    linux.uidMappings = entries(mapping.uids);
    linux.gidMappings = entries(mapping.gids);
  } else {
    linux.resources = { devices: [{ allow: false, access: "rwm" }] };
  }
  return {
    ociVersion: OCI_VERSION,
    process: {
      terminal: true,
      user: { uid: 0, gid: 0 },
      args: ["sh"],
      env: ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm"],
      cwd: "/",
      capabilities: {
        bounding: CAPS,
        effective: CAPS,
        permitted: CAPS,
      },
      rlimits: [{ type: "RLIMIT_NOFILE", hard: 1024, soft: 1024 }],
      noNewPrivileges: true,
    },
    root: { path: "rootfs", readonly: true },
    hostname: "paranoid",
    mounts: [
      { destination: "/proc", type: "proc", source: "proc" },
      {
        destination: "/dev",
        type: "tmpfs",
        source: "tmpfs",
        options: ["nosuid", "strictatime", "mode=755", "size=65536k"],
      },
      {
        destination: "/dev/pts",
        type: "devpts",
        source: "devpts",
        options: ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"],
      },
      {
        destination: "/dev/shm",
        type: "tmpfs",
        source: "shm",
        options: ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"],
      },
      {
        destination: "/dev/mqueue",
        type: "mqueue",
        source: "mqueue",
        options: ["nosuid", "noexec", "nodev"],
      },
      {
        destination: "/sys",
        type: "sysfs",
        source: "sysfs",
        options: ["nosuid", "noexec", "nodev", "ro"],
      },
    ],
    linux,
  };
}
