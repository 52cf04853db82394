// Tests for the behaviour of paranoid's default seccomp profile on both architectures.

import assert from "node:assert/strict";
import {
  AUDIT_ARCH_AARCH64,
  AUDIT_ARCH_I386,
  AUDIT_ARCH_X86_64,
  BPF_MAXINSNS,
  SECCOMP_RET_ALLOW,
  SECCOMP_RET_KILL_PROCESS,
  seccompErrno,
} from "./bpf.ts";
import { runFilter } from "./bpf_interpreter_test_helper.ts";
import { checkProfile, type SeccompArch, syscallTable } from "./profile.ts";
import {
  CLONE_NAMESPACE_FLAGS,
  compileDefaultProfile,
  DEFAULT_PROFILE,
  hostArch,
  UNSHARE_NAMESPACE_FLAGS,
} from "./default.ts";
import { capabilityMask, DOCKER_DEFAULT_CAPABILITY_MASK, resolveCapabilities } from "../caps.ts";

const EPERM = seccompErrno(1);
const ENOSYS = seccompErrno(38);
const AUDIT: Record<SeccompArch, number> = {
  x86_64: AUDIT_ARCH_X86_64,
  aarch64: AUDIT_ARCH_AARCH64,
};
const ARCHES: SeccompArch[] = ["x86_64", "aarch64"];

const CLONE_VM = 0x100;
const CLONE_FS = 0x200;
const CLONE_FILES = 0x400;
const CLONE_SIGHAND = 0x800;
const CLONE_THREAD = 0x10000;
const CLONE_SYSVSEM = 0x40000;
const CLONE_SETTLS = 0x80000;
const CLONE_PARENT_SETTID = 0x100000;
const CLONE_CHILD_CLEARTID = 0x200000;
const CLONE_CHILD_SETTID = 0x01000000;
const CLONE_NEWNS = 0x20000;
const CLONE_NEWUSER = 0x10000000;
const CLONE_NEWNET = 0x40000000;
const CLONE_NEWTIME = 0x80;
const SIGCHLD = 17;
/** What glibc's fork() passes to clone. */
const FORK_FLAGS = CLONE_CHILD_SETTID | CLONE_CHILD_CLEARTID | SIGCHLD;
/** What glibc's pthread_create() passes to clone. */
const THREAD_FLAGS = CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND | CLONE_THREAD |
  CLONE_SYSVSEM | CLONE_SETTLS | CLONE_PARENT_SETTID | CLONE_CHILD_CLEARTID;

const DEFAULT_CAPS = DOCKER_DEFAULT_CAPABILITY_MASK;
const WITH_SYS_ADMIN = resolveCapabilities(["SYS_ADMIN"], []);

/** Runs the default profile compiled for `arch` with `caps` on one call. */
function call(
  arch: SeccompArch,
  caps: bigint,
  name: string,
  args: (bigint | number)[] = [],
): number {
  const nr = syscallTable(arch)[name];
  if (nr === undefined) throw new Error(`no "${name}" on ${arch}`);
  return runFilter(compiled(arch, caps), { nr, arch: AUDIT[arch], args });
}

const cache = new Map<string, Uint8Array>();
function compiled(arch: SeccompArch, caps: bigint): Uint8Array {
  const key = `${arch}/${caps}`;
  let program = cache.get(key);
  if (!program) {
    program = compileDefaultProfile(caps, arch);
    cache.set(key, program);
  }
  return program;
}

Deno.test("seccomp: the default profile is a valid profile and fits the kernel's limit", () => {
  checkProfile(DEFAULT_PROFILE);
  for (const arch of ARCHES) {
    for (const caps of [0n, DEFAULT_CAPS, WITH_SYS_ADMIN, (1n << 41n) - 1n]) {
      assert.ok(compiled(arch, caps).length / 8 < BPF_MAXINSNS);
    }
  }
  assert.ok(ARCHES.includes(hostArch()));
});

Deno.test("seccomp: read, write, openat and execve are allowed", () => {
  for (const arch of ARCHES) {
    for (const name of ["read", "write", "openat", "execve", "close", "mmap", "exit_group"]) {
      assert.equal(call(arch, DEFAULT_CAPS, name), SECCOMP_RET_ALLOW, `${arch} ${name}`);
    }
  }
  assert.equal(call("x86_64", DEFAULT_CAPS, "open"), SECCOMP_RET_ALLOW);
  assert.equal(call("x86_64", DEFAULT_CAPS, "arch_prctl"), SECCOMP_RET_ALLOW);
});

Deno.test("seccomp: unshare with CLONE_NEWUSER is refused without CAP_SYS_ADMIN", () => {
  for (const arch of ARCHES) {
    assert.equal(call(arch, DEFAULT_CAPS, "unshare", [CLONE_NEWUSER]), EPERM);
    assert.equal(call(arch, DEFAULT_CAPS, "unshare", [CLONE_NEWNS | CLONE_FS]), EPERM);
    assert.equal(call(arch, DEFAULT_CAPS, "unshare", [CLONE_NEWTIME]), EPERM);
  }
});

Deno.test("seccomp: unshare with CLONE_NEWUSER is allowed with CAP_SYS_ADMIN", () => {
  for (const arch of ARCHES) {
    assert.equal(call(arch, WITH_SYS_ADMIN, "unshare", [CLONE_NEWUSER]), SECCOMP_RET_ALLOW);
    assert.equal(call(arch, WITH_SYS_ADMIN, "setns", [3, 0]), SECCOMP_RET_ALLOW);
    assert.equal(call(arch, WITH_SYS_ADMIN, "mount"), SECCOMP_RET_ALLOW);
  }
});

Deno.test("seccomp: unshare without namespace flags is allowed", () => {
  for (const arch of ARCHES) {
    assert.equal(call(arch, DEFAULT_CAPS, "unshare", [CLONE_FILES | CLONE_FS]), SECCOMP_RET_ALLOW);
  }
});

Deno.test("seccomp: clone with CLONE_NEWNS is refused without CAP_SYS_ADMIN", () => {
  for (const arch of ARCHES) {
    assert.equal(call(arch, DEFAULT_CAPS, "clone", [CLONE_NEWNS | SIGCHLD]), EPERM);
    assert.equal(call(arch, DEFAULT_CAPS, "clone", [CLONE_NEWNET | FORK_FLAGS]), EPERM);
    assert.equal(call(arch, WITH_SYS_ADMIN, "clone", [CLONE_NEWNS | SIGCHLD]), SECCOMP_RET_ALLOW);
  }
});

Deno.test("seccomp: fork-like and thread-like clone is allowed", () => {
  for (const arch of ARCHES) {
    assert.equal(call(arch, DEFAULT_CAPS, "clone", [FORK_FLAGS]), SECCOMP_RET_ALLOW);
    assert.equal(call(arch, DEFAULT_CAPS, "clone", [THREAD_FLAGS]), SECCOMP_RET_ALLOW);
    // the exit signal byte may hold any signal, including 0x80-range bits
    assert.equal(call(arch, DEFAULT_CAPS, "clone", [0xff]), SECCOMP_RET_ALLOW);
    // high bits of the 64-bit register outside the mask do not matter
    assert.equal(
      call(arch, DEFAULT_CAPS, "clone", [0x1_0000_0000n | BigInt(FORK_FLAGS)]),
      SECCOMP_RET_ALLOW,
    );
  }
  assert.equal(CLONE_NAMESPACE_FLAGS, 0x7e020000);
  assert.equal(UNSHARE_NAMESPACE_FLAGS, 0x7e020080);
});

Deno.test("seccomp: clone3 fails with ENOSYS so that libc falls back to clone", () => {
  for (const arch of ARCHES) {
    assert.equal(call(arch, DEFAULT_CAPS, "clone3"), ENOSYS);
    assert.equal(call(arch, WITH_SYS_ADMIN, "clone3"), SECCOMP_RET_ALLOW);
  }
});

Deno.test("seccomp: keyrings, modules, kexec and other host-wide calls are refused", () => {
  const refused = [
    "keyctl",
    "add_key",
    "request_key",
    "kexec_load",
    "kexec_file_load",
    "init_module",
    "finit_module",
    "delete_module",
    "bpf",
    "perf_event_open",
    "userfaultfd",
    "open_by_handle_at",
    "acct",
    "swapon",
    "swapoff",
    "reboot",
    "settimeofday",
    "clock_settime",
    "mount",
    "umount2",
    "pivot_root",
    "setns",
    "lookup_dcookie",
    "quotactl",
    "syslog",
    "nfsservctl",
    "ptrace",
    "process_vm_readv",
    "process_vm_writev",
    "chroot",
  ];
  for (const arch of ARCHES) {
    for (const name of refused) {
      assert.equal(call(arch, 0n, name), EPERM, `${arch} ${name}`);
    }
  }
  for (const name of ["iopl", "ioperm", "uselib", "_sysctl", "ustat", "sysfs"]) {
    assert.equal(call("x86_64", DEFAULT_CAPS, name), EPERM, name);
  }
  // keyctl stays refused even with every capability
  assert.equal(call("x86_64", (1n << 41n) - 1n, "keyctl"), EPERM);
});

Deno.test("seccomp: ptrace and friends follow CAP_SYS_PTRACE", () => {
  const caps = capabilityMask(["CAP_SYS_PTRACE"]);
  for (const arch of ARCHES) {
    for (const name of ["ptrace", "process_vm_readv", "process_vm_writev", "kcmp"]) {
      assert.equal(call(arch, DEFAULT_CAPS, name), EPERM, `${arch} ${name}`);
      assert.equal(call(arch, caps, name), SECCOMP_RET_ALLOW, `${arch} ${name}`);
    }
  }
});

Deno.test("seccomp: other gated calls follow their capability", () => {
  const cases: [string, string][] = [
    ["syslog", "CAP_SYSLOG"],
    ["reboot", "CAP_SYS_BOOT"],
    ["init_module", "CAP_SYS_MODULE"],
    ["acct", "CAP_SYS_PACCT"],
    ["settimeofday", "CAP_SYS_TIME"],
    ["open_by_handle_at", "CAP_DAC_READ_SEARCH"],
    ["bpf", "CAP_BPF"],
    ["perf_event_open", "CAP_PERFMON"],
    ["vhangup", "CAP_SYS_TTY_CONFIG"],
    ["mbind", "CAP_SYS_NICE"],
  ];
  for (const [name, cap] of cases) {
    assert.equal(call("x86_64", 0n, name), EPERM, name);
    assert.equal(call("x86_64", capabilityMask([cap]), name), SECCOMP_RET_ALLOW, name);
  }
  assert.equal(call("x86_64", DEFAULT_CAPS, "chroot"), SECCOMP_RET_ALLOW);
  assert.equal(call("x86_64", capabilityMask(["CAP_SYS_RAWIO"]), "iopl"), SECCOMP_RET_ALLOW);
});

Deno.test("seccomp: personality is limited to the safe values", () => {
  for (const arch of ARCHES) {
    for (const value of [0, 8, 0x20000, 0x20008, 0xffffffff]) {
      assert.equal(call(arch, DEFAULT_CAPS, "personality", [value]), SECCOMP_RET_ALLOW);
    }
    // READ_IMPLIES_EXEC, ADDR_NO_RANDOMIZE, and a value equal only in its low half
    for (const value of [0x0400000, 0x0040000, 0x1_0000_0000n]) {
      assert.equal(call(arch, DEFAULT_CAPS, "personality", [value]), EPERM);
    }
  }
});

Deno.test("seccomp: socket is allowed except for AF_VSOCK", () => {
  for (const arch of ARCHES) {
    assert.equal(call(arch, DEFAULT_CAPS, "socket", [2, 1, 0]), SECCOMP_RET_ALLOW);
    assert.equal(call(arch, DEFAULT_CAPS, "socket", [40, 1, 0]), EPERM);
  }
});

Deno.test("seccomp: a foreign architecture is killed by the default profile", () => {
  const program = compiled("x86_64", DEFAULT_CAPS);
  assert.equal(runFilter(program, { nr: 3, arch: AUDIT_ARCH_I386 }), SECCOMP_RET_KILL_PROCESS);
  assert.equal(runFilter(program, { nr: 63, arch: AUDIT_ARCH_AARCH64 }), SECCOMP_RET_KILL_PROCESS);
  const arm = compiled("aarch64", DEFAULT_CAPS);
  assert.equal(runFilter(arm, { nr: 0, arch: AUDIT_ARCH_X86_64 }), SECCOMP_RET_KILL_PROCESS);
});

Deno.test("seccomp: an x32 system call is refused by the default profile", () => {
  const program = compiled("x86_64", DEFAULT_CAPS);
  const x32Read = 0x40000000;
  assert.equal(
    runFilter(program, { nr: x32Read, arch: AUDIT_ARCH_X86_64 }),
    SECCOMP_RET_KILL_PROCESS,
  );
  assert.equal(
    runFilter(program, { nr: 0x40000000 + 59, arch: AUDIT_ARCH_X86_64 }),
    SECCOMP_RET_KILL_PROCESS,
  );
});

Deno.test("seccomp: numbers no table knows get EPERM", () => {
  for (const arch of ARCHES) {
    const program = compiled(arch, DEFAULT_CAPS);
    for (const nr of [1000, 0x3fffffff]) {
      assert.equal(runFilter(program, { nr, arch: AUDIT[arch] }), EPERM);
    }
  }
});
