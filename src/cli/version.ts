// The program's name and version, read from deno.json at build time.

import config from "../../deno.json" with { type: "json" };

/** The version from deno.json. */
export const VERSION: string = config.version;
