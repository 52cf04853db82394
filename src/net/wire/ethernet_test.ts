// Tests for Ethernet II frames.

import assert from "node:assert/strict";
import {
  EthernetFrame,
  EthernetRepr,
  EtherType,
  formatMac,
  isGroupMac,
  parseMac,
} from "./ethernet.ts";
import { MalformedFrame } from "./malformed.ts";
import { hex, toHex } from "./_test_util.ts";

// dst ff:ff:ff:ff:ff:ff, src 02:00:00:00:00:02, type ARP, then 2 payload bytes.
const FRAME = hex("ffffffffffff 020000000002 0806 abcd");

Deno.test("ethernet: parses a frame", () => {
  const r = EthernetRepr.parse(FRAME);
  assert.equal(formatMac(r.dst), "ff:ff:ff:ff:ff:ff");
  assert.equal(formatMac(r.src), "02:00:00:00:00:02");
  assert.equal(r.etherType, EtherType.ARP);
  assert.equal(toHex(new EthernetFrame(FRAME).payload), "abcd");
});

Deno.test("ethernet: builds a frame that round-trips", () => {
  const buf = new Uint8Array(16);
  EthernetRepr.emit(
    { dst: parseMac("ff:ff:ff:ff:ff:ff"), src: parseMac("02:00:00:00:00:02"), etherType: 0x0806 },
    buf,
  );
  buf.set([0xab, 0xcd], 14);
  assert.equal(toHex(buf), toHex(FRAME));
  assert.deepEqual(EthernetRepr.parse(buf), EthernetRepr.parse(FRAME));
  assert.equal(EthernetRepr.bufferLen(), 14);
});

Deno.test("ethernet: rejects a truncated frame", () => {
  assert.throws(() => EthernetRepr.parse(FRAME.subarray(0, 13)), MalformedFrame);
});

Deno.test("ethernet: MAC helpers validate and classify", () => {
  assert.throws(() => parseMac("02:00:00:00:00"), TypeError);
  assert.ok(isGroupMac(parseMac("01:00:5e:00:00:01")));
  assert.ok(!isGroupMac(parseMac("02:00:00:00:00:01")));
});
