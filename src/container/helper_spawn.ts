// Starting a container from a process whose V8 has worker threads: through a single-threaded helper copy of paranoid.
//
// The helper is `paranoid __spawn` run by `deno run` with V8 single-threaded.
// It reads the options from the environment, starts the container with its
// own stdio (which Deno.Command wired to the caller's choices), and writes one
// control line on stderr before anything of the container's: either
// "\0paranoid:started:PID" or "\0paranoid:error:JSON". The caller strips that
// line and passes the rest of stderr on.

import type {
  ContainerOutput,
  ContainerProcess,
  ContainerSpawnOptions,
  ContainerStatus,
} from "./container.ts";
import { ContainerStartError } from "./process/host.ts";
import { collect } from "./streams.ts";

/** The environment variable that carries the options to the helper. */
export const SPAWN_ENV = "PARANOID_SPAWN";
/** The environment variable that carries the caller's pid, for the helper's death signal check. */
export const PARENT_ENV = "PARANOID_SPAWN_PARENT";
/** The prefix of the helper's control line on stderr. */
export const CONTROL_PREFIX = "\0paranoid:";

/** Options as JSON: bigint and bytes become strings. */
export function encodeSpawnOptions(o: ContainerSpawnOptions): string {
  return JSON.stringify(o, (_k, v) => {
    if (typeof v === "bigint") return { $bigint: v.toString() };
    if (v instanceof Uint8Array) return { $bytes: btoa(String.fromCharCode(...v)) };
    return v;
  });
}

/** The inverse of {@link encodeSpawnOptions}. */
export function decodeSpawnOptions(text: string): ContainerSpawnOptions {
  return JSON.parse(text, (_k, v) => {
    if (v && typeof v === "object" && "$bigint" in v) return BigInt(v.$bigint);
    if (v && typeof v === "object" && "$bytes" in v) {
      return Uint8Array.from(atob(v.$bytes), (c) => c.charCodeAt(0));
    }
    return v;
  });
}

/** A stream that yields `first` and then the rest of `reader`. */
function prepend(
  first: Uint8Array,
  reader: ReadableStreamDefaultReader<Uint8Array>,
): ReadableStream<Uint8Array> {
  let sentFirst = first.length === 0;
  return new ReadableStream({
    async pull(controller) {
      if (!sentFirst) {
        sentFirst = true;
        controller.enqueue(first);
        return;
      }
      const { value, done } = await reader.read();
      if (done) controller.close();
      else controller.enqueue(value);
    },
    cancel(reason) {
      return reader.cancel(reason);
    },
  });
}

/** Starts the container through the helper. */
export async function spawnThroughHelper(
  o: ContainerSpawnOptions & Required<Pick<ContainerSpawnOptions, "stdin" | "stdout" | "stderr">>,
): Promise<ContainerProcess> {
  const main = new URL("../../main.ts", import.meta.url).href;
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--v8-flags=--single-threaded", "--no-config", "--quiet", main, "__spawn"],
    env: {
      [SPAWN_ENV]: encodeSpawnOptions(o),
      [PARENT_ENV]: String(Deno.pid),
      DENO_V8_FLAGS: "--single-threaded",
    },
    stdin: o.stdin,
    stdout: o.stdout,
    stderr: "piped",
  }).spawn();
  const reader = child.stderr.getReader();
  let buffered = new Uint8Array();
  let line: string | null = null;
  while (line === null) {
    const { value, done } = await reader.read();
    if (done) break;
    const joined = new Uint8Array(buffered.length + value.length);
    joined.set(buffered);
    joined.set(value, buffered.length);
    buffered = joined;
    const nl = buffered.indexOf(10);
    if (nl !== -1 && buffered[0] === 0) {
      line = new TextDecoder().decode(buffered.subarray(0, nl));
      buffered = buffered.slice(nl + 1);
    } else if (buffered.length > 0 && buffered[0] !== 0) {
      break; // the helper itself failed before starting anything
    }
  }
  if (line === null || !line.startsWith(CONTROL_PREFIX + "started:")) {
    const rest = new TextDecoder().decode(await collect(prepend(buffered, reader)));
    const status = await child.status;
    if (line?.startsWith(CONTROL_PREFIX + "error:")) {
      const e = JSON.parse(line.slice((CONTROL_PREFIX + "error:").length));
      throw Object.assign(new ContainerStartError(e.failure, e.exitCode), { message: e.message });
    }
    throw new Error(`The paranoid helper failed (exit ${status.code}): ${rest.trim()}`);
  }
  const pid = Number(line.slice((CONTROL_PREFIX + "started:").length));
  const stderrRest = prepend(buffered, reader);
  let stderr: ReadableStream<Uint8Array> | null = null;
  if (o.stderr === "piped") stderr = stderrRest;
  else if (o.stderr === "inherit") stderrRest.pipeTo(Deno.stderr.writable, { preventClose: true });
  else stderrRest.pipeTo(new WritableStream());
  const status: Promise<ContainerStatus> = child.status.then((s) => ({
    success: s.success,
    code: s.code,
    signal: null,
  }));
  const stdout = o.stdout === "piped" ? child.stdout : null;
  return {
    pid,
    status,
    stdin: o.stdin === "piped" ? child.stdin : null,
    stdout,
    stderr,
    kill(signal: Deno.Signal | number = "SIGTERM") {
      try {
        child.kill(typeof signal === "number" ? "SIGTERM" : signal);
      } catch {
        // already gone
      }
    },
    async output(): Promise<ContainerOutput> {
      const [out, err, s] = await Promise.all([collect(stdout), collect(stderr), status]);
      return { ...s, stdout: out, stderr: err };
    },
  };
}
