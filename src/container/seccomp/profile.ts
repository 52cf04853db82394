// Docker's seccomp JSON profile: parsing with field-naming errors, and compiling to classic BPF.
//
// Theory of operation. `parseProfile` reads the JSON (64-bit argument values exactly, even
// beyond 2^53) and checks every field, naming the offending one in the error. `compileProfile`
// keeps the entries that apply to the target (includes/excludes by capability, architecture
// and kernel), maps names to numbers for the architecture (names it does not have are skipped,
// as libseccomp does) and emits:
//
//   1. the architecture check: any other AUDIT_ARCH gets the bad-architecture action
//      (SECCOMP_RET_KILL_PROCESS unless told otherwise); only the native ABI is allowed, so
//      i386 calls from an x86_64 process are refused;
//   2. on x86_64, x32 system calls (nr with bit 30 set) get the same action;
//   3. a binary search over the system call numbers that have rules; each leaf of up to four
//      numbers returns the unconditional actions directly and holds the argument checks of
//      the others; every other number gets the default action.
//
// Rule semantics, as runc applies a Docker profile: the conditions of one entry are ANDed,
// except when an entry compares the same argument more than once, in which case each condition
// is a rule of its own (ORed). For one system call, rules with conditions are tried in profile
// order, the first that matches decides; then the first unconditional rule; then the default.
// Arguments are 64-bit: each comparison is done on both 32-bit halves (high half first), with
// the low half at offset 16 + 8 * index (both architectures are little-endian).

import {
  AUDIT_ARCH_AARCH64,
  AUDIT_ARCH_X86_64,
  BpfAssembler,
  SECCOMP_DATA_ARCH,
  SECCOMP_DATA_NR,
  SECCOMP_RET_ALLOW,
  SECCOMP_RET_KILL_PROCESS,
  SECCOMP_RET_KILL_THREAD,
  SECCOMP_RET_LOG,
  SECCOMP_RET_TRAP,
  seccompDataArg,
  seccompErrno,
  seccompTrace,
  X32_SYSCALL_BIT,
} from "./bpf.ts";
import { SYSCALLS_AARCH64 } from "./syscalls_aarch64.ts";
import { SYSCALLS_X86_64 } from "./syscalls_x86_64.ts";
import { CapabilityError, capabilityNumber } from "../caps.ts";

/** The architectures a profile can be compiled for. */
export type SeccompArch = "x86_64" | "aarch64";

/** The actions of Docker's profile format that paranoid supports. */
export const SECCOMP_ACTIONS = [
  "SCMP_ACT_KILL",
  "SCMP_ACT_KILL_PROCESS",
  "SCMP_ACT_KILL_THREAD",
  "SCMP_ACT_TRAP",
  "SCMP_ACT_ERRNO",
  "SCMP_ACT_TRACE",
  "SCMP_ACT_ALLOW",
  "SCMP_ACT_LOG",
] as const;

/** A profile action name, e.g. `"SCMP_ACT_ERRNO"`. */
export type SeccompAction = typeof SECCOMP_ACTIONS[number];

/** The argument comparison operators of Docker's profile format. */
export const SECCOMP_OPERATORS = [
  "SCMP_CMP_NE",
  "SCMP_CMP_LT",
  "SCMP_CMP_LE",
  "SCMP_CMP_EQ",
  "SCMP_CMP_GE",
  "SCMP_CMP_GT",
  "SCMP_CMP_MASKED_EQ",
] as const;

/** An argument comparison operator, e.g. `"SCMP_CMP_MASKED_EQ"`. */
export type SeccompOperator = typeof SECCOMP_OPERATORS[number];

/** The architecture names libseccomp knows (accepted in `architectures` and `archMap`). */
export const SECCOMP_ARCH_NAMES = [
  "SCMP_ARCH_X86",
  "SCMP_ARCH_X86_64",
  "SCMP_ARCH_X32",
  "SCMP_ARCH_ARM",
  "SCMP_ARCH_AARCH64",
  "SCMP_ARCH_MIPS",
  "SCMP_ARCH_MIPS64",
  "SCMP_ARCH_MIPS64N32",
  "SCMP_ARCH_MIPSEL",
  "SCMP_ARCH_MIPSEL64",
  "SCMP_ARCH_MIPSEL64N32",
  "SCMP_ARCH_PPC",
  "SCMP_ARCH_PPC64",
  "SCMP_ARCH_PPC64LE",
  "SCMP_ARCH_S390",
  "SCMP_ARCH_S390X",
  "SCMP_ARCH_PARISC",
  "SCMP_ARCH_PARISC64",
  "SCMP_ARCH_RISCV64",
  "SCMP_ARCH_LOONGARCH64",
  "SCMP_ARCH_M68K",
  "SCMP_ARCH_SH",
  "SCMP_ARCH_SHEB",
] as const;

/** The filter flags of the OCI runtime spec (passed to seccomp(2) by whoever installs it). */
export const SECCOMP_FLAG_NAMES = [
  "SECCOMP_FILTER_FLAG_TSYNC",
  "SECCOMP_FILTER_FLAG_LOG",
  "SECCOMP_FILTER_FLAG_SPEC_ALLOW",
  "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV",
] as const;

/** One argument comparison: `args[index] op value` (MASKED_EQ: `(args[index] & value) == valueTwo`). */
export interface SeccompArg {
  /** Argument number, 0..5. */
  index: number;
  /** Operand (the mask for MASKED_EQ), unsigned 64-bit. */
  value: bigint | number;
  /** Second operand (the expected masked value for MASKED_EQ), unsigned 64-bit; default 0. */
  valueTwo?: bigint | number;
  /** Comparison. */
  op: SeccompOperator;
}

/** When an entry applies (`includes`: all must hold) or does not (`excludes`: any holds). */
export interface SeccompFilter {
  /** Capability names. Includes: all present; excludes: any present. */
  caps?: string[];
  /** Architectures as Go names (`amd64`, `arm64`), or `x86_64`/`aarch64`/`SCMP_ARCH_*`. */
  arches?: string[];
  /** A kernel version, e.g. `"4.8"`. Includes: at least it; excludes: at least it. */
  minKernel?: string;
}

/** One entry of `syscalls`. */
export interface SeccompSyscall {
  /** System call names. */
  names: string[];
  /** What to do when the call (and its argument conditions) match. */
  action: SeccompAction;
  /** Errno for SCMP_ACT_ERRNO (default EPERM), or the tracer's data for SCMP_ACT_TRACE. */
  errnoRet?: number;
  /** Argument conditions. */
  args?: SeccompArg[];
  /** The entry applies only when these hold. */
  includes?: SeccompFilter;
  /** The entry does not apply when these hold. */
  excludes?: SeccompFilter;
  /** Free text. */
  comment?: string;
}

/** An `archMap` entry: a native architecture and the ones it can also run. */
export interface SeccompArchMap {
  /** e.g. `"SCMP_ARCH_X86_64"`. */
  architecture: string;
  /** e.g. `["SCMP_ARCH_X86", "SCMP_ARCH_X32"]`. */
  subArchitectures?: string[];
}

/** A seccomp profile in Docker's JSON format, checked. */
export interface SeccompProfile {
  /** The action for system calls no entry matches. */
  defaultAction: SeccompAction;
  /** Errno for a default action of SCMP_ACT_ERRNO; default EPERM. */
  defaultErrnoRet?: number;
  /** Architectures (OCI style). Only the native one is allowed by the compiled filter. */
  architectures?: string[];
  /** Architectures (Docker style). Only the native one is allowed by the compiled filter. */
  archMap?: SeccompArchMap[];
  /** Filter flags, for the installer. */
  flags?: string[];
  /** The rules. */
  syscalls: SeccompSyscall[];
}

/** What to compile a profile for. */
export interface CompileOptions {
  /** Target architecture. */
  arch: SeccompArch;
  /** The container's capability set (bounding set), for includes/excludes `caps`. */
  capabilities: bigint;
  /** Kernel release (`uname -r`) for `minKernel`; when absent every `minKernel` is met. */
  kernelRelease?: string;
  /** Return value for a foreign architecture or x32 call; default SECCOMP_RET_KILL_PROCESS. */
  badArchAction?: number;
}

/** A profile that is not valid JSON or has a bad field; the message names the field. */
export class SeccompProfileError extends SyntaxError {
  /** @param message The whole message, e.g. `seccomp profile: syscalls[3].action: ...`. */
  constructor(message: string) {
    super(message);
    this.name = "SeccompProfileError";
  }
}

const EPERM = 1;

interface ArchInfo {
  audit: number;
  table: Readonly<Record<string, number>>;
  names: ReadonlySet<string>;
}

const ARCHES: Record<SeccompArch, ArchInfo> = {
  x86_64: {
    audit: AUDIT_ARCH_X86_64,
    table: SYSCALLS_X86_64,
    names: new Set(["amd64", "x86_64", "scmp_arch_x86_64"]),
  },
  aarch64: {
    audit: AUDIT_ARCH_AARCH64,
    table: SYSCALLS_AARCH64,
    names: new Set(["arm64", "aarch64", "scmp_arch_aarch64"]),
  },
};

/**
 * The system call number table for an architecture (name → number).
 *
 * @example
 * ```ts
 * import { syscallTable } from "./profile.ts";
 * syscallTable("x86_64").openat; // 257
 * ```
 */
export function syscallTable(arch: SeccompArch): Readonly<Record<string, number>> {
  return ARCHES[arch].table;
}

// ---------------------------------------------------------------------------------------------
// Parsing

/**
 * Parses and checks a profile in Docker's JSON format. Unknown fields are ignored, as Docker
 * does; `syscalls[].name` (the old single-name form) is folded into `names`.
 *
 * @throws {SeccompProfileError} Naming the field, e.g.
 *   `seccomp profile: syscalls[3].action: unknown action "SCMP_ACT_FOO"`.
 * @example
 * ```ts
 * import { parseProfile } from "./profile.ts";
 * const p = parseProfile('{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[' +
 *   '{"names":["read"],"action":"SCMP_ACT_ALLOW"}]}');
 * p.syscalls[0]?.names; // ["read"]
 * ```
 */
export function parseProfile(jsonText: string): SeccompProfile {
  let value: unknown;
  try {
    value = JSON.parse(jsonText, exactIntegers);
  } catch (e) {
    throw new SeccompProfileError(`seccomp profile: not valid JSON: ${(e as Error).message}`);
  }
  return checkProfile(value);
}

/** JSON.parse reviver keeping integers beyond 2^53 exact, as bigint. */
function exactIntegers(_key: string, value: unknown, context?: { source?: string }): unknown {
  if (typeof value === "number" && !Number.isSafeInteger(value) && context?.source) {
    if (/^-?\d+$/.test(context.source)) return BigInt(context.source);
  }
  return value;
}

/**
 * Checks a profile value (from JSON or written in TypeScript) and returns a normalised copy.
 *
 * @throws {SeccompProfileError} Naming the offending field.
 */
export function checkProfile(value: unknown): SeccompProfile {
  const root = object(value, "");
  const profile: SeccompProfile = {
    defaultAction: action(root["defaultAction"], "defaultAction"),
    syscalls: [],
  };
  const defaultErrnoRet = optional(root["defaultErrnoRet"], "defaultErrnoRet", errno);
  if (defaultErrnoRet !== undefined) profile.defaultErrnoRet = defaultErrnoRet;
  const architectures = optional(
    root["architectures"],
    "architectures",
    (v, at) => list(v, at, archName),
  );
  if (architectures !== undefined) profile.architectures = architectures;
  const archMap = optional(root["archMap"], "archMap", (v, at) => list(v, at, archMapEntry));
  if (archMap !== undefined) profile.archMap = archMap;
  const flags = optional(root["flags"], "flags", (v, at) => list(v, at, flagName));
  if (flags !== undefined) profile.flags = flags;
  profile.syscalls = optional(root["syscalls"], "syscalls", (v, at) => list(v, at, syscall)) ??
    [];
  return profile;
}

function fail(at: string, message: string): never {
  throw new SeccompProfileError(`seccomp profile: ${at === "" ? "" : `${at}: `}${message}`);
}

function describe(value: unknown): string {
  if (typeof value === "bigint") return value.toString();
  if (typeof value === "string") return value;
  return JSON.stringify(value) ?? String(value);
}

function object(value: unknown, at: string): Record<string, unknown> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    fail(at, `not an object "${describe(value)}"`);
  }
  return value as Record<string, unknown>;
}

function optional<T>(
  value: unknown,
  at: string,
  check: (value: unknown, at: string) => T,
): T | undefined {
  return value === undefined || value === null ? undefined : check(value, at);
}

function list<T>(value: unknown, at: string, item: (value: unknown, at: string) => T): T[] {
  if (!Array.isArray(value)) fail(at, `not an array "${describe(value)}"`);
  return value.map((v, i) => item(v, `${at}[${i}]`));
}

function string(value: unknown, at: string): string {
  if (typeof value !== "string") fail(at, `not a string "${describe(value)}"`);
  return value;
}

function oneOf<T extends string>(names: readonly T[], what: string) {
  return (value: unknown, at: string): T => {
    const s = string(value, at);
    if (!(names as readonly string[]).includes(s)) fail(at, `unknown ${what} "${s}"`);
    return s as T;
  };
}

const archName = oneOf(SECCOMP_ARCH_NAMES, "architecture");
const flagName = oneOf(SECCOMP_FLAG_NAMES, "flag");
const operator = oneOf(SECCOMP_OPERATORS, "operator");

function action(value: unknown, at: string): SeccompAction {
  const s = string(value, at);
  if (s === "SCMP_ACT_NOTIFY") fail(at, `unsupported action "${s}"`);
  if (!(SECCOMP_ACTIONS as readonly string[]).includes(s)) fail(at, `unknown action "${s}"`);
  return s as SeccompAction;
}

function errno(value: unknown, at: string): number {
  if (typeof value !== "number" || !Number.isInteger(value) || value < 0 || value > 0xffff) {
    fail(at, `not an errno number (0 to 65535) "${describe(value)}"`);
  }
  return value;
}

function u64(value: unknown, at: string): bigint {
  let n: bigint | undefined;
  if (typeof value === "bigint") n = value;
  else if (typeof value === "number" && Number.isSafeInteger(value)) n = BigInt(value);
  if (n === undefined || n < 0n || n > 0xffffffffffffffffn) {
    fail(at, `not an unsigned 64-bit integer "${describe(value)}"`);
  }
  return n;
}

function archMapEntry(value: unknown, at: string): SeccompArchMap {
  const o = object(value, at);
  const entry: SeccompArchMap = {
    architecture: archName(o["architecture"], `${at}.architecture`),
  };
  const subs = optional(
    o["subArchitectures"],
    `${at}.subArchitectures`,
    (v, a) => list(v, a, archName),
  );
  if (subs !== undefined) entry.subArchitectures = subs;
  return entry;
}

function capName(value: unknown, at: string): string {
  const s = string(value, at);
  try {
    capabilityNumber(s);
  } catch (e) {
    if (e instanceof CapabilityError) fail(at, e.message);
    throw e;
  }
  return s;
}

function kernelVersion(value: unknown, at: string): string {
  const s = string(value, at);
  if (!/^\d+\.\d+(\.\d+)?$/.test(s)) fail(at, `not a kernel version "${s}"`);
  return s;
}

function filter(value: unknown, at: string): SeccompFilter {
  const o = object(value, at);
  const f: SeccompFilter = {};
  const caps = optional(o["caps"], `${at}.caps`, (v, a) => list(v, a, capName));
  if (caps !== undefined) f.caps = caps;
  const arches = optional(o["arches"], `${at}.arches`, (v, a) => list(v, a, string));
  if (arches !== undefined) f.arches = arches;
  const minKernel = optional(o["minKernel"], `${at}.minKernel`, kernelVersion);
  if (minKernel !== undefined) f.minKernel = minKernel;
  return f;
}

function arg(value: unknown, at: string): SeccompArg {
  const o = object(value, at);
  const index = o["index"];
  if (typeof index !== "number" || !Number.isInteger(index) || index < 0 || index > 5) {
    fail(`${at}.index`, `not an argument index (0 to 5) "${describe(index)}"`);
  }
  if (o["value"] === undefined) fail(`${at}.value`, "missing");
  if (o["op"] === undefined) fail(`${at}.op`, "missing");
  return {
    index,
    value: u64(o["value"], `${at}.value`),
    valueTwo: optional(o["valueTwo"], `${at}.valueTwo`, u64) ?? 0n,
    op: operator(o["op"], `${at}.op`),
  };
}

function syscall(value: unknown, at: string): SeccompSyscall {
  const o = object(value, at);
  const names = optional(o["names"], `${at}.names`, (v, a) => list(v, a, string)) ?? [];
  const single = optional(o["name"], `${at}.name`, string);
  if (single !== undefined) names.push(single);
  if (names.length === 0) fail(`${at}.names`, "missing");
  if (o["action"] === undefined) fail(`${at}.action`, "missing");
  const entry: SeccompSyscall = { names, action: action(o["action"], `${at}.action`) };
  const errnoRet = optional(o["errnoRet"], `${at}.errnoRet`, errno);
  if (errnoRet !== undefined) entry.errnoRet = errnoRet;
  const args = optional(o["args"], `${at}.args`, (v, a) => list(v, a, arg));
  if (args !== undefined && args.length > 0) entry.args = args;
  const includes = optional(o["includes"], `${at}.includes`, filter);
  if (includes !== undefined) entry.includes = includes;
  const excludes = optional(o["excludes"], `${at}.excludes`, filter);
  if (excludes !== undefined) entry.excludes = excludes;
  const comment = optional(o["comment"], `${at}.comment`, string);
  if (comment !== undefined) entry.comment = comment;
  return entry;
}

// ---------------------------------------------------------------------------------------------
// Compiling

/**
 * The seccomp return value of a profile action.
 *
 * @example
 * ```ts
 * import { actionValue } from "./profile.ts";
 * actionValue("SCMP_ACT_ERRNO", 38); // 0x00050026, ENOSYS
 * ```
 */
export function actionValue(action: SeccompAction, errnoRet?: number): number {
  switch (action) {
    case "SCMP_ACT_KILL":
    case "SCMP_ACT_KILL_THREAD":
      return SECCOMP_RET_KILL_THREAD;
    case "SCMP_ACT_KILL_PROCESS":
      return SECCOMP_RET_KILL_PROCESS;
    case "SCMP_ACT_TRAP":
      return SECCOMP_RET_TRAP;
    case "SCMP_ACT_ERRNO":
      return seccompErrno(errnoRet ?? EPERM);
    case "SCMP_ACT_TRACE":
      return seccompTrace(errnoRet ?? EPERM);
    case "SCMP_ACT_LOG":
      return SECCOMP_RET_LOG;
    case "SCMP_ACT_ALLOW":
      return SECCOMP_RET_ALLOW;
  }
}

interface Condition {
  index: number;
  op: SeccompOperator;
  value: bigint;
  valueTwo: bigint;
}

interface Rule {
  action: number;
  conditions: Condition[];
}

/** Major and minor of a kernel release such as "6.1.0-18-amd64", for comparing. */
function versionNumber(release: string): number {
  const m = /^(\d+)\.(\d+)/.exec(release);
  return m ? Number(m[1]) * 1000 + Number(m[2]) : 0;
}

function applies(entry: SeccompSyscall, options: CompileOptions): boolean {
  const arch = ARCHES[options.arch];
  const hasCap = (name: string) =>
    (options.capabilities >> BigInt(capabilityNumber(name)) & 1n) === 1n;
  const matchesArch = (names: string[]) => names.some((n) => arch.names.has(n.toLowerCase()));
  const kernelAtLeast = (version: string) =>
    options.kernelRelease === undefined ||
    versionNumber(options.kernelRelease) >= versionNumber(version);
  const ex = entry.excludes;
  if (ex?.arches && ex.arches.length > 0 && matchesArch(ex.arches)) return false;
  if (ex?.caps && ex.caps.some(hasCap)) return false;
  if (ex?.minKernel !== undefined && kernelAtLeast(ex.minKernel)) return false;
  const inc = entry.includes;
  if (inc?.arches && inc.arches.length > 0 && !matchesArch(inc.arches)) return false;
  if (inc?.caps && !inc.caps.every(hasCap)) return false;
  if (inc?.minKernel !== undefined && !kernelAtLeast(inc.minKernel)) return false;
  return true;
}

/** The rules of each system call number, conditional ones first, in profile order. */
function collectRules(profile: SeccompProfile, options: CompileOptions): Map<number, Rule[]> {
  const table = ARCHES[options.arch].table;
  const conditional = new Map<number, Rule[]>();
  const unconditional = new Map<number, Rule>();
  for (const entry of profile.syscalls) {
    if (!applies(entry, options)) continue;
    const action = actionValue(entry.action, entry.errnoRet);
    const conditions: Condition[] = (entry.args ?? []).map((a) => ({
      index: a.index,
      op: a.op,
      value: BigInt(a.value),
      valueTwo: BigInt(a.valueTwo ?? 0),
    }));
    const indexes = conditions.map((c) => c.index);
    const repeated = new Set(indexes).size !== indexes.length;
    // runc: when one argument is compared more than once, each comparison is its own rule.
    const rules: Rule[] = repeated
      ? conditions.map((c) => ({ action, conditions: [c] }))
      : [{ action, conditions }];
    for (const name of entry.names) {
      const nr = Object.hasOwn(table, name) ? table[name] : undefined;
      if (nr === undefined) continue; // absent on this architecture: ignored, as libseccomp does
      for (const rule of rules) {
        if (rule.conditions.length === 0) {
          if (!unconditional.has(nr)) unconditional.set(nr, rule);
        } else {
          const list = conditional.get(nr) ?? [];
          list.push(rule);
          conditional.set(nr, list);
        }
      }
    }
  }
  const out = new Map<number, Rule[]>();
  for (const nr of new Set([...conditional.keys(), ...unconditional.keys()])) {
    const rules = [...conditional.get(nr) ?? []];
    const always = unconditional.get(nr);
    if (always) rules.push(always);
    out.set(nr, rules);
  }
  return out;
}

/** Emits the checks of one condition: falls through when it holds, jumps to `fail` if not. */
function emitCondition(asm: BpfAssembler, c: Condition, fail: string, pass: string): void {
  const lo = seccompDataArg(c.index);
  const hi = lo + 4;
  const high = (v: bigint) => Number(v >> 32n & 0xffffffffn);
  const low = (v: bigint) => Number(v & 0xffffffffn);
  const vh = high(c.value);
  const vl = low(c.value);
  switch (c.op) {
    case "SCMP_CMP_EQ":
      asm.loadAbs(hi).jumpIf("eq", vh, undefined, fail);
      asm.loadAbs(lo).jumpIf("eq", vl, undefined, fail);
      break;
    case "SCMP_CMP_NE":
      asm.loadAbs(hi).jumpIf("eq", vh, undefined, pass);
      asm.loadAbs(lo).jumpIf("eq", vl, fail, undefined);
      break;
    case "SCMP_CMP_GT": // hi > vh, or hi == vh and lo > vl
      asm.loadAbs(hi).jumpIf("gt", vh, pass, undefined).jumpIf("eq", vh, undefined, fail);
      asm.loadAbs(lo).jumpIf("gt", vl, undefined, fail);
      break;
    case "SCMP_CMP_GE": // hi > vh, or hi == vh and lo >= vl
      asm.loadAbs(hi).jumpIf("gt", vh, pass, undefined).jumpIf("eq", vh, undefined, fail);
      asm.loadAbs(lo).jumpIf("ge", vl, undefined, fail);
      break;
    case "SCMP_CMP_LT": // not GE
      asm.loadAbs(hi).jumpIf("gt", vh, fail, undefined).jumpIf("eq", vh, undefined, pass);
      asm.loadAbs(lo).jumpIf("ge", vl, fail, undefined);
      break;
    case "SCMP_CMP_LE": // not GT
      asm.loadAbs(hi).jumpIf("gt", vh, fail, undefined).jumpIf("eq", vh, undefined, pass);
      asm.loadAbs(lo).jumpIf("gt", vl, fail, undefined);
      break;
    case "SCMP_CMP_MASKED_EQ": // (arg & value) == valueTwo
      asm.loadAbs(hi).and(vh).jumpIf("eq", high(c.valueTwo), undefined, fail);
      asm.loadAbs(lo).and(vl).jumpIf("eq", low(c.valueTwo), undefined, fail);
      break;
  }
  asm.label(pass);
}

const LEAF_SIZE = 4;

/**
 * Compiles a profile to a classic BPF program for `options.arch`, with the includes/excludes
 * of each entry decided by `options.capabilities`.
 *
 * @returns The bytes of a `struct sock_filter[]` (8 bytes per instruction).
 * @throws {SeccompProfileError} When the profile has a bad field.
 * @example
 * ```ts
 * import { compileProfile } from "./profile.ts";
 * const program = compileProfile(
 *   { defaultAction: "SCMP_ACT_ERRNO", syscalls: [{ names: ["read"], action: "SCMP_ACT_ALLOW" }] },
 *   { arch: "x86_64", capabilities: 0n },
 * );
 * program.length % 8; // 0
 * ```
 */
export function compileProfile(profile: SeccompProfile, options: CompileOptions): Uint8Array {
  const checked = checkProfile(profile);
  const arch = ARCHES[options.arch];
  const defaultAction = actionValue(checked.defaultAction, checked.defaultErrnoRet);
  const badArch = options.badArchAction ?? SECCOMP_RET_KILL_PROCESS;
  const rules = collectRules(checked, options);
  // Numbers whose only rule is the default action need no code.
  const entries = [...rules].filter(([, r]) =>
    !(r.length === 1 && r[0]?.conditions.length === 0 && r[0].action === defaultAction)
  ).sort((a, b) => a[0] - b[0]);

  const asm = new BpfAssembler();
  let labels = 0;
  const fresh = (what: string) => `${what}${labels++}`;

  asm.loadAbs(SECCOMP_DATA_ARCH).jumpIf("eq", arch.audit, undefined, "bad_arch");
  asm.loadAbs(SECCOMP_DATA_NR);
  if (options.arch === "x86_64") asm.jumpIf("ge", X32_SYSCALL_BIT, "bad_arch", undefined);

  const leaf = (part: [number, Rule[]][]) => {
    // Compare each number of the leaf, then the bodies: one `ret` per distinct unconditional
    // action, argument checks for the rest.
    const bodies: { label: string; rules: Rule[] }[] = [];
    const shared = new Map<number, string>();
    for (const [nr, r] of part) {
      const only = r.length === 1 && r[0]?.conditions.length === 0 ? r[0] : undefined;
      let target = only ? shared.get(only.action) : undefined;
      if (target === undefined) {
        target = fresh("nr");
        if (only) shared.set(only.action, target);
        bodies.push({ label: target, rules: r });
      }
      asm.jumpIf("eq", nr, target, undefined);
    }
    asm.ret(defaultAction);
    for (const body of bodies) {
      asm.label(body.label);
      emitRules(body.rules);
    }
  };

  const emitRules = (rules: Rule[]) => {
    for (const rule of rules) {
      if (rule.conditions.length === 0) {
        asm.ret(rule.action);
        return;
      }
      const failed = fresh("fail");
      for (const c of rule.conditions) emitCondition(asm, c, failed, fresh("pass"));
      asm.ret(rule.action);
      asm.label(failed);
    }
    asm.ret(defaultAction);
  };

  const tree = (lo: number, hi: number) => {
    if (hi - lo <= LEAF_SIZE) return leaf(entries.slice(lo, hi));
    const mid = (lo + hi) >> 1;
    const right = fresh("ge");
    asm.jumpIf("ge", entries[mid]?.[0] ?? 0, right, undefined);
    tree(lo, mid);
    asm.label(right);
    tree(mid, hi);
  };
  tree(0, entries.length);

  asm.label("bad_arch");
  asm.ret(badArch);
  return asm.assemble();
}
