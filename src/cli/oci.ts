// `paranoid oci`: an OCI runtime command line (runtime-spec 1.x) in runc's and crun's conventions.

import { parseArgs, type ParseArgsOptionsConfig } from "node:util";
import { resolve } from "node:path";
import { ContainerConfigError } from "../container/options.ts";
import { ContainerStartError } from "../container/process/host.ts";
import { ensureSingleThreaded } from "../container/single_thread.ts";
import { OciConfigError } from "../oci/config.ts";
import { defaultConfig } from "../oci/default_config.ts";
import { OciHookError } from "../oci/hooks.ts";
import { execInContainer, type ExecRequest } from "../oci/exec.ts";
import { ConsoleSocketError } from "../oci/console.ts";
import {
  containerState,
  createContainer,
  deleteContainer,
  holdContainer,
  killContainer,
  OciRunError,
  parseSignal,
  runContainer,
  startCreated,
} from "../oci/runtime.ts";
import { defaultStateRoot, OciStateError, publicState, StateStore } from "../oci/state.ts";
import { VERSION } from "./version.ts";

/** The usage text of `paranoid oci`. */
export const OCI_USAGE = `Usage: paranoid oci [GLOBAL OPTION...] COMMAND [OPTION...] [ID]

An OCI runtime (runtime-spec 1.x) for rootless containers, in runc's conventions.

Commands:
  spec [--rootless] [--bundle DIR]       write a default config.json
  create [--bundle DIR] [--pid-file F] [--console-socket S] ID
  start ID                               let a created container's process run
  state ID                               print the state JSON
  kill ID [SIGNAL]                       signal the container's process (default TERM)
  delete [--force] ID                    remove a stopped container
  run [--bundle DIR] [--pid-file F] [--console-socket S] ID
                                         create, start and wait; exit with its status
  exec [--cwd D] [-e K=V] [-u UID[:GID]] [--process F] [--pid-file F] [-d] ID CMD...
                                         run another process in a running container
  list [--format table|json]             the containers under the state root
  features                               what this runtime supports, as JSON

Global options:
  --root DIR          state directory (default $XDG_RUNTIME_DIR/paranoid-oci)
  --log FILE          also write errors to FILE
  --log-format F      text (default) or json
  --systemd-cgroup    accepted and ignored: paranoid uses no cgroup manager
  --debug             accepted`;

/** Global options, before the command word. */
interface Globals {
  root: string;
  log: string | null;
  logFormat: "text" | "json";
  /** The global arguments as given, for the monitor's command line. */
  args: string[];
  /** Notes about ignored options, written to the log. */
  notes: string[];
}

class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

function parseGlobals(args: readonly string[]): { globals: Globals; rest: string[] } {
  const globals: Globals = {
    root: defaultStateRoot(),
    log: null,
    logFormat: "text",
    args: [],
    notes: [],
  };
  let i = 0;
  const value = (name: string, inline: string | undefined): string => {
    if (inline !== undefined) return inline;
    const v = args[++i];
    if (v === undefined) throw new UsageError(`option "${name}" needs a value`);
    return v;
  };
  for (; i < args.length; i++) {
    const a = args[i]!;
    if (!a.startsWith("-")) break;
    const eq = a.indexOf("=");
    const name = eq > 0 ? a.slice(0, eq) : a;
    const inline = eq > 0 ? a.slice(eq + 1) : undefined;
    switch (name) {
      case "--root":
        globals.root = resolve(value(name, inline));
        globals.args.push("--root", globals.root);
        break;
      case "--log":
        globals.log = resolve(value(name, inline));
        globals.args.push("--log", globals.log);
        break;
      case "--log-format": {
        const f = value(name, inline);
        if (f !== "text" && f !== "json") {
          throw new UsageError(`log format "${f}" is not known: use text or json`);
        }
        globals.logFormat = f;
        globals.args.push("--log-format", f);
        break;
      }
      case "--systemd-cgroup":
        globals.notes.push("--systemd-cgroup is ignored: paranoid uses no cgroup manager");
        break;
      case "--debug":
      case "--rootless":
        if (
          name === "--rootless" && inline === undefined &&
          /^(true|false|auto)$/.test(args[i + 1] ?? "")
        ) i++;
        break;
      case "--version":
      case "-v":
        return { globals, rest: ["--version"] };
      case "--help":
      case "-h":
        return { globals, rest: ["--help"] };
      default:
        throw new UsageError(`global option "${a}" is not known`);
    }
  }
  return { globals, rest: args.slice(i) };
}

function logLine(g: Globals, level: "error" | "warning", message: string): void {
  if (g.log === null) return;
  const time = new Date().toISOString();
  const line = g.logFormat === "json"
    ? JSON.stringify({ level, msg: message, time })
    : `time="${time}" level=${level} msg=${JSON.stringify(message)}`;
  try {
    Deno.writeTextFileSync(g.log, line + "\n", { append: true });
  } catch {
    // the log is best effort
  }
}

function oneId(positionals: string[], command: string): string {
  if (positionals.length !== 1) {
    throw new UsageError(`"${command}" takes exactly one container id`);
  }
  return positionals[0]!;
}

function parse<const T extends ParseArgsOptionsConfig>(args: string[], options: T) {
  try {
    return parseArgs({ args, options, allowPositionals: true, strict: true });
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
}

const CREATE_OPTIONS = {
  bundle: { type: "string", short: "b" },
  "pid-file": { type: "string" },
  "console-socket": { type: "string" },
  "no-pivot": { type: "boolean" },
  "no-new-keyring": { type: "boolean" },
  "preserve-fds": { type: "string" },
  detach: { type: "boolean", short: "d" },
} as const;

function createOptions(values: Record<string, string | boolean | undefined>) {
  const preserve = values["preserve-fds"];
  if (preserve !== undefined && preserve !== "0") {
    throw new UsageError(
      `--preserve-fds ${preserve} is not supported: the container gets stdin, stdout and stderr only`,
    );
  }
  const bundle = resolve(typeof values.bundle === "string" ? values.bundle : Deno.cwd());
  const pidFile = typeof values["pid-file"] === "string" ? resolve(values["pid-file"]) : null;
  const socket = values["console-socket"];
  return {
    bundle,
    pidFile,
    consoleSocket: typeof socket === "string" ? resolve(socket) : null,
  };
}

async function dispatch(g: Globals, command: string, args: string[], all: readonly string[]) {
  const store = new StateStore(g.root);
  switch (command) {
    case "spec": {
      const { values } = parse(args, {
        rootless: { type: "boolean" },
        bundle: { type: "string", short: "b" },
      });
      const dir = resolve(values.bundle ?? Deno.cwd());
      const path = `${dir}/config.json`;
      try {
        Deno.statSync(path);
        throw new OciStateError(`"${path}" already exists: remove it first`);
      } catch (e) {
        if (!(e instanceof Deno.errors.NotFound)) throw e;
      }
      Deno.writeTextFileSync(
        path,
        JSON.stringify(defaultConfig(values.rootless ?? false), null, 2) + "\n",
      );
      return 0;
    }
    case "create": {
      const { values, positionals } = parse(args, CREATE_OPTIONS);
      const id = oneId(positionals, command);
      await createContainer(store, id, createOptions(values), g.args);
      return 0;
    }
    case "run": {
      const { values, positionals } = parse(args, CREATE_OPTIONS);
      const id = oneId(positionals, command);
      if (values.detach) {
        await createContainer(store, id, createOptions(values), g.args);
        await startCreated(store, id);
        return 0;
      }
      return await runContainer(store, id, createOptions(values), all);
    }
    case "start": {
      const { positionals } = parse(args, {});
      await startCreated(store, oneId(positionals, command));
      return 0;
    }
    case "state": {
      const { positionals } = parse(args, {});
      console.log(JSON.stringify(containerState(store, oneId(positionals, command)), null, 2));
      return 0;
    }
    case "kill": {
      const { values, positionals } = parse(args, { all: { type: "boolean", short: "a" } });
      void values;
      if (positionals.length < 1 || positionals.length > 2) {
        throw new UsageError(`"kill" takes a container id and an optional signal`);
      }
      killContainer(store, positionals[0]!, parseSignal(positionals[1] ?? "TERM"));
      return 0;
    }
    case "delete": {
      const { values, positionals } = parse(args, { force: { type: "boolean", short: "f" } });
      await deleteContainer(store, oneId(positionals, command), values.force ?? false);
      return 0;
    }
    case "list": {
      const { values } = parse(args, {
        format: { type: "string", short: "f" },
        quiet: { type: "boolean", short: "q" },
      });
      const records = store.list();
      if (values.format === "json") {
        console.log(JSON.stringify(records.map(publicState)));
      } else if (values.quiet) {
        for (const r of records) console.log(r.id);
      } else if (values.format === undefined || values.format === "table") {
        const rows = [["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"]];
        for (const r of records) {
          rows.push([
            r.id,
            String(r.status === "stopped" ? 0 : r.pid),
            r.status,
            r.bundle,
            r.created,
            r.owner,
          ]);
        }
        const widths = rows[0]!.map((_, i) => Math.max(...rows.map((row) => row[i]!.length)));
        for (const row of rows) {
          console.log(row.map((c, i) => c.padEnd(widths[i]!)).join("   ").trimEnd());
        }
      } else {
        throw new UsageError(`list format "${values.format}" is not known: use table or json`);
      }
      return 0;
    }
    case "features":
      console.log(JSON.stringify(features(), null, 2));
      return 0;
    case "exec":
      ensureSingleThreaded(all);
      return await execCommand(store, args);
    case "pause":
    case "resume":
    case "update":
    case "checkpoint":
    case "restore":
    case "ps":
    case "events":
      throw new OciStateError(
        `"${command}" is not supported by paranoid's OCI runtime yet`,
      );
    case "__monitor": {
      ensureSingleThreaded(all);
      const id = args[0] ?? "";
      return await holdContainer(store, id, null);
    }
    default:
      throw new UsageError(`command "${command}" is not known`);
  }
}

/** `exec [OPTION...] ID CMD [ARG...]`: options end at the container id. */
async function execCommand(store: StateStore, args: string[]): Promise<number> {
  const request: ExecRequest = {
    args: [],
    env: [],
    cwd: null,
    user: null,
    pidFile: null,
    detach: false,
  };
  let id: string | null = null;
  let process: string | null = null;
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (id !== null) {
      request.args.push(a);
      continue;
    }
    if (a === "--") {
      id = args[++i] ?? null;
      continue;
    }
    if (!a.startsWith("-")) {
      id = a;
      continue;
    }
    const eq = a.indexOf("=");
    const name = eq > 0 ? a.slice(0, eq) : a;
    const value = () => {
      const v = eq > 0 ? a.slice(eq + 1) : args[++i];
      if (v === undefined) throw new UsageError(`option "${name}" needs a value`);
      return v;
    };
    switch (name) {
      case "--cwd":
        request.cwd = value();
        break;
      case "--env":
      case "-e": {
        const v = value();
        if (!v.includes("=")) throw new UsageError(`--env "${v}" must be KEY=VALUE`);
        request.env.push(v);
        break;
      }
      case "--user":
      case "-u": {
        const m = /^(\d+)(?::(\d+))?$/.exec(value());
        if (!m) throw new UsageError(`--user must be UID[:GID]`);
        request.user = { uid: Number(m[1]), gid: Number(m[2] ?? 0) };
        break;
      }
      case "--process":
      case "-p":
        process = value();
        break;
      case "--pid-file":
        request.pidFile = resolve(value());
        break;
      case "--detach":
      case "-d":
        request.detach = true;
        break;
      case "--tty":
      case "-t":
      case "--console-socket":
      case "--preserve-fds":
        throw new UsageError(`exec ${name} is not supported`);
      case "--cap":
      case "--apparmor":
      case "--process-label":
        value();
        throw new UsageError(`exec ${name} is not supported`);
      default:
        throw new UsageError(`exec option "${a}" is not known`);
    }
  }
  if (id === null) throw new UsageError(`"exec" takes a container id and a command`);
  if (process !== null) {
    let p: Record<string, unknown>;
    try {
      p = JSON.parse(Deno.readTextFileSync(process)) as Record<string, unknown>;
    } catch (e) {
      throw new UsageError(`--process "${process}" cannot be read: ${(e as Error).message}`);
    }
    if (p.terminal === true) throw new UsageError(`--process: terminal is not supported`);
    if (Array.isArray(p.args)) request.args = p.args.map(String);
    if (Array.isArray(p.env)) request.env = p.env.map(String);
    if (typeof p.cwd === "string") request.cwd = p.cwd;
    const u = p.user as { uid?: number; gid?: number } | undefined;
    if (u !== undefined) request.user = { uid: u.uid ?? 0, gid: u.gid ?? 0 };
  }
  return await execInContainer(store, id, request);
}

function features(): Record<string, unknown> {
  return {
    ociVersionMin: "1.0.0",
    ociVersionMax: "1.2.0",
    hooks: ["prestart", "createRuntime", "poststart", "poststop"],
    mountOptions: ["bind", "rbind", "ro", "rw", "nosuid", "nodev", "noexec"],
    linux: {
      namespaces: ["cgroup", "ipc", "mount", "network", "pid", "user", "uts"],
      capabilities: [],
      cgroup: { v1: false, v2: false, systemd: false, systemdUser: false },
      seccomp: {
        enabled: true,
        actions: [
          "SCMP_ACT_ALLOW",
          "SCMP_ACT_ERRNO",
          "SCMP_ACT_KILL",
          "SCMP_ACT_KILL_PROCESS",
          "SCMP_ACT_KILL_THREAD",
          "SCMP_ACT_LOG",
          "SCMP_ACT_TRACE",
          "SCMP_ACT_TRAP",
        ],
        operators: [
          "SCMP_CMP_EQ",
          "SCMP_CMP_GE",
          "SCMP_CMP_GT",
          "SCMP_CMP_LE",
          "SCMP_CMP_LT",
          "SCMP_CMP_MASKED_EQ",
          "SCMP_CMP_NE",
        ],
      },
      apparmor: { enabled: false },
      selinux: { enabled: false },
    },
  };
}

/** Runs `paranoid oci ARGS...` (`all` is the whole argument list, for re-execution). */
export async function ociCommand(
  args: readonly string[],
  all: readonly string[],
): Promise<number> {
  let g: Globals = {
    root: defaultStateRoot(),
    log: null,
    logFormat: "text",
    args: [],
    notes: [],
  };
  try {
    const parsed = parseGlobals(args);
    g = parsed.globals;
    for (const note of g.notes) logLine(g, "warning", note);
    const [command, ...rest] = parsed.rest;
    if (command === undefined || command === "--help" || command === "help") {
      console.log(OCI_USAGE);
      return command === undefined ? 2 : 0;
    }
    if (command === "--version" || command === "version") {
      console.log(`paranoid version ${VERSION}\nspec: 1.2.0`);
      return 0;
    }
    return await dispatch(g, command, rest, all);
  } catch (e) {
    const known = e instanceof UsageError || e instanceof OciStateError ||
      e instanceof OciConfigError || e instanceof OciHookError || e instanceof OciRunError ||
      e instanceof ConsoleSocketError || e instanceof ContainerConfigError ||
      e instanceof ContainerStartError;
    if (!known) throw e;
    console.error(`paranoid oci: ${e.message}`);
    logLine(g, "error", e.message);
    if (e instanceof UsageError) return 2;
    if (e instanceof OciRunError || e instanceof ContainerStartError) return e.exitCode;
    return 1;
  }
}
