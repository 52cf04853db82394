// The embedded default root filesystem: a tiny root assembled from the host's busybox, built once and cached.

import { findHostExecutable } from "./idmap.ts";

/** Where a busybox binary is looked for, in order. */
const BUSYBOX_CANDIDATES = ["/bin/busybox", "/usr/bin/busybox", "/usr/local/bin/busybox"];

/** The error when no default root can be made. */
export class DefaultRootfsError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "DefaultRootfsError";
  }
}

function cacheHome(): string {
  const xdg = Deno.env.get("XDG_CACHE_HOME");
  if (xdg) return xdg;
  const home = Deno.env.get("HOME");
  if (!home) {
    throw new DefaultRootfsError("neither XDG_CACHE_HOME nor HOME is set: pass --root=DIR");
  }
  return `${home}/.cache`;
}

function findBusybox(): string | null {
  for (const c of BUSYBOX_CANDIDATES) {
    try {
      if (Deno.statSync(c).isFile) return c;
    } catch {
      // next
    }
  }
  return findHostExecutable("busybox");
}

/** Shared libraries a dynamic executable needs, from ldd; empty for a static one. */
async function sharedLibraries(path: string): Promise<string[]> {
  try {
    const out = await new Deno.Command("ldd", { args: [path], stdout: "piped", stderr: "null" })
      .output();
    const text = new TextDecoder().decode(out.stdout);
    const libs: string[] = [];
    for (const m of text.matchAll(/(\/[^\s)]+)/g)) libs.push(m[1]!);
    return libs;
  } catch {
    return [];
  }
}

/**
 * Returns the path of the default root filesystem, building it on first use
 * under `$XDG_CACHE_HOME/paranoid/rootfs/`: busybox with a link per applet,
 * its shared libraries when it is dynamic, /etc/passwd and /etc/group, and
 * empty mount points. The build goes to a temporary directory that is renamed
 * into place, so a half-built root is never used.
 */
export async function ensureDefaultRootfs(): Promise<string> {
  const busybox = findBusybox();
  if (busybox === null) {
    throw new DefaultRootfsError(
      "no --root was given and there is no busybox on this machine to build the default root filesystem: install busybox-static (apt-get install busybox-static) or pass --root=DIR",
    );
  }
  const info = await Deno.stat(busybox);
  const key = `busybox-${info.size}-${info.mtime?.getTime() ?? 0}`;
  const base = `${cacheHome()}/paranoid/rootfs`;
  const root = `${base}/${key}`;
  try {
    if ((await Deno.stat(`${root}/bin/busybox`)).isFile) return root;
  } catch {
    // build it
  }
  await Deno.mkdir(base, { recursive: true });
  await sweepAbandonedBuilds(base);
  const tmp = await Deno.makeTempDir({ dir: base, prefix: `.build-${Deno.pid}-` });
  try {
    await buildBusyboxRoot(tmp, busybox);
    try {
      await Deno.rename(tmp, root);
    } catch (e) {
      // Another start built it at the same time: use theirs.
      if (!(e instanceof Deno.errors.AlreadyExists) && !(await exists(`${root}/bin/busybox`))) {
        throw e;
      }
      await Deno.remove(tmp, { recursive: true });
    }
    return root;
  } catch (e) {
    await Deno.remove(tmp, { recursive: true }).catch(() => {});
    throw e;
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}

/** Removes builds left by starts that were killed mid-build (their pid, in the name, is gone). */
async function sweepAbandonedBuilds(base: string): Promise<void> {
  for await (const e of Deno.readDir(base)) {
    const m = /^\.build-(\d+)-/.exec(e.name);
    if (!m && !e.name.startsWith(".build-")) continue;
    const pid = m ? Number(m[1]) : 0;
    if (pid > 0 && pid !== Deno.pid && (await exists(`/proc/${pid}`))) continue;
    if (pid === Deno.pid) continue;
    await Deno.remove(`${base}/${e.name}`, { recursive: true }).catch(() => {});
  }
}

/**
 * Builds a busybox root filesystem in the existing, empty directory `target`:
 * busybox with a link per applet, its shared libraries when it is dynamic,
 * /etc/passwd and /etc/group, empty /etc files to mount over, and mount points.
 * `busybox` is the binary to use (default: the host's).
 */
export async function buildBusyboxRoot(target: string, busybox = findBusybox()): Promise<void> {
  if (busybox === null) {
    throw new DefaultRootfsError(
      "busybox is missing: install busybox-static (apt-get install busybox-static)",
    );
  }
  await Deno.chmod(target, 0o755);
  for (
    const d of [
      "bin",
      "sbin",
      "usr/bin",
      "usr/sbin",
      "etc",
      "proc",
      "sys",
      "dev",
      "root",
      "run",
      "var/tmp",
    ]
  ) {
    await Deno.mkdir(`${target}/${d}`, { recursive: true });
  }
  await Deno.mkdir(`${target}/tmp`, { mode: 0o1777 });
  await Deno.chmod(`${target}/tmp`, 0o1777);
  await Deno.copyFile(busybox, `${target}/bin/busybox`);
  await Deno.chmod(`${target}/bin/busybox`, 0o755);
  for (const lib of await sharedLibraries(busybox)) {
    const dest = `${target}${lib}`;
    await Deno.mkdir(dest.slice(0, dest.lastIndexOf("/")), { recursive: true });
    await Deno.copyFile(lib, dest);
  }
  const list = await new Deno.Command(busybox, {
    args: ["--list-full"],
    stdout: "piped",
    stderr: "null",
  })
    .output();
  for (const applet of new TextDecoder().decode(list.stdout).split("\n")) {
    if (applet === "" || applet.endsWith("/busybox")) continue;
    try {
      await Deno.symlink("/bin/busybox", `${target}/${applet}`);
    } catch {
      // duplicate applet names: the first wins
    }
  }
  await Deno.writeTextFile(
    `${target}/etc/passwd`,
    "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n",
  );
  await Deno.writeTextFile(`${target}/etc/group`, "root:x:0:\ntty:x:5:\nnogroup:x:65534:\n");
  for (const f of ["hostname", "hosts", "resolv.conf"]) {
    await Deno.writeTextFile(`${target}/etc/${f}`, "");
  }
}
