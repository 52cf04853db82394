// The offloads a TAP device is asked for (TUNSETOFFLOAD): checksums, TCP and UDP segmentation, the most the kernel takes.

import { libc } from "../../../ffi/libc.ts";

/** TUNSETOFFLOAD: _IOW('T', 208, unsigned int). */
const TUNSETOFFLOAD = 0x400454d0;

/** TUNSETOFFLOAD bits (linux/if_tun.h). */
export const TunOffload = { CSUM: 0x01, TSO4: 0x02, TSO6: 0x04, USO4: 0x20, USO6: 0x40 } as const;

/** What a TAP device took: checksum offload, TCP segmentation, UDP segmentation. */
export interface OffloadsTaken {
  readonly checksum: boolean;
  readonly tso: boolean;
  readonly uso: boolean;
}

/**
 * Asks the TAP device at `fd` (made with IFF_VNET_HDR) for checksum offload, TCP and, unless
 * `uso` is false, UDP segmentation offload, falling back to what an older kernel takes
 * (UDP segmentation came with Linux 6.2). The container's kernel then hands over segments
 * of up to 64 KiB. The container's own child asks first, before INIT runs; the host side's
 * link asks again, for what it wants.
 */
export function offerOffloads(fd: number, uso = true): OffloadsTaken {
  const tcp = TunOffload.CSUM | TunOffload.TSO4 | TunOffload.TSO6;
  const offer = (bits: number) => libc.ioctlValue(fd, BigInt(TUNSETOFFLOAD), BigInt(bits)) === 0;
  if (uso && offer(tcp | TunOffload.USO4 | TunOffload.USO6)) {
    return { checksum: true, tso: true, uso: true };
  }
  if (offer(tcp)) return { checksum: true, tso: true, uso: false };
  if (offer(TunOffload.CSUM)) return { checksum: true, tso: false, uso: false };
  return { checksum: false, tso: false, uso: false };
}
