// Pull progress on a terminal: one line per blob, redrawn in place; silent when not a terminal

import type { PullProgress } from "../image/store.ts";

/** Where the display writes; `Deno.stderr` in the CLI, a buffer in tests. */
export interface ProgressSink {
  /** Writes bytes synchronously. */
  writeSync(bytes: Uint8Array): number;
}

/**
 * Formats a byte count with decimal units, as registries and `docker images` do.
 *
 * @example
 * ```ts
 * import { formatSize } from "./progress.ts";
 * console.assert(formatSize(1_234_567) === "1.2 MB");
 * console.assert(formatSize(999) === "999 B");
 * ```
 */
export function formatSize(bytes: number): string {
  const units = ["B", "kB", "MB", "GB", "TB"];
  let n = bytes;
  let u = 0;
  while (n >= 1000 && u < units.length - 1) {
    n /= 1000;
    u++;
  }
  return u === 0 ? `${n} ${units[0]}` : `${n.toFixed(1)} ${units[u]}`;
}

interface Line {
  label: string;
  state: string;
  bytes: number;
  total: number;
}

const STATE_WORDS: Record<string, string> = {
  cached: "already present",
  downloading: "downloading",
  downloaded: "downloaded",
  unpacking: "unpacking",
  done: "done",
};

/**
 * Renders {@link PullProgress} events. On a terminal every config and layer blob gets one
 * line that is rewritten in place (cursor up, clear line); elsewhere nothing is drawn, so
 * logs and pipes get only the caller's final line. Redraws for byte counts are limited to
 * about ten a second; state changes always redraw.
 *
 * @example
 * ```ts
 * import { PullDisplay } from "./progress.ts";
 * const out: Uint8Array[] = [];
 * const display = new PullDisplay({ writeSync: (b) => (out.push(b), b.length) }, false);
 * display.update({ kind: "manifest", reference: "r", digest: "sha256:00", platform: "linux/amd64" });
 * display.finish();
 * console.assert(out.length === 0);
 * ```
 */
export class PullDisplay {
  readonly #sink: ProgressSink;
  readonly #terminal: boolean;
  readonly #lines = new Map<string, Line>();
  #drawn = 0;
  #lastDraw = 0;
  #header: string | null = null;

  /** Builds a display writing to `sink`; it draws only when `terminal` is true. */
  constructor(sink: ProgressSink, terminal: boolean) {
    this.#sink = sink;
    this.#terminal = terminal;
  }

  /** Takes one event; suitable as `onProgress`. Never throws. */
  update(e: PullProgress): void {
    if (!this.#terminal) return;
    try {
      let force = false;
      if (e.kind === "manifest") {
        this.#header = `pulling ${e.reference} (${e.platform})`;
        force = true;
      } else {
        const old = this.#lines.get(e.digest);
        force = old === undefined || old.state !== e.state;
        const label = `${e.role === "config" ? "config" : "layer "} ${e.digest.slice(7, 19)}`;
        this.#lines.set(e.digest, { label, state: e.state, bytes: e.bytes, total: e.total });
      }
      const now = Date.now();
      if (force || now - this.#lastDraw >= 100) {
        this.#lastDraw = now;
        this.#draw();
      }
    } catch {
      // A display problem (closed terminal) must never fail the pull.
    }
  }

  /** Draws the final state once more; call when the pull ended, whatever the outcome. */
  finish(): void {
    if (!this.#terminal) return;
    try {
      this.#draw();
    } catch {
      // as above
    }
  }

  #draw(): void {
    const rows: string[] = [];
    if (this.#header !== null) rows.push(this.#header);
    for (const l of this.#lines.values()) {
      const word = STATE_WORDS[l.state] ?? l.state;
      const amount = l.state === "downloading"
        ? `  ${formatSize(l.bytes)} / ${formatSize(l.total)}`
        : l.state === "done" || l.state === "cached"
        ? `  ${formatSize(l.total)}`
        : "";
      rows.push(`  ${l.label}  ${word}${amount}`);
    }
    let text = this.#drawn > 0 ? `\x1b[${this.#drawn}A` : "";
    for (const r of rows) text += `\r\x1b[2K${r}\n`;
    this.#drawn = rows.length;
    const bytes = new TextEncoder().encode(text);
    let off = 0;
    while (off < bytes.length) off += this.#sink.writeSync(bytes.subarray(off));
  }
}
