// Where a downloading blob's bytes go besides the unpacker: its digest, and its temp file
//
// A `BlobSink` takes a blob's pieces in order, hashes them and writes them to the blob's temp
// file; `close` waits for the last write and fails unless the whole content had the digest
// (and size) it was asked for. `FileSink` does that on this thread: hashing as the pieces
// come, writing on Deno's thread pool behind them. blob_worker.ts does it on a worker thread.

import type { DigestVerifier } from "./registry.ts";

/** Hashes and stores one blob's pieces; see the top of this file. */
export interface BlobSink {
  /** Takes the next piece; the caller does not change it afterwards. */
  write(chunk: Uint8Array): void;
  /** Resolves once the sink is ready for more (it keeps only so much in flight). */
  ready(): Promise<void>;
  /**
   * Waits for every piece; throws DigestMismatchError unless the content matched, or the
   * error a write failed with when `keep` (with `keep` false the file is going away anyway).
   */
  close(keep: boolean): Promise<void>;
}

const WRITE_AHEAD = 8 << 20;

/** A {@link BlobSink} on this thread: `verifier` hashes, writes go to `file` in order. */
export class FileSink implements BlobSink {
  #verifier: DigestVerifier;
  #file: Deno.FsFile;
  #writes: Promise<void> = Promise.resolve();
  #failure: { error: unknown } | null = null;
  #queued = 0;

  /** Builds a sink writing to `file` at its current position. */
  constructor(verifier: DigestVerifier, file: Deno.FsFile) {
    this.#verifier = verifier;
    this.#file = file;
  }

  /** Hashes the piece now, queues its write. */
  write(chunk: Uint8Array): void {
    this.#verifier.update(chunk);
    if (this.#failure !== null) return;
    this.#queued += chunk.length;
    this.#writes = this.#writes.then(async () => {
      if (this.#failure !== null) return;
      try {
        let off = 0;
        while (off < chunk.length) off += await this.#file.write(chunk.subarray(off));
      } catch (e) {
        this.#failure = { error: e };
      } finally {
        this.#queued -= chunk.length;
      }
    });
  }

  /** Waits while more than WRITE_AHEAD bytes wait to be written. */
  async ready(): Promise<void> {
    if (this.#queued > WRITE_AHEAD) await this.#writes;
  }

  /** Verifies the digest, then waits for the writes. */
  async close(keep: boolean): Promise<void> {
    await this.#writes;
    this.#verifier.finish();
    if (keep && this.#failure !== null) throw this.#failure.error;
  }
}
