// Tests for BOOTP/DHCP messages and options.

import assert from "node:assert/strict";
import { DHCP_FLAG_BROADCAST, DhcpMessageType, DhcpRepr } from "./dhcp.ts";
import { formatIpv4, parseIpv4 } from "./ipv4_address.ts";
import { MalformedFrame } from "./malformed.ts";
import { hex, toHex } from "./_test_util.ts";

// A DISCOVER from 02:00:00:00:00:02, xid 0x11223344, broadcast flag, asking for 1,3,6,26.
const DISCOVER = hex(
  "01 01 06 00 11223344 0000 8000 00000000 00000000 00000000 00000000" +
    "020000000002" + "00".repeat(10) + // chaddr
    "00".repeat(64 + 128) + // sname, file
    "63825363" + // cookie
    "350101" + "3704 01 03 06 1a" + "ff",
);

Deno.test("dhcp: parses a discover", () => {
  const r = DhcpRepr.parse(DISCOVER);
  assert.equal(r.op, 1);
  assert.equal(r.xid, 0x11223344);
  assert.equal(r.flags, DHCP_FLAG_BROADCAST);
  assert.equal(r.messageType, DhcpMessageType.DISCOVER);
  assert.equal(toHex(r.clientMac), "020000000002");
  assert.deepEqual([...r.parameterRequestList!], [1, 3, 6, 26]);
});

Deno.test("dhcp: builds an ack that round-trips", () => {
  const repr: DhcpRepr = {
    op: 2,
    xid: 0x11223344,
    secs: 0,
    flags: 0,
    ciaddr: 0,
    yiaddr: parseIpv4("10.0.15.2"),
    siaddr: 0,
    giaddr: 0,
    clientMac: new Uint8Array([2, 0, 0, 0, 0, 2]),
    messageType: DhcpMessageType.ACK,
    serverId: parseIpv4("10.0.15.1"),
    leaseTime: 86400,
    subnetMask: parseIpv4("255.255.255.252"),
    router: parseIpv4("10.0.15.1"),
    dnsServers: [parseIpv4("10.0.15.1")],
    mtu: 65520,
  };
  const buf = new Uint8Array(DhcpRepr.bufferLen(repr));
  assert.equal(DhcpRepr.emit(repr, buf), 300);
  // The options, byte for byte.
  assert.equal(
    toHex(buf.subarray(236, 240 + 38)),
    "63825363" + "350105" + "36040a000f01" + "330400015180" + "0104fffffffc" + "03040a000f01" +
      "06040a000f01" + "1a02fff0" + "ff",
  );
  const back = DhcpRepr.parse(buf);
  assert.deepEqual(back, repr);
  assert.equal(formatIpv4(back.yiaddr), "10.0.15.2");
});

Deno.test("dhcp: rejects a bad magic cookie", () => {
  const bad = DISCOVER.slice();
  bad[236] = 0;
  assert.throws(() => DhcpRepr.parse(bad), /dhcp-bad-cookie/);
});

Deno.test("dhcp: rejects truncated messages and options", () => {
  assert.throws(() => DhcpRepr.parse(DISCOVER.subarray(0, 239)), MalformedFrame);
  // Cut inside the parameter request list.
  assert.throws(() => DhcpRepr.parse(DISCOVER.subarray(0, 246)), /dhcp-bad-option/);
  // No message type: plain BOOTP is not served.
  const bootp = DISCOVER.slice(0, 241);
  bootp[240] = 0xff;
  assert.throws(() => DhcpRepr.parse(bootp), /dhcp-bad-message-type/);
});
