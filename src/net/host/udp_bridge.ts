// The bridge from container UDP flows to host UDP sockets, one ephemeral host socket per flow.
//
// Theory of operation: a flow is the container's (address, port) talking to
// one destination (address, port). Its first datagram opens a host socket
// on 0.0.0.0:0, or [::]:0 for IPv6 (an FFI socket with IP_RECVERR, see
// udp_socket.ts), and every datagram of the flow is sent from it to the mapped
// destination (`mapDestination`: the gateway is the host's 127.0.0.1, or ::1
// over IPv6, unless host loopback is disabled; refused destinations get an
// ICMP port unreachable). Whatever arrives on that socket goes back to the container
// as coming from the destination it used (a reply from another address is
// passed on with that address). Flows idle for `idleTimeoutMs` are closed in
// `poll`, on the stack's clock; at most `maxFlows` are open, the least
// recently used being closed to make room. Time is the stack's: the bridge
// keeps the latest `now` it was given for activity on replies.

import { createSocket, type RemoteInfo, type UdpSocket } from "./udp_socket.ts";
import { mapDestination, type NetworkConfig } from "../config.ts";
import type { UdpDatagram, UdpForwarder, UdpSink } from "../iface/udp.ts";
import { tryParseIpv4 } from "../wire/ipv4_address.ts";
import { ipv6Id, isIpv6Id, tryParseIpv6 } from "../wire/ipv6_address.ts";

/** Options for {@link UdpBridge}. */
export interface UdpBridgeOptions {
  /** The address policy. */
  readonly config: NetworkConfig;
  /** Idle time after which a flow's socket is closed, in ms (default 60 s). */
  readonly idleTimeoutMs?: number;
  /** Flows open at once (default 1024). */
  readonly maxFlows?: number;
}

/** The default idle timeout of a flow. */
export const DEFAULT_UDP_IDLE_MS = 60_000;
/** The default cap on open flows. */
export const DEFAULT_UDP_MAX_FLOWS = 1024;

interface Flow {
  readonly key: string;
  readonly socket: UdpSocket;
  /** The last datagram sent, for the ICMP error when the host refuses it. */
  last: UdpDatagram | null;
  readonly containerIp: number;
  readonly containerPort: number;
  readonly remoteIp: number;
  readonly remotePort: number;
  readonly hostname: string;
  lastActive: number;
  closed: Promise<void>;
}

/** Event counters of the bridge. */
export interface UdpBridgeStats {
  /** Flows opened. */
  opened: number;
  /** Flows closed for idleness. */
  expired: number;
  /** Flows closed to respect the cap. */
  evicted: number;
  /** Datagrams refused by policy or by the host. */
  refused: number;
  /** Datagrams sent to the host. */
  sent: number;
  /** Datagrams received from the host. */
  received: number;
  /** Send or socket errors. */
  errors: number;
}

/** Carries the container's UDP flows over host sockets; a `UdpForwarder` for the stack. */
export class UdpBridge implements UdpForwarder {
  /** Counters for the debug dump. */
  readonly stats: UdpBridgeStats = {
    opened: 0,
    expired: 0,
    evicted: 0,
    refused: 0,
    sent: 0,
    received: 0,
    errors: 0,
  };
  private readonly config: NetworkConfig;
  private readonly idleMs: number;
  private readonly maxFlows: number;
  /** Flows in least-recently-used order (Map keeps insertion order). */
  private readonly flows = new Map<string, Flow>();
  private sink: UdpSink | null = null;
  private lastNow = 0;
  private closed = false;
  private readonly closing = new Set<Promise<void>>();

  /** Creates the bridge; the stack attaches itself when given the bridge as its `udp` hook. */
  constructor(options: UdpBridgeOptions) {
    this.config = options.config;
    this.idleMs = options.idleTimeoutMs ?? DEFAULT_UDP_IDLE_MS;
    this.maxFlows = options.maxFlows ?? DEFAULT_UDP_MAX_FLOWS;
  }

  /** Flows open now. */
  get flowCount(): number {
    return this.flows.size;
  }

  /** UdpForwarder: remembers the way back to the container. */
  attach(sink: UdpSink): void {
    this.sink = sink;
  }

  /** UdpForwarder: sends one container datagram out of its flow's host socket. */
  forward(d: UdpDatagram, now: number): void {
    if (now > this.lastNow) this.lastNow = now;
    if (this.closed) return;
    const hostname = mapDestination(this.config, d.dst);
    if (hostname === null) {
      this.stats.refused++;
      this.sink?.refused(d);
      return;
    }
    const key = `${d.src}:${d.srcPort}>${d.dst}:${d.dstPort}`;
    let flow = this.flows.get(key);
    if (flow === undefined) {
      flow = this.open(key, d, hostname);
      if (flow === undefined) return;
    } else {
      this.flows.delete(key);
      this.flows.set(key, flow);
    }
    flow.lastActive = this.lastNow;
    const copy: UdpDatagram = { ...d, payload: d.payload.slice() };
    flow.last = copy;
    try {
      flow.socket.send(copy.payload, d.dstPort, hostname, (err) => {
        if (err === null || err === undefined) {
          this.stats.sent++;
        } else if ((err as { code?: string }).code === "ECONNREFUSED") {
          this.stats.refused++;
          this.sink?.refused(copy);
        } else {
          this.stats.errors++;
        }
      });
    } catch {
      this.stats.errors++;
    }
  }

  /** UdpForwarder: closes flows idle since `now - idleTimeoutMs`. */
  poll(now: number): void {
    if (now > this.lastNow) this.lastNow = now;
    for (const flow of this.flows.values()) {
      if (flow.lastActive + this.idleMs > now) break;
      this.stats.expired++;
      this.drop(flow);
    }
  }

  /** UdpForwarder: when the least recently used flow goes idle. */
  pollAt(): number | undefined {
    const first = this.flows.values().next();
    return first.done ? undefined : first.value.lastActive + this.idleMs;
  }

  /** Closes every host socket and waits until they are closed. */
  async close(): Promise<void> {
    this.closed = true;
    await Promise.all([...this.flows.values()].map((f) => this.drop(f)));
    await Promise.all(this.closing);
    this.closing.clear();
  }

  private open(key: string, d: UdpDatagram, hostname: string): Flow | undefined {
    while (this.flows.size >= this.maxFlows) {
      const oldest = this.flows.values().next();
      if (oldest.done) break;
      this.stats.evicted++;
      this.drop(oldest.value);
    }
    let socket: UdpSocket;
    try {
      socket = createSocket(isIpv6Id(d.dst) ? "udp6" : "udp4");
    } catch {
      this.stats.errors++;
      return undefined;
    }
    let resolveClosed = () => {};
    const flow: Flow = {
      key,
      socket,
      last: null,
      containerIp: d.src,
      containerPort: d.srcPort,
      remoteIp: d.dst,
      remotePort: d.dstPort,
      hostname,
      lastActive: this.lastNow,
      closed: new Promise<void>((r) => resolveClosed = r),
    };
    socket.on("close", () => resolveClosed());
    // RFC 1122 4.1.3.3: a port unreachable from the host goes back to the container as one.
    socket.on("refused", () => {
      if (flow.last === null || this.flows.get(flow.key) !== flow) return;
      this.stats.refused++;
      this.sink?.refused(flow.last);
    });
    socket.on("error", () => {
      this.stats.errors++;
      this.drop(flow);
    });
    socket.on(
      "message",
      (data: Uint8Array, from: RemoteInfo) => this.onMessage(flow, data, from),
    );
    // Bound at once so that the first send goes from the wildcard address on an ephemeral port.
    socket.bind(0, isIpv6Id(d.dst) ? "::" : "0.0.0.0");
    this.flows.set(key, flow);
    this.stats.opened++;
    return flow;
  }

  private onMessage(flow: Flow, data: Uint8Array, from: RemoteInfo): void {
    if (this.flows.get(flow.key) !== flow || this.closed) return;
    let src = flow.remoteIp;
    let srcPort = flow.remotePort;
    if (from.address !== flow.hostname || from.port !== flow.remotePort) {
      // A reply from elsewhere: pass it on with its own address (loopback as the gateway).
      const ip = tryParseIpv4(from.address);
      if (ip === undefined) {
        const v6 = tryParseIpv6(from.address);
        if (v6 === undefined) return;
        const id = from.address === "::1" ? ipv6Id(this.config.gatewayAddress6) : ipv6Id(v6);
        if (id === undefined) return;
        src = id;
      } else {
        src = (ip >>> 24) === 127 ? this.config.gatewayAddress : ip;
      }
      srcPort = from.port;
    }
    this.stats.received++;
    flow.lastActive = this.lastNow;
    this.flows.delete(flow.key);
    this.flows.set(flow.key, flow);
    this.sink?.deliver({
      src,
      srcPort,
      dst: flow.containerIp,
      dstPort: flow.containerPort,
      payload: new Uint8Array(data.buffer, data.byteOffset, data.byteLength),
    });
  }

  private drop(flow: Flow): Promise<void> {
    if (this.flows.get(flow.key) === flow) this.flows.delete(flow.key);
    if (!this.closing.has(flow.closed)) {
      this.closing.add(flow.closed);
      flow.closed.then(() => this.closing.delete(flow.closed));
      try {
        flow.socket.close();
      } catch {
        // Already closed.
      }
    }
    return flow.closed;
  }
}
