// Help and usage texts.

import { formatOptions } from "./args.ts";
import { RUN_OPTIONS } from "./run_options.ts";

/** The one-line usage. */
export const USAGE =
  "Usage: paranoid [OPTION...] [--root=ROOT_PATH] -- INIT [INIT_ARGS...]\n       paranoid COMMAND [ARGS...]   (commands: run, help, version)";

/** The full help text. */
export const HELP = `paranoid: rootless containers, one program, no daemon.

${USAGE}

Runs INIT as root inside new user, mount, pid, UTS, IPC, cgroup and network
namespaces, in ROOT_PATH (default: a small busybox root built on first use).

Options:
${formatOptions(RUN_OPTIONS)}

Exit status: INIT's own; 128+N when it died of signal N; 125 when the
container could not be set up; 126 when INIT cannot be executed; 127 when it
does not exist; 2 for a mistake on the command line.`;
