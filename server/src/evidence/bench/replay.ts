/**
 * Benchmarks: replay an artifact's recorded calls in an isolated worker process and
 * measure them with statistics that can be defended (README-snippet.md has the method).
 *
 * `compareVariants` is the general form: N variants of one function (the original
 * and candidates, issue 5) replayed on the same recorded calls, interleaved round by
 * round so that whatever the machine does during the run (frequency scaling, other
 * load, thermal throttling) affects every variant alike. `benchmarkArtifact` is the
 * one-variant case.
 *
 * Runs workspace code: callers must have established that the workspace is trusted.
 * No LSP, no `vscode` here.
 */
import { fork } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import * as os from 'node:os';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import type { BenchEvidence, CallSample } from '../model';
import { medianCI, ratioOfMediansCI, summarize } from '../stats';
import { describeSkipped, partitionSamples, type SkipSummary } from './replayable';
import { benchWorkerSource } from './worker';

export type { SkipReason, SkipSummary } from './replayable';

/** The function to replay: an indexed artifact (`ArtifactRecord` fits), or a candidate variant of one. */
export interface BenchTarget {
  /** Artifact id (`file#Qualified.name`), or any label for a candidate. */
  id: string;
  /** Workspace-relative (forward slashes) or absolute path of the module that exports it. */
  file: string;
  /** `name`, `Class.staticMethod` or `namespace.fn`. */
  qualifiedName: string;
  /** `ArtifactKind`: `function` and `method` can be replayed. */
  kind: string;
}

export interface BenchOptions {
  /** Workspace folder: resolves `file`, is the worker's cwd, and is where tsx is looked for. */
  root: string;
  /** The artifact's recorded calls (any number of runs' worth). */
  samples: readonly CallSample[];
  /** The whole benchmark (worker start, loading, verification, warm-up, samples) stays within this; the worker is killed at maxSeconds + graceMs. */
  maxSeconds: number;
  /** Warm-up per variant before samples are kept (default 200 ms; extended up to 3× until timings settle; at most 30–40% of the budget). */
  warmupMs?: number;
  /** Rounds of samples at most (default 50). */
  maxSamples?: number;
  /** Shortest sample (default 1 ms): fast functions are batched until one sample takes at least this. */
  minSampleMs?: number;
  /** Longest sample aimed for when the budget allows (default 10 ms): longer samples average out scheduler noise. */
  maxSampleMs?: number;
  /** Heap limit of the worker (`--max-old-space-size`, default 512 MB). */
  maxOldSpaceMb?: number;
  /** Added to maxSeconds before the worker is killed (default 2000 ms). */
  graceMs?: number;
  signal?: AbortSignal;
}

/** One variant's samples and their summary. All times are nanoseconds per call. */
export interface VariantStats {
  id: string;
  /** Every timed sample, in round order: time of `batch` passes over the replayed calls / (batch × calls). */
  samplesNs: number[];
  medianNs: number;
  /**
   * 95% interval for the median per-call time of this function on these calls on this
   * machine in this run: the distribution-free order-statistic interval (stats.ts
   * `medianCI`), valid if the samples are independent draws from one distribution.
   * It says how well the median was pinned down, not how it would vary on another
   * day or machine.
   */
  ciLowNs: number;
  ciHighNs: number;
  /** Coverage actually achieved by [ciLowNs, ciHighNs] (≥ 0.95 from 6 samples on; less below). */
  ciConfidence: number;
  /** Median absolute deviation of the samples (raw, not scaled). */
  madNs: number;
  iqrNs: number;
  /** Passes over the replayed calls per sample (calibrated so a sample takes between minSampleMs and maxSampleMs). */
  batch: number;
  /** Timed invocations in all: samples × batch × calls. */
  iterations: number;
  /** Whether the function returned promises (awaited; the time includes the awaiting). */
  async: boolean;
}

export interface BenchSuccess extends VariantStats {
  ok: true;
  /** Recorded calls replayed per pass. */
  calls: number;
  /** Recorded calls not replayed, by reason; absent when none were skipped. */
  skipped?: SkipSummary;
  /** Anything the reader of the numbers should know (calls cut to fit, timings not settled, …). */
  notes: string[];
  durationMs: number;
}

export interface BenchFailure {
  ok: false;
  reason: string;
  /** The variant the failure is about (compareVariants). */
  variant?: string;
  skipped?: SkipSummary;
  durationMs: number;
}

export type BenchResult = BenchSuccess | BenchFailure;

export interface VariantRatio {
  /** The variant compared (`variants[i].id`, i ≥ 1). */
  id: string;
  /** Always the first variant. */
  baselineId: string;
  /**
   * median(variant) / median(baseline) with its 95% percentile-bootstrap interval
   * (stats.ts `ratioOfMediansCI`: each variant's samples resampled on their own,
   * fixed seed). An interval entirely above 1 means the variant is slower on these
   * calls with ~95% confidence; one containing 1 means no difference was shown.
   */
  ratio: number;
  low: number;
  high: number;
  confidence: number;
  /**
   * Cross-check that uses the pairing of the rounds: the median of the per-round ratios
   * variant/baseline with its order-statistic interval. Rounds are taken back to back,
   * so slow drift of the machine cancels within a round.
   */
  paired: { ratio: number; low: number; high: number; confidence: number };
}

export interface CompareSuccess {
  ok: true;
  variants: VariantStats[];
  /** One per variant after the first, against the first. */
  ratios: VariantRatio[];
  /** Rounds of samples taken (each variant has one sample per round). */
  rounds: number;
  calls: number;
  skipped?: SkipSummary;
  notes: string[];
  durationMs: number;
}

export type CompareResult = CompareSuccess | BenchFailure;

export interface CompareOptions extends BenchOptions {
  /** The variants; the first is the baseline of every ratio. */
  variants: readonly BenchTarget[];
}

const tsExtensions = new Set(['.ts', '.tsx', '.mts', '.cts']);
const jsExtensions = new Set(['.js', '.cjs', '.mjs', '.jsx']);

/** Benchmarks one artifact on its recorded calls. */
export async function benchmarkArtifact(options: BenchOptions & { artifact: BenchTarget }): Promise<BenchResult> {
  const { artifact, ...rest } = options;
  const r = await compareVariants({ ...rest, variants: [artifact] });
  if (!r.ok) return r;
  const v = r.variants[0];
  return { ok: true, ...v, calls: r.calls, ...(r.skipped ? { skipped: r.skipped } : {}), notes: r.notes, durationMs: r.durationMs };
}

/** Replays the same recorded calls on N variants of one function, interleaved, and compares each with the first. */
export async function compareVariants(options: CompareOptions): Promise<CompareResult> {
  const started = performance.now();
  const fail = (reason: string, extra: Partial<BenchFailure> = {}): BenchFailure => ({ ok: false, reason, ...extra, durationMs: Math.round(performance.now() - started) });
  if (options.variants.length === 0) return fail('no variant to benchmark');
  if (!(options.maxSeconds > 0)) return fail('maxSeconds must be positive');

  let needsTs = false;
  for (const v of options.variants) {
    const problem = unsupportedTarget(v);
    if (problem) return fail(problem, { variant: v.id });
    if (tsExtensions.has(path.extname(v.file).toLowerCase())) needsTs = true;
  }
  const { replayable, skipped } = partitionSamples(options.samples);
  const skippedField = skipped.count > 0 ? { skipped } : {};
  if (replayable.length === 0) {
    return fail(options.samples.length === 0 ? 'no recorded calls to replay (run the tests to record some)' : `no replayable recorded call: ${describeSkipped(skipped)}`, skippedField);
  }

  const execArgv = [`--max-old-space-size=${options.maxOldSpaceMb ?? 512}`, '--expose-gc'];
  if (needsTs) {
    const tsx = resolveFrom(options.root, 'tsx');
    // Benchmarking TypeScript needs tsx installed in the workspace (a dev dependency).
    if (!tsx) return fail('cannot load TypeScript without tsx/ts-node in the workspace', skippedField);
    execArgv.push('--import', pathToFileURL(tsx).href);
  }

  const tmp = mkdtempSync(path.join(os.tmpdir(), 'crucible-bench-'));
  try {
    const workerFile = path.join(tmp, 'crucible-bench-worker.cjs');
    const jobFile = path.join(tmp, 'job.json');
    writeFileSync(workerFile, benchWorkerSource);
    const spawnedAt = Date.now();
    const job: WorkerJob = {
      variants: options.variants.map((v) => ({ label: v.id, file: path.resolve(options.root, v.file), qualifiedName: v.qualifiedName })),
      calls: replayable.map((s) => ({ args: s.args, threw: s.error !== undefined })),
      deadline: spawnedAt + options.maxSeconds * 1000,
      warmupMs: options.warmupMs ?? 200,
      maxSamples: options.maxSamples ?? 50,
      minSampleNs: (options.minSampleMs ?? 1) * 1e6,
      maxSampleNs: Math.max(options.minSampleMs ?? 1, options.maxSampleMs ?? 10) * 1e6,
      maxInvocationsPerSample: 1_000_000,
    };
    writeFileSync(jobFile, JSON.stringify(job));
    const outcome = await runWorker(workerFile, jobFile, options, execArgv, options.maxSeconds * 1000 + (options.graceMs ?? 2000));
    if (outcome.kind !== 'done') return fail(outcome.reason, { ...(outcome.variant ? { variant: outcome.variant } : {}), ...skippedField });

    const done = outcome.message;
    const variants = done.variants.map((v): VariantStats => {
      const s = summarize(v.samplesNs);
      return {
        id: v.label,
        samplesNs: v.samplesNs,
        medianNs: s.median,
        ciLowNs: s.ciLow,
        ciHighNs: s.ciHigh,
        ciConfidence: s.confidence,
        madNs: s.mad,
        iqrNs: s.iqr,
        batch: v.batch,
        iterations: v.samplesNs.length * v.batch * done.calls,
        async: v.async,
      };
    });
    const ratios = variants.slice(1).map((v) => ratioAgainst(variants[0], v));
    const notes = [...done.notes];
    if (skipped.count > 0) notes.unshift(describeSkipped(skipped));
    if (done.rounds < 6) notes.push(`only ${done.rounds} round(s) of samples fitted in ${options.maxSeconds} s: the median's interval is [min, max] with less than 95% coverage`);
    return { ok: true, variants, ratios, rounds: done.rounds, calls: done.calls, ...skippedField, notes, durationMs: Math.round(performance.now() - started) };
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

/** What a benchmark stores per artifact in a `bench` run (model.ts). */
export function toBenchEvidence(r: Pick<VariantStats, 'samplesNs' | 'medianNs' | 'ciLowNs' | 'ciHighNs'>): BenchEvidence {
  return { samplesNs: r.samplesNs, medianNs: r.medianNs, ciLowNs: r.ciLowNs, ciHighNs: r.ciHighNs };
}

function ratioAgainst(base: VariantStats, v: VariantStats): VariantRatio {
  const boot = ratioOfMediansCI(base.samplesNs, v.samplesNs);
  const rounds = Math.min(base.samplesNs.length, v.samplesNs.length);
  const perRound: number[] = [];
  for (let i = 0; i < rounds; i++) perRound.push(v.samplesNs[i] / base.samplesNs[i]);
  const p = medianCI(perRound);
  const pm = summarize(perRound).median;
  return { id: v.id, baselineId: base.id, ratio: boot.ratio, low: boot.low, high: boot.high, confidence: boot.confidence, paired: { ratio: pm, low: p.low, high: p.high, confidence: p.confidence } };
}

function unsupportedTarget(v: BenchTarget): string | undefined {
  const ext = path.extname(v.file).toLowerCase();
  if (!tsExtensions.has(ext) && !jsExtensions.has(ext)) return `${v.id}: only JavaScript and TypeScript functions can be benchmarked`;
  if (v.kind !== 'function' && v.kind !== 'method') return `${v.id}: a ${v.kind} is not benchmarked (functions and static methods are)`;
  if (/~\d+$/.test(v.qualifiedName)) return `${v.id}: one of several definitions with the same name in its file; which one a call reached is not known`;
  return undefined;
}

function resolveFrom(root: string, request: string): string | undefined {
  try {
    return createRequire(path.join(root, 'noop.js')).resolve(request);
  } catch {
    return undefined;
  }
}

interface WorkerJob {
  variants: { label: string; file: string; qualifiedName: string }[];
  calls: { args: unknown; threw: boolean }[];
  deadline: number;
  warmupMs: number;
  maxSamples: number;
  minSampleNs: number;
  maxSampleNs: number;
  maxInvocationsPerSample: number;
}

interface DoneMessage {
  type: 'done';
  calls: number;
  rounds: number;
  notes: string[];
  variants: { label: string; samplesNs: number[]; batch: number; async: boolean }[];
}
interface FailMessage {
  type: 'fail';
  reason: string;
  variant?: string;
}
interface PhaseMessage {
  type: 'phase';
  phase: 'load' | 'verify' | 'warmup' | 'sample';
  variant?: string;
  call?: number;
  round?: number;
}
type WorkerMessage = DoneMessage | FailMessage | PhaseMessage;

type WorkerOutcome = { kind: 'done'; message: DoneMessage } | { kind: 'fail'; reason: string; variant?: string };

const stderrTail = 4000;

/** Forks the worker in its own process group, kills the group at the hard timeout, on abort and when it is done. */
function runWorker(workerFile: string, jobFile: string, options: BenchOptions, execArgv: string[], killAfterMs: number): Promise<WorkerOutcome> {
  return new Promise((resolve) => {
    const env: NodeJS.ProcessEnv = { ...process.env };
    // Nothing of the server's own process (debug flags, the recorder's preload, c8) goes into the worker.
    for (const k of Object.keys(env)) if (k === 'NODE_OPTIONS' || k === 'NODE_V8_COVERAGE' || k.startsWith('CRUCIBLE_RECORD_')) delete env[k];
    const group = process.platform !== 'win32';
    const child = fork(workerFile, [jobFile], { cwd: options.root, env, execArgv, stdio: ['ignore', 'pipe', 'pipe', 'ipc'], detached: group, serialization: 'json' });
    let stderr = '';
    // The workspace's output must not reach the server's stdio (the LSP channel): drained and dropped, stderr's tail kept for errors.
    child.stdout?.resume();
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (chunk: string) => {
      stderr += chunk;
      if (stderr.length > stderrTail * 2) stderr = stderr.slice(-stderrTail);
    });
    let last: PhaseMessage | undefined;
    let settled = false;
    const kill = () => {
      if (child.pid === undefined) return;
      try {
        if (group) process.kill(-child.pid, 'SIGKILL');
        else child.kill('SIGKILL');
      } catch {
        // already gone
      }
    };
    const finish = (outcome: WorkerOutcome) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      options.signal?.removeEventListener('abort', onAbort);
      // Also ends anything the replayed code started in the group.
      kill();
      resolve(outcome);
    };
    const where = () => {
      if (!last) return 'while starting';
      const v = last.variant !== undefined ? ` ${last.variant}` : '';
      switch (last.phase) {
        case 'load':
          return `while loading${v}`;
        case 'verify':
          return `during recorded call #${last.call} of${v}`;
        case 'warmup':
          return 'during the warm-up';
        case 'sample':
          return `during round ${(last.round ?? 0) + 1} of samples`;
      }
    };
    const timer = setTimeout(() => {
      finish({ kind: 'fail', reason: `timed out: still running ${where()} after ${Math.round(killAfterMs / 100) / 10} s (maxSeconds ${options.maxSeconds} + grace): the worker was killed` });
    }, killAfterMs);
    const onAbort = () => finish({ kind: 'fail', reason: 'cancelled' });
    if (options.signal?.aborted) onAbort();
    else options.signal?.addEventListener('abort', onAbort, { once: true });

    child.on('message', (m: WorkerMessage) => {
      if (m.type === 'phase') last = m;
      else if (m.type === 'done') finish({ kind: 'done', message: m });
      else if (m.type === 'fail') finish({ kind: 'fail', reason: m.reason, ...(m.variant ? { variant: m.variant } : {}) });
    });
    child.on('error', (err) => finish({ kind: 'fail', reason: `cannot start the benchmark worker: ${err.message}` }));
    child.on('exit', (code, signal) => {
      // A last message may still be on its way: let it be read first.
      setTimeout(() => exited(code, signal), 100);
    });
    const exited = (code: number | null, signal: NodeJS.Signals | null) => {
      const tail = stderr.trim().split('\n').slice(-5).join('\n');
      const oom = /heap out of memory|Allocation failed/i.test(stderr);
      const how = oom ? 'ran out of memory (--max-old-space-size)' : signal ? `was killed by ${signal}` : `exited with code ${code}`;
      finish({ kind: 'fail', reason: `the benchmark worker ${how} ${where()} before reporting (does the function call process.exit?)${tail ? `: ${tail}` : ''}` });
    };
  });
}
