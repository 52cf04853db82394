// Tests for cutting a UDP_SEGMENT datagram into its datagrams: lengths, identification and every checksum.

import assert from "node:assert/strict";
import { splitUdpGso } from "./uso.ts";
import { internetChecksum, ipv4PseudoSum, ipv6PseudoSum, sumWords } from "../wire/checksum.ts";

const PAYLOAD = 2500;

function frameV4(): Uint8Array {
  const f = new Uint8Array(14 + 20 + 8 + PAYLOAD);
  f.set([0x08, 0x00], 12);
  f.set([0x45, 0, 0, 0, 0x12, 0x34, 0x40, 0, 64, 17, 0, 0, 10, 0, 15, 2, 10, 0, 15, 1], 14);
  f.set([0x30, 0x39, 0x00, 0x35], 34); // ports 12345 -> 53
  for (let i = 0; i < PAYLOAD; i++) f[42 + i] = i % 251;
  return f;
}

function frameV6(): Uint8Array {
  const f = new Uint8Array(14 + 40 + 8 + PAYLOAD);
  f.set([0x86, 0xdd], 12);
  f[14] = 0x60;
  f[20] = 17; // next header: UDP
  f[21] = 64;
  f.set([0xfd, 0, 0, 0x15, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2], 22);
  f.set([0xfd, 0, 0, 0x15, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1], 38);
  f.set([0x30, 0x39, 0x00, 0x35], 54);
  for (let i = 0; i < PAYLOAD; i++) f[62 + i] = i % 251;
  return f;
}

Deno.test("uso: an IPv4 UDP_SEGMENT datagram becomes datagrams with their own lengths, ids and checksums", () => {
  const segments: Uint8Array[] = [];
  const n = splitUdpGso(frameV4(), 1000, new Uint8Array(65536), (s) => segments.push(s.slice()));
  assert.equal(n, 3);
  assert.deepEqual(segments.map((s) => s.length), [1042, 1042, 542]);
  segments.forEach((s, i) => {
    const ipLen = (s[16]! << 8) | s[17]!;
    assert.equal(ipLen, s.length - 14);
    assert.equal((s[18]! << 8) | s[19]!, 0x1234 + i, "identification counts up");
    assert.equal(internetChecksum(s, 14, 34), 0, "IPv4 header checksum");
    const udpLen = (s[38]! << 8) | s[39]!;
    assert.equal(udpLen, s.length - 34);
    const pseudo = ipv4PseudoSum(0x0a000f02, 0x0a000f01, 17, udpLen);
    assert.equal(sumFold(sumWords(s, 34, s.length, pseudo)), 0xffff, "UDP checksum");
    for (let j = 42; j < s.length; j++) assert.equal(s[j], (i * 1000 + j - 42) % 251);
  });
});

Deno.test("uso: an IPv6 UDP_SEGMENT datagram becomes datagrams with their own lengths and checksums", () => {
  const segments: Uint8Array[] = [];
  const f = frameV6();
  const n = splitUdpGso(f, 1200, new Uint8Array(65536), (s) => segments.push(s.slice()));
  assert.equal(n, 3);
  assert.deepEqual(segments.map((s) => s.length), [1262, 1262, 162]);
  for (const s of segments) {
    const udpLen = (s[58]! << 8) | s[59]!;
    assert.equal((s[18]! << 8) | s[19]!, udpLen, "payload length");
    const pseudo = ipv6PseudoSum(f.subarray(22, 38), f.subarray(38, 54), 17, udpLen);
    assert.equal(sumFold(sumWords(s, 54, s.length, pseudo)), 0xffff, "UDP checksum");
  }
});

Deno.test("uso: anything but IPv4 or IPv6 UDP is refused (the link drops and counts it)", () => {
  const tcp = frameV4();
  tcp[23] = 6;
  const none = () => assert.fail("nothing may be emitted");
  assert.equal(splitUdpGso(tcp, 1000, new Uint8Array(65536), none), 0);
  assert.equal(splitUdpGso(frameV4(), 0, new Uint8Array(65536), none), 0);
  assert.equal(splitUdpGso(frameV4().subarray(0, 30), 1000, new Uint8Array(65536), none), 0);
  // Too small a buffer for one piece.
  assert.equal(splitUdpGso(frameV4(), 1000, new Uint8Array(100), none), 0);
});

/** Folds a sum to 16 bits without complementing: a region with a correct checksum gives 0xffff. */
function sumFold(sum: number): number {
  while (sum > 0xffff) sum = (sum & 0xffff) + Math.floor(sum / 0x10000);
  return sum;
}
