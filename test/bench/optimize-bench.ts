/**
 * Optimize benchmark: `npm run bench:optimize`. Prints numbers, asserts nothing.
 *
 * On a working copy of examples/demo-shop (.cache/bench/optimize/demo-shop, fresh each run,
 * inside the repo so tsx resolves from the repo's node_modules): evidence is recorded first
 * (`runFolderTests`, then `benchmarkFolder` at ≤ 1 s per function), then one optimize run
 * over every function with evidence (`openOptimizeSession` with the default settings: rule
 * agents only, no Ollama; `optimizeFolder` with a budget large enough for every candidate).
 *
 * 1. Throughput: candidates verified per minute of the optimize run's wall time (proposals,
 *    the scratch copy and verification included).
 * 2. Verification steps (parse, typecheck, differential, determinism, tests, benchmark):
 *    median and total ms over the candidates that reached each step, from every
 *    VerificationRecord's `stepMs` (the session's `verify` is wrapped to capture the records
 *    of rejected candidates too: the optimize report keeps only their reasons).
 * 3. Acceptance rate per agent (accepted / attempts, from the report's agent ranking).
 * 4. The accepted variants, with their speedup and its 95% interval.
 *
 * Progress of the optimize run goes to stderr; the results to stdout, one JSON line per measure.
 */
import { cpSync, mkdirSync, rmSync } from 'node:fs';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { median } from '../../server/src/evidence/stats';
import { EvidenceStore } from '../../server/src/evidence/store';
import { benchmarkFolder, runFolderTests } from '../../server/src/evidence/testRuns';
import { WorkspaceIndex } from '../../server/src/index/workspace';
import { optimizeFolder } from '../../server/src/optimize/optimize';
import { openOptimizeSession } from '../../server/src/optimize/session';
import type { Candidate, VerificationRecord, VerifyStep } from '../../server/src/agents/contract';
import { TrackRecord } from '../../server/src/agents/trackRecord';
import type { OptimizeTarget } from '../../server/src/optimize/types';
import { defaultSettings } from '../../server/src/settings';

const BUDGET = Number(process.env.BUDGET ?? 40);
const repo = path.resolve(__dirname, '../..');
const owner = 'bench:optimize';
const steps: VerifyStep[] = ['parse', 'typecheck', 'differential', 'determinism', 'tests', 'benchmark'];
const out = (line: string) => process.stdout.write(`${line}\n`);
const json = (o: object) => out(JSON.stringify(o));

interface Captured {
  artifact: string;
  agent: string;
  /** Wall time of the whole `verify` call. */
  ms: number;
  record?: VerificationRecord;
  error?: string;
}

async function main(): Promise<void> {
  const work = path.join(repo, '.cache', 'bench', 'optimize', 'demo-shop');
  rmSync(work, { recursive: true, force: true });
  mkdirSync(path.dirname(work), { recursive: true });
  cpSync(path.join(repo, 'examples', 'demo-shop'), work, { recursive: true });

  const index = new WorkspaceIndex(work, { settings: { exclude: defaultSettings.exclude, maxFileSizeBytes: defaultSettings.maxFileSizeBytes }, owner });
  await index.open();
  await index.indexAll();
  const evidence = new EvidenceStore(work, { owner });
  await evidence.open();
  const store = new TrackRecord(work, { owner });
  await store.open();

  try {
    // Evidence: recorded calls from the tests, then a benchmark of each function that has some.
    let t0 = performance.now();
    const run = await runFolderTests(index, evidence, pathToFileURL(work).toString(), { runId: 'bench-optimize-tests', settings: defaultSettings.test });
    await evidence.flush();
    const testMs = performance.now() - t0;
    if (run.problem || run.exitCode !== 0) throw new Error(`the test run through Crucible failed: ${run.problem ?? `exit code ${run.exitCode}`}`);
    t0 = performance.now();
    const benched = await benchmarkFolder(index, evidence, { runId: 'bench-optimize-bench', maxSecondsPerArtifact: 1 });
    await evidence.flush();
    const benchMs = performance.now() - t0;
    const withEvidence = evidence.artifacts().filter((id) => {
      const a = index.get(id);
      return a !== undefined && (a.kind === 'function' || a.kind === 'method');
    }).length;
    out(`evidence on examples/demo-shop: ${run.results.length} tests in ${(testMs / 1000).toFixed(1)} s; ${benched.filter((b) => b.ok).length} of ${benched.length} functions benchmarked (≤ 1 s each) in ${(benchMs / 1000).toFixed(1)} s; ${withEvidence} functions or methods with evidence`);
    json({ bench: 'evidence', tests: run.results.length, testMs: Math.round(testMs), benchmarked: benched.filter((b) => b.ok).length, functions: benched.length, benchMs: Math.round(benchMs), withEvidence });

    // One optimize run, every verification captured.
    const session = await openOptimizeSession(index, store, defaultSettings, (m) => process.stderr.write(`${m}\n`));
    for (const n of session.notices) process.stderr.write(`${n}\n`);
    const captured: Captured[] = [];
    const verify = async (target: OptimizeTarget, candidate: Candidate, signal?: AbortSignal): Promise<VerificationRecord> => {
      const started = performance.now();
      try {
        const record = await session.verify(target, candidate, signal);
        captured.push({ artifact: target.id, agent: candidate.agent, ms: performance.now() - started, record });
        return record;
      } catch (err) {
        captured.push({ artifact: target.id, agent: candidate.agent, ms: performance.now() - started, error: (err as Error).message });
        throw err;
      }
    };
    t0 = performance.now();
    let report;
    try {
      report = await optimizeFolder(index, evidence, store, { budget: BUDGET, agents: session.agents, verify, onProgress: (m) => process.stderr.write(`${m}\n`) });
      await store.flush();
    } finally {
      await session.dispose();
    }
    const wallMs = performance.now() - t0;

    // 1. Throughput.
    const perMinute = report.verified / (wallMs / 60_000);
    out(`optimize run: ${report.targets.length} target(s), ${report.verified} candidate(s) verified (budget ${BUDGET}), ${report.variants.length} accepted, ${report.rejected.length} rejected, ${report.skipped.length} skipped`);
    out(`  wall ${(wallMs / 1000).toFixed(1)} s: ${perMinute.toFixed(1)} candidates verified per minute (${session.agents.length} rule agents, no Ollama)`);
    json({ bench: 'throughput', targets: report.targets.length, verified: report.verified, accepted: report.variants.length, rejected: report.rejected.length, budget: BUDGET, wallMs: Math.round(wallMs), perMinute: +perMinute.toFixed(2) });

    // 2. Verification steps.
    const records = captured.filter((c): c is Captured & { record: VerificationRecord } => c.record !== undefined);
    const verifyMs = captured.map((c) => c.ms);
    out(`verification steps over ${captured.length} candidate(s) (ms; n = candidates that reached the step)${captured.length > records.length ? `, ${captured.length - records.length} threw` : ''}`);
    out(`  ${'step'.padEnd(13)} ${'n'.padStart(3)} ${'median'.padStart(9)} ${'total'.padStart(9)}`);
    const stepRows: { step: string; n: number; medianMs: number; totalMs: number }[] = [];
    for (const step of steps) {
      const xs = records.map((c) => c.record.stepMs[step]).filter((x): x is number => typeof x === 'number');
      if (xs.length === 0) continue;
      const row = { step, n: xs.length, medianMs: median(xs), totalMs: xs.reduce((s, x) => s + x, 0) };
      stepRows.push(row);
      out(`  ${step.padEnd(13)} ${String(row.n).padStart(3)} ${row.medianMs.toFixed(0).padStart(9)} ${row.totalMs.toFixed(0).padStart(9)}`);
    }
    if (verifyMs.length > 0) {
      out(`  ${'whole verify'.padEnd(13)} ${String(verifyMs.length).padStart(3)} ${median(verifyMs).toFixed(0).padStart(9)} ${verifyMs.reduce((s, x) => s + x, 0).toFixed(0).padStart(9)}`);
    }
    const byStep = new Map<string, number>();
    for (const c of records) {
      const step = c.record.accepted ? 'accepted' : `rejected at ${c.record.rejection?.step ?? '?'}${c.record.rejection?.environment ? ' (environment)' : ''}`;
      byStep.set(step, (byStep.get(step) ?? 0) + 1);
    }
    if (byStep.size > 0) out(`  outcomes: ${[...byStep].map(([k, n]) => `${k} ${n}`).join(', ')}`);
    json({
      bench: 'verify-steps',
      candidates: captured.length,
      steps: stepRows.map((r) => ({ step: r.step, n: r.n, medianMs: Math.round(r.medianMs), totalMs: Math.round(r.totalMs) })),
      verifyMedianMs: verifyMs.length ? Math.round(median(verifyMs)) : null,
      verifyTotalMs: Math.round(verifyMs.reduce((s, x) => s + x, 0)),
      outcomes: Object.fromEntries(byStep),
    });

    // 3. Acceptance rate per agent.
    out('acceptance per agent (accepted / attempts; posterior mean [95%])');
    for (const a of report.agents) {
      const rate = a.attempts > 0 ? `${((a.accepted / a.attempts) * 100).toFixed(0)}%` : '—';
      out(`  ${a.id.padEnd(28)} ${`${a.accepted}/${a.attempts}`.padStart(5)} ${rate.padStart(5)}   ${Math.round(a.mean * 100)}% [${Math.round(a.low * 100)}–${Math.round(a.high * 100)}%]${a.meanSpeedup ? `, mean speedup ${a.meanSpeedup.toFixed(2)}×` : ''}${a.retired ? ' (retired)' : ''}`);
    }
    json({ bench: 'agents', agents: report.agents.map((a) => ({ id: a.id, attempts: a.attempts, accepted: a.accepted, rate: a.attempts > 0 ? +(a.accepted / a.attempts).toFixed(3) : null, meanSpeedup: a.meanSpeedup !== undefined ? +a.meanSpeedup.toFixed(3) : null })) });

    // 4. Accepted variants.
    const variants = store.variants();
    out(`accepted variants (${variants.length})`);
    for (const v of variants) {
      const c = v.verification;
      out(`  ${v.artifact} by ${v.agent}: ${c.speedup?.toFixed(2)}× (95% CI ${c.speedupLow?.toFixed(2)}–${c.speedupHigh?.toFixed(2)})`);
    }
    json({
      bench: 'variants',
      variants: variants.map((v) => ({ artifact: v.artifact, agent: v.agent, speedup: v.verification.speedup !== undefined ? +v.verification.speedup.toFixed(3) : null, low: v.verification.speedupLow !== undefined ? +v.verification.speedupLow.toFixed(3) : null, high: v.verification.speedupHigh !== undefined ? +v.verification.speedupHigh.toFixed(3) : null })),
    });
  } finally {
    await evidence.close();
    await index.close();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`${(err as Error).stack ?? err}\n`);
  process.exitCode = 1;
});
