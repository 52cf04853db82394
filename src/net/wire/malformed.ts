// The one error type for "this frame is bad": thrown by wire parsers, caught and counted at the interface.

/**
 * Thrown by a wire-format parser when input cannot be a valid packet. The
 * `reason` is a short stable key (e.g. `"ipv4-bad-checksum"`) used as the drop
 * counter name; the interface catches this error once and counts it.
 *
 * @example
 * ```ts
 * import { MalformedFrame } from "./malformed.ts";
 * try {
 *   throw new MalformedFrame("udp-truncated");
 * } catch (e) {
 *   console.assert(e instanceof MalformedFrame && e.reason === "udp-truncated");
 * }
 * ```
 */
export class MalformedFrame extends Error {
  /** A short kebab-case key naming what was wrong, used as a drop counter name. */
  readonly reason: string;

  /** Creates the error; `detail` is optional human-readable context. */
  constructor(reason: string, detail?: string) {
    super(
      detail === undefined ? `Malformed frame: ${reason}` : `Malformed frame: ${reason}: ${detail}`,
    );
    this.name = "MalformedFrame";
    this.reason = reason;
  }
}
