// The forked child: creates the namespaces, waits for the id maps, makes the TAP, forks INIT's process and waits.

import {
  CLONE,
  close,
  exitNow,
  fork,
  getppid,
  ioctl,
  O,
  open,
  PR,
  prctl,
  unshare,
  waitpid,
} from "../../../ffi/sys.ts";
import { bindLibc, LATE_CHILD_SYMBOLS, libc } from "../../../ffi/libc.ts";
import { ifreq } from "../../../ffi/structs.ts";
import { formatIdMap } from "../idmap.ts";
import type { ContainerSpec } from "../spec.ts";
import { containerInit, type Stdio } from "./init.ts";
import type { InitPrograms } from "./init_program.ts";
import { reportFailure, step } from "./steps.ts";
import { receive, send } from "./messages.ts";

const SIGKILL = 9;
const IGNORED_SIGNALS = [1, 2, 3, 13, 15, 10, 12, 20, 21, 22, 28] as const;
const TUNSETIFF = 0x400454ca;
const IFF_TAP = 0x0002;
const IFF_NO_PI = 0x1000;
/** A virtio-net header on every frame: the host side then asks for offloads (TUNSETOFFLOAD). */
const IFF_VNET_HDR = 0x4000;

/**
 * The test suite's way to check that a crashed child is started again: with
 * PARANOID_TEST_CRASH_CHILD_ONCE naming a file that does not exist yet, the
 * child creates it and dies of SIGSEGV, as a child that lost a V8 page does.
 */
function crashOnceForTests(): void {
  const marker = Deno.env.get("PARANOID_TEST_CRASH_CHILD_ONCE");
  if (marker === undefined) return;
  try {
    Deno.writeTextFileSync(marker, "crashed\n", { createNew: true });
  } catch {
    return; // crashed once already
  }
  // Deno's own SIGSEGV handler (for WebAssembly traps) returns from a signal that no fault
  // raised, and the process would go on: the default action first.
  libc.signal(11, 0n /* SIG_DFL */);
  libc.kill(libc.getpid(), 11);
}

/**
 * Runs the intermediate child; never returns. `programs` are INIT's process's, prepared
 * before fork (init_program.ts); `sock` is the control channel,
 * `initSock` the channel handed to INIT's process, `hostPid` the host side's
 * pid (to check that the death signal was armed in time).
 */
export function runChild(
  spec: ContainerSpec,
  programs: InitPrograms,
  sock: number,
  initSock: number,
  stdio: Stdio,
  hostPid: number,
): never {
  try {
    prctl(PR.SET_PDEATHSIG, BigInt(SIGKILL));
    if (getppid() !== hostPid) exitNow(125); // the host side died before the death signal was armed
    for (const sig of IGNORED_SIGNALS) libc.signal(sig, 1n /* SIG_IGN */);
    crashOnceForTests();
    step("create the namespaces", () =>
      unshare(
        CLONE.NEWUSER | CLONE.NEWNS | CLONE.NEWPID | CLONE.NEWUTS | CLONE.NEWIPC | CLONE.NEWNET |
          CLONE.NEWCGROUP,
      ));
    send(sock, { t: "unshared" });
    // While the host side writes the maps, bind what the rest of the way needs.
    bindLibc(LATE_CHILD_SYMBOLS);
    const reply = receive(sock);
    if (reply === null || reply.message.t !== "maps") exitNow(125); // the host side gave up
    if (reply.message.writeOwn) {
      step(
        "write /proc/self/setgroups",
        () => Deno.writeTextFileSync("/proc/self/setgroups", "deny"),
      );
      step(
        "write /proc/self/uid_map",
        () => Deno.writeTextFileSync("/proc/self/uid_map", formatIdMap(spec.idMapping.uids)),
      );
      step(
        "write /proc/self/gid_map",
        () => Deno.writeTextFileSync("/proc/self/gid_map", formatIdMap(spec.idMapping.gids)),
      );
    }
    if (spec.network.mode === "tap") {
      const tap = step("open /dev/net/tun", () => open("/dev/net/tun", O.RDWR | O.CLOEXEC));
      const req = ifreq("eth0");
      new DataView(req.buffer).setUint16(16, IFF_TAP | IFF_NO_PI | IFF_VNET_HDR, true);
      step("create the TAP device eth0", () => ioctl(tap, TUNSETIFF, req, "/dev/net/tun"));
      send(sock, { t: "tap" }, [tap]);
      close(tap);
    }
    const pid = step("fork the container's pid 1", () => fork());
    if (pid === 0) {
      close(sock);
      containerInit(spec, programs, initSock);
    }
    close(initSock);
    for (const fd of stdio) if (fd > 2) close(fd);
    send(sock, { t: "started", pid });
    const { status } = waitpid(pid);
    send(sock, { t: "exited", code: status.code, signal: status.signal });
    exitNow(0);
  } catch (e) {
    reportFailure(sock, e);
  }
}
