// One TCP connection: the RFC 9293 state machine, the sender and its timers, and the application API.

import { emitTcpHeader, TcpFlag, type TcpOptions, type TcpRepr } from "../wire/tcp.ts";
import { NewReno } from "./congestion.ts";
import { Receiver } from "./receiver.ts";
import { ByteRing } from "./ring.ts";
import { RttEstimator } from "./rtt.ts";
import { seqAdd, seqDiff, seqGe, seqGt, seqLe, seqLt } from "./seqnum.ts";
import { canReceiveData, type TcpState } from "./state.ts";

/** Why a connection ended abnormally. */
export type TcpResetReason = "reset" | "refused" | "timeout" | "idle" | "aborted";

/** Per-connection counters. */
export interface TcpConnectionStats {
  /** Segments sent, including retransmissions. */
  segmentsSent: number;
  /** Segments received for this connection. */
  segmentsReceived: number;
  /** Payload bytes acknowledged by the peer. */
  bytesAcked: number;
  /** Payload bytes delivered in order to the receive buffer. */
  bytesReceived: number;
  /** Segments retransmitted after a retransmission timeout. */
  timeoutRetransmits: number;
  /** Fast retransmissions (RFC 5681 section 3.2) and NewReno partial-ACK retransmissions. */
  fastRetransmits: number;
  /** Duplicate ACKs counted. */
  dupAcks: number;
  /** Zero-window probes sent. */
  windowProbes: number;
  /** Segments that arrived out of order and were queued. */
  outOfOrder: number;
}

/** Settings a connection reads from its layer (all times in milliseconds). */
export interface TcpSettings {
  /** Largest segment payload this side sends and advertises (MSS option). */
  mss: number;
  /** Send buffer bytes. */
  sendBufferSize: number;
  /** Receive buffer bytes; the largest advertised window. */
  recvBufferSize: number;
  /** RFC 6298 (2.1) initial RTO. */
  initialRto: number;
  /** Lower bound of the RTO. */
  minRto: number;
  /** RFC 6298 (2.5) upper bound of the RTO. */
  maxRto: number;
  /** TIME-WAIT duration (2*MSL, RFC 9293 section 3.4.2). */
  timeWait: number;
  /** Idle time after which a connection is aborted; Infinity to keep idle connections. */
  idleTimeout: number;
  /** FIN-WAIT-2 lifetime once the application has closed. */
  finWait2Timeout: number;
  /** Retransmission timeouts in a row before giving up (RFC 9293 section 3.8.3 R2). */
  maxRetries: number;
  /** SYN or SYN-ACK retransmissions before giving up. */
  synRetries: number;
  /** Delayed-ACK timeout (RFC 9293 3.8.6.3, at most 500); 0 acknowledges every segment at once. */
  delayedAck: number;
  /**
   * The largest segment handed to the link when it cuts segments to the MSS itself (TCP
   * segmentation offload); 0 keeps every segment within the MSS.
   */
  tsoSize: number;
}

/** What a connection needs from the layer that owns it. */
export interface TcpHost {
  /** The shared output buffer for one segment. */
  readonly out: Uint8Array;
  /**
   * Sends a complete segment (checksum filled); `gsoSize` > 0 marks one larger than the MSS, for
   * the link to cut into `gsoSize`-byte segments.
   */
  send(src: number, dst: number, segment: Uint8Array, gsoSize?: number): void;
  /** Fills the checksum: in full, or only the pseudo-header sum when the link offloads it. */
  fillChecksum(segment: Uint8Array, src: number, dst: number): void;
  /** Forgets a closed connection. */
  remove(conn: TcpConnection): void;
  /** The latest time seen by input or poll. */
  now: number;
  /** Tells the driver that timers may have changed. */
  wake(): void;
}

const NONE = -1;

/**
 * A TCP connection between a local and a remote endpoint. Create through {@link TcpLayer}.
 * Reading is explicit: data stays in the receive buffer (and shrinks the advertised window)
 * until the application calls {@link TcpConnection.consume} or {@link TcpConnection.read}.
 */
export class TcpConnection {
  /** Local address (uint32). */
  readonly localAddr: number;
  /** Local port. */
  readonly localPort: number;
  /** Remote address (uint32). */
  readonly remoteAddr: number;
  /** Remote port. */
  readonly remotePort: number;
  /** The RFC 9293 state. */
  state: TcpState = "CLOSED";
  /** Counters. */
  readonly stats: TcpConnectionStats = {
    segmentsSent: 0,
    segmentsReceived: 0,
    bytesAcked: 0,
    bytesReceived: 0,
    timeoutRetransmits: 0,
    fastRetransmits: 0,
    dupAcks: 0,
    windowProbes: 0,
    outOfOrder: 0,
  };

  /** Called once the connection reaches ESTABLISHED. */
  onopen: (() => void) | undefined;
  /** Called when new in-order data is readable. */
  ondata: (() => void) | undefined;
  /** Called when the peer's FIN has arrived (no more data will follow what is buffered). */
  onend: (() => void) | undefined;
  /** Called when acknowledged data frees send-buffer space. */
  onwritable: (() => void) | undefined;
  /** Called when the connection is reset by the peer, refused, times out or is aborted. */
  onreset: ((reason: TcpResetReason) => void) | undefined;
  /** Called once when the connection is gone (after onreset, or after an orderly close). */
  onclose: (() => void) | undefined;

  /** True while a passive open waits for the accept hook's decision. */
  acceptPending = false;

  readonly #host: TcpHost;
  readonly #cfg: TcpSettings;
  // Send sequence space (RFC 9293 section 3.3.1).
  #iss = 0;
  #sndUna = 0;
  #sndNxt = 0;
  /** Highest sequence number sent plus one (for go-back-N after a timeout and window probes). */
  #sndMax = 0;
  /** Like SND.MAX but including an outstanding zero-window probe byte. */
  #probeMax = 0;
  #sndWnd = 0;
  #maxSndWnd = 0;
  #sndWl1 = 0;
  #sndWl2 = 0;
  /** Sequence number of the first byte held in the send ring. */
  #sndHead = 0;
  readonly #sendRing: ByteRing;
  #finQueued = false;
  #finSeq = 0;
  #sendMss: number;
  #sndShift = 0;
  #rcvShift = 0;
  #wsEnabled = false;
  // Receive sequence space.
  #irs = 0;
  readonly #rcv: Receiver;
  #rcvFinSeq = NONE;
  #finReceived = false;
  #lastAdvRight = 0;
  #ackNeeded = false;
  /** An ACK is owed but may wait until `#ackAt` (delayed ACK). */
  #ackDelayed = false;
  #ackAt = NONE;
  #segsSinceAck = 0;
  #appClosed = false;
  // Retransmission (RFC 6298) and congestion control (RFC 5681).
  readonly #rtt: RttEstimator;
  readonly #cc: NewReno;
  #rttSeq = 0;
  #rttStart = NONE;
  #dupAcks = 0;
  #retries = 0;
  #rtxAt = NONE;
  #persistAt = NONE;
  #persistBackoff = 0;
  #closeAt = NONE;
  #lastActivity = 0;
  // Deferred application events, fired after a segment is fully processed.
  #busy = false;
  #evOpen = false;
  #evData = false;
  #evEnd = false;
  #evWritable = false;
  #resetReason: TcpResetReason | undefined;
  #removed = false;

  /** Internal: use {@link TcpLayer.connect} or the layer's accept hook. */
  constructor(
    host: TcpHost,
    cfg: TcpSettings,
    localAddr: number,
    localPort: number,
    remoteAddr: number,
    remotePort: number,
  ) {
    this.#host = host;
    this.#cfg = cfg;
    this.localAddr = localAddr;
    this.localPort = localPort;
    this.remoteAddr = remoteAddr;
    this.remotePort = remotePort;
    this.#sendRing = new ByteRing(cfg.sendBufferSize);
    this.#rcv = new Receiver(cfg.recvBufferSize);
    this.#rtt = new RttEstimator(cfg.initialRto, cfg.minRto, cfg.maxRto);
    // RFC 9293 section 3.7.1: without an MSS option the peer accepts 536 bytes.
    this.#sendMss = Math.min(536, cfg.mss);
    this.#cc = new NewReno(this.#sendMss);
    // RFC 7323 section 2.2: the smallest shift that lets the buffer be advertised.
    while ((cfg.recvBufferSize >> this.#rcvShift) > 0xffff && this.#rcvShift < 14) this.#rcvShift++;
  }

  // ---- Application API ----

  /** Bytes of in-order data waiting to be read. */
  get readable(): number {
    return this.#rcv.ring.length;
  }
  /** True once the peer's FIN has arrived and every byte before it has been read. */
  get eof(): boolean {
    return this.#finReceived && this.#rcv.ring.length === 0;
  }
  /** Free space in the send buffer: how much {@link TcpConnection.write} accepts now. */
  get writable(): number {
    return this.#canWrite() ? this.#sendRing.free : 0;
  }
  /** Bytes written but not yet acknowledged. */
  get bufferedAmount(): number {
    return this.#sendRing.length;
  }
  /** The peer's current send window in bytes (after scaling). */
  get peerWindow(): number {
    return this.#sndWnd;
  }
  /** The window we would advertise now, in bytes. */
  get receiveWindow(): number {
    return this.#rcv.window;
  }
  /** RCV.NXT: the next sequence number expected from the peer. */
  get rcvNxt(): number {
    return this.#rcv.nxt;
  }
  /** SND.NXT: the next sequence number to send. */
  get sndNxt(): number {
    return this.#sndNxt;
  }
  /** SND.UNA: the oldest unacknowledged sequence number. */
  get sndUna(): number {
    return this.#sndUna;
  }
  /** The effective send MSS. */
  get mss(): number {
    return this.#sendMss;
  }
  /** The current retransmission timeout (with backoff). */
  get rto(): number {
    return this.#rtt.rto;
  }
  /** The congestion window. */
  get cwnd(): number {
    return this.#cc.cwnd;
  }

  /** Queues bytes for sending; returns how many were accepted (0 when full or shut down). */
  write(data: Uint8Array): number {
    if (!this.#canWrite()) return 0;
    const n = this.#sendRing.push(data);
    if (n > 0) this.#kick();
    return n;
  }

  /** A view of up to `max` readable bytes (contiguous, may be fewer than {@link readable}). */
  peek(max = Infinity): Uint8Array {
    return this.#rcv.ring.peek(max);
  }

  /** Marks `n` readable bytes as consumed, opening the window (RFC 9293 3.8.6.2.2 window update). */
  consume(n: number): void {
    if (n <= 0) return;
    this.#rcv.ring.drop(n);
    this.#windowUpdate();
  }

  /** Receiver SWS avoidance: announce only a worthwhile opening, min(buffer/2, MSS). */
  #windowUpdate(): void {
    const right = seqAdd(this.#rcv.nxt, this.#advertisedWindow());
    const step = Math.min(this.#cfg.recvBufferSize >> 1, this.#cfg.mss);
    if (canReceiveData(this.state) && seqDiff(right, this.#lastAdvRight) >= step) {
      this.#ackNeeded = true;
      this.#kick();
    }
  }

  /** Copies up to `dst.length` readable bytes into `dst`, consumes them and returns the count. */
  read(dst: Uint8Array): number {
    let n = 0;
    while (n < dst.length) {
      const v = this.#rcv.ring.peek(dst.length - n);
      if (v.length === 0) break;
      dst.set(v, n);
      n += v.length;
      this.#rcv.ring.drop(v.length);
    }
    if (n > 0) this.#windowUpdate();
    return n;
  }

  /** Sends FIN after the buffered data (half-close, RFC 9293 section 3.10.4 CLOSE). */
  shutdownWrite(): void {
    if (this.#finQueued) return;
    switch (this.state) {
      case "SYN-SENT":
      case "SYN-RECEIVED":
      case "ESTABLISHED":
      case "CLOSE-WAIT":
        break;
      default:
        return;
    }
    this.#finQueued = true;
    this.#finSeq = seqAdd(this.#sndHead, this.#sendRing.length);
    if (this.state === "ESTABLISHED") this.state = "FIN-WAIT-1";
    else if (this.state === "CLOSE-WAIT") this.state = "LAST-ACK";
    this.#kick();
  }

  /**
   * Closes both directions: FIN after buffered data; later data from the peer is discarded.
   * With unread data pending the connection is reset instead (RFC 2525 section 2.17).
   */
  close(): void {
    if (this.state === "CLOSED" || this.state === "TIME-WAIT") return;
    if (this.#rcv.ring.length > 0 || this.state === "SYN-SENT" || this.acceptPending) {
      this.abort();
      return;
    }
    this.#appClosed = true;
    this.shutdownWrite();
    this.#armCloseTimers(this.#host.now);
  }

  /** Resets the connection (RFC 9293 section 3.10.5 ABORT): RST to the peer, then CLOSED. */
  abort(): void {
    if (this.state === "CLOSED") return;
    if (this.state !== "SYN-SENT" && !this.acceptPending && this.state !== "TIME-WAIT") {
      this.#sendRst(this.#sndMax, this.#rcv.nxt, true);
    }
    this.#terminate("aborted");
  }

  // ---- Layer-facing API ----

  /** Internal: starts an active open (RFC 9293 3.10.1 OPEN, active): sends SYN, enters SYN-SENT. */
  openActive(iss: number, now: number): void {
    this.#initSend(iss);
    this.state = "SYN-SENT";
    this.#lastActivity = now;
    this.#sendSyn(now);
  }

  /** Internal: records a SYN for a passive open (RFC 9293 3.10.7.2); no reply until accepted. */
  openPassive(seg: TcpRepr, iss: number, now: number): void {
    this.#initSend(iss);
    this.#irs = seg.seq;
    this.#rcv.nxt = seqAdd(seg.seq, 1);
    this.#sndWnd = seg.window; // RFC 7323 2.2: the SYN's window is never scaled.
    this.#maxSndWnd = this.#sndWnd;
    this.#sndWl1 = seg.seq;
    this.#takeSynOptions(seg.options);
    this.state = "SYN-RECEIVED";
    this.acceptPending = true;
    this.#lastActivity = now;
    // The pending decision is bounded by the SYN retry budget.
    this.#rtxAt = now + this.#cfg.initialRto * (2 ** (this.#cfg.synRetries + 1) - 1);
  }

  /** Internal: the accept hook accepted: send the SYN-ACK. */
  acceptNow(): void {
    if (!this.acceptPending || this.state !== "SYN-RECEIVED") return;
    this.acceptPending = false;
    this.#sendSyn(this.#host.now);
    this.#host.wake();
  }

  /** Internal: the accept hook refused: RST to the peer (RFC 9293 3.10.7.1 form), then CLOSED. */
  refuseNow(): void {
    if (!this.acceptPending || this.state !== "SYN-RECEIVED") return;
    this.acceptPending = false;
    this.#sendRstTo(0, this.#rcv.nxt, TcpFlag.RST | TcpFlag.ACK);
    this.#terminate("refused");
    this.#host.wake();
  }

  /** Internal: drops the connection without sending anything (TIME-WAIT reuse). */
  forget(): void {
    this.#terminate(undefined);
  }

  /** Internal: the earliest time a timer of this connection fires, or Infinity. */
  nextTimer(): number {
    let t = Infinity;
    if (this.#rtxAt !== NONE) t = this.#rtxAt;
    if (this.#persistAt !== NONE && this.#persistAt < t) t = this.#persistAt;
    if (this.#closeAt !== NONE && this.#closeAt < t) t = this.#closeAt;
    if (this.#ackAt !== NONE && this.#ackAt < t) t = this.#ackAt;
    const idle = this.#lastActivity + this.#cfg.idleTimeout;
    if (idle < t) t = idle;
    return t;
  }

  /** Internal: runs the timers due at `now`. */
  onTimer(now: number): void {
    if (this.state === "CLOSED") return;
    this.#busy = true;
    if (this.#closeAt !== NONE && now >= this.#closeAt) {
      // TIME-WAIT expiry (RFC 9293 3.10.8) or FIN-WAIT-2 clean-up.
      this.#closeAt = NONE;
      if (this.state === "TIME-WAIT") this.#terminate(undefined);
      else this.#abortWith("timeout");
    } else if (now >= this.#lastActivity + this.#cfg.idleTimeout) {
      this.#abortWith("idle");
    } else if (this.#rtxAt !== NONE && now >= this.#rtxAt) {
      this.#onRetransmitTimeout(now);
    } else if (this.#persistAt !== NONE && now >= this.#persistAt) {
      this.#onPersistTimeout(now);
    }
    if (this.#ackAt !== NONE && now >= this.#ackAt) {
      this.#ackAt = NONE;
      if (this.#ackDelayed) this.#ackNeeded = true;
    }
    this.#finish(now);
  }

  /** Internal: SEGMENT ARRIVES (RFC 9293 section 3.10.7) for this connection. */
  segmentArrives(seg: TcpRepr, now: number): void {
    this.stats.segmentsReceived++;
    this.#lastActivity = now;
    this.#busy = true;
    if (this.state === "SYN-SENT") this.#synSentArrives(seg, now);
    else this.#synchronizedArrives(seg, now);
    this.#finish(now);
  }

  // ---- Segment processing ----

  #initSend(iss: number): void {
    this.#iss = iss >>> 0;
    this.#sndUna = this.#iss;
    this.#sndNxt = this.#iss;
    this.#sndMax = this.#iss;
    this.#probeMax = this.#iss;
    this.#sndHead = seqAdd(this.#iss, 1);
    this.#cc.recover = this.#iss;
  }

  #takeSynOptions(o: TcpOptions): void {
    if (o.mss > 0) this.#sendMss = Math.min(o.mss, this.#cfg.mss);
    this.#cc.setMss(this.#sendMss);
    // RFC 7323 section 2.2: scaling is used only when both SYNs carry the option.
    this.#wsEnabled = o.windowScale >= 0;
    this.#sndShift = this.#wsEnabled ? o.windowScale : 0;
    if (!this.#wsEnabled) this.#rcvShift = 0;
  }

  /** RFC 9293 3.10.7.3: SEGMENT ARRIVES in SYN-SENT. */
  #synSentArrives(seg: TcpRepr, now: number): void {
    const f = seg.flags;
    if (f & TcpFlag.ACK) {
      // First: an ACK outside (ISS, SND.NXT] is unacceptable.
      if (seqLe(seg.ack, this.#iss) || seqGt(seg.ack, this.#sndMax)) {
        if (!(f & TcpFlag.RST)) this.#sendRstTo(seg.ack, 0, TcpFlag.RST);
        return;
      }
    }
    if (f & TcpFlag.RST) {
      // Second: RST with an acceptable ACK means "connection refused".
      if (f & TcpFlag.ACK) this.#terminate("refused");
      return;
    }
    if (!(f & TcpFlag.SYN)) return;
    // Fourth: the SYN.
    this.#irs = seg.seq;
    this.#rcv.nxt = seqAdd(seg.seq, 1);
    this.#takeSynOptions(seg.options);
    if (f & TcpFlag.ACK) {
      this.#ackAdvance(seg.ack, now);
      this.#sndWnd = seg.window; // RFC 7323 2.2: not scaled in a SYN.
      this.#maxSndWnd = this.#sndWnd;
      this.#sndWl1 = seg.seq;
      this.#sndWl2 = seg.ack;
      this.#established();
      this.#ackNeeded = true;
    } else {
      // Simultaneous open: SYN-RECEIVED, answer with SYN-ACK re-using the ISS.
      this.state = "SYN-RECEIVED";
      this.#sndWnd = seg.window;
      this.#sndWl1 = seg.seq;
      this.#sndNxt = this.#iss;
      this.#sendSyn(now);
    }
  }

  /** RFC 9293 3.10.7.4: SEGMENT ARRIVES in SYN-RECEIVED and the synchronized states. */
  #synchronizedArrives(seg: TcpRepr, now: number): void {
    const f = seg.flags;
    if (this.state === "SYN-RECEIVED" && (f & TcpFlag.SYN) && !(f & TcpFlag.ACK)) {
      // A retransmitted SYN: ignored while the accept hook decides, else repeat the SYN-ACK.
      if (seg.seq === this.#irs && !this.acceptPending) this.#sendSyn(now);
      return;
    }
    if (this.acceptPending) {
      // The peer gave up while the accept hook decides.
      if ((f & TcpFlag.RST) && seg.seq === this.#rcv.nxt) this.#terminate("reset");
      return;
    }
    // First: sequence number check.
    const payloadLen = seg.payload.length;
    const segLen = payloadLen + ((f & TcpFlag.SYN) ? 1 : 0) + ((f & TcpFlag.FIN) ? 1 : 0);
    const wnd = this.#rcv.window;
    const start = seqDiff(seg.seq, this.#rcv.nxt);
    let acceptable: boolean;
    if (segLen === 0) acceptable = wnd === 0 ? start === 0 : start >= 0 && start < wnd;
    else if (wnd === 0) acceptable = false;
    else {
      const end = start + segLen - 1;
      acceptable = (start >= 0 && start < wnd) || (end >= 0 && end < wnd);
    }
    // RFC 9293 3.10.7.4: with a zero window, valid ACKs and RSTs are still processed.
    const zeroWindowProbe = !acceptable && wnd === 0 && start === 0;
    if (!acceptable && !zeroWindowProbe) {
      if (!(f & TcpFlag.RST)) {
        this.#ackNeeded = true;
        if (this.state === "TIME-WAIT" && (f & TcpFlag.FIN)) {
          this.#closeAt = now + this.#cfg.timeWait; // restart the 2 MSL timeout
        }
      }
      return;
    }
    // Second: RST. RFC 5961 section 3.2: reset only on an exact match, else a challenge ACK.
    if (f & TcpFlag.RST) {
      if (start === 0) this.#terminate("reset");
      else this.#ackNeeded = true;
      return;
    }
    // Fourth: a SYN in a synchronized state gets a challenge ACK (RFC 5961 section 4.2).
    if (f & TcpFlag.SYN) {
      this.#ackNeeded = true;
      return;
    }
    // Fifth: ACK field.
    if (!(f & TcpFlag.ACK)) return;
    if (this.state === "SYN-RECEIVED") {
      if (seqLt(this.#sndUna, seg.ack) && seqLe(seg.ack, this.#sndMax)) {
        this.#sndWnd = seg.window << this.#sndShift;
        this.#maxSndWnd = Math.max(this.#maxSndWnd, this.#sndWnd);
        this.#sndWl1 = seg.seq;
        this.#sndWl2 = seg.ack;
        this.#established();
      } else {
        this.#sendRstTo(seg.ack, 0, TcpFlag.RST);
        return;
      }
    }
    if (!this.#processAck(seg, now)) return;
    // Seventh: segment text, in ESTABLISHED, FIN-WAIT-1 and FIN-WAIT-2.
    if (zeroWindowProbe) {
      this.#ackNeeded = true;
      return;
    }
    if (payloadLen > 0) {
      if (canReceiveData(this.state) && !this.#appClosed) {
        const ooo = seqGt(seg.seq, this.#rcv.nxt);
        const n = this.#rcv.accept(seg.seq, seg.payload);
        if (n > 0) {
          this.stats.bytesReceived += n;
          this.#evData = true;
        }
        if (ooo) this.stats.outOfOrder++;
        // RFC 9293 3.8.6.3 / RFC 5681 4.2: an in-order segment may have its ACK delayed, but
        // every second segment is acknowledged at once; anything unusual is acknowledged now.
        if (
          this.#cfg.delayedAck > 0 && !ooo && n === payloadLen && ++this.#segsSinceAck < 2 &&
          this.#rcv.outOfOrderRanges === 0
        ) {
          this.#ackDelayed = true;
        } else this.#ackNeeded = true;
      } else if (this.#appClosed && canReceiveData(this.state)) {
        // Data after close(): the application will never read it (RFC 2525 section 2.17).
        this.#abortWith("aborted");
        return;
      } else this.#ackNeeded = true;
    }
    // Eighth: FIN. Remember where it is; act once everything before it has arrived.
    if (f & TcpFlag.FIN) {
      this.#rcvFinSeq = seqAdd(seg.seq, payloadLen);
      this.#ackNeeded = true;
    }
    this.#checkFin(now);
  }

  /** RFC 9293 3.10.7.4 fifth step for the synchronized states; false when the segment is done. */
  #processAck(seg: TcpRepr, now: number): boolean {
    const ack = seg.ack;
    const limit = seqGt(this.#probeMax, this.#sndMax) ? this.#probeMax : this.#sndMax;
    if (seqGt(ack, limit)) {
      // An ACK for something not yet sent: ACK and drop.
      this.#ackNeeded = true;
      return false;
    }
    const wnd = seg.window << this.#sndShift;
    const flight = seqDiff(this.#sndNxt, this.#sndUna);
    if (seqGt(ack, this.#sndUna)) {
      this.#ackAdvance(ack, now);
    } else if (ack === this.#sndUna) {
      // RFC 5681 section 2 DUPLICATE ACKNOWLEDGMENT: outstanding data, no payload, no SYN/FIN,
      // same ACK number, same window.
      const pure = seg.payload.length === 0 && !(seg.flags & (TcpFlag.SYN | TcpFlag.FIN));
      if (flight > 0 && pure && wnd === this.#sndWnd) this.#onDupAck(now);
      else this.#dupAcks = 0;
    }
    // Send window update (RFC 9293 3.10.7.4): only from a newer segment.
    if (
      seqLe(this.#sndUna, ack) &&
      (seqLt(this.#sndWl1, seg.seq) || (this.#sndWl1 === seg.seq && seqLe(this.#sndWl2, ack)))
    ) {
      const opened = this.#sndWnd === 0 && wnd > 0;
      this.#sndWnd = wnd;
      this.#maxSndWnd = Math.max(this.#maxSndWnd, wnd);
      this.#sndWl1 = seg.seq;
      this.#sndWl2 = ack;
      if (opened) {
        this.#persistAt = NONE;
        this.#persistBackoff = 0;
      }
    }
    // State-specific ACK processing.
    const finAcked = this.#finQueued && seqGt(this.#sndUna, this.#finSeq);
    switch (this.state) {
      case "FIN-WAIT-1":
        if (finAcked) {
          this.state = "FIN-WAIT-2";
          this.#armCloseTimers(now);
        }
        break;
      case "CLOSING":
        if (finAcked) this.#enterTimeWait(now);
        break;
      case "LAST-ACK":
        if (finAcked) {
          this.#terminate(undefined);
          return false;
        }
        break;
      case "TIME-WAIT":
        break;
      default:
        break;
    }
    return true;
  }

  /** New data acknowledged: advance SND.UNA, free the buffer, sample RTT, grow cwnd. */
  #ackAdvance(ack: number, now: number): void {
    const acked = seqDiff(ack, this.#sndUna);
    this.#sndUna = ack;
    if (seqLt(this.#sndNxt, ack)) this.#sndNxt = ack;
    if (seqLt(this.#sndMax, ack)) this.#sndMax = ack; // an accepted window probe
    const dataAcked = Math.min(Math.max(seqDiff(ack, this.#sndHead), 0), this.#sendRing.length);
    if (dataAcked > 0) {
      this.#sendRing.drop(dataAcked);
      this.#sndHead = seqAdd(this.#sndHead, dataAcked);
      this.stats.bytesAcked += dataAcked;
      if (this.#canWrite()) this.#evWritable = true;
    }
    // RFC 6298 section 3 (Karn): only segments never retransmitted are timed.
    if (this.#rttStart !== NONE && seqGe(ack, this.#rttSeq)) {
      this.#rtt.sample(now - this.#rttStart);
      this.#rttStart = NONE;
    }
    if (this.#cc.inRecovery) {
      if (seqGe(ack, this.#cc.recover)) {
        // RFC 6582 3.2 step 3: full acknowledgment.
        this.#cc.onFullAck(seqDiff(this.#sndMax, this.#sndUna));
      } else {
        // RFC 6582 3.2 step 5: partial acknowledgment, retransmit the next hole.
        this.#retransmitFirst(now);
        this.#cc.onPartialAck(acked);
      }
    } else if (dataAcked > 0) {
      this.#cc.onAck(acked);
    }
    this.#dupAcks = 0;
    this.#retries = 0;
    // RFC 6298 (5.2) stop the timer when all is acknowledged; (5.3) restart it otherwise.
    this.#rtxAt = seqDiff(this.#sndMax, this.#sndUna) > 0 ? now + this.#rtt.rto : NONE;
  }

  #onDupAck(now: number): void {
    this.stats.dupAcks++;
    this.#dupAcks++;
    if (this.#cc.inRecovery) {
      // RFC 5681 3.2 step 4: each further duplicate inflates cwnd; new data may go out.
      this.#cc.onDupAckInRecovery();
    } else if (this.#dupAcks === 3 && seqGe(this.#sndUna, this.#cc.recover)) {
      // RFC 5681 3.2 steps 2-3 and RFC 6582 3.2 step 2: fast retransmit, enter recovery.
      this.#cc.enterRecovery(seqDiff(this.#sndNxt, this.#sndUna), this.#sndMax);
      this.#retransmitFirst(now);
      this.#rttStart = NONE;
    }
  }

  #checkFin(now: number): void {
    if (this.#rcvFinSeq === NONE || this.#finReceived) return;
    if (this.#rcv.nxt !== this.#rcvFinSeq) return;
    this.#finReceived = true;
    this.#rcv.advanceForFlag();
    this.#ackNeeded = true;
    this.#evEnd = true;
    switch (this.state) {
      case "SYN-RECEIVED":
      case "ESTABLISHED":
        this.state = "CLOSE-WAIT";
        break;
      case "FIN-WAIT-1":
        // Simultaneous close (RFC 9293 3.10.7.4 eighth): CLOSING, or TIME-WAIT if our FIN is acked.
        if (this.#finQueued && seqGt(this.#sndUna, this.#finSeq)) this.#enterTimeWait(now);
        else this.state = "CLOSING";
        break;
      case "FIN-WAIT-2":
        this.#enterTimeWait(now);
        break;
      default:
        break;
    }
  }

  #established(): void {
    this.state = "ESTABLISHED";
    this.#evOpen = true;
    this.#retries = 0;
    if (this.#finQueued) this.state = "FIN-WAIT-1";
  }

  #enterTimeWait(now: number): void {
    this.state = "TIME-WAIT";
    this.#rtxAt = NONE;
    this.#persistAt = NONE;
    this.#closeAt = now + this.#cfg.timeWait;
  }

  #armCloseTimers(now: number): void {
    if (this.state === "FIN-WAIT-2" && this.#appClosed) {
      this.#closeAt = now + this.#cfg.finWait2Timeout;
    }
  }

  // ---- Timers ----

  #onRetransmitTimeout(now: number): void {
    if (this.state === "SYN-RECEIVED" && this.acceptPending) {
      // The accept hook never answered: give up silently.
      this.#terminate("timeout");
      return;
    }
    this.#retries++;
    const limit = this.state === "SYN-SENT" || this.state === "SYN-RECEIVED"
      ? this.#cfg.synRetries
      : this.#cfg.maxRetries;
    if (this.#retries > limit) {
      // RFC 9293 3.8.3: R2 reached, close the connection.
      this.#abortWith("timeout");
      return;
    }
    this.stats.timeoutRetransmits++;
    // RFC 6298 (5.5) back off, (5.6) restart; RFC 5681 (4) loss window; Karn: stop timing.
    this.#rtt.backoff();
    this.#cc.onTimeout(seqDiff(this.#sndNxt, this.#sndUna));
    this.#rttStart = NONE;
    this.#dupAcks = 0;
    if (this.state === "SYN-SENT" || this.state === "SYN-RECEIVED") {
      this.#sendSyn(now);
      return;
    }
    // Go back: resend from SND.UNA as the window allows.
    this.#sndNxt = this.#sndUna;
    this.#rtxAt = NONE;
    this.#output(now, true);
    if (this.#rtxAt === NONE && seqDiff(this.#sndMax, this.#sndUna) > 0) {
      this.#rtxAt = now + this.#rtt.rto;
    }
  }

  /** RFC 9293 3.8.6.1: probe a zero window with one byte, backing off; never gives up. */
  #onPersistTimeout(now: number): void {
    this.#persistAt = NONE;
    const off = seqDiff(this.#sndNxt, this.#sndHead);
    if (this.#sndWnd === 0 && off < this.#sendRing.length) {
      this.stats.windowProbes++;
      this.#transmit(this.#sndNxt, 1, TcpFlag.ACK, now);
      const end = seqAdd(this.#sndNxt, 1);
      if (seqGt(end, this.#probeMax)) this.#probeMax = end;
      this.#persistBackoff++;
    }
  }

  // ---- Output ----

  #kick(): void {
    if (this.#busy || this.state === "CLOSED") return;
    this.#busy = true;
    this.#finish(this.#host.now);
    this.#host.wake();
  }

  /** Ends a processing step: output, timers, then deferred application callbacks. */
  #finish(now: number): void {
    if (this.state !== "CLOSED") this.#output(now, false);
    this.#busy = false;
    if (this.#evOpen) {
      this.#evOpen = false;
      this.onopen?.();
    }
    if (this.#evData) {
      this.#evData = false;
      this.ondata?.();
    }
    if (this.#evEnd) {
      this.#evEnd = false;
      this.onend?.();
    }
    if (this.#evWritable) {
      this.#evWritable = false;
      if (this.#canWrite()) this.onwritable?.();
    }
    if (this.state === "CLOSED" && !this.#removed) {
      this.#removed = true;
      this.#host.remove(this);
      const reason = this.#resetReason;
      if (reason !== undefined) this.onreset?.(reason);
      this.onclose?.();
    }
  }

  /** Sends what the windows allow, then a bare ACK if one is owed; arms the timers. */
  #output(now: number, retransmitting: boolean): void {
    const s = this.state;
    const dataState = s === "ESTABLISHED" || s === "CLOSE-WAIT" || s === "FIN-WAIT-1" ||
      s === "LAST-ACK" || s === "CLOSING";
    if (dataState) {
      const ring = this.#sendRing;
      for (;;) {
        const flight = seqDiff(this.#sndNxt, this.#sndUna);
        const window = Math.min(this.#sndWnd, this.#cc.cwnd);
        const off = seqDiff(this.#sndNxt, this.#sndHead);
        const avail = ring.length - off;
        const usable = window - flight;
        if (avail > 0) {
          const n = Math.min(avail, usable, this.#maxSegment());
          if (n <= 0) break;
          // RFC 9293 3.8.6.2.1 sender SWS avoidance: full segment, all data, half the max
          // window, or nothing in flight.
          if (n < this.#sendMss && n < avail && n < this.#maxSndWnd / 2 && flight > 0) break;
          const withFin = this.#finQueued && n === avail;
          let flags = TcpFlag.ACK;
          if (n === avail) flags |= TcpFlag.PSH;
          if (withFin) flags |= TcpFlag.FIN;
          this.#sendData(n, flags, now, retransmitting);
          continue;
        }
        // All data sent: the FIN, if queued and not yet in flight.
        if (this.#finQueued && seqLe(this.#sndNxt, this.#finSeq)) {
          this.#sendData(0, TcpFlag.ACK | TcpFlag.FIN, now, retransmitting);
        }
        break;
      }
    }
    if (this.#ackDelayed && !this.#ackNeeded && this.#ackAt === NONE) {
      this.#ackAt = now + this.#cfg.delayedAck;
    }
    if (this.#ackNeeded && s !== "SYN-SENT" && !this.acceptPending) {
      // SND.MAX, not SND.NXT: after a go-back the peer has seen more than SND.NXT and would
      // find an older sequence number unacceptable (RFC 9293 3.10.7.4 first check).
      this.#transmit(this.#sndMax, 0, TcpFlag.ACK, now);
    }
    // Timers: retransmission while anything is outstanding (RFC 6298 (5.1)); persist otherwise.
    const outstanding = seqDiff(this.#sndMax, this.#sndUna) > 0 &&
      seqDiff(this.#sndNxt, this.#sndUna) > 0;
    if (outstanding) {
      if (this.#rtxAt === NONE) this.#rtxAt = now + this.#rtt.rto;
      this.#persistAt = NONE;
    } else if (dataState) {
      if (seqDiff(this.#sndMax, this.#sndUna) <= 0) {
        this.#rtxAt = NONE;
      }
      const unsent = this.#sendRing.length - seqDiff(this.#sndNxt, this.#sndHead);
      if (this.#sndWnd === 0 && unsent > 0) {
        if (this.#persistAt === NONE) {
          const base = Math.max(this.#rtt.rto, this.#cfg.minRto);
          this.#persistAt = now + Math.min(base * 2 ** this.#persistBackoff, this.#cfg.maxRto);
        }
      } else this.#persistAt = NONE;
    }
  }

  /** The most data one segment may carry: the MSS, or a multiple of it with TSO. */
  #maxSegment(): number {
    const tso = this.#cfg.tsoSize;
    const mss = this.#sendMss;
    return tso > mss ? tso - tso % mss : mss;
  }

  /** Sends `n` new bytes (and/or FIN) at SND.NXT and advances it. */
  #sendData(n: number, flags: number, now: number, retransmitting: boolean): void {
    const seq = this.#sndNxt;
    this.#transmit(seq, n, flags, now);
    const len = n + ((flags & TcpFlag.FIN) ? 1 : 0);
    this.#sndNxt = seqAdd(seq, len);
    if (seqGt(this.#sndNxt, this.#sndMax)) {
      // New data: time one segment per round trip (RFC 6298 section 3, Karn's rule).
      if (this.#rttStart === NONE && !retransmitting) {
        this.#rttStart = now;
        this.#rttSeq = this.#sndNxt;
      }
      this.#sndMax = this.#sndNxt;
    } else if (retransmitting) {
      this.#rttStart = NONE;
    }
  }

  /** Retransmits the first unacknowledged segment without moving SND.NXT. */
  #retransmitFirst(now: number): void {
    this.stats.fastRetransmits++;
    const off = seqDiff(this.#sndUna, this.#sndHead);
    const avail = this.#sendRing.length - off;
    const n = Math.max(0, Math.min(avail, this.#sendMss));
    let flags = TcpFlag.ACK;
    if (this.#finQueued && seqAdd(this.#sndUna, n) === this.#finSeq) flags |= TcpFlag.FIN;
    this.#transmit(this.#sndUna, n, flags, now);
    this.#rtxAt = now + this.#rtt.rto;
  }

  #sendSyn(now: number): void {
    const flags = this.state === "SYN-SENT" ? TcpFlag.SYN : TcpFlag.SYN | TcpFlag.ACK;
    this.#transmit(this.#iss, 0, flags, now);
    if (seqLe(this.#sndMax, this.#iss)) this.#sndMax = seqAdd(this.#iss, 1);
    this.#sndNxt = seqAdd(this.#iss, 1);
    this.#rtxAt = now + this.#rtt.rto;
  }

  /** Builds and sends one segment from the send ring at sequence `seq`. */
  #transmit(seq: number, n: number, flags: number, _now: number): void {
    const out = this.#host.out;
    const syn = (flags & TcpFlag.SYN) !== 0;
    const opts: TcpOptions | undefined = syn ? synOptions : undefined;
    if (syn) {
      synOptions.mss = this.#cfg.mss;
      // Offer scaling in our SYN; in a SYN-ACK only when the peer offered (RFC 7323 2.2).
      synOptions.windowScale = !(flags & TcpFlag.ACK) || this.#wsEnabled ? this.#rcvShift : -1;
    }
    const ackOn = (flags & TcpFlag.ACK) !== 0;
    let window: number;
    if (syn) window = Math.min(this.#rcv.window, 0xffff);
    else window = this.#advertisedWindow() >> this.#rcvShift;
    header.srcPort = this.localPort;
    header.dstPort = this.remotePort;
    header.seq = seq;
    header.ack = ackOn ? this.#rcv.nxt : 0;
    header.flags = flags;
    header.window = window;
    const hlen = emitTcpHeader(out, header, opts);
    if (n > 0) this.#sendRing.copyOut(seqDiff(seq, this.#sndHead), n, out, hlen);
    const segment = out.subarray(0, hlen + n);
    this.#host.fillChecksum(segment, this.localAddr, this.remoteAddr);
    if (ackOn) {
      this.#ackNeeded = false;
      this.#ackDelayed = false;
      this.#ackAt = NONE;
      this.#segsSinceAck = 0;
      const right = seqAdd(this.#rcv.nxt, syn ? window : window << this.#rcvShift);
      if (seqGt(right, this.#lastAdvRight) || syn) this.#lastAdvRight = right;
    }
    this.stats.segmentsSent++;
    const gso = n > this.#sendMss ? this.#sendMss : 0;
    this.#host.send(this.localAddr, this.remoteAddr, segment, gso);
  }

  #advertisedWindow(): number {
    const w = Math.min(this.#rcv.window, 0xffff << this.#rcvShift);
    return (w >> this.#rcvShift) << this.#rcvShift;
  }

  #sendRst(seq: number, ack: number, withAck: boolean): void {
    this.#sendRstTo(seq, ack, withAck ? TcpFlag.RST | TcpFlag.ACK : TcpFlag.RST);
  }

  #sendRstTo(seq: number, ack: number, flags: number): void {
    header.srcPort = this.localPort;
    header.dstPort = this.remotePort;
    header.seq = seq;
    header.ack = ack;
    header.flags = flags;
    header.window = 0;
    const out = this.#host.out;
    const hlen = emitTcpHeader(out, header);
    const segment = out.subarray(0, hlen);
    this.#host.fillChecksum(segment, this.localAddr, this.remoteAddr);
    this.stats.segmentsSent++;
    this.#host.send(this.localAddr, this.remoteAddr, segment);
  }

  #canWrite(): boolean {
    const s = this.state;
    return !this.#finQueued &&
      (s === "ESTABLISHED" || s === "CLOSE-WAIT" || s === "SYN-SENT" || s === "SYN-RECEIVED");
  }

  #abortWith(reason: TcpResetReason): void {
    if (this.state !== "SYN-SENT" && this.state !== "TIME-WAIT" && !this.acceptPending) {
      this.#sendRst(this.#sndMax, this.#rcv.nxt, true);
    }
    this.#terminate(reason);
  }

  /** Enters CLOSED; the layer forgets the connection when the current step finishes. */
  #terminate(reason: TcpResetReason | undefined): void {
    if (this.state === "CLOSED") return;
    this.state = "CLOSED";
    this.#resetReason = reason;
    this.#rtxAt = NONE;
    this.#persistAt = NONE;
    this.#closeAt = NONE;
    this.acceptPending = false;
    this.#ackAt = NONE;
    if (!this.#busy) this.#finish(this.#host.now);
  }
}

const header = { srcPort: 0, dstPort: 0, seq: 0, ack: 0, flags: 0, window: 0, urgent: 0 };
const synOptions: TcpOptions = {
  mss: 0,
  windowScale: -1,
  sackPermitted: false,
  tsVal: -1,
  tsEcr: -1,
};
