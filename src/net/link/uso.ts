// UDP segmentation offload (USO) on receive: one large UDP datagram from the container's kernel cut into the datagrams its sender meant, as a device would.
//
// A container program that sends with UDP_SEGMENT (QUIC stacks do) hands its
// kernel one buffer holding many datagrams of `gso_size` bytes each. With
// TUN_F_USO4/USO6 agreed, the kernel passes that buffer over the TAP whole, as
// one Ethernet frame with a UDP_L4 virtio-net header (virtio 1.2 5.1.6.2), and
// the receiver must cut it: each piece gets a copy of the Ethernet, IP and UDP
// headers with its own lengths (and, for IPv4, an identification counting up
// and a fresh header checksum), and its own full UDP checksum.

import {
  foldChecksum,
  internetChecksum,
  ipv4PseudoSum,
  ipv6PseudoSum,
  sumWords,
} from "../wire/checksum.ts";

const ETH_HLEN = 14;
const ETHERTYPE_IPV4 = 0x0800;
const ETHERTYPE_IPV6 = 0x86dd;
const PROTO_UDP = 17;
const UDP_HLEN = 8;

/**
 * Cuts `frame`, one UDP datagram of many `gsoSize`-byte payloads, into one frame per payload
 * and calls `emit` with each (a view valid only during the call). Returns how many it emitted;
 * 0 for a frame that is not a well-formed IPv4 or IPv6 UDP datagram (the caller drops it).
 */
export function splitUdpGso(
  frame: Uint8Array,
  gsoSize: number,
  out: Uint8Array,
  emit: (segment: Uint8Array) => void,
): number {
  if (gsoSize <= 0 || frame.length < ETH_HLEN + 20 + UDP_HLEN) return 0;
  const type = (frame[12]! << 8) | frame[13]!;
  let ipLen: number;
  let v6: boolean;
  if (type === ETHERTYPE_IPV4) {
    if (frame[ETH_HLEN]! >> 4 !== 4 || frame[ETH_HLEN + 9] !== PROTO_UDP) return 0;
    ipLen = (frame[ETH_HLEN]! & 0x0f) * 4;
    v6 = false;
  } else if (type === ETHERTYPE_IPV6) {
    if (frame[ETH_HLEN]! >> 4 !== 6 || frame[ETH_HLEN + 6] !== PROTO_UDP) return 0;
    ipLen = 40;
    v6 = true;
  } else {
    return 0;
  }
  const udp = ETH_HLEN + ipLen;
  const payload = udp + UDP_HLEN;
  if (ipLen < 20 || frame.length <= payload || out.length < payload + gsoSize) return 0;
  const ipId = v6 ? 0 : (frame[ETH_HLEN + 4]! << 8) | frame[ETH_HLEN + 5]!;
  let count = 0;
  for (let at = payload; at < frame.length; at += gsoSize) {
    const n = Math.min(gsoSize, frame.length - at);
    out.set(frame.subarray(0, payload), 0);
    out.set(frame.subarray(at, at + n), payload);
    const udpLength = UDP_HLEN + n;
    if (v6) {
      put16(out, ETH_HLEN + 4, udpLength);
    } else {
      put16(out, ETH_HLEN + 2, ipLen + udpLength);
      put16(out, ETH_HLEN + 4, (ipId + count) & 0xffff);
      put16(out, ETH_HLEN + 10, 0);
      put16(out, ETH_HLEN + 10, internetChecksum(out, ETH_HLEN, udp));
    }
    put16(out, udp + 4, udpLength);
    put16(out, udp + 6, 0);
    const pseudo = v6
      ? ipv6PseudoSum(
        out.subarray(ETH_HLEN + 8, ETH_HLEN + 24),
        out.subarray(ETH_HLEN + 24, udp),
        PROTO_UDP,
        udpLength,
      )
      : ipv4PseudoSum(read32(out, ETH_HLEN + 12), read32(out, ETH_HLEN + 16), PROTO_UDP, udpLength);
    let sum = foldChecksum(sumWords(out, udp, payload + n, pseudo));
    if (sum === 0) sum = 0xffff; // RFC 768: a computed zero is sent as all ones
    put16(out, udp + 6, sum);
    emit(out.subarray(0, payload + n));
    count++;
  }
  return count;
}

function put16(b: Uint8Array, at: number, v: number): void {
  b[at] = v >> 8;
  b[at + 1] = v;
}

function read32(b: Uint8Array, at: number): number {
  return ((b[at]! << 24) | (b[at + 1]! << 16) | (b[at + 2]! << 8) | b[at + 3]!) >>> 0;
}
