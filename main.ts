// paranoid's command-line entry: `paranoid [OPTION...] --root=ROOT -- INIT`, and subcommands.

import { cli } from "./src/cli/main.ts";

if (import.meta.main) {
  Deno.exit(await cli(Deno.args));
}
