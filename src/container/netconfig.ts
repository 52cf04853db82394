// Interface configuration inside the container's network namespace, by ioctl and netlink: lo up, eth0 addresses, default routes.

import { close, ioctl, read, SOCK, socket, writeAll } from "../../ffi/sys.ts";
import { SyscallError } from "../../ffi/errno.ts";
import { DEFAULT_NETWORK_CONFIG } from "../net/config.ts";
import { ifreq, putSockaddrIn } from "../../ffi/structs.ts";

const SIOCGIFFLAGS = 0x8913;
const SIOCSIFFLAGS = 0x8914;
const SIOCSIFADDR = 0x8916;
const SIOCSIFNETMASK = 0x891c;
const SIOCSIFMTU = 0x8922;
const SIOCADDRT = 0x890b;
const IFF_UP = 0x1;
const IFF_RUNNING = 0x40;
const RTF_UP = 0x1;
const RTF_GATEWAY = 0x2;

function bringUp(fd: number, name: string): void {
  const req = ifreq(name);
  ioctl(fd, SIOCGIFFLAGS, req, name);
  const v = new DataView(req.buffer);
  v.setUint16(16, v.getUint16(16, true) | IFF_UP | IFF_RUNNING, true);
  ioctl(fd, SIOCSIFFLAGS, req, name);
}

/** The netmask for a prefix length, as a uint32. */
export function prefixToMask(prefix: number): number {
  return prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
}

/** Gives `name` an IPv4 address, an MTU, brings it up and adds a default route via `gateway`. */
export function configureInterface(
  name: string,
  address: number,
  prefixLength: number,
  gateway: number,
  mtu: number,
): void {
  const fd = socket(SOCK.AF_INET, SOCK.DGRAM);
  try {
    let req = ifreq(name);
    new DataView(req.buffer).setInt32(16, mtu, true);
    ioctl(fd, SIOCSIFMTU, req, name);
    req = ifreq(name);
    putSockaddrIn(req, 16, address);
    ioctl(fd, SIOCSIFADDR, req, name);
    req = ifreq(name);
    putSockaddrIn(req, 16, prefixToMask(prefixLength));
    ioctl(fd, SIOCSIFNETMASK, req, name);
    bringUp(fd, name);
    // struct rtentry (64-bit): rt_dst at 8, rt_gateway at 24, rt_genmask at 40, rt_flags at 56.
    const rt = new Uint8Array(120);
    putSockaddrIn(rt, 8, 0);
    putSockaddrIn(rt, 24, gateway);
    putSockaddrIn(rt, 40, 0);
    new DataView(rt.buffer).setUint16(56, RTF_UP | RTF_GATEWAY, true);
    ioctl(fd, SIOCADDRT, rt, "default route");
  } finally {
    close(fd);
  }
}

const SIOCGIFINDEX = 0x8933;
const AF_NETLINK = 16;
const SOCK_RAW = 3;
const NETLINK_ROUTE = 0;
const RTM_NEWADDR = 20;
const NLMSG_ERROR = 2;
const NLM_F_REQUEST = 0x1;
const NLM_F_ACK = 0x4;
const NLM_F_EXCL = 0x200;
const NLM_F_CREATE = 0x400;
const IFA_ADDRESS = 1;
const IFA_FLAGS = 8;
const IFA_F_NODAD = 0x02;
const ROUTE_METRIC = 1;

/** The interface index of `name` (SIOCGIFINDEX). */
function interfaceIndex(fd: number, name: string): number {
  const req = ifreq(name);
  ioctl(fd, SIOCGIFINDEX, req, name);
  return new DataView(req.buffer).getInt32(16, true);
}

/**
 * Adds `address/prefixLength` to interface `index` over rtnetlink with
 * IFA_F_NODAD, so the address is usable at once: duplicate address detection
 * (RFC 4862 section 5.4) would hold it tentative for a second, and the
 * container's /proc/sys is read-only, so accept_dad cannot be turned off.
 */
function addAddress6(index: number, address: Uint8Array, prefixLength: number): void {
  const msg = new Uint8Array(16 + 8 + 20 + 8);
  const v = new DataView(msg.buffer);
  // struct nlmsghdr: len, type, flags, seq, pid.
  v.setUint32(0, msg.length, true);
  v.setUint16(4, RTM_NEWADDR, true);
  v.setUint16(6, NLM_F_REQUEST | NLM_F_ACK | NLM_F_EXCL | NLM_F_CREATE, true);
  v.setUint32(8, 1, true);
  // struct ifaddrmsg: family, prefixlen, flags, scope, index.
  msg[16] = SOCK.AF_INET6;
  msg[17] = prefixLength;
  msg[18] = IFA_F_NODAD;
  msg[19] = 0;
  v.setUint32(20, index, true);
  // struct rtattr IFA_ADDRESS, then IFA_FLAGS (u32).
  v.setUint16(24, 20, true);
  v.setUint16(26, IFA_ADDRESS, true);
  msg.set(address.subarray(0, 16), 28);
  v.setUint16(44, 8, true);
  v.setUint16(46, IFA_FLAGS, true);
  v.setUint32(48, IFA_F_NODAD, true);
  const fd = socket(AF_NETLINK, SOCK_RAW, NETLINK_ROUTE);
  try {
    writeAll(fd, msg);
    const reply = new Uint8Array(4096);
    const n = read(fd, reply);
    const r = new DataView(reply.buffer);
    if (n < 20 || r.getUint16(4, true) !== NLMSG_ERROR) {
      throw new SyscallError("netlink RTM_NEWADDR", 5, "eth0");
    }
    const error = r.getInt32(16, true);
    if (error !== 0) throw new SyscallError("netlink RTM_NEWADDR", -error, "eth0");
  } finally {
    close(fd);
  }
}

/** The container's IPv6 addressing: its address, the prefix length and the gateway. */
export interface Ipv6Setup {
  /** The container's address (16 bytes). */
  readonly address: Uint8Array;
  /** The prefix length of the link. */
  readonly prefixLength: number;
  /** The default router (16 bytes). */
  readonly gateway: Uint8Array;
}

/** fd00:15::2/64 via fd00:15::1, the stack's defaults. */
export const DEFAULT_IPV6_SETUP: Ipv6Setup = {
  address: DEFAULT_NETWORK_CONFIG.containerAddress6,
  prefixLength: DEFAULT_NETWORK_CONFIG.prefixLength6,
  gateway: DEFAULT_NETWORK_CONFIG.gatewayAddress6,
};

/**
 * Gives `name` (already up, see {@link configureInterface}) the IPv6 address
 * `setup.address` without duplicate address detection and a default route via
 * `setup.gateway` (struct in6_rtmsg with SIOCADDRT). Router
 * advertisements from the gateway are accepted as the kernel's defaults have
 * it (accept_ra 1 on a host that does not forward), so SLAAC works alongside.
 * Does nothing when `mtu` is below 1280: the kernel turns IPv6 off on such a
 * link (RFC 8200 section 5).
 */
export function configureInterface6(
  name: string,
  mtu: number,
  setup: Ipv6Setup = DEFAULT_IPV6_SETUP,
): void {
  if (mtu < 1280) return;
  const { address, prefixLength, gateway } = setup;
  const fd = socket(SOCK.AF_INET6, SOCK.DGRAM);
  try {
    const index = interfaceIndex(fd, name);
    addAddress6(index, address, prefixLength);
    // struct in6_rtmsg: dst 0, src 16, gateway 32, type 48, dst_len 52, src_len 54,
    // metric 56, info 64, flags 72, ifindex 76; 80 bytes.
    const rt = new Uint8Array(80);
    const v = new DataView(rt.buffer);
    rt.set(gateway.subarray(0, 16), 32);
    v.setUint32(56, ROUTE_METRIC, true);
    v.setUint32(72, RTF_UP | RTF_GATEWAY, true);
    v.setInt32(76, index, true);
    ioctl(fd, SIOCADDRT, rt, "default IPv6 route");
  } finally {
    close(fd);
  }
}
