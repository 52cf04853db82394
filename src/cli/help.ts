// Help and usage texts.

import { formatOptions } from "./args.ts";
import { RUN_OPTIONS } from "./run_options.ts";

/** The one-line usage. */
export const USAGE = [
  "Usage: paranoid [OPTION...] [--root=ROOT_PATH] -- INIT [INIT_ARGS...]",
  "       paranoid run [OPTION...] IMAGE [--] [CMD [ARGS...]]",
  "       paranoid exec [-i] [-t] [-e K=V] [-w DIR] [-u UID[:GID]] NAME [--] CMD [ARGS...]",
  "       paranoid pull|images|rmi|ps|rm|prune|extract|oci|help|version ...",
].join("\n");

/** The full help text. */
export const HELP = `paranoid: rootless containers, one program, no daemon.

${USAGE}

Runs INIT as root inside new user, mount, pid, UTS, IPC, cgroup and network
namespaces, in ROOT_PATH (default: a small busybox root built on first use),
or in IMAGE (pulled when missing) on a copy-on-write overlay. The network is a
userspace TCP/IP stack: eth0 is 10.0.15.2/30, the gateway 10.0.15.1 answers
DNS and leads to the host's 127.0.0.1.

Commands:
  run IMAGE         run an image (Docker Hub by default: alpine = docker.io/library/alpine:latest)
  pull REF          fetch an image        images      list images       rmi REF   forget an image
  ps [-a]           list containers       rm NAME     remove one        prune     free space
  exec NAME CMD     run CMD in a running container's namespaces (-t: with a terminal)
  extract TAR DIR   unpack a root filesystem tarball with ownership kept
  oci ...           the OCI runtime command line (paranoid oci --help)

Options:
${formatOptions(RUN_OPTIONS)}

Exit status: INIT's own; 128+N when it died of signal N; 125 when the
container could not be set up; 126 when INIT cannot be executed; 127 when it
does not exist; 2 for a mistake on the command line.`;
