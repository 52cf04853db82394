// Unit tests for the single-lease DHCP server.

import assert from "node:assert/strict";
import { DhcpServer } from "./dhcp_server.ts";
import { DEFAULT_NETWORK_CONFIG } from "../config.ts";
import { DhcpMessageType, DhcpRepr } from "../wire/dhcp.ts";
import { parseIpv4 } from "../wire/ipv4_address.ts";
import { MalformedFrame } from "../wire/malformed.ts";

const CT = DEFAULT_NETWORK_CONFIG.containerAddress;
const GW = DEFAULT_NETWORK_CONFIG.gatewayAddress;

function message(type: number, extra: Partial<DhcpRepr> = {}): Uint8Array {
  const repr: DhcpRepr = {
    op: 1,
    xid: 42,
    secs: 0,
    flags: 0,
    ciaddr: 0,
    yiaddr: 0,
    siaddr: 0,
    giaddr: 0,
    clientMac: new Uint8Array([2, 0, 0, 0, 0, 2]),
    messageType: type,
    ...extra,
  };
  const bytes = new Uint8Array(DhcpRepr.bufferLen(repr));
  DhcpRepr.emit(repr, bytes);
  return bytes;
}

Deno.test("dhcp_server: acks a renewal by unicast to the client's address", () => {
  const server = new DhcpServer(DEFAULT_NETWORK_CONFIG, 600);
  const reply = server.handle(message(DhcpMessageType.REQUEST, { ciaddr: CT }))!;
  assert.equal(reply.dst, CT);
  const ack = DhcpRepr.parse(reply.message);
  assert.equal(ack.messageType, DhcpMessageType.ACK);
  assert.equal(ack.leaseTime, 600);
  assert.equal(ack.renewalTime, 300);
  assert.equal(ack.rebindingTime, 525);
});

Deno.test("dhcp_server: stays silent for another server, acks INFORM without a lease", () => {
  const server = new DhcpServer(DEFAULT_NETWORK_CONFIG);
  const other = message(DhcpMessageType.REQUEST, {
    requestedIp: CT,
    serverId: parseIpv4("192.168.1.1"),
  });
  assert.equal(server.handle(other), undefined);
  const inform = DhcpRepr.parse(
    server.handle(message(DhcpMessageType.INFORM, { ciaddr: CT }))!.message,
  );
  assert.equal(inform.messageType, DhcpMessageType.ACK);
  assert.equal(inform.yiaddr, 0);
  assert.equal(inform.leaseTime, undefined);
  assert.equal(inform.router, GW);
  assert.equal(server.handle(message(DhcpMessageType.RELEASE, { ciaddr: CT })), undefined);
  assert.equal(server.stats.ignored, 2);
});

Deno.test("dhcp_server: naks a request for a foreign address and throws on garbage", () => {
  const server = new DhcpServer(DEFAULT_NETWORK_CONFIG);
  const nak = server.handle(
    message(DhcpMessageType.REQUEST, { requestedIp: parseIpv4("10.1.1.1") }),
  )!;
  assert.equal(DhcpRepr.parse(nak.message).messageType, DhcpMessageType.NAK);
  assert.equal(nak.dst, 0xffffffff);
  assert.throws(() => server.handle(new Uint8Array(100)), MalformedFrame);
});
