// The OCI runtime operations (runtime.md "Operations") over paranoid's container core.
//
// Theory of operation: the process that calls startContainer is the container's
// host side, and the container dies with it (PR_SET_PDEATHSIG). `create` must
// return while the container lives, so it claims the id, makes the start gate
// FIFO and starts a detached monitor (`paranoid oci __monitor ID`, in its own
// session, with create's stdio so that INIT inherits them as with runc). The
// monitor starts the container with the gate, runs the prestart and
// createRuntime hooks, records "created" with INIT's pid, and waits: when
// `start` reads the gate, INIT executes and the monitor records "running"; when
// INIT ends, "stopped" with its exit status; then it exits. `create` waits until
// the record says created (or carries the error to print), and writes the
// monitor's pid to --pid-file: the monitor, not INIT, is what a supervisor
// such as conmon can reap (it is reparented to it); it exits with INIT's
// status and passes signals on to INIT. `run` does all of
// this in one process, in the foreground. `kill` signals INIT's pid directly,
// `delete` removes a stopped container's record (and with --force kills INIT
// and the monitor first). Status changes are written only by the monitor (or
// `run`), so there is one writer per record; readers correct the status with
// what the kernel says (see state.ts).

import { buildSpec, ContainerConfigError } from "../container/options.ts";
import {
  ContainerStartError,
  type RunningContainer,
  startContainer,
} from "../container/process/host.ts";
import { ensureSingleThreaded, singleThreadedCommand } from "../container/single_thread.ts";
import type { ContainerSpec } from "../container/spec.ts";
import { relayTerminal } from "../container/tty.ts";
import { close, O, open, read } from "../../ffi/sys.ts";
import { kill, setrlimit } from "../../ffi/process.ts";
import { SyscallError } from "../../ffi/errno.ts";
import {
  idMappingProblem,
  OciConfigError,
  parseConfig,
  translateConfig,
  type TranslatedConfig,
} from "./config.ts";
import { runHooks } from "./hooks.ts";
import { sendConsole } from "./console.ts";
import {
  OCI_VERSION,
  type OciRecord,
  OciStateError,
  processStart,
  publicState,
  sameProcess,
  StateStore,
} from "./state.ts";

/** Options of `create` and `run`. */
export interface CreateOptions {
  /** Absolute path of the bundle. */
  bundle: string;
  /**
   * Where to write the pid of the process that holds the container (the monitor, or `run`
   * itself), or null. That process lives as long as INIT, passes signals on to it and exits
   * with its status, so a supervisor that reaps it (conmon, a containerd shim) gets the
   * container's exit status, as it would reaping runc's INIT. `state` gives INIT's own pid.
   */
  pidFile: string | null;
  /** A unix socket to send the pty master to, or null. */
  consoleSocket: string | null;
}

/** A `run` whose container could not be created or started: the reason and the exit status. */
export class OciRunError extends Error {
  /** 125 for setup failures, 126/127 when INIT cannot be executed or found. */
  readonly exitCode: number;
  /** Builds the error. */
  constructor(message: string, exitCode: number) {
    super(message);
    this.name = "OciRunError";
    this.exitCode = exitCode;
  }
}

/** What the monitor needs beyond the record: kept beside it as ID/request.json. */
interface MonitorRequest {
  consoleSocket: string | null;
}

/** Signals the monitor (or `run`) passes on to INIT. */
const FORWARDED_SIGNALS = [
  ["SIGHUP", 1],
  ["SIGINT", 2],
  ["SIGQUIT", 3],
  ["SIGUSR1", 10],
  ["SIGUSR2", 12],
  ["SIGTERM", 15],
] as const;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Reads and translates the bundle's config.json. */
export function loadBundle(bundle: string): TranslatedConfig {
  let text: string;
  try {
    text = Deno.readTextFileSync(`${bundle}/config.json`);
  } catch (e) {
    throw new OciConfigError(
      `cannot be read in the bundle "${bundle}": ${(e as Error).message}`,
    );
  }
  return translateConfig(parseConfig(text), bundle);
}

/** Builds the ContainerSpec for a translated config, with the start gate at `gate`. */
export async function specFor(
  t: TranslatedConfig,
  gate: string | null,
): Promise<ContainerSpec> {
  const { spec } = await buildSpec({ ...t.options, startGate: gate });
  if (t.idMappings !== null) {
    const problem = idMappingProblem(t.idMappings, spec.idMapping);
    if (problem) throw problem;
  }
  for (const [i, g] of t.overrides.groups.slice(1).entries()) {
    if (!spec.idMapping.gids.some((r) => r.inside <= g && g < r.inside + r.count)) {
      throw new OciConfigError(
        `process.user.additionalGids[${i}] ${g} is not mapped into the container`,
      );
    }
  }
  return { ...spec, env: t.overrides.env, groups: t.overrides.groups };
}

function applyRlimits(t: TranslatedConfig): void {
  for (const [i, r] of t.rlimits.entries()) {
    try {
      setrlimit(r.resource, r.soft, r.hard);
    } catch (e) {
      throw new OciConfigError(
        `process.rlimits[${i}] ${r.type} ${r.soft}/${r.hard} cannot be set: ${
          (e as Error).message
        }`,
      );
    }
  }
}

/**
 * Makes the start gate. INIT opens it for writing after switching to the configured user, who
 * may map to a subordinate host id: so it is writable by all, and reachable only through the
 * container's 0700 state directory (and INIT's O_PATH descriptor).
 */
function makeFifo(path: string): void {
  const out = new Deno.Command("mkfifo", { args: ["-m", "0622", path], stderr: "piped" })
    .outputSync();
  if (!out.success) {
    throw new Error(
      `cannot make the start gate "${path}": ${new TextDecoder().decode(out.stderr)}`,
    );
  }
}

function ownerName(): string {
  const uid = Deno.uid() ?? 0;
  try {
    for (const line of Deno.readTextFileSync("/etc/passwd").split("\n")) {
      const f = line.split(":");
      if (f[2] === String(uid) && f[0]) return f[0];
    }
  } catch {
    // no passwd
  }
  return String(uid);
}

function freshRecord(id: string, bundle: string, t: TranslatedConfig): OciRecord {
  return {
    ociVersion: OCI_VERSION,
    id,
    status: "creating",
    pid: 0,
    pidStart: null,
    bundle,
    rootfs: t.rootfs,
    created: new Date().toISOString(),
    owner: ownerName(),
    annotations: t.annotations,
    monitor: { pid: Deno.pid, start: processStart(Deno.pid) },
    exitCode: null,
    error: null,
  };
}

/** Claims the id, makes the gate and writes the "creating" record; the config is checked first. */
async function prepare(
  store: StateStore,
  id: string,
  o: CreateOptions,
): Promise<TranslatedConfig> {
  StateStore.checkId(id);
  const t = loadBundle(o.bundle);
  await specFor(t, null); // every check that can be made before claiming the id
  for (const w of t.warnings) warn(w);
  store.claim(id);
  try {
    makeFifo(store.gate(id));
    store.write(freshRecord(id, o.bundle, t));
    const request: MonitorRequest = { consoleSocket: o.consoleSocket };
    Deno.writeTextFileSync(`${store.dir(id)}/request.json`, JSON.stringify(request));
  } catch (e) {
    store.remove(id);
    throw e;
  }
  return t;
}

function writePidFile(path: string | null, pid: number): void {
  if (path === null) return;
  const tmp = `${path}.${Deno.pid}.tmp`;
  Deno.writeTextFileSync(tmp, String(pid));
  Deno.renameSync(tmp, path);
}

/**
 * `create`: starts the monitor and waits until the container is created. Throws with the
 * one-sentence reason when it is not.
 */
export async function createContainer(
  store: StateStore,
  id: string,
  o: CreateOptions,
  globalArgs: readonly string[],
): Promise<void> {
  const t = await prepare(store, id, o);
  if (t.terminal && o.consoleSocket === null) {
    store.remove(id);
    throw new OciConfigError("process.terminal needs --console-socket for a detached container");
  }
  const argv = singleThreadedCommand(["oci", ...globalArgs, "__monitor", id]);
  let child: Deno.ChildProcess;
  try {
    child = new Deno.Command("setsid", {
      args: argv,
      stdin: "inherit",
      stdout: "inherit",
      stderr: "inherit",
      env: { DENO_V8_FLAGS: "--single-threaded", PARANOID_REEXEC: "1" },
    }).spawn();
  } catch (e) {
    store.remove(id);
    throw e;
  }
  let exited = false;
  child.status.then(() => exited = true);
  for (;;) {
    const r = store.readRaw(id);
    if (r !== null && r.status === "created") {
      writePidFile(o.pidFile, r.monitor.pid);
      child.unref();
      return;
    }
    if (r !== null && r.error !== null) {
      await child.status;
      store.remove(id);
      throw new OciStateError(r.error);
    }
    if (exited) {
      store.remove(id);
      throw new OciStateError(`container "${id}" was not created: its monitor exited`);
    }
    await sleep(10);
  }
}

/**
 * The monitor (`__monitor ID`) and `run`: holds the container from its start to its end. With
 * `foreground`, it also starts INIT, relays a terminal and forwards signals. Returns INIT's
 * exit status (128+N for signal N) once INIT has ended and the record says so, so that a
 * subreaper that adopts the monitor (conmon) sees the container's status as the monitor's.
 */
export async function holdContainer(
  store: StateStore,
  id: string,
  foreground: { pidFile: string | null } | null,
): Promise<number> {
  let record = store.readRaw(id);
  if (record === null) throw new OciStateError(`container "${id}" does not exist`);
  record = { ...record, monitor: { pid: Deno.pid, start: processStart(Deno.pid) } };
  store.write(record);
  const request = JSON.parse(
    Deno.readTextFileSync(`${store.dir(id)}/request.json`),
  ) as MonitorRequest;
  const fail = (message: string) => {
    record = { ...record!, status: "stopped", error: message };
    store.write(record);
  };
  let t: TranslatedConfig;
  let running: RunningContainer;
  try {
    t = loadBundle(record.bundle);
    const spec = await specFor(t, store.gate(id));
    applyRlimits(t);
    running = await startContainer(spec, {
      stdin: "inherit",
      stdout: "inherit",
      stderr: "inherit",
    });
  } catch (e) {
    if (
      e instanceof ContainerStartError || e instanceof ContainerConfigError ||
      e instanceof OciConfigError
    ) {
      fail(e.message);
      return foreground ? (e instanceof ContainerStartError ? e.exitCode : 125) : 1;
    }
    fail(`container "${id}" cannot be created: ${(e as Error).message}`);
    throw e;
  }
  let done = false;
  const status = running.status.then((s) => {
    done = true;
    return s;
  });
  const abort = async (message: string) => {
    running.kill(9);
    await status;
    fail(message);
  };
  record = { ...record, status: "created", pid: running.pid, pidStart: processStart(running.pid) };
  try {
    if (running.ptyFd !== null && request.consoleSocket !== null) {
      await sendConsole(request.consoleSocket, running.ptyFd);
      close(running.ptyFd);
    }
    const creating = publicState({ ...record, status: "creating" });
    await runHooks(t.hooks.prestart, creating, "hooks.prestart");
    await runHooks(t.hooks.createRuntime, creating, "hooks.createRuntime");
  } catch (e) {
    await abort((e as Error).message);
    return foreground ? 125 : 1;
  }
  store.write(record);

  // Signals sent to this process (by a supervisor holding the pid file) go to INIT.
  const forwarded: [Deno.Signal, () => void][] = [];
  for (const [name, n] of FORWARDED_SIGNALS) {
    const fn = () => void running.kill(n);
    Deno.addSignalListener(name, fn);
    forwarded.push([name, fn]);
  }
  let relay: Promise<void> = Promise.resolve();
  if (foreground) {
    writePidFile(foreground.pidFile, Deno.pid);
    try {
      await openGate(store.gate(id), running.pid);
    } catch (e) {
      const late = await Promise.race([running.lateFailure, status.then(() => null)]);
      await abort(late ?? (e as Error).message);
      for (const [name, fn] of forwarded) Deno.removeSignalListener(name, fn);
      return (await status).code ?? 125;
    }
  }
  const late = await running.lateFailure;
  if (late !== null) {
    await status;
    fail(late);
  } else if (!done) {
    record = { ...record, status: "running" };
    store.write(record);
  }
  if (foreground && late === null) {
    await runHooks(t.hooks.poststart, publicState(record), "hooks.poststart").catch((e) =>
      warn(e.message)
    );
    if (running.ptyFd !== null && request.consoleSocket === null) {
      relay = relayTerminal(running.ptyFd);
    }
  }
  const s = await status;
  await relay;
  for (const [name, fn] of forwarded) Deno.removeSignalListener(name, fn);
  const code = s.signal !== null ? 128 + s.signal : s.code ?? 0;
  if (late === null) {
    record = { ...record, status: "stopped", exitCode: code };
    store.write(record);
  }
  return code;
}

/** Prints a warning on stderr (and to the log, through the CLI's console hook). */
export function warn(message: string): void {
  console.error(`paranoid oci: warning: ${message}`);
}

/**
 * Lets INIT through its start gate: opens the FIFO without blocking and reads the one byte
 * INIT writes, giving up when INIT is gone.
 */
async function openGate(gate: string, pid: number): Promise<void> {
  const start = processStart(pid);
  let fd: number;
  try {
    fd = open(gate, O.RDONLY | O.NONBLOCK | O.CLOEXEC);
  } catch (e) {
    throw new OciStateError(`cannot open the start gate "${gate}": ${(e as Error).message}`);
  }
  try {
    const buf = new Uint8Array(1);
    const tryRead = () => {
      try {
        return read(fd, buf) === 1;
      } catch (e) {
        if (!(e instanceof SyscallError) || e.errno !== 11) throw e; // EAGAIN: INIT is writing
        return false;
      }
    };
    for (;;) {
      if (tryRead()) return;
      if (!sameProcess(pid, start)) {
        // INIT may have written, executed and ended since the read: the byte is still there.
        if (tryRead()) return;
        throw new OciStateError("the container's INIT ended before it was started");
      }
      await sleep(5);
    }
  } finally {
    close(fd);
  }
}

/** `start`: lets a created container's INIT run; waits until the record says running. */
export async function startCreated(store: StateStore, id: string): Promise<void> {
  const r = store.load(id);
  if (r.status !== "created") {
    throw new OciStateError(`container "${id}" is not created: its status is "${r.status}"`);
  }
  try {
    await openGate(store.gate(id), r.pid);
  } catch (e) {
    // The monitor records why INIT ended (an execve or user switch failure), if it knows.
    for (;;) {
      const now = store.readRaw(id);
      if (now?.error) throw new OciStateError(now.error);
      if (now === null || !sameProcess(now.monitor.pid, now.monitor.start)) throw e;
      await sleep(5);
    }
  }
  for (;;) {
    const now = store.load(id);
    if (now.error !== null) throw new OciStateError(now.error);
    if (now.status === "running" || now.status === "stopped") {
      const t = loadBundle(now.bundle);
      await runHooks(t.hooks.poststart, publicState(now), "hooks.poststart").catch((e) =>
        warn(e.message)
      );
      return;
    }
    await sleep(5);
  }
}

/** `run`: create, start and wait in this process; returns INIT's exit status. */
export async function runContainer(
  store: StateStore,
  id: string,
  o: CreateOptions,
  reexecArgs: readonly string[],
): Promise<number> {
  ensureSingleThreaded(reexecArgs);
  const t = await prepare(store, id, o);
  if (t.terminal && o.consoleSocket === null && !Deno.stdin.isTerminal()) {
    store.remove(id);
    throw new OciConfigError("process.terminal needs a terminal on stdin or --console-socket");
  }
  try {
    const code = await holdContainer(store, id, { pidFile: o.pidFile });
    const r = store.readRaw(id);
    if (r?.error) throw new OciRunError(r.error, code);
    return code;
  } finally {
    await deleteContainer(store, id, true).catch(() => {});
  }
}

/** Signal names kill accepts, with or without "SIG". */
const SIGNALS: Record<string, number> = {
  HUP: 1,
  INT: 2,
  QUIT: 3,
  ILL: 4,
  TRAP: 5,
  ABRT: 6,
  IOT: 6,
  BUS: 7,
  FPE: 8,
  KILL: 9,
  USR1: 10,
  SEGV: 11,
  USR2: 12,
  PIPE: 13,
  ALRM: 14,
  TERM: 15,
  STKFLT: 16,
  CHLD: 17,
  CONT: 18,
  STOP: 19,
  TSTP: 20,
  TTIN: 21,
  TTOU: 22,
  URG: 23,
  XCPU: 24,
  XFSZ: 25,
  VTALRM: 26,
  PROF: 27,
  WINCH: 28,
  IO: 29,
  PWR: 30,
  SYS: 31,
};

/** Parses a signal as kill accepts it: "TERM", "SIGTERM", "15"; throws OciStateError. */
export function parseSignal(text: string): number {
  if (/^\d+$/.test(text)) {
    const n = Number(text);
    if (n >= 1 && n <= 64) return n;
  }
  const n = SIGNALS[text.toUpperCase().replace(/^SIG/, "")];
  if (n === undefined) throw new OciStateError(`signal "${text}" is not known`);
  return n;
}

/** `kill`: sends a signal to a created or running container's INIT. */
export function killContainer(store: StateStore, id: string, signal: number): void {
  const r = store.load(id);
  if (r.status !== "created" && r.status !== "running") {
    throw new OciStateError(
      `container "${id}" cannot be signalled: its status is "${r.status}"`,
    );
  }
  if (!kill(r.pid, signal)) throw new OciStateError(`container "${id}" is not running`);
}

/** `delete`: removes a stopped container (any, with force, after killing it). */
export async function deleteContainer(
  store: StateStore,
  id: string,
  force: boolean,
): Promise<void> {
  const r = store.load(id);
  if (r.status !== "stopped") {
    if (!force) {
      throw new OciStateError(
        `container "${id}" is ${r.status}: stop it first or delete it with --force`,
      );
    }
    if (r.pid > 0 && sameProcess(r.pid, r.pidStart)) kill(r.pid, 9);
    if (r.monitor.pid !== Deno.pid && sameProcess(r.monitor.pid, r.monitor.start)) {
      kill(r.monitor.pid, 9);
    }
    while (
      (r.pid > 0 && sameProcess(r.pid, r.pidStart)) ||
      (r.monitor.pid !== Deno.pid && sameProcess(r.monitor.pid, r.monitor.start))
    ) {
      await sleep(10);
    }
  }
  let hooks: TranslatedConfig["hooks"] | null = null;
  try {
    hooks = loadBundle(r.bundle).hooks;
  } catch {
    // the bundle is gone: no poststop hooks to run
  }
  store.remove(id);
  if (hooks !== null && r.status !== "creating") {
    await runHooks(hooks.poststop, publicState({ ...r, status: "stopped" }), "hooks.poststop")
      .catch((e) => warn(e.message));
  }
}

/** The state JSON of `state ID`. */
export function containerState(store: StateStore, id: string): Record<string, unknown> {
  return publicState(store.load(id));
}
