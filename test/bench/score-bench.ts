/**
 * Quality-score benchmark: `npm run bench:score`.
 *
 * Scores 1,000 synthetic artifacts, each with a 50-run evidence history (the store's
 * cap) mixing test, coverage and benchmark runs (30 samples per benchmark), from the
 * history (`scoreInputFromHistory` + `scoreArtifact`, what the server does). Prints
 * the total for the first pass (cold: includes JIT warm-up) and for a warm pass, and
 * per-score p50/p95/max. Targets: under 10 ms per score, 1,000 under 100 ms.
 * Asserts nothing. Deterministic data (seeded PRNG).
 */
import type { ArtifactRunEvidence } from '../../server/src/evidence/model';
import { scoreArtifact, scoreInputFromHistory } from '../../server/src/evidence/score';
import { seededRandom, summarize } from '../../server/src/evidence/stats';

const artifacts = 1000;
const historyLength = 50;
const random = seededRandom(1);

function syntheticHistory(i: number): ArtifactRunEvidence[] {
  const h: ArtifactRunEvidence[] = [];
  let hash = `h${i}-0`;
  const base = 1e4 + random() * 1e6;
  for (let r = 0; r < historyLength; r++) {
    if (random() < 0.1) hash = `h${i}-${r}`;
    const e: ArtifactRunEvidence = { runId: `run-${r}`, at: new Date(Date.UTC(2025, 0, 1, r)).toISOString(), hash, tests: [] };
    const kind = r % 3;
    if (kind === 0) {
      const n = 1 + Math.floor(random() * 8);
      e.tests = Array.from({ length: n }, (_, t) => ({ testId: `t${t}`, status: random() < 0.9 ? 'passed' : random() < 0.5 ? 'failed' : 'skipped', durationMs: random() * 20 }) as const);
      e.calls = Math.floor(random() * 5000);
      e.errors = Math.floor(e.calls * random() * 0.05);
    } else if (kind === 1) {
      e.coverableLines = 10 + Math.floor(random() * 90);
      e.coveredLines = Math.floor(e.coverableLines * random());
    } else {
      const samplesNs = Array.from({ length: 30 }, () => base * (1 + r / 500) * (0.9 + random() * 0.2));
      const s = summarize(samplesNs);
      e.bench = { samplesNs, medianNs: s.median, ciLowNs: s.ciLow, ciHighNs: s.ciHigh };
    }
    h.push(e);
  }
  return h;
}

const histories = Array.from({ length: artifacts }, (_, i) => syntheticHistory(i));
const callers = histories.map(() => Math.floor(random() * 20));

function pass(): { totalMs: number; perScoreMs: number[]; checksum: number } {
  const perScoreMs: number[] = [];
  let checksum = 0;
  const start = process.hrtime.bigint();
  for (let i = 0; i < artifacts; i++) {
    const t0 = process.hrtime.bigint();
    const s = scoreArtifact(scoreInputFromHistory(histories[i], callers[i]));
    perScoreMs.push(Number(process.hrtime.bigint() - t0) / 1e6);
    checksum += s.score ?? 0;
  }
  return { totalMs: Number(process.hrtime.bigint() - start) / 1e6, perScoreMs, checksum };
}

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(p * s.length))];
};
const report = (label: string, r: ReturnType<typeof pass>) =>
  `${label}: ${artifacts} artifacts in ${r.totalMs.toFixed(2)} ms; per score p50 ${(pct(r.perScoreMs, 0.5) * 1000).toFixed(1)} µs, p95 ${(pct(r.perScoreMs, 0.95) * 1000).toFixed(1)} µs, max ${(Math.max(...r.perScoreMs) * 1000).toFixed(1)} µs`;

const cold = pass();
for (let i = 0; i < 5; i++) pass();
const warm = pass();
process.stdout.write(`quality score, ${historyLength}-run histories, 30 samples per benchmark (node ${process.version})\n`);
process.stdout.write(report('cold (first pass)', cold) + '\n');
process.stdout.write(report('warm', warm) + '\n');
process.stdout.write(
  JSON.stringify({ artifacts, historyLength, coldTotalMs: +cold.totalMs.toFixed(3), warmTotalMs: +warm.totalMs.toFixed(3), warmP50Us: +(pct(warm.perScoreMs, 0.5) * 1000).toFixed(2), warmP95Us: +(pct(warm.perScoreMs, 0.95) * 1000).toFixed(2), coldMaxMs: +Math.max(...cold.perScoreMs).toFixed(3), meanScore: +(warm.checksum / artifacts).toFixed(4) }) + '\n',
);
