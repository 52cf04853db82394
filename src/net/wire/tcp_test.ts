// Tests for the TCP wire format: build, parse, round-trip, truncation, checksum and options.

import assert from "node:assert/strict";
import {
  emitTcpHeader,
  emptyTcpOptions,
  fillTcpChecksum,
  parseTcpOptions,
  TcpFlag,
  TcpPacket,
  TcpRepr,
  TcpWireError,
} from "./tcp.ts";

const CONTAINER = 0x0a000f02; // 10.0.15.2
const GATEWAY = 0x0a000f01; // 10.0.15.1

/** A Linux-style SYN 10.0.15.2:40000 -> 10.0.15.1:80, seq 1, window 64240,
 * options MSS 1460, SACK-permitted, timestamps (4096, 0), NOP, window scale 7. */
const SYN = new Uint8Array([
  0x9c,
  0x40,
  0x00,
  0x50, // ports 40000 -> 80
  0x00,
  0x00,
  0x00,
  0x01, // seq 1
  0x00,
  0x00,
  0x00,
  0x00, // ack 0
  0xa0,
  0x02, // data offset 10 words, SYN
  0xfa,
  0xf0, // window 64240
  0x6e,
  0x7b, // checksum
  0x00,
  0x00, // urgent
  0x02,
  0x04,
  0x05,
  0xb4, // MSS 1460
  0x04,
  0x02, // SACK permitted
  0x08,
  0x0a,
  0x00,
  0x00,
  0x10,
  0x00,
  0x00,
  0x00,
  0x00,
  0x00, // timestamps 4096, 0
  0x01, // NOP
  0x03,
  0x03,
  0x07, // window scale 7
]);

/** 10.0.15.1:80 -> 10.0.15.2:40000, seq 1000, ack 2, PSH|ACK, window 256, payload "hi!". */
const DATA = new Uint8Array([
  0x00,
  0x50,
  0x9c,
  0x40, // ports 80 -> 40000
  0x00,
  0x00,
  0x03,
  0xe8, // seq 1000
  0x00,
  0x00,
  0x00,
  0x02, // ack 2
  0x50,
  0x18, // data offset 5 words, PSH|ACK
  0x01,
  0x00, // window 256
  0x52,
  0xe3, // checksum
  0x00,
  0x00, // urgent
  0x68,
  0x69,
  0x21, // "hi!"
]);

Deno.test("wire/tcp: parses a SYN with MSS, SACK-permitted, timestamps and window scale", () => {
  const r = new TcpRepr().parse(SYN, CONTAINER, GATEWAY);
  assert.equal(r.srcPort, 40000);
  assert.equal(r.dstPort, 80);
  assert.equal(r.seq, 1);
  assert.equal(r.flags, TcpFlag.SYN);
  assert.equal(r.window, 64240);
  assert.equal(r.options.mss, 1460);
  assert.equal(r.options.sackPermitted, true);
  assert.equal(r.options.tsVal, 4096);
  assert.equal(r.options.tsEcr, 0);
  assert.equal(r.options.windowScale, 7);
  assert.equal(r.payload.length, 0);
});

Deno.test("wire/tcp: the view reads fields in place", () => {
  const p = new TcpPacket(DATA);
  p.check();
  assert.equal(p.seq, 1000);
  assert.equal(p.ack, 2);
  assert.equal(p.dataOffset, 20);
  assert.equal(p.flags, TcpFlag.PSH | TcpFlag.ACK);
  assert.equal(p.window, 256);
  assert.equal(p.checksum, 0x52e3);
  assert.equal(p.urgent, 0);
  assert.deepEqual([...p.payload], [0x68, 0x69, 0x21]);
  assert.ok(p.verifyChecksum(GATEWAY, CONTAINER));
});

Deno.test("wire/tcp: builds the data segment fixture byte for byte", () => {
  const r = new TcpRepr();
  r.srcPort = 80;
  r.dstPort = 40000;
  r.seq = 1000;
  r.ack = 2;
  r.flags = TcpFlag.PSH | TcpFlag.ACK;
  r.window = 256;
  r.payload = new TextEncoder().encode("hi!");
  const out = new Uint8Array(r.bufferLen());
  assert.equal(r.emit(out, GATEWAY, CONTAINER), DATA.length);
  assert.deepEqual(out, DATA);
});

Deno.test("wire/tcp: round-trips a SYN with options", () => {
  const r = new TcpRepr().parse(SYN, CONTAINER, GATEWAY);
  const out = new Uint8Array(r.bufferLen());
  r.emit(out, CONTAINER, GATEWAY);
  const again = new TcpRepr().parse(out, CONTAINER, GATEWAY);
  assert.equal(again.options.mss, 1460);
  assert.equal(again.options.windowScale, 7);
  assert.equal(again.options.tsVal, 4096);
  assert.equal(again.seq, 1);
});

Deno.test("wire/tcp: emitTcpHeader and fillTcpChecksum match the repr path", () => {
  const out = new Uint8Array(64);
  const hlen = emitTcpHeader(out, {
    srcPort: 80,
    dstPort: 40000,
    seq: 1000,
    ack: 2,
    flags: TcpFlag.PSH | TcpFlag.ACK,
    window: 256,
    urgent: 0,
  });
  out.set([0x68, 0x69, 0x21], hlen);
  const seg = out.subarray(0, hlen + 3);
  fillTcpChecksum(seg, GATEWAY, CONTAINER);
  assert.deepEqual(seg, DATA);
});

Deno.test("wire/tcp: rejects truncated input", () => {
  assert.throws(() => new TcpRepr().parse(DATA.subarray(0, 19), GATEWAY, CONTAINER), TcpWireError);
  // The SYN's data offset says 40 bytes; cut it to 30.
  assert.throws(() => new TcpRepr().parse(SYN.subarray(0, 30), CONTAINER, GATEWAY), TcpWireError);
});

Deno.test("wire/tcp: rejects a data offset below five words", () => {
  const bad = DATA.slice();
  bad[12] = 0x40;
  assert.throws(() => new TcpPacket(bad).check(), TcpWireError);
});

Deno.test("wire/tcp: rejects a bad checksum", () => {
  const bad = DATA.slice();
  bad[20] = 0x00;
  assert.throws(() => new TcpRepr().parse(bad, GATEWAY, CONTAINER), /checksum/);
  // The wrong pseudo-header fails too.
  assert.throws(() => new TcpRepr().parse(DATA, GATEWAY, GATEWAY), TcpWireError);
});

Deno.test("wire/tcp: rejects malformed options and skips unknown ones", () => {
  assert.throws(() => parseTcpOptions(new Uint8Array([2, 4, 5])), TcpWireError);
  assert.throws(() => parseTcpOptions(new Uint8Array([2, 3, 5])), TcpWireError);
  assert.throws(() => parseTcpOptions(new Uint8Array([30, 1])), TcpWireError);
  const o = parseTcpOptions(new Uint8Array([30, 4, 0, 0, 3, 3, 20, 0]));
  assert.equal(o.windowScale, 14, "RFC 7323 2.3: shifts above 14 are clamped");
  assert.equal(o.mss, -1);
  const e = emptyTcpOptions();
  assert.deepEqual(parseTcpOptions(new Uint8Array([0, 2, 4, 5, 180])), e, "END stops parsing");
});
