// The TCP layer: demultiplexes segments to connections, accepts container SYNs and opens connections.
//
// Theory of operation
// -------------------
// The stack terminates every TCP connection the container makes: there is no listening socket,
// any SYN is a passive open (RFC 9293 3.10.7.2). A SYN for an unknown 4-tuple creates a
// connection in SYN-RECEIVED marked "accept pending" and calls the accept hook with the
// addresses; nothing is sent until the hook's promise settles. Accepted: SYN-ACK goes out.
// Refused (the host connect failed): RST|ACK, so the container sees "connection refused".
// SYNs retransmitted while the decision is pending match the pending connection and are
// dropped. Half-open connections (SYN-RECEIVED) are capped; excess SYNs are dropped and
// counted (a SYN flood costs a bounded amount of memory and no host sockets beyond the cap).
// Active opens (`connect`, for published ports) start in SYN-SENT.
//
// Each connection (connection.ts) follows RFC 9293 3.10.7 "SEGMENT ARRIVES" with RFC 5961
// challenge ACKs, has a bounded send ring and a bounded receive ring. Data stays in the receive
// ring until the application consumes it, and the advertised window is the ring's free space,
// so a slow reader closes the window (backpressure). Windows are scaled (RFC 7323) when both
// SYNs carry the option. The sender follows RFC 6298 for the RTO (Karn, backoff), RFC 5681 and
// RFC 6582 for NewReno congestion control and fast retransmit/recovery, and probes zero windows
// with a persist timer (RFC 9293 3.8.6.1). TIME-WAIT lasts `timeWait` ms (short by default:
// connections are local). Idle connections are reset after `idleTimeout`, orphaned FIN-WAIT-2
// after `finWait2Timeout`. Segments for unknown connections are answered with RST (3.10.7.1).
//
// Time is passed in: `input(datagram, now)` and `poll(now)`; `pollAt()` says when the next
// timer is due. Application calls (write, consume, close) act at the last time seen and call
// `wake` so the driver can re-read `pollAt()`.
//
// IPv6 connections run through the same code: the IPv6 layer hands over addresses as interned
// ids above 2^32 (wire/ipv6_address.ts) whose IPv4-style pseudo-header sum equals the IPv6 one
// (RFC 8200 section 8.1), so connection keys and checksums need no family switch.
//
// Left out: SACK (parsed, not offered), timestamps and PAWS (parsed, ignored), urgent data
// (ignored), ECN, keep-alives, delayed ACKs (every data segment is acknowledged).

import type { Ipv4Datagram, Ipv4Sender, TransportProtocol } from "../iface/protocol.ts";
import {
  emitTcpHeader,
  fillTcpChecksum,
  fillTcpPseudoChecksum,
  TCP_MAX_HEADER_LEN,
  TCP_PROTOCOL,
  TcpFlag,
  TcpRepr,
  TcpWireError,
} from "../wire/tcp.ts";
import { TcpConnection, type TcpHost, type TcpSettings } from "./connection.ts";
import { seqAdd, seqGt } from "./seqnum.ts";

/** A container-initiated connection awaiting the accept decision. */
export interface TcpAcceptRequest {
  /** Source (container) address: uint32 for IPv4, an interned id above 2^32 for IPv6. */
  readonly src: number;
  /** Source port. */
  readonly srcPort: number;
  /** Destination address the container dialled, in the same form as `src`. */
  readonly dst: number;
  /** Destination port. */
  readonly dstPort: number;
  /** The connection; attach callbacks to it before resolving to `true`. */
  readonly connection: TcpConnection;
}

/** The accept hook: resolve to true to send the SYN-ACK, false to answer with RST. */
export type TcpAcceptHook = (request: TcpAcceptRequest) => boolean | PromiseLike<boolean>;

/** Options of a {@link TcpLayer}; times in milliseconds. */
export interface TcpLayerOptions extends Partial<TcpSettings> {
  /** Where segments go. */
  sender: Ipv4Sender;
  /** Decides on container-initiated connections; without it every SYN is refused. */
  accept?: TcpAcceptHook;
  /** Called when application activity may have changed {@link TcpLayer.pollAt}. */
  wake?: () => void;
  /** Cap on connections in SYN-RECEIVED (SYN flood bound); default 128. */
  maxHalfOpen?: number;
  /** Initial sequence numbers; default random (RFC 9293 3.4.1 wants them unpredictable). */
  isn?: () => number;
  /** The link completes checksums of sent segments: write only the pseudo-header sum. */
  checksumOffload?: boolean;
}

/** Layer-wide counters. */
export interface TcpLayerStats {
  /** Segments received. */
  received: number;
  /** Malformed segments dropped (bad checksum, data offset, options, truncation). */
  malformed: number;
  /** RSTs sent for segments to no connection. */
  resetsSent: number;
  /** SYNs dropped because the half-open cap was reached. */
  synDropped: number;
  /** Connections refused by the accept hook. */
  refused: number;
  /** Connections accepted. */
  accepted: number;
}

const DEFAULTS: TcpSettings = {
  mss: 1460,
  sendBufferSize: 256 * 1024,
  recvBufferSize: 256 * 1024,
  initialRto: 1000, // RFC 6298 (2.1)
  // RFC 6298 (2.4) says 1 s; like most stacks we allow less on what is a local link.
  minRto: 200,
  maxRto: 60_000, // RFC 6298 (2.5)
  timeWait: 2_000,
  idleTimeout: 2 * 60 * 60 * 1000,
  finWait2Timeout: 60_000,
  maxRetries: 12,
  synRetries: 5,
  delayedAck: 0,
  tsoSize: 0,
};

/**
 * TCP as a {@link TransportProtocol}: register it as IP protocol 6.
 *
 * @example
 * ```ts
 * import { TcpLayer } from "./layer.ts";
 * const sent: Uint8Array[] = [];
 * const tcp = new TcpLayer({ sender: { sendIpv4: (_s, _d, _p, b) => void sent.push(b.slice()) } });
 * const conn = tcp.connect(0x0a000f01, 8080, 0x0a000f02, 80, 0);
 * console.assert(conn.state === "SYN-SENT" && sent.length === 1);
 * ```
 */
export class TcpLayer implements TransportProtocol {
  /** Counters. */
  readonly stats: TcpLayerStats = {
    received: 0,
    malformed: 0,
    resetsSent: 0,
    synDropped: 0,
    refused: 0,
    accepted: 0,
  };
  /** The accept hook; may be replaced (the host bridge installs its own). */
  accept: TcpAcceptHook | undefined;
  /** Settings shared by every connection. */
  readonly settings: TcpSettings;

  readonly #sender: Ipv4Sender;
  readonly #wake: (() => void) | undefined;
  readonly #maxHalfOpen: number;
  readonly #isn: () => number;
  /** remote (addr * 65536 + port) -> local (addr * 65536 + port) -> connection. */
  readonly #conns = new Map<number, Map<number, TcpConnection>>();
  #count = 0;
  readonly #halfOpen = new Set<TcpConnection>();
  readonly #repr = new TcpRepr();
  readonly #host: TcpHost;
  #now = 0;

  /** Creates the layer. */
  constructor(options: TcpLayerOptions) {
    const { sender, accept, wake, maxHalfOpen, isn, checksumOffload, ...rest } = options;
    const settings: TcpSettings = { ...DEFAULTS };
    for (const [k, v] of Object.entries(rest)) {
      if (v !== undefined) (settings as unknown as Record<string, number>)[k] = v as number;
    }
    this.settings = settings;
    this.#sender = sender;
    this.accept = accept;
    this.#wake = wake;
    this.#maxHalfOpen = maxHalfOpen ?? 128;
    this.#isn = isn ?? randomIsn;
    const out = new Uint8Array(TCP_MAX_HEADER_LEN + Math.max(settings.mss, settings.tsoSize));
    this.#host = {
      out,
      send: (src, dst, segment, gsoSize) =>
        this.#sender.sendIpv4(src, dst, TCP_PROTOCOL, segment, gsoSize),
      remove: (conn) => this.#remove(conn),
      fillChecksum: checksumOffload === true ? fillTcpPseudoChecksum : fillTcpChecksum,
      now: 0,
      wake: () => this.#wake?.(),
    };
  }

  /** Number of live connections (including TIME-WAIT and pending accepts). */
  get connectionCount(): number {
    return this.#count;
  }

  /** Every live connection. */
  *connections(): IterableIterator<TcpConnection> {
    for (const inner of this.#conns.values()) yield* inner.values();
  }

  /** Number of passively opened connections still in SYN-RECEIVED (half-open). */
  get halfOpen(): number {
    // Only passive opens are tracked, so this costs at most the cap, not every connection.
    for (const c of this.#halfOpen) if (c.state !== "SYN-RECEIVED") this.#halfOpen.delete(c);
    return this.#halfOpen.size;
  }

  /** Finds the connection for a 4-tuple, if any. */
  find(
    localAddr: number,
    localPort: number,
    remoteAddr: number,
    remotePort: number,
  ): TcpConnection | undefined {
    return this.#conns.get(remoteAddr * 65536 + remotePort)?.get(localAddr * 65536 + localPort);
  }

  /**
   * Active open (RFC 9293 3.10.1): connects from `src:srcPort` (the stack side) to
   * `dst:dstPort` (inside the container). Throws when the 4-tuple is in use.
   */
  connect(
    src: number,
    srcPort: number,
    dst: number,
    dstPort: number,
    now = this.#now,
  ): TcpConnection {
    if (now > this.#now) this.#now = this.#host.now = now;
    if (this.find(src, srcPort, dst, dstPort)) {
      throw new Error(`TCP 4-tuple already in use: "${srcPort}" -> "${dstPort}"`);
    }
    const conn = new TcpConnection(this.#host, this.settings, src, srcPort, dst, dstPort);
    this.#add(conn);
    conn.openActive(this.#isn(), this.#now);
    this.#wake?.();
    return conn;
  }

  /**
   * Handles one TCP datagram; malformed ones are counted and dropped. `checksumValid` skips the
   * checksum when the link vouches for it.
   */
  input(datagram: Ipv4Datagram, now: number, checksumValid = false): void {
    if (now > this.#now) this.#now = this.#host.now = now;
    this.stats.received++;
    const seg = this.#repr;
    try {
      seg.parse(datagram.payload, datagram.src, datagram.dst, checksumValid);
    } catch (e) {
      if (e instanceof TcpWireError) {
        this.stats.malformed++;
        return;
      }
      throw e;
    }
    let conn = this.find(datagram.dst, seg.dstPort, datagram.src, seg.srcPort);
    const f = seg.flags;
    if (
      conn && conn.state === "TIME-WAIT" && (f & TcpFlag.SYN) && !(f & TcpFlag.ACK) &&
      seqGt(seg.seq, conn.rcvNxt)
    ) {
      // A new incarnation may reuse a TIME-WAIT 4-tuple with a higher sequence (RFC 9293 3.6.1).
      conn.forget();
      conn = undefined;
    }
    if (conn) {
      conn.segmentArrives(seg, this.#now);
      return;
    }
    this.#noConnection(datagram, seg);
  }

  /** Runs due timers. */
  poll(now: number): void {
    if (now > this.#now) this.#now = this.#host.now = now;
    for (const inner of this.#conns.values()) {
      for (const c of inner.values()) if (c.nextTimer() <= this.#now) c.onTimer(this.#now);
    }
  }

  /** The earliest timer deadline, or undefined. */
  pollAt(): number | undefined {
    let t = Infinity;
    for (const inner of this.#conns.values()) {
      for (const c of inner.values()) {
        const n = c.nextTimer();
        if (n < t) t = n;
      }
    }
    return t === Infinity ? undefined : t;
  }

  /** Resets every connection (used when the stack shuts down). */
  abortAll(): void {
    for (const c of [...this.connections()]) c.abort();
  }

  /** RFC 9293 3.10.7.1 (CLOSED) and 3.10.7.2 (LISTEN) for a segment matching no connection. */
  #noConnection(d: Ipv4Datagram, seg: TcpRepr): void {
    const f = seg.flags;
    if (f & TcpFlag.RST) return;
    if (f & TcpFlag.ACK) {
      this.#reset(d, seg.dstPort, seg.srcPort, seg.ack, 0, TcpFlag.RST);
      return;
    }
    if (!(f & TcpFlag.SYN)) {
      const len = seg.payload.length + ((f & TcpFlag.FIN) ? 1 : 0);
      this.#reset(d, seg.dstPort, seg.srcPort, 0, seqAdd(seg.seq, len), TcpFlag.RST | TcpFlag.ACK);
      return;
    }
    const hook = this.accept;
    if (!hook) {
      this.stats.refused++;
      this.#reset(
        d,
        seg.dstPort,
        seg.srcPort,
        0,
        seqAdd(seg.seq, seg.payload.length + 1),
        TcpFlag.RST | TcpFlag.ACK,
      );
      return;
    }
    if (this.halfOpen >= this.#maxHalfOpen) {
      this.stats.synDropped++;
      return;
    }
    const conn = new TcpConnection(
      this.#host,
      this.settings,
      d.dst,
      seg.dstPort,
      d.src,
      seg.srcPort,
    );
    this.#add(conn);
    this.#halfOpen.add(conn);
    conn.openPassive(seg, this.#isn(), this.#now);
    const decide = (ok: boolean) => {
      if (ok) {
        if (conn.acceptPending) this.stats.accepted++;
        conn.acceptNow();
      } else {
        if (conn.acceptPending) this.stats.refused++;
        conn.refuseNow();
      }
    };
    let decision: boolean | PromiseLike<boolean>;
    try {
      decision = hook({
        src: d.src,
        srcPort: seg.srcPort,
        dst: d.dst,
        dstPort: seg.dstPort,
        connection: conn,
      });
    } catch {
      decision = false;
    }
    if (typeof decision === "boolean") decide(decision);
    else decision.then((ok) => decide(ok === true), () => decide(false));
  }

  #reset(
    d: Ipv4Datagram,
    srcPort: number,
    dstPort: number,
    seq: number,
    ack: number,
    flags: number,
  ) {
    const out = this.#host.out;
    const hlen = emitTcpHeader(out, { srcPort, dstPort, seq, ack, flags, window: 0, urgent: 0 });
    const segment = out.subarray(0, hlen);
    this.#host.fillChecksum(segment, d.dst, d.src);
    this.stats.resetsSent++;
    this.#sender.sendIpv4(d.dst, d.src, TCP_PROTOCOL, segment);
  }

  #add(conn: TcpConnection): void {
    const rk = conn.remoteAddr * 65536 + conn.remotePort;
    let inner = this.#conns.get(rk);
    if (!inner) {
      inner = new Map();
      this.#conns.set(rk, inner);
    }
    inner.set(conn.localAddr * 65536 + conn.localPort, conn);
    this.#count++;
  }

  #remove(conn: TcpConnection): void {
    const rk = conn.remoteAddr * 65536 + conn.remotePort;
    const inner = this.#conns.get(rk);
    if (!inner) return;
    const lk = conn.localAddr * 65536 + conn.localPort;
    if (inner.get(lk) !== conn) return;
    inner.delete(lk);
    if (inner.size === 0) this.#conns.delete(rk);
    this.#count--;
  }
}

function randomIsn(): number {
  const a = new Uint32Array(1);
  crypto.getRandomValues(a);
  return a[0]!;
}
