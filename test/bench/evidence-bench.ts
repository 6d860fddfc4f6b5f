/**
 * Evidence benchmark: `npm run bench:evidence`. Prints numbers, asserts nothing.
 *
 * 1. Overhead of a test run through Crucible on examples/demo-shop (a working copy in
 *    .cache/bench/): the project's own command (`node --import tsx --test test/*.test.ts`)
 *    run plainly, against `runFolderTests` (Crucible's reporter, the recorder in every
 *    process, mapping, and the write to the evidence store; the index is built once
 *    before, as the server has it). Interleaved, RUNS each, medians. Target ≤ 1.5×.
 * 2. Drift analysis over 100 runs × 1,000 artifacts (synthetic histories: tests every
 *    run, a 30-sample benchmark every third, coverage, calls; code changing now and then).
 * 3. The quality score of 1,000 artifacts (test/bench/score-bench.ts).
 */
import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { detectDrift, type ArtifactEvidenceView } from '../../server/src/drift/detect';
import type { ArtifactRunEvidence } from '../../server/src/evidence/model';
import { seededRandom, summarize } from '../../server/src/evidence/stats';
import { EvidenceStore } from '../../server/src/evidence/store';
import { runFolderTests } from '../../server/src/evidence/testRuns';
import { WorkspaceIndex } from '../../server/src/index/workspace';

const RUNS = Number(process.env.RUNS ?? 5);
const repo = path.resolve(__dirname, '../..');
const median = (xs: number[]) => summarize(xs).median;

async function overhead(): Promise<void> {
  const work = path.join(repo, '.cache', 'bench', 'demo-shop');
  rmSync(work, { recursive: true, force: true });
  mkdirSync(path.dirname(work), { recursive: true });
  cpSync(path.join(repo, 'examples', 'demo-shop'), work, { recursive: true });
  const files = readdirSync(path.join(work, 'test')).filter((f) => f.endsWith('.test.ts')).map((f) => `test/${f}`);
  const index = new WorkspaceIndex(work, { settings: { exclude: ['**/node_modules/**'], maxFileSizeBytes: 1 << 20 }, owner: 'bench:evidence' });
  await index.open();
  await index.indexAll();
  const evidence = new EvidenceStore(work, { owner: 'bench:evidence' });
  await evidence.open();
  const plain: number[] = [];
  const crucible: number[] = [];
  let tests = 0;
  let artifacts = 0;
  for (let i = 0; i < RUNS; i++) {
    let t0 = performance.now();
    const r = spawnSync(process.execPath, ['--import', 'tsx', '--test', ...files], { cwd: work, encoding: 'utf8' });
    plain.push(performance.now() - t0);
    if (r.status !== 0) throw new Error(`the plain run failed:\n${r.stdout}\n${r.stderr}`);
    t0 = performance.now();
    const run = await runFolderTests(index, evidence, pathToFileURL(work).toString(), { runId: `bench-${i}`, settings: { command: '', timeoutSeconds: 300 } });
    await evidence.flush();
    crucible.push(performance.now() - t0);
    if (run.problem || run.exitCode !== 0) throw new Error(`the run through Crucible failed: ${run.problem ?? run.exitCode}`);
    tests = run.results.length;
    artifacts = evidence.artifacts().length;
  }
  await evidence.close();
  await index.close();
  const p = median(plain);
  const c = median(crucible);
  process.stdout.write(`test run of examples/demo-shop (${tests} tests, node:test + tsx), median of ${RUNS}, interleaved\n`);
  process.stdout.write(`  plain (node --import tsx --test)       ${p.toFixed(0)} ms   [${plain.map((x) => x.toFixed(0)).join(', ')}]\n`);
  process.stdout.write(`  through Crucible (record, map, store)  ${c.toFixed(0)} ms   [${crucible.map((x) => x.toFixed(0)).join(', ')}]\n`);
  process.stdout.write(`  overhead ×${(c / p).toFixed(2)} (target ≤ 1.5); ${artifacts} artifacts with evidence\n`);
  process.stdout.write(JSON.stringify({ bench: 'overhead', runs: RUNS, plainMs: Math.round(p), crucibleMs: Math.round(c), ratio: +(c / p).toFixed(3) }) + '\n');
}

function drift(): void {
  const artifacts = 1000;
  const runs = 100;
  const random = seededRandom(7);
  const views: ArtifactEvidenceView[] = [];
  for (let i = 0; i < artifacts; i++) {
    const history: ArtifactRunEvidence[] = [];
    let hash = `h${i}-0`;
    const base = 1e4 + random() * 1e6;
    for (let r = 0; r < runs; r++) {
      if (random() < 0.03) hash = `h${i}-${r}`;
      const e: ArtifactRunEvidence = { runId: `run-${r}`, at: new Date(Date.UTC(2025, 0, 1, r)).toISOString(), hash, tests: [] };
      const n = 1 + Math.floor(random() * 6);
      e.tests = Array.from({ length: n }, (_, t) => ({ testId: `t${i}-${t}`, status: random() < 0.97 ? 'passed' : 'failed', durationMs: random() * 20, testHash: `t${t}` }) as const);
      e.calls = 50 + Math.floor(random() * 5000);
      e.errors = Math.floor(e.calls * random() * 0.02);
      e.coverableLines = 40;
      e.coveredLines = 30 + Math.floor(random() * 10);
      if (r % 3 === 2) {
        const samplesNs = Array.from({ length: 30 }, () => base * (1 + r / 400) * (0.9 + random() * 0.2));
        const s = summarize(samplesNs);
        e.bench = { samplesNs, medianNs: s.median, ciLowNs: s.ciLow, ciHighNs: s.ciHigh };
      }
      history.push(e);
    }
    views.push({ artifact: `src/f${i}.ts#f`, history, currentHash: hash, lastVerifiedHash: hash });
  }
  const pass = () => {
    const t0 = performance.now();
    let events = 0;
    for (const v of views) events += detectDrift(v).length;
    return { ms: performance.now() - t0, events };
  };
  const cold = pass();
  const warm: number[] = [];
  for (let i = 0; i < 5; i++) warm.push(pass().ms);
  process.stdout.write(`drift analysis, ${runs} runs × ${artifacts} artifacts (every detector, bootstrap CIs on 30-sample benchmarks)\n`);
  process.stdout.write(`  cold ${cold.ms.toFixed(0)} ms, warm median ${median(warm).toFixed(0)} ms (${cold.events} events found)\n`);
  process.stdout.write(JSON.stringify({ bench: 'drift', runs, artifacts, coldMs: Math.round(cold.ms), warmMs: Math.round(median(warm)), events: cold.events }) + '\n');
}

async function main(): Promise<void> {
  if (!process.argv.includes('--no-overhead')) await overhead();
  drift();
  await import('./score-bench.js');
}

main().catch((err: unknown) => {
  process.stderr.write(`${(err as Error).stack ?? err}\n`);
  process.exitCode = 1;
});
