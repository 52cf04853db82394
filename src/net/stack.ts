// The composition root of the network stack: interface, IPv4, IPv6, ICMP, ICMPv6, UDP and the gateway's services.
//
// Theory of operation: the host-side driver owns the I/O. It hands every
// frame read from the TAP to `receive(frame, now)`, writes every frame given
// to `send` to the TAP (at once: the buffer is reused after `send` returns),
// and calls `poll(now)` when the time returned by `pollAt()` comes. Time is
// milliseconds from any monotonic origin, passed in; the stack never reads
// a clock. Hooks bring the outside world in: a UDP forwarder (the host bridge),
// an ICMP echo hook and a DNS resolver; their replies may arrive at any time
// and are sent at once, stamped with the latest time the stack has seen.
// `receive` never throws: malformed frames are counted by reason.
//
// IPv6 runs beside IPv4 on the same interface: its own layer (neighbour
// cache, ICMPv6 with NDP and router advertisements, DHCPv6) but the same TCP
// and UDP objects, which see IPv6 addresses as interned ids above 2^32
// (wire/ipv6_address.ts); `ipv4` routes their output by that range.

import { DEFAULT_NETWORK_CONFIG, type NetworkConfig } from "./config.ts";
import { Counters, type CounterSnapshot } from "./iface/counters.ts";
import { type IcmpEchoHook, IcmpProtocol } from "./iface/icmp.ts";
import { Interface } from "./iface/interface.ts";
import { Ipv4Layer } from "./iface/ipv4.ts";
import { Ipv6Layer } from "./iface/ipv6.ts";
import { Icmpv6Protocol } from "./iface/icmpv6.ts";
import type { Ipv4Datagram, Ipv4Sender, TransportProtocol } from "./iface/protocol.ts";
import type { ReassemblyLimits } from "./iface/reassembly.ts";
import { type UdpDatagram, type UdpForwarder, UdpProtocol } from "./iface/udp.ts";
import { DHCP_CLIENT_PORT, DHCP_SERVER_PORT, DhcpServer } from "./services/dhcp_server.ts";
import { Dhcpv6Server } from "./services/dhcpv6_server.ts";
import { DHCPV6_CLIENT_PORT, DHCPV6_SERVER_PORT } from "./wire/dhcpv6.ts";
import { buildServfail } from "./wire/dns.ts";
import { IpProtocol } from "./wire/ipv4.ts";
import { Icmpv6UnreachableCode } from "./wire/icmpv6.ts";
import { UnreachableCode } from "./wire/icmpv4.ts";
import { isIpv6Id } from "./wire/ipv6_address.ts";
import { MalformedFrame } from "./wire/malformed.ts";

/** The DNS port the gateway answers on. */
export const DNS_PORT = 53;

/** Something that resolves a DNS query, e.g. `DnsForwarder`. */
export interface DnsResolver {
  /** Returns the reply to `query` (a SERVFAIL when upstreams fail). */
  forwardQuery(query: Uint8Array): Promise<Uint8Array>;
}

/** The outside world as the stack sees it; every hook is optional. */
export interface NetworkHooks {
  /** Carries UDP flows to host sockets; without it, UDP to the outside is refused. */
  readonly udp?: UdpForwarder;
  /** Answers echo requests to hosts other than the gateway; without it they are refused. */
  readonly icmpEcho?: IcmpEchoHook;
  /** Answers DNS queries to the gateway; without it they get SERVFAIL. */
  readonly dns?: DnsResolver;
}

/** Options for {@link NetworkStack}. */
export interface NetworkStackOptions {
  /** Addressing and policy; the defaults when absent. */
  readonly config?: NetworkConfig;
  /** Writes one frame to the link; the frame is valid only during the call. */
  readonly send: (frame: Uint8Array) => void;
  /** The outside world. */
  readonly hooks?: NetworkHooks;
  /** Reassembly limits (defaults: 64 datagrams, 4 MiB, 30 s). */
  readonly reassembly?: ReassemblyLimits;
  /** DHCP lease time in seconds. */
  readonly leaseSeconds?: number;
}

/** Counters for the debug dump: events, drops by reason, and current usage. */
export interface StackCounters extends CounterSnapshot {
  /** Partial datagrams waiting for fragments. */
  readonly reassemblyDatagrams: number;
  /** Bytes those hold. */
  readonly reassemblyBytes: number;
}

/**
 * The userspace TCP/IP stack for one container link.
 *
 * @example
 * ```ts
 * import { NetworkStack } from "./stack.ts";
 * const sent: Uint8Array[] = [];
 * const stack = new NetworkStack({ send: (frame) => sent.push(frame.slice()) });
 * stack.receive(new Uint8Array(10), 0); // too short: counted, not thrown
 * console.assert(stack.counters().drops["eth-truncated"] === 1);
 * stack.close();
 * ```
 */
export class NetworkStack {
  /** The configuration in use. */
  readonly config: NetworkConfig;
  /**
   * The sender that transport protocols (TCP) use: IPv4, or IPv6 when the
   * addresses are interned IPv6 ids (wire/ipv6_address.ts).
   */
  readonly ipv4: Ipv4Sender;
  /** ICMPv6: echo, neighbour discovery and router advertisements for the gateway. */
  readonly icmp6: Icmpv6Protocol;
  /** The UDP protocol, e.g. to bind more gateway services. */
  readonly udp: UdpProtocol;
  /** The ICMP protocol. */
  readonly icmp: IcmpProtocol;
  /** The DHCP server bound to gateway port 67. */
  readonly dhcp: DhcpServer;
  /** The DHCPv6 server bound to gateway port 547 (and ff02::1:2). */
  readonly dhcp6: Dhcpv6Server;
  private readonly stats = new Counters();
  private readonly iface: Interface;
  private readonly ip: Ipv4Layer;
  private readonly ip6: Ipv6Layer;
  private readonly dns: DnsResolver | undefined;
  private closed = false;

  /** Builds the stack; nothing is sent until a frame arrives or a hook delivers. */
  constructor(options: NetworkStackOptions) {
    const config = options.config ?? DEFAULT_NETWORK_CONFIG;
    this.config = config;
    const send = options.send;
    this.iface = new Interface(
      config,
      (frame) => {
        if (!this.closed) send(frame);
      },
      this.stats,
      (packet, srcMac, now) => this.ip.input(packet, srcMac, now),
    );
    this.ip = new Ipv4Layer(config, this.iface, this.stats, options.reassembly);
    this.ip6 = new Ipv6Layer(config, this.iface, this.stats);
    this.iface.ipv6Input = (packet, srcMac, now) => this.ip6.input(packet, srcMac, now);
    this.icmp6 = new Icmpv6Protocol(config, this.ip6, this.stats);
    this.ip6.icmp = this.icmp6;
    const ip = this.ip;
    const ip6 = this.ip6;
    this.ipv4 = {
      sendIpv4: (...args: Parameters<Ipv4Sender["sendIpv4"]>) =>
        isIpv6Id(args[1]) ? ip6.sendIpv4(...args) : ip.sendIpv4(...args),
    };
    const hooks = options.hooks ?? {};
    this.icmp = new IcmpProtocol(config, this.ip, this.stats, hooks.icmpEcho);
    this.ip.icmp = this.icmp;
    const icmp = this.icmp;
    const icmp6 = this.icmp6;
    const errors = {
      destinationUnreachable: (d: Ipv4Datagram, code: number) =>
        isIpv6Id(d.src)
          ? icmp6.unreachable(
            d,
            code === UnreachableCode.PORT
              ? Icmpv6UnreachableCode.PORT
              : Icmpv6UnreachableCode.ADMIN_PROHIBITED,
          )
          : icmp.destinationUnreachable(d, code),
    };
    this.udp = new UdpProtocol(config, this.ipv4, errors, this.stats, hooks.udp);
    this.udp.gatewayIds6.add(this.ip6.gatewayId).add(this.ip6.gatewayLinkLocalId);
    this.udp.gatewayIds6.add(this.ip6.allDhcpServersId);
    this.ip.register(IpProtocol.ICMP, this.icmp);
    this.ip.register(IpProtocol.UDP, this.udp);
    this.ip6.register(IpProtocol.UDP, this.udp);
    this.dhcp = new DhcpServer(config, options.leaseSeconds);
    this.dns = hooks.dns;
    this.udp.bind(DHCP_SERVER_PORT, (d) => this.dhcpInput(d));
    this.udp.bind(DNS_PORT, (d) => this.dnsInput(d));
    this.dhcp6 = new Dhcpv6Server(config);
    this.udp.bind(DHCPV6_SERVER_PORT, (d) => this.dhcp6Input(d));
  }

  /** Handles one frame from the link. Never throws: bad frames are counted as drops. */
  receive(frame: Uint8Array, now: number): void {
    if (this.closed) return;
    if (now > this.ip.now) this.ip.now = now;
    if (now > this.ip6.now) this.ip6.now = now;
    this.stats.count("rx-frames");
    try {
      this.iface.receive(frame, now);
    } catch (e) {
      this.stats.drop(e instanceof MalformedFrame ? e.reason : "internal-error");
    }
  }

  /** Runs every timer due at `now` (ARP retries, reassembly, protocol timers, hook timeouts). */
  poll(now: number): void {
    if (this.closed) return;
    if (now > this.ip.now) this.ip.now = now;
    if (now > this.ip6.now) this.ip6.now = now;
    try {
      this.iface.poll(now);
      this.ip.poll(now);
      this.ip6.poll(now);
      this.icmp6.poll(now);
    } catch {
      this.stats.drop("internal-error");
    }
  }

  /** The earliest time `poll` has work, or undefined when no timer is armed. */
  pollAt(): number | undefined {
    if (this.closed) return undefined;
    return earliest(
      earliest(this.iface.pollAt(), this.ip.pollAt()),
      earliest(this.ip6.pollAt(), this.icmp6.pollAt()),
    );
  }

  /**
   * Attaches a transport protocol (TCP is 6), replacing any earlier one for
   * that number; TCP also gets IPv6 segments, with interned addresses.
   */
  registerProtocol(n: number, protocol: TransportProtocol): void {
    this.ip.register(n, protocol);
    if (n === IpProtocol.TCP) this.ip6.register(n, protocol);
  }

  /** A copy of every counter, for a debug dump. */
  counters(): StackCounters {
    const usage = this.ip.reassemblyUsage();
    return {
      ...this.stats.snapshot(),
      reassemblyDatagrams: usage.datagrams,
      reassemblyBytes: usage.bytes,
    };
  }

  /**
   * Stops the stack: later frames and hook replies are ignored and queues are
   * dropped. Hooks are owned by the caller, who closes them.
   */
  close(): void {
    this.closed = true;
    this.iface.clear();
    this.ip.clear();
    this.ip6.clear();
  }

  private dhcpInput(d: UdpDatagram): void {
    if (isIpv6Id(d.src)) {
      this.stats.drop("dhcp-over-ipv6");
      return;
    }
    let reply;
    try {
      reply = this.dhcp.handle(d.payload);
    } catch (e) {
      this.stats.drop(e instanceof MalformedFrame ? e.reason : "internal-error");
      return;
    }
    if (reply === undefined) return;
    this.stats.count("dhcp-replies");
    this.udp.deliver({
      src: this.config.gatewayAddress,
      srcPort: DHCP_SERVER_PORT,
      dst: reply.dst,
      dstPort: DHCP_CLIENT_PORT,
      payload: reply.message,
    });
  }

  private dhcp6Input(d: UdpDatagram): void {
    if (!isIpv6Id(d.src)) {
      this.stats.drop("dhcpv6-over-ipv4");
      return;
    }
    let reply;
    try {
      reply = this.dhcp6.handle(d.payload);
    } catch (e) {
      this.stats.drop(e instanceof MalformedFrame ? e.reason : "internal-error");
      return;
    }
    if (reply === undefined) {
      this.stats.drop("dhcpv6-discarded");
      return;
    }
    this.stats.count("dhcpv6-replies");
    // RFC 8415 section 18.3: the reply goes to the client's address and port 546.
    this.udp.deliver({
      src: this.ip6.gatewayLinkLocalId,
      srcPort: DHCPV6_SERVER_PORT,
      dst: d.src,
      dstPort: DHCPV6_CLIENT_PORT,
      payload: reply,
    });
  }

  private dnsInput(d: UdpDatagram): void {
    if (
      d.dst !== this.config.gatewayAddress && d.dst !== this.ip6.gatewayId &&
      d.dst !== this.ip6.gatewayLinkLocalId
    ) {
      this.stats.drop("dns-broadcast");
      return;
    }
    const query = d.payload.slice();
    const back = (reply: Uint8Array) =>
      this.udp.deliver({
        src: d.dst,
        srcPort: d.dstPort,
        dst: d.src,
        dstPort: d.srcPort,
        payload: reply,
      });
    let servfail: Uint8Array;
    try {
      servfail = buildServfail(query);
    } catch (e) {
      this.stats.drop(e instanceof MalformedFrame ? e.reason : "internal-error");
      return;
    }
    if (this.dns === undefined) {
      this.stats.count("dns-servfail");
      back(servfail);
      return;
    }
    this.stats.count("dns-queries");
    this.dns.forwardQuery(query).then(
      (reply) => {
        if (!this.closed) back(reply);
      },
      () => {
        this.stats.count("dns-servfail");
        if (!this.closed) back(servfail);
      },
    );
  }
}

function earliest(a: number | undefined, b: number | undefined): number | undefined {
  if (a === undefined) return b;
  return b === undefined || a < b ? a : b;
}
