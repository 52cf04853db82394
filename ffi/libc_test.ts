// Tests for the libc bindings: the general call path of the rare functions (struct-typed results read back as scalars), errno, and posix_spawn with file actions.

import assert from "node:assert/strict";
import { lastErrno, libc } from "./libc.ts";
import { close, O, open, pipe, read, SOCK, socket } from "./sys.ts";
import { spawnAsync, waitpid } from "./process.ts";
import { putSockaddrIn } from "./structs.ts";

Deno.test("libc: functions on the general call path return their results as the fast path did", () => {
  // i32 results: bind and getsockname give 0 and fill in a port; isatty says what Deno says.
  const fd = socket(2, /* AF_INET */ SOCK.DGRAM | SOCK.CLOEXEC);
  try {
    const address = new Uint8Array(16);
    putSockaddrIn(address, 0, 0x7f000001);
    assert.equal(libc.bind(fd, address, 16), 0);
    const bound = new Uint8Array(16);
    const length = new Uint32Array([16]);
    assert.equal(libc.getsockname(fd, bound, new Uint8Array(length.buffer)), 0);
    assert.notEqual(new DataView(bound.buffer).getUint16(2), 0);
    // A failing one gives -1, and errno says why: binding a bound socket is EINVAL.
    assert.equal(libc.bind(fd, address, 16), -1);
    assert.equal(lastErrno(), 22);
  } finally {
    close(fd);
  }
  assert.equal(libc.isatty(0) === 1, Deno.stdin.isTerminal());
  // A pointer result: errno's address, where a failed call leaves its errno.
  const errno = libc.__errno_location();
  assert.notEqual(errno, null);
  assert.equal(libc.close(-1), -1);
  assert.equal(new Deno.UnsafePointerView(errno!).getInt32(), 9 /* EBADF */);
  assert.equal(lastErrno(), 9);
});

Deno.test("libc: spawnAsync puts the descriptors given on the new process's 0, 1 and 2", async () => {
  const devNull = open("/dev/null", O.RDWR | O.CLOEXEC);
  const [outRead, outWrite] = pipe();
  const [errRead, errWrite] = pipe();
  try {
    const pid = await spawnAsync("/bin/sh", ["sh", "-c", "echo out; echo err >&2; exit 3"], [], [
      devNull,
      outWrite,
      errWrite,
    ]);
    close(outWrite);
    close(errWrite);
    assert.deepEqual(waitpid(pid).status, { code: 3, signal: null });
    const text = (fd: number) => {
      const buf = new Uint8Array(64);
      return new TextDecoder().decode(buf.subarray(0, read(fd, buf)));
    };
    assert.equal(text(outRead), "out\n");
    assert.equal(text(errRead), "err\n");
    await assert.rejects(
      spawnAsync("/nonexistent/helper", ["helper"], [], [devNull, devNull, devNull]),
      /posix_spawn.*ENOENT/,
    );
  } finally {
    for (const fd of [devNull, outRead, errRead]) close(fd);
  }
});
