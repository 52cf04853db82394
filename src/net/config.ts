// The network's addressing and policy: defaults, validation and the container-to-host destination mapping.

import { parseMac } from "./wire/ethernet.ts";
import {
  formatIpv6,
  ipv6Equals,
  ipv6FromId,
  ipv6InPrefix,
  isIpv6GlobalUnicast,
  parseIpv6,
} from "./wire/ipv6_address.ts";
import {
  formatIpv4,
  IPV4_BROADCAST,
  isMulticast,
  parseIpv4,
  prefixToMask,
} from "./wire/ipv4_address.ts";

/** Everything the stack needs to know about its one link. Addresses are uint32 in host order. */
export interface NetworkConfig {
  /** The container's address, 10.0.15.2 by default. */
  readonly containerAddress: number;
  /** The prefix length of the link, 30 by default. */
  readonly prefixLength: number;
  /** The gateway address the stack answers as, 10.0.15.1 by default. */
  readonly gatewayAddress: number;
  /** The MAC the stack uses for the gateway. */
  readonly gatewayMac: Uint8Array;
  /** The MAC the container's eth0 should be given (the stack still learns the real one by ARP). */
  readonly containerMac: Uint8Array;
  /** The link MTU: the largest IPv4 datagram sent without fragmenting. 65520 by default. */
  readonly mtu: number;
  /**
   * Upstream resolvers for the gateway's DNS as `ADDR[:PORT]` (IPv4). Empty
   * means: read the nameservers of /etc/resolv.conf.
   */
  readonly dnsUpstreams: readonly string[];
  /** When true, the gateway address does not lead to the host's 127.0.0.1: such flows are refused. */
  readonly disableHostLoopback: boolean;
  /** The container's IPv6 address, fd00:15::2 by default (16 bytes). */
  readonly containerAddress6: Uint8Array;
  /** The gateway's IPv6 address, fd00:15::1 by default; it leads to the host's ::1. */
  readonly gatewayAddress6: Uint8Array;
  /** The IPv6 prefix length of the link, 64 by default (SLAAC needs 64: RFC 4862 section 5.5.3). */
  readonly prefixLength6: number;
}

/** The defaults: 10.0.15.2/30 behind 10.0.15.1, MTU 65520, host loopback reachable. */
export const DEFAULT_NETWORK_CONFIG: NetworkConfig = Object.freeze({
  containerAddress: parseIpv4("10.0.15.2"),
  prefixLength: 30,
  gatewayAddress: parseIpv4("10.0.15.1"),
  gatewayMac: parseMac("02:50:00:00:0f:01"),
  containerMac: parseMac("02:50:00:00:0f:02"),
  mtu: 65520,
  dnsUpstreams: [],
  disableHostLoopback: false,
  containerAddress6: parseIpv6("fd00:15::2"),
  gatewayAddress6: parseIpv6("fd00:15::1"),
  prefixLength6: 64,
});

/** The smallest MTU an IPv4 link may have (RFC 791 section 3.2: 68). */
export const MIN_MTU = 68;
/** The largest MTU: an IPv4 total length is 16 bits. */
export const MAX_MTU = 65535;

/**
 * Returns the defaults with `overrides` applied, validated. Throws a
 * `RangeError` naming the field when a value is out of range.
 *
 * @example
 * ```ts
 * import { networkConfig } from "./config.ts";
 * const config = networkConfig({ mtu: 1500, disableHostLoopback: true });
 * console.assert(config.mtu === 1500);
 * ```
 */
export function networkConfig(overrides: Partial<NetworkConfig> = {}): NetworkConfig {
  const c: NetworkConfig = { ...DEFAULT_NETWORK_CONFIG, ...overrides };
  if (!Number.isInteger(c.mtu) || c.mtu < MIN_MTU || c.mtu > MAX_MTU) {
    throw new RangeError(`MTU out of range ${MIN_MTU}..${MAX_MTU}: "${c.mtu}"`);
  }
  const mask = prefixToMask(c.prefixLength);
  if (c.prefixLength > 30) {
    throw new RangeError(`Prefix too long for two hosts: "${c.prefixLength}"`);
  }
  if (((c.containerAddress & mask) >>> 0) !== ((c.gatewayAddress & mask) >>> 0)) {
    throw new RangeError(
      `Gateway "${formatIpv4(c.gatewayAddress)}" is not on the container's subnet "${
        formatIpv4(c.containerAddress)
      }/${c.prefixLength}"`,
    );
  }
  if (c.containerAddress === c.gatewayAddress) {
    throw new RangeError(
      `Container and gateway share the address "${formatIpv4(c.gatewayAddress)}"`,
    );
  }
  if (
    c.prefixLength6 < 1 || c.prefixLength6 > 126 ||
    !ipv6InPrefix(c.gatewayAddress6, c.containerAddress6, c.prefixLength6) ||
    ipv6Equals(c.gatewayAddress6, c.containerAddress6)
  ) {
    throw new RangeError(
      `Gateway "${
        formatIpv6(c.gatewayAddress6)
      }" is not another address on the container's subnet "${
        formatIpv6(c.containerAddress6)
      }/${c.prefixLength6}"`,
    );
  }
  if (c.gatewayMac.length !== 6 || c.containerMac.length !== 6) {
    throw new RangeError("MAC addresses must be 6 bytes");
  }
  return c;
}

/** The subnet mask of the link. */
export function subnetMask(config: NetworkConfig): number {
  return prefixToMask(config.prefixLength);
}

/** The directed broadcast address of the link (10.0.15.3 for the defaults). */
export function subnetBroadcast(config: NetworkConfig): number {
  return (config.containerAddress | ~subnetMask(config)) >>> 0;
}

/** True when `ip` is on the link (network, hosts or broadcast of the container's subnet). */
export function onLink(config: NetworkConfig, ip: number): boolean {
  const mask = subnetMask(config);
  return ((ip & mask) >>> 0) === ((config.containerAddress & mask) >>> 0);
}

/**
 * True when `ip` can be the destination of a flow that leaves the link:
 * unicast, outside the container's subnet, not 0/8, 127/8, multicast or
 * the reserved 240/4 (RFC 1122 section 3.2.1.3, RFC 5735).
 */
export function isRoutable(config: NetworkConfig, ip: number): boolean {
  const first = ip >>> 24;
  if (first === 0 || first === 127 || isMulticast(ip) || first >= 240) return false;
  return !onLink(config, ip);
}

/**
 * Maps a destination the container used to the host address to connect to,
 * as a string for `Deno.connect`/`Deno.listenDatagram` sends, or null when
 * the flow must be refused. The gateway is the host's loopback (127.0.0.1)
 * unless `disableHostLoopback`; routable addresses are used as they are;
 * everything else (other addresses on the link, loopback, multicast,
 * broadcast) is refused. Interned IPv6 ids go to {@link mapDestination6}.
 *
 * @example
 * ```ts
 * import { DEFAULT_NETWORK_CONFIG, mapDestination } from "./config.ts";
 * import { parseIpv4 } from "./wire/ipv4_address.ts";
 * console.assert(mapDestination(DEFAULT_NETWORK_CONFIG, parseIpv4("10.0.15.1")) === "127.0.0.1");
 * console.assert(mapDestination(DEFAULT_NETWORK_CONFIG, parseIpv4("1.1.1.1")) === "1.1.1.1");
 * ```
 */
export function mapDestination(config: NetworkConfig, ip: number): string | null {
  const v6 = ipv6FromId(ip);
  if (v6 !== undefined) return mapDestination6(config, v6);
  if (ip === config.gatewayAddress) return config.disableHostLoopback ? null : "127.0.0.1";
  if (ip === IPV4_BROADCAST || !isRoutable(config, ip)) return null;
  return formatIpv4(ip);
}

/**
 * The IPv6 side of {@link mapDestination}: the gateway (fd00:15::1) is the
 * host's `::1` unless `disableHostLoopback`; global unicast addresses off the
 * link are used as they are; the rest is refused (null).
 *
 * @example
 * ```ts
 * import { DEFAULT_NETWORK_CONFIG, mapDestination6 } from "./config.ts";
 * import { parseIpv6 } from "./wire/ipv6_address.ts";
 * console.assert(mapDestination6(DEFAULT_NETWORK_CONFIG, parseIpv6("fd00:15::1")) === "::1");
 * console.assert(mapDestination6(DEFAULT_NETWORK_CONFIG, parseIpv6("fd00:15::9")) === null);
 * ```
 */
export function mapDestination6(config: NetworkConfig, ip: Uint8Array): string | null {
  if (ipv6Equals(ip, config.gatewayAddress6)) return config.disableHostLoopback ? null : "::1";
  if (!isIpv6GlobalUnicast(ip)) return null;
  if (ipv6InPrefix(ip, config.containerAddress6, config.prefixLength6)) return null;
  return formatIpv6(ip);
}
