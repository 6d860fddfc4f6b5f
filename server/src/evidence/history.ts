/**
 * Reading an artifact's evidence history: which entries to compare. Shared by drift
 * detection and the quality score so that both judge speed against the same baseline.
 */
import type { ArtifactRunEvidence, BenchEvidence } from './model';

type Entry = ArtifactRunEvidence;

/** The newest entry for which `has` holds, and the one before it. */
export function lastTwo(history: readonly Entry[], has: (e: Entry) => boolean): { previous?: Entry; latest?: Entry } {
  let latest: Entry | undefined;
  for (let i = history.length - 1; i >= 0; i--) {
    if (!has(history[i])) continue;
    if (!latest) latest = history[i];
    else return { previous: history[i], latest };
  }
  return { latest };
}

export interface BenchPair {
  baseline: Entry & { bench: BenchEvidence };
  current: Entry & { bench: BenchEvidence };
  /** True when the baseline measured different code (the usual case); false when the code never changed in the window. */
  codeChanged: boolean;
  /** How many earlier benchmarks the baseline was chosen from (the slowest of them). */
  candidates: number;
}

/**
 * Benchmarks of the same code kept as candidates for a baseline, the slowest one chosen:
 * two processes running the same code can land in different JIT "modes" (measured here up
 * to 2× apart for a regex-heavy function), so a slowdown must exceed what the earlier runs
 * of that code themselves varied.
 */
export const BASELINE_CANDIDATES = 3;

/**
 * The benchmark to compare the latest one against.
 * - If the artifact's code changed at some point, the baseline is the slowest of the last
 *   (up to BASELINE_CANDIDATES) benchmarks of the code just before the current version: a
 *   slowdown is attributed to that change, and re-running benchmarks on the same code
 *   neither clears nor re-raises it.
 * - If the code never changed within the history kept, the baseline is the slowest of the
 *   oldest BASELINE_CANDIDATES benchmarks kept, and there must be that many before the
 *   latest: a slow creep, or a slowdown from a callee, a dependency or the machine, still
 *   shows, but not the run-to-run noise of a couple of runs.
 */
export function benchPair(history: readonly Entry[]): BenchPair | undefined {
  type Bench = Entry & { bench: BenchEvidence };
  const benches = history.filter((e): e is Bench => e.bench !== undefined && e.bench.samplesNs.length > 0);
  const current = benches[benches.length - 1];
  if (!current) return undefined;
  const earlier = benches.slice(0, -1);
  const slowest = (xs: Bench[]) => xs.reduce((a, b) => (b.bench.medianNs > a.bench.medianNs ? b : a));
  // The version just before the current one: the newest earlier benchmark of other code, and its neighbours of the same code.
  let i = earlier.length - 1;
  while (i >= 0 && earlier[i].hash === current.hash) i--;
  if (i >= 0) {
    const previousHash = earlier[i].hash;
    const block: Bench[] = [];
    for (let j = i; j >= 0 && earlier[j].hash === previousHash && block.length < BASELINE_CANDIDATES; j--) block.push(earlier[j]);
    return { baseline: slowest(block), current, codeChanged: true, candidates: block.length };
  }
  if (earlier.length < BASELINE_CANDIDATES) return undefined;
  const oldest = earlier.slice(0, BASELINE_CANDIDATES);
  return { baseline: slowest(oldest), current, codeChanged: false, candidates: oldest.length };
}
