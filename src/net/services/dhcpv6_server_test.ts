// Tests for the gateway's DHCPv6 server: stateful exchanges, rapid commit, stateless, and discards.

import assert from "node:assert/strict";
import { Dhcpv6Server } from "./dhcpv6_server.ts";
import { DEFAULT_NETWORK_CONFIG } from "../config.ts";
import { Dhcpv6MessageType as T, Dhcpv6Repr, Dhcpv6Status } from "../wire/dhcpv6.ts";
import { formatIpv6, parseIpv6 } from "../wire/ipv6_address.ts";

const CLIENT = new Uint8Array([0, 3, 0, 1, 2, 0x50, 0, 0, 0x0f, 2]);

function msg(over: Partial<Dhcpv6Repr>): Uint8Array {
  return Dhcpv6Repr.emit({
    msgType: T.SOLICIT,
    transactionId: 0xabcdef,
    clientId: CLIENT,
    serverId: null,
    iaNa: [],
    requested: [23],
    rapidCommit: false,
    status: null,
    dnsServers: [],
    ...over,
  });
}

const IA = { iaid: 9, t1: 0, t2: 0, addresses: [], status: null };

Deno.test("dhcpv6 server: solicit, advertise, request, reply with the container's address", () => {
  const server = new Dhcpv6Server(DEFAULT_NETWORK_CONFIG);
  const adv = Dhcpv6Repr.parse(server.handle(msg({ iaNa: [IA] }))!);
  assert.equal(adv.msgType, T.ADVERTISE);
  assert.equal(adv.transactionId, 0xabcdef);
  assert.deepEqual(adv.clientId, CLIENT);
  assert.deepEqual(adv.serverId, server.duid);
  assert.equal(adv.iaNa.length, 1);
  assert.equal(adv.iaNa[0]!.iaid, 9);
  assert.equal(formatIpv6(adv.iaNa[0]!.addresses[0]!.address), "fd00:15::2");
  assert.deepEqual(adv.dnsServers.map(formatIpv6), ["fd00:15::1"]);
  const reply = Dhcpv6Repr.parse(
    server.handle(msg({ msgType: T.REQUEST, serverId: server.duid, iaNa: [IA] }))!,
  );
  assert.equal(reply.msgType, T.REPLY);
  assert.equal(formatIpv6(reply.iaNa[0]!.addresses[0]!.address), "fd00:15::2");
  assert.ok(reply.iaNa[0]!.t1 > 0 && reply.iaNa[0]!.t2 > reply.iaNa[0]!.t1);
});

Deno.test("dhcpv6 server: rapid commit answers a solicit with a reply", () => {
  const server = new Dhcpv6Server(DEFAULT_NETWORK_CONFIG);
  const r = Dhcpv6Repr.parse(server.handle(msg({ iaNa: [IA], rapidCommit: true }))!);
  assert.equal(r.msgType, T.REPLY);
  assert.ok(r.rapidCommit);
});

Deno.test("dhcpv6 server: stateless information-request gets the DNS server only", () => {
  const server = new Dhcpv6Server(DEFAULT_NETWORK_CONFIG);
  const r = Dhcpv6Repr.parse(server.handle(msg({ msgType: T.INFORMATION_REQUEST }))!);
  assert.equal(r.msgType, T.REPLY);
  assert.deepEqual(r.iaNa, []);
  assert.deepEqual(r.dnsServers.map(formatIpv6), ["fd00:15::1"]);
});

Deno.test("dhcpv6 server: confirm says whether addresses are on the link", () => {
  const server = new Dhcpv6Server(DEFAULT_NETWORK_CONFIG);
  const ia = (a: string) => [{
    ...IA,
    addresses: [{ address: parseIpv6(a), preferredLifetime: 0, validLifetime: 0 }],
  }];
  const on = Dhcpv6Repr.parse(server.handle(msg({ msgType: T.CONFIRM, iaNa: ia("fd00:15::2") }))!);
  assert.equal(on.status?.code, Dhcpv6Status.SUCCESS);
  const off = Dhcpv6Repr.parse(
    server.handle(msg({ msgType: T.CONFIRM, iaNa: ia("2001:db8::2") }))!,
  );
  assert.equal(off.status?.code, Dhcpv6Status.NOT_ON_LINK);
});

Deno.test("dhcpv6 server: discards messages for other servers or without a client id", () => {
  const server = new Dhcpv6Server(DEFAULT_NETWORK_CONFIG);
  const other = new Uint8Array([0, 3, 0, 1, 1, 2, 3, 4, 5, 6]);
  assert.equal(server.handle(msg({ msgType: T.REQUEST, serverId: other, iaNa: [IA] })), undefined);
  assert.equal(server.handle(msg({ msgType: T.RENEW, serverId: null })), undefined);
  assert.equal(server.handle(msg({ clientId: null })), undefined);
  assert.equal(server.handle(msg({ serverId: server.duid })), undefined);
  assert.equal(server.handle(msg({ msgType: T.ADVERTISE })), undefined);
  const rel = Dhcpv6Repr.parse(server.handle(msg({ msgType: T.RELEASE, serverId: server.duid }))!);
  assert.equal(rel.status?.code, Dhcpv6Status.SUCCESS);
});
