// Tests for IPv4 address parsing and formatting.

import assert from "node:assert/strict";
import { formatIpv4, isMulticast, parseIpv4, prefixToMask, tryParseIpv4 } from "./ipv4_address.ts";

Deno.test("ipv4_address: parses and formats dotted quads", () => {
  assert.equal(parseIpv4("10.0.15.2"), 0x0a000f02);
  assert.equal(parseIpv4("255.255.255.255"), 0xffffffff);
  assert.equal(formatIpv4(0xc0a80101), "192.168.1.1");
  assert.equal(formatIpv4(parseIpv4("0.0.0.0")), "0.0.0.0");
});

Deno.test("ipv4_address: rejects malformed text", () => {
  for (const bad of ["", "1.2.3", "1.2.3.4.5", "256.1.1.1", "01.2.3.4", "a.b.c.d", "1.2.3.-4"]) {
    assert.throws(() => parseIpv4(bad), TypeError);
    assert.equal(tryParseIpv4(bad), undefined);
  }
});

Deno.test("ipv4_address: computes masks and multicast", () => {
  assert.equal(prefixToMask(30), 0xfffffffc);
  assert.equal(prefixToMask(0), 0);
  assert.equal(prefixToMask(32), 0xffffffff);
  assert.throws(() => prefixToMask(33), RangeError);
  assert.ok(isMulticast(parseIpv4("224.0.0.1")));
  assert.ok(!isMulticast(parseIpv4("10.0.0.1")));
});
