/**
 * Statistics for timing samples that a reviewer can check by hand.
 *
 * Timings are right-skewed with outliers (GC pauses, scheduler hiccups), so the
 * centre is the median and the spread is the MAD / IQR, never mean ± sd. Every
 * interval here is either distribution-free or a bootstrap with a fixed seed: the
 * same samples always give the same answer, so a CI gate does not flap.
 */
import { interquartileRange, medianAbsoluteDeviation, median as ssMedian, probit } from 'simple-statistics';

export interface Interval {
  low: number;
  high: number;
  /** The confidence actually achieved (order-statistic intervals are discrete: at least the requested one when n allows). */
  confidence: number;
}

/** Seeded PRNG (mulberry32): tiny, fast, and good enough for resampling; reproducible across platforms. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function median(xs: readonly number[]): number {
  if (xs.length === 0) return NaN;
  return ssMedian(xs as number[]);
}

/** Median absolute deviation (raw, not scaled): robust to the outliers timing data has. */
export function mad(xs: readonly number[]): number {
  if (xs.length === 0) return NaN;
  return medianAbsoluteDeviation(xs);
}

/** Interquartile range (simple-statistics' quantile convention). */
export function iqr(xs: readonly number[]): number {
  if (xs.length === 0) return NaN;
  return interquartileRange(xs as number[]);
}

/**
 * Confidence interval for the median from order statistics (the sign-test / binomial
 * interval): [x(k), x(n-k+1)] with k the largest rank such that P(Bin(n, ½) < k) ≤ α/2.
 * Why: it assumes nothing about the distribution (timings are not normal), and its
 * coverage is exact (≥ the requested level) rather than asymptotic. For n < 6 at 95%
 * no such k exists and the interval is [min, max] with the smaller confidence reported.
 */
export function medianCI(xs: readonly number[], confidence = 0.95): Interval {
  const n = xs.length;
  if (n === 0) return { low: NaN, high: NaN, confidence: 0 };
  const sorted = [...xs].sort((a, b) => a - b);
  const alpha = 1 - confidence;
  // Interval [x(j), x(n-j+1)] (1-based) covers the median with probability 1 - 2·P(Bin(n, ½) <= j-1).
  // The binomial terms are built incrementally in log space: linear in n, no underflow for large n.
  let j = 1;
  let logPmf = n * Math.log(0.5); // log P(X = 0)
  let cdf = Math.exp(logPmf); // P(X <= j-1)
  while (j + 1 <= (n + 1) / 2) {
    logPmf += Math.log((n - j + 1) / j); // log P(X = j)
    const next = cdf + Math.exp(logPmf);
    if (2 * next > alpha) break;
    cdf = next;
    j++;
  }
  return { low: sorted[j - 1], high: sorted[n - j], confidence: 1 - 2 * cdf };
}

export interface RatioEstimate extends Interval {
  /** Point estimate: median(current) / median(baseline). Above 1 means slower. */
  ratio: number;
}

export interface BootstrapOptions {
  confidence?: number;
  resamples?: number;
  /** Fixed by default so that the same samples always give the same interval. */
  seed?: number;
}

export const defaultBootstrapResamples = 2000;
export const defaultBootstrapSeed = 0x5eed;

/**
 * Confidence interval for median(current) / median(baseline) by the percentile
 * bootstrap, resampling each run independently, with a seeded PRNG.
 * Why: the ratio of two medians has no convenient closed-form distribution; the
 * bootstrap needs no normality, handles different sample counts, and with a fixed
 * seed it is deterministic. 2,000 resamples put the 2.5%/97.5% percentiles within
 * a fraction of a percent of their limit for typical benchmark sample sizes.
 */
export function ratioOfMediansCI(baseline: readonly number[], current: readonly number[], options: BootstrapOptions = {}): RatioEstimate {
  const confidence = options.confidence ?? 0.95;
  const resamples = options.resamples ?? defaultBootstrapResamples;
  const ratio = median(current) / median(baseline);
  if (baseline.length === 0 || current.length === 0) return { ratio: NaN, low: NaN, high: NaN, confidence: 0 };
  const random = seededRandom(options.seed ?? defaultBootstrapSeed);
  // Resampling draws indices into the sorted samples; the k-th smallest value of a resample
  // is then the value at the k-th smallest drawn index, found by counting the draws
  // (O(n) per resample instead of sorting it: 1,000 artifacts' drift in well under a second).
  const b = Float64Array.from(baseline).sort();
  const c = Float64Array.from(current).sort();
  const countsB = new Uint32Array(b.length);
  const countsC = new Uint32Array(c.length);
  const ratios = new Float64Array(resamples);
  for (let r = 0; r < resamples; r++) ratios[r] = resampledMedian(c, countsC, random) / resampledMedian(b, countsB, random);
  ratios.sort();
  const alpha = 1 - confidence;
  return { ratio, low: percentileSorted(ratios, alpha / 2), high: percentileSorted(ratios, 1 - alpha / 2), confidence };
}

/** Splits pooled samples into their groups (`sizes` in order; a mismatch gives one group). */
export function splitGroups(samples: readonly number[], sizes: readonly number[] | undefined): number[][] {
  if (!sizes || sizes.length < 2 || sizes.reduce((a, b) => a + b, 0) !== samples.length) return [samples.slice()];
  const groups: number[][] = [];
  let at = 0;
  for (const n of sizes) {
    groups.push(samples.slice(at, at + n));
    at += n;
  }
  return groups.filter((g) => g.length > 0);
}

/**
 * Median of one two-stage bootstrap resample: groups drawn with replacement, then each
 * drawn group's samples drawn with replacement, pooled.
 */
function hierarchicalResampleMedian(groups: readonly Float64Array[], buf: Float64Array, random: () => number): number {
  let k = 0;
  for (let g = 0; g < groups.length; g++) {
    const group = groups[Math.floor(random() * groups.length)];
    for (let i = 0; i < group.length; i++) buf[k++] = group[Math.floor(random() * group.length)];
  }
  const view = buf.subarray(0, k).sort();
  return k % 2 ? view[(k - 1) / 2] : (view[k / 2 - 1] + view[k / 2]) / 2;
}

/**
 * Like `ratioOfMediansCI`, for runs whose samples come from several processes (groups):
 * a two-stage bootstrap that resamples the processes, then the samples within each.
 * Why: two processes running the same code can differ by tens of percent (JIT decisions,
 * memory layout); samples of one process are not independent draws of that variation,
 * so resampling samples alone gives intervals far too narrow for comparing two runs.
 */
export function ratioOfMediansGroupedCI(baseline: readonly (readonly number[])[], current: readonly (readonly number[])[], options: BootstrapOptions = {}): RatioEstimate {
  const confidence = options.confidence ?? 0.95;
  const resamples = options.resamples ?? defaultBootstrapResamples;
  const b = baseline.filter((g) => g.length > 0).map((g) => Float64Array.from(g));
  const c = current.filter((g) => g.length > 0).map((g) => Float64Array.from(g));
  if (b.length === 0 || c.length === 0) return { ratio: NaN, low: NaN, high: NaN, confidence: 0 };
  const ratio = median(c.flatMap((g) => [...g])) / median(b.flatMap((g) => [...g]));
  const random = seededRandom(options.seed ?? defaultBootstrapSeed);
  const bufB = new Float64Array(b.length * Math.max(...b.map((g) => g.length)));
  const bufC = new Float64Array(c.length * Math.max(...c.map((g) => g.length)));
  const ratios = new Float64Array(resamples);
  for (let r = 0; r < resamples; r++) ratios[r] = hierarchicalResampleMedian(c, bufC, random) / hierarchicalResampleMedian(b, bufB, random);
  ratios.sort();
  const alpha = 1 - confidence;
  return { ratio, low: percentileSorted(ratios, alpha / 2), high: percentileSorted(ratios, 1 - alpha / 2), confidence };
}

/** 95% (by default) two-stage bootstrap interval of the pooled median of grouped samples. */
export function groupedMedianCI(groups: readonly (readonly number[])[], options: BootstrapOptions = {}): Interval {
  const confidence = options.confidence ?? 0.95;
  const resamples = options.resamples ?? defaultBootstrapResamples;
  const gs = groups.filter((g) => g.length > 0).map((g) => Float64Array.from(g));
  if (gs.length === 0) return { low: NaN, high: NaN, confidence: 0 };
  const random = seededRandom(options.seed ?? defaultBootstrapSeed);
  const buf = new Float64Array(gs.length * Math.max(...gs.map((g) => g.length)));
  const medians = new Float64Array(resamples);
  for (let r = 0; r < resamples; r++) medians[r] = hierarchicalResampleMedian(gs, buf, random);
  medians.sort();
  const alpha = 1 - confidence;
  return { low: percentileSorted(medians, alpha / 2), high: percentileSorted(medians, 1 - alpha / 2), confidence };
}

/** Median of one bootstrap resample of `sorted` (drawn with replacement), by counting drawn indices. */
function resampledMedian(sorted: Float64Array, counts: Uint32Array, random: () => number): number {
  const n = sorted.length;
  counts.fill(0);
  for (let i = 0; i < n; i++) counts[Math.floor(random() * n)]++;
  const lowK = (n - 1) >> 1;
  const highK = n >> 1;
  let seen = 0;
  let low = 0;
  let haveLow = false;
  for (let j = 0; j < n; j++) {
    seen += counts[j];
    if (!haveLow && seen > lowK) {
      low = sorted[j];
      haveLow = true;
    }
    if (seen > highK) return (low + sorted[j]) / 2;
  }
  return low;
}

/** Linear interpolation between order statistics (type 7, as R's default). */
function percentileSorted(sorted: Float64Array, p: number): number {
  const h = (sorted.length - 1) * p;
  const lo = Math.floor(h);
  const hi = Math.min(sorted.length - 1, lo + 1);
  return sorted[lo] + (h - lo) * (sorted[hi] - sorted[lo]);
}

/**
 * Hodges–Lehmann estimate of the ratio on log-times, with the distribution-free
 * Mann–Whitney (Moses) interval, returned as ratios.
 * Why: if a change multiplies every timing by r (a shift on the log scale), this
 * interval has exact coverage with no resampling; it is a deterministic cross-check
 * of the bootstrap. Uses the normal approximation to the Mann–Whitney critical value
 * (fine from about 5 samples per side); O(n·m) memory, so meant for benchmark-sized samples.
 */
export function hodgesLehmannRatio(baseline: readonly number[], current: readonly number[], confidence = 0.95): RatioEstimate {
  const n = baseline.length;
  const m = current.length;
  if (n === 0 || m === 0) return { ratio: NaN, low: NaN, high: NaN, confidence: 0 };
  const diffs = new Float64Array(n * m);
  let i = 0;
  for (const c of current) for (const b of baseline) diffs[i++] = Math.log(c) - Math.log(b);
  diffs.sort();
  const N = diffs.length;
  const mid = N % 2 ? diffs[(N - 1) / 2] : (diffs[N / 2 - 1] + diffs[N / 2]) / 2;
  const z = probit(1 - (1 - confidence) / 2);
  // Mann–Whitney U critical value: the k-th smallest and k-th largest pairwise differences bound the interval.
  const k = Math.max(1, Math.floor((n * m) / 2 - z * Math.sqrt((n * m * (n + m + 1)) / 12)));
  const lowD = diffs[Math.min(N - 1, k - 1)];
  const highD = diffs[Math.max(0, N - k)];
  return { ratio: Math.exp(mid), low: Math.exp(lowD), high: Math.exp(highD), confidence };
}

export interface SampleSummary {
  n: number;
  median: number;
  mad: number;
  iqr: number;
  ciLow: number;
  ciHigh: number;
  /** Confidence achieved by [ciLow, ciHigh]. */
  confidence: number;
}

/** Everything a benchmark run stores about its samples. */
export function summarize(xs: readonly number[], confidence = 0.95): SampleSummary {
  const ci = medianCI(xs, confidence);
  return { n: xs.length, median: median(xs), mad: mad(xs), iqr: iqr(xs), ciLow: ci.low, ciHigh: ci.high, confidence: ci.confidence };
}
