// `--security-opt seccomp=PROFILE.json`: a profile in Docker's format, compiled for this machine (loaded only when given).

import { compileProfile, parseProfile, SeccompProfileError } from "../container/seccomp/profile.ts";
import { hostArch } from "../container/seccomp/default.ts";
import { UsageError } from "./args.ts";

/**
 * Reads and compiles the seccomp profile at `path` for a container with `capabilities`;
 * a profile that cannot be read or compiled is a UsageError naming the path.
 */
export function loadSeccompProfile(path: string, capabilities: bigint): Uint8Array {
  let text: string;
  try {
    text = Deno.readTextFileSync(path);
  } catch (e) {
    throw new UsageError(`cannot read seccomp profile "${path}": ${(e as Error).message}`);
  }
  try {
    return compileProfile(parseProfile(text), { arch: hostArch(), capabilities });
  } catch (e) {
    if (e instanceof SeccompProfileError) throw new UsageError(`"${path}": ${e.message}`);
    throw e;
  }
}
