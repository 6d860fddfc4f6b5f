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
}

/**
 * The benchmark to compare the latest one against.
 * - If the artifact's code changed at some point, the baseline is the last benchmark of
 *   the code before the current version: a slowdown is attributed to that change, and
 *   re-running benchmarks on the same code neither clears nor re-raises it.
 * - If the code never changed within the history kept, the baseline is the oldest
 *   benchmark kept: a slow creep, or a slowdown from a callee or a dependency, still
 *   shows, and does not vanish because the previous run was already slow.
 */
export function benchPair(history: readonly Entry[]): BenchPair | undefined {
  let current: (Entry & { bench: BenchEvidence }) | undefined;
  let oldest: (Entry & { bench: BenchEvidence }) | undefined;
  for (let i = history.length - 1; i >= 0; i--) {
    const e = history[i];
    if (!e.bench || e.bench.samplesNs.length === 0) continue;
    const b = e as Entry & { bench: BenchEvidence };
    if (!current) {
      current = b;
      continue;
    }
    if (b.hash !== current.hash) return { baseline: b, current, codeChanged: true };
    oldest = b;
  }
  return current && oldest ? { baseline: oldest, current, codeChanged: false } : undefined;
}
