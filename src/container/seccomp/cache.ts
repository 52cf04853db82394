// The compiled default seccomp program, cached on disk: compiling it costs milliseconds at every start.

/** A 32-bit FNV-1a hash of a string, as 8 hex digits. */
function fnv1a(text: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return (h >>> 0).toString(16).padStart(8, "0");
}

/** The compiler and the default profile, loaded only when a program must be compiled. */
type Compiler = typeof import("./default.ts");

/** The files that define the default program, beside this one when run from source. */
const DEFINING_SOURCES = [
  "./default.ts",
  "./profile.ts",
  "./bpf.ts",
  "./syscalls_x86_64.ts",
  "./syscalls_aarch64.ts",
];

let profileKey: string | null = null;

/**
 * A key that changes whenever the default program may have, found without loading the
 * compiler (about 45 KB of code a start would load only to learn it need not compile):
 *   - from source, the identity (size, modification time) of the files that define it;
 *   - from the bundle, the name of this module's chunk: a hash of its content, which names
 *     the compiler's chunk by a hash of that one's (esbuild's [hash] covers what a chunk
 *     imports), so no file need be looked at;
 *   - else (a compiled binary, a remote module), null: the caller hashes the profile.
 */
function identityWithoutCompiler(): string | null {
  const here = import.meta.url;
  if (!here.startsWith("file:")) return null;
  // Bundled, this module is part of a chunk of JavaScript named by a hash of its content.
  if (!here.endsWith(".ts")) return fnv1a(here);
  const identity = (url: URL) => {
    const st = Deno.statSync(url);
    return `${url.href}\0${st.size}\0${st.mtime?.getTime()}`;
  };
  try {
    return fnv1a(DEFINING_SOURCES.map((s) => identity(new URL(s, here))).join("\0"));
  } catch {
    return null;
  }
}

/** The key from the profile's whole text, where no file identifies it. */
function identityOfProfile(compiler: Compiler): string {
  return fnv1a(
    JSON.stringify(compiler.DEFAULT_PROFILE, (_k, v) => typeof v === "bigint" ? String(v) : v),
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
 * The key follows the profile's definition (see identityWithoutCompiler), so a
 * changed profile never meets a stale program; programs under other keys are
 * removed, once a day old, when a new one is stored. Cache failures fall back
 * to compiling; the compiler loads only then.
 */
export async function defaultSeccompProgram(capabilities: bigint): Promise<Uint8Array> {
  const arch = Deno.build.arch;
  let compiler: Compiler | null = null;
  if (profileKey === null) {
    profileKey = identityWithoutCompiler();
    if (profileKey === null) {
      compiler = await import("./default.ts");
      profileKey = identityOfProfile(compiler);
    }
  }
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
  compiler ??= await import("./default.ts");
  const program = compiler.compileDefaultProfile(capabilities, arch);
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
