// The library's Container: modelled on Deno.Command, it starts a rootless container and hands back its process.

import { NotSingleThreadedError } from "./single_thread.ts";
import { buildSpec, type ContainerOptions } from "./options.ts";
import { type RunningContainer, startContainer, type StdioMode } from "./process/host.ts";
import { collect, readableFromFd, writableToFd } from "./streams.ts";
import { isSingleThreaded } from "./single_thread.ts";
import { spawnThroughHelper } from "./helper_spawn.ts";
import { attachNetwork, bindPublishedPorts, loadNetworkModules } from "./network.ts";
import { ContainerCgroup } from "./cgroups.ts";

/** Options of {@link Container}: the container itself plus where INIT's streams go. */
export interface ContainerSpawnOptions extends ContainerOptions {
  /** INIT's stdin; default "inherit" for spawn() and "null" for output(). */
  stdin?: StdioMode;
  /** INIT's stdout; default "inherit" for spawn() and "piped" for output(). */
  stdout?: StdioMode;
  /** INIT's stderr; default "inherit" for spawn() and "piped" for output(). */
  stderr?: StdioMode;
}

/** How INIT ended, as Deno.CommandStatus reports a process. */
export interface ContainerStatus {
  /** True when INIT exited with 0. */
  readonly success: boolean;
  /** The exit code; 128+N when INIT died of signal N. */
  readonly code: number;
  /** The signal number that ended INIT, or null. */
  readonly signal: number | null;
}

/** The result of {@link Container.output}. */
export interface ContainerOutput extends ContainerStatus {
  readonly stdout: Uint8Array;
  readonly stderr: Uint8Array;
}

/** A running container's INIT. */
export interface ContainerProcess {
  /** INIT's pid on the host. */
  readonly pid: number;
  /** Resolves when INIT has ended. */
  readonly status: Promise<ContainerStatus>;
  /** INIT's stdin when piped. */
  readonly stdin: WritableStream<Uint8Array> | null;
  /** INIT's stdout when piped. */
  readonly stdout: ReadableStream<Uint8Array> | null;
  /** INIT's stderr when piped. */
  readonly stderr: ReadableStream<Uint8Array> | null;
  /** Sends a signal to INIT (default SIGTERM). */
  kill(signal?: Deno.Signal | number): void;
  /** Waits for INIT and collects the piped streams. */
  output(): Promise<ContainerOutput>;
}

const SIGNALS: Record<string, number> = {
  SIGHUP: 1,
  SIGINT: 2,
  SIGQUIT: 3,
  SIGKILL: 9,
  SIGUSR1: 10,
  SIGUSR2: 12,
  SIGTERM: 15,
  SIGCONT: 18,
  SIGSTOP: 19,
  SIGWINCH: 28,
};

/** The number of a signal given by name or number. */
export function signalNumber(signal: Deno.Signal | number): number {
  if (typeof signal === "number") return signal;
  const n = SIGNALS[signal];
  if (n === undefined) throw new TypeError(`Unsupported signal "${signal}"`);
  return n;
}

/** Wraps the host side's RunningContainer as the public ContainerProcess. */
export function wrapRunning(
  running: RunningContainer,
  extraStatus: (s: ContainerStatus) => Promise<void> = async () => {},
): ContainerProcess {
  const stdin = running.pipes.stdin === null ? null : writableToFd(running.pipes.stdin);
  const stdout = running.pipes.stdout === null ? null : readableFromFd(running.pipes.stdout);
  const stderr = running.pipes.stderr === null ? null : readableFromFd(running.pipes.stderr);
  const status = running.status.then(async (w) => {
    const s: ContainerStatus = w.signal !== null
      ? { success: false, code: 128 + w.signal, signal: w.signal }
      : { success: w.code === 0, code: w.code ?? 0, signal: null };
    await extraStatus(s);
    return s;
  });
  return {
    pid: running.pid,
    status,
    stdin,
    stdout,
    stderr,
    kill(signal: Deno.Signal | number = "SIGTERM") {
      running.kill(signalNumber(signal));
    },
    async output() {
      const [out, err, s] = await Promise.all([collect(stdout), collect(stderr), status]);
      return { ...s, stdout: out, stderr: err };
    },
  };
}

/**
 * A rootless container, described once and started with {@link Container.spawn}
 * or {@link Container.output}, as Deno.Command starts a process.
 *
 * In a process whose V8 runs single-threaded (`--v8-flags=--single-threaded`)
 * the container is forked directly; otherwise a helper copy of paranoid is
 * started with that flag, so scripts never have to care.
 *
 * @example
 * ```ts ignore
 * import { Container } from "jsr:@paranoid/cli";
 * const out = await new Container({ root: "./rootfs", command: "/bin/echo", args: ["hi"] }).output();
 * console.log(out.code, new TextDecoder().decode(out.stdout)); // 0 "hi\n"
 * ```
 */
export class Container {
  readonly #options: ContainerSpawnOptions;

  /** Describes the container; nothing starts until spawn() or output(). */
  constructor(options: ContainerSpawnOptions) {
    this.#options = options;
  }

  /** Starts the container; rejects with ContainerStartError when a setup step fails. */
  async spawn(): Promise<ContainerProcess> {
    const o = this.#options;
    const stdio = {
      stdin: o.stdin ?? "inherit",
      stdout: o.stdout ?? "inherit",
      stderr: o.stderr ?? "inherit",
    };
    if (!isSingleThreaded()) {
      if (o.tty) throw new NotSingleThreadedError();
      return await spawnThroughHelper({ ...o, ...stdio });
    }
    const { spec } = await buildSpec(o);
    const cgroup = o.limits
      ? ContainerCgroup.create(o.limits, `paranoid-${crypto.randomUUID()}`)
      : null;
    if (o.network !== false) void loadNetworkModules();
    const publisher = await bindPublishedPorts(o.network).catch((e) => {
      cgroup?.remove();
      throw e;
    });
    let running;
    try {
      running = await startContainer(spec, {
        ...stdio,
        ...(cgroup ? { onForked: (pid: number) => cgroup.add(pid) } : {}),
      });
    } catch (e) {
      publisher?.close();
      cgroup?.remove();
      throw e;
    }
    const network = await attachNetwork(running, o.network, publisher);
    return wrapRunning(running, async () => {
      await network?.close();
      cgroup?.remove();
    });
  }

  /** Runs the container to the end and collects stdout and stderr (piped unless set otherwise). */
  async output(): Promise<ContainerOutput> {
    const o = this.#options;
    const c = new Container({
      ...o,
      stdin: o.stdin ?? "null",
      stdout: o.stdout ?? "piped",
      stderr: o.stderr ?? "piped",
    });
    return await (await c.spawn()).output();
  }
}
