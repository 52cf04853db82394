// V8 must run single-threaded for fork() to be safe: detect it, and re-execute the CLI with the flag when not.

import { execve } from "../../ffi/process.ts";

/** The V8 flag that keeps V8's worker threads from being started. */
export const SINGLE_THREADED_FLAG = "--single-threaded";

/**
 * The V8 flags the CLI runs with (scripts/paranoid and scripts/compile.sh give the same):
 *   - --single-threaded, which fork() needs;
 *   - --no-lazy: every function comes compiled from Deno's code cache (compiled lazily, a
 *     start compiled some hundreds of them, in the host side and again in the child);
 *   - no Sparkplug, and the optimizing tiers (Maglev, TurboFan, on-stack replacement) four
 *     times later than V8's defaults. Single-threaded, V8 compiles that code on the main
 *     thread, in the middle of a start that runs most functions a few dozen times and never
 *     again: 1.2 ms of a 33 ms start (paired runs of the same bundle with and without). The
 *     network's hot paths still reach the optimizing tiers, after a few more packets.
 */
export const CLI_V8_FLAGS = [
  SINGLE_THREADED_FLAG,
  "--no-lazy",
  "--no-sparkplug",
  "--invocation-count-for-maglev=1600",
  "--invocation-count-for-maglev-osr=400",
  "--invocation-count-for-turbofan=12000",
  "--invocation-count-for-osr=2000",
  "--invocation-count-for-early-optimization=120",
].join(",");

let singleThreaded: boolean | null = null;

/**
 * True when this process has none of V8's platform worker threads. V8 starts them (or not)
 * with the process, by its flags: the answer is found once.
 */
export function isSingleThreaded(): boolean {
  return singleThreaded ??= hasNoV8Workers();
}

function hasNoV8Workers(): boolean {
  let tasks: Deno.DirEntry[];
  try {
    tasks = [...Deno.readDirSync("/proc/self/task")];
  } catch {
    return false;
  }
  for (const task of tasks) {
    let name: string;
    try {
      name = Deno.readTextFileSync(`/proc/self/task/${task.name}/comm`);
    } catch {
      continue; // the thread ended meanwhile
    }
    if (name.startsWith("V8 DefaultWorke") || name.startsWith("V8 Worker")) return false;
  }
  return true;
}

/** The error a library user sees when forking is not safe in this process. */
export class NotSingleThreadedError extends Error {
  constructor() {
    super(
      "V8 runs with worker threads in this process, so fork() is not safe: start deno with --v8-flags=--single-threaded",
    );
    this.name = "NotSingleThreadedError";
  }
}

/** The command that runs this program again with V8 single-threaded: [path, ...argv]. */
export function singleThreadedCommand(args: readonly string[]): string[] {
  const exe = Deno.execPath();
  const main = Deno.mainModule;
  // A compiled binary has its flags baked in; `deno run` needs the flag and the module again.
  const compiled = !/(^|\/)deno$/.test(exe);
  if (compiled) return [exe, ...args];
  // As scripts/paranoid runs it: single-threaded, as fork() needs, and with --no-lazy (every
  // function then comes compiled from Deno's code cache). main.ts re-executes before its
  // modules load, so no code cache is made here for other flags.
  const flags = ["run", "-A", `--v8-flags=${CLI_V8_FLAGS}`, "--no-config"];
  if (main.startsWith("jsr:") || main.startsWith("https:")) flags.push("--quiet");
  return [exe, ...flags, main, ...args];
}

/**
 * Replaces this process with a copy of itself whose V8 is single-threaded,
 * unless it already is. The pid and the terminal stay the same. A marker in
 * the environment stops a loop when the flag cannot take effect.
 */
export function ensureSingleThreaded(args: readonly string[]): void {
  if (isSingleThreaded()) return;
  if (Deno.env.get("PARANOID_REEXEC") === "1") throw new NotSingleThreadedError();
  const argv = singleThreadedCommand(args);
  const env = Object.entries({
    ...Deno.env.toObject(),
    PARANOID_REEXEC: "1",
    DENO_V8_FLAGS: CLI_V8_FLAGS,
  }).map(([k, v]) => `${k}=${v}`);
  execve(argv[0]!, argv, env);
}
