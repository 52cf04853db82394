// Test helper: a classic BPF interpreter that runs a seccomp program against one struct seccomp_data.

import {
  BPF_ABS,
  BPF_ALU,
  BPF_AND,
  BPF_IMM,
  BPF_JA,
  BPF_JEQ,
  BPF_JGE,
  BPF_JGT,
  BPF_JMP,
  BPF_JSET,
  BPF_K,
  BPF_LD,
  BPF_RET,
  BPF_W,
  decodeInstructions,
  SECCOMP_DATA_SIZE,
} from "./bpf.ts";

/** The system call a test runs the filter on. */
export interface SeccompData {
  /** System call number. */
  nr: number;
  /** AUDIT_ARCH_* of the caller. */
  arch: number;
  /** Instruction pointer; default 0. */
  instructionPointer?: bigint;
  /** Up to six 64-bit arguments; missing ones are 0. */
  args?: readonly (bigint | number)[];
}

/** Lays out struct seccomp_data (little-endian) as the kernel hands it to the filter. */
export function seccompDataBytes(data: SeccompData): DataView {
  const view = new DataView(new ArrayBuffer(SECCOMP_DATA_SIZE));
  view.setInt32(0, data.nr, true);
  view.setUint32(4, data.arch, true);
  view.setBigUint64(8, data.instructionPointer ?? 0n, true);
  (data.args ?? []).forEach((a, i) =>
    view.setBigUint64(16 + 8 * i, BigInt.asUintN(64, BigInt(a)), true)
  );
  return view;
}

/**
 * Runs `program` (struct sock_filter bytes) on `data` and returns the seccomp return value.
 * Checks what the kernel's verifier would: aligned in-range loads, in-range jumps, and no
 * falling off the end. Supports the instructions the assembler emits.
 *
 * @throws {Error} When the program does something the kernel would refuse.
 */
export function runFilter(program: Uint8Array, data: SeccompData): number {
  const insns = decodeInstructions(program);
  const mem = seccompDataBytes(data);
  let a = 0;
  let pc = 0;
  for (let steps = 0; steps <= insns.length; steps++) {
    const insn = insns[pc];
    if (insn === undefined) throw new Error(`fell off the end of the program at "${pc}"`);
    const next = pc + 1;
    switch (insn.code) {
      case BPF_LD | BPF_W | BPF_ABS:
        if (insn.k % 4 !== 0 || insn.k + 4 > SECCOMP_DATA_SIZE) {
          throw new Error(`bad load offset "${insn.k}"`);
        }
        a = mem.getUint32(insn.k, true);
        pc = next;
        break;
      case BPF_LD | BPF_W | BPF_IMM:
        a = insn.k;
        pc = next;
        break;
      case BPF_ALU | BPF_AND | BPF_K:
        a = (a & insn.k) >>> 0;
        pc = next;
        break;
      case BPF_JMP | BPF_JA:
        pc = next + insn.k;
        break;
      case BPF_JMP | BPF_JEQ | BPF_K:
        pc = next + (a === insn.k ? insn.jt : insn.jf);
        break;
      case BPF_JMP | BPF_JGT | BPF_K:
        pc = next + (a > insn.k ? insn.jt : insn.jf);
        break;
      case BPF_JMP | BPF_JGE | BPF_K:
        pc = next + (a >= insn.k ? insn.jt : insn.jf);
        break;
      case BPF_JMP | BPF_JSET | BPF_K:
        pc = next + ((a & insn.k) !== 0 ? insn.jt : insn.jf);
        break;
      case BPF_RET | BPF_K:
        return insn.k;
      default:
        throw new Error(`unsupported instruction "0x${insn.code.toString(16)}" at "${pc}"`);
    }
    if (pc >= insns.length) throw new Error(`jump out of the program to "${pc}"`);
  }
  throw new Error("program did not return");
}
