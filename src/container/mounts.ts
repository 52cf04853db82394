// The mount plan: every mount, directory and link a container's root needs, as data, then applied in order.
//
// Theory of operation: `planMounts` turns a ContainerSpec into a flat list of
// steps (pure, unit-tested), which init_program.ts writes down as system calls
// made chrooted into the root, so that the rootfs's own symlinks resolve
// inside it: a rootfs link such as `/data -> /etc` cannot redirect a volume
// onto a host path. `resolveInRoot` follows such links the same way in
// JavaScript, for the rare target whose link leads to a path not made yet.
// Each step carries the words that name it in an error ("mount /proc"), so a
// failure reaches the user as one sentence.

import { MS, readLinkOrNull } from "../../ffi/sys.ts";
import type { ContainerSpec } from "./spec.ts";

/** One step of the plan; paths are container paths (absolute, inside the root). */
export type MountStep =
  | {
    readonly op: "mount";
    readonly step: string;
    readonly source: string | null;
    /** Host path when `sourceIsHost`, else a container path. */
    readonly sourceIsHost: boolean;
    readonly target: string;
    readonly fstype: string | null;
    readonly flags: number;
    readonly data: string | null;
    /** Create the target as a file rather than a directory when missing. */
    readonly targetKind: "dir" | "file";
    /** A failure is tolerated (the feature is skipped). */
    readonly optional: boolean;
  }
  | {
    readonly op: "remount-readonly";
    readonly step: string;
    readonly target: string;
    readonly optional: boolean;
  }
  | {
    readonly op: "symlink";
    readonly step: string;
    readonly target: string;
    readonly path: string;
  }
  | {
    readonly op: "write";
    readonly step: string;
    readonly path: string;
    readonly content: string;
  };

/** The OCI default masked paths: hidden behind /dev/null or an empty read-only tmpfs. */
export const MASKED_PATHS = [
  "/proc/acpi",
  "/proc/kcore",
  "/proc/keys",
  "/proc/latency_stats",
  "/proc/timer_list",
  "/proc/timer_stats",
  "/proc/sched_debug",
  "/proc/scsi",
  "/sys/firmware",
] as const;

/** The OCI default read-only paths. */
export const READONLY_PATHS = [
  "/proc/asound",
  "/proc/bus",
  "/proc/fs",
  "/proc/irq",
  "/proc/sys",
  "/proc/sysrq-trigger",
] as const;

/** The device nodes every container gets, bind-mounted from the host's /dev. */
export const DEVICES = ["null", "zero", "full", "random", "urandom", "tty"] as const;

/** Where the generated /etc files are staged on the /dev tmpfs before being bound into place. */
export const ETC_STAGING = "/dev/.paranoid-etc";

const NOSUID_NODEV_NOEXEC = MS.NOSUID | MS.NODEV | MS.NOEXEC;

function mountStep(
  step: string,
  source: string | null,
  target: string,
  fstype: string | null,
  flags: number,
  data: string | null = null,
  extra: { sourceIsHost?: boolean; targetKind?: "dir" | "file"; optional?: boolean } = {},
): MountStep {
  return {
    op: "mount",
    step,
    source,
    sourceIsHost: extra.sourceIsHost ?? false,
    target,
    fstype,
    flags,
    data,
    targetKind: extra.targetKind ?? "dir",
    optional: extra.optional ?? false,
  };
}

/** Whether gid 5 (tty) is mapped, so that devpts may be told to use it. */
function ttyGroupMapped(spec: ContainerSpec): boolean {
  return spec.idMapping.gids.some((r) => r.inside <= 5 && 5 < r.inside + r.count);
}

/** Computes the mount plan for a container; the root itself is handled by the caller. */
export function planMounts(spec: ContainerSpec): MountStep[] {
  const steps: MountStep[] = [];
  steps.push(mountStep("mount /proc", "proc", "/proc", "proc", NOSUID_NODEV_NOEXEC));
  steps.push(
    mountStep("mount /sys", "sysfs", "/sys", "sysfs", NOSUID_NODEV_NOEXEC | MS.RDONLY, null, {
      optional: true,
    }),
  );
  steps.push(
    mountStep(
      "mount /dev",
      "tmpfs",
      "/dev",
      "tmpfs",
      MS.NOSUID | MS.STRICTATIME,
      "mode=755,size=65536k",
    ),
  );
  for (const d of DEVICES) {
    steps.push(
      mountStep(`bind /dev/${d}`, `/dev/${d}`, `/dev/${d}`, null, MS.BIND, null, {
        sourceIsHost: true,
        targetKind: "file",
      }),
    );
  }
  const ptsData = "newinstance,ptmxmode=0666,mode=0620" + (ttyGroupMapped(spec) ? ",gid=5" : "");
  steps.push(
    mountStep("mount /dev/pts", "devpts", "/dev/pts", "devpts", MS.NOSUID | MS.NOEXEC, ptsData),
  );
  steps.push(
    mountStep(
      "mount /dev/shm",
      "shm",
      "/dev/shm",
      "tmpfs",
      NOSUID_NODEV_NOEXEC,
      "mode=1777,size=65536k",
    ),
  );
  steps.push(
    mountStep("mount /dev/mqueue", "mqueue", "/dev/mqueue", "mqueue", NOSUID_NODEV_NOEXEC, null, {
      optional: true,
    }),
  );
  for (
    const [path, target] of [
      ["/dev/ptmx", "pts/ptmx"],
      ["/dev/fd", "/proc/self/fd"],
      ["/dev/stdin", "/proc/self/fd/0"],
      ["/dev/stdout", "/proc/self/fd/1"],
      ["/dev/stderr", "/proc/self/fd/2"],
      ["/dev/core", "/proc/kcore"],
    ] as const
  ) {
    steps.push({ op: "symlink", step: `link ${path}`, target, path });
  }
  if (spec.readOnly && spec.readOnlyTmpfs) {
    for (const dir of ["/tmp", "/run"]) {
      if (spec.mounts.some((m) => m.target === dir)) continue;
      steps.push(
        mountStep(`mount ${dir}`, "tmpfs", dir, "tmpfs", MS.NOSUID | MS.NODEV, "mode=1777"),
      );
    }
  }
  for (const m of spec.mounts) {
    if (m.type === "bind") {
      steps.push(
        mountStep(
          `bind ${m.source} to ${m.target}`,
          m.source,
          m.target,
          null,
          MS.BIND | MS.REC,
          null,
          {
            sourceIsHost: true,
            targetKind: isDirectory(m.source) ? "dir" : "file",
          },
        ),
      );
      if (m.readonly) {
        steps.push({
          op: "remount-readonly",
          step: `make ${m.target} read-only`,
          target: m.target,
          optional: false,
        });
      }
    } else {
      steps.push(
        mountStep(
          `mount tmpfs on ${m.target}`,
          "tmpfs",
          m.target,
          "tmpfs",
          MS.NOSUID | MS.NODEV,
          m.options,
        ),
      );
    }
  }
  const etc: [string, string | null][] = [
    ["hostname", spec.etc.hostname],
    ["hosts", spec.etc.hosts],
    ["resolv.conf", spec.etc.resolvConf],
  ];
  for (const [name, content] of etc) {
    if (content === null) continue;
    const staged = `${ETC_STAGING}/${name}`;
    steps.push({ op: "write", step: `write /etc/${name}`, path: staged, content });
    steps.push(
      mountStep(`bind /etc/${name}`, staged, `/etc/${name}`, null, MS.BIND, null, {
        targetKind: "file",
        optional: true,
      }),
    );
  }
  if (spec.maskPaths) {
    for (const path of MASKED_PATHS) {
      const dir = path === "/proc/acpi" || path === "/proc/scsi" || path === "/sys/firmware";
      steps.push(
        dir
          ? mountStep(`mask ${path}`, "tmpfs", path, "tmpfs", MS.RDONLY, "size=0", {
            optional: true,
          })
          : mountStep(`mask ${path}`, "/dev/null", path, null, MS.BIND, null, {
            sourceIsHost: true,
            targetKind: "file",
            optional: true,
          }),
      );
    }
    for (const path of READONLY_PATHS) {
      steps.push(
        mountStep(`bind ${path}`, path, path, null, MS.BIND | MS.REC, null, { optional: true }),
      );
      steps.push({
        op: "remount-readonly",
        step: `make ${path} read-only`,
        target: path,
        optional: true,
      });
    }
  }
  return steps;
}

function isDirectory(path: string): boolean {
  try {
    return Deno.statSync(path).isDirectory;
  } catch {
    return false;
  }
}

/**
 * Resolves a container path to a host path under `root`, following symbolic
 * links found inside the root as the container would see them (absolute links
 * restart at the root, `..` stops at the root). The result never leaves `root`.
 * Missing components are kept as they are.
 */
export function resolveInRoot(
  root: string,
  path: string,
  readLink: (path: string) => string | null = readLinkOrNull,
): string {
  const parts = path.split("/").filter((p) => p !== "" && p !== ".");
  const resolved: string[] = [];
  let hops = 0;
  while (parts.length > 0) {
    const part = parts.shift()!;
    if (part === "..") {
      resolved.pop();
      continue;
    }
    const candidate = [...resolved, part];
    let link: string | null = null;
    try {
      link = readLink(root + "/" + candidate.join("/"));
    } catch {
      link = null; // not a link, or missing
    }
    if (link === null) {
      resolved.push(part);
      continue;
    }
    if (++hops > 40) throw new Error(`Too many symbolic links under ${root}: "${path}"`);
    const linkParts = link.split("/").filter((p) => p !== "" && p !== ".");
    if (link.startsWith("/")) resolved.length = 0;
    parts.unshift(...linkParts);
  }
  return root.replace(/\/+$/, "") + "/" + resolved.join("/");
}
