// One poll set for a network's descriptors (the TAP and the host sockets): idle waits on Deno's thread pool, short waits on the main thread right after a send that will be answered.
//
// Theory of operation: every descriptor with something to wait for is
// "watched" with its poll(2) events and a handler. When nothing is ready, the
// set waits in one poll(2) on Deno's thread pool; an eventfd restarts that wait
// when the set changes. A frame or byte that wakes the pool's poll reaches its
// handler after two thread switches (the pool thread, then the main thread),
// which doubled the round trip of a small request. So after a send that will
// be answered (a payload to the container, bytes to a host socket) the reactor
// "lingers": in a microtask after the sending code, it waits up to LINGER_NS in
// ppoll(2) on the main thread itself, where the answer wakes it directly; it
// polls without sleeping for the first SPIN_NS, while answers keep coming that
// fast (a sleeping thread on a virtual machine is slow to wake). What
// a linger's handlers send may queue the next linger, so a request and its
// answer can cross container and host many times without a thread switch; after
// MAX_CHAIN lingers in a row the chain yields to the event loop once. While
// lingers are being answered, the pool's wait leaves the descriptors to them
// (it waits on the eventfd alone for INTERACTIVE_NS) and so does not wake for
// what the lingers take anyway.

import { lastErrno, libc } from "../../ffi/libc.ts";
import { close, EINTR, eventFd, POLL } from "../../ffi/sys.ts";

/**
 * How long a linger waits for the answer: longer than a container or a local server takes to
 * answer a request, short enough not to hold up the event loop. PARANOID_LINGER_NS=0 turns
 * lingering off.
 */
const LINGER_NS = nanoseconds("PARANOID_LINGER_NS", 200_000);
/** How long the pool's wait leaves the descriptors to the lingers after one was answered. */
const INTERACTIVE_NS = nanoseconds("PARANOID_INTERACTIVE_NS", 1_000_000);
/** Lingers in a row, without the event loop running in between, before the chain yields. */
const MAX_CHAIN = 64;
/** Microtask turns a linger waits behind the sending code (see #linger). */
const LINGER_HOPS = 3;
/**
 * How long a linger polls without sleeping before it sleeps in ppoll(2): an answer that comes
 * while the thread sleeps must wake it, and on a virtual machine waking a CPU that went idle
 * costs tens of microseconds (more than the whole round trip on one CPU). Only with more than
 * one CPU (one spinning thread must not keep the answering process off its CPU), and only
 * while answers come within the window. PARANOID_SPIN_NS=0 turns spinning off.
 */
const SPIN_NS = navigator.hardwareConcurrency > 1 ? nanoseconds("PARANOID_SPIN_NS", 50_000) : 0;
/** Sends larger than this are a bulk transfer's: their lingers do not spin. */
const SPIN_MAX_BYTES = 4096;

/** Called with the poll(2) revents of a watched descriptor that is ready. */
export type ReadyHandler = (revents: number) => void;

/** Counters of a {@link Reactor}. */
export interface ReactorStats {
  /** Waits on the thread pool (one per idle period). */
  waits: number;
  /** Short waits on the main thread for an answer. */
  lingers: number;
  /** Lingers that an answer ended. */
  lingerHits: number;
}

/** struct pollfd[] for a wait, with the watch each entry was made for. */
interface PollSet {
  readonly pollFds: Uint8Array;
  readonly view: DataView;
  readonly count: number;
  readonly owners: readonly Watch[];
}

interface Watch {
  readonly fd: number;
  events: number;
  readonly handler: ReadyHandler;
  /** Its entry in the main thread's set, which setEvents updates in place; -1: none yet. */
  slot: number;
}

/** A poll set with lingering; see the file's header. */
export class Reactor {
  /** Counters for the debug dump. */
  readonly stats: ReactorStats = { waits: 0, lingers: 0, lingerHits: 0 };
  readonly #watches = new Map<number, Watch>();
  readonly #wake = eventFd();
  readonly #one = new Uint8Array(new BigUint64Array([1n]).buffer);
  readonly #drain = new Uint8Array(8);
  readonly #lingerTime = timespec(LINGER_NS);
  readonly #zeroTime = timespec(0);
  readonly #interactiveTime = timespec(INTERACTIVE_NS);
  /** struct pollfd for the eventfd alone. */
  readonly #wakeOnly = new Uint8Array(8);
  /** The pool's pending wait covers the watched set (a change must restart it). */
  #poolWaitsOnSet = false;
  /** The pool's pending wait is the eventfd-only one of interactive periods. */
  #poolInteractive = false;
  #woken = false;
  #closed = false;
  #wantLinger = false;
  #lingerQueued = false;
  /** Microtask turns the queued linger still waits (see #linger). */
  #hopsLeft = 0;
  /** The queued linger, one function for every turn (no closure per round trip). */
  readonly #lingerTask = () => this.#linger();
  #chain = 0;
  /** The set as the main thread polls it, kept until a watch changes. */
  #mainSet: PollSet | null = null;
  /** The last answer came within the spin window: the next linger spins first. */
  #spin = SPIN_NS > 0;
  /** A send since the last arrival was large (see SPIN_MAX_BYTES). */
  #bulk = false;
  /** The last linger was answered: the loop's next wait leaves the set to the lingers. */
  #interactive = false;
  readonly #loop: Promise<void>;

  /** Starts the reactor's wait loop. */
  constructor() {
    const v = new DataView(this.#wakeOnly.buffer);
    v.setInt32(0, this.#wake, true);
    v.setInt16(4, POLL.IN, true);
    this.#loop = this.#run();
  }

  /** Watches `fd` for `events` (POLL bits); replaces an earlier watch of the same descriptor. */
  watch(fd: number, events: number, handler: ReadyHandler): void {
    this.#watches.set(fd, { fd, events, handler, slot: -1 });
    this.#mainSet = null;
    this.#changed();
  }

  /** Changes the events a watched descriptor waits for (0: none for now). */
  setEvents(fd: number, events: number): void {
    const w = this.#watches.get(fd);
    if (w === undefined || w.events === events) return;
    w.events = events;
    // A socket's read or write starts and ends every round trip: its entry in the main
    // thread's set changes in place rather than the set being built again.
    const set = this.#mainSet;
    if (set !== null && w.slot >= 0) writeEntry(set.view, w.slot, w);
    this.#changed();
  }

  /** Stops watching `fd` (before it is closed). */
  unwatch(fd: number): void {
    if (!this.#watches.delete(fd)) return;
    this.#mainSet = null;
    this.#changed();
  }

  /**
   * `bytes` were sent that will be answered: wait briefly on this thread for the answer, in a
   * microtask after the sending code.
   */
  expectAnswer(bytes: number): void {
    // A bulk transfer keeps its peers busy: spinning beside them would take their CPU.
    if (bytes > SPIN_MAX_BYTES) this.#bulk = true;
    this.#wantLinger = true;
    if (this.#lingerQueued || LINGER_NS <= 0 || this.#closed) return;
    this.#lingerQueued = true;
    this.#hopsLeft = LINGER_HOPS;
    queueMicrotask(this.#lingerTask);
  }

  /**
   * Stops the loop; resolves once its pending wait returned and the eventfd is closed. What is
   * still watched (a host connect in flight, say) is told POLL.NVAL once, so that its owner
   * closes it rather than wait forever.
   */
  close(): Promise<void> {
    if (!this.#closed) {
      this.#closed = true;
      this.#poke();
      const left = [...this.#watches.values()];
      this.#watches.clear();
      for (const w of left) w.handler(POLL.NVAL);
    }
    return this.#loop;
  }

  #changed(): void {
    if (this.#poolWaitsOnSet) this.#poke();
  }

  #poke(): void {
    if (this.#woken) return;
    this.#woken = true;
    libc.write(this.#wake, this.#one, 8n);
  }

  async #run(): Promise<void> {
    try {
      while (!this.#closed) {
        this.#chain = 0;
        if (this.#interactive) {
          // Lingers answer each send: a pool thread polling the set beside them would only wake
          // for what they take. Wait on the eventfd alone a while, then look at the set again.
          this.#interactive = false;
          this.#poolInteractive = true;
          await libc.ppollAsync(this.#wakeOnly, 1n, this.#interactiveTime, null);
          this.#poolInteractive = false;
          this.#clearWake();
          this.#pollNow(this.#zeroTime);
          continue;
        }
        const set = this.#pollSet(true);
        this.stats.waits++;
        this.#poolWaitsOnSet = true;
        const n = await libc.pollAsync(set.pollFds, BigInt(set.count), -1);
        this.#poolWaitsOnSet = false;
        this.#clearWake();
        if (n > 0) this.#dispatch(set);
      }
    } finally {
      close(this.#wake);
    }
  }

  #clearWake(): void {
    if (!this.#woken) return;
    libc.read(this.#wake, this.#drain, 8n);
    this.#woken = false;
  }

  /**
   * Every watched descriptor as struct pollfd[] (those waiting for nothing as fd -1, which
   * poll(2) skips), the eventfd last for the pool's wait; the main thread's set records each
   * watch's entry.
   */
  #pollSet(forPool: boolean): PollSet {
    const pollFds = new Uint8Array(8 * (this.#watches.size + 1));
    const view = new DataView(pollFds.buffer);
    const owners: Watch[] = [];
    for (const w of this.#watches.values()) {
      if (!forPool) w.slot = owners.length;
      writeEntry(view, owners.length, w);
      owners.push(w);
    }
    let count = owners.length;
    if (forPool) {
      view.setInt32(8 * count, this.#wake, true);
      view.setInt16(8 * count + 4, POLL.IN, true);
      count++;
    }
    return { pollFds, view, count, owners };
  }

  /** Polls the set on this thread for at most `timeout`; dispatches what is ready. */
  #pollNow(timeout: Uint8Array): boolean {
    const set = this.#mainSet ??= this.#pollSet(false);
    if (set.count === 0) return false;
    const n = libc.ppoll(set.pollFds, BigInt(set.count), timeout, null);
    if (n < 0 && lastErrno() !== EINTR) return false;
    if (n <= 0) return false;
    this.#dispatch(set);
    return true;
  }

  #dispatch(set: PollSet): void {
    // Something arrived: what was waited for came (the handlers may expect the next answer).
    this.#wantLinger = false;
    this.#bulk = false;
    const v = set.view;
    for (let i = 0; i < set.owners.length; i++) {
      const revents = v.getInt16(8 * i + 6, true);
      if (revents === 0) continue;
      // Only to the watch the entry was made for: a handler before this one may have closed
      // its descriptor, and a new socket may already have the same number.
      const w = set.owners[i]!;
      if (this.#watches.get(w.fd) === w && w.events !== 0) w.handler(revents);
    }
  }

  #linger(): void {
    if (this.#hopsLeft > 0) {
      this.#hopsLeft--;
      // Behind what the sending code's own continuations queue meanwhile (the await after a
      // write that goes on to read the answer, say): they may add what to wait for.
      queueMicrotask(this.#lingerTask);
      return;
    }
    this.#lingerQueued = false;
    if (this.#closed || !this.#wantLinger) return;
    if (++this.#chain > MAX_CHAIN) {
      // Let the event loop run: the pool's wait looks at the set at once.
      this.#interactive = false;
      this.#poke();
      return;
    }
    this.stats.lingers++;
    let hit = false;
    if (this.#spin && !this.#bulk) {
      const until = performance.now() + SPIN_NS / 1e6;
      while (!(hit = this.#pollNow(this.#zeroTime)) && performance.now() < until);
    }
    if (!hit) {
      const start = performance.now();
      hit = this.#pollNow(this.#lingerTime);
      // Spinning pays again once an answer comes within the window.
      this.#spin = hit && SPIN_NS > 0 && performance.now() - start <= SPIN_NS / 1e6;
    }
    if (!hit) {
      // No answer in time: the pool's wait must cover the set again.
      this.#interactive = false;
      if (this.#poolInteractive) this.#poke();
      return;
    }
    this.stats.lingerHits++;
    this.#interactive = true;
  }
}

/** Writes `w` as entry `i` of a struct pollfd[]: fd -1 (skipped) while it waits for nothing. */
function writeEntry(view: DataView, i: number, w: Watch): void {
  view.setInt32(8 * i, w.events === 0 ? -1 : w.fd, true);
  view.setInt16(8 * i + 4, w.events, true);
}

/** A tuning variable in nanoseconds: a whole number up to one second, else `fallback`. */
function nanoseconds(name: string, fallback: number): number {
  const text = Deno.env.get(name);
  const n = text === undefined ? NaN : Number(text);
  return Number.isInteger(n) && n >= 0 && n <= 1e9 ? n : fallback;
}

function timespec(ns: number): Uint8Array {
  return new Uint8Array(new BigInt64Array([BigInt(Math.floor(ns / 1e9)), BigInt(ns % 1e9)]).buffer);
}
