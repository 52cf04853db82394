// The gateway's DHCPv6 server (RFC 8415): the container's one address and the DNS server, stateful or stateless.
//
// Theory of operation: the link has one client, so there is no pool: every
// IA_NA gets the container's configured address (fd00:15::2) with fixed
// lifetimes, whatever the client's DUID. Solicit gets an Advertise (or a
// Reply when the client asks for rapid commit, RFC 8415 section 18.3.1);
// Request, Renew and Rebind get a Reply with the address; Confirm is answered
// "success" when the addresses it names are on the link, "not on link"
// otherwise (section 18.3.3); Release and Decline get "success" (there is
// nothing to free); Information-request (stateless, RFC 8415 section 18.3.6)
// gets the DNS server only. Every reply names the server by a DUID-LL built
// from the gateway's MAC (section 11.4) and lists the gateway as DNS server
// (RFC 3646). Messages naming another server, or without the client
// identifier they need (section 16), are discarded.

import type { NetworkConfig } from "../config.ts";
import {
  type Dhcpv6IaNa,
  Dhcpv6MessageType as T,
  Dhcpv6Repr,
  Dhcpv6Status,
} from "../wire/dhcpv6.ts";
import { ipv6InPrefix } from "../wire/ipv6_address.ts";

/** Preferred lifetime of the address handed out, seconds. */
export const DHCPV6_PREFERRED_LIFETIME = 14400;
/** Valid lifetime of the address handed out, seconds. */
export const DHCPV6_VALID_LIFETIME = 86400;

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * Answers DHCPv6 messages for the container's link.
 *
 * @example
 * ```ts
 * import { Dhcpv6Server } from "./dhcpv6_server.ts";
 * import { DEFAULT_NETWORK_CONFIG } from "../config.ts";
 * import { Dhcpv6Repr } from "../wire/dhcpv6.ts";
 * const server = new Dhcpv6Server(DEFAULT_NETWORK_CONFIG);
 * const reply = server.handle(Dhcpv6Repr.emit({
 *   msgType: 11, transactionId: 7, clientId: new Uint8Array([0, 3, 0, 1, 2, 0, 0, 0, 0, 2]),
 *   serverId: null, iaNa: [], requested: [23], rapidCommit: false, status: null, dnsServers: [],
 * }));
 * console.assert(reply !== undefined && Dhcpv6Repr.parse(reply).dnsServers.length === 1);
 * ```
 */
export class Dhcpv6Server {
  /** The server's DUID: DUID-LL (type 3), hardware type 1 (Ethernet), the gateway's MAC. */
  readonly duid: Uint8Array;

  /** Creates the server for `config`'s addresses. */
  constructor(private readonly config: NetworkConfig) {
    this.duid = new Uint8Array([0, 3, 0, 1, ...config.gatewayMac]);
  }

  /** Returns the reply to `message`, or undefined when it is to be discarded. Throws MalformedFrame. */
  handle(message: Uint8Array): Uint8Array | undefined {
    const m = Dhcpv6Repr.parse(message);
    const forUs = m.serverId !== null && sameBytes(m.serverId, this.duid);
    const base = (msgType: number): Dhcpv6Repr => ({
      msgType,
      transactionId: m.transactionId,
      clientId: m.clientId,
      serverId: this.duid,
      iaNa: [],
      requested: [],
      rapidCommit: false,
      status: null,
      dnsServers: [this.config.gatewayAddress6],
    });
    switch (m.msgType) {
      case T.SOLICIT: {
        // RFC 8415 section 16.2: a Solicit carries a client identifier and no server identifier.
        if (m.clientId === null || m.serverId !== null) return undefined;
        const r = base(m.rapidCommit ? T.REPLY : T.ADVERTISE);
        r.rapidCommit = m.rapidCommit;
        r.iaNa = m.iaNa.map((ia) => this.lease(ia));
        return Dhcpv6Repr.emit(r);
      }
      case T.REQUEST:
      case T.RENEW:
        if (m.clientId === null || !forUs) return undefined;
        return Dhcpv6Repr.emit({ ...base(T.REPLY), iaNa: m.iaNa.map((ia) => this.lease(ia)) });
      case T.REBIND:
        if (m.clientId === null || m.serverId !== null) return undefined;
        return Dhcpv6Repr.emit({ ...base(T.REPLY), iaNa: m.iaNa.map((ia) => this.lease(ia)) });
      case T.CONFIRM: {
        if (m.clientId === null || m.serverId !== null) return undefined;
        const onLink = m.iaNa.every((ia) =>
          ia.addresses.every((a) =>
            ipv6InPrefix(a.address, this.config.containerAddress6, this.config.prefixLength6)
          )
        );
        const status = onLink
          ? { code: Dhcpv6Status.SUCCESS, message: "all addresses on link" }
          : { code: Dhcpv6Status.NOT_ON_LINK, message: "not on this link" };
        return Dhcpv6Repr.emit({ ...base(T.REPLY), status });
      }
      case T.RELEASE:
      case T.DECLINE:
        if (m.clientId === null || !forUs) return undefined;
        return Dhcpv6Repr.emit({
          ...base(T.REPLY),
          status: { code: Dhcpv6Status.SUCCESS, message: "done" },
        });
      case T.INFORMATION_REQUEST:
        // RFC 8415 section 16.12: no IA options; a server identifier, if any, must be ours.
        if (m.iaNa.length > 0 || (m.serverId !== null && !forUs)) return undefined;
        return Dhcpv6Repr.emit(base(T.REPLY));
      default:
        return undefined;
    }
  }

  private lease(ia: Dhcpv6IaNa): Dhcpv6IaNa {
    // Whatever the client hinted, the one address of the link is what can be assigned
    // (RFC 8415 section 18.3.1: hints may be ignored).
    const address = this.config.containerAddress6;
    return {
      iaid: ia.iaid,
      t1: DHCPV6_PREFERRED_LIFETIME / 2,
      t2: (DHCPV6_PREFERRED_LIFETIME * 4) / 5,
      addresses: [{
        address,
        preferredLifetime: DHCPV6_PREFERRED_LIFETIME,
        validLifetime: DHCPV6_VALID_LIFETIME,
      }],
      status: null,
    };
  }
}
