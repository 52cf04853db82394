// Tests for VerifiedTee: the consumer, the file and the digest all see the whole body
import assert from "node:assert/strict";
import { DigestMismatchError, DigestVerifier, sha256 } from "./registry.ts";
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

async function withFile(fn: (file: Deno.FsFile, path: string) => Promise<void>): Promise<void> {
  const path = await Deno.makeTempFile({ prefix: "paranoid-tee-" });
  const file = await Deno.open(path, { write: true });
  try {
    await fn(file, path);
  } finally {
    try {
      file.close();
    } catch { /* closed by the test */ }
    await Deno.remove(path);
  }
}

async function drain(stream: ReadableStream<Uint8Array>): Promise<number> {
  let n = 0;
  for await (const chunk of stream) n += chunk.length;
  return n;
}

Deno.test("tee: the consumer and the file get every byte, and the digest is checked", async () => {
  await withFile(async (file, path) => {
    const seen: number[] = [];
    const tee = new VerifiedTee(
      body(pieces),
      new DigestVerifier(sha256(whole), whole.length),
      file,
      (n) => seen.push(n),
    );
    assert.equal(await drain(tee.stream), whole.length);
    await tee.finish();
    file.close();
    assert.deepEqual(await Deno.readFile(path), whole);
    assert.deepEqual(seen, [1000, 4000, 4001]);
  });
});

Deno.test("tee: a consumer that stops early leaves the rest to finish, which still verifies it", async () => {
  await withFile(async (file, path) => {
    const tee = new VerifiedTee(body(pieces), new DigestVerifier(sha256(whole)), file);
    const reader = tee.stream.getReader();
    assert.equal((await reader.read()).value?.length, 1000);
    await reader.cancel();
    await tee.finish();
    file.close();
    assert.deepEqual(await Deno.readFile(path), whole);
  });
  await withFile(async (file) => {
    const other = sha256(new Uint8Array([9]));
    const tee = new VerifiedTee(body(pieces), new DigestVerifier(other), file);
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
  await withFile(async (file) => {
    const wrong = sha256(new Uint8Array([9]));
    const tee = new VerifiedTee(body(pieces), new DigestVerifier(wrong), file);
    await assert.rejects(drain(tee.stream), DigestMismatchError);
    await assert.rejects(tee.finish(false), DigestMismatchError);
  });
});

Deno.test("tee: content longer than its size fails as soon as it runs past it", async () => {
  await withFile(async (file) => {
    const tee = new VerifiedTee(body(pieces), new DigestVerifier(sha256(whole), 1500), file);
    const reader = tee.stream.getReader();
    assert.equal((await reader.read()).value?.length, 1000);
    await assert.rejects(reader.read(), /more than the expected 1500 bytes/);
    await assert.rejects(tee.finish(), DigestMismatchError);
  });
});

Deno.test("tee: a failed body fails the stream and finish with its error", async () => {
  await withFile(async (file) => {
    const broken = new ReadableStream<Uint8Array>({
      start(c) {
        c.enqueue(pieces[0]!);
        c.error(new TypeError("connection reset by peer"));
      },
    });
    const tee = new VerifiedTee(broken, new DigestVerifier(sha256(whole)), file);
    await assert.rejects(drain(tee.stream), /connection reset/);
    await assert.rejects(tee.finish(), /connection reset/);
  });
});
