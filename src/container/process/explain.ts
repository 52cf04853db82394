// Turns a child's StepFailed message into one sentence with the step, the errno, the path and the fix.

import { errnoName, errnoText } from "../../../ffi/errno.ts";
import type { StepFailed } from "./messages.ts";

const USERNS_FIX =
  "user namespaces are disabled or restricted for unprivileged users: make user.max_user_namespaces greater than 0, set kernel.unprivileged_userns_clone=1 where it exists, and kernel.apparmor_restrict_unprivileged_userns=0 on Ubuntu";

/** The fix for a failure, when one is known. */
function fixFor(f: StepFailed): string | null {
  const e = errnoName(f.errno);
  if (f.step === "create the namespaces") {
    if (e === "ENOSPC" && f.syscall === "unshare") {
      return "one of the limits user.max_mnt_namespaces, user.max_net_namespaces, user.max_uts_namespaces, user.max_ipc_namespaces and user.max_cgroup_namespaces is reached: raise it with sysctl";
    }
    if (e === "ENOSPC") {
      return "the limit user.max_user_namespaces (or user.max_pid_namespaces) is reached: raise it with sysctl";
    }
    if (e === "EPERM" || e === "EINVAL" || e === "EACCES") return USERNS_FIX;
  }
  if (f.step === "open /dev/net/tun") {
    if (e === "EACCES" || e === "EPERM") {
      return "make /dev/net/tun usable by everyone as distributions do (as root: chmod 0666 /dev/net/tun), or run with -N to start without a network";
    }
    if (e === "ENOENT" || e === "ENODEV") {
      return "load the tun module (as root: modprobe tun), or run with -N";
    }
  }
  if (f.step === "find INIT") return "check the path, or the container's PATH";
  if (f.step.startsWith("execute INIT")) {
    if (e === "EACCES") return "make it executable (chmod +x) and check the mount is not noexec";
    if (e === "ENOEXEC") return "it is not an executable for this machine, or lacks a #! line";
    if (e === "ENOENT") {
      return "its interpreter or dynamic loader is missing from the root filesystem";
    }
  }
  if (f.step.startsWith("bind ") && e === "ENOENT" && f.syscall === "open_tree") {
    return "check that the source exists on the host";
  }
  if (f.syscall === "mount" && e === "ENOENT" && /^\/(proc|sys)\//.test(f.path ?? "")) {
    return "nothing can be made under /proc or /sys: mount on a path that exists there";
  }
  if (f.step === "write the id maps") return null;
  return null;
}

/** Formats a failure as one sentence: "cannot <step>: <syscall> "<path>": <ERRNO> (<text>); <fix>". */
export function explainFailure(f: StepFailed): string {
  let what: string;
  if (f.step === "find INIT") {
    what = `INIT ${JSON.stringify(f.path ?? "")} was not found in the container: ENOENT (${
      errnoText(2)
    })`;
  } else if (f.errno === 0) {
    what = `cannot ${f.step}: ${f.syscall}`;
  } else {
    const path = f.path === null ? "" : ` ${JSON.stringify(f.path)}`;
    what = `cannot ${f.step}: ${f.syscall}${path} failed with ${errnoName(f.errno)} (${
      errnoText(f.errno)
    })`;
  }
  const fix = fixFor(f);
  return fix === null ? what : `${what}; ${fix}`;
}
