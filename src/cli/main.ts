// The CLI's dispatcher: subcommands, and the original form when the first word is not one.

import { runCommand } from "./run.ts";
import { VERSION } from "./version.ts";
import { HELP } from "./help.ts";

// Commands other than running a container load their modules on demand, so that
// starting a container does not pay for the image and OCI code.
const images = () => import("./image_commands.ts");

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
      return await (await images()).pullCommand(rest, args);
    case "images":
      return await (await images()).imagesCommand(rest);
    case "rmi":
      return await (await images()).rmiCommand(rest);
    case "prune":
      return await (await images()).pruneCommand(rest, args);
    case "extract":
      return await (await images()).extractCommand(rest, args);
    case "exec":
      return await (await import("./exec.ts")).execCommand(rest, args);
    case "ps":
      return await (await images()).psCommand(rest);
    case "rm":
      return await (await images()).rmCommand(rest, args);
    case "oci":
      return await (await import("./oci.ts")).ociCommand(rest, args);
    case "__extract":
      return await (await images()).innerExtractCommand(rest);
    case "__spawn":
      return await (await import("./spawn_helper.ts")).runSpawnHelper(args);
    default:
      return await runCommand(args, args);
  }
}
