// The options of the original command line and of `run`, and their translation into ContainerOptions.

import { ALL_CAPABILITIES, CapabilityError, resolveCapabilities } from "../container/caps.ts";
import type { ContainerOptions, NetworkOptions } from "../container/options.ts";
import type { MountSpec } from "../container/spec.ts";
import { parsePublish } from "../net/host/port_mapping.ts";
import { parseMemory, type ResourceLimits } from "../container/cgroups.ts";
import {
  listOption,
  type OptionDef,
  type ParsedOptions,
  stringOption,
  UsageError,
} from "./args.ts";

/** The options of `paranoid [OPTION...] --root=ROOT -- INIT` and of `paranoid run`. */
export const RUN_OPTIONS: readonly OptionDef[] = [
  { long: "root", short: "r", value: "ROOT_PATH", help: "root filesystem of the container" },
  { long: "hostname", short: "h", value: "NAME", help: "hostname (default: a generated name)" },
  { long: "disable-networking", short: "N", help: "no network: only lo" },
  {
    long: "disable-host-loopback",
    help: "the gateway 10.0.15.1 does not reach the host's 127.0.0.1",
  },
  {
    long: "dns-upstream",
    value: "ADDR[:PORT]",
    repeat: true,
    help: "DNS resolver the gateway forwards to (default: the host's)",
  },
  { long: "net-trace", value: "FILE", help: "write every frame on eth0 to a pcap file" },
  { long: "net-stats", help: "print the stack's counters (drops by reason) when INIT ends" },
  { long: "mtu", value: "BYTES", help: "eth0's MTU (default 65520)" },
  {
    long: "publish",
    short: "p",
    value: "[HOSTIP:]HOSTPORT:CPORT[/udp]",
    repeat: true,
    help: "publish a container port on the host (ranges allowed)",
  },
  {
    long: "volume",
    short: "v",
    value: "SRC:DST[:ro]",
    repeat: true,
    help: "bind-mount a host path",
  },
  { long: "tmpfs", value: "DST[:OPTS]", repeat: true, help: "mount a fresh tmpfs" },
  { long: "read-only", help: "mount the root read-only (tmpfs on /tmp and /run)" },
  { long: "env", short: "e", value: "K=V", repeat: true, help: "set an environment variable" },
  { long: "env-file", value: "FILE", repeat: true, help: "read K=V lines from a file" },
  { long: "workdir", short: "w", value: "DIR", help: "working directory inside the container" },
  { long: "user", short: "u", value: "UID[:GID]", help: "user and group inside the container" },
  { long: "tty", short: "t", help: "give INIT a terminal (default when stdin is a terminal)" },
  {
    long: "interactive",
    short: "i",
    help: "keep stdin open (always on; for docker compatibility)",
  },
  { long: "init", help: "run a minimal pid-1 reaper that forwards signals to INIT" },
  { long: "cap-add", value: "CAP", repeat: true, help: "add a capability (name or ALL)" },
  { long: "cap-drop", value: "CAP", repeat: true, help: "drop a capability (name or ALL)" },
  {
    long: "security-opt",
    value: "OPT",
    repeat: true,
    help: "seccomp=unconfined or seccomp=PROFILE.json (Docker's format)",
  },
  { long: "privileged", help: "all capabilities, no seccomp filter, no masked paths" },
  {
    long: "memory",
    short: "m",
    value: "BYTES",
    help: "memory limit (e.g. 512m; needs a delegated cgroup v2)",
  },
  { long: "cpus", value: "N", help: "CPU limit, e.g. 1.5 (needs a delegated cgroup v2)" },
  { long: "pids-limit", value: "N", help: "process limit (needs a delegated cgroup v2)" },
  { long: "name", value: "NAME", help: "name of the container (run IMAGE)" },
  { long: "rm", help: "remove the container's record and writable layer when it exits" },
  { long: "help", short: "?", help: "show this help" },
  { long: "usage", help: "show a short usage line" },
  { long: "version", short: "V", help: "show the version" },
];

/** Parses "SRC:DST[:ro|rw]" into a bind mount; SRC is made absolute against the working directory. */
export function parseVolume(text: string, cwd: string): MountSpec {
  const parts = text.split(":");
  if (parts.length < 2 || parts.length > 3 || parts[0] === "" || parts[1] === "") {
    throw new UsageError(`invalid value for "--volume": "${text}" (expected SRC:DST[:ro])`);
  }
  const mode = parts[2] ?? "rw";
  if (mode !== "ro" && mode !== "rw") {
    throw new UsageError(`invalid mode "${mode}" in "--volume ${text}" (expected ro or rw)`);
  }
  const target = parts[1]!;
  if (!target.startsWith("/")) {
    throw new UsageError(`invalid value for "--volume": "${text}" (DST must be an absolute path)`);
  }
  const src = parts[0]!;
  return {
    type: "bind",
    source: src.startsWith("/") ? src : `${cwd}/${src}`,
    target,
    readonly: mode === "ro",
  };
}

/** Parses "DST[:OPTS]" into a tmpfs mount. */
export function parseTmpfs(text: string): MountSpec {
  const colon = text.indexOf(":");
  const target = colon === -1 ? text : text.slice(0, colon);
  if (!target.startsWith("/")) {
    throw new UsageError(`invalid value for "--tmpfs": "${text}" (expected an absolute path)`);
  }
  const options = colon === -1 ? "mode=1777" : text.slice(colon + 1);
  return { type: "tmpfs", target, options };
}

/** Parses "UID[:GID]" (numbers; GID defaults to UID). */
export function parseUser(text: string): { uid: number; gid: number } {
  const m = /^(\d+)(?::(\d+))?$/.exec(text);
  if (!m) throw new UsageError(`invalid value for "--user": "${text}" (expected UID[:GID])`);
  const uid = Number(m[1]);
  const gid = m[2] === undefined ? uid : Number(m[2]);
  if (uid > 0xfffffffe || gid > 0xfffffffe) {
    throw new UsageError(`invalid value for "--user": "${text}" (ids must be below 4294967295)`);
  }
  return { uid, gid };
}

/** Parses one "K=V" (or "K", taken from the host environment). */
export function parseEnvAssignment(
  text: string,
  where: string,
  hostEnv: (k: string) => string | undefined,
): [string, string] | null {
  const eq = text.indexOf("=");
  const key = eq === -1 ? text : text.slice(0, eq);
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(key)) {
    throw new UsageError(`invalid variable name "${key}" in ${where}`);
  }
  if (eq !== -1) return [key, text.slice(eq + 1)];
  const v = hostEnv(key);
  return v === undefined ? null : [key, v];
}

/** Reads an --env-file: K=V lines, # comments and blank lines ignored. */
export function parseEnvFile(
  text: string,
  path: string,
  hostEnv: (k: string) => string | undefined,
): [string, string][] {
  const out: [string, string][] = [];
  text.split("\n").forEach((raw, i) => {
    const line = raw.replace(/\r$/, "");
    if (line.trim() === "" || line.trimStart().startsWith("#")) return;
    const kv = parseEnvAssignment(line, `--env-file "${path}" line ${i + 1}`, hostEnv);
    if (kv) out.push(kv);
  });
  return out;
}

/** Everything the CLI adds beyond ContainerOptions. */
export interface RunRequest {
  readonly container: Omit<ContainerOptions, "root" | "command"> & { root?: string };
  readonly argv: string[];
  readonly tty: boolean;
  /**
   * A seccomp profile (Docker's JSON) to compile for the container, by path, or null: its
   * compiler loads only when one is given (see seccomp_option.ts).
   */
  readonly seccompProfile: string | null;
}

/** Translates parsed options and the positional words into a run request. */
export function toRunRequest(
  o: ParsedOptions,
  rest: string[],
  env: { cwd: string; getEnv: (k: string) => string | undefined; stdinIsTerminal: boolean },
): RunRequest {
  const envVars: Record<string, string> = {};
  for (const path of listOption(o, "env-file")) {
    let text: string;
    try {
      text = Deno.readTextFileSync(path);
    } catch (e) {
      throw new UsageError(`cannot read "--env-file ${path}": ${(e as Error).message}`);
    }
    for (const [k, v] of parseEnvFile(text, path, env.getEnv)) envVars[k] = v;
  }
  for (const e of listOption(o, "env")) {
    const kv = parseEnvAssignment(e, `"--env ${e}"`, env.getEnv);
    if (kv) envVars[kv[0]] = kv[1];
  }
  const mounts = [
    ...listOption(o, "volume").map((v) => parseVolume(v, env.cwd)),
    ...listOption(o, "tmpfs").map(parseTmpfs),
  ];
  let capabilities: bigint;
  try {
    capabilities = resolveCapabilities(listOption(o, "cap-add"), listOption(o, "cap-drop"));
  } catch (e) {
    if (e instanceof CapabilityError) throw new UsageError(e.message);
    throw e;
  }
  // undefined: the default filter; null: none; a string: the profile at that path.
  let seccomp: string | null | undefined = undefined;
  for (const opt of listOption(o, "security-opt")) {
    if (opt === "seccomp=unconfined" || opt === "seccomp:unconfined") {
      seccomp = null;
    } else if (opt.startsWith("seccomp=") || opt.startsWith("seccomp:")) {
      seccomp = opt.slice("seccomp=".length);
    } else if (opt === "no-new-privileges" || opt === "no-new-privileges:true") {
      // always on
    } else {
      throw new UsageError(
        `invalid value for "--security-opt": "${opt}" (expected seccomp=unconfined or seccomp=PROFILE.json)`,
      );
    }
  }
  const limits = resourceLimits(o);
  const privileged = o.has("privileged");
  if (privileged) {
    capabilities = ALL_CAPABILITIES;
    seccomp = null;
  }
  const workdir = stringOption(o, "workdir");
  if (workdir !== undefined && !workdir.startsWith("/")) {
    throw new UsageError(`invalid value for "--workdir": "${workdir}" (expected an absolute path)`);
  }
  const user = stringOption(o, "user");
  const tty = o.has("tty") || (!o.has("interactive") && env.stdinIsTerminal);
  const hostname = stringOption(o, "hostname");
  const root = stringOption(o, "root");
  const container: RunRequest["container"] = {
    env: envVars,
    mounts,
    readOnly: o.has("read-only"),
    network: o.has("disable-networking") ? false : networkOptions(o),
    tty,
    init: o.has("init"),
    capabilities,
    maskPaths: !privileged,
    ...(limits ? { limits } : {}),
    ...(seccomp === null ? { seccomp } : {}),
    ...(root !== undefined ? { root } : {}),
    ...(hostname !== undefined ? { hostname } : {}),
    ...(workdir !== undefined ? { cwd: workdir } : {}),
    ...(user !== undefined ? { user: parseUser(user) } : {}),
  };
  return { container, argv: rest, tty, seccompProfile: seccomp ?? null };
}

/** The network options from the command line. */
function networkOptions(o: ParsedOptions): NetworkOptions {
  const upstreams = listOption(o, "dns-upstream");
  for (const u of upstreams) {
    if (!/^\d{1,3}(\.\d{1,3}){3}(:\d{1,5})?$/.test(u)) {
      throw new UsageError(
        `invalid value for "--dns-upstream": "${u}" (expected ADDR[:PORT], IPv4)`,
      );
    }
  }
  const mtuText = stringOption(o, "mtu");
  let mtu: number | undefined;
  if (mtuText !== undefined) {
    mtu = Number(mtuText);
    if (!Number.isInteger(mtu) || mtu < 576 || mtu > 65520) {
      throw new UsageError(`invalid value for "--mtu": "${mtuText}" (expected 576 to 65520)`);
    }
  }
  const trace = stringOption(o, "net-trace");
  const publish = listOption(o, "publish").flatMap((p) => {
    try {
      return parsePublish(p);
    } catch (e) {
      throw new UsageError((e as Error).message);
    }
  });
  return {
    ...(publish.length > 0 ? { publish } : {}),
    disableHostLoopback: o.has("disable-host-loopback"),
    ...(upstreams.length > 0 ? { dnsUpstreams: upstreams } : {}),
    ...(trace !== undefined ? { trace } : {}),
    ...(mtu !== undefined ? { mtu } : {}),
  };
}

/** The resource limits from the command line, or undefined when none is asked for. */
function resourceLimits(o: ParsedOptions): ResourceLimits | undefined {
  const memory = stringOption(o, "memory");
  const cpus = stringOption(o, "cpus");
  const pids = stringOption(o, "pids-limit");
  if (memory === undefined && cpus === undefined && pids === undefined) return undefined;
  const limits: { memoryBytes?: number; cpus?: number; pids?: number } = {};
  if (memory !== undefined) {
    const bytes = parseMemory(memory);
    if (bytes === null) {
      throw new UsageError(
        `invalid value for "--memory": "${memory}" (expected e.g. 512m, at least 6m)`,
      );
    }
    limits.memoryBytes = bytes;
  }
  if (cpus !== undefined) {
    const n = Number(cpus);
    if (!(n > 0) || n > 1024) {
      throw new UsageError(`invalid value for "--cpus": "${cpus}" (expected e.g. 1.5)`);
    }
    limits.cpus = n;
  }
  if (pids !== undefined) {
    const n = Number(pids);
    if (!Number.isInteger(n) || n < 1) {
      throw new UsageError(
        `invalid value for "--pids-limit": "${pids}" (expected a positive integer)`,
      );
    }
    limits.pids = n;
  }
  return limits;
}
