// Tests for the classic BPF encoding and the label-resolving assembler.

import assert from "node:assert/strict";
import {
  AUDIT_ARCH_X86_64,
  BPF_MAXINSNS,
  BpfAssembler,
  BpfError,
  decodeInstructions,
  encodeInstructions,
  SECCOMP_DATA_ARCH,
  SECCOMP_DATA_NR,
  SECCOMP_RET_ALLOW,
  SECCOMP_RET_KILL_PROCESS,
  SECCOMP_RET_TRAP,
  seccompDataArg,
  seccompErrno,
  seccompTrace,
} from "./bpf.ts";
import { runFilter } from "./bpf_interpreter_test_helper.ts";

Deno.test("bpf: instructions encode as little-endian struct sock_filter", () => {
  const bytes = new BpfAssembler()
    .loadAbs(SECCOMP_DATA_ARCH)
    .jumpIf("eq", AUDIT_ARCH_X86_64, undefined, "kill")
    .ret(SECCOMP_RET_ALLOW)
    .label("kill")
    .ret(SECCOMP_RET_KILL_PROCESS)
    .assemble();
  // deno-fmt-ignore
  assert.deepEqual([...bytes], [
    0x20, 0x00, 0x00, 0x00, 0x04, 0x00, 0x00, 0x00, // ld [4]
    0x15, 0x00, 0x00, 0x01, 0x3e, 0x00, 0x00, 0xc0, // jeq #0xc000003e, 0, 1
    0x06, 0x00, 0x00, 0x00, 0x00, 0x00, 0xff, 0x7f, // ret #ALLOW
    0x06, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x80, // ret #KILL_PROCESS
  ]);
});

Deno.test("bpf: decode reverses encode", () => {
  const insns = [
    { code: 0x20, jt: 0, jf: 0, k: 16 },
    { code: 0x45, jt: 3, jf: 250, k: 0xffffffff },
    { code: 0x06, jt: 0, jf: 0, k: 0x00050001 },
  ];
  assert.deepEqual(decodeInstructions(encodeInstructions(insns)), insns);
  assert.throws(() => decodeInstructions(new Uint8Array(7)), BpfError);
});

Deno.test("bpf: return values and seccomp_data offsets match the kernel headers", () => {
  assert.equal(seccompErrno(1), 0x00050001);
  assert.equal(seccompErrno(38), 0x00050026);
  assert.equal(seccompTrace(7), 0x7ff00007);
  assert.equal(SECCOMP_DATA_NR, 0);
  assert.equal(SECCOMP_DATA_ARCH, 4);
  assert.equal(seccompDataArg(0), 16);
  assert.equal(seccompDataArg(5), 56);
  assert.throws(() => seccompDataArg(6), /argument index out of range "6"/);
});

/** A program that tests nr == 7 and then skips `gap` filler instructions to reach the targets. */
function farProgram(gap: number, trueTarget: string | undefined): Uint8Array {
  const asm = new BpfAssembler().loadAbs(SECCOMP_DATA_NR);
  asm.jumpIf("eq", 7, trueTarget, "no");
  asm.ret(SECCOMP_RET_TRAP); // reached only through "next"
  for (let i = 0; i < gap; i++) asm.ret(0xdead);
  asm.label("yes").ret(SECCOMP_RET_ALLOW);
  asm.label("no").ret(seccompErrno(1));
  return asm.assemble();
}

Deno.test("bpf: short conditional jumps stay one instruction", () => {
  const program = farProgram(200, "yes");
  assert.equal(program.length / 8, 1 + 1 + 1 + 200 + 2);
  assert.equal(runFilter(program, { nr: 7, arch: 0 }), SECCOMP_RET_ALLOW);
  assert.equal(runFilter(program, { nr: 8, arch: 0 }), seccompErrno(1));
});

Deno.test("bpf: a conditional jump beyond 255 becomes a jump over unconditional jumps", () => {
  const program = farProgram(400, "yes");
  assert.equal(program.length / 8, 1 + 3 + 1 + 400 + 2);
  assert.equal(runFilter(program, { nr: 7, arch: 0 }), SECCOMP_RET_ALLOW);
  assert.equal(runFilter(program, { nr: 8, arch: 0 }), seccompErrno(1));
  for (const insn of decodeInstructions(program)) {
    assert.ok(insn.jt <= 255 && insn.jf <= 255);
  }
});

Deno.test("bpf: a long jump keeps the fall-through target", () => {
  const program = farProgram(400, undefined);
  assert.equal(runFilter(program, { nr: 7, arch: 0 }), SECCOMP_RET_TRAP);
  assert.equal(runFilter(program, { nr: 8, arch: 0 }), seccompErrno(1));
});

Deno.test("bpf: long jumps that push other jumps out of range are resolved too", () => {
  // Many conditional jumps just under the limit: expanding one pushes the next beyond 255.
  const asm = new BpfAssembler().loadAbs(SECCOMP_DATA_NR);
  for (let i = 0; i < 60; i++) asm.jumpIf("eq", i, `t${i}`, undefined);
  asm.ret(seccompErrno(1));
  for (let i = 0; i < 200; i++) asm.ret(0xdead);
  for (let i = 0; i < 60; i++) asm.label(`t${i}`).ret(SECCOMP_RET_ALLOW | i);
  const program = asm.assemble();
  for (const nr of [0, 1, 30, 59]) {
    assert.equal(runFilter(program, { nr, arch: 0 }), SECCOMP_RET_ALLOW | nr);
  }
  assert.equal(runFilter(program, { nr: 60, arch: 0 }), seccompErrno(1));
});

Deno.test("bpf: bad programs are refused with the label or limit named", () => {
  assert.throws(
    () => new BpfAssembler().jump("nowhere").assemble(),
    /jump to unknown label "nowhere"/,
  );
  assert.throws(
    () => new BpfAssembler().label("a").ret(0).jump("a").assemble(),
    /backward jump to label "a"/,
  );
  assert.throws(() => new BpfAssembler().label("a").label("a"), /duplicate label "a"/);
  const long = new BpfAssembler();
  for (let i = 0; i <= BPF_MAXINSNS; i++) long.ret(0);
  assert.throws(() => long.assemble(), /program too long/);
  assert.throws(() => new BpfAssembler().ret(2 ** 32), /does not fit in 32 bits/);
});
