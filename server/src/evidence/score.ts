/**
 * Quality score: one documented number in [0, 1] per artifact, combined from four
 * dimensions that are each in [0, 1] (the way NYX's scorer combines dimensions):
 *
 *   success  = passed / (passed + failed) over the tests that ran it in the latest test run
 *   coverage = coveredLines / coverableLines in the latest run that measured coverage
 *   speed    = 1 - log2(r) clamped to [0, 1], r = current median / baseline median
 *              (1 when not slower or when the ratio's CI includes 1; 0.5 at 1.41x; 0 at 2x)
 *   usage    = mean of min(1, log(1 + calls) / log(1 + 1000)) and min(1, log(1 + callers) / log(1 + 10))
 *
 *   score = sum(w_d * s_d) / sum(w_d) over the dimensions that are present,
 *   weights: success 0.40, coverage 0.25, speed 0.20, usage 0.15.
 *
 * A dimension with no evidence (no tests ran, no coverage, fewer than two benchmarks,
 * no recorded calls and no known callers) is missing, not zero: the weights of the
 * others are renormalised and the result says which dimensions were present. With
 * none present the score is undefined. Pure and allocation-light: no I/O, no resampling
 * (speed uses the stored per-run medians and their intervals), so it stays well
 * under 10 ms per artifact.
 */
import { benchPair, lastTwo } from './history';
import type { ArtifactRunEvidence } from './model';

export type ScoreDimension = 'success' | 'coverage' | 'speed' | 'usage';
export const scoreDimensions: readonly ScoreDimension[] = ['success', 'coverage', 'speed', 'usage'];

/** Why these weights: correctness first; coverage says how much the tests can be believed; speed and usage refine. */
export const scoreWeights: Readonly<Record<ScoreDimension, number>> = { success: 0.4, coverage: 0.25, speed: 0.2, usage: 0.15 };

/** Calls and callers at which usage saturates (log scale: the first calls matter most). */
export const usageSaturation = { calls: 1000, callers: 10 } as const;

export interface ScoreInput {
  tests?: { passed: number; failed: number };
  coverage?: { covered: number; coverable: number };
  /** Current median over baseline median, with the ratio's confidence interval when known. */
  speed?: { ratio: number; ciLow?: number; ciHigh?: number };
  usage?: { calls?: number; callers?: number };
}

export interface QualityScore {
  /** Undefined when no dimension had evidence. */
  score: number | undefined;
  dimensions: Partial<Record<ScoreDimension, number>>;
  present: ScoreDimension[];
  missing: ScoreDimension[];
}

const clamp01 = (x: number) => (x < 0 ? 0 : x > 1 ? 1 : x);
const saturating = (x: number, at: number) => clamp01(Math.log1p(Math.max(0, x)) / Math.log1p(at));

export function successDimension(t: ScoreInput['tests']): number | undefined {
  if (!t || t.passed + t.failed <= 0) return undefined;
  return t.passed / (t.passed + t.failed);
}

export function coverageDimension(c: ScoreInput['coverage']): number | undefined {
  if (!c || !(c.coverable > 0)) return undefined;
  return clamp01(c.covered / c.coverable);
}

export function speedDimension(s: ScoreInput['speed']): number | undefined {
  if (!s || !(s.ratio > 0) || !Number.isFinite(s.ratio)) return undefined;
  // A ratio whose interval includes 1 is noise, not a change.
  const ratio = s.ciLow !== undefined && s.ciHigh !== undefined && s.ciLow <= 1 && s.ciHigh >= 1 ? 1 : s.ratio;
  return clamp01(1 - Math.log2(Math.max(1, ratio)));
}

export function usageDimension(u: ScoreInput['usage']): number | undefined {
  if (!u) return undefined;
  const parts: number[] = [];
  if (u.calls !== undefined) parts.push(saturating(u.calls, usageSaturation.calls));
  if (u.callers !== undefined) parts.push(saturating(u.callers, usageSaturation.callers));
  if (parts.length === 0) return undefined;
  return parts.length === 1 ? parts[0] : (parts[0] + parts[1]) / 2;
}

export function scoreArtifact(input: ScoreInput): QualityScore {
  const dimensions: Partial<Record<ScoreDimension, number>> = {};
  const present: ScoreDimension[] = [];
  const missing: ScoreDimension[] = [];
  let weighted = 0;
  let weights = 0;
  const add = (d: ScoreDimension, v: number | undefined) => {
    if (v === undefined) {
      missing.push(d);
      return;
    }
    dimensions[d] = v;
    present.push(d);
    weighted += scoreWeights[d] * v;
    weights += scoreWeights[d];
  };
  add('success', successDimension(input.tests));
  add('coverage', coverageDimension(input.coverage));
  add('speed', speedDimension(input.speed));
  add('usage', usageDimension(input.usage));
  return { score: weights > 0 ? weighted / weights : undefined, dimensions, present, missing };
}

/**
 * The score input from an artifact's history: latest test outcomes, latest coverage,
 * latest benchmark against the drift baseline (see `benchPair`), calls in the latest
 * run that counted them. `callers` comes from the index's call graph.
 */
export function scoreInputFromHistory(history: readonly ArtifactRunEvidence[], callers?: number): ScoreInput {
  const input: ScoreInput = {};
  const tested = lastTwo(history, (e) => e.tests.some((t) => t.status !== 'skipped')).latest;
  if (tested) {
    let passed = 0;
    let failed = 0;
    for (const t of tested.tests) {
      if (t.status === 'passed') passed++;
      else if (t.status === 'failed') failed++;
    }
    input.tests = { passed, failed };
  }
  const covered = lastTwo(history, (e) => (e.coverableLines ?? 0) > 0).latest;
  if (covered) input.coverage = { covered: covered.coveredLines ?? 0, coverable: covered.coverableLines! };
  const pair = benchPair(history);
  if (pair) {
    const b = pair.baseline.bench;
    const c = pair.current.bench;
    // Conservative interval from the stored per-run intervals (no resampling here: the score must be cheap).
    input.speed = { ratio: c.medianNs / b.medianNs, ciLow: c.ciLowNs / b.ciHighNs, ciHigh: c.ciHighNs / b.ciLowNs };
  }
  const counted = lastTwo(history, (e) => e.calls !== undefined).latest;
  if (counted || callers !== undefined) input.usage = { calls: counted?.calls, callers };
  return input;
}
