// Tests for VerifiedTee with both sinks: the consumer, the file and the digest see the whole body
import assert from "node:assert/strict";
import { DigestMismatchError, DigestVerifier, sha256 } from "./registry.ts";
import { type BlobSink, FileSink } from "./blob_sink.ts";
import { BlobWorker } from "./blob_worker.ts";
import { VerifiedTee } from "./verified_tee.ts";

function body(pieces: Uint8Array[]): ReadableStream<Uint8Array> {
  return new ReadableStream({
    start(c) {
      for (const p of pieces) c.enqueue(p);
      c.close();
    },
  });
}

const pieces = [new Uint8Array(1000).fill(1), new Uint8Array(3000).fill(2), new Uint8Array([3])];
const whole = new Uint8Array(4001);
whole.set(pieces[0]!, 0);
whole.set(pieces[1]!, 1000);
whole.set(pieces[2]!, 4000);

type MakeTee = (b: ReadableStream<Uint8Array>, digest: string, size?: number) => VerifiedTee;

/** Runs `fn` with a temp file and a tee factory on it, once per kind of sink. */
async function withTee(
  fn: (make: MakeTee, path: string, onBytes: number[]) => Promise<void>,
): Promise<void> {
  for (const kind of ["thread", "worker"] as const) {
    const path = await Deno.makeTempFile({ prefix: "paranoid-tee-" });
    const file = await Deno.open(path, { write: true });
    const worker = kind === "worker" ? new BlobWorker() : null;
    const seen: number[] = [];
    try {
      await fn(
        (b, digest, size) => {
          const sink: BlobSink = worker
            ? worker.sink(path, digest, size)
            : new FileSink(new DigestVerifier(digest, size), file);
          return new VerifiedTee(b, sink, { digest, size }, (n) => seen.push(n));
        },
        path,
        seen,
      );
    } finally {
      worker?.terminate();
      file.close();
      await Deno.remove(path);
    }
  }
}

async function drain(stream: ReadableStream<Uint8Array>): Promise<number> {
  let n = 0;
  for await (const chunk of stream) n += chunk.length;
  return n;
}

Deno.test("tee: the consumer and the file get every byte, and the digest is checked", async () => {
  await withTee(async (make, path, seen) => {
    const tee = make(body(pieces), sha256(whole), whole.length);
    assert.equal(await drain(tee.stream), whole.length);
    await tee.finish();
    assert.deepEqual(await Deno.readFile(path), whole);
    assert.deepEqual(seen, [1000, 4000, 4001]);
  });
});

Deno.test("tee: a consumer that stops early leaves the rest to finish, which still verifies it", async () => {
  await withTee(async (make, path) => {
    const tee = make(body(pieces), sha256(whole));
    const reader = tee.stream.getReader();
    assert.equal((await reader.read()).value?.length, 1000);
    await reader.cancel();
    await tee.finish();
    assert.deepEqual(await Deno.readFile(path), whole);
  });
  await withTee(async (make) => {
    const other = sha256(new Uint8Array([9]));
    const tee = make(body(pieces), other);
    const reader = tee.stream.getReader();
    await reader.read();
    await reader.cancel();
    await assert.rejects(tee.finish(), (e) => {
      assert.ok(e instanceof DigestMismatchError);
      assert.match(e.message, new RegExp(`"${other}"`));
      return true;
    });
  });
});

Deno.test("tee: wrong content fails the consumer's stream at its end and finish", async () => {
  await withTee(async (make) => {
    const tee = make(body(pieces), sha256(new Uint8Array([9])));
    await assert.rejects(drain(tee.stream), DigestMismatchError);
    await assert.rejects(tee.finish(false), DigestMismatchError);
  });
  await withTee(async (make) => {
    const tee = make(body(pieces.slice(0, 2)), sha256(whole), whole.length);
    await assert.rejects(drain(tee.stream), /got 4000 bytes, expected 4001/);
  });
});

Deno.test("tee: content longer than its size fails as soon as it runs past it", async () => {
  await withTee(async (make) => {
    const tee = make(body(pieces), sha256(whole), 1500);
    const reader = tee.stream.getReader();
    assert.equal((await reader.read()).value?.length, 1000);
    await assert.rejects(reader.read(), /more than the expected 1500 bytes/);
    await assert.rejects(tee.finish(), DigestMismatchError);
  });
});

Deno.test("tee: a failed body fails the stream and finish with its error", async () => {
  await withTee(async (make) => {
    const broken = new ReadableStream<Uint8Array>({
      start(c) {
        c.enqueue(pieces[0]!);
        c.error(new TypeError("connection reset by peer"));
      },
    });
    const tee = make(broken, sha256(whole));
    await assert.rejects(drain(tee.stream), /connection reset/);
    await assert.rejects(tee.finish(), /connection reset/);
  });
});

Deno.test("blob worker: several blobs at once, each checked against its own digest", async () => {
  const worker = new BlobWorker();
  const dir = await Deno.makeTempDir({ prefix: "paranoid-blobworker-" });
  try {
    const big = new Uint8Array(20 << 20).fill(7); // more than the worker may have in flight
    const blobs = [whole, big, new Uint8Array(0)];
    const runs = blobs.map(async (bytes, i) => {
      const path = `${dir}/${i}`;
      await Deno.writeFile(path, new Uint8Array(0));
      const sink = worker.sink(path, sha256(bytes), bytes.length);
      for (let off = 0; off < bytes.length; off += 65536) {
        sink.write(bytes.subarray(off, off + 65536));
        await sink.ready();
      }
      await sink.close(true);
      assert.deepEqual(await Deno.readFile(path), bytes);
    });
    await Promise.all(runs);
    const bad = worker.sink(`${dir}/0`, sha256(big), whole.length);
    bad.write(whole);
    await assert.rejects(bad.close(true), DigestMismatchError);
    const missing = worker.sink(`${dir}/no/such/file`, sha256(whole), whole.length);
    missing.write(whole);
    await assert.rejects(missing.close(true), /Cannot write blob/);
  } finally {
    worker.terminate();
    await Deno.remove(dir, { recursive: true });
  }
});
