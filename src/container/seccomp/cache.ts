// The compiled default seccomp program, cached on disk: compiling it costs milliseconds at every start.

import {
  compileDefaultProfile,
  DEFAULT_PROFILE,
  DEFAULT_PROFILE_SOURCE,
  hostArch,
} from "./default.ts";

/** A 32-bit FNV-1a hash of a string, as 8 hex digits. */
function fnv1a(text: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return (h >>> 0).toString(16).padStart(8, "0");
}

let profileKey: string | null = null;

/**
 * A key that changes whenever the default profile may have: the identity (path, size,
 * modification time) of the file that defines it where that is a local file, which costs one
 * stat; else a hash of the profile's whole text (about a millisecond at every start).
 */
function profileIdentity(): string {
  if (DEFAULT_PROFILE_SOURCE.startsWith("file:")) {
    try {
      const st = Deno.statSync(new URL(DEFAULT_PROFILE_SOURCE));
      return fnv1a(`${DEFAULT_PROFILE_SOURCE}\0${st.size}\0${st.mtime?.getTime()}`);
    } catch {
      // not on disk (a compiled binary): hash the text
    }
  }
  return fnv1a(
    JSON.stringify(DEFAULT_PROFILE, (_k, v) => typeof v === "bigint" ? String(v) : v),
  );
}

function cacheDir(): string | null {
  const xdg = Deno.env.get("XDG_CACHE_HOME");
  const home = Deno.env.get("HOME");
  if (xdg) return `${xdg}/paranoid/seccomp`;
  return home ? `${home}/.cache/paranoid/seccomp` : null;
}

/**
 * The default profile compiled for `capabilities` on this machine's
 * architecture, from the cache when the same profile was compiled before.
 * The key follows the profile's definition (see profileIdentity), so a changed
 * profile never meets a stale program; programs under other keys are removed,
 * once a day old, when a new one is stored. Cache failures fall back to compiling.
 */
export function defaultSeccompProgram(capabilities: bigint): Uint8Array {
  const arch = hostArch();
  profileKey ??= profileIdentity();
  const dir = cacheDir();
  const path = dir === null
    ? null
    : `${dir}/${arch}-${profileKey}-${capabilities.toString(16)}.bpf`;
  if (path !== null) {
    try {
      const cached = Deno.readFileSync(path);
      if (cached.length > 0 && cached.length % 8 === 0) return cached;
    } catch {
      // not cached yet
    }
  }
  const program = compileDefaultProfile(capabilities, arch);
  if (path !== null && dir !== null) {
    try {
      Deno.mkdirSync(dir, { recursive: true });
      const tmp = `${path}.${Deno.pid}.tmp`;
      Deno.writeFileSync(tmp, program);
      Deno.renameSync(tmp, path);
      // Programs of other keys go once a day old: two copies of paranoid in use (the bundle
      // and main.ts, or two checkouts) each keep theirs meanwhile, instead of pruning each
      // other's at every start.
      const current = `${arch}-${profileKey}-`;
      const dayAgo = Date.now() - 24 * 3600 * 1000;
      for (const e of Deno.readDirSync(dir)) {
        if (!e.name.endsWith(".bpf") || e.name.startsWith(current)) continue;
        const other = `${dir}/${e.name}`;
        if ((Deno.statSync(other).mtime?.getTime() ?? 0) < dayAgo) Deno.removeSync(other);
      }
    } catch {
      // a read-only cache is fine
    }
  }
  return program;
}
