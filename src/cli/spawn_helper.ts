// `paranoid __spawn`: the single-threaded helper behind Container.spawn() in multi-threaded processes.

import { ensureSingleThreaded } from "../container/single_thread.ts";
import { buildSpec } from "../container/options.ts";
import { ContainerStartError, startContainer } from "../container/process/host.ts";
import {
  CONTROL_PREFIX,
  decodeSpawnOptions,
  PARENT_ENV,
  SPAWN_ENV,
} from "../container/helper_spawn.ts";
import { getppid, PR, prctl } from "../../ffi/process.ts";
import { readableFromFd } from "../container/streams.ts";

const encoder = new TextEncoder();

/** Starts the container described in $PARANOID_SPAWN with this process's stdio; returns INIT's status. */
export async function runSpawnHelper(reexecArgs: readonly string[]): Promise<number> {
  ensureSingleThreaded(reexecArgs);
  const text = Deno.env.get(SPAWN_ENV);
  if (!text) {
    console.error(`paranoid: __spawn is internal: ${SPAWN_ENV} is not set`);
    return 2;
  }
  // The helper, and so the container, dies with the script that started it.
  prctl(PR.SET_PDEATHSIG, 9n);
  const parent = Number(Deno.env.get(PARENT_ENV) ?? "0");
  if (parent !== 0 && getppid() !== parent) return 125;
  const options = decodeSpawnOptions(text);
  const control = (line: string) =>
    Deno.stderr.writeSync(encoder.encode(CONTROL_PREFIX + line + "\n"));
  try {
    const { spec } = await buildSpec(options);
    // INIT's stderr goes through a pipe so that the control line is surely first on ours.
    const running = await startContainer(spec, {
      stdin: "inherit",
      stdout: "inherit",
      stderr: "piped",
    });
    control(`started:${running.pid}`);
    const copied = readableFromFd(running.pipes.stderr!).pipeTo(Deno.stderr.writable, {
      preventClose: true,
    });
    const forward = (n: number) => () => running.kill(n);
    const signals: [Deno.Signal, number][] = [
      ["SIGTERM", 15],
      ["SIGINT", 2],
      ["SIGHUP", 1],
      ["SIGUSR1", 10],
      ["SIGUSR2", 12],
    ];
    for (const [s, n] of signals) Deno.addSignalListener(s, forward(n));
    const status = await running.status;
    await copied.catch(() => {});
    return status.signal !== null ? 128 + status.signal : status.code ?? 0;
  } catch (e) {
    const failure = e instanceof ContainerStartError
      ? { t: "error", step: e.step, syscall: e.message, errno: 0, path: null }
      : {
        t: "error",
        step: "start the container",
        syscall: (e as Error).message,
        errno: 0,
        path: null,
      };
    const exitCode = e instanceof ContainerStartError ? e.exitCode : 125;
    control(`error:${JSON.stringify({ failure, exitCode, message: (e as Error).message })}`);
    return exitCode;
  }
}
