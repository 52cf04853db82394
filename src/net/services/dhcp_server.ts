// A DHCP server for one fixed lease (RFC 2131): the container's address, the gateway as router and DNS.
//
// Theory of operation: there is one client and one address, so the server
// keeps no lease table. DISCOVER gets an OFFER of the container address;
// REQUEST for that address (selecting, init-reboot, renewing or rebinding,
// RFC 2131 section 4.3.2) gets an ACK, a REQUEST for any other address or
// naming another server gets a NAK (or silence when it selected another
// server); INFORM gets an ACK without a lease. DECLINE and RELEASE are
// noted and otherwise ignored: the address is fixed. Replies are broadcast
// unless the client already has an address (ciaddr), as RFC 2131 section
// 4.1 allows for clients that cannot receive unicast before configuration.

import { type NetworkConfig, subnetBroadcast, subnetMask } from "../config.ts";
import { BOOTP_MIN_LEN, DHCP_FLAG_BROADCAST, DhcpMessageType, DhcpRepr } from "../wire/dhcp.ts";
import { IPV4_BROADCAST } from "../wire/ipv4_address.ts";

/** The DHCP server port. */
export const DHCP_SERVER_PORT = 67;
/** The DHCP client port. */
export const DHCP_CLIENT_PORT = 68;
/** The default lease: one day. */
export const DEFAULT_LEASE_SECONDS = 86_400;

/** A reply to send: the message and where to send it. */
export interface DhcpReply {
  /** The encoded message. */
  readonly message: Uint8Array;
  /** The IPv4 destination (broadcast or the client's address). */
  readonly dst: number;
}

/** Answers DHCP requests for the single container address. */
export class DhcpServer {
  /** Counted events (offers, acks, naks, ignored). */
  readonly stats = { offers: 0, acks: 0, naks: 0, ignored: 0 };

  /** Creates the server; `leaseSeconds` defaults to one day. */
  constructor(
    private readonly config: NetworkConfig,
    private readonly leaseSeconds: number = DEFAULT_LEASE_SECONDS,
  ) {}

  /**
   * Handles one request (the UDP payload sent to port 67) and returns the
   * reply, or undefined when none is due. Throws `MalformedFrame` for
   * messages that do not parse.
   */
  handle(payload: Uint8Array): DhcpReply | undefined {
    const req = DhcpRepr.parse(payload);
    if (req.op !== 1) {
      this.stats.ignored++;
      return undefined;
    }
    const c = this.config;
    const ours = c.containerAddress;
    switch (req.messageType) {
      case DhcpMessageType.DISCOVER:
        this.stats.offers++;
        return this.reply(req, DhcpMessageType.OFFER, ours);
      case DhcpMessageType.REQUEST: {
        if (req.serverId !== undefined && req.serverId !== c.gatewayAddress) {
          // RFC 2131 section 4.3.2: the client chose another server.
          this.stats.ignored++;
          return undefined;
        }
        const wanted = req.requestedIp ?? req.ciaddr;
        if (wanted !== ours) {
          this.stats.naks++;
          return this.reply(req, DhcpMessageType.NAK, 0);
        }
        this.stats.acks++;
        return this.reply(req, DhcpMessageType.ACK, ours);
      }
      case DhcpMessageType.INFORM:
        this.stats.acks++;
        return this.reply(req, DhcpMessageType.ACK, 0);
      default:
        this.stats.ignored++;
        return undefined;
    }
  }

  private reply(req: DhcpRepr, type: number, yiaddr: number): DhcpReply {
    const c = this.config;
    const lease = type === DhcpMessageType.ACK && yiaddr !== 0 || type === DhcpMessageType.OFFER;
    const repr: DhcpRepr = {
      op: 2,
      xid: req.xid,
      secs: 0,
      flags: req.flags & DHCP_FLAG_BROADCAST,
      ciaddr: type === DhcpMessageType.NAK ? 0 : req.ciaddr,
      yiaddr,
      siaddr: 0,
      giaddr: req.giaddr,
      clientMac: req.clientMac,
      messageType: type,
      serverId: c.gatewayAddress,
    };
    if (type !== DhcpMessageType.NAK) {
      // RFC 2132: mask, router, DNS, MTU, broadcast; RFC 2131 section 4.3.1 table 3 for the lease.
      repr.subnetMask = subnetMask(c);
      repr.router = c.gatewayAddress;
      repr.dnsServers = [c.gatewayAddress];
      repr.mtu = c.mtu;
      repr.broadcast = subnetBroadcast(c);
      if (lease) {
        repr.leaseTime = this.leaseSeconds;
        repr.renewalTime = Math.floor(this.leaseSeconds / 2);
        repr.rebindingTime = Math.floor(this.leaseSeconds * 7 / 8);
      }
    }
    const message = new Uint8Array(Math.max(DhcpRepr.bufferLen(repr), BOOTP_MIN_LEN));
    DhcpRepr.emit(repr, message);
    // RFC 2131 section 4.1: unicast to ciaddr when the client has one, else broadcast.
    const dst = req.ciaddr !== 0 && type !== DhcpMessageType.NAK ? req.ciaddr : IPV4_BROADCAST;
    return { message, dst };
  }
}
