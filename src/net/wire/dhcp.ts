// BOOTP/DHCP messages (RFC 951, RFC 2131) and the options the stack uses (RFC 2132): a view and a parsed record.

import { readIpv4, writeIpv4 } from "./ipv4_address.ts";
import { MalformedFrame } from "./malformed.ts";

/** Offset of op (1 request, 2 reply). */
export const DHCP_OP = 0;
/** Offset of the hardware type. */
export const DHCP_HTYPE = 1;
/** Offset of the hardware address length. */
export const DHCP_HLEN = 2;
/** Offset of the relay hop count. */
export const DHCP_HOPS = 3;
/** Offset of the transaction id. */
export const DHCP_XID = 4;
/** Offset of seconds elapsed. */
export const DHCP_SECS = 8;
/** Offset of flags (bit 15: broadcast). */
export const DHCP_FLAGS = 10;
/** Offset of the client's current address. */
export const DHCP_CIADDR = 12;
/** Offset of "your" (offered) address. */
export const DHCP_YIADDR = 16;
/** Offset of the next server address. */
export const DHCP_SIADDR = 20;
/** Offset of the relay agent address. */
export const DHCP_GIADDR = 24;
/** Offset of the client hardware address (16 bytes). */
export const DHCP_CHADDR = 28;
/** Offset of the server host name (64 bytes). */
export const DHCP_SNAME = 44;
/** Offset of the boot file name (128 bytes). */
export const DHCP_FILE = 108;
/** Offset of the magic cookie 99.130.83.99 (RFC 2131 section 3). */
export const DHCP_COOKIE = 236;
/** Offset of the options. */
export const DHCP_OPTIONS = 240;
/** The magic cookie as a uint32. */
export const DHCP_MAGIC = 0x63825363;
/** The minimum BOOTP message length; replies are padded to it (RFC 1542 section 2.1). */
export const BOOTP_MIN_LEN = 300;
/** The broadcast flag within the flags field (RFC 2131 section 2). */
export const DHCP_FLAG_BROADCAST = 0x8000;

/** Option codes (RFC 2132). */
export const DhcpOption = {
  /** Padding. */
  PAD: 0,
  /** Subnet mask. */
  SUBNET_MASK: 1,
  /** Routers. */
  ROUTER: 3,
  /** DNS servers. */
  DNS: 6,
  /** Host name. */
  HOST_NAME: 12,
  /** Interface MTU. */
  MTU: 26,
  /** Broadcast address. */
  BROADCAST: 28,
  /** Requested IP address. */
  REQUESTED_IP: 50,
  /** Lease time in seconds. */
  LEASE_TIME: 51,
  /** Option overload (not supported). */
  OVERLOAD: 52,
  /** DHCP message type. */
  MESSAGE_TYPE: 53,
  /** Server identifier. */
  SERVER_ID: 54,
  /** Parameter request list. */
  PARAMETER_REQUEST_LIST: 55,
  /** Renewal (T1) time. */
  RENEWAL_TIME: 58,
  /** Rebinding (T2) time. */
  REBINDING_TIME: 59,
  /** Client identifier. */
  CLIENT_ID: 61,
  /** End of options. */
  END: 255,
} as const;

/** DHCP message types (RFC 2132 section 9.6). */
export const DhcpMessageType = {
  /** Client looks for servers. */
  DISCOVER: 1,
  /** Server offers an address. */
  OFFER: 2,
  /** Client requests the offered or a known address. */
  REQUEST: 3,
  /** Client declines an address in use. */
  DECLINE: 4,
  /** Server confirms. */
  ACK: 5,
  /** Server refuses. */
  NAK: 6,
  /** Client gives up its address. */
  RELEASE: 7,
  /** Client wants parameters only. */
  INFORM: 8,
} as const;

/** A zero-copy view over a BOOTP/DHCP message (the UDP payload). */
export class DhcpMessage {
  /** The message bytes. */
  readonly bytes: Uint8Array;

  /** Wraps `bytes` without copying or checking. */
  constructor(bytes: Uint8Array) {
    this.bytes = bytes;
  }

  /** Checks the fixed part and the magic cookie; throws {@link MalformedFrame}. */
  static check(bytes: Uint8Array): DhcpMessage {
    if (bytes.length < DHCP_OPTIONS) throw new MalformedFrame("dhcp-truncated");
    const m = new DhcpMessage(bytes);
    if (m.cookie !== DHCP_MAGIC) throw new MalformedFrame("dhcp-bad-cookie");
    if (m.htype !== 1 || m.hlen !== 6) throw new MalformedFrame("dhcp-unsupported-hardware");
    return m;
  }

  /** 1 BOOTREQUEST, 2 BOOTREPLY. */
  get op(): number {
    return this.bytes[DHCP_OP]!;
  }
  set op(v: number) {
    this.bytes[DHCP_OP] = v;
  }
  /** Hardware type (1 Ethernet). */
  get htype(): number {
    return this.bytes[DHCP_HTYPE]!;
  }
  set htype(v: number) {
    this.bytes[DHCP_HTYPE] = v;
  }
  /** Hardware address length. */
  get hlen(): number {
    return this.bytes[DHCP_HLEN]!;
  }
  set hlen(v: number) {
    this.bytes[DHCP_HLEN] = v;
  }
  /** Transaction id. */
  get xid(): number {
    return readIpv4(this.bytes, DHCP_XID);
  }
  set xid(v: number) {
    writeIpv4(this.bytes, DHCP_XID, v);
  }
  /** Seconds since the client began. */
  get secs(): number {
    return (this.bytes[DHCP_SECS]! << 8) | this.bytes[DHCP_SECS + 1]!;
  }
  set secs(v: number) {
    this.bytes[DHCP_SECS] = v >>> 8;
    this.bytes[DHCP_SECS + 1] = v;
  }
  /** Flags. */
  get flags(): number {
    return (this.bytes[DHCP_FLAGS]! << 8) | this.bytes[DHCP_FLAGS + 1]!;
  }
  set flags(v: number) {
    this.bytes[DHCP_FLAGS] = v >>> 8;
    this.bytes[DHCP_FLAGS + 1] = v;
  }
  /** Client address. */
  get ciaddr(): number {
    return readIpv4(this.bytes, DHCP_CIADDR);
  }
  set ciaddr(v: number) {
    writeIpv4(this.bytes, DHCP_CIADDR, v);
  }
  /** Your address. */
  get yiaddr(): number {
    return readIpv4(this.bytes, DHCP_YIADDR);
  }
  set yiaddr(v: number) {
    writeIpv4(this.bytes, DHCP_YIADDR, v);
  }
  /** Next server address. */
  get siaddr(): number {
    return readIpv4(this.bytes, DHCP_SIADDR);
  }
  set siaddr(v: number) {
    writeIpv4(this.bytes, DHCP_SIADDR, v);
  }
  /** Relay agent address. */
  get giaddr(): number {
    return readIpv4(this.bytes, DHCP_GIADDR);
  }
  set giaddr(v: number) {
    writeIpv4(this.bytes, DHCP_GIADDR, v);
  }
  /** Client MAC (first 6 bytes of chaddr, a view). */
  get clientMac(): Uint8Array {
    return this.bytes.subarray(DHCP_CHADDR, DHCP_CHADDR + 6);
  }
  set clientMac(mac: Uint8Array) {
    this.bytes.fill(0, DHCP_CHADDR, DHCP_SNAME);
    this.bytes.set(mac.subarray(0, 6), DHCP_CHADDR);
  }
  /** The magic cookie. */
  get cookie(): number {
    return readIpv4(this.bytes, DHCP_COOKIE);
  }
  set cookie(v: number) {
    writeIpv4(this.bytes, DHCP_COOKIE, v);
  }
  /** The options area (a view). */
  get options(): Uint8Array {
    return this.bytes.subarray(DHCP_OPTIONS);
  }

  /**
   * Calls `visit(code, value)` for each option until END (RFC 2132 section 2);
   * throws {@link MalformedFrame} when an option runs past the buffer.
   */
  forEachOption(visit: (code: number, value: Uint8Array) => void): void {
    const b = this.bytes;
    let i = DHCP_OPTIONS;
    while (i < b.length) {
      const code = b[i]!;
      if (code === DhcpOption.PAD) {
        i++;
        continue;
      }
      if (code === DhcpOption.END) return;
      if (i + 1 >= b.length) throw new MalformedFrame("dhcp-bad-option");
      const len = b[i + 1]!;
      if (i + 2 + len > b.length) throw new MalformedFrame("dhcp-bad-option");
      visit(code, b.subarray(i + 2, i + 2 + len));
      i += 2 + len;
    }
  }
}

/** A parsed DHCP message: the fixed fields plus the options the stack reads or writes. */
export interface DhcpRepr {
  /** 1 BOOTREQUEST, 2 BOOTREPLY. */
  op: number;
  /** Transaction id. */
  xid: number;
  /** Seconds elapsed. */
  secs: number;
  /** Flags (see {@link DHCP_FLAG_BROADCAST}). */
  flags: number;
  /** Client address. */
  ciaddr: number;
  /** Your address. */
  yiaddr: number;
  /** Next server address. */
  siaddr: number;
  /** Relay agent address. */
  giaddr: number;
  /** Client MAC (6 bytes). */
  clientMac: Uint8Array;
  /** Option 53; required in DHCP (a plain BOOTP message is rejected). */
  messageType: number;
  /** Option 50. */
  requestedIp?: number;
  /** Option 54. */
  serverId?: number;
  /** Option 51, seconds. */
  leaseTime?: number;
  /** Option 58, seconds. */
  renewalTime?: number;
  /** Option 59, seconds. */
  rebindingTime?: number;
  /** Option 1. */
  subnetMask?: number;
  /** Option 3 (first router only). */
  router?: number;
  /** Option 6. */
  dnsServers?: number[];
  /** Option 26. */
  mtu?: number;
  /** Option 28. */
  broadcast?: number;
  /** Option 55 (copied). */
  parameterRequestList?: Uint8Array;
  /** Option 61 (copied). */
  clientId?: Uint8Array;
}

function u32Option(value: Uint8Array): number {
  if (value.length !== 4) throw new MalformedFrame("dhcp-bad-option");
  return readIpv4(value, 0);
}

/** Parse, emit and size a {@link DhcpRepr}. */
export const DhcpRepr = {
  /** Parses a DHCP message; throws {@link MalformedFrame}. */
  parse(bytes: Uint8Array): DhcpRepr {
    const m = DhcpMessage.check(bytes);
    if (m.op !== 1 && m.op !== 2) throw new MalformedFrame("dhcp-bad-op");
    const repr: DhcpRepr = {
      op: m.op,
      xid: m.xid,
      secs: m.secs,
      flags: m.flags,
      ciaddr: m.ciaddr,
      yiaddr: m.yiaddr,
      siaddr: m.siaddr,
      giaddr: m.giaddr,
      clientMac: m.clientMac.slice(),
      messageType: 0,
    };
    m.forEachOption((code, value) => {
      switch (code) {
        case DhcpOption.MESSAGE_TYPE:
          if (value.length !== 1) throw new MalformedFrame("dhcp-bad-option");
          repr.messageType = value[0]!;
          break;
        case DhcpOption.REQUESTED_IP:
          repr.requestedIp = u32Option(value);
          break;
        case DhcpOption.SERVER_ID:
          repr.serverId = u32Option(value);
          break;
        case DhcpOption.LEASE_TIME:
          repr.leaseTime = u32Option(value);
          break;
        case DhcpOption.RENEWAL_TIME:
          repr.renewalTime = u32Option(value);
          break;
        case DhcpOption.REBINDING_TIME:
          repr.rebindingTime = u32Option(value);
          break;
        case DhcpOption.SUBNET_MASK:
          repr.subnetMask = u32Option(value);
          break;
        case DhcpOption.BROADCAST:
          repr.broadcast = u32Option(value);
          break;
        case DhcpOption.ROUTER:
          if (value.length < 4 || value.length % 4 !== 0) {
            throw new MalformedFrame("dhcp-bad-option");
          }
          repr.router = readIpv4(value, 0);
          break;
        case DhcpOption.DNS: {
          if (value.length < 4 || value.length % 4 !== 0) {
            throw new MalformedFrame("dhcp-bad-option");
          }
          const servers: number[] = [];
          for (let i = 0; i < value.length; i += 4) servers.push(readIpv4(value, i));
          repr.dnsServers = servers;
          break;
        }
        case DhcpOption.MTU:
          if (value.length !== 2) throw new MalformedFrame("dhcp-bad-option");
          repr.mtu = (value[0]! << 8) | value[1]!;
          break;
        case DhcpOption.PARAMETER_REQUEST_LIST:
          repr.parameterRequestList = value.slice();
          break;
        case DhcpOption.CLIENT_ID:
          repr.clientId = value.slice();
          break;
      }
    });
    if (repr.messageType < 1 || repr.messageType > 8) {
      throw new MalformedFrame("dhcp-bad-message-type");
    }
    return repr;
  },

  /** Writes the message into `bytes` (zero-filled first); returns the length written. */
  emit(repr: DhcpRepr, bytes: Uint8Array): number {
    const len = DhcpRepr.bufferLen(repr);
    bytes.fill(0, 0, len);
    const m = new DhcpMessage(bytes);
    m.op = repr.op;
    m.htype = 1;
    m.hlen = 6;
    m.xid = repr.xid;
    m.secs = repr.secs;
    m.flags = repr.flags;
    m.ciaddr = repr.ciaddr;
    m.yiaddr = repr.yiaddr;
    m.siaddr = repr.siaddr;
    m.giaddr = repr.giaddr;
    m.clientMac = repr.clientMac;
    m.cookie = DHCP_MAGIC;
    let i = DHCP_OPTIONS;
    const put = (code: number, value: ArrayLike<number>) => {
      bytes[i] = code;
      bytes[i + 1] = value.length;
      bytes.set(value, i + 2);
      i += 2 + value.length;
    };
    const u32 = (v: number) => [v >>> 24, (v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff];
    put(DhcpOption.MESSAGE_TYPE, [repr.messageType]);
    if (repr.serverId !== undefined) put(DhcpOption.SERVER_ID, u32(repr.serverId));
    if (repr.requestedIp !== undefined) put(DhcpOption.REQUESTED_IP, u32(repr.requestedIp));
    if (repr.leaseTime !== undefined) put(DhcpOption.LEASE_TIME, u32(repr.leaseTime));
    if (repr.renewalTime !== undefined) put(DhcpOption.RENEWAL_TIME, u32(repr.renewalTime));
    if (repr.rebindingTime !== undefined) put(DhcpOption.REBINDING_TIME, u32(repr.rebindingTime));
    if (repr.subnetMask !== undefined) put(DhcpOption.SUBNET_MASK, u32(repr.subnetMask));
    if (repr.router !== undefined) put(DhcpOption.ROUTER, u32(repr.router));
    if (repr.broadcast !== undefined) put(DhcpOption.BROADCAST, u32(repr.broadcast));
    if (repr.dnsServers !== undefined && repr.dnsServers.length > 0) {
      put(DhcpOption.DNS, repr.dnsServers.flatMap(u32));
    }
    if (repr.mtu !== undefined) put(DhcpOption.MTU, [repr.mtu >>> 8, repr.mtu & 0xff]);
    if (repr.parameterRequestList !== undefined) {
      put(DhcpOption.PARAMETER_REQUEST_LIST, repr.parameterRequestList);
    }
    if (repr.clientId !== undefined) put(DhcpOption.CLIENT_ID, repr.clientId);
    bytes[i] = DhcpOption.END;
    return len;
  },

  /** The emitted length: fixed part, options, END, padded to {@link BOOTP_MIN_LEN}. */
  bufferLen(repr: DhcpRepr): number {
    let n = DHCP_OPTIONS + 3; // message type
    if (repr.serverId !== undefined) n += 6;
    if (repr.requestedIp !== undefined) n += 6;
    if (repr.leaseTime !== undefined) n += 6;
    if (repr.renewalTime !== undefined) n += 6;
    if (repr.rebindingTime !== undefined) n += 6;
    if (repr.subnetMask !== undefined) n += 6;
    if (repr.router !== undefined) n += 6;
    if (repr.broadcast !== undefined) n += 6;
    if (repr.dnsServers !== undefined && repr.dnsServers.length > 0) {
      n += 2 + 4 * repr.dnsServers.length;
    }
    if (repr.mtu !== undefined) n += 4;
    if (repr.parameterRequestList !== undefined) n += 2 + repr.parameterRequestList.length;
    if (repr.clientId !== undefined) n += 2 + repr.clientId.length;
    n += 1; // END
    return Math.max(n, BOOTP_MIN_LEN);
  },
};
