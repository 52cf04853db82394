// Byte layouts handed to libc: C strings, pointer arrays, msghdr with SCM_RIGHTS, ifreq, sockaddr_in, rtentry.

const encoder = new TextEncoder();

/** Encodes a string as a NUL-terminated C string. */
export function cstr(s: string): Uint8Array<ArrayBuffer> {
  return encoder.encode(s + "\0") as Uint8Array<ArrayBuffer>;
}

/** The address of a buffer's first byte, as the kernel sees it. */
export function addressOf(b: Uint8Array): bigint {
  return BigInt(Deno.UnsafePointer.value(Deno.UnsafePointer.of(b as Uint8Array<ArrayBuffer>)));
}

/**
 * A NULL-terminated array of C strings (argv or envp). The strings are kept
 * alive by the returned object; keep it referenced until the call returns.
 */
export function cstrArray(items: readonly string[]): {
  pointers: Uint8Array<ArrayBuffer>;
  strings: Uint8Array[];
} {
  const strings = items.map(cstr);
  const pointers = new BigUint64Array(strings.length + 1);
  strings.forEach((s, i) => pointers[i] = addressOf(s));
  return { pointers: new Uint8Array(pointers.buffer), strings };
}

/** sizeof(struct msghdr) on 64-bit Linux. */
const MSGHDR_SIZE = 56;
/** CMSG_SPACE(sizeof(int) * 4): room for up to four descriptors. */
const CONTROL_SIZE = 32;
const SOL_SOCKET = 1;
const SCM_RIGHTS = 1;

/**
 * A msghdr over one payload buffer with room for SCM_RIGHTS descriptors.
 * Fill `fds` before sendmsg; read them with {@link MessageHeader.receivedFds} after recvmsg.
 */
export class MessageHeader {
  /** The struct msghdr itself, to pass to sendmsg/recvmsg. */
  readonly header: Uint8Array<ArrayBuffer> = new Uint8Array(MSGHDR_SIZE);
  readonly #control = new Uint8Array(CONTROL_SIZE);
  readonly #iov = new BigUint64Array(2);
  readonly #payload: Uint8Array;

  /**
   * Prepares a header for `payload`: for sending, `fds` (at most four) go as
   * SCM_RIGHTS; pass "receive" to make room for incoming descriptors instead.
   */
  constructor(payload: Uint8Array, fds: readonly number[] | "receive" = []) {
    if (fds !== "receive" && fds.length > 4) {
      throw new RangeError(`Too many descriptors: ${fds.length}`);
    }
    this.#payload = payload;
    this.#iov[0] = addressOf(payload);
    this.#iov[1] = BigInt(payload.length);
    const hv = new DataView(this.header.buffer);
    hv.setBigUint64(16, addressOf(new Uint8Array(this.#iov.buffer)), true); // msg_iov
    hv.setBigUint64(24, 1n, true); // msg_iovlen
    hv.setBigUint64(32, addressOf(this.#control), true); // msg_control
    if (fds === "receive") {
      hv.setBigUint64(40, BigInt(CONTROL_SIZE), true);
    } else if (fds.length > 0) {
      const cv = new DataView(this.#control.buffer);
      const len = 16 + 4 * fds.length; // CMSG_LEN
      cv.setBigUint64(0, BigInt(len), true);
      cv.setInt32(8, SOL_SOCKET, true);
      cv.setInt32(12, SCM_RIGHTS, true);
      fds.forEach((fd, i) => cv.setInt32(16 + 4 * i, fd, true));
      hv.setBigUint64(40, BigInt((len + 7) & ~7), true); // msg_controllen = CMSG_SPACE
    }
  }

  /** The payload buffer this header points at. */
  get payload(): Uint8Array {
    return this.#payload;
  }

  /** The descriptors that arrived with the last recvmsg on this header. */
  receivedFds(): number[] {
    const hv = new DataView(this.header.buffer);
    const controlLen = Number(hv.getBigUint64(40, true));
    if (controlLen < 16) return [];
    const cv = new DataView(this.#control.buffer);
    const len = Number(cv.getBigUint64(0, true));
    if (cv.getInt32(8, true) !== SOL_SOCKET || cv.getInt32(12, true) !== SCM_RIGHTS) return [];
    const fds: number[] = [];
    for (let off = 16; off + 4 <= len && off + 4 <= CONTROL_SIZE; off += 4) {
      fds.push(cv.getInt32(off, true));
    }
    return fds;
  }
}

/** sizeof(struct ifreq). */
export const IFREQ_SIZE = 40;

/** A struct ifreq naming `name` (at most 15 bytes); the union starts at offset 16. */
export function ifreq(name: string): Uint8Array<ArrayBuffer> {
  const b = new Uint8Array(IFREQ_SIZE);
  const n = encoder.encode(name);
  if (n.length > 15) throw new RangeError(`Interface name too long: "${name}"`);
  b.set(n);
  return b;
}

/** Writes a struct sockaddr_in (AF_INET, port 0) for a uint32 address at `offset`. */
export function putSockaddrIn(b: Uint8Array, offset: number, address: number): void {
  const v = new DataView(b.buffer, b.byteOffset);
  v.setUint16(offset, 2, true); // sin_family = AF_INET
  v.setUint16(offset + 2, 0, false); // sin_port
  v.setUint32(offset + 4, address >>> 0, false); // sin_addr, network order
}
