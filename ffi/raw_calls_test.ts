// Tests for the libc functions made as raw system calls: numbers against the kernel's tables, and each kind of call against the real kernel.

import assert from "node:assert/strict";
import { RAW_CALL_NAMES, RAW_NUMBERS } from "./raw_calls.ts";
import { lastErrno, libc, LIBC_SYMBOLS } from "./libc.ts";
import { close, O, open, pathExists, pipe, readLinkOrNull, socketpair } from "./sys.ts";
import { cstr } from "./structs.ts";
import { SYSCALLS_X86_64 } from "../src/container/seccomp/syscalls_x86_64.ts";
import { SYSCALLS_AARCH64 } from "../src/container/seccomp/syscalls_aarch64.ts";

Deno.test("raw calls: every number matches the kernel's table for its architecture", () => {
  for (
    const [arch, table] of [["x86_64", SYSCALLS_X86_64], ["aarch64", SYSCALLS_AARCH64]] as const
  ) {
    for (const [name, nr] of Object.entries(RAW_NUMBERS[arch])) {
      if (nr < 0) {
        assert.equal(table[name], undefined, `${arch} ${name}`);
        continue;
      }
      assert.equal(table[name], nr, `${arch} ${name}`);
    }
  }
  for (const name of RAW_CALL_NAMES) assert.ok(name in LIBC_SYMBOLS, name);
});

Deno.test("raw calls: files, links, pipes and sockets through the raw calls", () => {
  const dir = Deno.makeTempDirSync();
  try {
    const path = `${dir}/f`;
    const fd = open(path, O.WRONLY | O.CREAT | O.CLOEXEC, 0o600);
    assert.equal(Number(libc.write(fd, new TextEncoder().encode("hello"), 5n)), 5);
    close(fd);
    assert.equal(Deno.readTextFileSync(path), "hello");
    assert.equal(Deno.statSync(path).mode! & 0o777, 0o600);
    assert.ok(pathExists(path));
    assert.ok(!pathExists(`${dir}/missing`));
    Deno.symlinkSync("f", `${dir}/l`);
    assert.equal(readLinkOrNull(`${dir}/l`), "f");
    assert.equal(readLinkOrNull(path), null);
    // A failing call sets errno as libc's would: ENOENT.
    assert.equal(libc.open(cstr(`${dir}/missing`), O.RDONLY, 0), -1);
    assert.equal(lastErrno(), 2);
    const [r, w] = pipe();
    assert.equal(Number(libc.write(w, new Uint8Array([1, 2, 3]), 3n)), 3);
    const got = new Uint8Array(8);
    assert.equal(Number(libc.read(r, got, 8n)), 3);
    close(r);
    close(w);
    const [a, b] = socketpair(1 /* SOCK_STREAM */);
    assert.equal(Number(libc.write(a, new Uint8Array([9]), 1n)), 1);
    assert.equal(Number(libc.read(b, got, 8n)), 1);
    assert.equal(got[0], 9);
    close(a);
    close(b);
    assert.equal(libc.getpid(), Deno.pid);
    assert.equal(libc.getuid(), Deno.uid());
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});
