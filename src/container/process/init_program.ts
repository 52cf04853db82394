// The container init's work as syscall programs, written down by the host side before fork: what they are and where INIT may be.
//
// Theory of operation: `prepareInit` turns a ContainerSpec into two programs
// (program.ts) and the list of paths INIT may be at. `setup` (setup_program.ts)
// runs in pid 1 once its id maps are written: the mounts of the plan, pivot_root,
// the hostname, lo and eth0. `finish` (finish_program.ts) runs in the process
// that becomes INIT (pid 1, or pid 2 under --init's reaper): standard streams,
// working directory, seccomp, bounding set, user, capabilities, no_new_privs,
// signals, the start gate. Then INIT is executed along its candidates. Both
// share one memory and one register file (the start gate's descriptor is a
// result of the setup and an argument of the finish).

import type { ContainerSpec } from "../spec.ts";
import { candidatesFor } from "./identity.ts";
import { ProgramBuilder, type SyscallProgram } from "./program.ts";
import { writeSetup } from "./setup_program.ts";
import { writeFinish } from "./finish_program.ts";
import type { InitContext } from "./init_context.ts";

/** What the init runs: the two programs and where INIT may be (C strings in their memory). */
export interface InitPrograms {
  /** pid 1, right after fork: mounts, root, hostname, network. */
  readonly setup: SyscallProgram;
  /** The process that becomes INIT: streams, identity, gate, seccomp. */
  readonly finish: SyscallProgram;
  /** Whether pid 1 stays as --init's reaper, with INIT as its child. */
  readonly reaper: boolean;
  /** Addresses of argv, envp and of each path INIT may be at (C strings). */
  readonly argv: number;
  readonly envp: number;
  readonly candidates: readonly number[];
  /** INIT as the user named it and its candidate paths as text (for errors). */
  readonly names: () => { readonly name: string; readonly candidates: readonly string[] };
}

/** Writes the programs for `spec`. */
export function prepareInit(
  spec: ContainerSpec,
  context: InitContext,
): InitPrograms {
  const p = new ProgramBuilder();
  const gate = writeSetup(p, spec, context);
  const setup = p.end();
  writeFinish(p, spec, context, gate);
  const finish = p.end();
  const name = spec.argv[0] ?? "";
  const candidates = candidatesFor(name, spec.env);
  return {
    setup,
    finish,
    reaper: spec.init,
    argv: p.address(p.cstrArray(spec.argv)),
    envp: p.address(p.cstrArray(spec.env)),
    candidates: candidates.map((c) => p.address(p.cstr(c))),
    names: () => ({ name, candidates }),
  };
}
