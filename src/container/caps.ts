// Linux capabilities: names and numbers, Docker's default set, --cap-add/--cap-drop, /proc parsing.

/**
 * Every capability the kernel headers name, in number order: index `i` is capability `i`
 * (0 = CAP_CHOWN ... 40 = CAP_CHECKPOINT_RESTORE).
 */
export const CAPABILITY_NAMES = [
  "CAP_CHOWN",
  "CAP_DAC_OVERRIDE",
  "CAP_DAC_READ_SEARCH",
  "CAP_FOWNER",
  "CAP_FSETID",
  "CAP_KILL",
  "CAP_SETGID",
  "CAP_SETUID",
  "CAP_SETPCAP",
  "CAP_LINUX_IMMUTABLE",
  "CAP_NET_BIND_SERVICE",
  "CAP_NET_BROADCAST",
  "CAP_NET_ADMIN",
  "CAP_NET_RAW",
  "CAP_IPC_LOCK",
  "CAP_IPC_OWNER",
  "CAP_SYS_MODULE",
  "CAP_SYS_RAWIO",
  "CAP_SYS_CHROOT",
  "CAP_SYS_PTRACE",
  "CAP_SYS_PACCT",
  "CAP_SYS_ADMIN",
  "CAP_SYS_BOOT",
  "CAP_SYS_NICE",
  "CAP_SYS_RESOURCE",
  "CAP_SYS_TIME",
  "CAP_SYS_TTY_CONFIG",
  "CAP_MKNOD",
  "CAP_LEASE",
  "CAP_AUDIT_WRITE",
  "CAP_AUDIT_CONTROL",
  "CAP_SETFCAP",
  "CAP_MAC_OVERRIDE",
  "CAP_MAC_ADMIN",
  "CAP_SYSLOG",
  "CAP_WAKE_ALARM",
  "CAP_BLOCK_SUSPEND",
  "CAP_AUDIT_READ",
  "CAP_PERFMON",
  "CAP_BPF",
  "CAP_CHECKPOINT_RESTORE",
] as const;

/** A capability name as the kernel headers spell it, e.g. `"CAP_SYS_ADMIN"`. */
export type CapabilityName = typeof CAPABILITY_NAMES[number];

/** The highest capability number this module knows (CAP_CHECKPOINT_RESTORE, Linux 5.9). */
export const CAP_LAST_KNOWN = CAPABILITY_NAMES.length - 1;

/** A mask with every capability this module knows set. */
export const ALL_CAPABILITIES: bigint = (1n << BigInt(CAPABILITY_NAMES.length)) - 1n;

/**
 * Docker's default capability set (14 capabilities), as names.
 */
export const DOCKER_DEFAULT_CAPABILITIES: readonly CapabilityName[] = [
  "CAP_CHOWN",
  "CAP_DAC_OVERRIDE",
  "CAP_FSETID",
  "CAP_FOWNER",
  "CAP_MKNOD",
  "CAP_NET_RAW",
  "CAP_SETGID",
  "CAP_SETUID",
  "CAP_SETFCAP",
  "CAP_SETPCAP",
  "CAP_NET_BIND_SERVICE",
  "CAP_SYS_CHROOT",
  "CAP_KILL",
  "CAP_AUDIT_WRITE",
];

const NUMBER_BY_NAME: ReadonlyMap<string, number> = new Map(
  CAPABILITY_NAMES.map((name, i) => [name, i]),
);

/** A capability name or number that is not known, or a malformed /proc capability line. */
export class CapabilityError extends RangeError {
  /** @param message The whole message, e.g. `unknown capability "CAP_FOO"`. */
  constructor(message: string) {
    super(message);
    this.name = "CapabilityError";
  }
}

/**
 * Normalises a capability name: upper case, `CAP_` prefixed. Does not check it is known.
 *
 * @example
 * ```ts
 * import { normalizeCapabilityName } from "./caps.ts";
 * normalizeCapabilityName("sys_admin"); // "CAP_SYS_ADMIN"
 * ```
 */
export function normalizeCapabilityName(name: string): string {
  const upper = name.trim().toUpperCase();
  return upper.startsWith("CAP_") ? upper : `CAP_${upper}`;
}

/**
 * The number of a capability, given its name with or without the `CAP_` prefix, in any case.
 *
 * @throws {CapabilityError} `unknown capability "..."` when the name is not known.
 * @example
 * ```ts
 * import { capabilityNumber } from "./caps.ts";
 * capabilityNumber("net_admin"); // 12
 * ```
 */
export function capabilityNumber(name: string): number {
  const n = NUMBER_BY_NAME.get(normalizeCapabilityName(name));
  if (n === undefined) throw new CapabilityError(`unknown capability "${name}"`);
  return n;
}

/**
 * The name of a capability number.
 *
 * @throws {CapabilityError} When the number is outside 0..CAP_LAST_KNOWN.
 */
export function capabilityName(n: number): CapabilityName {
  const name = CAPABILITY_NAMES[n];
  if (name === undefined) throw new CapabilityError(`unknown capability number "${n}"`);
  return name;
}

/**
 * A mask with the named capabilities set.
 *
 * @throws {CapabilityError} When a name is not known.
 */
export function capabilityMask(names: Iterable<string>): bigint {
  let mask = 0n;
  for (const name of names) mask |= 1n << BigInt(capabilityNumber(name));
  return mask;
}

/** Docker's default 14 capabilities as a mask. */
export const DOCKER_DEFAULT_CAPABILITY_MASK: bigint = capabilityMask(DOCKER_DEFAULT_CAPABILITIES);

/**
 * Whether `mask` holds the named capability.
 *
 * @example
 * ```ts
 * import { DOCKER_DEFAULT_CAPABILITY_MASK, hasCapability } from "./caps.ts";
 * hasCapability(DOCKER_DEFAULT_CAPABILITY_MASK, "CAP_SYS_ADMIN"); // false
 * ```
 */
export function hasCapability(mask: bigint, name: string): boolean {
  return (mask >> BigInt(capabilityNumber(name)) & 1n) === 1n;
}

function isAll(name: string): boolean {
  return name.trim().toUpperCase() === "ALL";
}

/**
 * The capability set of a container started with `--cap-add` and `--cap-drop`, with Docker's
 * rules: `add` containing ALL gives every capability except those in `drop`; otherwise `drop`
 * containing ALL gives exactly `add`; otherwise Docker's default 14, minus `drop`, plus `add`.
 * Names may omit the `CAP_` prefix and are case-insensitive.
 *
 * @throws {CapabilityError} `unknown capability "CAP_FOO"` for a name that is not known.
 * @example
 * ```ts
 * import { capabilityNames, resolveCapabilities } from "./caps.ts";
 * capabilityNames(resolveCapabilities(["net_admin"], ["ALL"])); // ["CAP_NET_ADMIN"]
 * ```
 */
export function resolveCapabilities(add: string[], drop: string[]): bigint {
  const named = (names: string[]) => capabilityMask(names.filter((n) => !isAll(n)));
  const addMask = named(add);
  const dropMask = named(drop);
  if (add.some(isAll)) return ALL_CAPABILITIES & ~dropMask;
  if (drop.some(isAll)) return addMask;
  return (DOCKER_DEFAULT_CAPABILITY_MASK & ~dropMask) | addMask;
}

/**
 * The names of the capabilities set in `mask`, in number order. Bits above CAP_LAST_KNOWN are
 * named `CAP_<n>` so that nothing is silently lost.
 *
 * @example
 * ```ts
 * import { capabilityNames } from "./caps.ts";
 * capabilityNames(0x3n); // ["CAP_CHOWN", "CAP_DAC_OVERRIDE"]
 * ```
 */
export function capabilityNames(mask: bigint): string[] {
  const names: string[] = [];
  for (let i = 0; mask >> BigInt(i) !== 0n; i++) {
    if ((mask >> BigInt(i) & 1n) === 1n) names.push(CAPABILITY_NAMES[i] ?? `CAP_${i}`);
  }
  return names;
}

/** The five capability sets of a process, as shown in /proc/<pid>/status. */
export interface ProcessCapabilities {
  /** CapInh */
  inheritable: bigint;
  /** CapPrm */
  permitted: bigint;
  /** CapEff */
  effective: bigint;
  /** CapBnd */
  bounding: bigint;
  /** CapAmb */
  ambient: bigint;
}

const STATUS_FIELDS = {
  inheritable: "CapInh",
  permitted: "CapPrm",
  effective: "CapEff",
  bounding: "CapBnd",
  ambient: "CapAmb",
} as const;

/**
 * Reads the capability sets out of the text of /proc/self/status (hexadecimal masks on the
 * CapInh, CapPrm, CapEff, CapBnd and CapAmb lines).
 *
 * @throws {CapabilityError} When a line is missing or not hexadecimal.
 * @example
 * ```ts
 * import { parseProcStatusCaps } from "./caps.ts";
 * const text = "CapInh:\t0\nCapPrm:\t3\nCapEff:\t3\nCapBnd:\t1ffffffffff\nCapAmb:\t0\n";
 * parseProcStatusCaps(text).effective; // 3n
 * ```
 */
export function parseProcStatusCaps(text: string): ProcessCapabilities {
  const values = new Map<string, string>();
  for (const line of text.split("\n")) {
    const colon = line.indexOf(":");
    if (colon > 0) values.set(line.slice(0, colon), line.slice(colon + 1).trim());
  }
  const read = (field: string): bigint => {
    const value = values.get(field);
    if (value === undefined) throw new CapabilityError(`/proc status: missing "${field}" line`);
    if (!/^[0-9a-fA-F]{1,16}$/.test(value)) {
      throw new CapabilityError(`/proc status: ${field}: not a hexadecimal mask "${value}"`);
    }
    return BigInt(`0x${value}`);
  };
  return {
    inheritable: read(STATUS_FIELDS.inheritable),
    permitted: read(STATUS_FIELDS.permitted),
    effective: read(STATUS_FIELDS.effective),
    bounding: read(STATUS_FIELDS.bounding),
    ambient: read(STATUS_FIELDS.ambient),
  };
}

/**
 * The highest capability number the running kernel supports, from the text of
 * /proc/sys/kernel/cap_last_cap (for example `"40\n"`).
 *
 * @throws {CapabilityError} When the text is not a small non-negative integer.
 * @example
 * ```ts
 * import { parseCapLastCap } from "./caps.ts";
 * parseCapLastCap("40\n"); // 40
 * ```
 */
export function parseCapLastCap(text: string): number {
  const trimmed = text.trim();
  if (!/^\d{1,2}$/.test(trimmed)) {
    throw new CapabilityError(`cap_last_cap: not a capability number "${trimmed}"`);
  }
  return Number(trimmed);
}

/**
 * A mask with every capability from 0 to `lastCap` set: the full set on a kernel whose
 * cap_last_cap is `lastCap`.
 *
 * @example
 * ```ts
 * import { maskUpTo } from "./caps.ts";
 * maskUpTo(40); // 0x1ffffffffffn
 * ```
 */
export function maskUpTo(lastCap: number): bigint {
  return (1n << BigInt(lastCap + 1)) - 1n;
}
