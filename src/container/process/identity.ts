// The last identity steps shared by INIT and by processes joining a container: bounding set, user, capabilities, PATH.

import { SyscallError } from "../../../ffi/errno.ts";
import { pathExists } from "../../../ffi/sys.ts";
import { capset, PR, prctl, setgid, setgroups, setuid } from "../../../ffi/process.ts";
import type { CapabilitySets } from "../spec.ts";

/** The highest capability number tried; the kernel answers EINVAL past its own last one. */
const CAP_LAST = 63;

/** The PATH used when the environment sets none (Docker's default). */
export const DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/** Drops every capability not in `keep` from the bounding set. */
export function dropBoundingSet(keep: bigint): void {
  for (let cap = 0; cap <= CAP_LAST; cap++) {
    if (keep & (1n << BigInt(cap))) continue;
    try {
      prctl(PR.CAPBSET_DROP, BigInt(cap));
    } catch (e) {
      // EINVAL: this kernel does not know the capability
      if (!(e instanceof SyscallError) || e.errno !== 22) throw e;
    }
  }
}

/** Whether this process's user namespace denies setgroups(2) (a child namespace inherits it). */
export function setgroupsDenied(): boolean {
  try {
    return Deno.readTextFileSync("/proc/self/setgroups").trim() === "deny";
  } catch {
    return false;
  }
}

/**
 * Switches to `uid:gid` with `groups`, keeping the permitted capabilities
 * across the uid change. Where setgroups is denied (one id mapped, or inside
 * a parent namespace such as rootless Podman's), the process keeps the
 * groups it has.
 */
export function switchUser(uid: number, gid: number, groups: readonly number[]): void {
  try {
    setgroups(groups);
  } catch (e) {
    if (!(e instanceof SyscallError) || e.errno !== 1 || !setgroupsDenied()) throw e;
  }
  setgid(gid);
  if (uid !== 0) prctl(PR.SET_KEEPCAPS, 1n);
  setuid(uid);
}

/**
 * Sets the capability sets: exactly `sets` when given (with ambient raised),
 * else `mask` permitted, and effective too for root, as Docker does.
 */
export function setCapabilities(uid: number, mask: bigint, sets: CapabilitySets | null): void {
  if (sets === null) {
    capset({ effective: uid === 0 ? mask : 0n, permitted: mask, inheritable: 0n });
    prctl(PR.CAP_AMBIENT, BigInt(PR.CAP_AMBIENT_CLEAR_ALL));
    return;
  }
  capset({ effective: sets.effective, permitted: sets.permitted, inheritable: sets.inheritable });
  prctl(PR.CAP_AMBIENT, BigInt(PR.CAP_AMBIENT_CLEAR_ALL));
  for (let cap = 0; cap <= CAP_LAST; cap++) {
    if (sets.ambient & (1n << BigInt(cap))) {
      prctl(PR.CAP_AMBIENT, BigInt(PR.CAP_AMBIENT_RAISE), BigInt(cap));
    }
  }
}

/** The paths execvp would try for `name`: itself when it holds a slash, else along PATH. */
export function candidatesFor(name: string, env: readonly string[]): string[] {
  if (name === "") return [];
  if (name.includes("/")) return [name];
  const path = env.find((e) => e.startsWith("PATH="))?.slice(5) ?? DEFAULT_PATH;
  return path.split(":").map((dir) => `${dir || "."}/${name}`);
}

/** Finds a program as execvp would: as given when it holds a slash, else along the env's PATH. */
export function findInPath(name: string, env: readonly string[]): string | null {
  if (name.includes("/")) return name;
  for (const candidate of candidatesFor(name, env)) {
    if (!pathExists(candidate)) continue; // no exception per missing candidate
    try {
      if (Deno.statSync(candidate).isFile) return candidate;
    } catch {
      // keep looking
    }
  }
  return null;
}
