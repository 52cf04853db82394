// Tests for ARP packets.

import assert from "node:assert/strict";
import { ArpOperation, ArpRepr } from "./arp.ts";
import { formatMac } from "./ethernet.ts";
import { formatIpv4, parseIpv4 } from "./ipv4_address.ts";
import { MalformedFrame } from "./malformed.ts";
import { hex, toHex } from "./_test_util.ts";

// Who has 10.0.15.1? Tell 10.0.15.2 (02:00:00:00:00:02).
const REQUEST = hex("0001 0800 06 04 0001 020000000002 0a000f02 000000000000 0a000f01");

Deno.test("arp: parses a request", () => {
  const r = ArpRepr.parse(REQUEST);
  assert.equal(r.operation, ArpOperation.REQUEST);
  assert.equal(formatMac(r.senderMac), "02:00:00:00:00:02");
  assert.equal(formatIpv4(r.senderIp), "10.0.15.2");
  assert.equal(formatIpv4(r.targetIp), "10.0.15.1");
});

Deno.test("arp: builds a request that round-trips", () => {
  const buf = new Uint8Array(ArpRepr.bufferLen());
  ArpRepr.emit({
    operation: 1,
    senderMac: new Uint8Array([2, 0, 0, 0, 0, 2]),
    senderIp: parseIpv4("10.0.15.2"),
    targetMac: new Uint8Array(6),
    targetIp: parseIpv4("10.0.15.1"),
  }, buf);
  assert.equal(toHex(buf), toHex(REQUEST));
  assert.deepEqual(ArpRepr.parse(buf), ArpRepr.parse(REQUEST));
});

Deno.test("arp: rejects truncated, foreign and unknown-operation packets", () => {
  assert.throws(() => ArpRepr.parse(REQUEST.subarray(0, 27)), MalformedFrame);
  const foreign = REQUEST.slice();
  foreign[1] = 6; // IEEE 802 hardware
  assert.throws(() => ArpRepr.parse(foreign), /arp-unsupported/);
  const op = REQUEST.slice();
  op[7] = 9;
  assert.throws(() => ArpRepr.parse(op), /arp-bad-operation/);
});
