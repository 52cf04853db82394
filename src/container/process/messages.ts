// The typed protocol between the host side and the forked children, over a SOCK_SEQPACKET pair.

import { receiveMessage, sendMessage } from "../../../ffi/sys.ts";

/**
 * Host side to child: the maps are in place (or the child should write its own), and INIT's
 * programs are written in the memory the child shares with the host side.
 */
export interface MapsReady {
  readonly t: "maps";
  /** Set when the child must write `deny` to setgroups and these maps itself. */
  readonly own: { readonly uidMap: string; readonly gidMap: string } | null;
  /** Whether the child makes the TAP device eth0 (the network is on). */
  readonly tap: boolean;
}

/** Child to host side: the namespaces exist; the maps may now be written for this pid (userns_exec.ts). */
export interface Unshared {
  readonly t: "unshared";
}

/** Child to host side: the descriptor attached is the TAP device (eth0). */
export interface TapReady {
  readonly t: "tap";
}

/** Init to host side: the descriptor attached is the master side of INIT's pseudo-terminal. */
export interface PtyReady {
  readonly t: "pty";
}

/** Init to host side: every step is done; INIT waits at the start gate before execve. */
export interface Gated {
  readonly t: "gated";
}

/** Init to host side: every step is done; INIT is executed next (end of file, or an error). */
export interface Executing {
  readonly t: "exec";
}

/** Child to host side: a setup step failed. */
export interface StepFailed {
  readonly t: "error";
  /** The setup step, in words: "mount /proc", "pivot_root", "exec INIT". */
  readonly step: string;
  /** The system call that failed. */
  readonly syscall: string;
  readonly errno: number;
  readonly path: string | null;
}

/** Every message of the protocol. */
export type Message =
  | MapsReady
  | Unshared
  | TapReady
  | PtyReady
  | Gated
  | Executing
  | StepFailed;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Encodes a message for one SEQPACKET datagram. */
export function encodeMessage(m: Message): Uint8Array {
  return encoder.encode(JSON.stringify(m));
}

/** Decodes one datagram; throws a TypeError on anything that is not a known message. */
export function decodeMessage(bytes: Uint8Array): Message {
  const value: unknown = JSON.parse(decoder.decode(bytes));
  if (typeof value !== "object" || value === null || !("t" in value)) {
    throw new TypeError("Malformed message from the container");
  }
  const t = (value as { t: unknown }).t;
  if (
    !["maps", "unshared", "tap", "pty", "gated", "exec", "error"].includes(String(t))
  ) {
    throw new TypeError(`Unknown message type "${String(t)}"`);
  }
  return value as Message;
}

/** Sends a message (and optional descriptors) synchronously: usable from the forked children. */
export function send(fd: number, m: Message, fds: readonly number[] = []): void {
  sendMessage(fd, encodeMessage(m), fds);
}

/** Receives one message synchronously; null at end of file. */
export function receive(fd: number): { message: Message; fds: number[] } | null {
  const buf = new Uint8Array(4096);
  const { length, fds } = receiveMessage(fd, buf);
  if (length === 0) return null;
  return { message: decodeMessage(buf.subarray(0, length)), fds };
}
