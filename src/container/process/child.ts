// The forked child: born pid 1 in the container's new namespaces, it waits for its id maps, makes the TAP and runs the init.

import { close, ioctl, O, open, waitReadable } from "../../../ffi/sys.ts";
import { CLONE, exitNow, PR, prctl, unshare } from "../../../ffi/process.ts";
import { libc } from "../../../ffi/libc.ts";
import { ifreq } from "../../../ffi/structs.ts";
import { offerOffloads } from "../../net/link/tun_offload.ts";
import { containerInit } from "./init.ts";
import type { InitPrograms } from "./init_program.ts";
import { reportFailure, step } from "./steps.ts";
import { receive, send } from "./messages.ts";

const SIGKILL = 9;
const SIG_BLOCK = 0;
/** The namespaces the child makes itself (see NAMESPACES_AT_BIRTH in host.ts). */
const LATER_NAMESPACES = CLONE.NEWNS | CLONE.NEWUTS | CLONE.NEWIPC | CLONE.NEWNET | CLONE.NEWCGROUP;
/** A kernel sigset_t with every signal (the kernel leaves SIGKILL and SIGSTOP out itself). */
const ALL_SIGNALS = new Uint8Array(8).fill(0xff);
const TUNSETIFF = 0x400454ca;
const IFF_TAP = 0x0002;
const IFF_NO_PI = 0x1000;
/** A virtio-net header on every frame: the host side then asks for offloads (TUNSETOFFLOAD). */
const IFF_VNET_HDR = 0x4000;

/**
 * A test hook that acts once: with the environment variable `name` naming a file that does not
 * exist yet, creates it holding `what` and says true; false otherwise (and from then on).
 */
function onceForTests(name: string, what: string): boolean {
  const marker = Deno.env.get(name);
  if (marker === undefined) return false;
  try {
    Deno.writeTextFileSync(marker, `${what}\n`, { createNew: true });
    return true;
  } catch {
    return false; // done once already
  }
}

/**
 * The test suite's ways to check that a child is started again: PARANOID_TEST_CRASH_CHILD_ONCE
 * makes it die of SIGSEGV, as a child that lost a V8 page does; PARANOID_TEST_STALL_CHILD_ONCE
 * makes it wait forever, as a child stuck on a lock would. Each once (see onceForTests).
 */
function failOnceForTests(): void {
  if (onceForTests("PARANOID_TEST_CRASH_CHILD_ONCE", "crashed")) {
    // A real fault: pid 1 of a namespace never gets a signal it has no handler for from
    // inside, and Deno's own SIGSEGV handler (for WebAssembly traps) must not take this one.
    libc.signal(11, 0n /* SIG_DFL */);
    new Deno.UnsafePointerView(Deno.UnsafePointer.create(8n)!).getInt32();
  }
  if (onceForTests("PARANOID_TEST_STALL_CHILD_ONCE", "stalled")) {
    for (;;) waitReadable(-1, 3_600_000);
  }
}

/**
 * Runs the child, pid 1 of the container; never returns. `programs` are its init's, written
 * by the host side before fork; `sock` is its channel to the host side (closed on exec, so
 * end of file there means INIT was executed).
 */
export function runChild(programs: InitPrograms, sock: number): never {
  try {
    prctl(PR.SET_PDEATHSIG, BigInt(SIGKILL));
    // Born a copy of the host side, it has its signal handlers: none may run here (one
    // would tell the host side's event loop of a signal it did not get). The init's finish
    // program sets the dispositions to default, then unblocks.
    libc.sigprocmask(SIG_BLOCK, ALL_SIGNALS, null);
    // Born in its user and pid namespaces; the others are made here, while the host side has
    // newuidmap write the maps (they need none of them).
    step("create the namespaces", () => unshare(LATER_NAMESPACES));
    failOnceForTests();
    // The host side writes the maps (or says to write them here), then says go. Had it died
    // before the death signal was armed, its end of the channel is closed: end of file here.
    const reply = receive(sock);
    if (reply === null || reply.message.t !== "maps") exitNow(125); // the host side gave up
    const { own, tap } = reply.message;
    if (own !== null) {
      step(
        "write /proc/self/setgroups",
        () => Deno.writeTextFileSync("/proc/self/setgroups", "deny"),
      );
      step(
        "write /proc/self/uid_map",
        () => Deno.writeTextFileSync("/proc/self/uid_map", own.uidMap),
      );
      step(
        "write /proc/self/gid_map",
        () => Deno.writeTextFileSync("/proc/self/gid_map", own.gidMap),
      );
    }
    if (tap) {
      const fd = step("open /dev/net/tun", () => open("/dev/net/tun", O.RDWR | O.CLOEXEC));
      const req = ifreq("eth0");
      new DataView(req.buffer).setUint16(16, IFF_TAP | IFF_NO_PI | IFF_VNET_HDR, true);
      step("create the TAP device eth0", () => ioctl(fd, TUNSETIFF, req, "/dev/net/tun"));
      // Before INIT runs, so that what it sends first is segmented as what it sends later.
      offerOffloads(fd);
      send(sock, { t: "tap" }, [fd]);
      close(fd);
    }
  } catch (e) {
    reportFailure(sock, e);
  }
  containerInit(programs, sock);
}
