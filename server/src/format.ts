/**
 * How Crucible prints measurements, in one place: the CLI, the hover, the code lens,
 * the prompts and the client show the same median, ratio and interval the same way.
 * No dependencies: the client bundles it too.
 */

/**
 * A duration in nanoseconds: `0.011 µs`, `1.23 µs`, `12.3 µs`, `4.56 ms`, `1.20 s`. Below a
 * microsecond it stays in µs (two significant digits): a per-call median that small is
 * dominated by timer and loop overhead, and µs is the unit every view starts from.
 */
export function formatNs(ns: number): string {
  if (!Number.isFinite(ns)) return `${ns} ns`;
  if (ns < 1e3) return `${ns <= 0 ? '0' : Number((ns / 1e3).toPrecision(2)).toString()} µs`;
  if (ns < 1e6) return `${(ns / 1e3).toFixed(ns < 1e4 ? 2 : 1)} µs`;
  if (ns < 1e9) return `${(ns / 1e6).toFixed(ns < 1e7 ? 2 : 1)} ms`;
  return `${(ns / 1e9).toFixed(2)} s`;
}

/** A latency in milliseconds (agents' proposals and verifications): `0.42 ms`, `3.5 ms`, `35 ms`, `4210 ms`. */
export function formatMs(ms: number): string {
  return ms >= 10 ? `${Math.round(ms)} ms` : ms >= 1 ? `${ms.toFixed(1)} ms` : `${ms.toFixed(2)} ms`;
}

/** A speed ratio: `1.35×`, `2.4×`, `14×` (two significant digits from 10× up). */
export function formatRatio(x: number): string {
  return `${x >= 10 ? x.toFixed(0) : x.toFixed(x >= 2 ? 1 : 2)}×`;
}

/** A ratio's confidence interval: `1.02–1.10`. */
export function formatRatioInterval(low: number, high: number): string {
  return `${low.toFixed(2)}–${high.toFixed(2)}`;
}

/** A rate with its interval, in whole percents: `62% [41–80%]`. */
export function formatRateInterval(mean: number, low: number, high: number): string {
  const pct = (x: number) => Math.round(x * 100);
  return `${pct(mean)}% [${pct(low)}–${pct(high)}%]`;
}
