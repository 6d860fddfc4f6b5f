/**
 * The verification pipeline (issue 5): a candidate rewrite of a function is accepted only
 * if it parses as the same function, typechecks (TypeScript), behaves like the original
 * on the recorded calls and on generated inputs, passes the workspace tests that cover
 * the function, and is measurably faster. Steps run in order and stop at the first
 * failure, which is named with a reason a user can read (`Rejection`).
 *
 *   parse → typecheck → determinism + differential → tests → benchmark
 *
 * Nothing is written to the user's workspace: candidates are loaded, tested and
 * benchmarked in a scratch copy (scratch.ts), created per verification or passed in by
 * the caller to be reused across an optimize session. Runs workspace code: callers
 * must have established that the workspace is trusted.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import type { CallSample, JsonValue } from '../../evidence/model';
import { formatNs } from '../../format';
import { compareVariants, type CompareSuccess } from '../../evidence/bench/replay';
import { partitionSamples, describeSkipped } from '../../evidence/bench/replayable';
import { runTests } from '../../evidence/runners/run';
import { testArtifactId, type TestRunReport } from '../../evidence/runners/types';
import { choosePlan } from '../../evidence/testRuns';
import type { Candidate, Rejection, VerificationRecord, VerifyStep } from '../../agents/contract';
import type { OptimizeTarget } from '../types';
import { runDifferential, type DifferentialJob } from './differential';
import { generateInputs } from '../../evidence/inputs';
import { createScratchWorkspace, type ScratchWorkspace } from './scratch';
import { checkParse, paramsAt, splice } from './syntax';
import { typecheckCandidate } from './typecheck';

export { createScratchWorkspace, type ScratchWorkspace } from './scratch';

export interface VerifyOptions {
  /** Workspace folder (read only: never written). */
  root: string;
  target: OptimizeTarget;
  candidate: Candidate;
  /**
   * Speed-up (original median / candidate median) a candidate needs, default 1.10; the lower
   * bound of its 95% interval must also be above 1. Functions whose median is under 1 µs
   * need at least `minSpeedupSubMicro`.
   */
  minSpeedup?: number;
  /** Bar for functions under 1 µs per call (default 1.25): there the harness's own cost per call and JIT noise weigh more. */
  minSpeedupSubMicro?: number;
  /** Benchmark budget in seconds, both worker processes together (default 6). */
  maxSeconds?: number;
  signal?: AbortSignal;
  /** `crucible.test.command` (empty or absent: detect the workspace's runner). */
  testCommand?: string;
  /** Tests to run with the candidate (default: `target.tests`, else the test files that import the function's file). */
  testIds?: string[];
  /** A scratch copy to reuse (an optimize session); without it one is created and removed. */
  scratch?: ScratchWorkspace;
  /** Time limit of the differential worker (default 10 s): a candidate still running is killed and rejected. */
  differentialSeconds?: number;
  /** Heap limit of the differential worker (default 256 MB). */
  memoryMb?: number;
  /** Property-based inputs to generate (default 100; 0: recorded calls only). */
  generatedInputs?: number;
  /** Time limit of the test run (default 120 s). */
  testTimeoutSeconds?: number;
}

const defaults = { minSpeedup: 1.1, minSpeedupSubMicro: 1.25, maxSeconds: 6, differentialSeconds: 10, memoryMb: 256, generatedInputs: 100, testTimeoutSeconds: 120 };
const benchProcesses = 2;

class Stop extends Error {
  constructor(readonly rejection: Rejection) {
    super(rejection.reason);
  }
}

/** Runs the pipeline on one candidate. Never throws: every failure is a rejection in the record. */
export async function verifyCandidate(opts: VerifyOptions): Promise<VerificationRecord> {
  const { target, candidate } = opts;
  const record: VerificationRecord = { accepted: false, inputsCompared: { recorded: 0, generated: 0 }, testsRun: 0, testsPassed: 0, stepMs: {}, notes: [] };
  let step: VerifyStep = 'parse';
  let scratch: ScratchWorkspace | undefined;
  let ownScratch = false;
  let candidateFile: string | undefined;
  let swapped = false;
  const timed = async <T>(s: VerifyStep, fn: () => Promise<T> | T): Promise<T> => {
    step = s;
    if (opts.signal?.aborted) throw new Stop({ step: s, reason: 'cancelled' });
    const t0 = performance.now();
    try {
      return await fn();
    } finally {
      record.stepMs[s] = Math.round((performance.now() - t0) * 10) / 10 + (record.stepMs[s] ?? 0);
    }
  };
  const stop = (s: VerifyStep, reason: string, counterexample?: unknown, environment = false): never => {
    throw new Stop({ step: s, reason, ...(counterexample !== undefined ? { counterexample } : {}), ...(environment ? { environment: true } : {}) });
  };

  try {
    // 1. parse: one function, same name, kind and exportedness
    const parsed = await timed('parse', async () => {
      if (candidate.target !== target.id) stop('parse', `the candidate is for ${candidate.target}, not ${target.id}`);
      if (candidate.code.trim() === '') stop('parse', 'the candidate is empty');
      const p = await checkParse(target, candidate.code);
      if (!p.ok) stop('parse', p.reason!);
      return p;
    });
    const candidateText = splice(target.fileText, target.range, candidate.code);

    // typecheck (TypeScript only)
    if (target.language === 'typescript' || target.language === 'tsx') {
      await timed('typecheck', () => {
        const tc = typecheckCandidate(opts.root, target.file, target.fileText, candidateText);
        if (tc.skipped) record.notes.push(`typecheck skipped: ${tc.skipped}`);
        if (!tc.ok) {
          const shown = tc.newErrors.slice(0, 3).join('; ');
          stop('typecheck', `new type error${tc.newErrors.length === 1 ? '' : 's'} (${tc.compiler}): ${shown}${tc.newErrors.length > 3 ? ` and ${tc.newErrors.length - 3} more` : ''}`);
        }
      });
    }

    if (target.language === 'python') stop('differential', 'Python functions cannot be verified yet (the differential worker runs JavaScript and TypeScript)');

    // 2. determinism + differential, in the scratch copy
    const { replayable, skipped } = partitionSamples(target.samples ?? []);
    if (skipped.count > 0) record.notes.push(describeSkipped(skipped));
    let inputs: JsonValue[][] = [];
    let threw = new Set<number>();
    let compared = 0;
    step = 'determinism';
    if (opts.signal?.aborted) stop('determinism', 'cancelled');
    const t0 = performance.now();
    scratch = opts.scratch;
    if (!scratch) {
      scratch = await createScratchWorkspace(opts.root);
      ownScratch = true;
    }
    const original = path.join(scratch.dir, target.file);
    // The scratch copy holds the original as the target describes it (the file may have been edited since the copy).
    if (!existsSync(original) || readFileSync(original, 'utf8') !== target.fileText) writeFileSync(original, target.fileText);
    const ext = path.extname(target.file);
    candidateFile = path.join(path.dirname(original), `.${path.basename(target.file, ext)}.crucible-${randomBytes(4).toString('hex')}${ext}`);
    writeFileSync(candidateFile, candidateText);

    const params = replayable.length === 0 ? await paramsAt(target) : [];
    const generated = generateInputs(replayable, params, opts.generatedInputs ?? defaults.generatedInputs);
    if (replayable.length === 0) record.notes.push(`generated only: no replayable recorded call${generated.note ? `; ${generated.note}` : ''}`);
    else if (generated.inputs.length === 0 && generated.note) record.notes.push(generated.note);
    inputs = [...replayable.map((s) => s.args as JsonValue[]), ...generated.inputs];
    const label = (i: number) => (i < replayable.length ? `recorded call #${i}` : `generated input #${i - replayable.length}`);

    if (inputs.length === 0) {
      record.notes.push('differential comparison skipped: no recorded call and no generated input');
      record.stepMs.determinism = 0;
      record.stepMs.differential = Math.round(performance.now() - t0);
    } else {
      const job: DifferentialJob = {
        dir: scratch.dir,
        originalFile: original,
        candidateFile,
        qualifiedName: target.qualifiedName,
        inputs,
        recorded: replayable.length,
        timeLimitMs: (opts.differentialSeconds ?? defaults.differentialSeconds) * 1000,
        memoryMb: opts.memoryMb ?? defaults.memoryMb,
        ...(opts.signal ? { signal: opts.signal } : {}),
      };
      let outcome = await runDifferential(job);
      // Generated inputs can be far larger than anything recorded: an exponential original may not
      // finish on them. Those say nothing about the candidate: keep the generated inputs the
      // original got through, a third of them (it runs twice, the candidate once), and compare again.
      for (let retry = 0; retry < 2 && outcome.kind === 'failed' && (outcome.cause === 'timeout' || outcome.cause === 'memory') && outcome.variant === 'original' && outcome.input !== undefined && outcome.input >= replayable.length; retry++) {
        const kept = Math.floor((outcome.input - replayable.length) / 3);
        record.notes.push(`the original did not finish on ${label(outcome.input)} within the limit: generated inputs cut to ${kept}`);
        inputs = inputs.slice(0, replayable.length + kept);
        job.inputs = inputs;
        outcome = await runDifferential(job);
      }
      const total = performance.now() - t0;
      const candidateMs = job.timings?.candidateMs ?? 0;
      record.stepMs.determinism = Math.round(total - candidateMs);
      record.stepMs.differential = candidateMs;
      step = 'differential';
      switch (outcome.kind) {
        case 'nondeterministic':
          stop(
            'determinism',
            `non-deterministic: the original gave different results on two runs of ${label(outcome.input)} (${outcome.detail}); it depends on time, randomness, I/O or state kept between calls, so a rewrite cannot be checked against it`,
            inputs[outcome.input],
          );
          break;
        case 'differs':
          stop('differential', `differs from the original on ${label(outcome.input)}: ${outcome.detail}`, inputs[outcome.input]);
          break;
        case 'sideEffect':
          stop('differential', outcome.detail);
          break;
        case 'failed': {
          if (outcome.cause === 'cancelled') stop('differential', 'cancelled');
          const on = outcome.input !== undefined ? ` on ${label(outcome.input)}` : outcome.variant ? ' while loading' : '';
          const ce = outcome.input !== undefined ? inputs[outcome.input] : undefined;
          const who = outcome.variant === 'original' ? 'the original itself' : 'the candidate';
          const s: VerifyStep = outcome.variant === 'original' && outcome.input !== undefined ? 'determinism' : 'differential';
          // The original failing on an input (too large for an exponential original, say) is not the candidate's fault.
          const originalFailed = outcome.variant === 'original';
          if (outcome.cause === 'timeout') stop(s, `${who} did not finish${on} within the time limit (${job.timeLimitMs / 1000} s; an infinite loop?): the worker was killed`, ce, originalFailed);
          if (outcome.cause === 'memory') stop(s, `${who} ran out of memory${on} (heap limit ${job.memoryMb} MB): the worker was stopped`, ce, originalFailed);
          if (outcome.cause === 'exit') stop(s, `${who} ended the worker process${on}: ${outcome.reason}`, ce);
          // The original not loading (no tsx, a broken import) says nothing about the candidate.
          stop(s, outcome.variant === 'candidate' ? `the candidate could not be loaded: ${outcome.reason}` : outcome.reason, ce, outcome.variant !== 'candidate' && outcome.input === undefined);
          break;
        }
        case 'done':
          compared = outcome.compared;
          threw = new Set(outcome.threw);
          record.notes.push(...outcome.notes);
          break;
      }
    }
    record.inputsCompared = { recorded: Math.min(compared, replayable.length), generated: Math.max(0, compared - replayable.length) };
    if (compared > 0 && generated.note && replayable.length > 0) record.notes.push(generated.note);

    // 3. tests, with the candidate swapped into the scratch copy
    await timed('tests', async () => {
      const s = scratch!;
      const selection = testSelection(s.dir, target, opts.testIds);
      if (!selection) {
        record.notes.push('no workspace test covers this function (no test ran it when recorded, and no test file imports its file): tests step skipped');
        return;
      }
      const { plan, problem } = await choosePlan(s.dir, opts.testCommand ?? '');
      if (!plan) {
        record.notes.push(`tests step skipped: ${problem}`);
        return;
      }
      const runOpts = { files: selection.files, ...(selection.grep ? { grep: selection.grep } : {}), root: s.dir, timeoutMs: (opts.testTimeoutSeconds ?? defaults.testTimeoutSeconds) * 1000, ...(opts.signal ? { signal: opts.signal } : {}) };
      s.swap(target.file, candidateText);
      swapped = true;
      let report: TestRunReport;
      try {
        report = await runTests(plan, runOpts);
      } finally {
        s.restore(target.file);
        swapped = false;
      }
      if (report.cancelled) stop('tests', 'cancelled');
      const ran = report.results.filter((r) => r.status !== 'skipped');
      record.testsRun = ran.length;
      record.testsPassed = ran.filter((r) => r.status === 'passed').length;
      const failed = ran.filter((r) => r.status === 'failed');
      if (report.timedOut) stop('tests', `the tests did not finish within ${runOpts.timeoutMs / 1000} s with the candidate (${plan.argv.join(' ')})`);
      if (failed.length === 0 && !report.problem && ran.length > 0) return;
      // Something failed: what fails with the original too is not the candidate's doing.
      const baseline = await runTests(plan, runOpts);
      const failedBefore = new Set(baseline.results.filter((r) => r.status === 'failed').map(testArtifactId));
      const mine = failed.filter((r) => !failedBefore.has(testArtifactId(r)));
      if (mine.length > 0) {
        const f = mine[0];
        const why = f.error?.message ? `: ${f.error.message.split('\n').slice(0, 3).join(' ').slice(0, 300)}` : '';
        stop('tests', `${mine.length} workspace test${mine.length === 1 ? '' : 's'} fail${mine.length === 1 ? 's' : ''} with the candidate and pass${mine.length === 1 ? 'es' : ''} with the original: ${testArtifactId(f)}${why}`);
      }
      if (report.problem && !baseline.problem) stop('tests', `the tests could not run with the candidate: ${report.problem}`);
      if (ran.length === 0 && baseline.results.some((r) => r.status !== 'skipped')) stop('tests', `no test ran with the candidate (${baseline.results.length} do with the original)${report.problem ? `: ${report.problem}` : ''}`);
      if (failed.length > 0) record.notes.push(`${failed.length} test(s) fail with the original too: not counted against the candidate`);
      if (report.problem) record.notes.push(`the tests report a problem with the original too: ${report.problem}`);
    });

    // 4. benchmark in two worker processes; the more pessimistic one decides
    await timed('benchmark', async () => {
      const s = scratch!;
      let samples: CallSample[] = replayable;
      if (samples.length === 0) {
        const gen = inputs.slice(0, compared);
        if (gen.length === 0) stop('benchmark', 'nothing to benchmark on: no recorded call and no input could be generated (run the tests to record calls)');
        samples = gen.map((args, i) => ({ args, durationNs: 0, mutated: false, ...(threw.has(i) ? { error: { name: 'Error', message: 'threw' } } : {}) }));
        record.notes.push(`benchmarked on ${samples.length} generated inputs (no recorded calls): real calls may be faster or slower`);
      }
      const maxSeconds = opts.maxSeconds ?? defaults.maxSeconds;
      const variants = [
        { id: 'original', file: target.file, qualifiedName: target.qualifiedName, kind: target.kind },
        { id: 'candidate', file: path.relative(s.dir, candidateFile!), qualifiedName: target.qualifiedName, kind: target.kind },
      ];
      const runs: CompareSuccess[] = [];
      for (let p = 0; p < benchProcesses; p++) {
        const r = await compareVariants({ root: s.dir, variants, samples, maxSeconds: maxSeconds / benchProcesses, ...(opts.signal ? { signal: opts.signal } : {}) });
        if (!r.ok) {
          if (r.reason === 'cancelled') stop('benchmark', 'cancelled');
          stop('benchmark', `the benchmark failed${r.variant ? ` (${r.variant})` : ''}: ${r.reason}`);
        } else runs.push(r);
      }
      const per = runs.map((r) => {
        const q = r.ratios[0];
        return { speedup: 1 / q.ratio, low: 1 / q.high, high: 1 / q.low, originalNs: r.variants[0].medianNs, candidateNs: r.variants[1].medianNs, rounds: r.rounds };
      });
      record.speedup = round3(Math.min(...per.map((x) => x.speedup)));
      record.speedupLow = round3(Math.min(...per.map((x) => x.low)));
      record.speedupHigh = round3(Math.min(...per.map((x) => x.high)));
      for (const r of runs) for (const n of r.notes) if (!record.notes.includes(n)) record.notes.push(n);
      const originalNs = Math.min(...per.map((x) => x.originalNs), target.medianNs ?? Infinity);
      const minSpeedup = opts.minSpeedup ?? defaults.minSpeedup;
      const bar = originalNs < 1000 ? Math.max(minSpeedup, opts.minSpeedupSubMicro ?? defaults.minSpeedupSubMicro) : minSpeedup;
      const detail = per.map((x, i) => `process ${i + 1}: ×${x.speedup.toFixed(2)} [${x.low.toFixed(2)}, ${x.high.toFixed(2)}], ${formatNs(x.originalNs)} → ${formatNs(x.candidateNs)} per call`).join('; ');
      record.notes.push(`benchmark (${runs.length} worker processes, the slower verdict counts): ${detail}`);
      if (record.speedup < bar || record.speedupLow <= 1) {
        const why = record.speedup < bar ? `speed-up ×${record.speedup.toFixed(2)} is below the bar of ×${bar.toFixed(2)}${bar !== minSpeedup ? ' (functions under 1 µs per call)' : ''}` : `the 95% interval of the speed-up reaches down to ×${record.speedupLow.toFixed(2)}: not shown to be faster`;
        stop('benchmark', `not faster enough: ${why} (${detail})`);
      }
    });
    record.accepted = true;
    return record;
  } catch (err) {
    if (err instanceof Stop) return { ...record, accepted: false, rejection: err.rejection };
    return { ...record, accepted: false, rejection: { step, reason: `verification failed at ${step}: ${err instanceof Error ? err.message : String(err)}` } };
  } finally {
    try {
      if (swapped) scratch?.restore(target.file);
      if (candidateFile) rmSync(candidateFile, { force: true });
    } catch {
      // the scratch copy is disposable
    }
    if (ownScratch) scratch?.dispose();
  }
}

function round3(x: number): number {
  return Math.round(x * 1000) / 1000;
}

const testFilePattern = /(^|\/)(__tests__|tests?|spec)\/.*\.[cm]?[jt]sx?$|\.(test|spec)\.[cm]?[jt]sx?$/;
const skipDirs = new Set(['node_modules', '.git', '.crucible', 'dist', 'out', 'build', 'coverage']);

/**
 * Which tests to run: the given test ids (their files; the title too when there is one
 * test), else the tests recorded as running the function, else every test file that
 * imports the function's file (relative `import`/`require`/`export … from`).
 */
export function testSelection(dir: string, target: OptimizeTarget, testIds?: string[]): { files: string[]; grep?: string } | undefined {
  const ids = testIds && testIds.length > 0 ? testIds : [...(target.tests ?? [])];
  if (ids.length > 0) {
    const files = [...new Set(ids.map((id) => id.split('#')[0]))];
    if (ids.length === 1 && ids[0].includes('#')) {
      const title = ids[0].slice(ids[0].indexOf('#') + 1).split(' > ').pop()!;
      return { files, grep: title };
    }
    return { files };
  }
  const targetNoExt = path.join(dir, target.file).replace(/\.[cm]?[jt]sx?$/, '');
  const files: string[] = [];
  const stack = [''];
  let seen = 0;
  while (stack.length > 0 && seen < 20_000) {
    const rel = stack.pop()!;
    let entries;
    try {
      entries = readdirSync(path.join(dir, rel), { withFileTypes: true });
    } catch {
      continue;
    }
    for (const e of entries) {
      const child = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) {
        if (!skipDirs.has(e.name) && !e.name.startsWith('.')) stack.push(child);
        continue;
      }
      seen++;
      if (!e.isFile() || !testFilePattern.test(child)) continue;
      let text: string;
      try {
        text = readFileSync(path.join(dir, child), 'utf8');
      } catch {
        continue;
      }
      for (const m of text.matchAll(/(?:from\s*|require\s*\(\s*|import\s*\(\s*)['"](\.{1,2}\/[^'"]+)['"]/g)) {
        const spec = path.join(dir, path.dirname(child), m[1]).replace(/\.[cm]?[jt]sx?$/, '');
        if (spec === targetNoExt || path.join(spec, 'index') === targetNoExt) {
          files.push(child);
          break;
        }
      }
    }
  }
  return files.length > 0 ? { files: files.sort() } : undefined;
}
