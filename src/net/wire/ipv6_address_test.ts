// Tests for IPv6 address text, scopes, derived addresses and the interned ids the transports use.

import assert from "node:assert/strict";
import {
  formatIpv6,
  ipv6FromId,
  ipv6Id,
  ipv6InPrefix,
  isIpv6GlobalUnicast,
  isIpv6Id,
  linkLocalFromMac,
  multicastMac,
  parseIpv6,
  solicitedNodeAddress,
  tryParseIpv6,
} from "./ipv6_address.ts";
import { ipv4PseudoSum, ipv6PseudoSum } from "./checksum.ts";
import { formatMac, parseMac } from "./ethernet.ts";
import { toHex } from "./_test_util.ts";

Deno.test("ipv6 address: parses the RFC 4291 forms", () => {
  assert.equal(toHex(parseIpv6("fd00:15::1")), "fd000015000000000000000000000001");
  assert.equal(toHex(parseIpv6("::")), "0".repeat(32));
  assert.equal(toHex(parseIpv6("::1")), "0".repeat(31) + "1");
  assert.equal(toHex(parseIpv6("1:2:3:4:5:6:7:8")), "00010002000300040005000600070008");
  assert.equal(toHex(parseIpv6("::ffff:10.0.15.1")), "00000000000000000000ffff0a000f01");
  assert.equal(toHex(parseIpv6("FE80::A")), "fe80000000000000000000000000000a");
  for (
    const bad of [
      "",
      ":",
      "1::2::3",
      "1:2:3:4:5:6:7:8:9",
      "12345::",
      "::g",
      "1:2:3:4:5:6:7",
      "fe80::1%eth0",
    ]
  ) {
    assert.equal(tryParseIpv6(bad), undefined, bad);
  }
});

Deno.test("ipv6 address: formats as RFC 5952 text", () => {
  for (
    const [text, want] of [
      ["fd00:0015:0:0:0:0:0:0001", "fd00:15::1"],
      ["0:0:0:0:0:0:0:0", "::"],
      ["1:0:0:2:0:0:0:3", "1:0:0:2::3"],
      ["1:0:2:3:4:5:6:7", "1:0:2:3:4:5:6:7"],
      ["1:0:0:2:3:0:0:4", "1::2:3:0:0:4"],
      ["ff02::1:ff00:2", "ff02::1:ff00:2"],
    ]
  ) {
    assert.equal(formatIpv6(parseIpv6(text!)), want);
  }
});

Deno.test("ipv6 address: scopes, prefixes and derived addresses", () => {
  assert.ok(isIpv6GlobalUnicast(parseIpv6("2001:db8::1")));
  assert.ok(isIpv6GlobalUnicast(parseIpv6("fd00:15::1")));
  for (const a of ["::", "::1", "fe80::1", "ff02::1", "fec0::1", "::ffff:1.2.3.4"]) {
    assert.ok(!isIpv6GlobalUnicast(parseIpv6(a)), a);
  }
  assert.ok(ipv6InPrefix(parseIpv6("fd00:15::99"), parseIpv6("fd00:15::"), 64));
  assert.ok(!ipv6InPrefix(parseIpv6("fd00:16::1"), parseIpv6("fd00:15::"), 64));
  assert.ok(ipv6InPrefix(parseIpv6("fd00:17::1"), parseIpv6("fd00:16::"), 30));
  assert.equal(formatIpv6(solicitedNodeAddress(parseIpv6("fd00:15::1:2:3"))), "ff02::1:ff02:3");
  assert.equal(formatMac(multicastMac(parseIpv6("ff02::1:ff00:1"))), "33:33:ff:00:00:01");
  assert.equal(formatIpv6(linkLocalFromMac(parseMac("02:50:00:00:0f:01"))), "fe80::50:ff:fe00:f01");
});

Deno.test("ipv6 address: ids are stable, above 2^32, and checksum like the address", () => {
  const addrs = ["fd00:15::1", "fd00:15::2", "2001:db8::ffff:ffff", "ffff:ffff::ffff", "::"];
  for (let i = 0; i < 70_000; i += 7_000) addrs.push(`2001:db8::${i.toString(16)}`);
  for (const text of addrs) {
    const a = parseIpv6(text);
    const id = ipv6Id(a)!;
    assert.ok(isIpv6Id(id) && id * 65536 + 65535 <= Number.MAX_SAFE_INTEGER);
    assert.equal(ipv6Id(parseIpv6(text)), id);
    assert.equal(formatIpv6(ipv6FromId(id)!), formatIpv6(a));
    const other = parseIpv6("fd00:15::2");
    const want = ipv6PseudoSum(a, other, 6, 1000) % 0xffff;
    assert.equal(ipv4PseudoSum(id, ipv6Id(other)!, 6, 1000) % 0xffff, want, text);
  }
  assert.equal(ipv6FromId(0x0a000f01), undefined);
  assert.ok(!isIpv6Id(0xffffffff));
});
