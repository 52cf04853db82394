// Classic BPF for seccomp: instruction encoding, seccomp constants and a label-resolving assembler.
//
// Theory of operation: a program is a list of steps (instructions and labels). Jumps name a
// label, or `undefined` for "the next instruction". Classic BPF jumps only forward; a
// conditional jump holds its offsets in 8 bits (at most 255 instructions ahead), an
// unconditional `ja` in 32 bits. `assemble()` lays the program out, and every conditional jump
// whose target is too far is rewritten as `jcond 0,1; ja T; ja F`, repeating until the layout
// is stable (rewriting only ever lengthens the program, so this ends). The result is the bytes
// of a `struct sock_filter[]` (8 bytes each, little-endian: u16 code, u8 jt, u8 jf, u32 k),
// ready to be pointed to by a `struct sock_fprog`.

// Instruction classes.
/** Load into the accumulator. */
export const BPF_LD = 0x00;
/** Arithmetic on the accumulator. */
export const BPF_ALU = 0x04;
/** Jumps. */
export const BPF_JMP = 0x05;
/** Return from the filter. */
export const BPF_RET = 0x06;

// Load sizes and modes.
/** 32-bit word. */
export const BPF_W = 0x00;
/** Immediate operand. */
export const BPF_IMM = 0x00;
/** Absolute offset into the packet (here: struct seccomp_data). */
export const BPF_ABS = 0x20;

// ALU operations.
/** Bitwise and. */
export const BPF_AND = 0x50;

// Jump conditions.
/** Unconditional jump by k. */
export const BPF_JA = 0x00;
/** Jump if A == k. */
export const BPF_JEQ = 0x10;
/** Jump if A > k (unsigned). */
export const BPF_JGT = 0x20;
/** Jump if A >= k (unsigned). */
export const BPF_JGE = 0x30;
/** Jump if (A & k) != 0. */
export const BPF_JSET = 0x40;

// Operand sources.
/** Constant operand k. */
export const BPF_K = 0x00;

/** The kernel's limit on the length of a classic BPF program. */
export const BPF_MAXINSNS = 4096;

/** Size of one `struct sock_filter` in bytes. */
export const SOCK_FILTER_SIZE = 8;

// Seccomp return values (include/uapi/linux/seccomp.h).
/** Kill the whole process. */
export const SECCOMP_RET_KILL_PROCESS = 0x80000000;
/** Kill the calling thread. */
export const SECCOMP_RET_KILL_THREAD = 0x00000000;
/** Send SIGSYS. */
export const SECCOMP_RET_TRAP = 0x00030000;
/** Fail the call with the errno in the low 16 bits; see {@link seccompErrno}. */
export const SECCOMP_RET_ERRNO = 0x00050000;
/** Notify a user-space supervisor. */
export const SECCOMP_RET_USER_NOTIF = 0x7fc00000;
/** Notify a ptrace tracer, passing the low 16 bits; see {@link seccompTrace}. */
export const SECCOMP_RET_TRACE = 0x7ff00000;
/** Allow after logging. */
export const SECCOMP_RET_LOG = 0x7ffc0000;
/** Allow. */
export const SECCOMP_RET_ALLOW = 0x7fff0000;
/** Mask of the action part of a return value. */
export const SECCOMP_RET_ACTION_FULL = 0xffff0000;
/** Mask of the data part of a return value. */
export const SECCOMP_RET_DATA = 0x0000ffff;

/**
 * The return value that fails the system call with `errno`.
 *
 * @example
 * ```ts
 * import { seccompErrno } from "./bpf.ts";
 * seccompErrno(1); // 0x00050001, EPERM
 * ```
 */
export function seccompErrno(errno: number): number {
  return (SECCOMP_RET_ERRNO | (errno & SECCOMP_RET_DATA)) >>> 0;
}

/** The return value that hands the call to a ptrace tracer with `data` as the event message. */
export function seccompTrace(data: number): number {
  return (SECCOMP_RET_TRACE | (data & SECCOMP_RET_DATA)) >>> 0;
}

// Audit architectures (include/uapi/linux/audit.h).
/** AUDIT_ARCH_X86_64: EM_X86_64 | 64-bit | little-endian. */
export const AUDIT_ARCH_X86_64 = 0xc000003e;
/** AUDIT_ARCH_AARCH64: EM_AARCH64 | 64-bit | little-endian. */
export const AUDIT_ARCH_AARCH64 = 0xc00000b7;
/** AUDIT_ARCH_I386, for recognising 32-bit x86 callers. */
export const AUDIT_ARCH_I386 = 0x40000003;
/** On x86_64, x32 ABI system call numbers have this bit set. */
export const X32_SYSCALL_BIT = 0x40000000;

// Offsets into struct seccomp_data.
/** Offset of `int nr`. */
export const SECCOMP_DATA_NR = 0;
/** Offset of `__u32 arch`. */
export const SECCOMP_DATA_ARCH = 4;
/** Offset of `__u64 instruction_pointer`. */
export const SECCOMP_DATA_INSTRUCTION_POINTER = 8;
/** Size of struct seccomp_data. */
export const SECCOMP_DATA_SIZE = 64;

/**
 * Offset of `args[index]` (a `__u64`) in struct seccomp_data. On a little-endian machine the
 * low 32 bits are at this offset and the high 32 bits 4 bytes further.
 */
export function seccompDataArg(index: number): number {
  if (!Number.isInteger(index) || index < 0 || index > 5) {
    throw new BpfError(`seccomp argument index out of range "${index}"`);
  }
  return 16 + 8 * index;
}

/** One classic BPF instruction (struct sock_filter). */
export interface SockFilter {
  /** Opcode: class | size | mode, or class | op | source. */
  code: number;
  /** Jump-if-true offset (conditional jumps). */
  jt: number;
  /** Jump-if-false offset (conditional jumps). */
  jf: number;
  /** Constant operand, unsigned 32-bit. */
  k: number;
}

/** A program that cannot be assembled: unknown or duplicate label, backward jump, too long. */
export class BpfError extends RangeError {
  /** @param message The whole message. */
  constructor(message: string) {
    super(message);
    this.name = "BpfError";
  }
}

/**
 * Encodes instructions as the bytes of a `struct sock_filter[]`.
 *
 * @example
 * ```ts
 * import { BPF_RET, BPF_K, encodeInstructions, SECCOMP_RET_ALLOW } from "./bpf.ts";
 * encodeInstructions([{ code: BPF_RET | BPF_K, jt: 0, jf: 0, k: SECCOMP_RET_ALLOW }]).length; // 8
 * ```
 */
export function encodeInstructions(instructions: readonly SockFilter[]): Uint8Array {
  const bytes = new Uint8Array(instructions.length * SOCK_FILTER_SIZE);
  const view = new DataView(bytes.buffer);
  instructions.forEach((insn, i) => {
    const at = i * SOCK_FILTER_SIZE;
    view.setUint16(at, insn.code, true);
    view.setUint8(at + 2, insn.jt);
    view.setUint8(at + 3, insn.jf);
    view.setUint32(at + 4, insn.k >>> 0, true);
  });
  return bytes;
}

/**
 * Decodes the bytes of a `struct sock_filter[]`.
 *
 * @throws {BpfError} When the length is not a multiple of 8.
 */
export function decodeInstructions(bytes: Uint8Array): SockFilter[] {
  if (bytes.length % SOCK_FILTER_SIZE !== 0) {
    throw new BpfError(`program length is not a multiple of 8 "${bytes.length}"`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out: SockFilter[] = [];
  for (let at = 0; at < bytes.length; at += SOCK_FILTER_SIZE) {
    out.push({
      code: view.getUint16(at, true),
      jt: view.getUint8(at + 2),
      jf: view.getUint8(at + 3),
      k: view.getUint32(at + 4, true),
    });
  }
  return out;
}

/** A jump target: a label name, or `undefined` for the next instruction. */
export type JumpTarget = string | undefined;

/** A conditional jump's test. */
export type JumpCondition = "eq" | "gt" | "ge" | "set";

const CONDITION_CODES: Record<JumpCondition, number> = {
  eq: BPF_JEQ,
  gt: BPF_JGT,
  ge: BPF_JGE,
  set: BPF_JSET,
};

type Step =
  | { kind: "plain"; code: number; k: number }
  | { kind: "cond"; code: number; k: number; jt: JumpTarget; jf: JumpTarget; long: boolean }
  | { kind: "ja"; target: string }
  | { kind: "label"; name: string };

/**
 * Builds a classic BPF program from instructions and labels, then resolves the jumps.
 *
 * @example
 * ```ts
 * import {
 *   AUDIT_ARCH_X86_64, BpfAssembler, SECCOMP_DATA_ARCH, SECCOMP_RET_ALLOW,
 *   SECCOMP_RET_KILL_PROCESS,
 * } from "./bpf.ts";
 * const asm = new BpfAssembler();
 * asm.loadAbs(SECCOMP_DATA_ARCH);
 * asm.jumpIf("eq", AUDIT_ARCH_X86_64, undefined, "kill");
 * asm.ret(SECCOMP_RET_ALLOW);
 * asm.label("kill");
 * asm.ret(SECCOMP_RET_KILL_PROCESS);
 * asm.assemble().length; // 32
 * ```
 */
export class BpfAssembler {
  #steps: Step[] = [];
  #labels = new Set<string>();

  /** `ld [offset]`: A = the 32-bit word at `offset` in struct seccomp_data. */
  loadAbs(offset: number): this {
    return this.#plain(BPF_LD | BPF_W | BPF_ABS, offset);
  }

  /** `ld #k`: A = k. */
  loadImm(k: number): this {
    return this.#plain(BPF_LD | BPF_W | BPF_IMM, k);
  }

  /** `and #k`: A = A & k. */
  and(k: number): this {
    return this.#plain(BPF_ALU | BPF_AND | BPF_K, k);
  }

  /** `ret #k`: end the filter with the seccomp return value `k`. */
  ret(k: number): this {
    return this.#plain(BPF_RET | BPF_K, k);
  }

  /** `ja label`: jump unconditionally (forward) to `label`. */
  jump(label: string): this {
    this.#steps.push({ kind: "ja", target: label });
    return this;
  }

  /**
   * `jeq/jgt/jge/jset #k, jt, jf`: compare A with k (unsigned) and go to `jt` when the test
   * holds, to `jf` when not; `undefined` means the next instruction.
   */
  jumpIf(condition: JumpCondition, k: number, jt: JumpTarget, jf: JumpTarget): this {
    const code = BPF_JMP | CONDITION_CODES[condition] | BPF_K;
    this.#steps.push({ kind: "cond", code, k: checkU32(k), jt, jf, long: false });
    return this;
  }

  /** Marks the position of the next instruction as `name`. */
  label(name: string): this {
    if (this.#labels.has(name)) throw new BpfError(`duplicate label "${name}"`);
    this.#labels.add(name);
    this.#steps.push({ kind: "label", name });
    return this;
  }

  /** Whether a label of that name has been placed. */
  hasLabel(name: string): boolean {
    return this.#labels.has(name);
  }

  /**
   * Resolves the labels and returns the instructions.
   *
   * @throws {BpfError} On an unknown label, a backward jump, or more than 4096 instructions.
   */
  instructions(): SockFilter[] {
    let positions = this.#layout();
    for (;;) {
      let grew = false;
      for (const [step, at] of positions.steps) {
        if (step.kind !== "cond" || step.long) continue;
        const far = (t: JumpTarget) => this.#offset(t, at + 1, positions.labels) > 255;
        if (far(step.jt) || far(step.jf)) {
          step.long = true;
          grew = true;
        }
      }
      if (!grew) break;
      positions = this.#layout();
    }
    if (positions.length > BPF_MAXINSNS) {
      throw new BpfError(`program too long: ${positions.length} instructions, limit "4096"`);
    }
    const out: SockFilter[] = [];
    for (const [step, at] of positions.steps) {
      const offset = (t: JumpTarget, from: number) => this.#offset(t, from, positions.labels);
      switch (step.kind) {
        case "plain":
          out.push({ code: step.code, jt: 0, jf: 0, k: step.k });
          break;
        case "ja":
          out.push({ code: BPF_JMP | BPF_JA, jt: 0, jf: 0, k: offset(step.target, at + 1) });
          break;
        case "cond":
          if (!step.long) {
            const jt = offset(step.jt, at + 1);
            const jf = offset(step.jf, at + 1);
            out.push({ code: step.code, jt, jf, k: step.k });
          } else {
            // jcond 0,1 ; ja T ; ja F  (an undefined target is the instruction after all three)
            out.push({ code: step.code, jt: 0, jf: 1, k: step.k });
            const t = step.jt === undefined ? 1 : offset(step.jt, at + 2);
            const f = step.jf === undefined ? 0 : offset(step.jf, at + 3);
            out.push({ code: BPF_JMP | BPF_JA, jt: 0, jf: 0, k: t });
            out.push({ code: BPF_JMP | BPF_JA, jt: 0, jf: 0, k: f });
          }
          break;
        case "label":
          break;
      }
    }
    return out;
  }

  /** Resolves the program and encodes it as a `struct sock_filter[]`. */
  assemble(): Uint8Array {
    return encodeInstructions(this.instructions());
  }

  #plain(code: number, k: number): this {
    this.#steps.push({ kind: "plain", code, k: checkU32(k) });
    return this;
  }

  #layout(): { steps: [Step, number][]; labels: Map<string, number>; length: number } {
    const steps: [Step, number][] = [];
    const labels = new Map<string, number>();
    let at = 0;
    for (const step of this.#steps) {
      steps.push([step, at]);
      if (step.kind === "label") labels.set(step.name, at);
      else at += step.kind === "cond" && step.long ? 3 : 1;
    }
    return { steps, labels, length: at };
  }

  #offset(target: JumpTarget, from: number, labels: Map<string, number>): number {
    if (target === undefined) return 0;
    const to = labels.get(target);
    if (to === undefined) throw new BpfError(`jump to unknown label "${target}"`);
    if (to < from) throw new BpfError(`backward jump to label "${target}"`);
    return to - from;
  }
}

function checkU32(k: number): number {
  if (!Number.isInteger(k) || k < -0x80000000 || k > 0xffffffff) {
    throw new BpfError(`constant does not fit in 32 bits "${k}"`);
  }
  return k >>> 0;
}
