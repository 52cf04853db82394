// The user-facing container options and their translation into a complete ContainerSpec.

import { isDirectory } from "../../ffi/sys.ts";
import { DOCKER_DEFAULT_CAPABILITY_MASK } from "./caps.ts";
import { detectIdMapping } from "./idmap.ts";
import { DEFAULT_PATH } from "./process/identity.ts";
import type { ResourceLimits } from "./cgroups.ts";
import { defaultSeccompProgram } from "./seccomp/cache.ts";
import type { PortMapping } from "../net/host/port_mapping.ts";
import type {
  CapabilitySets,
  ContainerSpec,
  MountSpec,
  NetworkSetup,
  RootOverlay,
} from "./spec.ts";

/** The default network: 10.0.15.2/30 on eth0 via 10.0.15.1, as the original had it. */
export const DEFAULT_NETWORK: NetworkSetup = {
  mode: "tap",
  address: 0x0a000f02,
  prefixLength: 30,
  gateway: 0x0a000f01,
  mtu: 65520,
};

/** Options of the container's network. */
export interface NetworkOptions {
  /** The gateway does not lead to the host's loopback. */
  disableHostLoopback?: boolean;
  /** DNS resolvers the gateway forwards to, as ADDR[:PORT]; default: the host's /etc/resolv.conf. */
  dnsUpstreams?: readonly string[];
  /** Write every frame on the TAP to this pcap file. */
  trace?: string;
  /** eth0's MTU; default 65520. */
  mtu?: number;
  /** Published ports: host sockets whose clients reach container ports. */
  publish?: readonly PortMapping[];
}

/** Options for a container, in the vocabulary of `docker run` and Deno.Command. */
export interface ContainerOptions {
  /** Host path of the root filesystem (the overlay's mount point when rootOverlay is set). */
  root: string;
  /** An overlay of image layers to mount at `root`. */
  rootOverlay?: RootOverlay | null;
  /** INIT: the program to run, resolved along the container's PATH when it has no slash. */
  command: string;
  /** INIT's arguments. */
  args?: readonly string[];
  /** Hostname; default: a short generated name. */
  hostname?: string;
  /** Environment variables added to the defaults (PATH, HOME, HOSTNAME, TERM). */
  env?: Readonly<Record<string, string>>;
  /** Working directory inside the container; default "/". */
  cwd?: string;
  /** Uid and gid inside the container; default 0:0. */
  user?: { uid: number; gid: number };
  /** Bind mounts and tmpfs mounts. */
  mounts?: readonly MountSpec[];
  /** Mount the root read-only, with writable tmpfs on /tmp and /run. */
  readOnly?: boolean;
  /** Network: false for only lo; true (the default) or options for eth0 through the userspace stack. */
  network?: boolean | NetworkOptions;
  /** Give INIT a pseudo-terminal. */
  tty?: boolean;
  /** Run a minimal reaper as pid 1 that forwards signals to INIT. */
  init?: boolean;
  /** The capability mask; default Docker's 14. */
  capabilities?: bigint;
  /** Exact capability sets (OCI); default: derived from `capabilities`. */
  capabilitySets?: CapabilitySets | null;
  /** Set no_new_privs; default true. */
  noNewPrivileges?: boolean;
  /** With readOnly, mount writable tmpfs on /tmp and /run; default true. */
  readOnlyTmpfs?: boolean;
  /** Generate /etc/hostname and /etc/hosts; default true (false leaves the root's or a mount's). */
  etcHostFiles?: boolean;
  /** A compiled seccomp program; null for none; default: paranoid's default profile for the capabilities. */
  seccomp?: Uint8Array | null;
  /** Mask and protect /proc and /sys paths as OCI runtimes do; default true. */
  maskPaths?: boolean;
  /** Resource limits through a delegated cgroup v2 subtree; refused where there is none. */
  limits?: ResourceLimits;
  /** A FIFO that holds INIT before execve until it is read (OCI create/start); see ContainerSpec. */
  startGate?: string | null;
  /** Lines for /etc/resolv.conf, or null to leave the rootfs's file alone. */
  resolvConf?: string | null;
}

const WORDS = [
  "amber",
  "brisk",
  "cedar",
  "dusky",
  "ember",
  "fable",
  "gusty",
  "hazel",
  "ivory",
  "jolly",
  "keen",
  "lunar",
  "misty",
  "noble",
  "olive",
  "pouty",
];

/**
 * A short generated hostname such as "misty-4f2a". It only tells containers apart, so
 * Math.random serves (the first use of crypto's generator costs a start about 0.2 ms).
 */
export function generateHostname(): string {
  const word = WORDS[Math.floor(Math.random() * WORDS.length)]!;
  return `${word}-${Math.floor(Math.random() * 0x10000).toString(16).padStart(4, "0")}`;
}

/** Checks a hostname as sethostname and RFC 1123 accept it; returns an error message or null. */
export function hostnameProblem(name: string): string | null {
  if (name.length === 0 || name.length > 64) return `hostname "${name}" must be 1 to 64 characters`;
  if (
    !/^[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*$/.test(
      name,
    )
  ) {
    return `hostname "${name}" may hold only letters, digits, dots and inner hyphens`;
  }
  return null;
}

/** The error for a container that cannot be described: bad root, bad option value. */
export class ContainerConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ContainerConfigError";
  }
}

/** Builds the complete spec, checking what can be checked on the host first. */
export async function buildSpec(
  o: ContainerOptions,
): Promise<{ spec: ContainerSpec; warning: string | null }> {
  let root: string;
  try {
    root = Deno.realPathSync(o.root);
  } catch {
    throw new ContainerConfigError(`root ${JSON.stringify(o.root)} does not exist`);
  }
  if (!isDirectory(root)) {
    throw new ContainerConfigError(`root ${JSON.stringify(o.root)} is not a directory`);
  }
  // A generated name is valid by construction (and compiling the check's pattern costs more
  // than the rest of the name's work together).
  const hostname = o.hostname ?? generateHostname();
  const problem = o.hostname === undefined ? null : hostnameProblem(hostname);
  if (problem) throw new ContainerConfigError(problem);
  const uid = Deno.uid() ?? 0;
  const gid = Deno.gid() ?? 0;
  const { mapping, warning } = detectIdMapping(uid, gid);
  const user = o.user ?? { uid: 0, gid: 0 };
  const mappedUid = mapping.uids.some((r) => r.inside <= user.uid && user.uid < r.inside + r.count);
  const mappedGid = mapping.gids.some((r) => r.inside <= user.gid && user.gid < r.inside + r.count);
  if (!mappedUid || !mappedGid) {
    throw new ContainerConfigError(
      `user ${user.uid}:${user.gid} is not mapped into the container${
        mapping.helpers ? "" : ": only 0 is, as no subordinate range is available"
      }`,
    );
  }
  const env = new Map<string, string>([
    ["PATH", DEFAULT_PATH],
    ["HOSTNAME", hostname],
    ["HOME", user.uid === 0 ? "/root" : "/"],
  ]);
  if (o.tty) env.set("TERM", Deno.env.get("TERM") ?? "xterm");
  for (const [k, v] of Object.entries(o.env ?? {})) env.set(k, v);
  for (const m of o.mounts ?? []) {
    if (!m.target.startsWith("/")) {
      throw new ContainerConfigError(
        `mount target ${JSON.stringify(m.target)} must be an absolute path`,
      );
    }
    if (m.type === "bind") {
      try {
        Deno.statSync(m.source);
      } catch {
        throw new ContainerConfigError(`volume source ${JSON.stringify(m.source)} does not exist`);
      }
    }
  }
  const wanted = o.network ?? true;
  const mtu = typeof wanted === "object" && wanted.mtu !== undefined
    ? wanted.mtu
    : DEFAULT_NETWORK.mtu;
  if (!Number.isInteger(mtu) || mtu < 576 || mtu > 65520) {
    throw new ContainerConfigError(`MTU ${mtu} is out of range: 576 to 65520`);
  }
  const network: NetworkSetup = wanted === false
    ? { ...DEFAULT_NETWORK, mode: "none" }
    : { ...DEFAULT_NETWORK, mtu };
  const hosts = [
    "127.0.0.1\tlocalhost",
    "::1\tlocalhost ip6-localhost ip6-loopback",
    network.mode === "tap" ? `10.0.15.2\t${hostname}` : `127.0.1.1\t${hostname}`,
    ...(network.mode === "tap" && network.mtu >= 1280 ? [`fd00:15::2\t${hostname}`] : []),
    "",
  ].join("\n");
  const capabilities = o.capabilities ?? DOCKER_DEFAULT_CAPABILITY_MASK;
  const spec: ContainerSpec = {
    root,
    rootOverlay: o.rootOverlay ?? null,
    argv: [o.command, ...(o.args ?? [])],
    env: [...env].map(([k, v]) => `${k}=${v}`),
    cwd: o.cwd ?? "/",
    hostname,
    uid: user.uid,
    gid: user.gid,
    groups: [user.gid],
    mounts: o.mounts ?? [],
    readOnly: o.readOnly ?? false,
    readOnlyTmpfs: o.readOnlyTmpfs ?? true,
    tty: o.tty ?? false,
    windowSize: o.tty ? terminalSize() : null,
    init: o.init ?? false,
    capabilities,
    capabilitySets: o.capabilitySets ?? null,
    noNewPrivileges: o.noNewPrivileges ?? true,
    seccomp: o.seccomp === undefined ? await defaultSeccompProgram(capabilities) : o.seccomp,
    maskPaths: o.maskPaths ?? true,
    idMapping: mapping,
    startGate: o.startGate ?? null,
    network,
    etc: {
      hostname: o.etcHostFiles === false ? null : hostname + "\n",
      hosts: o.etcHostFiles === false ? null : hosts,
      resolvConf: o.resolvConf ??
        (network.mode === "tap" ? "nameserver 10.0.15.1\nnameserver fd00:15::1\n" : null),
    },
  };
  return { spec, warning };
}

function terminalSize(): { rows: number; columns: number } | null {
  try {
    return Deno.consoleSize();
  } catch {
    return null;
  }
}
