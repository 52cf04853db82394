// Interface configuration inside the container's network namespace, by ioctl: lo up, eth0 address, default route.

import { close, ioctl, SOCK, socket } from "../../ffi/sys.ts";
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

/** Brings the loopback interface up. */
export function loopbackUp(): void {
  const fd = socket(SOCK.AF_INET, SOCK.DGRAM);
  try {
    bringUp(fd, "lo");
  } finally {
    close(fd);
  }
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
