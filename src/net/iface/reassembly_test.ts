// Unit tests for IPv4 and IPv6 fragment reassembly.

import assert from "node:assert/strict";
import { Counters } from "./counters.ts";
import { Reassembler } from "./reassembly.ts";
import { IPV4_FLAG_MF, Ipv4Packet, Ipv4Repr } from "../wire/ipv4.ts";

function fragment(ident: number, offset: number, data: Uint8Array, more: boolean): Ipv4Packet {
  const bytes = new Uint8Array(20 + data.length);
  Ipv4Repr.emit({
    src: 0x0a000f02,
    dst: 0x01010101,
    protocol: 17,
    ttl: 64,
    payloadLen: data.length,
    ident,
  }, bytes);
  bytes.set(data, 20);
  const p = new Ipv4Packet(bytes);
  p.flagsFrag = (more ? IPV4_FLAG_MF : 0) | (offset >>> 3);
  p.fillChecksum();
  return p;
}

const DATA = new Uint8Array(48).map((_, i) => i);

Deno.test("reassembly: joins fragments received out of order into a valid datagram", () => {
  const counters = new Counters();
  const r = new Reassembler(counters);
  assert.equal(r.add(fragment(1, 32, DATA.subarray(32), false), 0), undefined);
  assert.equal(r.add(fragment(1, 0, DATA.subarray(0, 16), true), 0), undefined);
  const whole = r.add(fragment(1, 16, DATA.subarray(16, 32), true), 0)!;
  const repr = Ipv4Repr.parse(whole);
  assert.equal(repr.payloadLen, 48);
  assert.deepEqual(new Ipv4Packet(whole).payload, DATA);
  assert.equal(r.size, 0);
  assert.equal(r.buffered, 0);
});

Deno.test("reassembly: discards datagrams with overlapping or contradictory fragments", () => {
  const counters = new Counters();
  const r = new Reassembler(counters);
  r.add(fragment(2, 0, DATA.subarray(0, 24), true), 0);
  r.add(fragment(2, 16, DATA.subarray(16, 32), true), 0);
  assert.equal(counters.drops("ipv4-frag-overlap"), 1);
  assert.equal(r.size, 0);
  r.add(fragment(3, 32, DATA.subarray(32, 48), true), 0);
  r.add(fragment(3, 0, DATA.subarray(0, 16), false), 0);
  assert.equal(counters.drops("ipv4-frag-inconsistent"), 1);
  r.add(fragment(4, 0, DATA.subarray(0, 12), true), 0);
  assert.equal(counters.drops("ipv4-frag-bad-length"), 1);
  assert.equal(r.size, 0);
});

Deno.test("reassembly: times out partial datagrams and evicts the oldest at the limits", () => {
  const counters = new Counters();
  const r = new Reassembler(counters, { maxDatagrams: 2, maxBytes: 1 << 20, timeoutMs: 100 });
  r.add(fragment(5, 0, DATA.subarray(0, 16), true), 0);
  r.add(fragment(6, 0, DATA.subarray(0, 16), true), 10);
  r.add(fragment(7, 0, DATA.subarray(0, 16), true), 20);
  assert.equal(counters.drops("ipv4-frag-evicted"), 1);
  assert.equal(r.pollAt(), 110);
  r.poll(110);
  assert.equal(counters.drops("ipv4-frag-timeout"), 1);
  r.poll(120);
  assert.equal(r.size, 0);
  assert.equal(r.pollAt(), undefined);
});

Deno.test("reassembly v6: joins fragments out of order, with the first fragment's next header", () => {
  const counters = new Counters();
  const r = new Reassembler(counters, undefined, "ipv6");
  // The last fragment names another next header: RFC 8200 4.5 says the first one's counts.
  assert.equal(r.addIpv6("k", 32, false, 60, DATA.subarray(32), 0), undefined);
  assert.equal(r.addIpv6("k", 16, true, 17, DATA.subarray(16, 32), 0), undefined);
  const whole = r.addIpv6("k", 0, true, 17, DATA.subarray(0, 16), 0);
  assert.ok(whole);
  assert.equal(whole.nextHeader, 17);
  assert.deepEqual(whole.fragmentable, DATA);
  assert.equal(r.size, 0);
  assert.equal(r.buffered, 0);
});

Deno.test("reassembly v6: an overlap discards the datagram, counted under ipv6", () => {
  const counters = new Counters();
  const r = new Reassembler(counters, undefined, "ipv6");
  assert.equal(r.addIpv6("k", 0, true, 17, DATA.subarray(0, 16), 0), undefined);
  assert.equal(r.addIpv6("k", 8, false, 17, DATA.subarray(8, 24), 0), undefined);
  assert.equal(r.size, 0);
  assert.equal(counters.drops("ipv6-frag-overlap"), 1);
});
