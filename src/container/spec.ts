// What a container is: the complete, validated description that the host side hands to the children.

/** A bind mount of a host path into the container. */
export interface BindMount {
  readonly type: "bind";
  /** Absolute host path. */
  readonly source: string;
  /** Absolute path inside the container. */
  readonly target: string;
  /** Mount read-only. */
  readonly readonly: boolean;
}

/** A fresh tmpfs inside the container. */
export interface TmpfsMount {
  readonly type: "tmpfs";
  /** Absolute path inside the container. */
  readonly target: string;
  /** mount(2) data such as "size=64m,mode=1777". */
  readonly options: string;
}

/** A mount the user asked for. */
export type MountSpec = BindMount | TmpfsMount;

/** One line of a uid_map or gid_map: `inside outside count`. */
export interface IdRange {
  readonly inside: number;
  readonly outside: number;
  readonly count: number;
}

/** How ids are mapped into the user namespace. */
export interface IdMapping {
  readonly uids: readonly IdRange[];
  readonly gids: readonly IdRange[];
  /** True when newuidmap/newgidmap must write the maps (more than the user's own id). */
  readonly helpers: boolean;
}

/** The network the container gets. */
export interface NetworkSetup {
  /** "none": only lo. "tap": eth0 is a TAP whose fd is handed to the host side. */
  readonly mode: "none" | "tap";
  /** Container address, prefix length and gateway (uint32) when mode is "tap". */
  readonly address: number;
  readonly prefixLength: number;
  readonly gateway: number;
  /** The interface MTU. */
  readonly mtu: number;
}

/** Files mounted over the rootfs's /etc so that name resolution matches the container. */
export interface EtcFiles {
  /** Contents for /etc/hostname, or null to leave the root's file (or a mount) alone. */
  readonly hostname: string | null;
  /** Contents for /etc/hosts, or null to leave it alone. */
  readonly hosts: string | null;
  /** Contents for /etc/resolv.conf, or null to leave it alone. */
  readonly resolvConf: string | null;
}

/** Capability sets for INIT beyond the bounding set (OCI process.capabilities). */
export interface CapabilitySets {
  readonly effective: bigint;
  readonly permitted: bigint;
  readonly inheritable: bigint;
  readonly ambient: bigint;
}

/** An overlay root: read-only image layers under a per-container writable upper directory. */
export interface RootOverlay {
  /** Layer directories, top layer first, as overlayfs's lowerdir wants them. */
  readonly lower: readonly string[];
  /** The container's writable layer. */
  readonly upper: string;
  /** overlayfs's work directory, on the same filesystem as upper. */
  readonly work: string;
}

/** Everything the children need to start a container; plain data, so it crosses fork as is. */
export interface ContainerSpec {
  /** Absolute host path of the root filesystem (the mount point, when rootOverlay is set). */
  readonly root: string;
  /** Mount an overlay at `root` first (inside the user namespace, with userxattr), or null. */
  readonly rootOverlay: RootOverlay | null;
  /** INIT and its arguments. */
  readonly argv: readonly string[];
  /** Environment as K=V strings. */
  readonly env: readonly string[];
  /** Working directory inside the container. */
  readonly cwd: string;
  /** Hostname in the UTS namespace. */
  readonly hostname: string;
  /** Uid and gid INIT runs as, inside the container. */
  readonly uid: number;
  readonly gid: number;
  /** Supplementary groups of INIT. */
  readonly groups: readonly number[];
  /** User mounts, applied in order after the standard ones. */
  readonly mounts: readonly MountSpec[];
  /** Mount the root read-only. */
  readonly readOnly: boolean;
  /** With readOnly, give /tmp and /run writable tmpfs mounts (the CLI's --read-only does). */
  readonly readOnlyTmpfs: boolean;
  /** Give INIT a pseudo-terminal from the container's own devpts. */
  readonly tty: boolean;
  /** Initial terminal size when tty is set. */
  readonly windowSize: { readonly rows: number; readonly columns: number } | null;
  /** Run a minimal reaper as pid 1, with INIT as its child. */
  readonly init: boolean;
  /** Capability mask for the bounding, effective and permitted sets. */
  readonly capabilities: bigint;
  /** Exact effective, permitted, inheritable and ambient sets; null: derived from `capabilities`. */
  readonly capabilitySets: CapabilitySets | null;
  /** Set no_new_privs before execve (Docker and paranoid default: true). */
  readonly noNewPrivileges: boolean;
  /** The seccomp program (struct sock_filter array) to install last, or null. */
  readonly seccomp: Uint8Array | null;
  /** Mask /proc and /sys paths and make some read-only, as OCI runtimes do by default. */
  readonly maskPaths: boolean;
  readonly idMapping: IdMapping;
  /**
   * A host path to a FIFO, or null. When set, INIT's process stops right
   * before execve until another process opens the FIFO for reading (the OCI
   * runtime's create/start split): it opens the FIFO for writing, which
   * blocks, writes one byte and closes it.
   */
  readonly startGate: string | null;
  readonly network: NetworkSetup;
  readonly etc: EtcFiles;
}
