// A process title of its own for the reaper (pid 1 under --init), in place of the host's Deno command line and environment.
//
// The forked reaper would otherwise show, through /proc/1/cmdline, /proc/1/environ and ps
// inside the container, the command that started paranoid on the host (the paths of Deno, of
// the program and of the user's root directory) and the user's host environment. Its argument
// area is rewritten in place through /proc/self/mem, with the last byte made non-zero so that
// the kernel reads it as a setproctitle(3) title (up to the first NUL, fs/proc/base.c
// get_mm_proctitle); its environment area is zeroed; its name (comm) is set with PR_SET_NAME.

import { libc } from "../../../ffi/libc.ts";
import { addressOf, cstr } from "../../../ffi/structs.ts";

/** prctl option that sets the calling thread's name (comm, 15 bytes at most). */
const PR_SET_NAME = 15;

/**
 * Makes this process appear as `title` in /proc/self/cmdline, /proc/self/comm and ps.
 * Synchronous, for a forked child; best effort (a failure leaves the old title).
 */
export function setProcessTitle(title: string): void {
  try {
    const stat = Deno.readTextFileSync("/proc/self/stat");
    // Fields after "(comm)" start with field 3 (state); arg_start and arg_end are 48 and 49.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    const [argStart, argEnd, envStart, envEnd] = [48, 49, 50, 51].map((n) => Number(fields[n - 3]));
    const mem = Deno.openSync("/proc/self/mem", { write: true });
    try {
      if (envEnd! > envStart!) {
        mem.seekSync(envStart!, Deno.SeekMode.Start);
        mem.writeSync(new Uint8Array(envEnd! - envStart!));
      }
      if (argEnd! > argStart! + 2) {
        const area = new Uint8Array(argEnd! - argStart!);
        area.set(new TextEncoder().encode(title).subarray(0, area.length - 2));
        area[area.length - 1] = 0x20;
        mem.seekSync(argStart!, Deno.SeekMode.Start);
        mem.writeSync(area);
      }
    } finally {
      mem.close();
    }
  } catch {
    // the title stays
  }
  const name = cstr(title.slice(0, 15));
  libc.prctl(PR_SET_NAME, addressOf(name), 0n, 0n, 0n);
}
