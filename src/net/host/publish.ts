// Published ports: host listeners whose clients reach a container port with their real address as the source.
//
// Theory of operation: every host socket is bound before the container
// starts, so a port that cannot be bound fails the start with nothing left
// running. Once the network is up, each accepted TCP connection becomes an
// active open from the stack into the container, sourced from the client's
// own address and port; a client on the host's loopback appears as the
// gateway, since a loopback source cannot enter another interface. UDP keeps
// a flow per client: the container's replies to that client's address and
// port leave through the published socket they came in by. IPv6 clients
// (a `[::1]:HOSTPORT:CPORT` mapping, or the `::1` listener every default
// mapping adds, best effort) reach the container's IPv6 address, a client on
// `::1` appearing as the gateway's fd00:15::1.

import { createSocket, type UdpSocket } from "./udp_socket.ts";
import { type PortMapping, PublishError } from "./port_mapping.ts";
import type { NetworkConfig } from "../config.ts";
import type { UdpDatagram, UdpForwarder, UdpSink } from "../iface/udp.ts";
import { parseIpv4 } from "../wire/ipv4_address.ts";
import { ipv6Id, isIpv6GlobalUnicast, isIpv6Id, tryParseIpv6 } from "../wire/ipv6_address.ts";
import type { TcpBridge } from "./tcp_bridge.ts";
import { HostTcpListener } from "./tcp_listener.ts";
import type { Reactor } from "../reactor.ts";

function unprivilegedPortStart(): number {
  try {
    return Number(Deno.readTextFileSync("/proc/sys/net/ipv4/ip_unprivileged_port_start").trim());
  } catch {
    return 1024;
  }
}

function bindError(m: PortMapping, e: unknown): PublishError {
  const ip = m.hostIp.includes(":") ? `[${m.hostIp}]` : m.hostIp;
  const where = `${ip}:${m.hostPort}/${m.protocol}`;
  const code = (e as { code?: string }).code;
  if (e instanceof Deno.errors.AddrInUse || code === "EADDRINUSE") {
    return new PublishError(`cannot publish port ${where}: it is already in use on the host`);
  }
  if (e instanceof Deno.errors.PermissionDenied || code === "EACCES") {
    const start = unprivilegedPortStart();
    return new PublishError(
      `cannot publish port ${where}: ports below ${start} need privileges; as root, sysctl -w net.ipv4.ip_unprivileged_port_start=${
        Math.min(m.hostPort, start)
      } allows it, or publish a port from ${start} up`,
    );
  }
  if (e instanceof Deno.errors.AddrNotAvailable || code === "EADDRNOTAVAIL") {
    return new PublishError(
      `cannot publish port ${where}: ${m.hostIp} is not an address of this host`,
    );
  }
  return new PublishError(`cannot publish port ${where}: ${(e as Error).message}`);
}

function isLoopback(address: string): boolean {
  return address.startsWith("127.") || address === "::1" || address.startsWith("::ffff:127.");
}

/**
 * The source address the container sees for a host client: IPv4 clients as
 * they are (loopback as the gateway), IPv6 clients as interned IPv6 ids
 * (loopback and other non-global sources as the IPv6 gateway).
 */
function visibleSource(config: NetworkConfig, address: string): number {
  const v4 = address.startsWith("::ffff:") ? address.slice(7) : address;
  if (/^\d+\.\d+\.\d+\.\d+$/.test(v4)) {
    return isLoopback(v4) ? config.gatewayAddress : parseIpv4(v4);
  }
  const v6 = tryParseIpv6(address);
  const gateway6 = ipv6Id(config.gatewayAddress6) ?? config.gatewayAddress;
  if (v6 === undefined || !isIpv6GlobalUnicast(v6)) return gateway6;
  return ipv6Id(v6) ?? gateway6;
}

/** The container address a client with visible source `src` connects to: same family. */
function containerFor(config: NetworkConfig, src: number): number {
  return isIpv6Id(src) ? ipv6Id(config.containerAddress6)! : config.containerAddress;
}

/** The host addresses a mapping listens on: the default also takes `::1`, best effort. */
function listenAddresses(m: PortMapping): { hostIp: string; required: boolean }[] {
  const out = [{ hostIp: m.hostIp, required: true }];
  if (m.hostIp === "0.0.0.0") out.push({ hostIp: "::1", required: false });
  return out;
}

/** Binds one host socket for `m`, adding it to `tcp` or `udp`. */
async function bindOne(
  m: PortMapping,
  tcp: { mapping: PortMapping; listener: HostTcpListener }[],
  udp: UdpPublished[],
): Promise<void> {
  if (m.protocol === "tcp") {
    tcp.push({ mapping: m, listener: HostTcpListener.listen(m.hostIp, m.hostPort) });
    return;
  }
  const socket = createSocket(m.hostIp.includes(":") ? "udp6" : "udp4");
  await new Promise<void>((resolve, reject) => {
    socket.once("error", reject);
    socket.bind(m.hostPort, m.hostIp, () => {
      socket.off("error", reject);
      resolve();
    });
  }).catch((e) => {
    socket.close();
    throw e;
  });
  udp.push({ mapping: m, socket });
}

interface UdpPublished {
  readonly mapping: PortMapping;
  readonly socket: UdpSocket;
}

/** Idle time after which a published UDP client flow is forgotten. */
const UDP_FLOW_IDLE_MS = 60_000;

/** The host sockets of every published port, bound up front and served once the network is up. */
export class PortPublisher {
  readonly #tcp: { mapping: PortMapping; listener: HostTcpListener }[];
  readonly #udp: UdpPublished[];
  #bridge: TcpBridge | null = null;
  #closed = false;

  private constructor(
    tcp: { mapping: PortMapping; listener: HostTcpListener }[],
    udp: UdpPublished[],
  ) {
    this.#tcp = tcp;
    this.#udp = udp;
  }

  /** Binds every mapping; on any failure, closes what was bound and throws a PublishError. */
  static async bind(mappings: readonly PortMapping[]): Promise<PortPublisher> {
    const tcp: { mapping: PortMapping; listener: HostTcpListener }[] = [];
    const udp: UdpPublished[] = [];
    const undo = () => {
      for (const t of tcp) t.listener.close();
      for (const u of udp) u.socket.close();
    };
    for (const mapping of mappings) {
      for (const { hostIp, required } of listenAddresses(mapping)) {
        const m = { ...mapping, hostIp };
        try {
          await bindOne(m, tcp, udp);
        } catch (e) {
          if (!required) continue;
          undo();
          throw bindError(m, e);
        }
      }
    }
    return new PortPublisher(tcp, udp);
  }

  /** The TCP side: serves every listener through the bridge, `reactor` waiting. */
  serveTcp(bridge: TcpBridge, config: NetworkConfig, reactor: Reactor): void {
    this.#bridge = bridge;
    for (const { mapping, listener } of this.#tcp) {
      listener.serve(reactor, (conn, remote) => {
        if (this.#closed || this.#bridge === null) {
          conn.close();
          return;
        }
        try {
          const src = visibleSource(config, remote.address);
          bridge.publish(conn, mapping.containerPort, containerFor(config, src), src);
        } catch {
          conn.close();
        }
      });
    }
  }

  /** The UDP side: wraps the stack's forwarder so that replies to published clients go back their way. */
  wrapUdp(inner: UdpForwarder, config: NetworkConfig): UdpForwarder {
    const flows = new Map<
      string,
      { socket: UdpSocket; address: string; port: number; seen: number }
    >();
    let sink: UdpSink | null = null;
    let clock = 0;
    const key = (src: number, srcPort: number, containerPort: number) =>
      `${src}:${srcPort}:${containerPort}`;
    for (const { mapping, socket } of this.#udp) {
      socket.on("message", (msg: Uint8Array, rinfo) => {
        if (sink === null || this.#closed) return;
        const src = visibleSource(config, rinfo.address);
        flows.set(key(src, rinfo.port, mapping.containerPort), {
          socket,
          address: rinfo.address,
          port: rinfo.port,
          seen: clock,
        });
        sink.deliver({
          src,
          srcPort: rinfo.port,
          dst: containerFor(config, src),
          dstPort: mapping.containerPort,
          payload: new Uint8Array(msg),
        });
      });
    }
    return {
      attach(s: UdpSink) {
        sink = s;
        inner.attach(s);
      },
      forward(d: UdpDatagram, now: number) {
        clock = now;
        const flow = flows.get(key(d.dst, d.dstPort, d.srcPort));
        if (flow === undefined) {
          inner.forward(d, now);
          return;
        }
        flow.seen = now;
        flow.socket.send(d.payload.slice(), flow.port, flow.address);
      },
      poll(now: number) {
        clock = now;
        for (const [k, f] of flows) if (now - f.seen > UDP_FLOW_IDLE_MS) flows.delete(k);
        inner.poll(now);
      },
      pollAt() {
        return inner.pollAt();
      },
    };
  }

  /** Closes every host socket. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const t of this.#tcp) {
      try {
        t.listener.close();
      } catch {
        // already closed
      }
    }
    for (const u of this.#udp) u.socket.close();
  }
}
