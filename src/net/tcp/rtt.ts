// Retransmission timeout estimation of RFC 6298: SRTT, RTTVAR, RTO with bounds and exponential backoff.

/** The RFC 6298 estimator for one connection; all values in milliseconds. */
export class RttEstimator {
  /** Smoothed round-trip time, or -1 before the first sample. */
  srtt = -1;
  /** Round-trip time variation. */
  rttvar = 0;
  /** The current (un-backed-off) RTO. */
  #rto: number;
  /** Number of consecutive backoffs (RFC 6298 (5.5)). */
  backoffs = 0;
  readonly #min: number;
  readonly #max: number;

  /** Creates an estimator with RFC 6298 (2.1) initial RTO and the given bounds. */
  constructor(initialRto: number, minRto: number, maxRto: number) {
    this.#rto = initialRto;
    this.#min = minRto;
    this.#max = maxRto;
  }

  /** The RTO to arm now, including backoff, clamped to the maximum (RFC 6298 (2.5)). */
  get rto(): number {
    return Math.min(this.#rto * 2 ** this.backoffs, this.#max);
  }

  /** Feeds one RTT measurement (RFC 6298 (2.2), (2.3)); Karn's rule is the caller's job (section 3). */
  sample(r: number): void {
    const G = 1; // clock granularity: milliseconds
    r = Math.max(r, 0);
    if (this.srtt < 0) {
      // RFC 6298 (2.2): first measurement.
      this.srtt = r;
      this.rttvar = r / 2;
    } else {
      // RFC 6298 (2.3): alpha = 1/8, beta = 1/4, RTTVAR updated before SRTT.
      this.rttvar = 0.75 * this.rttvar + 0.25 * Math.abs(this.srtt - r);
      this.srtt = 0.875 * this.srtt + 0.125 * r;
    }
    // RFC 6298 (2.4): RTO = SRTT + max(G, K*RTTVAR), at least the minimum.
    this.#rto = Math.max(this.#min, this.srtt + Math.max(G, 4 * this.rttvar));
    this.backoffs = 0;
  }

  /** RFC 6298 (5.5): doubles the RTO after a retransmission timeout. */
  backoff(): void {
    if (this.rto < this.#max) this.backoffs++;
  }
}
