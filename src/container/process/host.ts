// The host side of a container start: fork the child into its namespaces, write the id maps, collect the TAP and pty, report failures.
//
// Theory of operation: the child is born pid 1 of the container, in new user,
// mount, pid, UTS, IPC, network and cgroup namespaces (one clone(2)), with its
// init's work already written down as syscall programs (init_program.ts). One
// SOCK_SEQPACKET pair joins it to the host side: the host side says "maps"
// once the id maps are written, the child sends the TAP and the pty over it,
// and its end is close-on-exec, so end of file there means INIT was executed,
// and a StepFailed message before that means the setup failed at the step it
// names. The child is the host side's own child: its exit status is INIT's.
// Nothing is left behind on failure: the child dies with the host side (its
// death signal), and the namespaces die with it.

import { SyscallError } from "../../../ffi/errno.ts";
import {
  close,
  O,
  open,
  pipe,
  receiveMessageAsync,
  SOCK,
  socketpair,
  waitReadable,
} from "../../../ffi/sys.ts";
import { CLONE, fork, kill, waitpidAsync, type WaitStatus } from "../../../ffi/process.ts";
import { ownMaps, prepareMapHelpers, writeMapsWithHelpers } from "../idmap.ts";
import { isSingleThreaded, NotSingleThreadedError } from "../single_thread.ts";
import type { ContainerSpec } from "../spec.ts";
import { runChild } from "./child.ts";
import { prepareContainerInit } from "./init.ts";
import { decodeMessage, type Message, receive, send, type StepFailed } from "./messages.ts";
import { explainFailure } from "./explain.ts";

/** Where a standard stream of INIT goes, as in Deno.Command. */
export type StdioMode = "inherit" | "piped" | "null";

/** A container start failure, as one sentence naming the step, the errno, the path and the fix. */
export class ContainerStartError extends Error {
  /** The setup step that failed, such as "mount /proc". */
  readonly step: string;
  /** The errno name, such as "EPERM", or null when the failure was not a system call. */
  readonly code: string | null;
  /** The exit status paranoid uses for it: 125 setup, 126 cannot execute, 127 not found. */
  readonly exitCode: number;
  /** Builds the error from the message a child sent. */
  constructor(failure: StepFailed, exitCode: number) {
    super(explainFailure(failure));
    this.name = "ContainerStartError";
    this.step = failure.step;
    this.code = failure.errno === 0 ? null : new SyscallError("", failure.errno).code;
    this.exitCode = exitCode;
  }
}

/** A container whose INIT is running. */
export interface RunningContainer {
  /** INIT's pid as the host sees it. */
  readonly pid: number;
  /** The TAP device's descriptor when the network is on, for the stack. */
  readonly tapFd: number | null;
  /** The pty master when INIT has a terminal. */
  readonly ptyFd: number | null;
  /** Read ends of the piped streams (stdout, stderr) and write end of stdin, when piped. */
  readonly pipes: { stdin: number | null; stdout: number | null; stderr: number | null };
  /** Resolves when INIT has ended and every child process is reaped. */
  readonly status: Promise<WaitStatus>;
  /** Sends a signal to INIT; false when it is gone. */
  kill(signal: number): boolean;
  /** With a start gate: resolves to the sentence for an execve failure after the gate, or null. */
  readonly lateFailure: Promise<string | null>;
}

/** Options for {@link startContainer} beyond the spec. */
export interface StartOptions {
  readonly stdin: StdioMode;
  readonly stdout: StdioMode;
  readonly stderr: StdioMode;
  /** Called with the child's pid right after fork, before it may create INIT (e.g. to join a cgroup). */
  readonly onForked?: (pid: number) => void;
}

const timing = Deno.env.get("PARANOID_TIMING") === "1";
/** With PARANOID_TIMING=1, prints when each start-up phase ended, in ms since the process started. */
export function mark(what: string): void {
  if (timing) console.error(`paranoid: timing ${performance.now().toFixed(1)} ms ${what}`);
}

/** A channel reader: one outstanding receive at a time, on Deno's thread pool. */
class Channel {
  readonly #fd: number;
  readonly #buf = new Uint8Array(4096);
  constructor(fd: number) {
    this.#fd = fd;
  }
  async next(): Promise<{ message: Message; fds: number[] } | null> {
    const { length, fds } = await receiveMessageAsync(this.#fd, this.#buf);
    if (length <= 0) {
      for (const fd of fds) close(fd);
      return null;
    }
    return { message: decodeMessage(this.#buf.subarray(0, length)), fds };
  }
  close(): void {
    close(this.#fd);
  }
}

/** Descriptors for INIT's stdin, stdout, stderr and the host's ends of pipes. */
function prepareStdio(options: StartOptions) {
  const childFds: number[] = [];
  const hostEnds: (number | null)[] = [];
  const toClose: number[] = [];
  const modes = [options.stdin, options.stdout, options.stderr] as const;
  modes.forEach((mode, i) => {
    if (mode === "inherit") {
      childFds.push(i);
      hostEnds.push(null);
    } else if (mode === "null") {
      const fd = open("/dev/null", O.RDWR | O.CLOEXEC);
      childFds.push(fd);
      hostEnds.push(null);
      toClose.push(fd);
    } else {
      const [r, w] = pipe();
      childFds.push(i === 0 ? r : w);
      hostEnds.push(i === 0 ? w : r);
      toClose.push(i === 0 ? r : w);
    }
  });
  return { childFds: childFds as [number, number, number], hostEnds, toClose };
}

/**
 * Starts a container: forks the child, writes the maps, waits until INIT has
 * been executed, and returns it running. Throws {@link ContainerStartError}
 * when a step fails; nothing is left behind then.
 */
export async function startContainer(
  spec: ContainerSpec,
  options: StartOptions,
): Promise<RunningContainer> {
  for (let attempt = 1;; attempt++) {
    try {
      return await startOnce(spec, options);
    } catch (e) {
      // A forked Deno child very rarely dies of SIGSEGV on a V8 heap page that it did not
      // inherit (seen about once in several hundred starts under heavy load, after fork()
      // clears MADV_DONTFORK everywhere it can), or could get stuck (see SETUP_TIMEOUT_MS).
      // Such a child had done nothing that lasts: its namespaces died with it. Start again,
      // twice at most, rather than fail the user's run.
      if (!(e instanceof ChildCrashed) || attempt >= 3) throw e;
      mark(`the child crashed (${e.message}); starting again`);
    }
  }
}

/** The child died of a crash signal, or got stuck, before INIT was executed. */
class ChildCrashed extends ContainerStartError {}

const CRASH_SIGNALS = new Set([7, /* SIGBUS */ 11 /* SIGSEGV */]);

/**
 * How long the child may take from its id maps to INIT: a few milliseconds, normally
 * (PARANOID_SETUP_TIMEOUT_MS changes it, for tests).
 */
const SETUP_TIMEOUT_MS = positiveEnv("PARANOID_SETUP_TIMEOUT_MS") ?? 20_000;

/** A positive integer from the environment, or undefined (absent or malformed). */
function positiveEnv(name: string): number | undefined {
  const n = Number(Deno.env.get(name));
  return Number.isInteger(n) && n > 0 ? n : undefined;
}

/**
 * The namespaces a container's child is born in: its user and pid namespaces. It makes the
 * others itself (child.ts) while its id maps are written, which takes newuidmap milliseconds.
 */
const NAMESPACES_AT_BIRTH = CLONE.NEWUSER | CLONE.NEWPID;

const ECONNRESET = 104;

/**
 * The child's next message, or null at end of file. A child that died with a message of the
 * host side's unread makes the socket report ECONNRESET once, ahead of what it had sent (its
 * failure, say): read on past it.
 */
function receiveFromChild(fd: number): ReturnType<typeof receive> {
  for (let tries = 0; tries < 2; tries++) {
    try {
      return receive(fd);
    } catch (e) {
      if (!(e instanceof SyscallError) || e.errno !== ECONNRESET) throw e;
    }
  }
  return null;
}

async function startOnce(spec: ContainerSpec, options: StartOptions): Promise<RunningContainer> {
  if (!isSingleThreaded()) throw new NotSingleThreadedError();
  const [host, child] = socketpair(SOCK.SEQPACKET);
  const stdio = prepareStdio(options);
  const closeStdio = () => {
    for (const fd of stdio.toClose) close(fd);
    for (const fd of stdio.hostEnds) if (fd !== null) close(fd);
  };
  // Everything the child does is written down now: after fork, it only runs it.
  let programs;
  try {
    programs = prepareContainerInit(spec, child, stdio.childFds);
    mark("programs written");
    if (spec.idMapping.helpers) prepareMapHelpers();
  } catch (e) {
    close(host);
    close(child);
    closeStdio();
    throw e;
  }
  mark("fork");
  let pid: number;
  try {
    // The --init reaper and eth0's configuration read with read(2): bound here, since binding
    // it in the child (a dlopen) could meet a lock another thread of this process held then.
    const childReads = spec.init || spec.network.mode === "tap";
    pid = fork({ namespaces: NAMESPACES_AT_BIRTH, childBindsLate: !childReads });
  } catch (e) {
    close(host);
    close(child);
    closeStdio();
    const errno = e instanceof SyscallError ? e.errno : 0;
    throw new ContainerStartError(
      { t: "error", step: "create the namespaces", syscall: "clone", errno, path: null },
      125,
    );
  }
  if (pid === 0) {
    close(host);
    for (const fd of stdio.hostEnds) if (fd !== null) close(fd);
    runChild(programs, child);
  }
  mark("namespaces created");
  // What the child waits for comes first: its cgroup, its maps, then the word to go on.
  let mapsFailed: Error | null = null;
  try {
    options.onForked?.(pid);
    if (spec.idMapping.helpers) await writeMapsWithHelpers(pid, spec.idMapping);
    send(host, { t: "maps", own: ownMaps(spec.idMapping), tap: spec.network.mode === "tap" });
    mark("id maps written");
  } catch (e) {
    mapsFailed = e as Error;
  }
  close(child);
  for (const fd of stdio.toClose) close(fd);

  const channel = new Channel(host);
  const reaped = waitpidAsync(pid);
  let tapFd: number | null = null;
  let ptyFd: number | null = null;
  let failure: StepFailed | null = null;
  const closeAll = () => {
    if (tapFd !== null) close(tapFd);
    if (ptyFd !== null) close(ptyFd);
    for (const fd of stdio.hostEnds) if (fd !== null) close(fd);
  };

  if (mapsFailed !== null) {
    // A child that failed a step meanwhile (its namespaces) said so, and its maps failed with it.
    let said: ReturnType<typeof receive> = null;
    if (waitReadable(host, 0)) said = receiveFromChild(host);
    kill(pid, 9);
    const died = await reaped;
    channel.close();
    closeAll();
    if (said?.message.t === "error") throw new ContainerStartError(said.message, 125);
    const f: StepFailed = {
      t: "error",
      step: "write the id maps",
      syscall: mapsFailed.message,
      errno: 0,
      path: null,
    };
    // A child that crashed meanwhile fails its maps too: that is the crash, not the maps.
    if (CRASH_SIGNALS.has(died.signal ?? 0)) throw new ChildCrashed(f, 125);
    throw new ContainerStartError(f, 125);
  }

  // The channel until INIT is executed ("exec", then end of file), waits at its start gate, or
  // a step fails. End of file without "exec" is a child that died before. The child is busy
  // for a few milliseconds of system calls: wait for it on this thread, with no hop through
  // the thread pool per message.
  let gated = false;
  let executing = false;
  const deadline = performance.now() + SETUP_TIMEOUT_MS;
  // No spinning while the child works: looking without sleeping for its first 3 ms cost a
  // start 0.4 to 0.7 ms (paired rounds, either order), the child needing the other CPU.
  for (;;) {
    if (!waitReadable(host, deadline - performance.now())) {
      // A child stuck before INIT: born a copy of a multithreaded process, it may, very
      // rarely, wait forever on a lock another thread held at that instant.
      kill(pid, 9);
      const status = await reaped;
      channel.close();
      closeAll();
      throw new ChildCrashed({
        t: "error",
        step: "start the container",
        syscall: `the setup did not finish within ${SETUP_TIMEOUT_MS} ms (${
          status.signal === 9 ? "stopped" : `exit status ${status.code}`
        })`,
        errno: 0,
        path: null,
      }, 125);
    }
    const got = receiveFromChild(host);
    if (got === null) break;
    const m = got.message;
    if (m.t === "tap") tapFd = got.fds[0] ?? null;
    else if (m.t === "pty") ptyFd = got.fds[0] ?? null;
    else if (m.t === "error") failure = m;
    else if (m.t === "exec") executing = true;
    else if (m.t === "gated") {
      gated = true;
      break;
    }
  }
  // After the gate, a failure of execve can still come: it is reported as lateFailure.
  const lateFailure = gated
    ? (async () => {
      let late: string | null = null;
      for (;;) {
        const got = await channel.next();
        if (got === null) break;
        if (got.message.t === "error") late = explainFailure(got.message);
      }
      channel.close();
      return late;
    })()
    : (channel.close(), Promise.resolve(null));
  if (failure !== null) {
    const status = await reaped;
    closeAll();
    throw new ContainerStartError(failure, status.code ?? 125);
  }
  if (!gated && !executing) {
    const early = await reaped;
    closeAll();
    const how = early.signal !== null
      ? `killed by signal ${early.signal}`
      : `exit status ${early.code}`;
    const f: StepFailed = {
      t: "error",
      step: "start the container",
      syscall: `the child exited early (${how})`,
      errno: 0,
      path: null,
    };
    if (CRASH_SIGNALS.has(early.signal ?? 0)) throw new ChildCrashed(f, 125);
    throw new ContainerStartError(f, 125);
  }
  mark(gated ? "INIT waits at the start gate" : "INIT executed");
  let done = false;
  const status = reaped.then((s) => {
    done = true;
    return s;
  });
  return {
    pid,
    tapFd,
    ptyFd,
    pipes: { stdin: stdio.hostEnds[0]!, stdout: stdio.hostEnds[1]!, stderr: stdio.hostEnds[2]! },
    status,
    kill: (signal: number) => !done && kill(pid, signal),
    lateFailure,
  };
}
