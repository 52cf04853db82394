// A fixed-capacity byte ring used for the send and receive buffers: no allocation after construction.

/** A fixed-capacity FIFO of bytes with random-access reads and writes beyond the tail. */
export class ByteRing {
  /** Storage. */
  readonly #buf: Uint8Array;
  #head = 0;
  #length = 0;

  /** Creates an empty ring of `capacity` bytes. */
  constructor(capacity: number) {
    this.#buf = new Uint8Array(capacity);
  }

  /** Total capacity in bytes. */
  get capacity(): number {
    return this.#buf.length;
  }
  /** Bytes held. */
  get length(): number {
    return this.#length;
  }
  /** Free bytes. */
  get free(): number {
    return this.#buf.length - this.#length;
  }

  /** Appends as much of `data` as fits; returns the number of bytes taken. */
  push(data: Uint8Array): number {
    const n = Math.min(data.length, this.free);
    this.writeAt(this.#length, data.subarray(0, n));
    this.#length += n;
    return n;
  }

  /** Writes `data` at `offset` bytes after the head (may lie beyond the tail); must fit in capacity. */
  writeAt(offset: number, data: Uint8Array): void {
    const cap = this.#buf.length;
    let at = (this.#head + offset) % cap;
    let src = 0;
    while (src < data.length) {
      const n = Math.min(data.length - src, cap - at);
      this.#buf.set(data.subarray(src, src + n), at);
      src += n;
      at = 0;
    }
  }

  /** Extends the held length by `n` bytes already written with {@link ByteRing.writeAt}. */
  commit(n: number): void {
    this.#length += n;
  }

  /** Copies `len` bytes starting `offset` after the head into `dst[at]`. */
  copyOut(offset: number, len: number, dst: Uint8Array, at: number): void {
    const cap = this.#buf.length;
    let from = (this.#head + offset) % cap;
    let done = 0;
    while (done < len) {
      const n = Math.min(len - done, cap - from);
      dst.set(this.#buf.subarray(from, from + n), at + done);
      done += n;
      from = 0;
    }
  }

  /** A view of up to `max` bytes from the head, contiguous (may be shorter than held because of wrap). */
  peek(max: number): Uint8Array {
    const n = Math.min(max, this.#length, this.#buf.length - this.#head);
    return this.#buf.subarray(this.#head, this.#head + n);
  }

  /** Drops `n` bytes from the head. */
  drop(n: number): void {
    n = Math.min(n, this.#length);
    this.#head = (this.#head + n) % this.#buf.length;
    this.#length -= n;
  }
}
