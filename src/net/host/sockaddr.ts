// Socket addresses for the FFI sockets: struct sockaddr_in and sockaddr_in6 written from and read back into text.

import { SOCK } from "../../../ffi/sys.ts";

/** Writes a sockaddr for `address:port` into a 28-byte buffer; returns its length. */
export function sockaddr(buf: Uint8Array, v6: boolean, address: string, port: number): number {
  buf.fill(0);
  const v = new DataView(buf.buffer, buf.byteOffset);
  if (!v6) {
    const parts = address.split(".").map(Number);
    if (parts.length !== 4 || parts.some((p) => !(p >= 0 && p <= 255))) {
      throw new TypeError(`Not an IPv4 address: "${address}"`);
    }
    v.setUint16(0, SOCK.AF_INET, true);
    v.setUint16(2, port, false);
    parts.forEach((p, i) => buf[4 + i] = p);
    return 16;
  }
  v.setUint16(0, SOCK.AF_INET6, true);
  v.setUint16(2, port, false);
  buf.set(parseIpv6Text(address), 8);
  return 28;
}

/** Parses IPv6 text (with :: and an optional embedded IPv4 tail) into 16 bytes. */
function parseIpv6Text(text: string): Uint8Array {
  const out = new Uint8Array(16);
  let s = text;
  const pct = s.indexOf("%");
  if (pct !== -1) s = s.slice(0, pct);
  const words: number[] = [];
  const tailV4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(s);
  if (tailV4) {
    const p = tailV4[1]!.split(".").map(Number);
    s = s.slice(0, -tailV4[1]!.length) +
      `${((p[0]! << 8) | p[1]!).toString(16)}:${((p[2]! << 8) | p[3]!).toString(16)}`;
  }
  const [head, tail] = s.split("::") as [string, string | undefined];
  const h = head === "" ? [] : head.split(":");
  const t = tail === undefined || tail === "" ? [] : tail.split(":");
  const fill = tail === undefined ? 0 : 8 - h.length - t.length;
  for (const w of h) words.push(parseInt(w, 16));
  for (let i = 0; i < fill; i++) words.push(0);
  for (const w of t) words.push(parseInt(w, 16));
  if (words.length !== 8 || words.some((w) => !(w >= 0 && w <= 0xffff))) {
    throw new TypeError(`Not an IPv6 address: "${text}"`);
  }
  words.forEach((w, i) => {
    out[2 * i] = w >> 8;
    out[2 * i + 1] = w & 0xff;
  });
  return out;
}

/** Formats a sockaddr back into address text and port. */
export function readSockaddr(
  buf: Uint8Array,
): { address: string; port: number; family: "IPv4" | "IPv6" } {
  const v = new DataView(buf.buffer, buf.byteOffset);
  const family = v.getUint16(0, true);
  const port = v.getUint16(2, false);
  if (family === SOCK.AF_INET) {
    return { address: `${buf[4]}.${buf[5]}.${buf[6]}.${buf[7]}`, port, family: "IPv4" };
  }
  const words: string[] = [];
  for (let i = 0; i < 8; i++) words.push(v.getUint16(8 + 2 * i, false).toString(16));
  // Compress the longest run of zero words, as inet_ntop does.
  let best = -1, bestLen = 0;
  for (let i = 0; i < 8;) {
    if (words[i] !== "0") {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && words[j] === "0") j++;
    if (j - i > bestLen && j - i > 1) [best, bestLen] = [i, j - i];
    i = j;
  }
  let address = words.join(":");
  if (best !== -1) {
    address = `${words.slice(0, best).join(":")}::${words.slice(best + bestLen).join(":")}`;
  }
  if (address.startsWith("::ffff:")) {
    const b = buf.subarray(20, 24);
    address = `::ffff:${b[0]}.${b[1]}.${b[2]}.${b[3]}`;
  }
  return { address, port, family: "IPv6" };
}
