// Blob hashing and writing on a worker thread, beside the unpacking on the main thread
//
// Theory of operation: a pull that unpacks layers while they download has, per byte, to
// hash it (sha256), write it to the blob's temp file, inflate it and write the unpacked
// files. On one thread that is the bottleneck of a pull from a near registry; `BlobWorker`
// moves the first two to one worker thread shared by all the blobs of a pull. Pieces are
// copied once, into batches of BATCH bytes that are transferred (the main thread keeps its
// own pieces for inflating; few large messages cost less than many small ones); the worker
// opens the temp file (already created, exclusively, by the caller) by path, appends, and
// answers `close` with the sha256 and the first error. It flushes the file to disk every
// SYNC_EVERY bytes (fdatasync, here, off the main thread), so that the caller's fdatasync
// before the commit finds almost nothing left to write. The digest is compared on the main
// thread, so a worker that lies or dies can only fail a pull, never commit a wrong blob. At
// most IN_FLIGHT bytes per blob wait in the worker's queue (it acknowledges as it goes).
// The worker's code is inline (a blob: URL), so bundles and compiled binaries carry it.

import type { BlobSink } from "./blob_sink.ts";
import { DigestMismatchError } from "./registry.ts";

const IN_FLIGHT = 8 << 20;
const ACK_EVERY = 2 << 20;
const BATCH = 1 << 20;
const SYNC_EVERY = 8 << 20;

const WORKER_SOURCE = `
import { createHash } from "node:crypto";
const jobs = new Map();
self.onmessage = ({ data: m }) => {
  const job = jobs.get(m.id);
  if (m.t === "open") {
    const j = { hash: createHash("sha256"), file: null, error: null, unacked: 0, unsynced: 0 };
    jobs.set(m.id, j);
    try {
      j.file = Deno.openSync(m.path, { write: true, append: true });
    } catch (e) {
      j.error = String(e);
    }
  } else if (m.t === "chunk" && job) {
    job.hash.update(m.bytes);
    if (job.error === null) {
      try {
        let off = 0;
        while (off < m.bytes.length) off += job.file.writeSync(m.bytes.subarray(off));
      } catch (e) {
        job.error = String(e);
      }
    }
    job.unacked += m.bytes.length;
    job.unsynced += m.bytes.length;
    if (job.unsynced >= ${SYNC_EVERY} && job.error === null) {
      job.unsynced = 0;
      try {
        job.file.syncDataSync();
      } catch (e) {
        job.error = String(e);
      }
    }
    if (job.unacked >= ${ACK_EVERY}) {
      self.postMessage({ id: m.id, ack: job.unacked });
      job.unacked = 0;
    }
  } else if (m.t === "close" && job) {
    jobs.delete(m.id);
    try {
      job.file?.close();
    } catch (e) {
      job.error ??= String(e);
    }
    self.postMessage({ id: m.id, digest: "sha256:" + job.hash.digest("hex"), error: job.error });
  }
};
`;

interface Reply {
  id: number;
  ack?: number;
  digest?: string;
  error?: string | null;
}

interface Job {
  inFlight: number;
  drained: (() => void) | null;
  closed: ((reply: Reply) => void) | null;
}

/**
 * One worker thread hashing and writing blobs for a pull; `terminate` it when the pull ends.
 *
 * @example
 * ```ts ignore
 * import { BlobWorker } from "./blob_worker.ts";
 * const worker = new BlobWorker();
 * const sink = worker.sink("/tmp/blob.tmp", "sha256:...", 1234);
 * sink.write(bytes);
 * await sink.close(true);
 * worker.terminate();
 * ```
 */
export class BlobWorker {
  #worker: Worker;
  #url: string;
  #jobs = new Map<number, Job>();
  #next = 0;
  #failure: Error | null = null;

  /** Starts the worker thread. */
  constructor() {
    this.#url = URL.createObjectURL(new Blob([WORKER_SOURCE], { type: "text/javascript" }));
    this.#worker = new Worker(this.#url, { type: "module" });
    this.#worker.onmessage = (e: MessageEvent<Reply>) => this.#reply(e.data);
    this.#worker.onerror = (e: ErrorEvent) => {
      e.preventDefault();
      this.#fail(new Error(`The blob hashing worker failed: ${e.message}`));
    };
  }

  #reply(r: Reply): void {
    const job = this.#jobs.get(r.id);
    if (job === undefined) return;
    if (r.ack !== undefined) {
      job.inFlight -= r.ack;
      if (job.inFlight <= IN_FLIGHT) {
        job.drained?.();
        job.drained = null;
      }
      return;
    }
    this.#jobs.delete(r.id);
    job.closed?.(r);
  }

  #fail(error: Error): void {
    this.#failure = error;
    for (const [id, job] of this.#jobs) {
      job.drained?.();
      job.closed?.({ id, error: error.message });
    }
    this.#jobs.clear();
  }

  /**
   * A sink for the blob `digest` (of `size` bytes when known) appending to `path`, a file
   * that exists and is empty.
   */
  sink(path: string, digest: string, size?: number): BlobSink {
    const id = this.#next++;
    const job: Job = { inFlight: 0, drained: null, closed: null };
    this.#jobs.set(id, job);
    this.#worker.postMessage({ t: "open", id, path });
    let seen = 0;
    let batch = new Uint8Array(BATCH);
    let filled = 0;
    const flush = () => {
      if (filled === 0) return;
      const bytes = filled === batch.length ? batch : batch.slice(0, filled);
      this.#worker.postMessage({ t: "chunk", id, bytes }, [bytes.buffer]);
      batch = new Uint8Array(BATCH);
      filled = 0;
    };
    return {
      write: (chunk) => {
        seen += chunk.length;
        job.inFlight += chunk.length;
        let off = 0;
        while (off < chunk.length) {
          const take = Math.min(chunk.length - off, BATCH - filled);
          batch.set(chunk.subarray(off, off + take), filled);
          filled += take;
          off += take;
          if (filled === BATCH) flush();
        }
      },
      ready: () => {
        if (job.inFlight <= IN_FLIGHT || this.#failure !== null) return Promise.resolve();
        return new Promise<void>((resolve) => job.drained = resolve);
      },
      close: async (keep) => {
        const reply = await new Promise<Reply>((resolve) => {
          if (this.#failure !== null) resolve({ id, error: this.#failure.message });
          else {
            flush();
            job.closed = resolve;
            this.#worker.postMessage({ t: "close", id });
          }
        });
        if (reply.digest === undefined) throw new Error(reply.error ?? "blob worker failed");
        if (size !== undefined && seen !== size) {
          throw new DigestMismatchError(digest, `got ${seen} bytes, expected ${size}`);
        }
        if (reply.digest !== digest) {
          throw new DigestMismatchError(digest, `got "${reply.digest}"`);
        }
        if (keep && reply.error) throw new Error(`Cannot write blob "${path}": ${reply.error}`);
      },
    };
  }

  /** Stops the worker thread. */
  terminate(): void {
    this.#worker.terminate();
    URL.revokeObjectURL(this.#url);
    this.#fail(new Error("The blob hashing worker was stopped"));
  }
}
