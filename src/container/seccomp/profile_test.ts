// Tests for parsing Docker seccomp profiles and the behaviour of the compiled filters.

import assert from "node:assert/strict";
import {
  AUDIT_ARCH_AARCH64,
  AUDIT_ARCH_I386,
  AUDIT_ARCH_X86_64,
  SECCOMP_RET_ALLOW,
  SECCOMP_RET_KILL_PROCESS,
  SECCOMP_RET_KILL_THREAD,
  SECCOMP_RET_LOG,
  SECCOMP_RET_TRAP,
  seccompErrno,
  seccompTrace,
} from "./bpf.ts";
import { runFilter } from "./bpf_interpreter_test_helper.ts";
import {
  type CompileOptions,
  compileProfile,
  parseProfile,
  type SeccompOperator,
  type SeccompProfile,
  SeccompProfileError,
  syscallTable,
} from "./profile.ts";

const X86 = syscallTable("x86_64");
const nr = (name: string): number => {
  const n = X86[name];
  if (n === undefined) throw new Error(`no syscall "${name}"`);
  return n;
};
const EPERM = seccompErrno(1);
const X86_64: CompileOptions = { arch: "x86_64", capabilities: 0n };

function run(
  program: Uint8Array,
  name: string,
  args: (bigint | number)[] = [],
  arch = AUDIT_ARCH_X86_64,
) {
  return runFilter(program, { nr: nr(name), arch, args });
}

function profileError(json: string): string {
  try {
    parseProfile(json);
  } catch (e) {
    assert.ok(e instanceof SeccompProfileError);
    assert.ok(e instanceof SyntaxError);
    return e.message;
  }
  assert.fail("profile was accepted");
}

Deno.test("seccomp profile: an unknown action names the entry", () => {
  const json = JSON.stringify({
    defaultAction: "SCMP_ACT_ERRNO",
    syscalls: [
      { names: ["read"], action: "SCMP_ACT_ALLOW" },
      { names: ["write"], action: "SCMP_ACT_ALLOW" },
      { names: ["close"], action: "SCMP_ACT_ALLOW" },
      { names: ["openat"], action: "SCMP_ACT_FOO" },
    ],
  });
  assert.equal(
    profileError(json),
    'seccomp profile: syscalls[3].action: unknown action "SCMP_ACT_FOO"',
  );
});

Deno.test("seccomp profile: malformed fields are named in the error", () => {
  const base = (syscall: unknown) =>
    JSON.stringify({ defaultAction: "SCMP_ACT_ERRNO", syscalls: [syscall] });
  const cases: [string, RegExp][] = [
    ["{", /^seccomp profile: not valid JSON: /],
    ["[]", /^seccomp profile: not an object/],
    ["{}", /^seccomp profile: defaultAction: not a string "undefined"/],
    ['{"defaultAction":"SCMP_ACT_NOPE"}', /defaultAction: unknown action "SCMP_ACT_NOPE"/],
    [
      '{"defaultAction":"SCMP_ACT_ALLOW","defaultErrnoRet":-1}',
      /defaultErrnoRet: not an errno number \(0 to 65535\) "-1"/,
    ],
    [
      '{"defaultAction":"SCMP_ACT_ALLOW","architectures":["SCMP_ARCH_Z80"]}',
      /architectures\[0\]: unknown architecture "SCMP_ARCH_Z80"/,
    ],
    [
      '{"defaultAction":"SCMP_ACT_ALLOW","archMap":[{"architecture":"x"}]}',
      /archMap\[0\].architecture: unknown architecture "x"/,
    ],
    ['{"defaultAction":"SCMP_ACT_ALLOW","syscalls":{}}', /syscalls: not an array/],
    [base({ names: ["read"] }), /syscalls\[0\].action: missing/],
    [base({ action: "SCMP_ACT_ALLOW" }), /syscalls\[0\].names: missing/],
    [base({ names: [1], action: "SCMP_ACT_ALLOW" }), /syscalls\[0\].names\[0\]: not a string "1"/],
    [
      base({ names: ["read"], action: "SCMP_ACT_NOTIFY" }),
      /syscalls\[0\].action: unsupported action "SCMP_ACT_NOTIFY"/,
    ],
    [
      base({
        names: ["read"],
        action: "SCMP_ACT_ALLOW",
        args: [{ index: 6, value: 0, op: "SCMP_CMP_EQ" }],
      }),
      /syscalls\[0\].args\[0\].index: not an argument index \(0 to 5\) "6"/,
    ],
    [
      base({
        names: ["read"],
        action: "SCMP_ACT_ALLOW",
        args: [{ index: 0, value: 0, op: "SCMP_CMP_XX" }],
      }),
      /syscalls\[0\].args\[0\].op: unknown operator "SCMP_CMP_XX"/,
    ],
    [
      base({
        names: ["read"],
        action: "SCMP_ACT_ALLOW",
        args: [{ index: 0, value: -1, op: "SCMP_CMP_EQ" }],
      }),
      /syscalls\[0\].args\[0\].value: not an unsigned 64-bit integer "-1"/,
    ],
    [
      '{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["read"],"action":"SCMP_ACT_ALLOW",' +
      '"args":[{"index":0,"value":18446744073709551616,"op":"SCMP_CMP_EQ"}]}]}',
      /args\[0\].value: not an unsigned 64-bit integer "18446744073709551616"/,
    ],
    [
      base({ names: ["read"], action: "SCMP_ACT_ALLOW", args: [{ index: 0, op: "SCMP_CMP_EQ" }] }),
      /syscalls\[0\].args\[0\].value: missing/,
    ],
    [
      base({ names: ["read"], action: "SCMP_ACT_ALLOW", includes: { caps: ["CAP_FOO"] } }),
      /syscalls\[0\].includes.caps\[0\]: unknown capability "CAP_FOO"/,
    ],
    [
      base({ names: ["read"], action: "SCMP_ACT_ALLOW", excludes: { minKernel: "new" } }),
      /syscalls\[0\].excludes.minKernel: not a kernel version "new"/,
    ],
    [
      base({ names: ["read"], action: "SCMP_ACT_ERRNO", errnoRet: "EPERM" }),
      /syscalls\[0\].errnoRet: not an errno number \(0 to 65535\) "EPERM"/,
    ],
  ];
  for (const [json, pattern] of cases) assert.match(profileError(json), pattern, json);
});

Deno.test("seccomp profile: Docker's fields parse, old single names fold in, unknown fields are ignored", () => {
  const p = parseProfile(JSON.stringify({
    defaultAction: "SCMP_ACT_ERRNO",
    defaultErrnoRet: 1,
    archMap: [{ architecture: "SCMP_ARCH_X86_64", subArchitectures: ["SCMP_ARCH_X86"] }],
    architectures: null,
    flags: ["SECCOMP_FILTER_FLAG_LOG"],
    listenerPath: "",
    syscalls: [
      { name: "read", action: "SCMP_ACT_ALLOW", args: [] },
      {
        names: ["clone"],
        action: "SCMP_ACT_ALLOW",
        args: [{ index: 0, value: 2114060288, op: "SCMP_CMP_MASKED_EQ" }],
        excludes: { caps: ["CAP_SYS_ADMIN"], arches: ["s390x"] },
        comment: "",
      },
    ],
  }));
  assert.equal(p.defaultErrnoRet, 1);
  assert.deepEqual(p.archMap, [
    { architecture: "SCMP_ARCH_X86_64", subArchitectures: ["SCMP_ARCH_X86"] },
  ]);
  assert.equal(p.architectures, undefined);
  assert.deepEqual(p.syscalls[0], { names: ["read"], action: "SCMP_ACT_ALLOW" });
  assert.deepEqual(p.syscalls[1]?.args, [
    { index: 0, value: 2114060288n, valueTwo: 0n, op: "SCMP_CMP_MASKED_EQ" },
  ]);
});

Deno.test("seccomp profile: 64-bit values beyond 2^53 are read exactly", () => {
  const p = parseProfile(
    '{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["read"],"action":"SCMP_ACT_ALLOW",' +
      '"args":[{"index":1,"value":18446744073709551615,"valueTwo":9007199254740993,' +
      '"op":"SCMP_CMP_MASKED_EQ"}]}]}',
  );
  const arg = p.syscalls[0]?.args?.[0];
  assert.equal(arg?.value, 0xffffffffffffffffn);
  assert.equal(arg?.valueTwo, 9007199254740993n);
});

Deno.test("seccomp: actions map to the kernel's return values", () => {
  const program = compileProfile({
    defaultAction: "SCMP_ACT_ERRNO",
    defaultErrnoRet: 13,
    syscalls: [
      { names: ["read"], action: "SCMP_ACT_ALLOW" },
      { names: ["write"], action: "SCMP_ACT_ERRNO" },
      { names: ["close"], action: "SCMP_ACT_ERRNO", errnoRet: 38 },
      { names: ["openat"], action: "SCMP_ACT_KILL" },
      { names: ["mmap"], action: "SCMP_ACT_KILL_PROCESS" },
      { names: ["brk"], action: "SCMP_ACT_TRAP" },
      { names: ["dup"], action: "SCMP_ACT_LOG" },
      { names: ["dup2"], action: "SCMP_ACT_TRACE", errnoRet: 5 },
      { names: ["dup3"], action: "SCMP_ACT_KILL_THREAD" },
    ],
  }, X86_64);
  assert.equal(run(program, "read"), SECCOMP_RET_ALLOW);
  assert.equal(run(program, "write"), EPERM);
  assert.equal(run(program, "close"), seccompErrno(38));
  assert.equal(run(program, "openat"), SECCOMP_RET_KILL_THREAD);
  assert.equal(run(program, "mmap"), SECCOMP_RET_KILL_PROCESS);
  assert.equal(run(program, "brk"), SECCOMP_RET_TRAP);
  assert.equal(run(program, "dup"), SECCOMP_RET_LOG);
  assert.equal(run(program, "dup2"), seccompTrace(5));
  assert.equal(run(program, "dup3"), SECCOMP_RET_KILL_THREAD);
  assert.equal(run(program, "getpid"), seccompErrno(13));
});

Deno.test("seccomp: a foreign architecture is killed before the number is looked at", () => {
  const profile: SeccompProfile = {
    defaultAction: "SCMP_ACT_ALLOW",
    syscalls: [],
  };
  const program = compileProfile(profile, X86_64);
  assert.equal(run(program, "read"), SECCOMP_RET_ALLOW);
  assert.equal(run(program, "read", [], AUDIT_ARCH_I386), SECCOMP_RET_KILL_PROCESS);
  assert.equal(run(program, "read", [], AUDIT_ARCH_AARCH64), SECCOMP_RET_KILL_PROCESS);
  const errno = compileProfile(profile, { ...X86_64, badArchAction: EPERM });
  assert.equal(run(errno, "read", [], AUDIT_ARCH_I386), EPERM);
});

Deno.test("seccomp: x32 system call numbers are refused on x86_64", () => {
  const program = compileProfile({ defaultAction: "SCMP_ACT_ALLOW", syscalls: [] }, X86_64);
  const x32Read = 0x40000000 + nr("read");
  assert.equal(
    runFilter(program, { nr: x32Read, arch: AUDIT_ARCH_X86_64 }),
    SECCOMP_RET_KILL_PROCESS,
  );
  assert.equal(runFilter(program, { nr: -1, arch: AUDIT_ARCH_X86_64 }), SECCOMP_RET_KILL_PROCESS);
});

Deno.test("seccomp: aarch64 programs use the generic numbers and check AUDIT_ARCH_AARCH64", () => {
  const program = compileProfile({
    defaultAction: "SCMP_ACT_ERRNO",
    syscalls: [{ names: ["openat", "open"], action: "SCMP_ACT_ALLOW" }],
  }, { arch: "aarch64", capabilities: 0n });
  const openat = syscallTable("aarch64")["openat"];
  assert.equal(openat, 56);
  assert.equal(runFilter(program, { nr: 56, arch: AUDIT_ARCH_AARCH64 }), SECCOMP_RET_ALLOW);
  assert.equal(runFilter(program, { nr: 257, arch: AUDIT_ARCH_AARCH64 }), EPERM);
  assert.equal(runFilter(program, { nr: 56, arch: AUDIT_ARCH_X86_64 }), SECCOMP_RET_KILL_PROCESS);
  // x32 numbers mean nothing on aarch64: just an unknown number, given the default action.
  assert.equal(runFilter(program, { nr: 0x40000038, arch: AUDIT_ARCH_AARCH64 }), EPERM);
});

Deno.test("seccomp: names unknown on the architecture are ignored", () => {
  const program = compileProfile({
    defaultAction: "SCMP_ACT_ERRNO",
    syscalls: [{
      names: ["no_such_call", "chown32", "read", "__proto__"],
      action: "SCMP_ACT_ALLOW",
    }],
  }, X86_64);
  assert.equal(run(program, "read"), SECCOMP_RET_ALLOW);
});

const OPS: Record<SeccompOperator, (a: bigint, v: bigint, v2: bigint) => boolean> = {
  SCMP_CMP_NE: (a, v) => a !== v,
  SCMP_CMP_LT: (a, v) => a < v,
  SCMP_CMP_LE: (a, v) => a <= v,
  SCMP_CMP_EQ: (a, v) => a === v,
  SCMP_CMP_GE: (a, v) => a >= v,
  SCMP_CMP_GT: (a, v) => a > v,
  SCMP_CMP_MASKED_EQ: (a, v, v2) => (a & v) === v2,
};

Deno.test("seccomp: every comparison holds on 64-bit values whose high halves differ", () => {
  const value = 0x1_0000_0005n;
  const probes = [
    0n,
    5n,
    6n,
    0xffff_ffffn,
    0x1_0000_0004n,
    0x1_0000_0005n,
    0x1_0000_0006n,
    0x1_ffff_ffffn,
    0x2_0000_0000n,
    0x2_0000_0005n,
    0xffff_ffff_ffff_ffffn,
  ];
  for (const op of Object.keys(OPS) as SeccompOperator[]) {
    const [v, v2] = op === "SCMP_CMP_MASKED_EQ" ? [0xff_0000_00ffn, 0x01_0000_0005n] : [value, 0n];
    const json = `{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{"names":["ioctl"],` +
      `"action":"SCMP_ACT_ALLOW","args":[{"index":2,"value":${v},"valueTwo":${v2},"op":"${op}"}]}]}`;
    const program = compileProfile(parseProfile(json), X86_64);
    for (const a of probes) {
      const want = OPS[op](a, v, v2) ? SECCOMP_RET_ALLOW : EPERM;
      assert.equal(run(program, "ioctl", [0, 0, a]), want, `${op} ${a.toString(16)}`);
    }
  }
});

Deno.test("seccomp: conditions on different arguments are all required", () => {
  const program = compileProfile({
    defaultAction: "SCMP_ACT_ERRNO",
    syscalls: [{
      names: ["socket"],
      action: "SCMP_ACT_ALLOW",
      args: [
        { index: 0, value: 2, op: "SCMP_CMP_EQ" },
        { index: 1, value: 0xf, valueTwo: 1, op: "SCMP_CMP_MASKED_EQ" },
      ],
    }],
  }, X86_64);
  assert.equal(run(program, "socket", [2, 1]), SECCOMP_RET_ALLOW);
  assert.equal(run(program, "socket", [2, 0x80001]), SECCOMP_RET_ALLOW);
  assert.equal(run(program, "socket", [2, 2]), EPERM);
  assert.equal(run(program, "socket", [10, 1]), EPERM);
});

Deno.test("seccomp: conditions repeating an argument are alternatives, as runc does", () => {
  const program = compileProfile({
    defaultAction: "SCMP_ACT_ERRNO",
    syscalls: [{
      names: ["personality"],
      action: "SCMP_ACT_ALLOW",
      args: [
        { index: 0, value: 0, op: "SCMP_CMP_EQ" },
        { index: 0, value: 8, op: "SCMP_CMP_EQ" },
      ],
    }],
  }, X86_64);
  assert.equal(run(program, "personality", [0]), SECCOMP_RET_ALLOW);
  assert.equal(run(program, "personality", [8]), SECCOMP_RET_ALLOW);
  assert.equal(run(program, "personality", [1]), EPERM);
});

Deno.test("seccomp: rules with conditions come before the unconditional rule of a call", () => {
  const program = compileProfile({
    defaultAction: "SCMP_ACT_ALLOW",
    syscalls: [
      { names: ["kill"], action: "SCMP_ACT_ERRNO", errnoRet: 3 },
      {
        names: ["kill"],
        action: "SCMP_ACT_ALLOW",
        args: [{ index: 1, value: 0, op: "SCMP_CMP_EQ" }],
      },
      {
        names: ["kill"],
        action: "SCMP_ACT_TRAP",
        args: [{ index: 1, value: 9, op: "SCMP_CMP_EQ" }],
      },
    ],
  }, X86_64);
  assert.equal(run(program, "kill", [1, 0]), SECCOMP_RET_ALLOW);
  assert.equal(run(program, "kill", [1, 9]), SECCOMP_RET_TRAP);
  assert.equal(run(program, "kill", [1, 15]), seccompErrno(3));
});

Deno.test("seccomp: includes and excludes follow capabilities, architecture and kernel", () => {
  const profile = parseProfile(JSON.stringify({
    defaultAction: "SCMP_ACT_ERRNO",
    syscalls: [
      { names: ["chroot"], action: "SCMP_ACT_ALLOW", includes: { caps: ["CAP_SYS_CHROOT"] } },
      {
        names: ["acct"],
        action: "SCMP_ACT_ALLOW",
        includes: { caps: ["CAP_SYS_PACCT", "CAP_SYS_ADMIN"] },
      },
      { names: ["getpid"], action: "SCMP_ACT_ALLOW", excludes: { caps: ["CAP_KILL", "CAP_BPF"] } },
      { names: ["arch_prctl"], action: "SCMP_ACT_ALLOW", includes: { arches: ["amd64", "x32"] } },
      { names: ["gettid"], action: "SCMP_ACT_ALLOW", excludes: { arches: ["amd64"] } },
      { names: ["ptrace"], action: "SCMP_ACT_ALLOW", includes: { minKernel: "4.8" } },
      { names: ["uname"], action: "SCMP_ACT_ALLOW", excludes: { minKernel: "5.0" } },
    ],
  }));
  const none = compileProfile(profile, X86_64);
  assert.equal(run(none, "chroot"), EPERM);
  assert.equal(run(none, "getpid"), SECCOMP_RET_ALLOW);
  assert.equal(run(none, "arch_prctl"), SECCOMP_RET_ALLOW);
  assert.equal(run(none, "gettid"), EPERM);
  assert.equal(run(none, "ptrace"), SECCOMP_RET_ALLOW);
  assert.equal(run(none, "uname"), EPERM);

  const caps = (1n << 18n) | (1n << 20n) | (1n << 5n); // SYS_CHROOT, SYS_PACCT, KILL
  const some = compileProfile(profile, { ...X86_64, capabilities: caps });
  assert.equal(run(some, "chroot"), SECCOMP_RET_ALLOW);
  assert.equal(run(some, "acct"), EPERM, "includes needs every capability listed");
  assert.equal(run(some, "getpid"), EPERM, "excludes needs any capability listed");

  const old = compileProfile(profile, { ...X86_64, kernelRelease: "4.4.0-210-generic" });
  assert.equal(run(old, "ptrace"), EPERM);
  assert.equal(run(old, "uname"), SECCOMP_RET_ALLOW);
  const recent = compileProfile(profile, { ...X86_64, kernelRelease: "6.18.0" });
  assert.equal(run(recent, "ptrace"), SECCOMP_RET_ALLOW);
  assert.equal(run(recent, "uname"), EPERM);
});

Deno.test("seccomp: compiling checks a hand-written profile too", () => {
  const bad = {
    defaultAction: "SCMP_ACT_ERRNO",
    syscalls: [{
      names: ["read"],
      action: "SCMP_ACT_ALLOW",
      args: [{ index: 9, value: 0, op: "SCMP_CMP_EQ" }],
    }],
  } as unknown as SeccompProfile;
  assert.throws(() => compileProfile(bad, X86_64), /syscalls\[0\].args\[0\].index/);
});

Deno.test("seccomp: every system call number gets an action from a large profile", () => {
  const names = Object.keys(X86);
  const program = compileProfile({
    defaultAction: "SCMP_ACT_ERRNO",
    syscalls: [
      { names: names.filter((_, i) => i % 2 === 0), action: "SCMP_ACT_ALLOW" },
      { names: names.filter((_, i) => i % 3 === 1), action: "SCMP_ACT_LOG" },
    ],
  }, X86_64);
  names.forEach((name, i) => {
    const want = i % 2 === 0 ? SECCOMP_RET_ALLOW : i % 3 === 1 ? SECCOMP_RET_LOG : EPERM;
    assert.equal(run(program, name), want, name);
  });
  for (let n = 0; n < 1024; n++) {
    const got = runFilter(program, { nr: n, arch: AUDIT_ARCH_X86_64 });
    assert.ok([SECCOMP_RET_ALLOW, SECCOMP_RET_LOG, EPERM].includes(got));
  }
});
