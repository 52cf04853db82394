// NewReno congestion control: slow start and congestion avoidance (RFC 5681), fast recovery (RFC 6582).

/** Congestion window state for one connection; bytes. */
export class NewReno {
  /** Congestion window. */
  cwnd: number;
  /** Slow-start threshold; RFC 5681 section 3.1: initially arbitrarily high. */
  ssthresh = 0x7fffffff;
  /** True during fast recovery. */
  inRecovery = false;
  /** RFC 6582 section 3.2 "recover": the highest sequence sent when recovery began. */
  recover = 0;
  #mss: number;

  /** Starts with the RFC 5681 section 3.1 initial window (IW) for `mss`. */
  constructor(mss: number) {
    this.#mss = mss;
    this.cwnd = initialWindow(mss);
  }

  /** Updates the MSS once negotiated, resetting the initial window. */
  setMss(mss: number): void {
    this.#mss = mss;
    this.cwnd = initialWindow(mss);
  }

  /** An ACK acknowledged `acked` new bytes outside recovery (RFC 5681 section 3.1). */
  onAck(acked: number): void {
    const mss = this.#mss;
    if (this.cwnd < this.ssthresh) {
      // Slow start, with appropriate byte counting limited to one SMSS per ACK (RFC 5681 3.1, eq. 2).
      this.cwnd += Math.min(acked, mss);
    } else {
      // Congestion avoidance (RFC 5681 3.1, eq. 3).
      this.cwnd += Math.max(1, Math.floor((mss * mss) / this.cwnd));
    }
  }

  /** The third duplicate ACK: enter fast recovery (RFC 5681 3.2 steps 2-3; RFC 6582 3.2 step 2). */
  enterRecovery(flight: number, highest: number): void {
    const mss = this.#mss;
    this.ssthresh = Math.max(Math.floor(flight / 2), 2 * mss);
    this.cwnd = this.ssthresh + 3 * mss;
    this.inRecovery = true;
    this.recover = highest;
  }

  /** A further duplicate ACK during recovery inflates the window (RFC 5681 3.2 step 4). */
  onDupAckInRecovery(): void {
    this.cwnd += this.#mss;
  }

  /** RFC 6582 3.2 step 5 partial ACK: deflate by the amount acked, add back one SMSS. */
  onPartialAck(acked: number): void {
    this.cwnd = Math.max(this.cwnd - acked + this.#mss, this.#mss);
  }

  /** RFC 6582 3.2 step 3 full ACK: leave recovery with cwnd = min(ssthresh, flight + SMSS). */
  onFullAck(flight: number): void {
    this.cwnd = Math.min(this.ssthresh, Math.max(flight, 0) + this.#mss);
    this.inRecovery = false;
  }

  /** A retransmission timeout (RFC 5681 3.1 eq. 4): ssthresh halves, cwnd drops to one segment. */
  onTimeout(flight: number): void {
    this.ssthresh = Math.max(Math.floor(flight / 2), 2 * this.#mss);
    this.cwnd = this.#mss;
    this.inRecovery = false;
  }
}

/** RFC 5681 section 3.1: IW = 2, 3 or 4 segments depending on SMSS. */
function initialWindow(mss: number): number {
  if (mss > 2190) return 2 * mss;
  if (mss > 1095) return 3 * mss;
  return 4 * mss;
}
