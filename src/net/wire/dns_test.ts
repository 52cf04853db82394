// Tests for the DNS forwarder's message helpers.

import assert from "node:assert/strict";
import {
  buildServfail,
  DnsMessage,
  DnsTcpDeframer,
  frameDnsTcp,
  parseDnsQuestion,
  readDnsName,
} from "./dns.ts";
import { MalformedFrame } from "./malformed.ts";
import { hex, toHex } from "./_test_util.ts";

// Query id 0xbeef, RD, one question: example.com A IN.
const QUERY = hex("beef 0100 0001 0000 0000 0000 07 6578616d706c65 03 636f6d 00 0001 0001");

Deno.test("dns: parses the header and question", () => {
  const m = new DnsMessage(QUERY);
  assert.equal(m.id, 0xbeef);
  assert.equal(m.isResponse, false);
  const q = parseDnsQuestion(QUERY);
  assert.deepEqual(q, { name: "example.com", qtype: 1, qclass: 1, end: QUERY.length });
});

Deno.test("dns: builds a SERVFAIL that echoes the question", () => {
  const reply = buildServfail(QUERY);
  assert.equal(
    toHex(reply),
    "beef 8182 0001 0000 0000 0000 07 6578616d706c65 03 636f6d 00 0001 0001".replace(/ /g, ""),
  );
  const m = new DnsMessage(reply);
  assert.equal(m.rcode, 2);
  assert.deepEqual(parseDnsQuestion(reply), parseDnsQuestion(QUERY));
});

Deno.test("dns: follows compression pointers and refuses loops", () => {
  // Header, then "com" at 12, then a name "a" + pointer to 12.
  const msg = hex("0000 0000 0000 0000 0000 0000 03636f6d00 0161c00c");
  assert.deepEqual(readDnsName(msg, 17), { name: "a.com", end: 21 });
  const loop = hex("0000 0000 0000 0000 0000 0000 c00c");
  assert.throws(() => readDnsName(loop, 12), /dns-name-loop/);
});

Deno.test("dns: rejects truncated messages", () => {
  assert.throws(() => parseDnsQuestion(QUERY.subarray(0, 11)), MalformedFrame);
  assert.throws(() => parseDnsQuestion(QUERY.subarray(0, QUERY.length - 1)), /dns-truncated/);
  assert.throws(() => buildServfail(QUERY.subarray(0, 5)), MalformedFrame);
  // A header with a cut question still gets a header-only SERVFAIL.
  assert.equal(buildServfail(QUERY.subarray(0, 15)).length, 12);
});

Deno.test("dns: frames and deframes TCP messages across chunk boundaries", () => {
  const framed = frameDnsTcp(QUERY);
  assert.equal((framed[0]! << 8) | framed[1]!, QUERY.length);
  const two = new Uint8Array(framed.length * 2);
  two.set(framed);
  two.set(framed, framed.length);
  const d = new DnsTcpDeframer();
  assert.deepEqual(d.push(two.subarray(0, 1)), []);
  const first = d.push(two.subarray(1, framed.length + 5));
  assert.equal(first.length, 1);
  assert.equal(toHex(first[0]!), toHex(QUERY));
  assert.equal(d.pending, 5);
  const second = d.push(two.subarray(framed.length + 5));
  assert.equal(second.length, 1);
  assert.equal(d.pending, 0);
});
