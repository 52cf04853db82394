// Tests for the virtio-net header and partial checksums.

import assert from "node:assert/strict";
import {
  completeChecksum,
  VIRTIO_NET_HDR_LEN,
  VirtioNetFlag,
  VirtioNetGso,
  VirtioNetHeader,
} from "./virtio_net.ts";
import { fillTcpChecksum, fillTcpPseudoChecksum, TcpRepr } from "./tcp.ts";
import { hex, toHex } from "./_test_util.ts";

// NEEDS_CSUM, GSO TCPv4, hdr_len 66, gso_size 1448, csum_start 34, csum_offset 16 (little-endian).
const GSO_HEADER = "0101" + "4200" + "a805" + "2200" + "1000";

Deno.test("virtio-net: parses a GSO header", () => {
  const h = new VirtioNetHeader(hex(GSO_HEADER));
  assert.equal(h.flags, VirtioNetFlag.NEEDS_CSUM);
  assert.equal(h.gsoType, VirtioNetGso.TCPV4);
  assert.equal(h.hdrLen, 66);
  assert.equal(h.gsoSize, 1448);
  assert.equal(h.csumStart, 34);
  assert.equal(h.csumOffset, 16);
});

Deno.test("virtio-net: builds a header that round-trips", () => {
  const b = new Uint8Array(VIRTIO_NET_HDR_LEN).fill(0xff);
  const h = new VirtioNetHeader(b);
  h.clear();
  assert.equal(toHex(b), "00000000000000000000");
  h.setChecksumPartial(34, 16);
  h.setGso(VirtioNetGso.TCPV4, 66, 1448);
  assert.equal(toHex(b), GSO_HEADER);
});

Deno.test("virtio-net: completing a partial TCP checksum gives the full one", () => {
  const src = 0x0a000f01;
  const dst = 0x0a000f02;
  const seg = new TcpRepr();
  seg.srcPort = 80;
  seg.dstPort = 40000;
  seg.seq = 1;
  seg.ack = 2;
  seg.flags = 0x18;
  seg.window = 1000;
  seg.payload = new TextEncoder().encode("hello, partial checksum!");
  const segment = new Uint8Array(seg.bufferLen());
  seg.emit(segment, src, dst);
  const full = toHex(segment);
  // A frame: 34 bytes of Ethernet and IPv4 header (contents do not matter here), then TCP.
  const frame = new Uint8Array(34 + segment.length);
  frame.set(segment, 34);
  fillTcpPseudoChecksum(frame.subarray(34), src, dst);
  assert.notEqual(toHex(frame.subarray(34)), full);
  assert.equal(completeChecksum(frame, 34, 16), true);
  assert.equal(toHex(frame.subarray(34)), full);
  fillTcpChecksum(segment, src, dst);
  assert.equal(toHex(segment), full);
});

Deno.test("virtio-net: refuses offsets outside the frame", () => {
  assert.equal(completeChecksum(new Uint8Array(40), 34, 16), false);
  assert.equal(completeChecksum(new Uint8Array(40), 50, 0), false);
});

Deno.test("tcp: a segment whose checksum the link vouches for skips verification", () => {
  const seg = new TcpRepr();
  seg.srcPort = 1;
  seg.dstPort = 2;
  seg.payload = new Uint8Array([1, 2, 3]);
  const b = new Uint8Array(seg.bufferLen());
  seg.emit(b, 1, 2);
  b[16]! ^= 0xff;
  assert.throws(() => new TcpRepr().parse(b, 1, 2));
  assert.equal(new TcpRepr().parse(b, 1, 2, true).payload.length, 3);
});
