// Bridges TCP connections of the userspace stack to host sockets, with backpressure both ways.
//
// Container -> host: a container SYN is held until Deno.connect to the mapped destination
// settles; success sends the SYN-ACK, failure an RST ("connection refused"). Data read from the
// TCP receive buffer is consumed only after the host write completes, so a slow host peer
// closes the window the container sees. Host -> container: the host socket is read only while
// the TCP send buffer has room, and never more than that room, so a slow container stops the
// reads (and the host kernel's buffers fill). EOF travels both ways as a half-close.

import { mapDestination, type NetworkConfig } from "../config.ts";
import { DnsTcpDeframer, frameDnsTcp } from "../wire/dns.ts";
import { ipv6Id } from "../wire/ipv6_address.ts";
import type { TcpConnection } from "../tcp/connection.ts";
import type { TcpAcceptRequest, TcpLayer } from "../tcp/layer.ts";
import type { Reactor } from "../reactor.ts";
import { type HostStream, HostTcpSocket } from "./tcp_socket.ts";

/** Options for {@link TcpBridge}. */
export interface TcpBridgeOptions {
  /** Addressing and policy: where container destinations lead on the host. */
  config: NetworkConfig;
  /**
   * Dials a host destination; default: a {@link HostTcpSocket} waited for by `reactor`, or
   * `Deno.connect` without one.
   */
  dial?: (hostname: string, port: number) => Promise<HostStream>;
  /** The network's reactor, for host sockets through FFI (see {@link dial}). */
  reactor?: Reactor;
  /** Largest single read from or write to a host socket; default 64 KiB. */
  chunkSize?: number;
  /**
   * Ports of the gateway address served in-process instead of on the host, e.g. 53 with
   * {@link dnsOverTcp}. The service gets the connection when the SYN-ACK goes out.
   */
  gatewayServices?: ReadonlyMap<number, TcpService>;
}

/** An in-process server for connections to one gateway port. */
export type TcpService = (conn: TcpConnection) => void;

/** Bridge counters. */
export interface TcpBridgeStats {
  /** Container connections whose host connect succeeded. */
  accepted: number;
  /** Container connections refused (no route, policy, or failed host connect). */
  refused: number;
  /** Connections published into the container. */
  published: number;
  /** Bytes carried container -> host. */
  bytesToHost: number;
  /** Bytes carried host -> container. */
  bytesToContainer: number;
}

/**
 * Connects a {@link TcpLayer} to host sockets: installs itself as the layer's accept hook.
 *
 * @example
 * ```ts ignore
 * const tcp = new TcpLayer({ sender: stack.ipv4, mss: stack.config.mtu - 40 });
 * stack.registerProtocol(6, tcp);
 * const bridge = new TcpBridge(tcp, { config: stack.config });
 * // later: bridge.close();
 * ```
 */
export class TcpBridge {
  /** Counters. */
  readonly stats: TcpBridgeStats = {
    accepted: 0,
    refused: 0,
    published: 0,
    bytesToHost: 0,
    bytesToContainer: 0,
  };
  readonly #tcp: TcpLayer;
  readonly #config: NetworkConfig;
  readonly #dial: (hostname: string, port: number) => Promise<HostStream>;
  readonly #chunk: number;
  readonly #services: ReadonlyMap<number, TcpService>;
  /** The IPv6 gateway as an interned id: its ports are served like the IPv4 gateway's. */
  readonly #gateway6: number;
  readonly #pipes = new Set<Pipe>();
  #nextPort = 49152;
  #closed = false;

  /** Creates the bridge and sets `tcp.accept`. */
  constructor(tcp: TcpLayer, options: TcpBridgeOptions) {
    this.#tcp = tcp;
    this.#config = options.config;
    const reactor = options.reactor;
    this.#dial = options.dial ??
      (reactor
        ? (hostname, port) => HostTcpSocket.connect(reactor, hostname, port)
        : (hostname, port) => Deno.connect({ hostname, port, transport: "tcp" }));
    this.#chunk = options.chunkSize ?? 64 * 1024;
    this.#services = options.gatewayServices ?? new Map();
    this.#gateway6 = ipv6Id(options.config.gatewayAddress6) ?? -1;
    tcp.accept = (req) => this.#accept(req);
  }

  /** Number of bridged connections with an open host socket. */
  get active(): number {
    return this.#pipes.size;
  }

  /**
   * Published ports: pipes an accepted host connection into the container by an active open
   * from the gateway address (or `src`) to `dst:dstPort`. Returns the TCP connection.
   */
  publish(
    hostConn: HostStream,
    dstPort: number,
    dst: number = this.#config.containerAddress,
    src: number = this.#config.gatewayAddress,
  ): TcpConnection {
    if (this.#closed) {
      hostConn.close();
      throw new Error("TCP bridge is closed");
    }
    const srcPort = this.#pickPort(src, dst, dstPort);
    const conn = this.#tcp.connect(src, srcPort, dst, dstPort);
    this.stats.published++;
    this.#startPipe(conn, hostConn);
    return conn;
  }

  /**
   * Waits, at most `timeoutMs`, until every bridged connection has handed the host what the
   * container sent it (data, then its FIN). A container that writes its last answer and exits
   * at once leaves that answer in the stack's buffers: closing before it went out would lose it.
   */
  async drain(timeoutMs: number): Promise<void> {
    const deadline = performance.now() + timeoutMs;
    while ([...this.#pipes].some((p) => p.owesHost) && performance.now() < deadline) {
      await new Promise((r) => setTimeout(r, 5));
    }
  }

  /** Closes every host socket the bridge holds and resets their connections. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const p of [...this.#pipes]) p.shutdown(true);
    if (this.#tcp.accept) this.#tcp.accept = undefined;
  }

  #accept(req: TcpAcceptRequest): boolean | Promise<boolean> {
    const service = req.dst === this.#config.gatewayAddress || req.dst === this.#gateway6
      ? this.#services.get(req.dstPort)
      : undefined;
    if (service && !this.#closed) {
      this.stats.accepted++;
      service(req.connection);
      return true;
    }
    const hostname = this.#closed ? null : mapDestination(this.#config, req.dst);
    if (hostname === null) {
      this.stats.refused++;
      return false;
    }
    return this.#dial(hostname, req.dstPort).then(
      (sock) => {
        if (this.#closed || req.connection.state === "CLOSED") {
          sock.close();
          return false;
        }
        this.stats.accepted++;
        this.#startPipe(req.connection, sock);
        return true;
      },
      () => {
        this.stats.refused++;
        return false;
      },
    );
  }

  #startPipe(conn: TcpConnection, sock: HostStream): void {
    const p = new Pipe(conn, sock, this.#chunk, this.stats, () => this.#pipes.delete(p));
    this.#pipes.add(p);
    p.start();
  }

  #pickPort(src: number, dst: number, dstPort: number): number {
    for (let i = 0; i < 16384; i++) {
      const port = this.#nextPort;
      this.#nextPort = port >= 65535 ? 49152 : port + 1;
      if (!this.#tcp.find(src, port, dst, dstPort)) return port;
    }
    throw new Error(`No free source port towards "${dstPort}"`);
  }
}

/** One bridged connection: a TCP connection and a host socket. */
class Pipe {
  readonly #conn: TcpConnection;
  readonly #sock: HostStream;
  readonly #chunk: number;
  readonly #stats: TcpBridgeStats;
  readonly #done: () => void;
  #writing = false;
  #hostWriteShut = false;
  #hostWriteShutDone = false;
  #hostEof = false;
  #closed = false;
  #wakeReader: (() => void) | undefined;

  constructor(
    conn: TcpConnection,
    sock: HostStream,
    chunk: number,
    stats: TcpBridgeStats,
    done: () => void,
  ) {
    this.#conn = conn;
    this.#sock = sock;
    this.#chunk = chunk;
    this.#stats = stats;
    this.#done = done;
  }

  start(): void {
    const c = this.#conn;
    c.ondata = () => this.#toHost();
    c.onend = () => this.#toHost();
    c.onwritable = () => this.#wake();
    c.onclose = () => this.shutdown(false);
    void this.#fromHost();
    this.#toHost();
  }

  /** Data or a FIN from the container is still on its way to the host socket. */
  get owesHost(): boolean {
    if (this.#closed) return false;
    const c = this.#conn;
    return this.#writing || c.peek(1).length > 0 || (c.eof && !this.#hostWriteShutDone);
  }

  /** Closes the host socket; with `reset`, also resets the TCP connection. */
  shutdown(reset: boolean): void {
    if (this.#closed) return;
    this.#closed = true;
    if (reset) this.#conn.abort();
    try {
      this.#sock.close();
    } catch { /* already closed */ }
    this.#wake();
    this.#done();
  }

  #wake(): void {
    const w = this.#wakeReader;
    this.#wakeReader = undefined;
    w?.();
  }

  /** Container -> host: write what is readable; consume it only once the host took it. */
  #toHost(): void {
    if (this.#writing || this.#closed) return;
    const c = this.#conn;
    const chunk = c.peek(this.#chunk);
    if (chunk.length === 0) {
      if (c.eof && !this.#hostWriteShut) {
        // The container sent FIN: half-close the host side.
        this.#hostWriteShut = true;
        this.#sock.closeWrite().then(() => {
          this.#hostWriteShutDone = true;
          this.#maybeFinished();
        }, () => this.shutdown(true));
      }
      return;
    }
    const sock = this.#sock;
    if (sock.tryWrite) {
      // A host socket that can write without waiting: what it takes is consumed at once, so a
      // window update reaches the container before anything waits for its next segment.
      let n: number | undefined;
      try {
        n = sock.tryWrite(chunk);
      } catch {
        this.shutdown(true);
        return;
      }
      if (n !== undefined) {
        this.#stats.bytesToHost += n;
        c.consume(n);
        this.#toHost();
        return;
      }
    }
    this.#writing = true;
    sock.write(chunk).then(
      (n) => {
        this.#writing = false;
        this.#stats.bytesToHost += n;
        c.consume(n);
        this.#toHost();
      },
      () => {
        this.#writing = false;
        this.shutdown(true);
      },
    );
  }

  /** Host -> container: read only as much as the TCP send buffer can take. */
  async #fromHost(): Promise<void> {
    const c = this.#conn;
    const buf = new Uint8Array(this.#chunk);
    try {
      for (;;) {
        // Wait for a worthwhile amount of room (a quarter of the buffer, or one chunk) rather
        // than trickling single bytes in as each ACK frees a little.
        const low = Math.max(1, Math.min(this.#chunk, (c.writable + c.bufferedAmount) >> 2));
        while (!this.#closed && c.writable < low) {
          if (c.state === "CLOSED") return;
          await new Promise<void>((r) => this.#wakeReader = r);
        }
        if (this.#closed) return;
        const n = await this.#sock.read(buf.subarray(0, Math.min(buf.length, c.writable)));
        if (this.#closed) return;
        if (n === null) {
          // Host EOF: FIN to the container.
          this.#hostEof = true;
          c.shutdownWrite();
          this.#maybeFinished();
          return;
        }
        const w = c.write(buf.subarray(0, n));
        this.#stats.bytesToContainer += w;
        if (w < n) {
          // The connection stopped accepting data (reset or closed under us).
          this.shutdown(true);
          return;
        }
      }
    } catch {
      // Host read failed (reset by the peer, or closed by shutdown).
      if (!this.#closed) this.shutdown(true);
    }
  }

  /** Both directions finished: the host socket is no longer needed. */
  #maybeFinished(): void {
    if (this.#hostEof && this.#hostWriteShut && !this.#writing) this.shutdown(false);
  }
}

/** Queries a DNS-over-TCP connection may have in flight before reading pauses. */
const DNS_TCP_MAX_IN_FLIGHT = 16;

/**
 * A {@link TcpService} for DNS over TCP on the gateway (RFC 7766): length-prefixed queries
 * (RFC 1035 4.2.2) go to `forwardQuery`; replies are written back in completion order.
 * The connection is half-closed once the container has sent FIN and every reply is out.
 */
export function dnsOverTcp(forwardQuery: (query: Uint8Array) => Promise<Uint8Array>): TcpService {
  return (conn) => {
    const deframer = new DnsTcpDeframer();
    const out: Uint8Array[] = [];
    let outOff = 0;
    let inFlight = 0;
    const flush = () => {
      while (out.length > 0) {
        const head = out[0]!;
        outOff += conn.write(head.subarray(outOff));
        if (outOff < head.length) return;
        out.shift();
        outOff = 0;
      }
      if (conn.eof && inFlight === 0) conn.shutdownWrite();
    };
    const read = () => {
      // Backpressure: with too many queries pending, leave bytes unread (the window closes).
      while (inFlight < DNS_TCP_MAX_IN_FLIGHT) {
        const v = conn.peek();
        if (v.length === 0) break;
        const msgs = deframer.push(v);
        conn.consume(v.length);
        for (const m of msgs) {
          inFlight++;
          forwardQuery(m).then((reply) => out.push(frameDnsTcp(reply)), () => {}).finally(() => {
            inFlight--;
            flush();
            read();
          });
        }
      }
      flush();
    };
    conn.ondata = read;
    conn.onend = read;
    conn.onwritable = flush;
  };
}
