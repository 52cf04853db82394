// One blob download passed on to a consumer while a sink hashes and stores it
//
// Theory of operation: `VerifiedTee.stream` hands the body's pieces, as they arrive, to one
// consumer (the layer unpacker); each piece also goes to a BlobSink (blob_sink.ts), which
// hashes it and writes it to the blob's temp file. The consumer may stop early (a tar
// archive ends before the gzip trailer) or fail; `finish` then reads what is left, so that
// the digest always covers the whole body, and throws unless the content matched. A body
// longer than its expected size fails at once. Nothing here renames or removes anything:
// the caller commits its temp file and temp directory only after `finish` resolved, and
// removes both otherwise. Reads are serialised, so a read the consumer left pending and
// `finish` never overlap.

import type { BlobSink } from "./blob_sink.ts";
import { DigestMismatchError } from "./registry.ts";

/** A body streamed to a consumer, verified and stored on the way. */
export class VerifiedTee {
  /** The body's bytes, unverified until {@link finish} resolves. */
  readonly stream: ReadableStream<Uint8Array>;
  #reader: ReadableStreamDefaultReader<Uint8Array>;
  #sink: BlobSink;
  #digest: string;
  #size: number | undefined;
  #onBytes: (bytes: number) => void;
  #seen = 0;
  #ended = false;
  #failure: { error: unknown } | null = null;
  #reads: Promise<unknown> = Promise.resolve();
  #verdict: Promise<void> | null = null;

  /** Tees `body` into `sink`; it must hash to `digest` and have `size` bytes when given. */
  constructor(
    body: ReadableStream<Uint8Array>,
    sink: BlobSink,
    expected: { digest: string; size?: number | undefined },
    onBytes: (bytes: number) => void = () => {},
  ) {
    this.#reader = body.getReader();
    this.#sink = sink;
    this.#digest = expected.digest;
    this.#size = expected.size;
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

  /** The sink's verdict, asked for once. */
  #close(keep: boolean): Promise<void> {
    this.#verdict ??= this.#sink.close(keep);
    return this.#verdict;
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
        await this.#close(true);
        return null;
      }
      this.#seen += r.value.length;
      if (this.#size !== undefined && this.#seen > this.#size) {
        throw new DigestMismatchError(this.#digest, `more than the expected ${this.#size} bytes`);
      }
      this.#sink.write(r.value);
      this.#onBytes(this.#seen);
      await this.#sink.ready();
      return r.value;
    } catch (e) {
      this.#failure = { error: e };
      this.#ended = true;
      await this.#reader.cancel(e).catch(() => {});
      throw e;
    }
  }

  /**
   * Reads the rest of the body and waits for the sink's verdict: throws
   * {@link DigestMismatchError} for bad content, or the error the body or a write failed
   * with. With `keep` false a failed write is not an error (the file is going away).
   */
  async finish(keep = true): Promise<void> {
    try {
      while ((await this.#read()) !== null) { /* stored by #next */ }
    } catch (e) {
      await this.#close(false).catch(() => {});
      throw e;
    }
    await this.#close(keep);
  }
}
