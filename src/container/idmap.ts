// User-namespace id maps: read /etc/subuid and /etc/subgid, plan the maps, write them with newuidmap.

import {
  close,
  isDirectory,
  isExecutable,
  O,
  open,
  pipe,
  read,
  setNonBlocking,
} from "../../ffi/sys.ts";
import { prepareSpawn, spawn, spawnAsync, waitpid } from "../../ffi/process.ts";
import type { IdMapping, IdRange } from "./spec.ts";

/** One subordinate id range from /etc/subuid or /etc/subgid. */
export interface SubordinateRange {
  readonly start: number;
  readonly count: number;
}

/**
 * Finds the ranges granted to a user in the text of /etc/subuid or /etc/subgid,
 * where each line is `name-or-id:start:count`.
 *
 * @example
 * ```ts
 * import { parseSubordinateIds } from "./idmap.ts";
 * const ranges = parseSubordinateIds("alice:100000:65536\n", "alice", 1000);
 * console.assert(ranges[0]?.start === 100000 && ranges[0]?.count === 65536);
 * ```
 */
export function parseSubordinateIds(
  text: string,
  user: string | null,
  id: number,
): SubordinateRange[] {
  const ranges: SubordinateRange[] = [];
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) continue;
    const [who, start, count] = line.split(":");
    if (who === undefined || start === undefined || count === undefined) continue;
    if (who !== user && who !== String(id)) continue;
    const s = Number(start);
    const c = Number(count);
    if (!Number.isInteger(s) || !Number.isInteger(c) || s < 0 || c <= 0) continue;
    ranges.push({ start: s, count: c });
  }
  return ranges;
}

/**
 * Plans the maps: 0 inside is the user; when subordinate ranges exist and the
 * helpers are installed, ids 1..N inside map onto them in order (the rootless
 * Podman convention). Otherwise only one id is mapped.
 */
export function planIdMapping(
  uid: number,
  gid: number,
  subuids: readonly SubordinateRange[],
  subgids: readonly SubordinateRange[],
  helpersInstalled: boolean,
): IdMapping {
  const one = (id: number): IdRange[] => [{ inside: 0, outside: id, count: 1 }];
  if (!helpersInstalled || subuids.length === 0 || subgids.length === 0 || uid === 0) {
    return { uids: one(uid), gids: one(gid), helpers: false };
  }
  const extend = (id: number, ranges: readonly SubordinateRange[]): IdRange[] => {
    const out = one(id);
    let next = 1;
    for (const r of ranges) {
      out.push({ inside: next, outside: r.start, count: r.count });
      next += r.count;
    }
    return out;
  };
  return { uids: extend(uid, subuids), gids: extend(gid, subgids), helpers: true };
}

/** Formats ranges as the text written to /proc/PID/uid_map. */
export function formatIdMap(ranges: readonly IdRange[]): string {
  return ranges.map((r) => `${r.inside} ${r.outside} ${r.count}`).join("\n") + "\n";
}

/** Finds an executable on the host's PATH (or the usual sbin dirs). */
export function findHostExecutable(name: string): string | null {
  const known = hostExecutables.get(name);
  if (known !== undefined) return known;
  const dirs = (Deno.env.get("PATH") ?? "").split(":").concat(["/usr/bin", "/usr/sbin", "/bin"]);
  let found: string | null = null;
  for (const dir of dirs) {
    if (dir === "") continue;
    // access(2) first: a miss costs no exception (each thrown one costs about 0.1 ms).
    const path = `${dir}/${name}`;
    if (isExecutable(path) && !isDirectory(path)) {
      found = path;
      break;
    }
  }
  hostExecutables.set(name, found);
  return found;
}

/** What {@link findHostExecutable} found, by name: PATH does not change while paranoid runs. */
const hostExecutables = new Map<string, string | null>();

/** The user's name, from /etc/passwd, or null. */
function userName(uid: number): string | null {
  try {
    for (const line of Deno.readTextFileSync("/etc/passwd").split("\n")) {
      const f = line.split(":");
      if (f[2] === String(uid) && f[0]) return f[0];
    }
  } catch {
    // no passwd file
  }
  return Deno.env.get("USER") ?? null;
}

function readOr(path: string): string {
  try {
    return Deno.readTextFileSync(path);
  } catch {
    return "";
  }
}

/** What {@link detectIdMapping} found, with the warning to print when only one id is mapped. */
export interface DetectedMapping {
  readonly mapping: IdMapping;
  readonly warning: string | null;
}

/** Plans the maps for the current user from this machine's files and helpers. */
export function detectIdMapping(uid: number, gid: number): DetectedMapping {
  const name = userName(uid);
  const subuids = parseSubordinateIds(readOr("/etc/subuid"), name, uid);
  const subgids = parseSubordinateIds(readOr("/etc/subgid"), name, uid);
  const helpers = findHostExecutable("newuidmap") !== null &&
    findHostExecutable("newgidmap") !== null;
  const mapping = planIdMapping(uid, gid, subuids, subgids, helpers);
  let warning: string | null = null;
  if (!mapping.helpers && uid !== 0) {
    warning = !helpers
      ? "only one id is mapped into the container: install newuidmap and newgidmap (package uidmap) to map a subordinate range"
      : `only one id is mapped into the container: add a range for "${
        name ?? uid
      }" to /etc/subuid and /etc/subgid (e.g. ${name ?? uid}:100000:65536)`;
  }
  return { mapping, warning };
}

/** The maps a child writes itself (as text for /proc/self/uid_map and gid_map), or null when the helpers write them. */
export function ownMaps(mapping: IdMapping): { uidMap: string; gidMap: string } | null {
  if (mapping.helpers) return null;
  return { uidMap: formatIdMap(mapping.uids), gidMap: formatIdMap(mapping.gids) };
}

/** The path of newuidmap or newgidmap (looked up once). */
function helperPath(tool: string): string {
  return findHostExecutable(tool) ?? tool;
}

/**
 * Does ahead what {@link writeMapsWithHelpers} needs (finding the helpers,
 * binding posix_spawn), so that it can run while the child unshares.
 */
export function prepareMapHelpers(): void {
  helperPath("newuidmap");
  helperPath("newgidmap");
  prepareSpawn();
}

/**
 * Runs newuidmap and newgidmap for `pid`, side by side (one started from Deno's thread pool
 * while this thread starts the other: each start waits for its helper's execve), and waits
 * for both on this thread (they take a millisecond or two, which a hop through the thread
 * pool per helper only lengthened); throws an Error naming the helper and its message.
 */
export async function writeMapsWithHelpers(pid: number, mapping: IdMapping): Promise<void> {
  // posix_spawn starts them in well under a millisecond, where Deno.Command's first use costs
  // several.
  const devNull = open("/dev/null", O.RDWR | O.CLOEXEC);
  const helpers: { tool: string; args: string[]; errRead: number; errWrite: number }[] = [];
  try {
    for (
      const [tool, ranges] of [["newuidmap", mapping.uids], ["newgidmap", mapping.gids]] as const
    ) {
      const args = [tool, String(pid)];
      for (const r of ranges) args.push(String(r.inside), String(r.outside), String(r.count));
      const [errRead, errWrite] = pipe();
      helpers.push({ tool, args, errRead, errWrite });
    }
  } catch (e) {
    // Out of descriptors: nothing was started; what was opened goes.
    close(devNull);
    for (const h of helpers) {
      close(h.errRead);
      close(h.errWrite);
    }
    throw e;
  }
  type Started = { ok: true; pid: number } | { ok: false; error: Error };
  const uid = helpers[0]!;
  const gid = helpers[1]!;
  const first: Promise<Started> = spawnAsync(helperPath(uid.tool), uid.args, [], [
    devNull,
    devNull,
    uid.errWrite,
  ]).then((pid) => ({ ok: true, pid }), (error: Error) => ({ ok: false, error }));
  let second: Started;
  try {
    second = {
      ok: true,
      pid: spawn(helperPath(gid.tool), gid.args, [], [devNull, devNull, gid.errWrite]),
    };
  } catch (e) {
    second = { ok: false, error: e as Error };
  }
  const results = [await first, second];
  close(devNull);
  for (const h of helpers) close(h.errWrite);
  let failure: Error | null = null;
  results.forEach((r, i) => {
    const h = helpers[i]!;
    if (!r.ok) {
      failure ??= new Error(`${h.tool} could not be started: ${r.error.message}`);
      return;
    }
    const { status } = waitpid(r.pid);
    if (status.code !== 0 && failure === null) {
      const why = helperSaid(h.errRead);
      const how = status.code === null ? `signal ${status.signal}` : `exit ${status.code}`;
      failure = new Error(
        `${h.tool} failed for pid ${pid}: ${why || how}; check /etc/subuid and /etc/subgid`,
      );
    }
  });
  for (const h of helpers) close(h.errRead);
  if (failure !== null) throw failure;
}

/** The last line a helper that has exited wrote to its stderr pipe (`fd`), or "". */
function helperSaid(fd: number): string {
  // It has exited: what it said is in the pipe, and no one else writes there.
  const said = new Uint8Array(4096);
  setNonBlocking(fd, true);
  let n = 0;
  try {
    n = read(fd, said);
  } catch {
    // nothing to read
  }
  return new TextDecoder().decode(said.subarray(0, Math.max(n, 0))).trim().split("\n").pop() ?? "";
}
