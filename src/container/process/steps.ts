// Named setup steps for the forked children: a failure carries its step and reaches the host as one message.

import { SyscallError } from "../../../ffi/errno.ts";
import { exitNow } from "../../../ffi/process.ts";
import { send } from "./messages.ts";

/** A failure carrying the setup step it happened in and the exit code it implies. */
export class StepError extends Error {
  /** Builds the error from the step's words, the underlying failure and the exit code. */
  constructor(readonly step: string, override readonly cause: unknown, readonly exitCode = 125) {
    super(step);
    this.name = "StepError";
  }
}

/** Runs `fn` as the step `name`: any failure becomes a StepError for that step. */
export function step<T>(name: string, fn: () => T, exitCode = 125): T {
  try {
    return fn();
  } catch (e) {
    if (e instanceof StepError) throw e;
    throw new StepError(name, e, exitCode);
  }
}

/** Sends a StepFailed message for `e` to the host side and exits with the step's code. */
export function reportFailure(sock: number, e: unknown): never {
  const stepName = e instanceof StepError ? e.step : "container setup";
  const cause = e instanceof StepError ? e.cause : e;
  const code = e instanceof StepError ? e.exitCode : 125;
  try {
    if (cause instanceof SyscallError) {
      send(sock, {
        t: "error",
        step: stepName,
        syscall: cause.syscall,
        errno: cause.errno,
        path: cause.path ?? null,
      });
    } else {
      const message = cause instanceof Error ? cause.message : String(cause);
      send(sock, { t: "error", step: stepName, syscall: message, errno: 0, path: null });
    }
  } catch {
    // the host side is gone; nothing to tell
  }
  exitNow(code);
}
