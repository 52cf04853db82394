// The TAP link: frames read and written on the TAP descriptor through FFI, in batches, without a copy.
//
// The descriptor is made non-blocking. A burst of frames is read with plain
// synchronous read(2) calls on the main thread until EAGAIN, so that a busy
// link costs no thread-pool hop per frame; only an idle link waits, with one
// poll(2) on Deno's thread pool. An eventfd wakes that poll when the link closes.

import { lastErrno, libc } from "../../../ffi/libc.ts";
import { close, EAGAIN, eventFd, pollReadable, setNonBlocking } from "../../../ffi/sys.ts";

/** The largest frame a TAP hands out: a 64 KiB IP datagram plus the Ethernet header. */
export const MAX_FRAME = 65536 + 14;

/** Counters of the link itself. */
export interface TapStats {
  framesIn: number;
  bytesIn: number;
  framesOut: number;
  bytesOut: number;
  /** Frames not written because the TAP's queue was full or it failed. */
  dropsOut: number;
  /** Waits on the thread pool (one per idle period). */
  waits: number;
}

/** A TAP device's descriptor as a frame link. */
export class TapLink {
  readonly #fd: number;
  readonly #wake: number;
  readonly #buf = new Uint8Array(MAX_FRAME);
  #closed = false;
  /** Counters for the debug dump. */
  readonly stats: TapStats = { framesIn: 0, bytesIn: 0, framesOut: 0, bytesOut: 0, dropsOut: 0, waits: 0 };

  /** Takes ownership of `fd` (closed when {@link run} ends). */
  constructor(fd: number) {
    this.#fd = fd;
    setNonBlocking(fd, true);
    this.#wake = eventFd();
  }

  /** True once closed. */
  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Reads every frame that is ready, calling `onFrame` with a view that is
   * valid only during the call. Returns how many were read; 0 means wait.
   */
  readReady(onFrame: (frame: Uint8Array) => void, max = 256): number {
    const buf = this.#buf;
    let count = 0;
    while (count < max && !this.#closed) {
      const n = Number(libc.read(this.#fd, buf, BigInt(buf.length)));
      if (n <= 0) {
        if (n < 0 && lastErrno() !== EAGAIN) this.#closed = true;
        break;
      }
      count++;
      this.stats.framesIn++;
      this.stats.bytesIn += n;
      onFrame(buf.subarray(0, n));
    }
    return count;
  }

  /**
   * Runs the receive loop until {@link close}: reads ready frames in batches
   * of at most `batch`, calls `afterBatch` after each, and waits on the thread
   * pool when none is ready (which also lets the event loop run between
   * batches). The descriptors are closed when the loop ends.
   */
  async run(onFrame: (frame: Uint8Array) => void, afterBatch: () => void, batch = 256): Promise<void> {
    try {
      while (!this.#closed) {
        if (this.readReady(onFrame, batch) > 0) afterBatch();
        if (this.#closed) break;
        this.stats.waits++;
        await pollReadable([this.#fd, this.#wake], -1);
      }
    } finally {
      close(this.#fd);
      close(this.#wake);
    }
  }

  /** Writes one frame; a full queue drops it (TCP retransmits), counted. */
  send(frame: Uint8Array): void {
    if (this.#closed) return;
    const n = Number(libc.write(this.#fd, frame as Uint8Array<ArrayBuffer>, BigInt(frame.length)));
    if (n === frame.length) {
      this.stats.framesOut++;
      this.stats.bytesOut += n;
    } else {
      this.stats.dropsOut++;
    }
  }

  /** Stops the receive loop; its pending wait returns at once and it closes the descriptors. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    libc.write(this.#wake, new Uint8Array(new BigUint64Array([1n]).buffer), 8n);
  }
}
