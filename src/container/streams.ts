// Web streams over raw descriptors, read and written on Deno's thread pool.

import { close, readAsync, writeAllAsync } from "../../ffi/sys.ts";

/** A ReadableStream of the bytes read from `fd`; the descriptor is closed at the end. */
export function readableFromFd(fd: number, chunkSize = 65536): ReadableStream<Uint8Array> {
  let closed = false;
  const finish = () => {
    if (!closed) {
      closed = true;
      close(fd);
    }
  };
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      const buf = new Uint8Array(chunkSize);
      const n = await readAsync(fd, buf);
      if (n <= 0) {
        finish();
        controller.close();
        return;
      }
      controller.enqueue(buf.subarray(0, n));
    },
    cancel() {
      finish();
    },
  });
}

/** A WritableStream that writes to `fd`; closing the stream closes the descriptor. */
export function writableToFd(fd: number): WritableStream<Uint8Array> {
  let closed = false;
  const finish = () => {
    if (!closed) {
      closed = true;
      close(fd);
    }
  };
  return new WritableStream<Uint8Array>({
    async write(chunk) {
      if (!(await writeAllAsync(fd, chunk))) throw new Error("The container closed its stdin");
    },
    close: finish,
    abort: finish,
  });
}

/** Collects a stream into one buffer. */
export async function collect(stream: ReadableStream<Uint8Array> | null): Promise<Uint8Array> {
  if (stream === null) return new Uint8Array();
  const parts: Uint8Array[] = [];
  let length = 0;
  for await (const chunk of stream) {
    parts.push(chunk);
    length += chunk.length;
  }
  const out = new Uint8Array(length);
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}
