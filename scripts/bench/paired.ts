// Paired A/B timing of two commands: rounds run both in turn, and the median of the per-round differences, with a bootstrap interval, says which is faster.
//
// On a machine whose speed drifts over seconds (a shared VM), medians taken
// apart measure the drift: here each round runs both commands back to back,
// in alternating order, and only their difference in that round counts.
//
//   deno run -A scripts/bench/paired.ts [ROUNDS] 'command a' 'command b'
//
// Each command is a shell line (sh -c). It prints the medians of a and b, the
// median of b - a, and a 90% interval of that median (2000 resamples). Run
// the same command as a and b to see the method's own spread.

import { median, timeOnce } from "./measure.ts";

/** The result of a paired comparison, in milliseconds. */
export interface PairedResult {
  readonly a: number;
  readonly b: number;
  /** Median of b - a over the rounds. */
  readonly difference: number;
  /** 5th and 95th percentiles of that median over bootstrap resamples. */
  readonly interval: readonly [number, number];
}

/** A 90% bootstrap interval for the median of `values`, from `resamples` resamples. */
export function bootstrapMedianInterval(
  values: readonly number[],
  resamples = 2000,
  random: () => number = Math.random,
): [number, number] {
  const medians: number[] = [];
  for (let r = 0; r < resamples; r++) {
    const sample = values.map(() => values[Math.floor(random() * values.length)]!);
    medians.push(median(sample));
  }
  medians.sort((x, y) => x - y);
  return [medians[Math.floor(resamples * 0.05)]!, medians[Math.floor(resamples * 0.95)]!];
}

/** Times `a` and `b` (shell lines) over `rounds` paired rounds, after one warm-up run each. */
export async function paired(a: string, b: string, rounds: number): Promise<PairedResult> {
  const sh = (line: string) => ["sh", "-c", line];
  await timeOnce(sh(a));
  await timeOnce(sh(b));
  const as: number[] = [];
  const bs: number[] = [];
  for (let i = 0; i < rounds; i++) {
    // Alternate which goes first, so that neither always follows the other.
    if (i % 2 === 0) {
      as.push(await timeOnce(sh(a)));
      bs.push(await timeOnce(sh(b)));
    } else {
      bs.push(await timeOnce(sh(b)));
      as.push(await timeOnce(sh(a)));
    }
  }
  const differences = as.map((x, i) => bs[i]! - x);
  return {
    a: median(as),
    b: median(bs),
    difference: median(differences),
    interval: bootstrapMedianInterval(differences),
  };
}

if (import.meta.main) {
  const args = [...Deno.args];
  const rounds = /^\d+$/.test(args[0] ?? "") ? Number(args.shift()) : 60;
  if (args.length !== 2 || rounds < 1) {
    console.error("usage: deno run -A scripts/bench/paired.ts [ROUNDS] 'command a' 'command b'");
    Deno.exit(2);
  }
  const r = await paired(args[0]!, args[1]!, rounds);
  const ms = (x: number) => `${x >= 0 ? "+" : ""}${x.toFixed(2)}`;
  console.log(
    `a ${r.a.toFixed(1)} ms, b ${r.b.toFixed(1)} ms; b - a: median ${ms(r.difference)} ms ` +
      `(90% interval ${ms(r.interval[0])} to ${ms(r.interval[1])}), ${rounds} paired rounds`,
  );
}
