// config.json (OCI runtime-spec 1.x) to ContainerOptions and spec overrides, refusing what paranoid cannot do.
//
// Theory of operation: `translateConfig` is pure apart from reading the bundle
// path it is given. It walks the fields paranoid understands and turns them
// into ContainerOptions (what buildSpec takes) plus `overrides`: the parts of
// the final ContainerSpec that an OCI config states exactly and paranoid's
// defaults would otherwise fill in (the environment, supplementary groups). Every field it cannot honour is an OciConfigError whose message
// names the JSON path, e.g. `config.json: linux.resources.memory is not
// supported without a delegated cgroup`. Fields that only restate what the
// core always does (the standard /proc, /dev, /sys mounts, the default masked
// paths, a user namespace) are accepted as they are.

import { capabilityMask } from "../container/caps.ts";
import type { ContainerOptions } from "../container/options.ts";
import type { CapabilitySets, IdMapping, MountSpec } from "../container/spec.ts";
import {
  compileProfile,
  type SeccompProfile,
  SeccompProfileError,
} from "../container/seccomp/profile.ts";
import { hostArch } from "../container/seccomp/default.ts";
import { isAbsolute, resolve } from "node:path";

/** A field of config.json that is missing, malformed or not supported; the message names it. */
export class OciConfigError extends Error {
  /** @param message The sentence after "config.json: ", naming the field. */
  constructor(message: string) {
    super(`config.json: ${message}`);
    this.name = "OciConfigError";
  }
}

/** One OCI hook: a host command run with the state on stdin. */
export interface OciHook {
  /** Absolute host path of the program. */
  path: string;
  /** argv, including argv[0]. */
  args: string[];
  /** The exact environment, as K=V. */
  env: string[];
  /** Seconds before the hook is killed, or null. */
  timeout: number | null;
}

/** The hooks paranoid runs, by the name of the runtime-spec's lifecycle point. */
export interface OciHooks {
  prestart: OciHook[];
  createRuntime: OciHook[];
  poststart: OciHook[];
  poststop: OciHook[];
}

/** A resource limit to set before INIT starts (inherited across fork and exec). */
export interface OciRlimit {
  /** The RLIMIT_* name, e.g. "RLIMIT_NOFILE". */
  type: string;
  /** The resource number for setrlimit(2). */
  resource: number;
  soft: bigint;
  hard: bigint;
}

/** What a config.json becomes. */
export interface TranslatedConfig {
  /** Options for buildSpec. */
  options: ContainerOptions;
  /** Exact values for the built spec: the environment and the supplementary groups. */
  overrides: { env: string[]; groups: number[] };
  /** process.terminal. */
  terminal: boolean;
  /** The id maps config.json asks for, or null when it leaves them to the runtime. */
  idMappings: { uids: IdMappingEntry[]; gids: IdMappingEntry[] } | null;
  /** process.rlimits. */
  rlimits: OciRlimit[];
  hooks: OciHooks;
  /** annotations, kept in the state. */
  annotations: Record<string, string>;
  /** Absolute host path of the root filesystem. */
  rootfs: string;
  /** Fields accepted but not applied, as sentences naming them. */
  warnings: string[];
}

/** One entry of linux.uidMappings or linux.gidMappings. */
export interface IdMappingEntry {
  containerID: number;
  hostID: number;
  size: number;
}

const RLIMITS: Record<string, number> = {
  RLIMIT_CPU: 0,
  RLIMIT_FSIZE: 1,
  RLIMIT_DATA: 2,
  RLIMIT_STACK: 3,
  RLIMIT_CORE: 4,
  RLIMIT_RSS: 5,
  RLIMIT_NPROC: 6,
  RLIMIT_NOFILE: 7,
  RLIMIT_MEMLOCK: 8,
  RLIMIT_AS: 9,
  RLIMIT_LOCKS: 10,
  RLIMIT_SIGPENDING: 11,
  RLIMIT_MSGQUEUE: 12,
  RLIMIT_NICE: 13,
  RLIMIT_RTPRIO: 14,
  RLIMIT_RTTIME: 15,
};

/** Namespaces the core always creates; config.json must ask for these (sharing the host's is not possible). */
const REQUIRED_NAMESPACES = ["mount", "pid", "network", "ipc", "uts"] as const;
/** Namespaces that may be absent: the core creates them anyway, which only adds isolation. */
const OPTIONAL_NAMESPACES = ["user", "cgroup"] as const;

/** Mount destinations the core always provides, with the types config.json may give them. */
const STANDARD_MOUNTS: Record<string, readonly string[]> = {
  "/proc": ["proc"],
  "/dev": ["tmpfs"],
  "/dev/pts": ["devpts"],
  "/dev/shm": ["tmpfs", "bind", "shm"],
  "/dev/mqueue": ["mqueue", "bind"],
  "/sys": ["sysfs", "bind", "none"],
  "/sys/fs/cgroup": ["cgroup", "cgroup2", "bind", "none"],
};

/** tmpfs options that are mount flags the core already sets (or harmless to drop). */
const TMPFS_FLAG_OPTIONS = new Set([
  "nosuid",
  "nodev",
  "noexec",
  "exec",
  "suid",
  "dev",
  "rw",
  "strictatime",
  "relatime",
  "noatime",
  "private",
  "rprivate",
  "slave",
  "rslave",
  "shared",
  "rshared",
  "tmpcopyup",
]);

/** Bind options that carry no meaning beyond bind and ro for paranoid. */
const BIND_FLAG_OPTIONS = new Set([
  "bind",
  "rbind",
  "rw",
  "ro",
  "nosuid",
  "nodev",
  "noexec",
  "exec",
  "suid",
  "dev",
  "private",
  "rprivate",
  "slave",
  "rslave",
  "shared",
  "rshared",
  "relatime",
  "strictatime",
  "noatime",
  "z",
  "Z",
]);

type Json = Record<string, unknown>;

function isObject(v: unknown): v is Json {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function obj(v: unknown, field: string): Json {
  if (!isObject(v)) throw new OciConfigError(`${field} must be an object`);
  return v;
}

function arr(v: unknown, field: string): unknown[] {
  if (!Array.isArray(v)) throw new OciConfigError(`${field} must be an array`);
  return v;
}

function str(v: unknown, field: string): string {
  if (typeof v !== "string") throw new OciConfigError(`${field} must be a string`);
  return v;
}

function uint(v: unknown, field: string): number {
  if (typeof v !== "number" || !Number.isInteger(v) || v < 0) {
    throw new OciConfigError(`${field} must be a non-negative integer`);
  }
  return v;
}

function strings(v: unknown, field: string): string[] {
  return arr(v, field).map((s, i) => str(s, `${field}[${i}]`));
}

function unsupported(field: string, why = ""): OciConfigError {
  return new OciConfigError(`${field} is not supported${why ? ` ${why}` : ""}`);
}

/** True when `v` is absent, null, an empty array or an empty object. */
function empty(v: unknown): boolean {
  if (v === undefined || v === null) return true;
  if (Array.isArray(v)) return v.length === 0;
  if (isObject(v)) return Object.keys(v).length === 0;
  return false;
}

function checkKnown(o: Json, field: string, known: readonly string[]): void {
  for (const k of Object.keys(o)) {
    if (!known.includes(k) && !empty(o[k])) throw unsupported(`${field}${k}`);
  }
}

/** Parses the bytes of config.json; the error names the file. */
export function parseConfig(text: string): Json {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw new OciConfigError(`not valid JSON: ${(e as Error).message}`);
  }
  return obj(value, "the document");
}

/**
 * Translates a parsed config.json of the bundle at `bundle` (an absolute path).
 *
 * @throws {OciConfigError} Naming the first field paranoid cannot honour.
 * @example
 * ```ts
 * import { translateConfig } from "./config.ts";
 * const t = translateConfig({
 *   ociVersion: "1.2.0",
 *   root: { path: "/" },
 *   process: { args: ["sh"], cwd: "/" },
 *   linux: { namespaces: ["pid", "mount", "network", "ipc", "uts"].map((type) => ({ type })) },
 * }, "/");
 * t.options.command; // "sh"
 * ```
 */
export function translateConfig(config: Json, bundle: string): TranslatedConfig {
  const version = str(config.ociVersion, "ociVersion");
  if (!/^1\.\d+\.\d+/.test(version)) {
    throw new OciConfigError(`ociVersion "${version}" is not supported: paranoid implements 1.x`);
  }
  checkKnown(config, "", [
    "ociVersion",
    "root",
    "process",
    "hostname",
    "domainname",
    "mounts",
    "hooks",
    "annotations",
    "linux",
  ]);
  if (!empty(config.domainname)) throw unsupported("domainname");

  // root
  const root = obj(config.root, "root");
  const rootPath = str(root.path, "root.path");
  const rootfs = isAbsolute(rootPath) ? rootPath : resolve(bundle, rootPath);
  const readOnly = root.readonly === undefined ? false : root.readonly === true;

  // process
  if (config.process === undefined) {
    throw new OciConfigError("process is required to create a container");
  }
  const proc = obj(config.process, "process");
  checkKnown(proc, "process.", [
    "terminal",
    "consoleSize",
    "cwd",
    "env",
    "args",
    "rlimits",
    "capabilities",
    "noNewPrivileges",
    "user",
    "apparmorProfile",
    "oomScoreAdj",
    "selinuxLabel",
  ]);
  if (proc.commandLine !== undefined) throw unsupported("process.commandLine");
  const args = strings(proc.args ?? [], "process.args");
  if (args.length === 0) throw new OciConfigError("process.args must name a program to run");
  const cwd = str(proc.cwd ?? "/", "process.cwd");
  if (!cwd.startsWith("/")) {
    throw new OciConfigError(`process.cwd "${cwd}" must be an absolute path`);
  }
  const env = strings(proc.env ?? [], "process.env");
  env.forEach((e, i) => {
    if (!e.includes("=")) throw new OciConfigError(`process.env[${i}] "${e}" must be KEY=VALUE`);
  });
  const terminal = proc.terminal === true;
  const user = proc.user === undefined ? {} : obj(proc.user, "process.user");
  checkKnown(user, "process.user.", ["uid", "gid", "umask", "additionalGids"]);
  if (user.umask !== undefined && user.umask !== 0o22) throw unsupported("process.user.umask");
  const uid = user.uid === undefined ? 0 : uint(user.uid, "process.user.uid");
  const gid = user.gid === undefined ? 0 : uint(user.gid, "process.user.gid");
  const additionalGids = arr(user.additionalGids ?? [], "process.user.additionalGids").map((
    g,
    i,
  ) => uint(g, `process.user.additionalGids[${i}]`));
  if (!empty(proc.apparmorProfile)) throw unsupported("process.apparmorProfile");
  if (!empty(proc.selinuxLabel)) throw unsupported("process.selinuxLabel");
  if (proc.oomScoreAdj !== undefined && proc.oomScoreAdj !== 0) {
    throw unsupported("process.oomScoreAdj");
  }
  const { bounding: capabilities, sets: capabilitySets } = translateCapabilities(proc.capabilities);
  // OCI: no_new_privs only when process.noNewPrivileges says so.
  const noNewPrivileges = proc.noNewPrivileges === true;
  const rlimits = arr(proc.rlimits ?? [], "process.rlimits").map((r, i) => {
    const field = `process.rlimits[${i}]`;
    const o = obj(r, field);
    const type = str(o.type, `${field}.type`);
    const resource = RLIMITS[type];
    if (resource === undefined) throw new OciConfigError(`${field}.type "${type}" is unknown`);
    return {
      type,
      resource,
      soft: BigInt(uint(o.soft, `${field}.soft`)),
      hard: BigInt(uint(o.hard, `${field}.hard`)),
    };
  });

  // linux
  const linux = config.linux === undefined ? {} : obj(config.linux, "linux");
  checkKnown(linux, "linux.", [
    "namespaces",
    "uidMappings",
    "gidMappings",
    "resources",
    "seccomp",
    "maskedPaths",
    "readonlyPaths",
    "rootfsPropagation",
    "cgroupsPath",
    "sysctl",
    "devices",
    "mountLabel",
  ]);
  translateNamespaces(linux.namespaces);
  translateResources(linux.resources);
  const warnings: string[] = [];
  if (!empty(linux.sysctl)) {
    const keys = Object.keys(obj(linux.sysctl, "linux.sysctl"));
    warnings.push(`linux.sysctl is not applied: ${keys.map((k) => `"${k}"`).join(", ")}`);
  }
  if (!empty(linux.devices)) {
    throw unsupported(
      "linux.devices",
      "(the container gets only null, zero, full, random, urandom and tty)",
    );
  }
  if (!empty(linux.mountLabel)) throw unsupported("linux.mountLabel");
  const propagation = linux.rootfsPropagation;
  if (
    propagation !== undefined && !["private", "rprivate", "slave", "rslave", ""].includes(
      String(propagation),
    )
  ) {
    throw unsupported(`linux.rootfsPropagation "${propagation}"`);
  }
  // linux.cgroupsPath: accepted and ignored, as there is no delegated cgroup to place it in.
  const maskPaths = !empty(linux.maskedPaths) || !empty(linux.readonlyPaths);
  strings(linux.maskedPaths ?? [], "linux.maskedPaths");
  strings(linux.readonlyPaths ?? [], "linux.readonlyPaths");
  const idMappings = linux.uidMappings === undefined && linux.gidMappings === undefined ? null : {
    uids: translateIdMappings(linux.uidMappings ?? [], "linux.uidMappings"),
    gids: translateIdMappings(linux.gidMappings ?? [], "linux.gidMappings"),
  };
  const seccomp = translateSeccomp(linux.seccomp, capabilities);

  // hostname, mounts, hooks, annotations
  const hostname = config.hostname === undefined ? "" : str(config.hostname, "hostname");
  const mounts = translateMounts(config.mounts ?? [], bundle);
  const hooks = translateHooks(config.hooks);
  const annotations: Record<string, string> = {};
  for (const [k, v] of Object.entries(obj(config.annotations ?? {}, "annotations"))) {
    annotations[k] = str(v, `annotations.${k}`);
  }

  const options: ContainerOptions = {
    root: rootfs,
    command: args[0]!,
    args: args.slice(1),
    cwd,
    user: { uid, gid },
    mounts,
    readOnly,
    network: false,
    tty: terminal,
    capabilities,
    capabilitySets,
    noNewPrivileges,
    seccomp,
    maskPaths,
    resolvConf: null,
    // runc's conventions: the bundle's root is used as it is, nothing generated in /etc
    // (engines bind their own hostname, hosts and resolv.conf), no extra tmpfs.
    etcHostFiles: false,
    readOnlyTmpfs: false,
  };
  if (hostname !== "") options.hostname = hostname;
  return {
    options,
    overrides: { env, groups: [gid, ...additionalGids] },
    terminal,
    idMappings,
    rlimits,
    hooks,
    annotations,
    rootfs,
    warnings,
  };
}

function translateCapabilities(v: unknown): { bounding: bigint; sets: CapabilitySets } {
  const empty = { effective: 0n, permitted: 0n, inheritable: 0n, ambient: 0n };
  if (v === undefined) return { bounding: 0n, sets: empty };
  const caps = obj(v, "process.capabilities");
  const sets: Record<string, bigint> = {};
  for (const set of ["bounding", "effective", "permitted", "inheritable", "ambient"]) {
    const names = strings(caps[set] ?? [], `process.capabilities.${set}`);
    try {
      sets[set] = capabilityMask(names);
    } catch (e) {
      throw new OciConfigError(`process.capabilities.${set}: ${(e as Error).message}`);
    }
  }
  return {
    bounding: sets.bounding!,
    sets: {
      effective: sets.effective!,
      permitted: sets.permitted!,
      inheritable: sets.inheritable!,
      // The kernel keeps an ambient capability only when it is permitted and inheritable.
      ambient: sets.ambient! & sets.permitted! & sets.inheritable!,
    },
  };
}

function translateNamespaces(v: unknown): void {
  const seen = new Set<string>();
  arr(v ?? [], "linux.namespaces").forEach((n, i) => {
    const field = `linux.namespaces[${i}]`;
    const o = obj(n, field);
    const type = str(o.type, `${field}.type`);
    if (
      !(REQUIRED_NAMESPACES as readonly string[]).includes(type) &&
      !(OPTIONAL_NAMESPACES as readonly string[]).includes(type)
    ) {
      throw unsupported(`${field}.type "${type}"`);
    }
    if (!empty(o.path)) {
      throw unsupported(
        `${field}.path`,
        `(joining the existing ${type} namespace "${o.path}"; paranoid creates its own)`,
      );
    }
    seen.add(type);
  });
  for (const type of REQUIRED_NAMESPACES) {
    if (!seen.has(type)) {
      throw new OciConfigError(
        `linux.namespaces: sharing the host's ${type} namespace is not supported: add {"type": "${type}"}`,
      );
    }
  }
}

function translateResources(v: unknown): void {
  if (v === undefined) return;
  const r = obj(v, "linux.resources");
  for (const [k, value] of Object.entries(r)) {
    if (k === "devices") {
      // Device cgroup rules: the container's /dev holds only the standard nodes anyway.
      arr(value ?? [], "linux.resources.devices");
      continue;
    }
    if (empty(value)) continue;
    throw unsupported(`linux.resources.${k}`, "without a delegated cgroup");
  }
}

function translateIdMappings(v: unknown, field: string): IdMappingEntry[] {
  return arr(v, field).map((m, i) => {
    const o = obj(m, `${field}[${i}]`);
    return {
      containerID: uint(o.containerID, `${field}[${i}].containerID`),
      hostID: uint(o.hostID, `${field}[${i}].hostID`),
      size: uint(o.size, `${field}[${i}].size`),
    };
  });
}

/**
 * Checks the maps config.json asks for against the ones paranoid writes; returns an error
 * naming the field when they differ, else null.
 */
export function idMappingProblem(
  wanted: { uids: IdMappingEntry[]; gids: IdMappingEntry[] },
  actual: IdMapping,
): OciConfigError | null {
  const pairs = [
    ["linux.uidMappings", wanted.uids, actual.uids],
    ["linux.gidMappings", wanted.gids, actual.gids],
  ] as const;
  for (const [field, want, have] of pairs) {
    const a = want.map((m) => `${m.containerID} ${m.hostID} ${m.size}`).sort();
    const b = have.map((r) => `${r.inside} ${r.outside} ${r.count}`).sort();
    if (a.join(",") !== b.join(",")) {
      return new OciConfigError(
        `${field} [${a.join(", ")}] differs from what paranoid can map for this user [${
          b.join(", ")
        }] (as "containerID hostID size")`,
      );
    }
  }
  return null;
}

function translateSeccomp(v: unknown, capabilities: bigint): Uint8Array | null {
  if (v === undefined || v === null) return null;
  const s = obj(v, "linux.seccomp");
  if (!empty(s.listenerPath)) throw unsupported("linux.seccomp.listenerPath");
  const profile: SeccompProfile = {
    defaultAction: str(
      s.defaultAction,
      "linux.seccomp.defaultAction",
    ) as SeccompProfile["defaultAction"],
    syscalls: [],
  };
  if (s.defaultErrnoRet !== undefined) {
    profile.defaultErrnoRet = uint(s.defaultErrnoRet, "linux.seccomp.defaultErrnoRet");
  }
  if (s.architectures !== undefined) {
    profile.architectures = strings(s.architectures, "linux.seccomp.architectures");
  }
  if (s.flags !== undefined) profile.flags = strings(s.flags, "linux.seccomp.flags");
  profile.syscalls = arr(s.syscalls ?? [], "linux.seccomp.syscalls").map((e, i) => {
    const field = `linux.seccomp.syscalls[${i}]`;
    const o = obj(e, field);
    const entry: SeccompProfile["syscalls"][number] = {
      names: strings(o.names, `${field}.names`),
      action: str(o.action, `${field}.action`) as SeccompProfile["defaultAction"],
    };
    if (o.errnoRet !== undefined) entry.errnoRet = uint(o.errnoRet, `${field}.errnoRet`);
    if (o.args !== undefined) {
      entry.args = arr(o.args, `${field}.args`).map((a, j) => {
        const af = `${field}.args[${j}]`;
        const ao = obj(a, af);
        const arg: NonNullable<typeof entry.args>[number] = {
          index: uint(ao.index, `${af}.index`),
          value: uint(ao.value, `${af}.value`),
          op: str(ao.op, `${af}.op`) as NonNullable<typeof entry.args>[number]["op"],
        };
        if (ao.valueTwo !== undefined) arg.valueTwo = uint(ao.valueTwo, `${af}.valueTwo`);
        return arg;
      });
    }
    return entry;
  });
  try {
    return compileProfile(profile, { arch: hostArch(), capabilities });
  } catch (e) {
    if (e instanceof SeccompProfileError) {
      throw new OciConfigError(
        `linux.seccomp: ${e.message.replace(/^seccomp profile: /, "")}`,
      );
    }
    throw e;
  }
}

function translateMounts(v: unknown, bundle: string): MountSpec[] {
  const out: MountSpec[] = [];
  arr(v, "mounts").forEach((m, i) => {
    const field = `mounts[${i}]`;
    const o = obj(m, field);
    checkKnown(o, `${field}.`, ["destination", "type", "source", "options"]);
    const destination = str(o.destination, `${field}.destination`).replace(/(.)\/+$/, "$1");
    if (!destination.startsWith("/")) {
      throw new OciConfigError(`${field}.destination "${destination}" must be an absolute path`);
    }
    const options = strings(o.options ?? [], `${field}.options`);
    const isBind = o.type === "bind" || options.includes("bind") || options.includes("rbind");
    const type = isBind ? "bind" : o.type === undefined ? "" : str(o.type, `${field}.type`);
    const standard = STANDARD_MOUNTS[destination];
    if (standard !== undefined) {
      if (standard.includes(type)) return; // the core mounts it
      throw unsupported(`${field}.type "${type}" at "${destination}"`);
    }
    if (isBind) {
      const rawSource = str(o.source, `${field}.source`);
      const source = isAbsolute(rawSource) ? rawSource : resolve(bundle, rawSource);
      for (const opt of options) {
        if (!BIND_FLAG_OPTIONS.has(opt)) throw unsupported(`${field}.options "${opt}"`);
      }
      out.push({ type: "bind", source, target: destination, readonly: options.includes("ro") });
      return;
    }
    if (type === "tmpfs") {
      const data: string[] = [];
      for (const opt of options) {
        if (opt.includes("=")) data.push(opt);
        else if (!TMPFS_FLAG_OPTIONS.has(opt)) throw unsupported(`${field}.options "${opt}"`);
      }
      out.push({ type: "tmpfs", target: destination, options: data.join(",") });
      return;
    }
    throw unsupported(`${field}.type "${type}"`, `at "${destination}" (bind and tmpfs are)`);
  });
  return out;
}

function translateHooks(v: unknown): OciHooks {
  const hooks: OciHooks = { prestart: [], createRuntime: [], poststart: [], poststop: [] };
  if (v === undefined) return hooks;
  const h = obj(v, "hooks");
  for (const [k, list] of Object.entries(h)) {
    if (!(k in hooks)) {
      if (empty(list)) continue;
      throw unsupported(`hooks.${k}`, "(hooks inside the container's namespaces)");
    }
    hooks[k as keyof OciHooks] = arr(list, `hooks.${k}`).map((e, i) => {
      const field = `hooks.${k}[${i}]`;
      const o = obj(e, field);
      const path = str(o.path, `${field}.path`);
      if (!isAbsolute(path)) throw new OciConfigError(`${field}.path "${path}" must be absolute`);
      return {
        path,
        args: strings(o.args ?? [path], `${field}.args`),
        env: strings(o.env ?? [], `${field}.env`),
        timeout: o.timeout === undefined ? null : uint(o.timeout, `${field}.timeout`),
      };
    });
  }
  return hooks;
}
