// Tests for the network configuration and destination policy.

import assert from "node:assert/strict";
import { ipv6Id, parseIpv6 } from "./wire/ipv6_address.ts";
import {
  DEFAULT_NETWORK_CONFIG,
  isRoutable,
  mapDestination,
  networkConfig,
  subnetBroadcast,
} from "./config.ts";
import { formatIpv4, parseIpv4 } from "./wire/ipv4_address.ts";

Deno.test("config: defaults match the seed's addressing", () => {
  const c = DEFAULT_NETWORK_CONFIG;
  assert.equal(formatIpv4(c.containerAddress), "10.0.15.2");
  assert.equal(formatIpv4(c.gatewayAddress), "10.0.15.1");
  assert.equal(c.prefixLength, 30);
  assert.equal(c.mtu, 65520);
  assert.equal(formatIpv4(subnetBroadcast(c)), "10.0.15.3");
});

Deno.test("config: rejects out-of-range values", () => {
  assert.throws(() => networkConfig({ mtu: 67 }), RangeError);
  assert.throws(() => networkConfig({ mtu: 70000 }), RangeError);
  assert.throws(() => networkConfig({ gatewayAddress: parseIpv4("10.0.16.1") }), RangeError);
  assert.equal(networkConfig({ mtu: 1500 }).mtu, 1500);
});

Deno.test("config: maps the gateway to host loopback unless disabled", () => {
  const gw = parseIpv4("10.0.15.1");
  assert.equal(mapDestination(DEFAULT_NETWORK_CONFIG, gw), "127.0.0.1");
  assert.equal(mapDestination(networkConfig({ disableHostLoopback: true }), gw), null);
});

Deno.test("config: passes routable destinations and refuses the rest", () => {
  const c = DEFAULT_NETWORK_CONFIG;
  assert.equal(mapDestination(c, parseIpv4("93.184.216.34")), "93.184.216.34");
  for (const bad of ["127.0.0.1", "0.1.2.3", "224.0.0.251", "255.255.255.255", "10.0.15.3"]) {
    assert.equal(mapDestination(c, parseIpv4(bad)), null, bad);
    assert.equal(isRoutable(c, parseIpv4(bad)), false, bad);
  }
});

Deno.test("config: maps the IPv6 gateway to the host's ::1 and global addresses as they are", () => {
  const gw6 = ipv6Id(DEFAULT_NETWORK_CONFIG.gatewayAddress6)!;
  assert.equal(mapDestination(DEFAULT_NETWORK_CONFIG, gw6), "::1");
  const off = networkConfig({ disableHostLoopback: true });
  assert.equal(mapDestination(off, gw6), null);
  assert.equal(
    mapDestination(DEFAULT_NETWORK_CONFIG, ipv6Id(parseIpv6("2001:db8::5"))!),
    "2001:db8::5",
  );
  for (
    const refused of ["fd00:15::2", "fd00:15::77", "::1", "fe80::1", "ff02::1", "::ffff:1.2.3.4"]
  ) {
    assert.equal(
      mapDestination(DEFAULT_NETWORK_CONFIG, ipv6Id(parseIpv6(refused))!),
      null,
      refused,
    );
  }
});

Deno.test("config: refuses an IPv6 gateway off the container's prefix", () => {
  assert.throws(() => networkConfig({ gatewayAddress6: parseIpv6("fd00:16::1") }), RangeError);
  assert.throws(() => networkConfig({ prefixLength6: 0 }), RangeError);
});
