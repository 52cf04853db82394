// Safe extraction of tar archives and OCI layers into a directory, without root
//
// Theory of operation. Every entry name is normalised the way tar does (leading "/" and "."
// components dropped); a name with a ".." component is refused, as GNU tar does. The parent
// directories are then walked one component at a time from the target, with lstat, never
// letting the kernel follow a link: a missing directory is created, a directory is entered,
// and a symlink (planted by this or an earlier archive) is followed only when its target,
// read literally, stays inside the target: absolute targets and ".." chains that climb above
// the target are refused with an error naming the entry. (containerd instead re-roots
// absolute links at the target; we refuse them, which is stricter and rare in real layers.)
// The last component is never followed: an existing symlink or file there is removed first,
// and files are created with O_CREAT|O_EXCL, so even a racing symlink cannot redirect the
// write. Hard links must name an entry already inside the target, resolved the same way.
// The only race left open is another process rewriting the target while we extract; the
// target is expected to be private to the caller.
//
// Ownership is best effort: chown works for any id inside a user namespace with a full map;
// outside, failures are counted and the first one is kept for the summary. Device nodes and
// fifos cannot be made without privileges (and Deno has no mknod): they are skipped and
// counted. Directory modes and mtimes are applied at the end, deepest first, so that a
// read-only directory does not stop its own extraction.
//
// Whiteouts (OCI layers): mode "apply" deletes what `.wh.NAME` names and clears the
// earlier contents of a directory holding `.wh..wh..opq`, for stacking layers into one
// directory; mode "overlay" records them as overlayfs reads them from a lower layer mounted
// with `userxattr` in a user namespace: a whiteout is a character device 0/0 (the kernel lets
// unprivileged users make exactly this node since Linux 5.8, "vfs: allow unprivileged
// whiteout creation"), and an opaque directory carries `user.overlay.opaque` = "y". The
// newer xattr-on-empty-file whiteouts (6.7+) are not used: they need the parent marked as
// well and are not read by older kernels. Checked on kernel 6.18 as an unprivileged user:
// `unshare -Urm` then `mount -t overlay -o lowerdir=UPPER:LOWER,userxattr` hides both (see
// the test). Mode "keep" writes whiteout files as ordinary files.
// Setting xattrs and making whiteout nodes needs syscalls Deno lacks; they go through the
// `FsHooks`, which default to the `setfattr` (Debian package attr) and `mknod` commands and
// can be replaced with FFI versions.

import * as fs from "node:fs";
import { decompress, readTar, type TarEntry } from "./tar.ts";

/** An archive entry that would write outside the target or cannot be placed safely. */
export class UnsafeEntryError extends Error {
  /** The entry name as stored in the archive. */
  readonly entry: string;
  /** Builds the error for `entry`, with the reason after a colon. */
  constructor(entry: string, reason: string) {
    super(`Refusing archive entry "${entry}": ${reason}`);
    this.name = "UnsafeEntryError";
    this.entry = entry;
  }
}

/** How whiteout entries of OCI layers are handled. */
export type WhiteoutMode = "apply" | "overlay" | "keep";

/** Filesystem operations Deno cannot do by itself; replaceable with FFI versions. */
export interface FsHooks {
  /** Sets an extended attribute on `path` without following a symlink there. */
  setXattr(path: string, name: string, value: Uint8Array): Promise<void>;
  /** Creates an overlayfs whiteout (character device 0/0) at `path`. */
  makeWhiteout(path: string): Promise<void>;
}

/** Options for {@link extractTar} and {@link unpackLayer}. */
export interface ExtractOptions {
  /** Whiteout handling; default "keep" (plain tar semantics). */
  whiteouts?: WhiteoutMode;
  /** Try to chown entries to their uid/gid; default true. */
  chown?: boolean;
  /** Syscall hooks; default to the `setfattr` and `mknod` commands. */
  hooks?: FsHooks;
}

/** What an extraction did besides writing entries, for one summary line. */
export interface ExtractResult {
  /** Entries written (files, directories, links). */
  written: number;
  /** Device nodes and fifos skipped because they cannot be created unprivileged. */
  skippedDevices: number;
  /** Entries of unsupported types (sparse files and the like) skipped. */
  skippedOther: number;
  /** Whiteouts and opaque markers handled. */
  whiteouts: number;
  /** chown calls that failed (normal outside a user namespace). */
  chownFailures: number;
  /** The first failed chown, as `"path" to uid:gid`. */
  firstChownFailure: string | undefined;
  /** Extended attributes that could not be set (or were refused). */
  xattrFailures: number;
}

/** Default hooks: `setfattr -h` and `mknod PATH c 0 0`. */
export const commandHooks: FsHooks = {
  async setXattr(path, name, value) {
    const hex = "0x" + Array.from(value, (b) => b.toString(16).padStart(2, "0")).join("");
    await run("setfattr", ["-h", "-n", name, "-v", value.length === 0 ? '""' : hex, path], "attr");
  },
  async makeWhiteout(path) {
    await run("mknod", [path, "c", "0", "0"], "coreutils");
  },
};

async function run(cmd: string, args: string[], pkg: string): Promise<void> {
  let out: Deno.CommandOutput;
  try {
    out = await new Deno.Command(cmd, { args, stdout: "null", stderr: "piped" }).output();
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      throw new Error(`Command "${cmd}" not found: install the Debian package "${pkg}"`);
    }
    throw e;
  }
  if (!out.success) {
    const msg = new TextDecoder().decode(out.stderr).trim();
    throw new Error(`Command "${cmd} ${args.join(" ")}" failed: ${msg}`);
  }
}

/** One line describing what was skipped or failed, or "" when nothing was. */
export function describeResult(r: ExtractResult): string {
  const parts: string[] = [];
  if (r.skippedDevices > 0) {
    parts.push(`skipped ${r.skippedDevices} device node(s) or fifo(s) (need privileges)`);
  }
  if (r.skippedOther > 0) parts.push(`skipped ${r.skippedOther} entry(ies) of unsupported type`);
  if (r.chownFailures > 0) {
    parts.push(`${r.chownFailures} ownership change(s) failed (first: ${r.firstChownFailure})`);
  }
  if (r.xattrFailures > 0) parts.push(`${r.xattrFailures} extended attribute(s) not set`);
  return parts.join("; ");
}

const WH = ".wh.";
const OPAQUE = ".wh..wh..opq";
const MAX_LINKS = 40;

/** Splits a tar name into safe components; throws on "..". */
function components(entry: string, name: string, what = "its name"): string[] {
  if (name.includes("\0")) throw new UnsafeEntryError(entry, `${what} contains a NUL byte`);
  const parts = name.split("/").filter((c) => c !== "" && c !== ".");
  if (parts.includes("..")) {
    throw new UnsafeEntryError(entry, `${what} "${name}" contains a ".." component`);
  }
  return parts;
}

function isNotFound(e: unknown): boolean {
  return e instanceof Deno.errors.NotFound;
}

// The per-entry calls are synchronous: each is a few microseconds on a private directory,
// where the thread pool's round trip for an async call costs more than the call itself.
function lstatOrNull(path: string): Deno.FileInfo | null {
  try {
    return Deno.lstatSync(path);
  } catch (e) {
    if (isNotFound(e)) return null;
    throw e;
  }
}

interface PendingDir {
  rel: string[];
  entry: TarEntry;
}

class Extractor {
  readonly result: ExtractResult = {
    written: 0,
    skippedDevices: 0,
    skippedOther: 0,
    whiteouts: 0,
    chownFailures: 0,
    firstChownFailure: undefined,
    xattrFailures: 0,
  };
  #dirs: PendingDir[] = [];
  #touched = new Set<string>();
  #mode: WhiteoutMode;
  #chown: boolean;
  #hooks: FsHooks;

  constructor(readonly root: string, opts: ExtractOptions) {
    this.#mode = opts.whiteouts ?? "keep";
    this.#chown = opts.chown ?? true;
    this.#hooks = opts.hooks ?? commandHooks;
  }

  #abs(rel: readonly string[]): string {
    return rel.length === 0 ? this.root : `${this.root}/${rel.join("/")}`;
  }

  /**
   * Walks `parts` from `start` (components relative to the root) without letting the kernel
   * follow links; returns the resolved components. Missing directories are created when
   * `create`; otherwise null is returned for a missing component.
   */
  async #walk(
    entry: string,
    start: string[],
    parts: readonly string[],
    create: boolean,
    budget: { links: number },
  ): Promise<string[] | null> {
    const rel = [...start];
    for (const part of parts) {
      if (part === "" || part === ".") continue;
      if (part === "..") {
        if (rel.length === 0) {
          throw new UnsafeEntryError(entry, "its path climbs out of the target through a symlink");
        }
        rel.pop();
        continue;
      }
      const here = [...rel, part];
      const path = this.#abs(here);
      const info = lstatOrNull(path);
      if (info === null) {
        if (!create) return null;
        Deno.mkdirSync(path, { mode: 0o755 });
        rel.push(part);
      } else if (info.isDirectory) {
        rel.push(part);
      } else if (info.isSymlink) {
        if (--budget.links < 0) {
          throw new UnsafeEntryError(entry, `too many levels of symlinks at "${here.join("/")}"`);
        }
        const target = Deno.readLinkSync(path);
        if (target.startsWith("/")) {
          throw new UnsafeEntryError(
            entry,
            `its path goes through symlink "${
              here.join("/")
            }" pointing outside the target ("${target}")`,
          );
        }
        const resolved = await this.#walk(entry, rel, target.split("/"), create, budget);
        if (resolved === null) return null;
        const info2 = lstatOrNull(this.#abs(resolved));
        if (info2 === null || !info2.isDirectory) {
          throw new UnsafeEntryError(entry, `symlink "${here.join("/")}" is not a directory`);
        }
        rel.splice(0, rel.length, ...resolved);
      } else {
        throw new UnsafeEntryError(entry, `"${here.join("/")}" is not a directory`);
      }
    }
    return rel;
  }

  /** Resolves the parent of `parts` safely; the leaf is returned unresolved. */
  async #place(
    entry: string,
    parts: string[],
    create: boolean,
  ): Promise<{ parent: string[]; leaf: string } | null> {
    const leaf = parts[parts.length - 1];
    if (leaf === undefined) return { parent: [], leaf: "" };
    const parent = await this.#walk(entry, [], parts.slice(0, -1), create, { links: MAX_LINKS });
    return parent === null ? null : { parent, leaf };
  }

  async #clear(path: string, info: Deno.FileInfo | null, keepDir: boolean): Promise<void> {
    if (info === null) return;
    if (info.isDirectory && keepDir) return;
    await Deno.remove(path, { recursive: info.isDirectory });
  }

  #owner(path: string, e: TarEntry, symlink: boolean): void {
    if (!this.#chown) return;
    try {
      if (symlink) fs.lchownSync(path, e.uid, e.gid);
      else Deno.chownSync(path, e.uid, e.gid);
    } catch {
      this.result.chownFailures++;
      this.result.firstChownFailure ??= `"${e.name}" to ${e.uid}:${e.gid}`;
    }
  }

  async #xattrs(path: string, e: TarEntry): Promise<void> {
    for (const [name, value] of e.xattrs) {
      // Overlay metadata from an archive could fake whiteouts: never copy it.
      if (/^(trusted|user)\.overlay\./.test(name)) {
        this.result.xattrFailures++;
        continue;
      }
      try {
        await this.#hooks.setXattr(path, name, value);
      } catch {
        this.result.xattrFailures++;
      }
    }
  }

  async #whiteout(e: TarEntry, parts: string[], leaf: string): Promise<void> {
    this.result.whiteouts++;
    const placed = await this.#place(e.name, parts, this.#mode === "overlay");
    if (placed === null) return; // apply: nothing below to delete
    const dir = this.#abs(placed.parent);
    const dirRel = placed.parent.join("/");
    if (leaf === OPAQUE) {
      if (this.#mode === "overlay") {
        await this.#hooks.setXattr(dir, "user.overlay.opaque", new TextEncoder().encode("y"));
        return;
      }
      for await (const child of Deno.readDir(dir)) {
        const rel = dirRel === "" ? child.name : `${dirRel}/${child.name}`;
        if (this.#touched.has(rel)) continue;
        await Deno.remove(`${dir}/${child.name}`, { recursive: true });
      }
      return;
    }
    const victim = leaf.slice(WH.length);
    if (victim === "" || victim === "." || victim === "..") {
      throw new UnsafeEntryError(e.name, `whiteout names "${victim}"`);
    }
    const path = `${dir}/${victim}`;
    const info = lstatOrNull(path);
    if (this.#mode === "overlay") {
      await this.#clear(path, info, false);
      await this.#hooks.makeWhiteout(path);
      return;
    }
    await this.#clear(path, info, false);
  }

  async entry(e: TarEntry): Promise<void> {
    const parts = components(e.name, e.name);
    const leafName = parts[parts.length - 1] ?? "";
    if (this.#mode !== "keep" && leafName.startsWith(WH)) {
      return await this.#whiteout(e, parts, leafName);
    }
    if (e.type === "chardev" || e.type === "blockdev" || e.type === "fifo") {
      this.result.skippedDevices++;
      return;
    }
    if (e.type === "other") {
      this.result.skippedOther++;
      return;
    }
    const placed = await this.#place(e.name, parts, true);
    if (placed === null) return;
    const { parent, leaf } = placed;
    const rel = leaf === "" ? parent : [...parent, leaf];
    const path = this.#abs(rel);
    this.#touched.add(rel.join("/"));
    if (leaf === "" && e.type !== "directory") {
      throw new UnsafeEntryError(e.name, `a ${e.type} cannot replace the target directory itself`);
    }
    const existing = leaf === "" ? Deno.lstatSync(path) : lstatOrNull(path);
    switch (e.type) {
      case "directory": {
        if (existing !== null && !existing.isDirectory) await this.#clear(path, existing, false);
        if (existing === null || !existing.isDirectory) Deno.mkdirSync(path, { mode: 0o700 });
        this.#dirs.push({ rel, entry: e });
        break;
      }
      case "file": {
        await this.#clear(path, existing, false);
        const file = Deno.openSync(path, { write: true, createNew: true, mode: 0o600 });
        try {
          for await (const chunk of e.read()) {
            let off = 0;
            while (off < chunk.length) off += file.writeSync(chunk.subarray(off));
          }
        } finally {
          file.close();
        }
        this.#owner(path, e, false);
        Deno.chmodSync(path, e.mode);
        await this.#xattrs(path, e);
        Deno.utimeSync(path, e.mtime, e.mtime);
        break;
      }
      case "symlink": {
        await this.#clear(path, existing, false);
        Deno.symlinkSync(e.linkName, path);
        this.#owner(path, e, true);
        await this.#xattrs(path, e);
        fs.lutimesSync(path, e.mtime, e.mtime);
        break;
      }
      case "hardlink": {
        const targetParts = components(e.name, e.linkName, "its hard link target");
        const where = await this.#place(e.name, targetParts, false);
        const missing = () =>
          new UnsafeEntryError(e.name, `hard link target "${e.linkName}" is not in the target`);
        if (where === null || where.leaf === "") throw missing();
        const source = this.#abs([...where.parent, where.leaf]);
        const info = lstatOrNull(source);
        if (info === null) throw missing();
        if (info.isDirectory) {
          throw new UnsafeEntryError(e.name, `hard link target "${e.linkName}" is a directory`);
        }
        if (source === path) break;
        await this.#clear(path, existing, false);
        Deno.linkSync(source, path);
        break;
      }
    }
    this.result.written++;
  }

  async finish(): Promise<void> {
    this.#dirs.sort((a, b) => b.rel.length - a.rel.length);
    for (const { rel, entry } of this.#dirs) {
      // A later entry may have replaced this directory or a parent with a symlink: resolve
      // again, confined, and touch it only if it is still a directory (chmod, chown and utime
      // follow symlinks).
      const parent = await this.#walk(entry.name, [], rel.slice(0, -1), false, {
        links: MAX_LINKS,
      });
      if (parent === null) continue;
      const leaf = rel[rel.length - 1];
      const path = this.#abs(leaf === undefined ? parent : [...parent, leaf]);
      const info = lstatOrNull(path);
      if (info === null || !info.isDirectory) continue;
      this.#owner(path, entry, false);
      Deno.chmodSync(path, entry.mode);
      await this.#xattrs(path, entry);
      Deno.utimeSync(path, entry.mtime, entry.mtime);
    }
  }
}

/**
 * Extracts a plain tar stream into `target` (created if missing), refusing any entry that
 * would write outside it.
 *
 * @throws {UnsafeEntryError} for an entry that climbs out of the target
 * @example
 * ```ts ignore
 * import { extractTar } from "./extract.ts";
 * const file = await Deno.open("rootfs.tar");
 * const result = await extractTar(file.readable, "./rootfs");
 * console.log(result.written);
 * ```
 */
export async function extractTar(
  stream: ReadableStream<Uint8Array>,
  target: string,
  opts: ExtractOptions = {},
): Promise<ExtractResult> {
  await Deno.mkdir(target, { recursive: true });
  const extractor = new Extractor(await Deno.realPath(target), opts);
  for await (const entry of readTar(stream)) await extractor.entry(entry);
  await extractor.finish();
  return extractor.result;
}

/**
 * Unpacks one layer blob (gzip, zstd or plain tar, detected by magic bytes) into
 * `targetDir`. Standalone so that it can run in a child process inside a user namespace,
 * where chown to the image's ids works. Whiteouts default to "overlay".
 */
export async function unpackLayer(
  blobPath: string,
  targetDir: string,
  opts: ExtractOptions = {},
): Promise<ExtractResult> {
  const file = await Deno.open(blobPath, { read: true });
  return await unpackLayerStream(file.readable, targetDir, opts);
}

/**
 * Unpacks one layer (gzip, zstd or plain tar, detected by magic bytes) from a byte stream
 * into `targetDir`, as {@link unpackLayer} does from a file. Whiteouts default to "overlay".
 * The archive may end before the stream does; what follows is left unread (cancelled).
 */
export async function unpackLayerStream(
  layer: ReadableStream<Uint8Array>,
  targetDir: string,
  opts: ExtractOptions = {},
): Promise<ExtractResult> {
  const stream = await decompress(layer);
  return await extractTar(stream, targetDir, { whiteouts: "overlay", ...opts });
}
