// The drop counter table keyed by reason, plus plain event counters, for the stack's debug dump.

/** A snapshot of the stack's counters. */
export interface CounterSnapshot {
  /** Events by name (e.g. `rx-frames`, `tx-frames`, `arp-replies`). */
  readonly events: Readonly<Record<string, number>>;
  /** Drops by reason (e.g. `ipv4-bad-checksum`, `udp-truncated`). */
  readonly drops: Readonly<Record<string, number>>;
  /** The sum of all drops. */
  readonly dropped: number;
}

/** Counts events and drops by name. Names are short kebab-case keys, stable across versions. */
export class Counters {
  private readonly eventTable = new Map<string, number>();
  private readonly dropTable = new Map<string, number>();
  private dropTotal = 0;

  /** Counts one (or `n`) occurrences of the event `name`. */
  count(name: string, n = 1): void {
    this.eventTable.set(name, (this.eventTable.get(name) ?? 0) + n);
  }

  /** Counts one dropped packet for `reason`. */
  drop(reason: string): void {
    this.dropTable.set(reason, (this.dropTable.get(reason) ?? 0) + 1);
    this.dropTotal++;
  }

  /** The number of drops for `reason` so far. */
  drops(reason: string): number {
    return this.dropTable.get(reason) ?? 0;
  }

  /** The number of `name` events so far. */
  events(name: string): number {
    return this.eventTable.get(name) ?? 0;
  }

  /** A copy of every counter, names sorted. */
  snapshot(): CounterSnapshot {
    const sorted = (m: Map<string, number>) =>
      Object.fromEntries([...m].sort(([a], [b]) => a < b ? -1 : a > b ? 1 : 0));
    return {
      events: sorted(this.eventTable),
      drops: sorted(this.dropTable),
      dropped: this.dropTotal,
    };
  }
}
