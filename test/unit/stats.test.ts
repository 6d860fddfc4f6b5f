import * as assert from 'node:assert/strict';
import { groupedMedianCI, hodgesLehmannRatio, iqr, mad, median, medianCI, ratioOfMediansCI, ratioOfMediansGroupedCI, seededRandom, splitGroups, summarize } from '../../server/src/evidence/stats';

/** Log-normal timings around `medianNs` with multiplicative spread `sigma` (timings are skewed, never negative). */
function timings(random: () => number, n: number, medianNs: number, sigma: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const u1 = Math.max(random(), 1e-12);
    const u2 = random();
    const z = Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
    out.push(medianNs * Math.exp(sigma * z));
  }
  return out;
}

describe('evidence statistics', () => {
  it('computes median, MAD and IQR on known data', () => {
    assert.equal(median([3, 1, 2]), 2);
    assert.equal(median([4, 1, 3, 2]), 2.5);
    assert.equal(mad([1, 1, 2, 2, 4, 6, 9]), 1); // median 2, |deviations| 1,1,0,0,2,4,7
    assert.equal(iqr([9, 1, 2, 3, 4, 5, 6, 7, 8]), 4); // Q1 = 3, Q3 = 7 (the same in R type 7 and simple-statistics)
    assert.ok(Number.isNaN(median([])));
    const s = summarize([10, 12, 11, 13, 9, 10, 11, 50, 10, 12]);
    assert.equal(s.n, 10);
    assert.equal(s.median, 11);
    assert.ok(s.ciLow <= s.median && s.median <= s.ciHigh);
  });

  it('gives the textbook order-statistic ranks for the median interval', () => {
    const xs = Array.from({ length: 10 }, (_, i) => i + 1); // x(k) = k
    const ci10 = medianCI(xs.slice().reverse());
    assert.deepEqual([ci10.low, ci10.high], [2, 9]);
    assert.ok(Math.abs(ci10.confidence - (1 - 2 * 11 / 1024)) < 1e-12); // 0.9785
    const ci20 = medianCI(Array.from({ length: 20 }, (_, i) => i + 1));
    assert.deepEqual([ci20.low, ci20.high], [6, 15]);
    assert.ok(ci20.confidence >= 0.95 && ci20.confidence < 0.96);
    // Too few samples for 95%: the whole range, with the confidence it really has.
    const ci4 = medianCI([4, 1, 3, 2]);
    assert.deepEqual([ci4.low, ci4.high], [1, 4]);
    assert.equal(ci4.confidence, 1 - 2 / 16);
    const big = medianCI(Array.from({ length: 5000 }, (_, i) => i));
    assert.ok(big.confidence >= 0.95 && big.confidence < 0.951);
  });

  it('covers the true median at least 95% of the time (seeded simulation)', () => {
    const random = seededRandom(42);
    let covered = 0;
    const trials = 2000;
    for (let t = 0; t < trials; t++) {
      const ci = medianCI(timings(random, 25, 1000, 0.3));
      if (ci.low <= 1000 && 1000 <= ci.high) covered++;
    }
    const rate = covered / trials;
    assert.ok(rate >= 0.94 && rate <= 0.995, `coverage ${rate}`);
  });

  it('finds a real 20% slowdown and not noise, deterministically', () => {
    const random = seededRandom(7);
    const base = timings(random, 30, 1_000_000, 0.08);
    const slower = timings(random, 30, 1_200_000, 0.08);
    const same = timings(random, 30, 1_000_000, 0.08);

    const slow = ratioOfMediansCI(base, slower);
    assert.ok(slow.low > 1, `CI ${slow.low}–${slow.high} should exclude 1`);
    assert.ok(slow.low <= 1.2 && 1.2 <= slow.high, `CI ${slow.low}–${slow.high} should contain 1.2`);
    assert.ok(Math.abs(slow.ratio - 1.2) < 0.08);

    const noise = ratioOfMediansCI(base, same);
    assert.ok(noise.low <= 1 && 1 <= noise.high, `CI ${noise.low}–${noise.high} should include 1`);

    assert.deepEqual(ratioOfMediansCI(base, slower), slow, 'same samples, same seed, same interval');
    assert.notDeepEqual(ratioOfMediansCI(base, slower, { seed: 1 }), slow);

    const hl = hodgesLehmannRatio(base, slower);
    assert.ok(hl.low > 1 && hl.low <= 1.2 && 1.2 <= hl.high, `HL ${hl.low}–${hl.high}`);
    const hlNoise = hodgesLehmannRatio(base, same);
    assert.ok(hlNoise.low <= 1 && 1 <= hlNoise.high, `HL ${hlNoise.low}–${hlNoise.high}`);
  });

  it('keeps the bootstrap ratio interval near its nominal coverage (seeded simulation)', () => {
    const random = seededRandom(2024);
    let covered = 0;
    const trials = 200;
    for (let t = 0; t < trials; t++) {
      const ci = ratioOfMediansCI(timings(random, 30, 1000, 0.2), timings(random, 30, 1300, 0.2), { resamples: 1000, seed: t });
      if (ci.low <= 1.3 && 1.3 <= ci.high) covered++;
    }
    assert.ok(covered / trials >= 0.9, `coverage ${covered / trials}`);
  });

  describe('grouped (per process) bootstrap', () => {
    const random = seededRandom(11);
    // Two runs of the same code, three processes each, whose medians sit 30–45% apart
    // (process-to-process noise, as measured on recursive code here).
    const run = (medians: number[]) => medians.map((m) => timings(random, 20, m, 0.02));
    const a = run([30_000, 43_000, 31_000]);
    const b = run([44_000, 30_500, 43_500]);

    it('does not call process-to-process noise a slowdown, where pooling the samples would', () => {
      const grouped = ratioOfMediansGroupedCI(a, b);
      assert.ok(grouped.low <= 1 && grouped.high >= 1, `${grouped.low}–${grouped.high}`);
      const pooled = ratioOfMediansCI(a.flat(), b.flat());
      assert.ok(pooled.low > 1, `pooled samples give ${pooled.low}–${pooled.high}: too narrow`);
    });

    it('still finds a real 2x slowdown', () => {
      const slow = run([60_000, 86_000, 62_000]);
      const r = ratioOfMediansGroupedCI(a, slow);
      assert.ok(r.low > 1.2 && r.ratio > 1.8, `${r.ratio} ${r.low}–${r.high}`);
    });

    it('gives an interval of the pooled median over processes, and splits pooled samples back', () => {
      const ci = groupedMedianCI(a);
      const m = median(a.flat());
      assert.ok(ci.low <= m && m <= ci.high);
      assert.ok(ci.high / ci.low > 1.2, 'as wide as the processes disagree');
      assert.deepEqual(splitGroups([1, 2, 3, 4, 5], [2, 3]), [[1, 2], [3, 4, 5]]);
      assert.deepEqual(splitGroups([1, 2, 3], [2, 2]), [[1, 2, 3]], 'sizes that do not add up: one group');
    });
  });
});
