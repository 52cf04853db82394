// Runs a host program as root of a new user (and mount) namespace with the container id mapping, e.g. to unpack images.

import {
  CLONE,
  close,
  closeFrom,
  execve,
  exitNow,
  fork,
  getpid,
  getppid,
  PR,
  prctl,
  receiveMessageAsync,
  resetSignals,
  SOCK,
  socketpair,
  unshare,
  waitpidAsync,
} from "../../ffi/sys.ts";
import { detectIdMapping, formatIdMap, writeMapsWithHelpers } from "./idmap.ts";
import { isSingleThreaded, NotSingleThreadedError } from "./single_thread.ts";
import { receive, send } from "./process/messages.ts";

/** Options for {@link runInUserNamespace}. */
export interface UserNamespaceExecOptions {
  /** The program's environment; default: this process's. */
  env?: Record<string, string>;
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
      if (reply.message.writeOwn) {
        Deno.writeTextFileSync("/proc/self/setgroups", "deny");
        Deno.writeTextFileSync("/proc/self/uid_map", formatIdMap(mapping.uids));
        Deno.writeTextFileSync("/proc/self/gid_map", formatIdMap(mapping.gids));
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
      send(hostSock, { t: "maps", writeOwn: !mapping.helpers });
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
