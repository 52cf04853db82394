// The gateway's DNS: forwards queries to upstream resolvers over UDP, SERVFAIL when none answers.
//
// Theory of operation: each query goes to the upstreams in order from a
// fresh host socket (udp_socket.ts) on an ephemeral port (so replies cannot be confused
// between queries), waiting `timeoutMs` for a reply whose id matches before
// moving to the next upstream. When all fail, the answer is a SERVFAIL built
// from the query (RFC 1035 section 4.1.1). A truncated UDP reply (TC) is
// passed on as it is: the container's resolver retries over TCP, which the
// TCP side wires to {@link DnsForwarder.forwardQuery} as well. Upstreams come
// from configuration as `ADDR[:PORT]` or from the nameservers of
// /etc/resolv.conf; loopback stubs such as 127.0.0.53 work because this runs
// on the host. IPv6 upstreams are skipped.

import { createSocket, type RemoteInfo, type UdpSocket } from "../host/udp_socket.ts";
import { buildServfail, DnsMessage } from "../wire/dns.ts";
import { tryParseIpv4 } from "../wire/ipv4_address.ts";

/** One upstream resolver. */
export interface DnsUpstream {
  /** IPv4 address as text. */
  readonly hostname: string;
  /** UDP port, 53 by default. */
  readonly port: number;
}

/** The per-upstream wait before trying the next one, in ms. */
export const DEFAULT_DNS_TIMEOUT_MS = 2000;
/** Queries in flight at once; more are answered with SERVFAIL at once. */
export const DEFAULT_DNS_MAX_IN_FLIGHT = 256;

/** Parses `ADDR[:PORT]` (IPv4 only); throws a `TypeError` otherwise. */
export function parseUpstream(text: string): DnsUpstream {
  const m = /^([0-9.]+)(?::([0-9]{1,5}))?$/.exec(text.trim());
  const port = m?.[2] === undefined ? 53 : Number(m[2]);
  if (m === null || tryParseIpv4(m[1]!) === undefined || port < 1 || port > 65535) {
    throw new TypeError(`Invalid DNS upstream, expected ADDR[:PORT]: "${text}"`);
  }
  return { hostname: m[1]!, port };
}

/** Returns the IPv4 nameservers of a resolv.conf text (resolv.conf(5)), in order. */
export function parseResolvConf(text: string): DnsUpstream[] {
  const out: DnsUpstream[] = [];
  for (const line of text.split("\n")) {
    const m = /^\s*nameserver\s+(\S+)/.exec(line);
    if (m !== null && tryParseIpv4(m[1]!) !== undefined) out.push({ hostname: m[1]!, port: 53 });
  }
  return out;
}

/** Reads the host's /etc/resolv.conf; an unreadable file gives no upstreams. */
export function systemUpstreams(path = "/etc/resolv.conf"): DnsUpstream[] {
  try {
    return parseResolvConf(Deno.readTextFileSync(path));
  } catch {
    return [];
  }
}

/** Options for {@link DnsForwarder}. */
export interface DnsForwarderOptions {
  /** `ADDR[:PORT]` strings; empty or absent means /etc/resolv.conf. */
  readonly upstreams?: readonly string[];
  /** Wait per upstream in ms. */
  readonly timeoutMs?: number;
  /** Queries in flight at once (default 256). */
  readonly maxInFlight?: number;
}

/** Forwards DNS queries to upstream resolvers. */
export class DnsForwarder {
  /** The resolvers tried, in order. */
  readonly upstreams: readonly DnsUpstream[];
  private readonly timeoutMs: number;
  private readonly maxInFlight: number;
  private inFlight = 0;
  private readonly open = new Set<UdpSocket>();
  private closed = false;

  /** Creates a forwarder; reads /etc/resolv.conf when no upstreams are given. */
  constructor(options: DnsForwarderOptions = {}) {
    const configured = options.upstreams ?? [];
    this.upstreams = configured.length > 0 ? configured.map(parseUpstream) : systemUpstreams();
    this.timeoutMs = options.timeoutMs ?? DEFAULT_DNS_TIMEOUT_MS;
    this.maxInFlight = options.maxInFlight ?? DEFAULT_DNS_MAX_IN_FLIGHT;
  }

  /**
   * Resolves `query` through the upstreams and returns the reply, or a
   * SERVFAIL for the query when none answered or too many queries are in
   * flight. Rejects only when `query` has no DNS header. A bound function,
   * so it can be handed on by itself (e.g. to the DNS-over-TCP side).
   */
  forwardQuery = async (query: Uint8Array): Promise<Uint8Array> => {
    const id = DnsMessage.check(query).id;
    if (this.inFlight >= this.maxInFlight) return buildServfail(query);
    this.inFlight++;
    try {
      for (const upstream of this.upstreams) {
        if (this.closed) break;
        const reply = await this.ask(upstream, query, id);
        if (reply !== undefined) return reply;
      }
    } finally {
      this.inFlight--;
    }
    return buildServfail(query);
  };

  /** Closes the sockets of queries in flight; they finish with SERVFAIL. */
  close(): void {
    this.closed = true;
    for (const socket of this.open) socket.close();
    this.open.clear();
  }

  private async ask(
    upstream: DnsUpstream,
    query: Uint8Array,
    id: number,
  ): Promise<Uint8Array | undefined> {
    return await new Promise((resolve) => {
      let socket: UdpSocket;
      try {
        socket = createSocket("udp4");
      } catch {
        resolve(undefined);
        return;
      }
      let answer: Uint8Array | undefined;
      const finish = () => {
        clearTimeout(timer);
        if (this.open.delete(socket)) socket.close();
      };
      const timer = setTimeout(finish, this.timeoutMs);
      this.open.add(socket);
      // Settles only once the socket is closed, so no socket outlives its query.
      socket.on("close", () => {
        clearTimeout(timer);
        resolve(answer);
      });
      socket.on("error", finish);
      socket.on("refused", finish); // the upstream is not listening: try the next one now
      socket.on("message", (data: Uint8Array, from: RemoteInfo) => {
        if (from.port !== upstream.port || from.address !== upstream.hostname) return;
        if (data.length < 12 || ((data[0]! << 8) | data[1]!) !== id) return;
        answer = new Uint8Array(data.buffer, data.byteOffset, data.byteLength).slice();
        finish();
      });
      socket.send(query, upstream.port, upstream.hostname, (err) => {
        if (err !== null && err !== undefined) finish();
      });
    });
  }
}

/**
 * Forwards one query with the system's resolvers (or `options`), for callers
 * without a {@link DnsForwarder} at hand; see {@link DnsForwarder.forwardQuery}.
 *
 * @example
 * ```ts ignore
 * import { forwardQuery } from "./dns_forwarder.ts";
 * const reply = await forwardQuery(queryBytes);
 * ```
 */
export function forwardQuery(
  query: Uint8Array,
  options: DnsForwarderOptions = {},
): Promise<Uint8Array> {
  return new DnsForwarder(options).forwardQuery(query);
}
