// Tests for the host-child protocol's encoding and for the failure sentences.

import assert from "node:assert/strict";
import { decodeMessage, encodeMessage, type Message } from "./messages.ts";
import { explainFailure } from "./explain.ts";

Deno.test("messages: every message round-trips", () => {
  const all: Message[] = [
    { t: "maps", own: { uidMap: "0 1000 1\n", gidMap: "0 1000 1\n" }, tap: true },
    { t: "maps", own: null, tap: false },
    { t: "unshared" },
    { t: "tap" },
    { t: "pty" },
    { t: "exec" },
    { t: "error", step: "mount /proc", syscall: "mount", errno: 1, path: "/proc" },
  ];
  for (const m of all) assert.deepEqual(decodeMessage(encodeMessage(m)), m);
});

Deno.test("messages: junk is refused with a TypeError", () => {
  const enc = new TextEncoder();
  assert.throws(() => decodeMessage(enc.encode("42")), TypeError);
  assert.throws(() => decodeMessage(enc.encode('{"t":"bogus"}')), /Unknown message type "bogus"/);
  assert.throws(() => decodeMessage(enc.encode("{")), SyntaxError);
});

Deno.test("explain: a namespace failure names the sysctls that fix it", () => {
  const s = explainFailure({
    t: "error",
    step: "create the namespaces",
    syscall: "unshare",
    errno: 1,
    path: null,
  });
  assert.match(
    s,
    /^cannot create the namespaces: unshare failed with EPERM \(operation not permitted\); /,
  );
  assert.match(s, /user\.max_user_namespaces/);
  assert.match(s, /kernel\.unprivileged_userns_clone/);
  assert.match(s, /kernel\.apparmor_restrict_unprivileged_userns/);
});

Deno.test("explain: a TAP failure says how to open /dev/net/tun or to use -N", () => {
  const s = explainFailure({
    t: "error",
    step: "open /dev/net/tun",
    syscall: "open",
    errno: 13,
    path: "/dev/net/tun",
  });
  assert.equal(
    s,
    'cannot open /dev/net/tun: open "/dev/net/tun" failed with EACCES (permission denied); make /dev/net/tun usable by everyone as distributions do (as root: chmod 0666 /dev/net/tun), or run with -N to start without a network',
  );
});

Deno.test("explain: a missing INIT is named with its path", () => {
  assert.equal(
    explainFailure({
      t: "error",
      step: "find INIT",
      syscall: "execve",
      errno: 2,
      path: "/bin/nope",
    }),
    'INIT "/bin/nope" was not found in the container: ENOENT (no such file or directory); check the path, or the container\'s PATH',
  );
});
