// Tests for ICMPv4 messages.

import assert from "node:assert/strict";
import { Icmpv4Repr } from "./icmpv4.ts";
import { MalformedFrame } from "./malformed.ts";
import { hex, toHex } from "./_test_util.ts";

// Echo request, ident 0x1234, seq 1, data "ping".
const ECHO = hex("0800 06fa 1234 0001 70696e67");

Deno.test("icmpv4: parses an echo request", () => {
  const r = Icmpv4Repr.parse(ECHO);
  assert.equal(r.kind, "echo-request");
  if (r.kind !== "echo-request") return;
  assert.equal(r.ident, 0x1234);
  assert.equal(r.seq, 1);
  assert.equal(new TextDecoder().decode(r.data), "ping");
});

Deno.test("icmpv4: builds an echo request that round-trips", () => {
  const repr: Icmpv4Repr = {
    kind: "echo-request",
    ident: 0x1234,
    seq: 1,
    data: new TextEncoder().encode("ping"),
  };
  const buf = new Uint8Array(Icmpv4Repr.bufferLen(repr));
  Icmpv4Repr.emit(repr, buf);
  assert.equal(toHex(buf), toHex(ECHO));
  assert.deepEqual(Icmpv4Repr.parse(buf), repr);
});

Deno.test("icmpv4: builds a port unreachable that round-trips", () => {
  const original = hex("4500001c000000004011000a0a000f020a000f01 13880035000800 00");
  const repr: Icmpv4Repr = { kind: "dest-unreachable", code: 3, mtu: 0, data: original };
  const buf = new Uint8Array(Icmpv4Repr.bufferLen(repr));
  Icmpv4Repr.emit(repr, buf);
  assert.equal(buf[0], 3);
  assert.equal(buf[1], 3);
  assert.deepEqual(Icmpv4Repr.parse(buf), repr);
});

Deno.test("icmpv4: drops a message with a bad checksum", () => {
  const bad = ECHO.slice();
  bad[9]! ^= 0x20;
  assert.throws(() => Icmpv4Repr.parse(bad), /icmp-bad-checksum/);
});

Deno.test("icmpv4: rejects a truncated message", () => {
  assert.throws(() => Icmpv4Repr.parse(ECHO.subarray(0, 7)), MalformedFrame);
});
