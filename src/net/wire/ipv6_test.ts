// Tests for the IPv6 header: parse, build, round-trip, truncation, version, extension headers.

import assert from "node:assert/strict";
import { Ipv6NextHeader, Ipv6Packet, Ipv6Repr, skipExtensionHeaders } from "./ipv6.ts";
import { formatIpv6, parseIpv6 } from "./ipv6_address.ts";
import { MalformedFrame } from "./malformed.ts";
import { hex, toHex } from "./_test_util.ts";

// fd00:15::2 -> fd00:15::1, ICMPv6, hop limit 64, 12 bytes of payload (an echo request).
const HEADER = hex(`
  6000 0000 000c 3a 40
  fd000015000000000000000000000002
  fd000015000000000000000000000001`);
const PAYLOAD = hex("8000 9484 1234 0001 70696e67");
const PACKET = new Uint8Array([...HEADER, ...PAYLOAD]);

const reason = (r: string) => (e: unknown) => e instanceof MalformedFrame && e.reason === r;

Deno.test("ipv6: parses a header fixture", () => {
  const r = Ipv6Repr.parse(PACKET);
  assert.equal(formatIpv6(r.src), "fd00:15::2");
  assert.equal(formatIpv6(r.dst), "fd00:15::1");
  assert.equal(r.nextHeader, Ipv6NextHeader.ICMPV6);
  assert.equal(r.hopLimit, 64);
  assert.equal(r.payloadLength, 12);
  const p = Ipv6Packet.check(PACKET);
  assert.equal(p.version, 6);
  assert.equal(p.trafficClass, 0);
  assert.equal(p.flowLabel, 0);
  assert.equal(toHex(p.payload), toHex(PAYLOAD));
});

Deno.test("ipv6: builds a header byte for byte and round-trips it", () => {
  const repr: Ipv6Repr = {
    src: parseIpv6("fd00:15::2"),
    dst: parseIpv6("fd00:15::1"),
    nextHeader: 58,
    hopLimit: 64,
    payloadLength: 12,
  };
  const b = new Uint8Array(Ipv6Repr.bufferLen(repr) + 12);
  Ipv6Repr.emit(repr, b);
  b.set(PAYLOAD, 40);
  assert.equal(toHex(b.subarray(0, 40)), toHex(HEADER));
  assert.deepEqual(Ipv6Repr.parse(b), repr);
});

Deno.test("ipv6: traffic class and flow label share the first word", () => {
  const b = PACKET.slice();
  const p = new Ipv6Packet(b);
  p.setVersionClassFlow(0xb8, 0xabcde);
  assert.equal(toHex(b.subarray(0, 4)), "6b8abcde");
  assert.equal(p.trafficClass, 0xb8);
  assert.equal(p.flowLabel, 0xabcde);
});

Deno.test("ipv6: rejects truncated packets and other versions; trims link padding", () => {
  assert.throws(() => Ipv6Packet.check(PACKET.subarray(0, 39)), reason("ipv6-truncated"));
  assert.throws(() => Ipv6Packet.check(PACKET.subarray(0, 51)), reason("ipv6-truncated"));
  const v4 = PACKET.slice();
  v4[0] = 0x45;
  assert.throws(() => Ipv6Packet.check(v4), reason("ipv6-bad-version"));
  const padded = new Uint8Array([...PACKET, 0, 0, 0, 0]);
  assert.equal(Ipv6Packet.check(padded).bytes.length, PACKET.length);
});

Deno.test("ipv6: skips hop-by-hop and destination options, stops at the rest", () => {
  // Hop-by-hop (8 bytes: next = dest options, len 0, router alert), dest options (16 bytes) -> UDP.
  const ext = hex("3c00 0502 0000 0100 1101 0000 0000 0000 0000 0000 0000 0000 aabb");
  assert.deepEqual(skipExtensionHeaders(0, ext), { protocol: 17, offset: 24 });
  assert.deepEqual(skipExtensionHeaders(58, ext), { protocol: 58, offset: 0 });
  assert.deepEqual(skipExtensionHeaders(44, ext), { protocol: 44, offset: 0 });
  assert.throws(
    () => skipExtensionHeaders(0, ext.subarray(0, 12)),
    reason("ipv6-truncated-extension"),
  );
  assert.throws(
    () => skipExtensionHeaders(0, ext.subarray(0, 1)),
    reason("ipv6-truncated-extension"),
  );
});
