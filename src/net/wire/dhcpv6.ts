// DHCPv6 messages (RFC 8415 sections 8 and 21): the fixed header and the options the gateway's server uses.

import { MalformedFrame } from "./malformed.ts";

/** The client's UDP port (RFC 8415 section 7.2). */
export const DHCPV6_CLIENT_PORT = 546;
/** The server's UDP port. */
export const DHCPV6_SERVER_PORT = 547;
/** Length of the fixed header: message type and transaction id. */
export const DHCPV6_HEADER_LEN = 4;

/** Message types (RFC 8415 section 7.3). */
export const Dhcpv6MessageType = {
  /** Solicit: a client looks for servers. */
  SOLICIT: 1,
  /** Advertise: a server offers. */
  ADVERTISE: 2,
  /** Request: a client takes the offer. */
  REQUEST: 3,
  /** Confirm: are my addresses still on this link? */
  CONFIRM: 4,
  /** Renew: extend, to the server that assigned. */
  RENEW: 5,
  /** Rebind: extend, to any server. */
  REBIND: 6,
  /** Reply: the server's answer. */
  REPLY: 7,
  /** Release: the client gives addresses back. */
  RELEASE: 8,
  /** Decline: an address is in use. */
  DECLINE: 9,
  /** Information-request: configuration without addresses. */
  INFORMATION_REQUEST: 11,
} as const;

/** Option codes (RFC 8415 section 21, RFC 3646 for DNS). */
export const Dhcpv6Option = {
  /** Client DUID. */
  CLIENTID: 1,
  /** Server DUID. */
  SERVERID: 2,
  /** Identity association for non-temporary addresses. */
  IA_NA: 3,
  /** An address inside an IA. */
  IAADDR: 5,
  /** Option request. */
  ORO: 6,
  /** Status code. */
  STATUS_CODE: 13,
  /** Rapid commit (two-message exchange). */
  RAPID_COMMIT: 14,
  /** Recursive DNS servers (RFC 3646). */
  DNS_SERVERS: 23,
} as const;

/** Status codes (RFC 8415 section 21.13). */
export const Dhcpv6Status = {
  /** Success. */
  SUCCESS: 0,
  /** No addresses available. */
  NO_ADDRS_AVAIL: 2,
  /** The addresses are not on the link. */
  NOT_ON_LINK: 4,
} as const;

/** An address inside an IA_NA (RFC 8415 section 21.6). */
export interface Dhcpv6IaAddress {
  /** The address (16 bytes). */
  address: Uint8Array;
  /** Preferred lifetime, seconds. */
  preferredLifetime: number;
  /** Valid lifetime, seconds. */
  validLifetime: number;
}

/** An identity association for non-temporary addresses (RFC 8415 section 21.4). */
export interface Dhcpv6IaNa {
  /** IA identifier chosen by the client. */
  iaid: number;
  /** Renew time T1, seconds. */
  t1: number;
  /** Rebind time T2, seconds. */
  t2: number;
  /** Addresses in the IA. */
  addresses: Dhcpv6IaAddress[];
  /** A status code option inside the IA, if any. */
  status: { code: number; message: string } | null;
}

/** A parsed DHCPv6 message (client/server format, no relays). */
export interface Dhcpv6Repr {
  /** Message type. */
  msgType: number;
  /** 24-bit transaction id. */
  transactionId: number;
  /** Client DUID, opaque. */
  clientId: Uint8Array | null;
  /** Server DUID, opaque. */
  serverId: Uint8Array | null;
  /** IA_NA options. */
  iaNa: Dhcpv6IaNa[];
  /** Requested option codes (ORO). */
  requested: number[];
  /** Rapid commit asked for or granted (RFC 8415 section 21.14). */
  rapidCommit: boolean;
  /** Top-level status code, if any. */
  status: { code: number; message: string } | null;
  /** Recursive DNS servers (RFC 3646), 16 bytes each. */
  dnsServers: Uint8Array[];
}

function u16(b: Uint8Array, o: number): number {
  return (b[o]! << 8) | b[o + 1]!;
}
function u32(b: Uint8Array, o: number): number {
  return ((b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!) >>> 0;
}

/** Calls `each(code, body)` for every option in `b`; throws on an option past the end. */
function options(b: Uint8Array, each: (code: number, body: Uint8Array) => void): void {
  let o = 0;
  while (o < b.length) {
    if (o + 4 > b.length) throw new MalformedFrame("dhcpv6-bad-option");
    const len = u16(b, o + 2);
    if (o + 4 + len > b.length) throw new MalformedFrame("dhcpv6-bad-option");
    each(u16(b, o), b.subarray(o + 4, o + 4 + len));
    o += 4 + len;
  }
}

function parseStatus(body: Uint8Array): { code: number; message: string } {
  if (body.length < 2) throw new MalformedFrame("dhcpv6-bad-option");
  return { code: u16(body, 0), message: new TextDecoder().decode(body.subarray(2)) };
}

/** A small big-endian writer that grows as needed. */
class Writer {
  bytes = new Uint8Array(256);
  length = 0;
  private room(n: number): void {
    if (this.length + n <= this.bytes.length) return;
    const next = new Uint8Array(Math.max(this.bytes.length * 2, this.length + n));
    next.set(this.bytes.subarray(0, this.length));
    this.bytes = next;
  }
  u8(v: number): void {
    this.room(1);
    this.bytes[this.length++] = v;
  }
  u16(v: number): void {
    this.u8(v >> 8);
    this.u8(v & 0xff);
  }
  u32(v: number): void {
    this.u16(v >>> 16);
    this.u16(v & 0xffff);
  }
  raw(b: Uint8Array): void {
    this.room(b.length);
    this.bytes.set(b, this.length);
    this.length += b.length;
  }
  /** Writes option `code` whose body `body` writes; fills in the length. */
  option(code: number, body: () => void): void {
    this.u16(code);
    const at = this.length;
    this.u16(0);
    body();
    const len = this.length - at - 2;
    this.bytes[at] = len >> 8;
    this.bytes[at + 1] = len & 0xff;
  }
  done(): Uint8Array {
    return this.bytes.slice(0, this.length);
  }
}

function writeStatus(w: Writer, s: { code: number; message: string }): void {
  w.option(Dhcpv6Option.STATUS_CODE, () => {
    w.u16(s.code);
    w.raw(new TextEncoder().encode(s.message));
  });
}

/** Parse and build {@link Dhcpv6Repr} messages. */
export const Dhcpv6Repr = {
  /** Parses a client/server message; unknown options are skipped. Throws {@link MalformedFrame}. */
  parse(bytes: Uint8Array): Dhcpv6Repr {
    if (bytes.length < DHCPV6_HEADER_LEN) throw new MalformedFrame("dhcpv6-truncated");
    const r: Dhcpv6Repr = {
      msgType: bytes[0]!,
      transactionId: (bytes[1]! << 16) | (bytes[2]! << 8) | bytes[3]!,
      clientId: null,
      serverId: null,
      iaNa: [],
      requested: [],
      rapidCommit: false,
      status: null,
      dnsServers: [],
    };
    options(bytes.subarray(DHCPV6_HEADER_LEN), (code, body) => {
      switch (code) {
        case Dhcpv6Option.CLIENTID:
          r.clientId = body.slice();
          break;
        case Dhcpv6Option.SERVERID:
          r.serverId = body.slice();
          break;
        case Dhcpv6Option.IA_NA: {
          if (body.length < 12) throw new MalformedFrame("dhcpv6-bad-option");
          const ia: Dhcpv6IaNa = {
            iaid: u32(body, 0),
            t1: u32(body, 4),
            t2: u32(body, 8),
            addresses: [],
            status: null,
          };
          options(body.subarray(12), (c, b) => {
            if (c === Dhcpv6Option.IAADDR) {
              if (b.length < 24) throw new MalformedFrame("dhcpv6-bad-option");
              ia.addresses.push({
                address: b.slice(0, 16),
                preferredLifetime: u32(b, 16),
                validLifetime: u32(b, 20),
              });
            } else if (c === Dhcpv6Option.STATUS_CODE) {
              ia.status = parseStatus(b);
            }
          });
          r.iaNa.push(ia);
          break;
        }
        case Dhcpv6Option.ORO:
          if (body.length % 2 !== 0) throw new MalformedFrame("dhcpv6-bad-option");
          for (let i = 0; i < body.length; i += 2) r.requested.push(u16(body, i));
          break;
        case Dhcpv6Option.RAPID_COMMIT:
          r.rapidCommit = true;
          break;
        case Dhcpv6Option.STATUS_CODE:
          r.status = parseStatus(body);
          break;
        case Dhcpv6Option.DNS_SERVERS:
          if (body.length % 16 !== 0) throw new MalformedFrame("dhcpv6-bad-option");
          for (let i = 0; i < body.length; i += 16) r.dnsServers.push(body.slice(i, i + 16));
          break;
      }
    });
    return r;
  },

  /** Builds the message; options appear in a fixed order. */
  emit(r: Dhcpv6Repr): Uint8Array {
    const w = new Writer();
    w.u8(r.msgType);
    w.u8(r.transactionId >>> 16);
    w.u16(r.transactionId & 0xffff);
    const clientId = r.clientId;
    if (clientId !== null) w.option(Dhcpv6Option.CLIENTID, () => w.raw(clientId));
    const serverId = r.serverId;
    if (serverId !== null) w.option(Dhcpv6Option.SERVERID, () => w.raw(serverId));
    for (const ia of r.iaNa) {
      w.option(Dhcpv6Option.IA_NA, () => {
        w.u32(ia.iaid);
        w.u32(ia.t1);
        w.u32(ia.t2);
        for (const a of ia.addresses) {
          w.option(Dhcpv6Option.IAADDR, () => {
            w.raw(a.address.subarray(0, 16));
            w.u32(a.preferredLifetime);
            w.u32(a.validLifetime);
          });
        }
        if (ia.status !== null) writeStatus(w, ia.status);
      });
    }
    if (r.requested.length > 0) {
      w.option(Dhcpv6Option.ORO, () => {
        for (const c of r.requested) w.u16(c);
      });
    }
    if (r.rapidCommit) w.option(Dhcpv6Option.RAPID_COMMIT, () => {});
    if (r.status !== null) writeStatus(w, r.status);
    if (r.dnsServers.length > 0) {
      w.option(Dhcpv6Option.DNS_SERVERS, () => {
        for (const s of r.dnsServers) w.raw(s.subarray(0, 16));
      });
    }
    return w.done();
  },
};
