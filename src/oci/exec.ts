// `exec`: run another process inside a running container, by joining its namespaces.
//
// The joining itself is src/container/join.ts; this part resolves the container's
// process.* values from its bundle and checks that it is running.

import { joinContainer, JoinError } from "../container/join.ts";
import { OciStateError, processStart, type StateStore } from "./state.ts";
import { loadBundle } from "./runtime.ts";

/** What to run, overriding the container's process.* values where given. */
export interface ExecRequest {
  /** The program and its arguments. */
  args: string[];
  /** K=V entries added to (or replacing in) the container's process.env. */
  env: string[];
  /** Working directory inside the container, or null for process.cwd. */
  cwd: string | null;
  /** Uid and gid inside the container, or null for process.user. */
  user: { uid: number; gid: number } | null;
  /** Where to write the pid of the process that ends with the program's status, or null. */
  pidFile: string | null;
  /**
   * Return at once instead of waiting: the process then outlives this one and is reparented
   * (to a subreaper such as conmon, which reaps it and gets the program's status).
   */
  detach: boolean;
}

function mergeEnv(base: readonly string[], extra: readonly string[]): string[] {
  const m = new Map<string, string>();
  for (const e of [...base, ...extra]) m.set(e.slice(0, e.indexOf("=")), e);
  return [...m.values()];
}

/**
 * Runs `request` in running container `id` with stdio inherited; returns its exit status
 * (128+N when a signal ended it).
 */
export async function execInContainer(
  store: StateStore,
  id: string,
  request: ExecRequest,
): Promise<number> {
  const r = store.load(id);
  if (r.status !== "running") {
    throw new OciStateError(`container "${id}" is not running: its status is "${r.status}"`);
  }
  if (request.args.length === 0) throw new OciStateError("exec needs a program to run");
  const t = loadBundle(r.bundle);
  const env = mergeEnv(t.overrides.env, request.env);
  const cwd = request.cwd ?? t.options.cwd ?? "/";
  const user = request.user ?? t.options.user ?? { uid: 0, gid: 0 };
  const groups = request.user ? [request.user.gid] : t.overrides.groups;
  const capabilities = t.options.capabilities ?? 0n;
  const seccomp = t.options.seccomp ?? null;
  try {
    return await joinContainer(
      r.pid,
      { args: request.args, env, cwd, user, groups, capabilities, seccomp },
      {
        stillInit: () => processStart(r.pid) === r.pidStart,
        pidFile: request.pidFile,
        detach: request.detach,
        program: "paranoid oci",
      },
    );
  } catch (e) {
    if (e instanceof JoinError) {
      throw new OciStateError(`container "${id}": ${e.message}`);
    }
    throw e;
  }
}
