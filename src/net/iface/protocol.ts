// The seam between the IPv4 layer and the transport protocols above it (TCP, UDP, ICMP).

/**
 * One datagram as delivered to a transport protocol. IPv4 addresses are
 * uint32 in host order; IPv6 addresses arrive as interned ids above 2^32
 * (wire/ipv6_address.ts), and a sender routes them back by that range.
 */
export interface Ipv4Datagram {
  /** Source address, e.g. 0x0a000f02 for 10.0.15.2. */
  readonly src: number;
  /** Destination address. */
  readonly dst: number;
  /** The IP protocol number (1 ICMP, 6 TCP, 17 UDP). */
  readonly protocol: number;
  /** Time to live as received. */
  readonly ttl: number;
  /** The transport header and payload: a view into the received frame, valid only during the call. */
  readonly payload: Uint8Array;
}

/** What the IPv4 layer offers a transport protocol for sending. */
export interface Ipv4Sender {
  /**
   * Sends `payload` (a complete transport header plus data, checksum already
   * filled in) from `src` to `dst`. The IP layer adds the header, resolves the
   * next hop and fragments if needed. The payload may be reused after the call. `gsoSize` > 0
   * marks a TCP segment larger than the MTU that goes whole, unfragmented, for the link to cut
   * into `gsoSize`-byte segments (TCP segmentation offload).
   */
  sendIpv4(
    src: number,
    dst: number,
    protocol: number,
    payload: Uint8Array,
    gsoSize?: number,
  ): void;
}

/**
 * A transport protocol attached to the IPv4 layer. Time is passed in as
 * milliseconds from an arbitrary monotonic origin; nothing here reads a clock.
 */
export interface TransportProtocol {
  /** Handles one datagram addressed to this protocol. Malformed input is counted and dropped, never thrown. */
  input(datagram: Ipv4Datagram, now: number): void;
  /** Runs timers that are due at `now`. */
  poll(now: number): void;
  /** The earliest time at which `poll` has work to do, or undefined when no timer is armed. */
  pollAt(): number | undefined;
}
