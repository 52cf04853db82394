// The finish program of a container's INIT process: standard streams, directory, seccomp, bounding set, user, capabilities, signals, the start gate.

import { capsetArguments, dispositionSettable, PR } from "../../../ffi/process.ts";
import { SYSCALL_NUMBERS } from "../../../ffi/raw_calls.ts";
import type { ContainerSpec } from "../spec.ts";
import type { ProgramBuilder, Register } from "./program.ts";
import { INIT_HOOK, type InitContext } from "./init_context.ts";

const EINVAL = 22;
const EPERM = 1;
const CLOSE_RANGE_CLOEXEC = 4;
const SECCOMP_MODE_FILTER = 2;
const SIGKILL = 9;
const SIG_SETMASK = 2;
const SIGSET_SIZE = 8;

/** Whether bit `n` (0 to 63) of a 64-bit mask is set, without a BigInt per test. */
function hasBit(mask: bigint, n: number): boolean {
  const half = n < 32 ? Number(mask & 0xffffffffn) : Number((mask >> 32n) & 0xffffffffn);
  return ((half >>> (n & 31)) & 1) === 1;
}

/**
 * Writes the finish program for `spec` into `p`; `gate` is the register of the start gate's
 * descriptor (written by the setup program), or null.
 */
export function writeFinish(
  p: ProgramBuilder,
  spec: ContainerSpec,
  context: InitContext,
  gate: Register | null,
): void {
  const nr = SYSCALL_NUMBERS;
  if (spec.tty) {
    const size = spec.windowSize;
    p.hook("attach the terminal", INIT_HOOK.terminal, [size?.rows ?? 0, size?.columns ?? 0]);
  } else {
    const named = { step: "attach stdin, stdout and stderr" };
    p.call(nr.setsid, [], { ...named, syscall: "setsid" });
    context.stdio.forEach((fd, i) => {
      if (fd !== i) p.call(nr.dup3, [fd, i, 0], { ...named, syscall: "dup2", path: String(fd) });
    });
  }
  // Every descriptor but the standard three closes when INIT is executed.
  p.call(nr.close_range, [3, 0xffffffff, CLOSE_RANGE_CLOEXEC], {
    step: "close inherited descriptors",
    syscall: "close_range",
  });
  p.call(nr.chdir, [p.cstr(spec.cwd)], {
    step: `change directory to ${spec.cwd}`,
    syscall: "chdir",
    path: spec.cwd,
  });
  let fprog: Uint8Array | null = null;
  if (spec.seccomp !== null) {
    const filter = p.bytes(spec.seccomp);
    const prog = new Uint8Array(16); // struct sock_fprog
    const v = new DataView(prog.buffer);
    v.setUint16(0, spec.seccomp.length / 8, true);
    v.setBigUint64(8, BigInt(p.address(filter)), true);
    fprog = p.bytes(prog);
  }
  const seccomp = () =>
    p.call(nr.prctl, [PR.SET_SECCOMP, SECCOMP_MODE_FILTER, fprog!, 0, 0], {
      step: "install the seccomp filter",
      syscall: "seccomp",
    });
  // Without no_new_privs the kernel wants CAP_SYS_ADMIN to install a filter: install it
  // while INIT's process still has it, before capabilities and user change (as runc does).
  const early = fprog !== null && !spec.noNewPrivileges;
  if (early) seccomp();
  for (let cap = 0; cap <= Math.max(context.lastCapability, 0); cap++) {
    if (hasBit(spec.capabilities, cap)) continue;
    p.call(nr.prctl, [PR.CAPBSET_DROP, cap, 0, 0, 0], {
      step: "limit the capability bounding set",
      syscall: "prctl",
      path: `PR_CAPBSET_DROP ${cap}`,
      tolerate: [EINVAL], // a capability this kernel does not know
    });
  }
  writeSwitchUser(p, spec, context);
  writeCapabilities(p, spec);
  if (spec.noNewPrivileges) {
    p.call(nr.prctl, [PR.SET_NO_NEW_PRIVS, 1, 0, 0, 0], {
      step: "set no_new_privs",
      syscall: "prctl",
    });
  }
  p.call(nr.prctl, [PR.SET_PDEATHSIG, SIGKILL, 0, 0, 0], {
    step: "set the parent death signal",
    syscall: "prctl",
  });
  // Default dispositions, then no signal blocked (the child blocked them all when it was
  // born, so that no handler of the host side's ran in it): execve would keep an ignored
  // signal ignored, and before the gate a handler would catch what should end a created
  // container (SIGTERM).
  const dfl = p.bytes(new Uint8Array(32)); // struct sigaction with SIG_DFL
  const reset = new Set([...context.signals.ignored, ...context.signals.caught]);
  for (const sig of [...reset].filter(dispositionSettable).sort((a, b) => a - b)) {
    p.call(nr.rt_sigaction, [sig, dfl, 0, SIGSET_SIZE], {
      step: "reset signal dispositions",
      syscall: "rt_sigaction",
      optional: true,
    });
  }
  p.call(nr.rt_sigprocmask, [SIG_SETMASK, p.bytes(new Uint8Array(8)), 0, SIGSET_SIZE], {
    step: "reset signal dispositions",
    syscall: "rt_sigprocmask",
    optional: true,
  });
  if (gate !== null) p.hook("wait at the start gate", INIT_HOOK.gate, [gate]);
  if (fprog !== null && !early) seccomp();
  // The host side tells INIT executed from a child that died before: this comes first.
  const executing = new TextEncoder().encode(JSON.stringify({ t: "exec" }));
  p.call(nr.write, [context.sock, p.bytes(executing), executing.length], {
    step: "tell the host side INIT is executed",
    syscall: "write",
  });
}

function writeSwitchUser(p: ProgramBuilder, spec: ContainerSpec, context: InitContext): void {
  const nr = SYSCALL_NUMBERS;
  const step = `switch to user ${spec.uid}:${spec.gid}`;
  const groups = new Uint32Array(spec.groups);
  // Where setgroups is denied (one id mapped, or inside a parent namespace such as rootless
  // Podman's), the process keeps the groups it has.
  p.call(nr.setgroups, [spec.groups.length, p.bytes(new Uint8Array(groups.buffer))], {
    step,
    syscall: "setgroups",
    tolerate: context.setgroupsDenied ? [EPERM] : [],
  });
  p.call(nr.setresgid, [spec.gid, spec.gid, spec.gid], {
    step,
    syscall: "setresgid",
    path: String(spec.gid),
  });
  if (spec.uid !== 0) {
    p.call(nr.prctl, [PR.SET_KEEPCAPS, 1, 0, 0, 0], { step, syscall: "prctl" });
  }
  p.call(nr.setresuid, [spec.uid, spec.uid, spec.uid], {
    step,
    syscall: "setresuid",
    path: String(spec.uid),
  });
}

/**
 * Exactly the spec's sets when given (ambient raised), else its mask permitted, and effective
 * too for root, as Docker does.
 */
function writeCapabilities(p: ProgramBuilder, spec: ContainerSpec): void {
  const nr = SYSCALL_NUMBERS;
  const step = "set capabilities";
  const mask = spec.capabilities;
  const sets = spec.capabilitySets ?? {
    effective: spec.uid === 0 ? mask : 0n,
    permitted: mask,
    inheritable: 0n,
    ambient: 0n,
  };
  const { header, data } = capsetArguments(sets);
  p.call(nr.capset, [p.bytes(header), p.bytes(data)], { step, syscall: "capset" });
  p.call(nr.prctl, [PR.CAP_AMBIENT, PR.CAP_AMBIENT_CLEAR_ALL, 0, 0, 0], {
    step,
    syscall: "prctl",
  });
  for (let cap = 0; cap <= 63; cap++) {
    if (!hasBit(sets.ambient, cap)) continue;
    p.call(nr.prctl, [PR.CAP_AMBIENT, PR.CAP_AMBIENT_RAISE, cap, 0, 0], {
      step,
      syscall: "prctl",
      path: `PR_CAP_AMBIENT_RAISE ${cap}`,
    });
  }
}
