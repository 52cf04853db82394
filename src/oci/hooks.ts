// OCI lifecycle hooks: host commands run with the container's state JSON on stdin.

import type { OciHook } from "./config.ts";

/** A hook that could not be run or failed; the message names it by its config.json field. */
export class OciHookError extends Error {
  /** Builds the error. */
  constructor(message: string) {
    super(message);
    this.name = "OciHookError";
  }
}

/**
 * Runs `hooks` one after the other (config.md "POSIX-platform Hooks"): each gets the state on
 * stdin, its exact environment, and is killed after its timeout. Throws OciHookError for the
 * first that fails; `field` is the config.json name of the list, e.g. "hooks.poststop".
 */
export async function runHooks(
  hooks: readonly OciHook[],
  state: Record<string, unknown>,
  field: string,
): Promise<void> {
  const input = new TextEncoder().encode(JSON.stringify(state));
  for (const [i, hook] of hooks.entries()) {
    const name = `${field}[${i}] "${hook.path}"`;
    const env: Record<string, string> = {};
    for (const e of hook.env) {
      const eq = e.indexOf("=");
      if (eq > 0) env[e.slice(0, eq)] = e.slice(eq + 1);
    }
    let child: Deno.ChildProcess;
    try {
      child = new Deno.Command(hook.path, {
        args: hook.args.slice(1),
        env,
        clearEnv: true,
        stdin: "piped",
        stdout: "null",
        stderr: "inherit",
      }).spawn();
    } catch (e) {
      throw new OciHookError(`${name} cannot be run: ${(e as Error).message}`);
    }
    let timedOut = false;
    const timer = hook.timeout === null ? null : setTimeout(() => {
      timedOut = true;
      try {
        child.kill("SIGKILL");
      } catch {
        // already gone
      }
    }, hook.timeout * 1000);
    try {
      const w = child.stdin.getWriter();
      await w.write(input).catch(() => {});
      await w.close().catch(() => {});
      const status = await child.status;
      if (timedOut) throw new OciHookError(`${name} timed out after ${hook.timeout} s`);
      if (!status.success) {
        throw new OciHookError(
          `${name} failed with ${
            status.signal ? `signal ${status.signal}` : `exit status ${status.code}`
          }`,
        );
      }
    } finally {
      if (timer !== null) clearTimeout(timer);
    }
  }
}
