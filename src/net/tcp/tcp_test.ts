// Scenario tests for the TCP layer: one scripted peer, fake clock, segment by segment.

import assert from "node:assert/strict";
import { TcpFlag } from "../wire/tcp.ts";
import type { TcpConnection } from "./connection.ts";
import type { TcpAcceptRequest } from "./layer.ts";
import { LOCAL, PEER, ScriptedPeer } from "./_testing.ts";

const { SYN, ACK, FIN, RST, PSH } = TcpFlag;
const ISN = 1000; // the layer's ISN in every scenario
const PISN = 5000; // the peer's ISN

/** Passive open: SYN from the peer, SYN-ACK, ACK. Returns the established connection. */
function established(
  p: ScriptedPeer,
  opts: { window?: number; mss?: number; ws?: number } = {},
): TcpConnection {
  let conn: TcpConnection | undefined;
  p.tcp.accept = (r) => {
    conn = r.connection;
    return true;
  };
  const options = opts.ws === undefined
    ? { mss: opts.mss ?? 1460 }
    : { mss: opts.mss ?? 1460, windowScale: opts.ws };
  p.send({ flags: SYN, seq: PISN, options });
  const sa = p.expect(SYN | ACK, "SYN-ACK");
  assert.equal(sa.ack, PISN + 1);
  p.send({ flags: ACK, seq: PISN + 1, ack: ISN + 1, window: opts.window ?? 65535 });
  assert.ok(conn);
  assert.equal(conn.state, "ESTABLISHED");
  return conn;
}

Deno.test("tcp: passive open sends SYN-ACK with MSS, window scale and window once accepted", () => {
  const p = new ScriptedPeer();
  const seen: TcpAcceptRequest[] = [];
  p.tcp.accept = (r) => {
    seen.push(r);
    return true;
  };
  p.send({ flags: SYN, seq: PISN, options: { mss: 1400, windowScale: 7 } });
  assert.equal(seen.length, 1);
  assert.deepEqual(
    [seen[0]!.src, seen[0]!.srcPort, seen[0]!.dst, seen[0]!.dstPort],
    [PEER, 40000, LOCAL, 80],
  );
  const sa = p.expect(SYN | ACK, "SYN-ACK");
  assert.equal(sa.seq, ISN);
  assert.equal(sa.ack, PISN + 1);
  assert.equal(sa.window, 65535, "a SYN-ACK window is never scaled (RFC 7323 2.2)");
  assert.equal(sa.options.mss, 1460);
  assert.equal(sa.options.windowScale, 3, "256 KiB needs a shift of 3");
  let opened = 0;
  seen[0]!.connection.onopen = () => opened++;
  p.send({ flags: ACK, seq: PISN + 1, ack: ISN + 1, window: 100 });
  const c = seen[0]!.connection;
  assert.equal(c.state, "ESTABLISHED");
  assert.equal(opened, 1);
  assert.equal(c.peerWindow, 100 << 7, "the peer's window is scaled by its shift");
  assert.equal(c.mss, 1400);
  p.expectNothing();
});

Deno.test("tcp: no window scale option in the SYN-ACK when the peer offered none", () => {
  const p = new ScriptedPeer();
  p.tcp.accept = () => true;
  p.send({ flags: SYN, seq: PISN, options: { mss: 1460 } });
  const sa = p.expect(SYN | ACK);
  assert.equal(sa.options.windowScale, -1);
  p.send({ flags: ACK, seq: PISN + 1, ack: ISN + 1, window: 1000 });
  p.send({ flags: ACK | PSH, seq: PISN + 1, ack: ISN + 1, payload: new Uint8Array(10) });
  assert.equal(p.expect(ACK).window, 65535, "unscaled window, clamped to 16 bits");
});

Deno.test("tcp: active open sends SYN and completes on SYN-ACK", () => {
  const p = new ScriptedPeer();
  const c = p.tcp.connect(LOCAL, 80, PEER, 40000, 0);
  const syn = p.expect(SYN, "SYN");
  assert.equal(syn.seq, ISN);
  assert.equal(syn.options.mss, 1460);
  assert.equal(syn.options.windowScale, 3);
  assert.equal(c.state, "SYN-SENT");
  let opened = false;
  c.onopen = () => opened = true;
  p.send({ flags: SYN | ACK, seq: PISN, ack: ISN + 1, options: { mss: 1000, windowScale: 2 } });
  const ack = p.expect(ACK, "ACK");
  assert.equal(ack.ack, PISN + 1);
  assert.equal(ack.seq, ISN + 1);
  assert.ok(opened);
  assert.equal(c.state, "ESTABLISHED");
  assert.equal(c.mss, 1000);
  assert.equal(c.peerWindow, 65535, "SYN-ACK window is taken unscaled");
});

Deno.test("tcp: retransmits the SYN after the initial RTO, doubling each time, then gives up", () => {
  const p = new ScriptedPeer({ synRetries: 3 });
  const c = p.tcp.connect(LOCAL, 80, PEER, 40000, 0);
  p.expect(SYN);
  const reasons: string[] = [];
  c.onreset = (r) => reasons.push(r);
  assert.equal(p.fireNextTimer(), 1000, "RFC 6298 (2.1): initial RTO 1 s");
  p.expect(SYN, "first SYN retransmission");
  assert.equal(p.fireNextTimer(), 2000, "RFC 6298 (5.5): backoff doubles");
  p.expect(SYN);
  assert.equal(p.fireNextTimer(), 4000);
  p.expect(SYN);
  p.fireNextTimer();
  p.expectNothing();
  assert.deepEqual(reasons, ["timeout"]);
  assert.equal(p.tcp.connectionCount, 0);
});

Deno.test("tcp: connection refused reported as RST and in-flight SYNs do not duplicate", async () => {
  const p = new ScriptedPeer();
  let resolve!: (ok: boolean) => void;
  let calls = 0;
  p.tcp.accept = () => {
    calls++;
    return new Promise<boolean>((r) => resolve = r);
  };
  p.send({ flags: SYN, seq: PISN });
  p.expectNothing();
  p.send({ flags: SYN, seq: PISN }); // the container retransmits its SYN
  p.send({ flags: SYN, seq: PISN });
  p.expectNothing();
  assert.equal(calls, 1);
  assert.equal(p.tcp.connectionCount, 1);
  resolve(false);
  await Promise.resolve();
  await Promise.resolve();
  const rst = p.expect(RST | ACK, "RST for the refused connection");
  assert.equal(rst.ack, PISN + 1);
  assert.equal(rst.seq, 0);
  assert.equal(p.tcp.connectionCount, 0);
  assert.equal(p.tcp.stats.refused, 1);
});

Deno.test("tcp: an accept that resolves later sends the SYN-ACK then", async () => {
  const p = new ScriptedPeer();
  let resolve!: (ok: boolean) => void;
  p.tcp.accept = () => new Promise<boolean>((r) => resolve = r);
  p.send({ flags: SYN, seq: PISN });
  p.expectNothing();
  resolve(true);
  await Promise.resolve();
  await Promise.resolve();
  p.expect(SYN | ACK);
  p.send({ flags: SYN, seq: PISN });
  p.expect(SYN | ACK, "a retransmitted SYN repeats the SYN-ACK once accepted");
});

Deno.test("tcp: without an accept hook a SYN is refused with RST", () => {
  const p = new ScriptedPeer();
  p.send({ flags: SYN, seq: PISN, payload: new Uint8Array(3) });
  const r = p.expect(RST | ACK);
  assert.equal(r.ack, PISN + 4);
});

Deno.test("tcp: segments for no connection get RST (RFC 9293 3.10.7.1)", () => {
  const p = new ScriptedPeer();
  p.send({ flags: ACK, seq: 1, ack: 777 });
  const r1 = p.expect(RST);
  assert.equal(r1.seq, 777);
  p.send({ flags: FIN, seq: 50, payload: new Uint8Array(5) });
  const r2 = p.expect(RST | ACK);
  assert.equal(r2.seq, 0);
  assert.equal(r2.ack, 56);
  p.send({ flags: RST, seq: 1 });
  p.expectNothing();
  assert.equal(p.tcp.stats.resetsSent, 2);
});

Deno.test("tcp: malformed segments are counted and dropped", () => {
  const p = new ScriptedPeer();
  p.tcp.input({ src: PEER, dst: LOCAL, protocol: 6, ttl: 64, payload: new Uint8Array(7) }, 0);
  const bad = new Uint8Array(20);
  bad[12] = 0x50;
  bad[13] = SYN;
  p.tcp.input({ src: PEER, dst: LOCAL, protocol: 6, ttl: 64, payload: bad }, 0);
  assert.equal(p.tcp.stats.malformed, 2);
  p.expectNothing();
});

Deno.test("tcp: SYN flood is bounded by the half-open cap", () => {
  const p = new ScriptedPeer({ maxHalfOpen: 4 });
  p.tcp.accept = () => new Promise<boolean>(() => {}); // never decides
  for (let i = 0; i < 10; i++) p.send({ flags: SYN, seq: i * 100, srcPort: 30000 + i });
  assert.equal(p.tcp.connectionCount, 4);
  assert.equal(p.tcp.stats.synDropped, 6);
  p.expectNothing();
  // Pending accepts expire; the table empties.
  p.advance(120_000);
  assert.equal(p.tcp.connectionCount, 0);
});

Deno.test("tcp: delivers data, acknowledges it and retransmits with RTO doubling", () => {
  const p = new ScriptedPeer();
  const c = established(p);
  // Receive.
  let got = 0;
  c.ondata = () => got = c.readable;
  p.send({
    flags: ACK | PSH,
    seq: PISN + 1,
    ack: ISN + 1,
    payload: new TextEncoder().encode("hello"),
  });
  assert.equal(got, 5);
  const a = p.expect(ACK);
  assert.equal(a.ack, PISN + 6);
  assert.equal(new TextDecoder().decode(c.peek()), "hello");
  // Send and lose.
  assert.equal(c.write(new Uint8Array(100).fill(7)), 100);
  const d = p.expect(ACK | PSH);
  assert.equal(d.seq, ISN + 1);
  assert.equal(d.payload.length, 100);
  assert.equal(p.fireNextTimer(), 1000);
  const r1 = p.expect(ACK | PSH, "first retransmission");
  assert.equal(r1.seq, ISN + 1);
  assert.equal(p.fireNextTimer(), 2000, "RTO doubled");
  p.expect(ACK | PSH);
  assert.equal(p.fireNextTimer(), 4000, "RTO doubled again");
  p.expect(ACK | PSH);
  p.send({ flags: ACK, seq: PISN + 6, ack: ISN + 101 });
  assert.equal(c.bufferedAmount, 0);
  assert.equal(p.tcp.pollAt() === undefined || p.tcp.pollAt()! > p.now + 100_000, true);
  assert.equal(c.stats.timeoutRetransmits, 3);
});

Deno.test("tcp: fast retransmit on the third duplicate ACK (RFC 5681 3.2)", () => {
  const p = new ScriptedPeer();
  const c = established(p, { mss: 1000 });
  c.write(new Uint8Array(3000));
  const segs = [p.expect(ACK), p.expect(ACK), p.expect(ACK | PSH)];
  assert.deepEqual(segs.map((s) => s.seq), [ISN + 1, ISN + 1001, ISN + 2001]);
  // First segment acknowledged: cwnd grows, more room.
  p.send({ flags: ACK, seq: PISN + 1, ack: ISN + 1001 });
  c.write(new Uint8Array(3000));
  while (p.sent.length) p.expect();
  // Segment 2 lost: three duplicates of ACK 1001.
  for (let i = 0; i < 2; i++) p.send({ flags: ACK, seq: PISN + 1, ack: ISN + 1001 });
  p.expectNothing();
  p.send({ flags: ACK, seq: PISN + 1, ack: ISN + 1001 });
  const rtx = p.expect(ACK, "fast retransmission");
  assert.equal(rtx.seq, ISN + 1001);
  assert.equal(rtx.payload.length, 1000);
  assert.equal(c.stats.fastRetransmits, 1);
  assert.equal(c.stats.timeoutRetransmits, 0);
  // Partial ACK (NewReno): the next hole is retransmitted at once.
  p.send({ flags: ACK, seq: PISN + 1, ack: ISN + 2001 });
  const again = p.sent.find((s) => s.seq === ISN + 2001);
  assert.ok(again, "RFC 6582 partial ACK retransmits the next segment");
});

Deno.test("tcp: out-of-order segments are queued and delivered in order", () => {
  const p = new ScriptedPeer();
  const c = established(p);
  const enc = new TextEncoder();
  p.send({ flags: ACK, seq: PISN + 6, ack: ISN + 1, payload: enc.encode("world") });
  const dup = p.expect(ACK);
  assert.equal(dup.ack, PISN + 1, "a gap: duplicate ACK for the missing byte");
  assert.equal(c.readable, 0);
  p.send({ flags: ACK, seq: PISN + 11, ack: ISN + 1, payload: enc.encode("!") });
  p.expect(ACK);
  p.send({ flags: ACK, seq: PISN + 1, ack: ISN + 1, payload: enc.encode("hello") });
  const cum = p.expect(ACK);
  assert.equal(cum.ack, PISN + 12, "the hole filled: cumulative ACK covers everything");
  const buf = new Uint8Array(20);
  const n = c.read(buf);
  assert.equal(new TextDecoder().decode(buf.subarray(0, n)), "helloworld!");
  assert.equal(c.stats.outOfOrder, 2);
});

Deno.test("tcp: a slow reader closes the window; consuming sends a window update", () => {
  const p = new ScriptedPeer({ recvBufferSize: 4000, mss: 1000 });
  const c = established(p, { mss: 1000 });
  for (let i = 0; i < 4; i++) {
    p.send({ flags: ACK, seq: PISN + 1 + i * 1000, ack: ISN + 1, payload: new Uint8Array(1000) });
  }
  const acks = [p.expect(ACK), p.expect(ACK), p.expect(ACK), p.expect(ACK)];
  assert.deepEqual(acks.map((a) => a.window), [3000, 2000, 1000, 0]);
  // A zero-window probe gets an ACK with window 0 and its byte is not taken.
  p.send({ flags: ACK, seq: PISN + 4001, ack: ISN + 1, payload: new Uint8Array(1) });
  const probeAck = p.expect(ACK);
  assert.equal(probeAck.window, 0);
  assert.equal(probeAck.ack, PISN + 4001);
  c.consume(500);
  p.expectNothing(); // receiver SWS avoidance: less than one MSS opened
  c.consume(1500);
  const upd = p.expect(ACK, "window update");
  assert.equal(upd.window, 2000);
  assert.equal(upd.ack, PISN + 4001);
});

Deno.test("tcp: probes a zero window with backoff and resumes when it opens", () => {
  const p = new ScriptedPeer();
  const c = established(p, { window: 0 });
  c.write(new Uint8Array(5000).fill(1));
  p.expectNothing();
  const t1 = p.fireNextTimer();
  const probe = p.expect(ACK, "window probe");
  assert.equal(probe.payload.length, 1);
  assert.equal(probe.seq, ISN + 1);
  p.send({ flags: ACK, seq: PISN + 1, ack: ISN + 1, window: 0 });
  const t2 = p.fireNextTimer();
  p.expect(ACK, "second probe");
  assert.equal(t2, 2 * t1, "persist timer backs off");
  p.send({ flags: ACK, seq: PISN + 1, ack: ISN + 1, window: 0 });
  assert.equal(c.state, "ESTABLISHED", "probing never times a live peer out");
  // The window opens (the update itself might have been lost; a probe found it).
  p.send({ flags: ACK, seq: PISN + 1, ack: ISN + 1, window: 10000 });
  let sent = 0;
  while (p.sent.length) sent += p.expect().payload.length;
  assert.ok(sent >= 1460, "data flows again");
  assert.equal(c.stats.windowProbes, 2);
});

Deno.test("tcp: half-close: peer FIN gives CLOSE-WAIT, we keep sending, then LAST-ACK", () => {
  const p = new ScriptedPeer();
  const c = established(p);
  let ended = false;
  let closed = false;
  c.onend = () => ended = true;
  c.onclose = () => closed = true;
  p.send({ flags: FIN | ACK, seq: PISN + 1, ack: ISN + 1 });
  assert.equal(p.expect(ACK).ack, PISN + 2);
  assert.equal(c.state, "CLOSE-WAIT");
  assert.ok(ended && c.eof);
  assert.equal(c.write(new Uint8Array(10)), 10);
  assert.equal(p.expect(ACK | PSH).payload.length, 10);
  c.shutdownWrite();
  const fin = p.expect(FIN | ACK);
  assert.equal(fin.seq, ISN + 11);
  assert.equal(c.state, "LAST-ACK");
  assert.equal(c.write(new Uint8Array(1)), 0, "no writes after shutdown");
  p.send({ flags: ACK, seq: PISN + 2, ack: ISN + 12 });
  assert.equal(c.state, "CLOSED");
  assert.ok(closed);
  assert.equal(p.tcp.connectionCount, 0);
});

Deno.test("tcp: half-close the other way: our FIN, peer keeps sending, TIME-WAIT clean-up", () => {
  const p = new ScriptedPeer({ timeWait: 500 });
  const c = established(p);
  c.shutdownWrite();
  assert.equal(p.expect(FIN | ACK).seq, ISN + 1);
  assert.equal(c.state, "FIN-WAIT-1");
  p.send({ flags: ACK, seq: PISN + 1, ack: ISN + 2 });
  assert.equal(c.state, "FIN-WAIT-2");
  p.send({ flags: ACK, seq: PISN + 1, ack: ISN + 2, payload: new Uint8Array(7) });
  p.expect(ACK);
  assert.equal(c.readable, 7);
  p.send({ flags: FIN | ACK, seq: PISN + 8, ack: ISN + 2 });
  assert.equal(p.expect(ACK).ack, PISN + 9);
  assert.equal(c.state, "TIME-WAIT");
  // A retransmitted FIN is acknowledged again.
  p.send({ flags: FIN | ACK, seq: PISN + 8, ack: ISN + 2 });
  p.expect(ACK);
  p.advance(499);
  assert.equal(p.tcp.connectionCount, 1);
  p.advance(1);
  assert.equal(p.tcp.connectionCount, 0);
  assert.equal(c.state, "CLOSED");
});

Deno.test("tcp: simultaneous close goes through CLOSING to TIME-WAIT", () => {
  const p = new ScriptedPeer({ timeWait: 100 });
  const c = established(p);
  c.shutdownWrite();
  p.expect(FIN | ACK);
  // The peer's FIN crosses ours: it does not acknowledge our FIN yet.
  p.send({ flags: FIN | ACK, seq: PISN + 1, ack: ISN + 1 });
  assert.equal(p.expect(ACK).ack, PISN + 2);
  assert.equal(c.state, "CLOSING");
  p.send({ flags: ACK, seq: PISN + 2, ack: ISN + 2 });
  assert.equal(c.state, "TIME-WAIT");
  p.advance(100);
  assert.equal(p.tcp.connectionCount, 0);
});

Deno.test("tcp: RST from the peer resets; RFC 5961 challenge ACK for an inexact RST", () => {
  const p = new ScriptedPeer();
  const c = established(p);
  const reasons: string[] = [];
  c.onreset = (r) => reasons.push(r);
  p.send({ flags: RST, seq: PISN + 100 });
  assert.equal(p.expect(ACK, "challenge ACK").ack, PISN + 1);
  assert.equal(c.state, "ESTABLISHED");
  p.send({ flags: RST, seq: PISN + 1_000_000 });
  p.expectNothing();
  p.send({ flags: RST, seq: PISN + 1 });
  assert.equal(c.state, "CLOSED");
  assert.deepEqual(reasons, ["reset"]);
  p.expectNothing();
  assert.equal(p.tcp.connectionCount, 0);
});

Deno.test("tcp: abort sends RST to the peer", () => {
  const p = new ScriptedPeer();
  const c = established(p);
  c.write(new Uint8Array(10));
  p.expect(ACK | PSH);
  c.abort();
  const r = p.expect(RST | ACK);
  assert.equal(r.seq, ISN + 11);
  assert.equal(c.state, "CLOSED");
  assert.equal(p.tcp.connectionCount, 0);
});

Deno.test("tcp: RST in reply to our SYN reports the connect as refused", () => {
  const p = new ScriptedPeer();
  const c = p.tcp.connect(LOCAL, 80, PEER, 40000, 0);
  p.expect(SYN);
  const reasons: string[] = [];
  c.onreset = (r) => reasons.push(r);
  p.send({ flags: RST | ACK, seq: 0, ack: ISN + 1 });
  assert.deepEqual(reasons, ["refused"]);
  assert.equal(p.tcp.connectionCount, 0);
});

Deno.test("tcp: a SYN in ESTABLISHED gets a challenge ACK; an ACK beyond SND.NXT gets an ACK", () => {
  const p = new ScriptedPeer();
  const c = established(p);
  p.send({ flags: SYN, seq: PISN + 1 });
  p.expect(ACK);
  p.send({ flags: ACK, seq: PISN + 1, ack: ISN + 500 });
  p.expect(ACK);
  assert.equal(c.state, "ESTABLISHED");
});

Deno.test("tcp: idle connections are reset after the idle timeout", () => {
  const p = new ScriptedPeer({ idleTimeout: 10_000 });
  const c = established(p);
  const reasons: string[] = [];
  c.onreset = (r) => reasons.push(r);
  p.advance(10_000);
  p.expect(RST | ACK);
  assert.deepEqual(reasons, ["idle"]);
  assert.equal(p.tcp.connectionCount, 0);
});

Deno.test("tcp: a new SYN may reuse a 4-tuple in TIME-WAIT", () => {
  const p = new ScriptedPeer({ timeWait: 10_000 });
  const c = established(p);
  c.shutdownWrite();
  p.expect(FIN | ACK);
  p.send({ flags: FIN | ACK, seq: PISN + 1, ack: ISN + 2 });
  p.expect(ACK);
  assert.equal(c.state, "TIME-WAIT");
  p.tcp.accept = () => true;
  p.send({ flags: SYN, seq: PISN + 100_000 });
  p.expect(SYN | ACK);
  assert.equal(p.tcp.connectionCount, 1);
});

Deno.test("tcp: RTT samples set the RTO (RFC 6298 2.2-2.4); retransmitted segments are not timed", () => {
  const p = new ScriptedPeer({ minRto: 10 });
  const c = established(p);
  c.write(new Uint8Array(10));
  p.expect(ACK | PSH);
  p.advance(100);
  p.send({ flags: ACK, seq: PISN + 1, ack: ISN + 11 });
  assert.equal(c.rto, 300, "first sample R=100: SRTT=100, RTTVAR=50, RTO=100+4*50");
  // Karn: this segment is retransmitted, so its (ambiguous) ACK gives no sample.
  c.write(new Uint8Array(10));
  p.expect(ACK | PSH);
  p.fireNextTimer();
  p.expect(ACK | PSH);
  assert.equal(c.rto, 600, "backed off");
  p.advance(5);
  p.send({ flags: ACK, seq: PISN + 1, ack: ISN + 21 });
  assert.equal(c.rto, 600, "no sample from a retransmission: the backoff stays");
  c.write(new Uint8Array(10));
  p.expect(ACK | PSH);
  p.advance(100);
  p.send({ flags: ACK, seq: PISN + 1, ack: ISN + 31 });
  assert.equal(c.rto, 250, "a fresh sample clears the backoff: RTTVAR 37.5, SRTT 100");
});

Deno.test("tcp: sequence numbers wrap around 2**32 in both directions", () => {
  const top = 0xfffffff0;
  const p = new ScriptedPeer({ isn: () => top });
  let conn: TcpConnection | undefined;
  p.tcp.accept = (r) => {
    conn = r.connection;
    return true;
  };
  p.send({ flags: SYN, seq: 0xfffffffa });
  const sa = p.expect(SYN | ACK);
  assert.equal(sa.seq, top);
  assert.equal(sa.ack, 0xfffffffb);
  p.send({ flags: ACK, seq: 0xfffffffb, ack: top + 1 });
  const c = conn!;
  p.send({ flags: ACK, seq: 0xfffffffb, ack: top + 1, payload: new Uint8Array(20).fill(1) });
  assert.equal(p.expect(ACK).ack, 15, "RCV.NXT wrapped");
  assert.equal(c.readable, 20);
  c.write(new Uint8Array(40).fill(2));
  const d = p.expect(ACK | PSH);
  assert.equal(d.seq, top + 1);
  p.send({ flags: ACK, seq: 15, ack: (top + 41) >>> 0 });
  assert.equal(c.bufferedAmount, 0, "SND.UNA wrapped");
  assert.equal(c.sndUna, 0x19);
});

Deno.test("tcp: delayed ACK acknowledges every second segment at once, a lone one on the timer", () => {
  const p = new ScriptedPeer({ delayedAck: 40 });
  const c = established(p);
  p.send({ flags: ACK, seq: PISN + 1, ack: ISN + 1, payload: new Uint8Array(100) });
  p.expectNothing();
  p.send({ flags: ACK, seq: PISN + 101, ack: ISN + 1, payload: new Uint8Array(100) });
  assert.equal(p.expect(ACK).ack, PISN + 201, "second segment: ACK now");
  p.send({ flags: ACK, seq: PISN + 201, ack: ISN + 1, payload: new Uint8Array(100) });
  p.expectNothing();
  assert.equal(p.fireNextTimer(), 40);
  assert.equal(p.expect(ACK).ack, PISN + 301, "lone segment: ACK when the timer fires");
  // A reply piggybacks the owed ACK.
  p.send({ flags: ACK, seq: PISN + 301, ack: ISN + 1, payload: new Uint8Array(100) });
  c.write(new Uint8Array(5));
  const d = p.expect(ACK | PSH);
  assert.equal(d.ack, PISN + 401);
  p.advance(100);
  p.expectNothing();
});

Deno.test("tcp: an RST while the accept hook decides drops the pending connection", () => {
  const p = new ScriptedPeer();
  p.tcp.accept = () => new Promise<boolean>(() => {});
  p.send({ flags: SYN, seq: PISN });
  assert.equal(p.tcp.connectionCount, 1);
  p.send({ flags: RST, seq: PISN + 1 });
  assert.equal(p.tcp.connectionCount, 0);
  p.expectNothing();
});
