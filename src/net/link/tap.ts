// The TAP link: frames read and written on the TAP descriptor through FFI, in batches, with virtio-net offloads.
//
// Theory of operation: the descriptor is made non-blocking and watched by
// the network's reactor (../reactor.ts). When it is readable, a burst of frames
// is read with plain synchronous read(2) calls on the main thread until EAGAIN,
// so that a busy link costs no thread-pool hop per frame. After a frame with a
// payload went to the container, the link asks the reactor to linger for the
// container's answer.
//
// Offloads: when the TAP was created with IFF_VNET_HDR, every frame carries a
// virtio-net header (wire/virtio_net.ts) and the link asks for TUNSETOFFLOAD
// with checksum and TCP segmentation offload. The container's kernel then
// hands over TCP segments of up to 64 KiB whatever the MTU, with the transport
// checksum left to the device (NEEDS_CSUM). For TCP the link tells the stack
// the checksum is valid (`checksumValid`), so it skips the sum over the
// payload; for anything else (UDP) it completes the checksum itself, as a
// device would. Frames to the container mark IPv4 TCP checksums as
// partial (the TCP layer then writes only the pseudo-header sum), and a TCP
// segment longer than the MTU is sent whole with a GSO header, cut by the
// container's kernel (virtio 1.2 5.1.6.2). Where the kernel has UDP
// segmentation offload (6.2 and later), it is asked for too: a UDP_SEGMENT send
// from the container crosses as one frame and the link cuts it (uso.ts).
// Without IFF_VNET_HDR the link
// reads and writes bare frames and offers no offload.

import { lastErrno, libc } from "../../../ffi/libc.ts";
import { close, EAGAIN, POLL, setNonBlocking } from "../../../ffi/sys.ts";
import type { Reactor } from "../reactor.ts";
import { splitUdpGso } from "./uso.ts";
import { offerOffloads } from "./tun_offload.ts";
import {
  completeChecksum,
  VIRTIO_NET_HDR_LEN,
  VirtioNetFlag,
  VirtioNetGso,
  VirtioNetHeader,
} from "../wire/virtio_net.ts";

/** The largest frame a TAP hands out: a 64 KiB IP datagram plus the Ethernet header. */
export const MAX_FRAME = 65536 + 14;

/** TUNGETIFF: _IOR('T', 210, unsigned int). */
const TUNGETIFF = 0x800454d2;
/** The ifreq flag for a virtio-net header on every frame. */
export const IFF_VNET_HDR = 0x4000;

const ETH_HLEN = 14;
const ETHERTYPE_IPV4 = 0x0800;
const ETHERTYPE_IPV6 = 0x86dd;
const PROTO_TCP = 6;
/** Offset of the checksum in the TCP header. */
const TCP_CSUM_OFFSET = 16;

/** Counters of the link itself. */
export interface TapStats {
  framesIn: number;
  bytesIn: number;
  framesOut: number;
  bytesOut: number;
  /** Frames not written because the TAP's queue was full or it failed. */
  dropsOut: number;
  /** Received UDP_SEGMENT frames that could not be cut (not IPv4 or IPv6 UDP), dropped. */
  dropsIn: number;
  /** Frames received as one large segment (GSO). */
  gsoIn: number;
  /** Frames sent as one large segment (GSO). */
  gsoOut: number;
}

/** What the TAP and the container's kernel agreed to offload. */
export interface TapOffload {
  /** Frames carry a virtio-net header. */
  readonly vnetHdr: boolean;
  /** Transport checksums may be left partial both ways (TUN_F_CSUM). */
  readonly checksum: boolean;
  /** TCP segments may exceed the MTU both ways (TUN_F_TSO4, TUN_F_TSO6). */
  readonly tso: boolean;
  /**
   * The container's kernel may hand over UDP datagrams sent with UDP_SEGMENT whole, for the
   * link to cut (TUN_F_USO4, TUN_F_USO6; Linux 6.2 and later).
   */
  readonly uso: boolean;
}

/** Receives one frame; `checksumValid` says its TCP checksum need not be verified. */
export type FrameHandler = (frame: Uint8Array, checksumValid: boolean) => void;

/** Options of a {@link TapLink}. */
export interface TapLinkOptions {
  /** Ask for checksum and segmentation offload when the TAP has IFF_VNET_HDR (default true). */
  readonly offload?: boolean;
  /** Ask for UDP segmentation offload too, where the kernel has it (default true). */
  readonly uso?: boolean;
}

/** A TAP device's descriptor as a frame link. */
export class TapLink {
  readonly #fd: number;
  readonly #reactor: Reactor;
  /** Room for a virtio-net header and the largest frame. */
  readonly #buf = new Uint8Array(VIRTIO_NET_HDR_LEN + MAX_FRAME);
  /** Where a UDP_SEGMENT datagram's pieces are built, one at a time. */
  readonly #segment = new Uint8Array(MAX_FRAME);
  readonly #hdrLen: number;
  readonly #txHdr = new VirtioNetHeader(new Uint8Array(VIRTIO_NET_HDR_LEN));
  /** One iovec pair for writev (the header, then the frame), as 32-bit halves. */
  readonly #iov32 = new Uint32Array(8);
  #txBase: ArrayBufferLike | null = null;
  #txBasePtr = 0;
  #closed = false;
  #fdClosed = false;
  /** The offloads in force. */
  readonly offload: TapOffload;
  /** Counters for the debug dump. */
  readonly stats: TapStats = {
    framesIn: 0,
    bytesIn: 0,
    framesOut: 0,
    bytesOut: 0,
    dropsOut: 0,
    dropsIn: 0,
    gsoIn: 0,
    gsoOut: 0,
  };

  /** Takes ownership of `fd` (closed by {@link close}); `reactor` waits for it. */
  constructor(fd: number, reactor: Reactor, options: TapLinkOptions = {}) {
    this.#fd = fd;
    this.#reactor = reactor;
    setNonBlocking(fd, true);
    const vnetHdr = tapHasVnetHdr(fd);
    this.#hdrLen = vnetHdr ? VIRTIO_NET_HDR_LEN : 0;
    const taken = vnetHdr && options.offload !== false
      ? offerOffloads(fd, options.uso !== false)
      : { checksum: false, tso: false, uso: false };
    this.offload = { vnetHdr, ...taken };
    const hdrPtr = Number(Deno.UnsafePointer.value(Deno.UnsafePointer.of(this.#txHdr.bytes)));
    this.#iov32[0] = hdrPtr % 0x1_0000_0000;
    this.#iov32[1] = Math.floor(hdrPtr / 0x1_0000_0000);
    this.#iov32[2] = VIRTIO_NET_HDR_LEN;
  }

  /** True once closed. */
  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Reads every frame that is ready, calling `onFrame` with a view that is
   * valid only during the call. Returns how many were read; 0 means wait.
   */
  readReady(onFrame: FrameHandler, max = 256): number {
    const buf = this.#buf;
    const hlen = this.#hdrLen;
    let count = 0;
    while (count < max && !this.#closed) {
      const n = Number(libc.read(this.#fd, buf, BigInt(buf.length)));
      if (n <= hlen) {
        if (n < 0 && lastErrno() !== EAGAIN) this.#fail();
        if (n <= 0) break;
        continue; // a runt without a whole header: skip it
      }
      count++;
      this.stats.framesIn++;
      this.stats.bytesIn += n - hlen;
      const frame = buf.subarray(hlen, n);
      if (hlen !== 0 && buf[1] === VirtioNetGso.UDP_L4) {
        // One UDP_SEGMENT send: cut it into the datagrams it holds (uso.ts).
        this.stats.gsoIn++;
        const gsoSize = new VirtioNetHeader(buf).gsoSize;
        if (splitUdpGso(frame, gsoSize, this.#segment, (d) => onFrame(d, false)) === 0) {
          this.stats.dropsIn++;
        }
        continue;
      }
      onFrame(frame, hlen === 0 ? false : this.#rxOffload(frame));
    }
    return count;
  }

  /**
   * Applies the received header to `frame`: returns true when the stack may
   * skip checksum verification, completing the checksum itself otherwise.
   */
  #rxOffload(frame: Uint8Array): boolean {
    const buf = this.#buf;
    const flags = buf[0]!;
    if (buf[1] !== VirtioNetGso.NONE) this.stats.gsoIn++;
    if (!(flags & (VirtioNetFlag.NEEDS_CSUM | VirtioNetFlag.DATA_VALID))) return false;
    // The stack's TCP takes the flag for an unfragmented IPv4 segment, or IPv6 with TCP as the
    // first next header (virtio 1.2 5.1.6.3.2 DATA_VALID: already checked; 5.1.6.2.1 NEEDS_CSUM:
    // the field holds only the pseudo-header sum, and the container's own kernel wrote the data).
    const type = frame.length > ETH_HLEN + 40 ? (frame[12]! << 8) | frame[13]! : 0;
    if (
      (type === ETHERTYPE_IPV4 && frame[ETH_HLEN + 9] === PROTO_TCP &&
        ((frame[ETH_HLEN + 6]! & 0x3f) | frame[ETH_HLEN + 7]!) === 0) ||
      (type === ETHERTYPE_IPV6 && frame[ETH_HLEN + 6] === PROTO_TCP)
    ) {
      return true;
    }
    // Anything else (UDP) with NEEDS_CSUM gets its checksum completed here, as a device would.
    if (flags & VirtioNetFlag.NEEDS_CSUM) {
      const h = new VirtioNetHeader(buf);
      completeChecksum(frame, h.csumStart, h.csumOffset);
    }
    return false;
  }

  /**
   * Starts receiving: whenever the TAP is readable, reads ready frames in
   * batches of at most `batch` and calls `afterBatch` after each batch.
   */
  start(onFrame: FrameHandler, afterBatch: () => void, batch = 256): void {
    this.#reactor.watch(this.#fd, POLL.IN, () => {
      if (this.readReady(onFrame, batch) > 0) afterBatch();
    });
  }

  /**
   * Writes one frame; a full queue drops it (TCP retransmits), counted. With
   * checksum offload, an IPv4 TCP frame goes with its checksum marked partial
   * (the TCP layer wrote the pseudo-header sum only); `gsoSize` > 0 sends a
   * TCP segment longer than the MTU whole, to be cut into `gsoSize`-byte
   * segments (virtio 1.2 5.1.6.2).
   */
  send(frame: Uint8Array, gsoSize = 0): void {
    if (this.#closed) return;
    let n: number;
    if (this.#hdrLen === 0) {
      n = Number(libc.write(this.#fd, frame as Uint8Array<ArrayBuffer>, BigInt(frame.length)));
    } else {
      const h = this.#txHdr;
      h.clear();
      if (this.offload.checksum && frame.length >= ETH_HLEN + 40) {
        const ihl = (frame[ETH_HLEN]! & 0x0f) * 4;
        const fragment = ((frame[ETH_HLEN + 6]! & 0x3f) | frame[ETH_HLEN + 7]!) !== 0;
        if (
          ((frame[12]! << 8) | frame[13]!) === ETHERTYPE_IPV4 &&
          frame[ETH_HLEN + 9] === PROTO_TCP && !fragment
        ) {
          h.setChecksumPartial(ETH_HLEN + ihl, TCP_CSUM_OFFSET);
          if (gsoSize > 0 && this.offload.tso) {
            const thl = (frame[ETH_HLEN + ihl + 12]! >> 4) * 4;
            h.setGso(VirtioNetGso.TCPV4, ETH_HLEN + ihl + thl, gsoSize);
            this.stats.gsoOut++;
          }
        }
      }
      // The frame's address, without a BigInt per frame: the base of its (non-moving) buffer,
      // looked up once per buffer, plus its offset, written as two 32-bit halves.
      if (frame.buffer !== this.#txBase) {
        this.#txBase = frame.buffer;
        const whole = new Uint8Array(frame.buffer as ArrayBuffer);
        this.#txBasePtr = Number(Deno.UnsafePointer.value(Deno.UnsafePointer.of(whole)));
      }
      const ptr = this.#txBasePtr + frame.byteOffset;
      const iov = this.#iov32;
      iov[4] = ptr % 0x1_0000_0000;
      iov[5] = Math.floor(ptr / 0x1_0000_0000);
      iov[6] = frame.length;
      iov[7] = 0;
      n = Number(libc.writev(this.#fd, iov, 2)) - VIRTIO_NET_HDR_LEN;
    }
    if (carriesPayload(frame)) this.#reactor.expectAnswer(frame.length);
    if (n === frame.length) {
      this.stats.framesOut++;
      this.stats.bytesOut += n;
    } else {
      this.stats.dropsOut++;
    }
  }

  /** Stops receiving and closes the descriptor. */
  close(): void {
    if (this.#fdClosed) return;
    this.#fail();
    this.#fdClosed = true;
    close(this.#fd);
  }

  /** Stops reading and writing (the descriptor failed or is about to close). */
  #fail(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#reactor.unwatch(this.#fd);
  }
}

/**
 * Whether `frame` asks the container for an answer worth lingering for: anything but a TCP
 * segment without payload (a bare ACK, answered by nothing; lingering after it would only hold
 * up the host side's own reply).
 */
function carriesPayload(frame: Uint8Array): boolean {
  if (frame.length < ETH_HLEN + 40) return true;
  const type = (frame[12]! << 8) | frame[13]!;
  let ipHeader: number;
  let ipTotal: number;
  if (type === ETHERTYPE_IPV4 && frame[ETH_HLEN + 9] === PROTO_TCP) {
    ipHeader = (frame[ETH_HLEN]! & 0x0f) * 4;
    ipTotal = (frame[ETH_HLEN + 2]! << 8) | frame[ETH_HLEN + 3]!;
  } else if (type === ETHERTYPE_IPV6 && frame[ETH_HLEN + 6] === PROTO_TCP) {
    ipHeader = 40;
    ipTotal = 40 + ((frame[ETH_HLEN + 4]! << 8) | frame[ETH_HLEN + 5]!);
  } else {
    return true;
  }
  if (frame.length < ETH_HLEN + ipHeader + 20) return true;
  const tcpHeader = (frame[ETH_HLEN + ipHeader + 12]! >> 4) * 4;
  return ipTotal > ipHeader + tcpHeader;
}

/** Whether the TAP behind `fd` was created with IFF_VNET_HDR (TUNGETIFF). */
function tapHasVnetHdr(fd: number): boolean {
  const ifr = new Uint8Array(40);
  if (libc.ioctl(fd, BigInt(TUNGETIFF), ifr) !== 0) return false;
  return (new DataView(ifr.buffer).getUint16(16, true) & IFF_VNET_HDR) !== 0;
}
