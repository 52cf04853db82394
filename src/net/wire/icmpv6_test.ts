// Tests for ICMPv6 messages and NDP options, with byte fixtures whose checksums were computed independently.

import assert from "node:assert/strict";
import { Icmpv6Packet, Icmpv6Repr } from "./icmpv6.ts";
import { parseIpv6 } from "./ipv6_address.ts";
import { parseMac } from "./ethernet.ts";
import { MalformedFrame } from "./malformed.ts";
import { hex, toHex } from "./_test_util.ts";

const CT = parseIpv6("fd00:15::2");
const GW = parseIpv6("fd00:15::1");
const GW_LL = parseIpv6("fe80::50:ff:fe00:f01");
const ALL_NODES = parseIpv6("ff02::1");

// Echo request fd00:15::2 -> fd00:15::1, ident 0x1234, seq 1, data "ping".
const ECHO = hex("8000 9484 1234 0001 70696e67");
// Neighbour solicitation for fd00:15::1 to its solicited-node group, SLLAO 02:50:00:00:0f:02.
const NS = hex(`
  8700 6e1d 00000000
  fd000015000000000000000000000001
  0101 025000000f02`);
// Router advertisement from fe80::50:ff:fe00:f01 to ff02::1: hop limit 64, lifetime 1800 s,
// SLLAO, MTU 1500, prefix fd00:15::/64 (L, A, 86400 s / 14400 s), RDNSS fd00:15::1 for 180 s.
const RA = hex(`
  8600 27f6 40 00 0708 00000000 00000000
  0101 025000000f01
  0501 0000 000005dc
  0304 40 c0 00015180 00003840 00000000 fd000015000000000000000000000000
  1903 0000 000000b4 fd000015000000000000000000000001`);

function raRepr(): Icmpv6Repr {
  return {
    kind: "router-advert",
    curHopLimit: 64,
    managed: false,
    other: false,
    routerLifetime: 1800,
    reachableTime: 0,
    retransTimer: 0,
    sourceMac: parseMac("02:50:00:00:0f:01"),
    mtu: 1500,
    prefixes: [{
      prefixLength: 64,
      onLink: true,
      autonomous: true,
      validLifetime: 86400,
      preferredLifetime: 14400,
      prefix: parseIpv6("fd00:15::"),
    }],
    dns: { lifetime: 180, servers: [GW] },
  };
}

function build(m: Icmpv6Repr, src: Uint8Array, dst: Uint8Array): Uint8Array {
  const b = new Uint8Array(Icmpv6Repr.bufferLen(m));
  Icmpv6Repr.emit(m, b, src, dst);
  return b;
}

Deno.test("icmpv6: parses an echo request fixture", () => {
  const r = Icmpv6Repr.parse(ECHO, CT, GW);
  assert.deepEqual(r, {
    kind: "echo-request",
    ident: 0x1234,
    seq: 1,
    data: new TextEncoder().encode("ping"),
  });
});

Deno.test("icmpv6: builds an echo request byte for byte and round-trips it", () => {
  const m: Icmpv6Repr = {
    kind: "echo-request",
    ident: 0x1234,
    seq: 1,
    data: new TextEncoder().encode("ping"),
  };
  const b = build(m, CT, GW);
  assert.equal(toHex(b), toHex(ECHO));
  assert.deepEqual(Icmpv6Repr.parse(b, CT, GW), m);
});

Deno.test("icmpv6: parses and builds a neighbour solicitation with a source link-layer option", () => {
  const dst = parseIpv6("ff02::1:ff00:1");
  const r = Icmpv6Repr.parse(NS, CT, dst);
  assert.deepEqual(r, {
    kind: "neighbor-solicit",
    target: GW,
    sourceMac: parseMac("02:50:00:00:0f:02"),
  });
  assert.equal(toHex(build(r, CT, dst)), toHex(NS));
});

Deno.test("icmpv6: parses and builds a router advertisement with MTU, prefix and RDNSS", () => {
  assert.deepEqual(Icmpv6Repr.parse(RA, GW_LL, ALL_NODES), raRepr());
  assert.equal(toHex(build(raRepr(), GW_LL, ALL_NODES)), toHex(RA));
});

Deno.test("icmpv6: round-trips neighbour adverts, router solicitations and errors", () => {
  const cases: Icmpv6Repr[] = [
    {
      kind: "neighbor-advert",
      router: true,
      solicited: true,
      override: false,
      target: GW,
      targetMac: parseMac("02:50:00:00:0f:01"),
    },
    {
      kind: "neighbor-advert",
      router: false,
      solicited: false,
      override: true,
      target: CT,
      targetMac: null,
    },
    { kind: "router-solicit", sourceMac: null },
    { kind: "router-solicit", sourceMac: parseMac("02:50:00:00:0f:02") },
    { kind: "error", type: 1, code: 4, param: 0, data: hex("6000000000081140") },
    { kind: "error", type: 2, code: 0, param: 1280, data: new Uint8Array(0) },
  ];
  for (const m of cases) assert.deepEqual(Icmpv6Repr.parse(build(m, GW, CT), GW, CT), m);
});

Deno.test("icmpv6: rejects truncated messages and bad options", () => {
  const err = (reason: string) => (e: unknown) =>
    e instanceof MalformedFrame && e.reason === reason;
  assert.throws(() => Icmpv6Repr.parse(ECHO.subarray(0, 7), CT, GW), err("icmpv6-truncated"));
  // A neighbour solicitation too short for its target.
  const shortNs = build({ kind: "other", type: 135, code: 0 }, CT, GW);
  assert.throws(() => Icmpv6Repr.parse(shortNs, CT, GW), err("ndp-malformed"));
  // An option of length zero (RFC 4861 section 4.6: must be discarded), checksum fixed up.
  const dst = parseIpv6("ff02::1:ff00:1");
  const zeroOpt = NS.slice();
  zeroOpt[25] = 0;
  new Icmpv6Packet(zeroOpt).fillChecksum(CT, dst);
  assert.throws(() => Icmpv6Repr.parse(zeroOpt, CT, dst), err("ndp-bad-option"));
  // An option running past the end.
  const long = NS.slice();
  long[25] = 2;
  new Icmpv6Packet(long).fillChecksum(CT, dst);
  assert.throws(() => Icmpv6Repr.parse(long, CT, dst), err("ndp-bad-option"));
});

Deno.test("icmpv6: rejects a bad checksum, including one computed for other addresses", () => {
  const bad = ECHO.slice();
  bad[3]! ^= 1;
  assert.throws(
    () => Icmpv6Repr.parse(bad, CT, GW),
    (e: unknown) => e instanceof MalformedFrame && e.reason === "icmpv6-bad-checksum",
  );
  assert.throws(
    () => Icmpv6Repr.parse(ECHO, GW, CT.map((x, i) => i === 15 ? 9 : x)),
    MalformedFrame,
  );
});
