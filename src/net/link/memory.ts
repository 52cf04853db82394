// An in-memory link pair for tests: what one end sends, the other end receives, in order.

/** One end of a {@link memoryLinkPair}. */
export class MemoryLinkEnd {
  private readonly inbox: Uint8Array[] = [];
  /** The other end; set by {@link memoryLinkPair}. */
  peer: MemoryLinkEnd | null = null;
  /** Called for each frame arriving at this end, if set (else frames wait in the inbox). */
  onFrame: ((frame: Uint8Array) => void) | null = null;

  /** Sends a copy of `frame` to the peer. Usable as a stack's `send`. */
  send = (frame: Uint8Array): void => {
    const copy = frame.slice();
    const peer = this.peer;
    if (peer === null) return;
    if (peer.onFrame !== null) peer.onFrame(copy);
    else peer.inbox.push(copy);
  };

  /** Takes the oldest waiting frame, or undefined. */
  recv(): Uint8Array | undefined {
    return this.inbox.shift();
  }

  /** Takes every waiting frame. */
  drain(): Uint8Array[] {
    return this.inbox.splice(0);
  }

  /** Frames waiting. */
  get pending(): number {
    return this.inbox.length;
  }
}

/**
 * Returns two connected ends.
 *
 * @example
 * ```ts
 * import { memoryLinkPair } from "./memory.ts";
 * const [a, b] = memoryLinkPair();
 * a.send(new Uint8Array([1, 2, 3]));
 * console.assert(b.recv()?.length === 3);
 * ```
 */
export function memoryLinkPair(): [MemoryLinkEnd, MemoryLinkEnd] {
  const a = new MemoryLinkEnd();
  const b = new MemoryLinkEnd();
  a.peer = b;
  b.peer = a;
  return [a, b];
}
