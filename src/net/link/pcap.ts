// A pcap file writer (LINKTYPE_ETHERNET, microsecond timestamps) for capturing the stack's frames.

/** The classic pcap magic for microsecond timestamps. */
export const PCAP_MAGIC = 0xa1b2c3d4;
/** LINKTYPE_ETHERNET. */
export const LINKTYPE_ETHERNET = 1;
/** The default snapshot length. */
export const DEFAULT_SNAPLEN = 262_144;
/** Length of the global header. */
export const PCAP_HEADER_LEN = 24;
/** Length of a record header. */
export const PCAP_RECORD_HEADER_LEN = 16;

/** Where pcap bytes go, e.g. a `Deno.FsFile` (its `writeSync`). */
export interface PcapSink {
  /** Writes all of `bytes` synchronously. */
  write(bytes: Uint8Array): void;
}

/**
 * Writes the pcap format (little-endian, version 2.4). The global header is
 * written by the constructor; then one record per {@link PcapWriter.write}.
 *
 * @example
 * ```ts
 * import { PcapWriter } from "./pcap.ts";
 * const chunks: Uint8Array[] = [];
 * const pcap = new PcapWriter({ write: (b) => chunks.push(b.slice()) });
 * pcap.write(new Uint8Array(60), 1_700_000_000_123.456);
 * console.assert(chunks.length === 2 && chunks[1]!.length === 16 + 60);
 * ```
 */
export class PcapWriter {
  private readonly sink: PcapSink;
  private readonly snaplen: number;
  private record = new Uint8Array(PCAP_RECORD_HEADER_LEN + 2048);

  /** Writes the global header to `sink`. */
  constructor(sink: PcapSink, snaplen = DEFAULT_SNAPLEN) {
    this.sink = sink;
    this.snaplen = snaplen;
    const h = new Uint8Array(PCAP_HEADER_LEN);
    const v = new DataView(h.buffer);
    v.setUint32(0, PCAP_MAGIC, true);
    v.setUint16(4, 2, true);
    v.setUint16(6, 4, true);
    v.setInt32(8, 0, true); // thiszone
    v.setUint32(12, 0, true); // sigfigs
    v.setUint32(16, snaplen, true);
    v.setUint32(20, LINKTYPE_ETHERNET, true);
    sink.write(h);
  }

  /** Records `frame` at `timeMs` (milliseconds since the Unix epoch, fractions kept to the microsecond). */
  write(frame: Uint8Array, timeMs: number): void {
    const caplen = Math.min(frame.length, this.snaplen);
    const need = PCAP_RECORD_HEADER_LEN + caplen;
    if (this.record.length < need) {
      this.record = new Uint8Array(Math.max(need, this.record.length * 2));
    }
    const micros = Math.round(timeMs * 1000);
    const seconds = Math.floor(micros / 1_000_000);
    const v = new DataView(this.record.buffer);
    v.setUint32(0, seconds >>> 0, true);
    v.setUint32(4, micros - seconds * 1_000_000, true);
    v.setUint32(8, caplen, true);
    v.setUint32(12, frame.length, true);
    this.record.set(frame.subarray(0, caplen), PCAP_RECORD_HEADER_LEN);
    this.sink.write(this.record.subarray(0, need));
  }
}

/**
 * Opens `path` for writing (truncating) and returns a writer plus a close
 * function; every write goes straight to the file.
 */
export function openPcapFile(path: string, snaplen = DEFAULT_SNAPLEN): {
  writer: PcapWriter;
  close: () => void;
} {
  const file = Deno.openSync(path, { write: true, create: true, truncate: true });
  const writer = new PcapWriter({
    write(bytes) {
      let off = 0;
      while (off < bytes.length) off += file.writeSync(bytes.subarray(off));
    },
  }, snaplen);
  return { writer, close: () => file.close() };
}
