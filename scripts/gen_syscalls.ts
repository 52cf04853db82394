// Generates src/container/seccomp/syscalls_{x86_64,aarch64}.ts from this machine's kernel headers.
//
// Usage: deno run --allow-read --allow-write scripts/gen_syscalls.ts [include-dir]
// (apt-get install linux-libc-dev provides the headers.)
//
// x86_64 numbers come from <asm/unistd_64.h>; aarch64 uses the generic table
// <asm-generic/unistd.h> with the macros arm64's <asm/unistd.h> defines before including it.
// Both are run through a small C preprocessor subset (#if/#ifdef/#ifndef/#else/#endif,
// #define/#undef, `defined`, `||`, `&&`, `!`, `==`, `!=`), enough for these two headers.
// System calls added after the installed headers are appended from LATER_SYSCALLS below: since
// Linux 5.1 every architecture numbers new system calls alike (424 onwards), so one list serves
// both tables; it is used only for names the headers lack.

const include = Deno.args[0] ?? "/usr/include";
const outDir = new URL("../src/container/seccomp/", import.meta.url);

/** System calls newer than linux-libc-dev 6.1, with the kernel that added them. */
const LATER_SYSCALLS: readonly [name: string, nr: number, since: string][] = [
  ["cachestat", 451, "6.5"],
  ["fchmodat2", 452, "6.6"],
  ["map_shadow_stack", 453, "6.6"],
  ["futex_wake", 454, "6.7"],
  ["futex_wait", 455, "6.7"],
  ["futex_requeue", 456, "6.7"],
  ["statmount", 457, "6.8"],
  ["listmount", 458, "6.8"],
  ["lsm_get_self_attr", 459, "6.8"],
  ["lsm_set_self_attr", 460, "6.8"],
  ["lsm_list_modules", 461, "6.8"],
  ["mseal", 462, "6.10"],
  ["setxattrat", 463, "6.13"],
  ["getxattrat", 464, "6.13"],
  ["listxattrat", 465, "6.13"],
  ["removexattrat", 466, "6.13"],
  ["open_tree_attr", 467, "6.15"],
  ["file_getattr", 468, "6.17"],
  ["file_setattr", 469, "6.17"],
];

/** `__NR_` macros that are markers, not system calls. */
const NOT_SYSCALLS = new Set(["syscalls", "arch_specific_syscall"]);

/** The macros arch/arm64/include/uapi/asm/unistd.h defines before the generic table. */
const ARM64_DEFINES = [
  "__ARCH_WANT_RENAMEAT",
  "__ARCH_WANT_NEW_STAT",
  "__ARCH_WANT_SET_GET_RLIMIT",
  "__ARCH_WANT_TIME32_SYSCALLS",
  "__ARCH_WANT_SYS_CLONE3",
  "__ARCH_WANT_MEMFD_SECRET",
];

class HeaderError extends SyntaxError {
  constructor(message: string) {
    super(message);
    this.name = "HeaderError";
  }
}

/** Runs the preprocessor subset over `text` and returns the macros defined at the end. */
function preprocess(text: string, predefined: Map<string, string>): Map<string, string> {
  const macros = new Map(predefined);
  const lines = text.replace(/\/\*[\s\S]*?\*\//g, " ").replace(/\\\n/g, " ").split("\n");
  // Each frame: is this branch active, has any branch of this #if been taken, was the parent active.
  const stack: { active: boolean; taken: boolean; parent: boolean }[] = [];
  const active = () => stack.every((f) => f.active);
  for (const raw of lines) {
    const line = raw.trim();
    const m = /^#\s*(\w+)\s*(.*)$/.exec(line);
    if (!m) continue;
    const [, directive = "", rest = ""] = m;
    switch (directive) {
      case "if":
      case "ifdef":
      case "ifndef": {
        const parent = active();
        let cond = false;
        if (parent) {
          if (directive === "ifdef") cond = macros.has(rest.trim());
          else if (directive === "ifndef") cond = !macros.has(rest.trim());
          else cond = evaluate(rest, macros) !== 0;
        }
        stack.push({ active: parent && cond, taken: cond, parent });
        break;
      }
      case "elif": {
        const top = stack.at(-1);
        if (!top) throw new HeaderError(`#elif without #if: "${line}"`);
        const cond = top.parent && !top.taken && evaluate(rest, macros) !== 0;
        top.active = cond;
        top.taken ||= cond;
        break;
      }
      case "else": {
        const top = stack.at(-1);
        if (!top) throw new HeaderError(`#else without #if: "${line}"`);
        top.active = top.parent && !top.taken;
        top.taken = true;
        break;
      }
      case "endif":
        if (!stack.pop()) throw new HeaderError(`#endif without #if: "${line}"`);
        break;
      case "define":
        if (active()) {
          const d = /^(\w+)(\([^)]*\))?\s*(.*)$/.exec(rest);
          if (d && d[2] === undefined) macros.set(d[1] ?? "", (d[3] ?? "").trim());
        }
        break;
      case "undef":
        if (active()) macros.delete(rest.trim());
        break;
      default: // #include, #error, #pragma: not needed for these headers
        break;
    }
  }
  if (stack.length !== 0) throw new HeaderError("unterminated #if");
  return macros;
}

/** Evaluates a preprocessor expression; unknown identifiers are 0, as in C. */
function evaluate(expr: string, macros: Map<string, string>): number {
  const tokens = expr
    .replace(
      /defined\s*\(\s*(\w+)\s*\)|defined\s+(\w+)/g,
      (_, a, b) => (macros.has(a ?? b) ? "1" : "0"),
    )
    .match(/\d+|\w+|\|\||&&|==|!=|!|\(|\)/g) ?? [];
  let i = 0;
  const value = (tok: string, depth = 0): number => {
    if (/^\d+$/.test(tok)) return Number(tok);
    const body = macros.get(tok);
    if (body === undefined || depth > 10) return 0;
    return /^\d+$/.test(body) ? Number(body) : value(body, depth + 1);
  };
  const primary = (): number => {
    const tok = tokens[i++];
    if (tok === "!") return primary() === 0 ? 1 : 0;
    if (tok === "(") {
      const v = or();
      i++; // ")"
      return v;
    }
    if (tok === undefined) throw new HeaderError(`bad #if expression "${expr}"`);
    return value(tok);
  };
  const equality = (): number => {
    let v = primary();
    while (tokens[i] === "==" || tokens[i] === "!=") {
      const op = tokens[i++];
      const r = primary();
      v = (op === "==") === (v === r) ? 1 : 0;
    }
    return v;
  };
  const and = (): number => {
    let v = equality();
    while (tokens[i] === "&&") {
      i++;
      const r = equality();
      v = v !== 0 && r !== 0 ? 1 : 0;
    }
    return v;
  };
  const or = (): number => {
    let v = and();
    while (tokens[i] === "||") {
      i++;
      const r = and();
      v = v !== 0 || r !== 0 ? 1 : 0;
    }
    return v;
  };
  return or();
}

/** The `__NR_name` macros as a name → number table, sorted by number. */
function syscallTable(macros: Map<string, string>): Map<string, number> {
  const resolve = (body: string, depth = 0): number | undefined => {
    const text = body.replace(/^\((.*)\)$/, "$1").trim();
    if (/^\d+$/.test(text)) return Number(text);
    const next = macros.get(text);
    return next === undefined || depth > 10 ? undefined : resolve(next, depth + 1);
  };
  const entries: [string, number][] = [];
  for (const [macro, body] of macros) {
    const m = /^__NR_(\w+)$/.exec(macro);
    if (!m || NOT_SYSCALLS.has(m[1] ?? "")) continue;
    const nr = resolve(body);
    if (nr === undefined) throw new HeaderError(`cannot resolve "${macro}" = "${body}"`);
    entries.push([m[1] ?? "", nr]);
  }
  for (const [name, nr] of LATER_SYSCALLS) {
    if (!entries.some(([n]) => n === name)) entries.push([name, nr]);
  }
  entries.sort((a, b) => a[1] - b[1] || a[0].localeCompare(b[0]));
  return new Map(entries);
}

function kernelVersion(): string {
  const text = Deno.readTextFileSync(`${include}/linux/version.h`);
  const code = Number(/LINUX_VERSION_CODE\s+(\d+)/.exec(text)?.[1] ?? NaN);
  if (!Number.isFinite(code)) return "unknown";
  return `${code >> 16}.${(code >> 8) & 0xff}.${code & 0xff}`;
}

function render(arch: string, constName: string, source: string, table: Map<string, number>) {
  const lines = [
    `// System call numbers for ${arch}: generated by scripts/gen_syscalls.ts; do not edit.`,
    `//`,
    `// Source: ${source} (Linux headers ${kernelVersion()}), plus later system calls`,
    `// listed in the script. Regenerate with: deno run -A scripts/gen_syscalls.ts`,
    ``,
    `/** ${arch} system call numbers by name (${table.size} entries). */`,
    `export const ${constName}: Readonly<Record<string, number>> = Object.freeze({`,
    ...[...table].map(([name, nr]) => `  ${name}: ${nr},`),
    `});`,
    ``,
  ];
  return lines.join("\n");
}

function generate(
  arch: string,
  constName: string,
  header: string,
  defines: Map<string, string>,
): void {
  const path = `${include}/${header}`;
  let text: string;
  try {
    text = Deno.readTextFileSync(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      throw new HeaderError(`kernel header missing "${path}": apt-get install linux-libc-dev`);
    }
    throw e;
  }
  const table = syscallTable(preprocess(text, defines));
  const out = new URL(`syscalls_${arch}.ts`, outDir);
  Deno.writeTextFileSync(out, render(arch, constName, `<${header}>`, table));
  console.log(`${out.pathname}: ${table.size} system calls`);
}

generate(
  "x86_64",
  "SYSCALLS_X86_64",
  "x86_64-linux-gnu/asm/unistd_64.h",
  new Map([["__BITS_PER_LONG", "64"]]),
);
generate(
  "aarch64",
  "SYSCALLS_AARCH64",
  "asm-generic/unistd.h",
  new Map([["__BITS_PER_LONG", "64"], ...ARM64_DEFINES.map((d): [string, string] => [d, ""])]),
);
