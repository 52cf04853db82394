// Tests for UDP datagrams.

import assert from "node:assert/strict";
import { UdpPacket, UdpRepr } from "./udp.ts";
import { parseIpv4 } from "./ipv4_address.ts";
import { MalformedFrame } from "./malformed.ts";
import { hex, toHex } from "./_test_util.ts";

const SRC = parseIpv4("10.0.15.2");
const DST = parseIpv4("10.0.15.1");
// 5000 -> 53, length 10, checksum 51b1, "hi".
const DATAGRAM = hex("1388 0035 000a 51b1 6869");

Deno.test("udp: parses a datagram", () => {
  const r = UdpRepr.parse(DATAGRAM, SRC, DST);
  assert.equal(r.srcPort, 5000);
  assert.equal(r.dstPort, 53);
  assert.equal(new TextDecoder().decode(r.payload), "hi");
});

Deno.test("udp: builds a datagram that round-trips", () => {
  const repr = { srcPort: 5000, dstPort: 53, payload: new TextEncoder().encode("hi") };
  const buf = new Uint8Array(UdpRepr.bufferLen(repr));
  UdpRepr.emit(repr, buf, SRC, DST);
  assert.equal(toHex(buf), toHex(DATAGRAM));
  assert.deepEqual(UdpRepr.parse(buf, SRC, DST), repr);
});

Deno.test("udp: drops a datagram with a bad checksum", () => {
  const bad = DATAGRAM.slice();
  bad[8]! ^= 1;
  assert.throws(() => UdpRepr.parse(bad, SRC, DST), /udp-bad-checksum/);
  // The pseudo-header counts: the right bytes from another source fail too.
  assert.throws(() => UdpRepr.parse(DATAGRAM, SRC + 1, DST), /udp-bad-checksum/);
});

Deno.test("udp: accepts a zero checksum as none", () => {
  const none = DATAGRAM.slice();
  new UdpPacket(none).checksum = 0;
  assert.equal(UdpRepr.parse(none, SRC, DST).payload.length, 2);
});

Deno.test("udp: rejects truncated datagrams and bad lengths", () => {
  assert.throws(() => UdpRepr.parse(DATAGRAM.subarray(0, 7), SRC, DST), MalformedFrame);
  assert.throws(() => UdpRepr.parse(DATAGRAM.subarray(0, 9), SRC, DST), /udp-truncated/);
  const short = DATAGRAM.slice();
  short[5] = 4;
  assert.throws(() => UdpRepr.parse(short, SRC, DST), /udp-bad-length/);
});
