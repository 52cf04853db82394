// Runs a host program as root of a new user (and mount) namespace with the container id mapping, e.g. to unpack images.
//
// Two ways in. `runInUserNamespace` forks this process (which must be single-threaded), and
// the child unshares, waits for its maps and execs the program. `spawnInUserNamespace` works
// from any process, V8 worker threads or not, without forking it: util-linux's unshare(1)
// makes the namespace and execs a shell, which says "u" on stdout and waits on stdin; this
// process writes the maps (newuidmap and newgidmap, or its own ids) and answers "go"; the
// shell then execs the program, which, being uid 0 of the namespace by then, starts with the
// namespace's full capabilities (an exec before the maps were written would start without
// any, and chown to the image's ids would fail). The program's stdout is forwarded.

import { close, closeFrom, receiveMessageAsync, SOCK, socketpair } from "../../ffi/sys.ts";
import {
  CLONE,
  execve,
  exitNow,
  fork,
  getpid,
  getppid,
  PR,
  prctl,
  resetSignals,
  unshare,
  waitpidAsync,
} from "../../ffi/process.ts";
import {
  detectIdMapping,
  findHostExecutable,
  formatIdMap,
  ownMaps,
  writeMapsWithHelpers,
} from "./idmap.ts";
import { isSingleThreaded, NotSingleThreadedError } from "./single_thread.ts";
import { receive, send } from "./process/messages.ts";

/** Options for {@link runInUserNamespace} and {@link spawnInUserNamespace}. */
export interface UserNamespaceExecOptions {
  /** The program's environment; default: this process's. */
  env?: Record<string, string>;
  /**
   * Where {@link spawnInUserNamespace} copies the program's stdout: this process's stdout
   * (default) or its stderr (to keep it out of output that belongs to something else).
   */
  stdoutTo?: "stdout" | "stderr";
}

// The outer shell hides unshare(1)'s own complaint (the caller falls back and explains);
// the inner one, in the namespace, restores stderr, announces itself and waits for "go".
const OUTER_SHELL =
  'u=$0 s=$1; shift; exec 3>&2 2>/dev/null; exec "$u" --user -- /bin/sh -c "$s" paranoid-userns "$@"';
const INNER_SHELL =
  'exec 2>&3 3>&-; printf u; IFS= read -r go || exit 125; [ "$go" = go ] || exit 125; exec "$@" </dev/null';

/** Writes `pid`'s maps: with newuidmap and newgidmap, or its one id from this process. */
async function writeMaps(pid: number, mapping: ReturnType<typeof detectIdMapping>["mapping"]) {
  if (mapping.helpers) return writeMapsWithHelpers(pid, mapping);
  await Deno.writeTextFile(`/proc/${pid}/setgroups`, "deny");
  await Deno.writeTextFile(`/proc/${pid}/uid_map`, formatIdMap(mapping.uids));
  await Deno.writeTextFile(`/proc/${pid}/gid_map`, formatIdMap(mapping.gids));
}

/**
 * Runs `argv` (argv[0] an absolute host path) as uid 0 of a new user namespace (the mount
 * namespace stays the host's) with the same id mapping as {@link runInUserNamespace}, but
 * without forking this process: any process may call it. stdin is /dev/null for the program,
 * its stdout is copied to this process's, stderr is shared. Resolves to the exit status
 * (128+N for signal N), or to null when unshare(1) is missing or could not create the
 * namespace (then nothing ran: {@link runInUserNamespace} says why).
 */
export async function spawnInUserNamespace(
  argv: readonly string[],
  options: UserNamespaceExecOptions = {},
): Promise<number | null> {
  const unshareTool = findHostExecutable("unshare");
  if (unshareTool === null) return null;
  const { mapping } = detectIdMapping(Deno.uid() ?? 0, Deno.gid() ?? 0);
  const child = new Deno.Command("/bin/sh", {
    args: ["-c", OUTER_SHELL, unshareTool, INNER_SHELL, ...argv],
    stdin: "piped",
    stdout: "piped",
    stderr: "inherit",
    ...(options.env ? { env: options.env, clearEnv: true } : {}),
  }).spawn();
  const out = child.stdout.getReader();
  const input = child.stdin.getWriter();
  const first = await out.read();
  if (first.done || first.value[0] !== 0x75) {
    // unshare(1) failed before the shell ran (user namespaces refused): nothing started.
    await input.close().catch(() => {});
    await child.status;
    return null;
  }
  try {
    await writeMaps(child.pid, mapping);
    await input.write(new TextEncoder().encode("go\n"));
  } catch (e) {
    await input.close().catch(() => {}); // the shell exits 125 without running anything
    await child.status;
    throw e;
  }
  await input.close().catch(() => {});
  const sink = options.stdoutTo === "stderr" ? Deno.stderr : Deno.stdout;
  let chunk: Uint8Array | undefined = first.value.subarray(1);
  while (chunk !== undefined) {
    let off = 0;
    while (off < chunk.length) off += await sink.write(chunk.subarray(off));
    const r = await out.read();
    chunk = r.done ? undefined : r.value;
  }
  return (await child.status).code; // Deno reports a signal N as 128+N already
}

/**
 * Runs `argv` (argv[0] an absolute host path) as uid 0 of a new user
 * namespace, with a private mount namespace, and ids 1..N mapped onto the
 * user's subordinate range when there is one: files it creates with other
 * owners keep those owners through the mapping. stdin, stdout and stderr are
 * shared. Resolves to the program's exit status (128+N for signal N).
 */
export async function runInUserNamespace(
  argv: readonly string[],
  options: UserNamespaceExecOptions = {},
): Promise<number> {
  if (!isSingleThreaded()) throw new NotSingleThreadedError();
  const uid = Deno.uid() ?? 0;
  const gid = Deno.gid() ?? 0;
  const { mapping } = detectIdMapping(uid, gid);
  const env = Object.entries(options.env ?? Deno.env.toObject()).map(([k, v]) => `${k}=${v}`);
  const [hostSock, childSock] = socketpair(SOCK.SEQPACKET);
  const hostPid = getpid();
  const pid = fork();
  if (pid === 0) {
    try {
      close(hostSock);
      prctl(PR.SET_PDEATHSIG, 9n);
      if (getppid() !== hostPid) exitNow(125);
      unshare(CLONE.NEWUSER | CLONE.NEWNS);
      send(childSock, { t: "unshared" });
      const reply = receive(childSock);
      if (reply === null || reply.message.t !== "maps") exitNow(125);
      const own = reply.message.own;
      if (own !== null) {
        Deno.writeTextFileSync("/proc/self/setgroups", "deny");
        Deno.writeTextFileSync("/proc/self/uid_map", own.uidMap);
        Deno.writeTextFileSync("/proc/self/gid_map", own.gidMap);
      }
      closeFrom(3);
      resetSignals();
      execve(argv[0]!, argv, env);
    } catch (e) {
      console.error(`paranoid: cannot enter a user namespace: ${(e as Error).message}`);
      exitNow(125);
    }
  }
  close(childSock);
  const status = waitpidAsync(pid);
  const buf = new Uint8Array(256);
  const got = await receiveMessageAsync(hostSock, buf);
  if (got.length > 0) {
    try {
      if (mapping.helpers) await writeMapsWithHelpers(pid, mapping);
      send(hostSock, { t: "maps", own: ownMaps(mapping), tap: false });
    } catch (e) {
      close(hostSock);
      await status;
      throw e;
    }
  }
  close(hostSock);
  const s = await status;
  return s.signal !== null ? 128 + s.signal : s.code ?? 125;
}
