// `paranoid [OPTION...] --root=ROOT -- INIT [ARGS...]` and `paranoid run`: start a container and wait for INIT.

import { ContainerStartError } from "../container/process/host.ts";
import { ContainerConfigError } from "../container/options.ts";
import { ensureDefaultRootfs } from "../container/default_rootfs.ts";
import { buildSpec } from "../container/options.ts";
import { mark, type RunningContainer, startContainer } from "../container/process/host.ts";
import { relayTerminal } from "../container/tty.ts";
import {
  attachNetwork,
  bindPublishedPorts,
  loadNetworkModules,
  NO_TUN_WARNING,
  tunUsable,
} from "../container/network.ts";
import { PublishError } from "../net/host/port_mapping.ts";
import { CgroupUnavailableError, ContainerCgroup } from "../container/cgroups.ts";
import { ensureSingleThreaded } from "../container/single_thread.ts";
import { parseOptions, stringOption, UsageError } from "./args.ts";
import type { ImageRunPlan } from "./image_run.ts";
import type { ContainerRegistry } from "./containers.ts";
import type { ContainerOptions } from "../container/options.ts";
import type { ContainerSpec } from "../container/spec.ts";

/** The init step that mounts an image's overlay (see src/container/process/init.ts). */
const OVERLAY_STEP = "mount the image's overlay root";
import { RUN_OPTIONS, toRunRequest } from "./run_options.ts";
import { HELP, USAGE } from "./help.ts";
import { VERSION } from "./version.ts";

const FORWARDED: Deno.Signal[] = ["SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT", "SIGUSR1", "SIGUSR2"];
const SIGNAL_NUMBERS: Partial<Record<Deno.Signal, number>> = {
  SIGHUP: 1,
  SIGINT: 2,
  SIGQUIT: 3,
  SIGUSR1: 10,
  SIGUSR2: 12,
  SIGTERM: 15,
};

/** Prints a one-line error prefixed with the program name. */
export function printError(message: string): void {
  console.error(`paranoid: ${message}`);
}

/**
 * Runs the original command line. `argv` is everything after the program
 * name (or after `run`); `reexecArgs` is what a single-threaded re-execution
 * must be given to land here again. Returns the exit status.
 */
export async function runCommand(
  argv: readonly string[],
  reexecArgs: readonly string[],
  mode: "original" | "run" = "original",
): Promise<number> {
  let parsed;
  try {
    parsed = parseOptions(argv, RUN_OPTIONS);
  } catch (e) {
    if (e instanceof UsageError) {
      printError(`${e.message}\n${USAGE}`);
      return 2;
    }
    throw e;
  }
  const o = parsed.options;
  if (o.has("help")) {
    console.log(HELP);
    return 0;
  }
  if (o.has("usage")) {
    console.log(USAGE);
    return 0;
  }
  if (o.has("version")) {
    console.log(`paranoid ${VERSION}`);
    return 0;
  }
  if (parsed.rest.length === 0) {
    printError(`no INIT given: say what to run after "--"\n${USAGE}`);
    return 2;
  }
  // `run IMAGE [--] [CMD...]` when no --root is given; otherwise the original form.
  const image = mode === "run" && !o.has("root") ? parsed.rest[0]! : null;
  const words = image === null ? parsed.rest : parsed.rest.slice(parsed.rest[1] === "--" ? 2 : 1);
  let request;
  try {
    const tty = Deno.stdin.isTerminal() && Deno.stdout.isTerminal();
    request = toRunRequest(o, image === null ? words : ["IMAGE", ...words], {
      cwd: Deno.cwd(),
      getEnv: (k) => Deno.env.get(k),
      stdinIsTerminal: tty,
    });
    if (request.seccompProfile !== null) {
      const { loadSeccompProfile } = await import("./seccomp_option.ts");
      const seccomp = loadSeccompProfile(
        request.seccompProfile,
        request.container.capabilities ?? 0n,
      );
      request = { ...request, container: { ...request.container, seccomp } };
    }
  } catch (e) {
    if (e instanceof UsageError) {
      printError(e.message);
      return 2;
    }
    throw e;
  }
  mark("options parsed");
  ensureSingleThreaded(reexecArgs);
  // The default network needs /dev/net/tun; without it, start without one and say so.
  // Asked-for network features (published ports, a trace) keep it, and fail with the fix.
  const net = request.container.network;
  if (typeof net === "object" && !net.publish && net.trace === undefined && !tunUsable()) {
    printError(NO_TUN_WARNING);
    request = { ...request, container: { ...request.container, network: false } };
  }
  // The trace file is opened after the container started: find out now that it can be written.
  if (typeof net === "object" && net.trace !== undefined) {
    try {
      Deno.openSync(net.trace, { write: true, create: true, truncate: true }).close();
    } catch (e) {
      printError(
        `cannot write the network trace ${net.trace}: ${
          (e as Error).message
        }; give --net-trace a path in a writable directory`,
      );
      return 125;
    }
  }
  let plan: ImageRunPlan | null = null;
  let records: ContainerRegistry | null = null;
  try {
    let options: ContainerOptions;
    if (image !== null) {
      // The image code loads only when an image is run.
      const { prepareImageRun } = await import("./image_run.ts");
      const { containerRegistry, openImageStore, pullMissingForRun } = await import(
        "./image_commands.ts"
      );
      const { PullDisplay } = await import("./progress.ts");
      // A missing image is pulled as `pull` does it (faster, in one user-namespace helper).
      const pullCode = await pullMissingForRun(image);
      if (pullCode !== null) return pullCode;
      records = containerRegistry();
      const display = new PullDisplay(Deno.stderr, Deno.stderr.isTerminal());
      plan = await prepareImageRun(openImageStore(), image, {
        command: words,
        env: request.container.env,
        cwd: request.container.cwd,
        user: request.container.user,
        name: stringOption(o, "name"),
        onProgress: (e) => display.update(e),
        containers: records,
      });
      display.finish();
      options = {
        ...request.container,
        root: plan.root,
        rootOverlay: plan.rootOverlay,
        command: plan.argv[0]!,
        args: plan.argv.slice(1),
        env: plan.env,
        cwd: plan.cwd,
        user: plan.user,
      };
    } else {
      options = {
        ...request.container,
        root: request.container.root ?? await ensureDefaultRootfs(),
        command: request.argv[0]!,
        args: request.argv.slice(1),
      };
    }
    const { spec, warning } = await buildSpec(options);
    mark("spec built");
    if (warning !== null) printError(`warning: ${warning}`);
    let cgroup: ContainerCgroup | null = null;
    // Listen before starting, so that a signal arriving while INIT starts is not lost.
    let running: RunningContainer | null = null;
    const pending: number[] = [];
    let interrupts = 0;
    const forward = (sig: Deno.Signal) => () => {
      const n = SIGNAL_NUMBERS[sig]!;
      if (sig === "SIGINT" && ++interrupts >= 3) {
        printError("third interrupt: killing the container");
        if (running) running.kill(9);
        else pending.push(9);
        return;
      }
      if (running) running.kill(n);
      else pending.push(n);
    };
    const listeners = FORWARDED.map((sig) => [sig, forward(sig)] as const);
    for (const [sig, fn] of listeners) Deno.addSignalListener(sig, fn);
    try {
      const limits = request.container.limits;
      cgroup = limits ? ContainerCgroup.create(limits, `paranoid-${crypto.randomUUID()}`) : null;
      // The stack's modules load while the container starts, and only when it has a network.
      if (request.container.network !== false) void loadNetworkModules();
      const publisher = await bindPublishedPorts(request.container.network);
      try {
        const joinCgroup = cgroup;
        const start = (s: ContainerSpec) =>
          startContainer(s, {
            stdin: "inherit",
            stdout: "inherit",
            stderr: "inherit",
            ...(joinCgroup ? { onForked: (pid: number) => joinCgroup.add(pid) } : {}),
          });
        try {
          if (plan !== null && Deno.env.get("PARANOID_NO_OVERLAY") === "1") {
            throw new ContainerStartError(
              { t: "error", step: OVERLAY_STEP, syscall: "mount", errno: 1, path: plan.root },
              125,
            );
          }
          running = await start(spec);
        } catch (e) {
          // Where the kernel refuses an unprivileged overlay, say so and run on a copy.
          if (plan === null || !(e instanceof ContainerStartError) || e.step !== OVERLAY_STEP) {
            throw e;
          }
          printError(
            `warning: the kernel refused an overlay for the image's root (${e.code}): running on a copy of the image in ${plan.root}`,
          );
          const { copyImageRoot } = await import("./image_commands.ts");
          await copyImageRoot(plan.layerBlobs, plan.root);
          running = await start({ ...spec, rootOverlay: null });
        }
      } catch (e) {
        publisher?.close();
        throw e;
      }
      for (const n of pending) running.kill(n);
      if (plan !== null) await records!.markRunning(plan.record.id, running.pid);
      const network = await attachNetwork(
        running,
        request.container.network,
        publisher,
        (m) => printError(m),
      );
      const relay = running.ptyFd !== null ? relayTerminal(running.ptyFd) : Promise.resolve();
      const status = await running.status;
      mark("INIT ended");
      await relay;
      // Closing reads what the container sent last and the TAP still holds: counted too.
      await network?.close();
      if (network !== null && o.has("net-stats")) {
        // The debug dump: every layer's counters, drops by reason included.
        console.error(`paranoid: network counters ${JSON.stringify(network.counters())}`);
      }
      const code = status.signal !== null ? 128 + status.signal : status.code ?? 0;
      if (plan !== null) await finishRecord(records!, plan, code, o.has("rm"));
      return code;
    } finally {
      for (const [sig, fn] of listeners) Deno.removeSignalListener(sig, fn);
      cgroup?.remove();
    }
  } catch (e) {
    if (plan !== null) await finishRecord(records!, plan, 125, true);
    const known = image === null ? null : (await import("./image_commands.ts")).describeError(e);
    if (known !== null && !(e instanceof ContainerStartError)) {
      printError(known);
      return 125;
    }
    if (e instanceof PublishError || e instanceof CgroupUnavailableError) {
      printError(e.message);
      return 125;
    }
    if (e instanceof ContainerStartError) {
      printError(e.message);
      return e.exitCode;
    }
    if (
      e instanceof ContainerConfigError || (e instanceof Error && e.name === "DefaultRootfsError")
    ) {
      printError(e.message);
      return 125;
    }
    throw e;
  }
}

/** Records INIT's exit, or removes the record (and its writable layer) with --rm. */
async function finishRecord(
  records: ContainerRegistry,
  plan: ImageRunPlan,
  code: number,
  remove: boolean,
): Promise<void> {
  try {
    if (remove) await records.remove(plan.record.id, { force: true });
    else await records.markExited(plan.record.id, code);
  } catch (e) {
    printError(
      `warning: cannot update the record of container "${plan.record.name}": ${
        (e as Error).message
      }`,
    );
  }
}
