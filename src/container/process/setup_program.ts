// The setup program of a container's pid 1: the root and its mounts, pivot_root, hostname, keyring, lo and eth0.
//
// Theory of operation: mount targets are container paths, resolved by the
// kernel inside the root: the mounts are made chrooted into it, so the
// rootfs's own symbolic links (absolute ones restart at the root, `..` stops
// there) can never send a mount outside it. Host paths (devices, volumes) are
// opened as detached mount trees (open_tree) before the chroot and attached
// with move_mount inside it. A descriptor of the host's root, taken before,
// leads back out for pivot_root, and is closed right after. Read-only is set
// with mount_setattr, which keeps the flags a mount has (so Linux 5.12 or
// later). A target behind a link to a path not made yet is the one case left
// to JavaScript (the follow hook).

import { MNT_DETACH, MS, O } from "../../../ffi/sys.ts";
import { SYSCALL_NUMBERS } from "../../../ffi/raw_calls.ts";
import { ifreq } from "../../../ffi/structs.ts";
import { ETC_STAGING, type MountStep, planMounts } from "../mounts.ts";
import type { ContainerSpec } from "../spec.ts";
import type { CallOptions, ProgramBuilder, Register } from "./program.ts";
import { INIT_HOOK, type InitContext } from "./init_context.ts";

const AT_FDCWD = -100;
const AT_REMOVEDIR = 0x200;
const AT_RECURSIVE = 0x8000;
const OPEN_TREE_CLONE = 1;
const MOVE_MOUNT_F_EMPTY_PATH = 4;
const MOUNT_ATTR_RDONLY = 1;
const MOUNT_ATTR_SIZE = 32;
const S_IFREG = 0o100000;
const EEXIST = 17;
const ENOSYS = 38;
const SIOCSIFFLAGS = 0x8914;
const IFF_UP = 0x1;
const IFF_LOOPBACK = 0x8;
const IFF_RUNNING = 0x40;
const KEYCTL_JOIN_SESSION_KEYRING = 1;

/** The parent's of a container path ("/" for a top-level one). */
function parentOf(path: string): string {
  return path.slice(0, path.lastIndexOf("/")) || "/";
}

/**
 * Writes the setup program for `spec` into `p`; returns the register that will hold the
 * start gate's descriptor (for the finish program), or null.
 */
export function writeSetup(
  p: ProgramBuilder,
  spec: ContainerSpec,
  context: InitContext,
): Register | null {
  return new SetupWriter(spec, context, p).write();
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
        this.#ensureParent(s.path, s.step);
        p.call(nr.symlinkat, [p.cstr(s.target), AT_FDCWD, p.cstr(s.path)], {
          step: s.step,
          syscall: "symlink",
          path: s.path,
        });
        return;
      case "write": {
        this.#ensureParent(s.path, s.step);
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

  /** Makes sure the directory `path` is in exists (see #ensure). */
  #ensureParent(path: string, step: string): void {
    this.#ensure(parentOf(path), "dir", step, false, this.#freshFilesystemOf(path) !== null);
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
    const req = ifreq("lo");
    new DataView(req.buffer).setUint16(16, IFF_UP | IFF_LOOPBACK | IFF_RUNNING, true);
    p.call(nr.ioctl, [sock, SIOCSIFFLAGS, p.bytes(req)], { ...named, syscall: "ioctl" });
    p.call(nr.close, [sock], { ...named, syscall: "close" });
  }
}
