// The container init's work as syscall programs, written down by the host side before fork: root and mounts, then identity.
//
// Theory of operation: `prepareInit` turns a ContainerSpec into two programs
// (program.ts) and the list of paths INIT may be at. `setup` runs in pid 1
// right after fork: the mounts of the plan (mounts.ts), pivot_root, the
// hostname, lo and eth0. `finish` runs in the process that becomes INIT (pid 1,
// or pid 2 under --init's reaper): standard streams, working directory,
// seccomp, bounding set, user, capabilities, no_new_privs, signals, the start
// gate. Then INIT is executed along its candidates.
//
// Mount targets are container paths, resolved by the kernel inside the root:
// the mounts are made chrooted into it, so the rootfs's own symbolic links
// (absolute ones restart at the root, `..` stops there) can never send a mount
// outside it. Host paths (devices, volumes) are opened as detached mount trees
// (open_tree) before the chroot and attached with move_mount inside it. A
// descriptor of the host's root, taken before, leads back out for pivot_root,
// and is closed right after. Read-only is set with mount_setattr, which keeps
// the flags a mount has (so Linux 5.12 or later).

import { MNT_DETACH, MS, O, PR } from "../../../ffi/sys.ts";
import { SYSCALL_NUMBERS } from "../../../ffi/raw_calls.ts";
import { ETC_STAGING, type MountStep, planMounts } from "../mounts.ts";
import type { ContainerSpec } from "../spec.ts";
import { DEFAULT_PATH } from "./identity.ts";
import {
  type CallOptions,
  HeapMemory,
  ProgramBuilder,
  type ProgramMemory,
  type Register,
  type SyscallProgram,
} from "./program.ts";

/** What the init runs: the two programs and where INIT may be, in the programs' memory. */
export interface InitPrograms {
  /** pid 1, right after fork: mounts, root, hostname, network. */
  readonly setup: SyscallProgram;
  /** The process that becomes INIT: streams, identity, gate, seccomp. */
  readonly finish: SyscallProgram;
  /** Whether pid 1 stays as --init's reaper, with INIT as its child. */
  readonly reaper: boolean;
  /** Addresses of argv, envp and of each path INIT may be at (C strings). */
  readonly argv: number;
  readonly envp: number;
  readonly candidates: readonly number[];
  /** INIT as the user named it and its candidate paths as text (for errors). */
  readonly names: () => { readonly name: string; readonly candidates: readonly string[] };
}

/** The hooks of the init's programs, by id: the runner's table has them in this order. */
export const INIT_HOOK = {
  /** Configure eth0 and its IPv6: address, prefix length, gateway (uint32s) and MTU. */
  network: 0,
  /** Open a pty, send its master to the host, make it INIT's terminal: rows and columns (0: none). */
  terminal: 1,
  /** Wait at the start gate: the register holding its descriptor. */
  gate: 2,
  /** Make a container path, following the root's links: its C string's address, 1 for a file. */
  follow: 3,
} as const;

/** What the host knows that the programs depend on. */
export interface InitContext {
  /** The init's channel to the host side. */
  readonly sock: number;
  /** The signals the host side (and so the child, born its copy) ignores and catches. */
  readonly signals: { readonly ignored: readonly number[]; readonly caught: readonly number[] };
  /** The descriptors INIT's stdin, stdout and stderr come from. */
  readonly stdio: readonly [number, number, number];
  /** Whether setgroups(2) is denied in the container (one id mapped, or denied above us). */
  readonly setgroupsDenied: boolean;
  /** The highest capability number the kernel knows (/proc/sys/kernel/cap_last_cap). */
  readonly lastCapability: number;
}

const AT_FDCWD = -100;
const AT_REMOVEDIR = 0x200;
const AT_RECURSIVE = 0x8000;
const OPEN_TREE_CLONE = 1;
const MOVE_MOUNT_F_EMPTY_PATH = 4;
const MOUNT_ATTR_RDONLY = 1;
const MOUNT_ATTR_SIZE = 32;
const S_IFREG = 0o100000;
const EEXIST = 17;
const EINVAL = 22;
const ENOSYS = 38;
const EPERM = 1;
const CLOSE_RANGE_CLOEXEC = 4;
const SIOCSIFFLAGS = 0x8914;
const IFF_UP = 0x1;
const IFF_LOOPBACK = 0x8;
const IFF_RUNNING = 0x40;
const KEYCTL_JOIN_SESSION_KEYRING = 1;
const SECCOMP_MODE_FILTER = 2;
const SIGKILL = 9;
const SIG_SETMASK = 2;
const SIGSET_SIZE = 8;
const LINUX_CAPABILITY_VERSION_3 = 0x20080522;

/** Whether a signal's disposition may be set (not KILL, STOP or glibc's own 32 and 33). */
function catchable(sig: number): boolean {
  return sig >= 1 && sig < 65 && sig !== 9 && sig !== 19 && sig !== 32 && sig !== 33;
}

/** Whether bit `n` (0 to 63) of a 64-bit mask is set, without a BigInt per test. */
function hasBit(mask: bigint, n: number): boolean {
  const half = n < 32 ? Number(mask & 0xffffffffn) : Number((mask >> 32n) & 0xffffffffn);
  return ((half >>> (n & 31)) & 1) === 1;
}

/** The parent's of a container path ("/" for a top-level one). */
function parentOf(path: string): string {
  return path.slice(0, path.lastIndexOf("/")) || "/";
}

/** Writes the programs for `spec` into `memory` (the JavaScript heap unless given). */
export function prepareInit(
  spec: ContainerSpec,
  context: InitContext,
  memory: ProgramMemory = new HeapMemory(),
): InitPrograms {
  const p = new ProgramBuilder(memory);
  const gate = new SetupWriter(spec, context, p).write();
  const setup = p.end();
  writeFinish(p, spec, context, gate);
  const finish = p.end();
  const name = spec.argv[0] ?? "";
  const candidates = candidatesFor(name, spec.env);
  return {
    setup,
    finish,
    reaper: spec.init,
    argv: p.address(p.cstrArray(spec.argv)),
    envp: p.address(p.cstrArray(spec.env)),
    candidates: candidates.map((c) => p.address(p.cstr(c))),
    names: () => ({ name, candidates }),
  };
}

/** The paths execvp would try for `name`: itself when it holds a slash, else along PATH. */
export function candidatesFor(name: string, env: readonly string[]): string[] {
  if (name === "") return [];
  if (name.includes("/")) return [name];
  const path = env.find((e) => e.startsWith("PATH="))?.slice(5) ?? DEFAULT_PATH;
  return path.split(":").map((dir) => `${dir || "."}/${name}`);
}

/** Writes the setup program, keeping track of the directories it has made sure of. */
class SetupWriter {
  readonly program: ProgramBuilder;
  readonly #nr = SYSCALL_NUMBERS;
  /** Container directories known to exist at this point of the program. */
  readonly #ensured = new Set<string>(["/"]);
  readonly #spec: ContainerSpec;

  readonly #context: InitContext;

  constructor(spec: ContainerSpec, context: InitContext, program: ProgramBuilder) {
    this.#spec = spec;
    this.#context = context;
    this.program = program;
  }

  /** Writes the program; returns the register that will hold the start gate's descriptor. */
  write(): Register | null {
    const p = this.program;
    const nr = this.#nr;
    const spec = this.#spec;
    let gate: Register | null = null;
    if (spec.startGate !== null) {
      gate = p.register();
      p.call(nr.openat, [AT_FDCWD, p.cstr(spec.startGate), O.PATH | O.CLOEXEC, 0], {
        step: `open the start gate ${spec.startGate}`,
        syscall: "open",
        path: spec.startGate,
        result: gate,
      });
    }
    this.#writeRoot();
    if (spec.hostname !== "") {
      const name = new TextEncoder().encode(spec.hostname);
      p.call(nr.sethostname, [p.bytes(name), name.length], {
        step: "set the hostname",
        syscall: "sethostname",
        path: spec.hostname,
      });
    }
    // The user's session keyring must not be reachable from the container (runc and crun do the same).
    p.call(nr.keyctl, [KEYCTL_JOIN_SESSION_KEYRING, 0], {
      step: "join a fresh session keyring",
      syscall: "keyctl",
      path: "KEYCTL_JOIN_SESSION_KEYRING",
      tolerate: [ENOSYS],
    });
    this.#writeLoopback();
    if (spec.network.mode === "tap") {
      const n = spec.network;
      p.hook("configure eth0", INIT_HOOK.network, [n.address, n.prefixLength, n.gateway, n.mtu]);
    }
    return gate;
  }

  #writeRoot(): void {
    const p = this.program;
    const nr = this.#nr;
    const spec = this.#spec;
    const root = spec.root;
    p.call(nr.mount, [0, p.cstr("/"), 0, MS.REC | MS.PRIVATE, 0], {
      step: "make the host's mounts private",
      syscall: "mount",
      path: "/",
    });
    const overlay = spec.rootOverlay;
    if (overlay !== null) {
      const data = `lowerdir=${
        overlay.lower.join(":")
      },upperdir=${overlay.upper},workdir=${overlay.work},userxattr`;
      p.call(nr.mount, [p.cstr("overlay"), p.cstr(root), p.cstr("overlay"), 0, p.cstr(data)], {
        step: "mount the image's overlay root",
        syscall: "mount",
        path: root,
      });
    }
    p.call(nr.mount, [p.cstr(root), p.cstr(root), 0, MS.BIND | MS.REC, 0], {
      step: `bind the root ${root}`,
      syscall: "mount",
      path: root,
    });
    const plan = planMounts(spec);
    // Host paths, as detached mount trees, while the host's tree is in sight.
    const trees = new Map<MountStep, Register>();
    for (const s of plan) {
      if (s.op !== "mount" || !s.sourceIsHost || s.source === null) continue;
      const tree = p.register();
      trees.set(s, tree);
      const recursive = (s.flags & MS.REC) !== 0 ? AT_RECURSIVE : 0;
      p.call(
        nr.open_tree,
        [AT_FDCWD, p.cstr(s.source), OPEN_TREE_CLONE | O.CLOEXEC | recursive],
        { step: s.step, syscall: "open_tree", path: s.source, optional: s.optional, result: tree },
      );
    }
    const hostRoot = p.register();
    const enter = { step: "enter the root", syscall: "chroot", path: root };
    p.call(nr.openat, [AT_FDCWD, p.cstr("/"), O.PATH | O.DIRECTORY | O.CLOEXEC, 0], {
      ...enter,
      syscall: "open",
      path: "/",
      result: hostRoot,
    });
    p.call(nr.chdir, [p.cstr(root)], { ...enter, syscall: "chdir" });
    p.call(nr.chroot, [p.cstr(".")], enter);
    for (const s of plan) this.#writeStep(s, trees.get(s) ?? null);
    // Out of the chroot by the host root's descriptor, then into the root for good.
    const pivot = { step: "pivot_root", syscall: "pivot_root", path: root };
    p.call(nr.fchdir, [hostRoot], { ...pivot, syscall: "fchdir" });
    p.call(nr.chroot, [p.cstr(".")], { ...pivot, syscall: "chroot" });
    p.call(nr.close, [hostRoot], { ...pivot, syscall: "close" });
    p.call(nr.chdir, [p.cstr(root)], { ...pivot, syscall: "chdir" });
    p.call(nr.pivot_root, [p.cstr("."), p.cstr(".")], pivot);
    p.call(nr.umount2, [p.cstr("."), MNT_DETACH], { ...pivot, syscall: "umount2" });
    p.call(nr.chdir, [p.cstr("/")], { ...pivot, syscall: "chdir", path: "/" });
    if (spec.readOnly) this.#readOnly("/", "make the root read-only", false);
    const staged = [
      spec.etc.hostname !== null ? "hostname" : null,
      spec.etc.hosts !== null ? "hosts" : null,
      spec.etc.resolvConf !== null ? "resolv.conf" : null,
    ].filter((n) => n !== null);
    const remove = { step: "remove the staged /etc files", syscall: "unlink", optional: true };
    for (const name of staged) {
      const path = `${ETC_STAGING}/${name}`;
      p.call(nr.unlinkat, [AT_FDCWD, p.cstr(path), 0], { ...remove, path });
    }
    if (staged.length > 0) {
      p.call(nr.unlinkat, [AT_FDCWD, p.cstr(ETC_STAGING), AT_REMOVEDIR], {
        ...remove,
        path: ETC_STAGING,
      });
    }
  }

  /** One step of the mount plan, chrooted: targets are container paths. */
  #writeStep(s: MountStep, tree: Register | null): void {
    const p = this.program;
    const nr = this.#nr;
    switch (s.op) {
      case "mount": {
        // Under a filesystem mounted here there are no links of the root's to follow, and
        // under proc and sysfs nothing can be made: what is missing there stays missing.
        const fresh = this.#freshFilesystemOf(s.target);
        if (fresh !== "proc" && fresh !== "sysfs") {
          this.#ensure(s.target, s.targetKind, s.step, s.optional, fresh !== null);
        }
        const options: CallOptions = {
          step: s.step,
          syscall: "mount",
          path: s.target,
          optional: s.optional,
          ...(fresh === null ? { fallback: this.#follow(s.target, s.targetKind) } : {}),
        };
        if (tree !== null) {
          const empty = p.cstr("");
          p.call(
            nr.move_mount,
            [tree, empty, AT_FDCWD, p.cstr(s.target), MOVE_MOUNT_F_EMPTY_PATH],
            options,
          );
          p.call(nr.close, [tree], { step: s.step, syscall: "close", optional: true });
        } else {
          p.call(nr.mount, [
            s.source === null ? 0 : p.cstr(s.source),
            p.cstr(s.target),
            s.fstype === null ? 0 : p.cstr(s.fstype),
            s.flags,
            s.data === null ? 0 : p.cstr(s.data),
          ], options);
        }
        this.#mounted(s.target, s.fstype);
        return;
      }
      case "remount-readonly":
        this.#readOnly(s.target, s.step, s.optional);
        return;
      case "symlink":
        this.#ensure(
          parentOf(s.path),
          "dir",
          s.step,
          false,
          this.#freshFilesystemOf(s.path) !== null,
        );
        p.call(nr.symlinkat, [p.cstr(s.target), AT_FDCWD, p.cstr(s.path)], {
          step: s.step,
          syscall: "symlink",
          path: s.path,
        });
        return;
      case "write": {
        this.#ensure(
          parentOf(s.path),
          "dir",
          s.step,
          false,
          this.#freshFilesystemOf(s.path) !== null,
        );
        const fd = p.register();
        const path = s.path;
        p.call(nr.openat, [
          AT_FDCWD,
          p.cstr(path),
          O.WRONLY | O.CREAT | O.TRUNC | O.CLOEXEC | O.NOFOLLOW,
          0o644,
        ], { step: s.step, syscall: "open", path, result: fd });
        const content = new TextEncoder().encode(s.content);
        p.call(nr.write, [fd, p.bytes(content), content.length], {
          step: s.step,
          syscall: "write",
          path,
        });
        p.call(nr.close, [fd], { step: s.step, syscall: "close", path });
        return;
      }
    }
  }

  /** The fallback of a call on `path`: make it, following links to paths not made yet. */
  #follow(path: string, kind: "dir" | "file") {
    return { hook: INIT_HOOK.follow, args: [this.program.cstr(path), kind === "file" ? 1 : 0] };
  }

  /**
   * Makes sure `path` exists (as a directory, or as a file), with its parents, as mkdir -p.
   * Where it may lead through the root's links (`fresh` false), a link to a path not made
   * yet is followed by the fallback hook.
   */
  #ensure(
    path: string,
    kind: "dir" | "file",
    step: string,
    optional: boolean,
    fresh: boolean,
  ): void {
    const p = this.program;
    const nr = this.#nr;
    const dirs = kind === "dir" ? path : parentOf(path);
    for (let end = dirs.indexOf("/", 1);; end = dirs.indexOf("/", end + 1)) {
      const at = end < 0 ? dirs : dirs.slice(0, end);
      const made = at === "" || at.endsWith("/") || this.#ensured.has(at); // "//": nothing to make
      if (made) {
        if (end < 0) break;
        continue;
      }
      const options: CallOptions = {
        step,
        syscall: "mkdir",
        path: at,
        optional,
        tolerate: [EEXIST],
        ...(fresh ? {} : { fallback: this.#follow(at, "dir") }),
      };
      p.call(nr.mkdirat, [AT_FDCWD, p.cstr(at), 0o755], options);
      this.#ensured.add(at);
      if (end < 0) break;
    }
    if (kind === "file") {
      p.call(nr.mknodat, [AT_FDCWD, p.cstr(path), S_IFREG | 0o644, 0], {
        step,
        syscall: "mknod",
        path,
        optional,
        tolerate: [EEXIST],
      });
    }
  }

  /** Filesystems mounted by this program (tmpfs, proc, ...) by mount point, newest last. */
  readonly #fresh: { target: string; fstype: string }[] = [];

  /** The type of the filesystem this program mounted that `path` lies under, if any. */
  #freshFilesystemOf(path: string): string | null {
    for (let i = this.#fresh.length - 1; i >= 0; i--) {
      const m = this.#fresh[i]!;
      if (path.startsWith(m.target + "/")) return m.fstype;
    }
    return null;
  }

  /** A mount at `target` hides what was under it: directories made there are gone. */
  #mounted(target: string, fstype: string | null): void {
    const prefix = target === "/" ? "/" : `${target}/`;
    for (const d of [...this.#ensured]) if (d.startsWith(prefix)) this.#ensured.delete(d);
    for (let i = this.#fresh.length - 1; i >= 0; i--) {
      if (this.#fresh[i]!.target.startsWith(prefix) || this.#fresh[i]!.target === target) {
        this.#fresh.splice(i, 1);
      }
    }
    if (fstype !== null) this.#fresh.push({ target, fstype });
  }

  #readOnly(target: string, step: string, optional: boolean): void {
    const p = this.program;
    const attr = new BigUint64Array(MOUNT_ATTR_SIZE / 8);
    attr[0] = BigInt(MOUNT_ATTR_RDONLY); // attr_set
    p.call(
      this.#nr.mount_setattr,
      [AT_FDCWD, p.cstr(target), 0, p.bytes(new Uint8Array(attr.buffer)), MOUNT_ATTR_SIZE],
      { step, syscall: "mount_setattr", path: target, optional },
    );
  }

  #writeLoopback(): void {
    const p = this.program;
    const nr = this.#nr;
    const named = { step: "bring up lo", path: "lo" };
    const sock = p.register();
    p.call(nr.socket, [2, /* AF_INET */ 2 /* SOCK_DGRAM */ | O.CLOEXEC, 0], {
      ...named,
      syscall: "socket",
      result: sock,
    });
    const req = new Uint8Array(40); // struct ifreq
    req.set(new TextEncoder().encode("lo"));
    new DataView(req.buffer).setUint16(16, IFF_UP | IFF_LOOPBACK | IFF_RUNNING, true);
    p.call(nr.ioctl, [sock, SIOCSIFFLAGS, p.bytes(req)], { ...named, syscall: "ioctl" });
    p.call(nr.close, [sock], { ...named, syscall: "close" });
  }
}

/** The finish program: streams, directory, seccomp, bounding set, user, capabilities, signals, gate. */
function writeFinish(
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
  for (const sig of [...reset].filter(catchable).sort((a, b) => a - b)) {
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
  const header = new Uint32Array([LINUX_CAPABILITY_VERSION_3, 0]);
  const data = new Uint32Array(6);
  const lo = (m: bigint) => Number(m & 0xffffffffn);
  const hi = (m: bigint) => Number((m >> 32n) & 0xffffffffn);
  data.set([lo(sets.effective), lo(sets.permitted), lo(sets.inheritable)], 0);
  data.set([hi(sets.effective), hi(sets.permitted), hi(sets.inheritable)], 3);
  p.call(nr.capset, [
    p.bytes(new Uint8Array(header.buffer)),
    p.bytes(new Uint8Array(data.buffer)),
  ], { step, syscall: "capset" });
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
