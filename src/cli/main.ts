// The CLI's dispatcher: subcommands, and the original form when the first word is not one.

import { runCommand } from "./run.ts";
import { runSpawnHelper } from "./spawn_helper.ts";
import { VERSION } from "./version.ts";
import { ociCommand } from "./oci.ts";
import { HELP } from "./help.ts";
import {
  extractCommand,
  imagesCommand,
  innerExtractCommand,
  pruneCommand,
  psCommand,
  pullCommand,
  rmCommand,
  rmiCommand,
} from "./image_commands.ts";

/** Runs the CLI with `args` (without the program name) and returns the exit status. */
export async function cli(args: readonly string[]): Promise<number> {
  const [first, ...rest] = args;
  switch (first) {
    case "run":
      return await runCommand(rest, args, "run");
    case "help":
      console.log(HELP);
      return 0;
    case "version":
      console.log(`paranoid ${VERSION}`);
      return 0;
    case "pull":
      return await pullCommand(rest, args);
    case "images":
      return await imagesCommand(rest);
    case "rmi":
      return await rmiCommand(rest);
    case "prune":
      return await pruneCommand(rest, args);
    case "extract":
      return await extractCommand(rest, args);
    case "ps":
      return await psCommand(rest);
    case "rm":
      return await rmCommand(rest, args);
    case "oci":
      return await ociCommand(rest, args);
    case "__extract":
      return await innerExtractCommand(rest);
    case "__spawn":
      return await runSpawnHelper(args);
    default:
      return await runCommand(args, args);
  }
}
