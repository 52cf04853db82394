// paranoid's command-line entry: `paranoid [OPTION...] --root=ROOT -- INIT`, and subcommands.

import { ensureSingleThreaded } from "./src/container/single_thread.ts";

if (import.meta.main) {
  // Before the CLI's modules load: a process that must run again with V8 single-threaded (a
  // plain `deno run main.ts`) does so at once, and loads them only there.
  try {
    ensureSingleThreaded(Deno.args);
  } catch (e) {
    console.error(`paranoid: ${(e as Error).message}`);
    Deno.exit(125);
  }
  const { cli } = await import("./src/cli/main.ts");
  Deno.exit(await cli(Deno.args));
}
