// One blob download passed on to a consumer while it is hashed and written to a file
//
// Theory of operation: `VerifiedTee.stream` hands the body's pieces, as they arrive, to one
// consumer (the layer unpacker); each piece is first given to a DigestVerifier and queued
// for writing to the blob's temp file. The consumer may stop early (a tar archive ends
// before the gzip trailer) or fail; `finish` then reads what is left, so that the digest
// always covers the whole body, waits for the file writes and throws unless the content
// matched. Nothing here renames or removes anything: the caller commits its temp file and
// temp directory only after `finish` resolved, and removes both otherwise. Reads are
// serialised, so a read the consumer left pending and `finish` never overlap. File writes
// run behind the reads (on Deno's thread pool, beside the hashing and inflating on this
// thread), at most WRITE_AHEAD bytes behind.

import type { DigestVerifier } from "./registry.ts";

const WRITE_AHEAD = 8 << 20;

/** A body streamed to a consumer, verified and copied to a file on the way. */
export class VerifiedTee {
  /** The body's bytes, unverified until {@link finish} resolves. */
  readonly stream: ReadableStream<Uint8Array>;
  #reader: ReadableStreamDefaultReader<Uint8Array>;
  #verifier: DigestVerifier;
  #file: Deno.FsFile;
  #onBytes: (bytes: number) => void;
  #ended = false;
  #failure: { error: unknown } | null = null;
  #reads: Promise<unknown> = Promise.resolve();
  #writes: Promise<void> = Promise.resolve();
  #writeFailure: { error: unknown } | null = null;
  #queued = 0;
  #discard = false;

  /** Tees `body` into `file` (at its current position) through `verifier`. */
  constructor(
    body: ReadableStream<Uint8Array>,
    verifier: DigestVerifier,
    file: Deno.FsFile,
    onBytes: (bytes: number) => void = () => {},
  ) {
    this.#reader = body.getReader();
    this.#verifier = verifier;
    this.#file = file;
    this.#onBytes = onBytes;
    this.stream = new ReadableStream<Uint8Array>({
      pull: async (controller) => {
        const chunk = await this.#read();
        if (chunk === null) controller.close();
        else controller.enqueue(chunk);
      },
      // A consumer that stops early leaves the rest to finish(), which must hash it.
      cancel: () => {},
    });
  }

  /** The next piece, read after any pending one. */
  #read(): Promise<Uint8Array | null> {
    const next = this.#reads.then(() => this.#next());
    this.#reads = next.catch(() => {});
    return next;
  }

  async #next(): Promise<Uint8Array | null> {
    if (this.#failure !== null) throw this.#failure.error;
    if (this.#ended) return null;
    try {
      const r = await this.#reader.read();
      if (r.done) {
        this.#ended = true;
        this.#verifier.finish();
        return null;
      }
      this.#verifier.update(r.value);
      this.#write(r.value);
      this.#onBytes(this.#verifier.bytes);
      if (this.#queued > WRITE_AHEAD) await this.#writes;
      return r.value;
    } catch (e) {
      this.#failure = { error: e };
      this.#ended = true;
      await this.#reader.cancel(e).catch(() => {});
      throw e;
    }
  }

  #write(chunk: Uint8Array): void {
    if (this.#discard || this.#writeFailure !== null) return;
    this.#queued += chunk.length;
    this.#writes = this.#writes.then(async () => {
      if (this.#writeFailure !== null) return;
      try {
        let off = 0;
        while (off < chunk.length) off += await this.#file.write(chunk.subarray(off));
      } catch (e) {
        this.#writeFailure = { error: e };
      } finally {
        this.#queued -= chunk.length;
      }
    });
  }

  /**
   * Reads the rest of the body, waits for the file writes and verifies the digest; throws
   * {@link DigestMismatchError} for bad content, or the error the body or a write failed with.
   * With `keep` false the rest is only hashed, not written (the file is going away).
   */
  async finish(keep = true): Promise<void> {
    if (!keep) this.#discard = true;
    while ((await this.#read()) !== null) { /* hashed and written by #next */ }
    await this.#writes;
    if (keep && this.#writeFailure !== null) throw this.#writeFailure.error;
  }

  /** Stops the download; for a caller that gives up without verifying. */
  async cancel(reason?: unknown): Promise<void> {
    this.#ended = true;
    this.#failure ??= { error: reason ?? new Error("download cancelled") };
    await this.#reader.cancel(reason).catch(() => {});
  }
}
