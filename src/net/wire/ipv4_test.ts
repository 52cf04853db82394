// Tests for IPv4 headers.

import assert from "node:assert/strict";
import { Ipv4Packet, Ipv4Repr } from "./ipv4.ts";
import { formatIpv4, parseIpv4 } from "./ipv4_address.ts";
import { MalformedFrame } from "./malformed.ts";
import { hex, toHex } from "./_test_util.ts";

// 10.0.15.2 -> 10.0.15.1, ICMP, id abcd, DF, TTL 64, 12 bytes of data (an echo request "ping").
const HEADER = "45000020abcd400040015d0d0a000f020a000f01";
const DATAGRAM = hex(HEADER + "080006fa1234000170696e67");

Deno.test("ipv4: parses a datagram", () => {
  const r = Ipv4Repr.parse(DATAGRAM);
  assert.equal(formatIpv4(r.src), "10.0.15.2");
  assert.equal(formatIpv4(r.dst), "10.0.15.1");
  assert.equal(r.protocol, 1);
  assert.equal(r.ttl, 64);
  assert.equal(r.payloadLen, 12);
  assert.equal(r.ident, 0xabcd);
  assert.equal(r.dontFragment, true);
  assert.equal(toHex(new Ipv4Packet(DATAGRAM).payload), "080006fa1234000170696e67");
});

Deno.test("ipv4: builds a header that round-trips", () => {
  const buf = new Uint8Array(20);
  Ipv4Repr.emit({
    src: parseIpv4("10.0.15.2"),
    dst: parseIpv4("10.0.15.1"),
    protocol: 1,
    ttl: 64,
    payloadLen: 12,
    ident: 0xabcd,
    dontFragment: true,
  }, buf);
  assert.equal(toHex(buf), HEADER);
  assert.equal(Ipv4Repr.bufferLen(), 20);
});

Deno.test("ipv4: drops a datagram with a bad header checksum", () => {
  const bad = DATAGRAM.slice();
  bad[11]! ^= 1;
  assert.throws(() => Ipv4Repr.parse(bad), /ipv4-bad-checksum/);
});

Deno.test("ipv4: rejects truncated and inconsistent headers", () => {
  assert.throws(() => Ipv4Repr.parse(DATAGRAM.subarray(0, 19)), MalformedFrame);
  assert.throws(() => Ipv4Repr.parse(DATAGRAM.subarray(0, 31)), /ipv4-truncated/);
  const v6 = DATAGRAM.slice();
  v6[0] = 0x65;
  assert.throws(() => Ipv4Repr.parse(v6), /ipv4-bad-version/);
  const ihl = DATAGRAM.slice();
  ihl[0] = 0x44;
  assert.throws(() => Ipv4Repr.parse(ihl), /ipv4-bad-header-length/);
});

Deno.test("ipv4: reports fragments through the view", () => {
  const frag = DATAGRAM.slice();
  const p = new Ipv4Packet(frag);
  p.flagsFrag = 0x2000 | 3; // MF, offset 24
  p.fillChecksum();
  assert.equal(p.moreFragments, true);
  assert.equal(p.fragmentOffset, 24);
  assert.throws(() => Ipv4Repr.parse(frag), /ipv4-fragment/);
});
