// The virtio-net header a TAP with IFF_VNET_HDR puts before every frame: checksum and segmentation offload.
//
// Virtio 1.2 section 5.1.6 ("Device Operation"): `struct virtio_net_hdr` is flags (u8), gso_type
// (u8), hdr_len, gso_size, csum_start, csum_offset (u16 each), 10 bytes without num_buffers. A
// TAP uses the host's byte order (little-endian here) unless TUNSETVNETBE/LE say otherwise.
// Frames from the container may carry NEEDS_CSUM (the transport checksum field holds only the
// pseudo-header sum; the rest is to be summed from csum_start, 5.1.6.2.1) and a GSO type (one
// large TCP segment the receiver may take whole, 5.1.6.4). Frames to the container may ask the
// same of its kernel, which for local delivery skips the checksum altogether.

import { foldChecksum, sumWords } from "./checksum.ts";

/** The header length without `num_buffers` (virtio 1.2 5.1.6, legacy and TUNSETVNETHDRSZ default). */
export const VIRTIO_NET_HDR_LEN = 10;

/** `flags` bits (virtio 1.2 5.1.6). */
export const VirtioNetFlag = {
  /** The checksum from csum_start to the end still has to be computed (5.1.6.2). */
  NEEDS_CSUM: 1,
  /** The checksum was already validated (5.1.6.3.2). */
  DATA_VALID: 2,
} as const;

/** `gso_type` values (virtio 1.2 5.1.6). */
export const VirtioNetGso = {
  NONE: 0,
  TCPV4: 1,
  UDP: 3,
  TCPV6: 4,
  UDP_L4: 5,
  /** Flag: the TCP segment has ECN's CWR set. */
  ECN: 0x80,
} as const;

/** Field offsets in the header. */
const enum Field {
  FLAGS = 0,
  GSO_TYPE = 1,
  HDR_LEN = 2,
  GSO_SIZE = 4,
  CSUM_START = 6,
  CSUM_OFFSET = 8,
}

/**
 * A view over a virtio-net header at the start of `bytes` (no copy).
 *
 * @example
 * ```ts
 * import { VirtioNetFlag, VirtioNetHeader } from "./virtio_net.ts";
 * const h = new VirtioNetHeader(new Uint8Array(10));
 * h.setChecksumPartial(34, 16);
 * console.assert(h.flags === VirtioNetFlag.NEEDS_CSUM && h.csumStart === 34);
 * ```
 */
export class VirtioNetHeader {
  /** Wraps the first {@link VIRTIO_NET_HDR_LEN} bytes of `bytes`. */
  constructor(readonly bytes: Uint8Array) {}

  /** `flags`. */
  get flags(): number {
    return this.bytes[Field.FLAGS]!;
  }
  /** `gso_type`. */
  get gsoType(): number {
    return this.bytes[Field.GSO_TYPE]!;
  }
  /** `hdr_len`: the length of the headers in a GSO frame. */
  get hdrLen(): number {
    return readLe16(this.bytes, Field.HDR_LEN);
  }
  /** `gso_size`: the payload size of each segment a GSO frame stands for. */
  get gsoSize(): number {
    return readLe16(this.bytes, Field.GSO_SIZE);
  }
  /** `csum_start`: where checksumming starts, from the Ethernet header. */
  get csumStart(): number {
    return readLe16(this.bytes, Field.CSUM_START);
  }
  /** `csum_offset`: where the checksum goes, from csum_start. */
  get csumOffset(): number {
    return readLe16(this.bytes, Field.CSUM_OFFSET);
  }

  /** Zeroes the header: a complete frame, no offload. */
  clear(): void {
    this.bytes.fill(0, 0, VIRTIO_NET_HDR_LEN);
  }

  /** Asks the device to finish the checksum from `start`, storing it at `start + offset` (5.1.6.2). */
  setChecksumPartial(start: number, offset: number): void {
    const b = this.bytes;
    b[Field.FLAGS] = VirtioNetFlag.NEEDS_CSUM;
    b[Field.GSO_TYPE] = VirtioNetGso.NONE;
    writeLe16(b, Field.HDR_LEN, 0);
    writeLe16(b, Field.GSO_SIZE, 0);
    writeLe16(b, Field.CSUM_START, start);
    writeLe16(b, Field.CSUM_OFFSET, offset);
  }

  /** Marks the frame as one TCP segment to be cut into `gsoSize`-byte segments (5.1.6.2). */
  setGso(gsoType: number, hdrLen: number, gsoSize: number): void {
    const b = this.bytes;
    b[Field.GSO_TYPE] = gsoType;
    writeLe16(b, Field.HDR_LEN, hdrLen);
    writeLe16(b, Field.GSO_SIZE, gsoSize);
  }
}

/**
 * Completes a partial checksum in `frame` (which starts at the Ethernet header) as a device
 * would for NEEDS_CSUM (virtio 1.2 5.1.6.2.1): sums `frame[start..]`, which includes the
 * pseudo-header sum already in the field, and stores the complement at `start + offset`.
 * Returns false when the offsets fall outside the frame.
 */
export function completeChecksum(frame: Uint8Array, start: number, offset: number): boolean {
  const at = start + offset;
  if (at + 2 > frame.length || start >= frame.length) return false;
  const c = foldChecksum(sumWords(frame, start, frame.length));
  frame[at] = c >> 8;
  frame[at + 1] = c;
  return true;
}

function readLe16(b: Uint8Array, at: number): number {
  return b[at]! | (b[at + 1]! << 8);
}

function writeLe16(b: Uint8Array, at: number, v: number): void {
  b[at] = v;
  b[at + 1] = v >> 8;
}
