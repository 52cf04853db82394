// `paranoid exec [OPTIONS] NAME [--] CMD [ARGS...]`: run a command in a running container's namespaces.

import { listOption, parseOptions, stringOption, UsageError } from "./args.ts";
import { ensureSingleThreaded } from "../container/single_thread.ts";
import { joinContainer, JoinError } from "../container/join.ts";
import { DOCKER_DEFAULT_CAPABILITY_MASK } from "../container/caps.ts";
import { defaultSeccompProgram } from "../container/seccomp/cache.ts";
import { DEFAULT_PATH } from "../container/process/identity.ts";
import { parseEnvAssignment, parseUser } from "./run_options.ts";
import { containerRegistry, describeError } from "./image_commands.ts";
import { processStartTime } from "./containers.ts";

const USAGE =
  "Usage: paranoid exec [-i] [-t] [-e K=V] [-w DIR] [-u UID[:GID]] NAME [--] CMD [ARGS...]";

/** Runs `exec`; returns the command's exit status (125 when the container cannot be joined). */
export async function execCommand(
  argv: readonly string[],
  reexec: readonly string[],
): Promise<number> {
  let parsed;
  try {
    parsed = parseOptions(argv, [
      { long: "env", short: "e", value: "K=V", repeat: true, help: "" },
      { long: "workdir", short: "w", value: "DIR", help: "" },
      { long: "user", short: "u", value: "UID[:GID]", help: "" },
      { long: "interactive", short: "i", help: "" },
      { long: "tty", short: "t", help: "" },
    ]);
    if (parsed.rest.length < 2) {
      throw new UsageError(`exec needs a container and a command\n${USAGE}`);
    }
  } catch (e) {
    if (e instanceof UsageError) {
      console.error(`paranoid: ${e.message}`);
      return 2;
    }
    throw e;
  }
  const o = parsed.options;
  const [name, ...words] = parsed.rest as [string, ...string[]];
  const args = words[0] === "--" ? words.slice(1) : words;
  let user = { uid: 0, gid: 0 };
  const env = new Map<string, string>([["PATH", DEFAULT_PATH]]);
  try {
    const u = stringOption(o, "user");
    if (u !== undefined) user = parseUser(u);
    for (const e of listOption(o, "env")) {
      const kv = parseEnvAssignment(e, `"--env ${e}"`, (k) => Deno.env.get(k));
      if (kv) env.set(kv[0], kv[1]);
    }
    if (args.length === 0) {
      throw new UsageError(`exec needs a command after the container\n${USAGE}`);
    }
  } catch (e) {
    if (e instanceof UsageError) {
      console.error(`paranoid: ${e.message}`);
      return 2;
    }
    throw e;
  }
  if (o.has("tty") && !env.has("TERM")) env.set("TERM", Deno.env.get("TERM") ?? "xterm");
  ensureSingleThreaded(reexec);
  try {
    const record = await containerRegistry().find(name);
    if (record.status !== "running" || record.pid === null) {
      console.error(`paranoid: container "${record.name}" is not running`);
      return 125;
    }
    env.set("HOSTNAME", readHostname(record.pid));
    const caps = DOCKER_DEFAULT_CAPABILITY_MASK;
    return await joinContainer(record.pid, {
      args,
      env: [...env].map(([k, v]) => `${k}=${v}`),
      cwd: stringOption(o, "workdir") ?? "/",
      user,
      groups: [user.gid],
      capabilities: caps,
      seccomp: await defaultSeccompProgram(caps),
      terminal: o.has("tty") ? windowSize() : null,
    }, { stillInit: () => processStartTime(record.pid!) === record.pidStart });
  } catch (e) {
    if (e instanceof JoinError) {
      console.error(`paranoid: cannot exec in "${name}": ${e.message}`);
      return 125;
    }
    const known = describeError(e);
    if (known !== null) {
      console.error(`paranoid: ${known}`);
      return 125;
    }
    throw e;
  }
}

/** The size of this process's terminal, for the program's pty. */
function windowSize(): { rows: number; columns: number } | "unsized" {
  try {
    return Deno.consoleSize();
  } catch {
    return "unsized";
  }
}

/** The container's hostname, read through its INIT's UTS namespace view. */
function readHostname(pid: number): string {
  try {
    return Deno.readTextFileSync(`/proc/${pid}/root/etc/hostname`).trim();
  } catch {
    return "";
  }
}
