// Tests for DHCPv6 messages: parse, build, round-trip, truncated input and bad options, with byte fixtures.

import assert from "node:assert/strict";
import { Dhcpv6MessageType, Dhcpv6Repr } from "./dhcpv6.ts";
import { parseIpv6 } from "./ipv6_address.ts";
import { MalformedFrame } from "./malformed.ts";
import { hex, toHex } from "./_test_util.ts";

// Solicit, xid 0x123456: client id DUID-LL 02:50:00:00:0f:02, IA_NA iaid 1 (T1/T2 0),
// ORO [23], rapid commit.
const SOLICIT = hex(`
  01 123456
  0001 000a 0003 0001 025000000f02
  0003 000c 00000001 00000000 00000000
  0006 0002 0017
  000e 0000`);

// Reply: server id, IA_NA with fd00:15::2 (3600/7200), status success "ok", DNS fd00:15::1.
const REPLY = hex(`
  07 123456
  0002 000a 0003 0001 025000000f01
  0003 0028 00000001 00000708 00000bb8
    0005 0018 fd000015000000000000000000000002 00000e10 00001c20
  000d 0004 0000 6f6b
  0017 0010 fd000015000000000000000000000001`);

function replyRepr(): Dhcpv6Repr {
  return {
    msgType: Dhcpv6MessageType.REPLY,
    transactionId: 0x123456,
    clientId: null,
    serverId: hex("00030001025000000f01"),
    iaNa: [{
      iaid: 1,
      t1: 1800,
      t2: 3000,
      addresses: [{
        address: parseIpv6("fd00:15::2"),
        preferredLifetime: 3600,
        validLifetime: 7200,
      }],
      status: null,
    }],
    requested: [],
    rapidCommit: false,
    status: { code: 0, message: "ok" },
    dnsServers: [parseIpv6("fd00:15::1")],
  };
}

Deno.test("dhcpv6: parses a solicit fixture", () => {
  const r = Dhcpv6Repr.parse(SOLICIT);
  assert.equal(r.msgType, Dhcpv6MessageType.SOLICIT);
  assert.equal(r.transactionId, 0x123456);
  assert.equal(toHex(r.clientId!), "00030001025000000f02");
  assert.equal(r.serverId, null);
  assert.deepEqual(r.iaNa, [{ iaid: 1, t1: 0, t2: 0, addresses: [], status: null }]);
  assert.deepEqual(r.requested, [23]);
  assert.ok(r.rapidCommit);
});

Deno.test("dhcpv6: builds a reply byte for byte and round-trips it", () => {
  assert.equal(toHex(Dhcpv6Repr.emit(replyRepr())), toHex(REPLY));
  assert.deepEqual(Dhcpv6Repr.parse(REPLY), replyRepr());
  assert.deepEqual(
    Dhcpv6Repr.parse(Dhcpv6Repr.emit(Dhcpv6Repr.parse(SOLICIT))),
    Dhcpv6Repr.parse(SOLICIT),
  );
});

Deno.test("dhcpv6: rejects truncated messages and options past the end", () => {
  const reason = (r: string) => (e: unknown) => e instanceof MalformedFrame && e.reason === r;
  assert.throws(() => Dhcpv6Repr.parse(SOLICIT.subarray(0, 3)), reason("dhcpv6-truncated"));
  assert.throws(() => Dhcpv6Repr.parse(SOLICIT.subarray(0, SOLICIT.length - 1)), MalformedFrame);
  assert.throws(() => Dhcpv6Repr.parse(SOLICIT.subarray(0, 6)), reason("dhcpv6-bad-option"));
  const oddDns = hex("07 000001 0017 0003 000000");
  assert.throws(() => Dhcpv6Repr.parse(oddDns), reason("dhcpv6-bad-option"));
  // DHCPv6 has no checksum of its own: the UDP checksum covers it (see the stack tests).
});
