// The host side of a container start: fork the child, write the id maps, collect the TAP and pty, report failures.
//
// Theory of operation: two SOCK_SEQPACKET pairs join the host side to the
// children. The control channel stays with the intermediate child for the
// container's life (unshared, maps, tap, started, exited). The init channel
// belongs to the process that becomes INIT; its end is close-on-exec, so end
// of file on it means INIT was executed, and a StepFailed message before that
// means the setup failed at the step it names. Nothing is left behind on
// failure: the children die with the pid namespace, and the mount, network and
// user namespaces die with them.

import { SyscallError } from "../../../ffi/errno.ts";
import {
  close,
  fork,
  getpid,
  kill,
  O,
  open,
  pipe,
  receiveMessageAsync,
  SOCK,
  socketpair,
  waitpidAsync,
  type WaitStatus,
} from "../../../ffi/sys.ts";
import { prepareMapHelpers, writeMapsWithHelpers } from "../idmap.ts";
import { isSingleThreaded, NotSingleThreadedError } from "../single_thread.ts";
import type { ContainerSpec } from "../spec.ts";
import { runChild } from "./child.ts";
import { prepareContainerInit } from "./init.ts";
import { decodeMessage, type Message, send, type StepFailed } from "./messages.ts";
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
      // clears MADV_DONTFORK everywhere it can). Such a child had done nothing that lasts: its
      // namespaces died with it. Start again, twice at most, rather than fail the user's run.
      if (!(e instanceof ChildCrashed) || attempt >= 3) throw e;
      mark(`the child crashed (${e.message}); starting again`);
    }
  }
}

/** The child died of a crash signal before INIT's process existed. */
class ChildCrashed extends ContainerStartError {}

const CRASH_SIGNALS = new Set([7, /* SIGBUS */ 11 /* SIGSEGV */]);

async function startOnce(spec: ContainerSpec, options: StartOptions): Promise<RunningContainer> {
  if (!isSingleThreaded()) throw new NotSingleThreadedError();
  const [ctlHost, ctlChild] = socketpair(SOCK.SEQPACKET);
  const [initHost, initChild] = socketpair(SOCK.SEQPACKET);
  const stdio = prepareStdio(options);
  const hostPid = getpid();
  // Everything INIT's process does is written down now: after fork, it only runs it.
  const programs = prepareContainerInit(spec, initChild, stdio.childFds);
  let childPid: number;
  mark("fork");
  try {
    childPid = fork({ childBindsLate: true });
  } catch (e) {
    for (const fd of [ctlHost, ctlChild, initHost, initChild, ...stdio.toClose]) close(fd);
    for (const fd of stdio.hostEnds) if (fd !== null) close(fd);
    throw e;
  }
  if (childPid === 0) {
    close(ctlHost);
    close(initHost);
    for (const fd of stdio.hostEnds) if (fd !== null) close(fd);
    runChild(spec, programs, ctlChild, initChild, stdio.childFds, hostPid);
  }
  close(ctlChild);
  close(initChild);
  for (const fd of stdio.toClose) close(fd);

  // While the child creates its namespaces, get ready to write its maps.
  if (spec.idMapping.helpers) prepareMapHelpers();
  const ctl = new Channel(ctlHost);
  const init = new Channel(initHost);
  const reaped = waitpidAsync(childPid);
  let tapFd: number | null = null;
  let ptyFd: number | null = null;
  let initPid = 0;
  let exit: WaitStatus | null = null;
  let failure: StepFailed | null = null;

  const closeAll = () => {
    if (tapFd !== null) close(tapFd);
    if (ptyFd !== null) close(ptyFd);
    for (const fd of stdio.hostEnds) if (fd !== null) close(fd);
  };

  // The control channel until INIT's process exists.
  for (;;) {
    const got = await ctl.next();
    if (got === null) break;
    const m = got.message;
    if (m.t === "unshared") {
      mark("namespaces created");
      try {
        options.onForked?.(childPid);
        if (spec.idMapping.helpers) await writeMapsWithHelpers(childPid, spec.idMapping);
        send(ctlHost, { t: "maps", writeOwn: !spec.idMapping.helpers });
        mark("id maps written");
      } catch (e) {
        kill(childPid, 9);
        await reaped;
        ctl.close();
        init.close();
        closeAll();
        throw new ContainerStartError(
          {
            t: "error",
            step: "write the id maps",
            syscall: (e as Error).message,
            errno: 0,
            path: null,
          },
          125,
        );
      }
    } else if (m.t === "tap") {
      tapFd = got.fds[0] ?? null;
    } else if (m.t === "started") {
      mark("pid 1 forked");
      initPid = m.pid;
      break;
    } else if (m.t === "error") {
      failure = m;
    } else if (m.t === "exited") {
      exit = { code: m.code, signal: m.signal };
    }
  }
  // The init channel until INIT is executed (end of file), waits at its start gate, or a step fails.
  let gated = false;
  if (initPid !== 0) {
    for (;;) {
      const got = await init.next();
      if (got === null) break;
      if (got.message.t === "pty") ptyFd = got.fds[0] ?? null;
      else if (got.message.t === "error") failure = got.message;
      else if (got.message.t === "gated") {
        gated = true;
        break;
      }
    }
  }
  // After the gate, a failure of execve can still come: it is reported as lateFailure.
  const lateFailure = gated
    ? (async () => {
      let late: string | null = null;
      for (;;) {
        const got = await init.next();
        if (got === null) break;
        if (got.message.t === "error") late = explainFailure(got.message);
      }
      init.close();
      return late;
    })()
    : (init.close(), Promise.resolve(null));
  mark(gated ? "INIT waits at the start gate" : "INIT executed");
  if (failure !== null || initPid === 0) {
    // Drain the control channel so the child can finish, then reap it.
    for (;;) {
      const got = await ctl.next();
      if (got === null) break;
      if (got.message.t === "exited") exit = { code: got.message.code, signal: got.message.signal };
    }
    ctl.close();
    const childStatus = await reaped;
    closeAll();
    const how = childStatus.signal !== null
      ? `killed by signal ${childStatus.signal}`
      : `exit status ${childStatus.code}`;
    const f = failure ??
      {
        t: "error",
        step: "start the container",
        syscall: `the child exited early (${how})`,
        errno: 0,
        path: null,
      };
    if (failure === null && initPid === 0 && CRASH_SIGNALS.has(childStatus.signal ?? 0)) {
      throw new ChildCrashed(f, 125);
    }
    throw new ContainerStartError(f, exit?.code ?? 125);
  }

  const status = (async () => {
    for (;;) {
      const got = await ctl.next();
      if (got === null) break;
      if (got.message.t === "exited") exit = { code: got.message.code, signal: got.message.signal };
    }
    ctl.close();
    await reaped;
    return exit ?? { code: null, signal: 9 };
  })();
  let done = false;
  status.then(() => done = true);
  return {
    pid: initPid,
    tapFd,
    ptyFd,
    pipes: { stdin: stdio.hostEnds[0]!, stdout: stdio.hostEnds[1]!, stderr: stdio.hostEnds[2]! },
    status,
    kill: (signal: number) => !done && kill(initPid, signal),
    lateFailure,
  };
}
