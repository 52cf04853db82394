// Command-line parsing: a table of options in the conventions of the original paranoid and of `docker run`.
//
// Parsing stops at `--` or at the first word that is not an option (INIT, or
// IMAGE for `run`); everything after belongs to the container. Long options
// take `--name=value` or `--name value`, short ones `-x value`, `-xvalue`, and
// flags combine (`-it`). Every mistake becomes a UsageError that names the
// option and the value, and the CLI exits 2.

/** A mistake on the command line; the CLI prints it and exits 2. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

/** One option of the table. */
export interface OptionDef {
  /** Long name without dashes, e.g. "root". */
  readonly long: string;
  /** Short letter, e.g. "r". */
  readonly short?: string;
  /** Placeholder for the value, e.g. "ROOT_PATH"; absent for flags. */
  readonly value?: string;
  /** The option may be given more than once; values accumulate. */
  readonly repeat?: boolean;
  /** One line of help. */
  readonly help: string;
}

/** Parsed options: flags are true, valued options strings, repeated options arrays. */
export type ParsedOptions = Map<string, true | string | string[]>;

/** The result of parsing: options, then the positional words (INIT and its arguments). */
export interface ParseResult {
  readonly options: ParsedOptions;
  readonly rest: string[];
  /** True when `--` separated the options from `rest`. */
  readonly dashDash: boolean;
}

/**
 * Parses `argv` against `defs`.
 *
 * @example
 * ```ts
 * import { parseOptions } from "./args.ts";
 * const r = parseOptions(["-N", "--root=/r", "--", "sh", "-c", "id"], [
 *   { long: "root", short: "r", value: "DIR", help: "" },
 *   { long: "disable-networking", short: "N", help: "" },
 * ]);
 * console.assert(r.options.get("root") === "/r" && r.rest.join(" ") === "sh -c id");
 * ```
 */
export function parseOptions(argv: readonly string[], defs: readonly OptionDef[]): ParseResult {
  const options: ParsedOptions = new Map();
  const byLong = new Map(defs.map((d) => [d.long, d]));
  const byShort = new Map(defs.filter((d) => d.short).map((d) => [d.short!, d]));
  const set = (def: OptionDef, value: true | string) => {
    if (def.repeat) {
      const list = options.get(def.long);
      const arr = Array.isArray(list) ? list : [];
      arr.push(value === true ? "" : value);
      options.set(def.long, arr);
    } else {
      options.set(def.long, value);
    }
  };
  let i = 0;
  while (i < argv.length) {
    const arg = argv[i]!;
    if (arg === "--") return { options, rest: argv.slice(i + 1), dashDash: true };
    if (arg.startsWith("--")) {
      const eq = arg.indexOf("=");
      const name = arg.slice(2, eq === -1 ? undefined : eq);
      const def = byLong.get(name);
      if (!def) throw new UsageError(`unknown option "--${name}"`);
      if (def.value === undefined) {
        if (eq !== -1) throw new UsageError(`option "--${name}" takes no value`);
        set(def, true);
        i++;
      } else if (eq !== -1) {
        set(def, arg.slice(eq + 1));
        i++;
      } else {
        const v = argv[i + 1];
        if (v === undefined) {
          throw new UsageError(`option "--${name}" needs a value (${def.value})`);
        }
        set(def, v);
        i += 2;
      }
      continue;
    }
    if (arg.startsWith("-") && arg.length > 1) {
      let j = 1;
      i++;
      while (j < arg.length) {
        const letter = arg[j]!;
        const def = byShort.get(letter);
        if (!def) throw new UsageError(`unknown option "-${letter}"`);
        if (def.value === undefined) {
          set(def, true);
          j++;
          continue;
        }
        const inline = arg.slice(j + 1);
        if (inline !== "") {
          set(def, inline.startsWith("=") ? inline.slice(1) : inline);
        } else {
          const v = argv[i];
          if (v === undefined) {
            throw new UsageError(`option "-${letter}" needs a value (${def.value})`);
          }
          set(def, v);
          i++;
        }
        break;
      }
      continue;
    }
    return { options, rest: argv.slice(i), dashDash: false };
  }
  return { options, rest: [], dashDash: false };
}

/** Reads a string option, or undefined. */
export function stringOption(o: ParsedOptions, name: string): string | undefined {
  const v = o.get(name);
  return typeof v === "string" ? v : undefined;
}

/** Reads a repeated option's values. */
export function listOption(o: ParsedOptions, name: string): string[] {
  const v = o.get(name);
  return Array.isArray(v) ? v : [];
}

/** Formats the option table as help lines. */
export function formatOptions(defs: readonly OptionDef[]): string {
  const left = defs.map((d) => {
    const short = d.short ? `-${d.short}, ` : "    ";
    return `  ${short}--${d.long}${d.value ? `=${d.value}` : ""}`;
  });
  const width = Math.max(...left.map((l) => l.length)) + 2;
  return defs.map((d, i) => left[i]!.padEnd(width) + d.help).join("\n");
}
