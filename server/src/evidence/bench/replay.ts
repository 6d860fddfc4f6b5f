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
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import * as os from 'node:os';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import type { BenchEvidence, CallSample } from '../model';
import { groupedMedianCI, medianCI, ratioOfMediansCI, summarize } from '../stats';
import { pythonWithPytest } from '../runners/run';
import { runtimeFile } from '../runtime/files';
import { describeWorkerEnd, superviseWorker, type SuperviseOptions } from '../runtime/supervise';
import { describeSkipped, partitionSamples, pythonUnreplayableReason, type SkipReason, type SkipSummary } from './replayable';

export type { SkipReason, SkipSummary } from './replayable';

/** The function to replay: an indexed artifact (`ArtifactRecord` fits), or a candidate variant of one. */
export interface BenchTarget {
  /** Artifact id (`file#Qualified.name`), or any label for a candidate. */
  id: string;
  /** Workspace-relative (forward slashes) or absolute path of the module that exports it. */
  file: string;
  /** `name`, `Class.staticMethod` or `namespace.fn` (Python: `name`, `Class.method`). */
  qualifiedName: string;
  /** `ArtifactKind`: `function` and `method` can be replayed. */
  kind: string;
  /**
   * Python only: the variant's source text, run in a copy of the namespace of the
   * module `file` (so it sees that module's names); it defines `qualifiedName` (a
   * function, or the whole class) or just the function's own name (a method's `def`
   * at the top level stands in for the method, with the original's kind: static,
   * class or instance method). Without it the variant is `qualifiedName` in `file`,
   * as for JavaScript.
   */
  source?: string;
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
  /** Python: address-space limit of the worker (`resource.setrlimit(RLIMIT_AS)`, default 1024 MiB). */
  maxPythonMemoryMb?: number;
  /** Python: the interpreter (default: the one the pytest adapter picks, `pythonWithPytest`). */
  python?: string;
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

export const tsExtensions = new Set(['.ts', '.tsx', '.mts', '.cts']);
const jsExtensions = new Set(['.js', '.cjs', '.mjs', '.jsx']);

/** Benchmarks one artifact on its recorded calls. */
export async function benchmarkArtifact(options: BenchOptions & { artifact: BenchTarget }): Promise<BenchResult> {
  const { artifact, ...rest } = options;
  const r = await compareVariants({ ...rest, variants: [artifact] });
  if (!r.ok) return r;
  const v = r.variants[0];
  return { ok: true, ...v, calls: r.calls, ...(r.skipped ? { skipped: r.skipped } : {}), notes: r.notes, durationMs: r.durationMs };
}

/**
 * `benchmarkArtifact` in `processes` fresh worker processes one after another, the budget split
 * between them, with the samples pooled (`groups`: how many each gave). Two processes running
 * the same code can differ by tens of percent (JIT decisions, memory layout), which the samples
 * of one process cannot show; the median and its interval are then over processes too
 * (two-stage bootstrap, stats.ts `groupedMedianCI`). This is what stored benchmarks use, so that
 * drift compares runs with their process-to-process noise. Default: one process per 1 s of
 * budget, 1 to 3. The first failure is returned as is.
 */
export async function benchmarkInProcesses(options: BenchOptions & { artifact: BenchTarget; processes?: number }): Promise<BenchResult & { groups?: number[] }> {
  const started = performance.now();
  const processes = Math.max(1, Math.min(3, Math.floor(options.processes ?? options.maxSeconds)));
  if (processes === 1) return benchmarkArtifact(options);
  const runs: BenchSuccess[] = [];
  for (let i = 0; i < processes; i++) {
    if (options.signal?.aborted) break;
    const r = await benchmarkArtifact({ ...options, maxSeconds: options.maxSeconds / processes });
    if (!r.ok) return r;
    runs.push(r);
  }
  if (runs.length === 0) return { ok: false, reason: 'cancelled', durationMs: Math.round(performance.now() - started) };
  const groups = runs.map((r) => r.samplesNs);
  const pooled = groups.flat();
  const s = summarize(pooled);
  const ci = runs.length > 1 ? groupedMedianCI(groups) : { low: runs[0].ciLowNs, high: runs[0].ciHighNs, confidence: runs[0].ciConfidence };
  const first = runs[0];
  const medians = runs.map((r) => r.medianNs);
  const spread = Math.max(...medians) / Math.min(...medians);
  return {
    ...first,
    samplesNs: pooled,
    medianNs: s.median,
    ciLowNs: ci.low,
    ciHighNs: ci.high,
    ciConfidence: ci.confidence,
    madNs: s.mad,
    iqrNs: s.iqr,
    iterations: runs.reduce((a, r) => a + r.iterations, 0),
    notes: [
      ...new Set([
        `${runs.length} worker processes, medians ${medians.map((m) => m.toPrecision(3)).join(', ')} ns${spread > 1.1 ? ` (${spread.toFixed(2)}× apart: process-to-process noise, included in the interval)` : ''}`,
        ...runs.flatMap((r) => r.notes),
      ]),
    ],
    durationMs: Math.round(performance.now() - started),
    groups: groups.map((g) => g.length),
  };
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
  const pythonVariants = options.variants.filter(isPython).length;
  if (pythonVariants > 0 && pythonVariants < options.variants.length) return fail('variants must all be Python or all JavaScript/TypeScript');
  if (pythonVariants > 0) return comparePython(options, started, fail);
  const { replayable, skipped } = partitionSamples(options.samples);
  const skippedField = skipped.count > 0 ? { skipped } : {};
  if (replayable.length === 0) {
    return fail(options.samples.length === 0 ? 'no recorded calls to replay (run the tests to record some)' : `no replayable recorded call: ${describeSkipped(skipped)}`, skippedField);
  }

  const execArgv = ['--expose-gc'];
  if (needsTs) {
    const tsx = resolveFrom(options.root, 'tsx');
    // Benchmarking TypeScript needs tsx installed in the workspace (a dev dependency).
    if (!tsx) return fail('cannot load TypeScript without tsx/ts-node in the workspace', skippedField);
    execArgv.push('--import', pathToFileURL(tsx).href);
  }

  const tmp = mkdtempSync(path.join(os.tmpdir(), 'crucible-bench-'));
  try {
    const jobFile = path.join(tmp, 'job.json');
    const spawnedAt = Date.now();
    const job: WorkerJob = {
      variants: options.variants.map((v) => ({ label: v.id, file: path.resolve(options.root, v.file), qualifiedName: v.qualifiedName })),
      calls: replayable.map((s) => ({ args: s.args, threw: s.error !== undefined })),
      ...samplingPlan(options, spawnedAt),
    };
    writeFileSync(jobFile, JSON.stringify(job));
    const outcome = await runWorker(
      { program: { node: runtimeFile('bench-worker.cjs'), execArgv }, args: [jobFile], cwd: options.root, env: workerEnv(), messages: 'ipc', memoryLimitMb: options.maxOldSpaceMb ?? 512 },
      options,
      'node',
    );
    if (outcome.kind !== 'done') return fail(outcome.reason, { ...(outcome.variant ? { variant: outcome.variant } : {}), ...skippedField });
    return summarise(outcome.message, skipped, options, started);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

/** Statistics of the worker's samples (the same for Node and Python). */
function summarise(done: DoneMessage, skipped: SkipSummary, options: CompareOptions, started: number): CompareSuccess {
  const skippedField = skipped.count > 0 ? { skipped } : {};
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
}

function isPython(v: BenchTarget): boolean {
  return path.extname(v.file).toLowerCase() === '.py';
}

/** The worker's environment: nothing of the server's own process (debug flags, the recorder's preload, c8). */
/** The environment of a worker that runs workspace code: without the server's own preloads and the recorder's variables. Shared with the verification worker. */
export function workerEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const k of Object.keys(env)) if (k === 'NODE_OPTIONS' || k === 'NODE_V8_COVERAGE' || k.startsWith('CRUCIBLE_RECORD_')) delete env[k];
  return env;
}

const pythonCache = new Map<string, string | undefined>();

/** The python the pytest adapter would pick (one with pytest, so the project's packages), else a bare python3; probed once per PATH. */
function pickPython(env: NodeJS.ProcessEnv): string | undefined {
  const key = `${env.PATH ?? ''}\0${env.VIRTUAL_ENV ?? ''}`;
  if (!pythonCache.has(key)) {
    let python = pythonWithPytest('python3', env);
    if (!python) python = ['python3', 'python'].find((p) => spawnSync(p, ['--version'], { env, stdio: 'ignore', timeout: 20_000 }).status === 0);
    pythonCache.set(key, python);
  }
  return pythonCache.get(key);
}

/**
 * pytest's `pythonpath` entries (absolute, in order) from the first of pytest.ini,
 * pyproject.toml (`[tool.pytest.ini_options]`), tox.ini (`[pytest]`), setup.cfg
 * (`[tool:pytest]`) at the workspace root that has a pytest section, as pytest
 * chooses its config file. Only the root is looked at.
 */
export function pytestPythonPath(root: string): string[] {
  const candidates: [string, string][] = [
    ['pytest.ini', 'pytest'],
    ['pyproject.toml', 'tool.pytest.ini_options'],
    ['tox.ini', 'pytest'],
    ['setup.cfg', 'tool:pytest'],
  ];
  for (const [name, section] of candidates) {
    const file = path.join(root, name);
    if (!existsSync(file)) continue;
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    const lines = text.split(/\r?\n/);
    const header = lines.findIndex((l) => l.trim() === `[${section}]`);
    if (header < 0) {
      if (name === 'pytest.ini') return []; // pytest.ini is the config file even without the section
      continue;
    }
    let end = lines.findIndex((l, i) => i > header && /^\s*\[[^\]]+\]\s*$/.test(l));
    if (end < 0) end = lines.length;
    const body = lines.slice(header + 1, end);
    const at = body.findIndex((l) => /^pythonpath\s*[=:]/.test(l.trimStart()) && !/^\s/.test(l));
    if (at < 0) return [];
    let value = body[at].replace(/^\s*pythonpath\s*[=:]\s*/, '');
    let entries: string[];
    if (name === 'pyproject.toml') {
      // A TOML string or array of strings (possibly over several lines).
      for (let i = at + 1; value.trimStart().startsWith('[') && !value.includes(']') && i < body.length; i++) value += ` ${body[i]}`;
      entries = [...value.matchAll(/"((?:[^"\\]|\\.)*)"|'([^']*)'/g)].map((m) => m[1] ?? m[2]);
    } else {
      // An ini value: whitespace-separated, continued on indented lines.
      for (let i = at + 1; i < body.length && /^\s+\S/.test(body[i]) && !/^\s*[#;]/.test(body[i]); i++) value += ` ${body[i]}`;
      entries = value.split(/\s+/).filter(Boolean);
    }
    return entries.map((e) => path.resolve(root, e));
  }
  return [];
}

/** compareVariants for Python functions: the Python worker (runtime/crucible_bench_worker.py), the same method and statistics. */
async function comparePython(options: CompareOptions, started: number, fail: (reason: string, extra?: Partial<BenchFailure>) => BenchFailure): Promise<CompareResult> {
  const { replayable, skipped } = partitionSamples(options.samples, pythonUnreplayableReason);
  const skippedField = () => (skipped.count > 0 ? { skipped } : {});
  if (replayable.length === 0) {
    return fail(options.samples.length === 0 ? 'no recorded calls to replay (run the tests to record some)' : `no replayable recorded call: ${describeSkipped(skipped)}`, skippedField());
  }
  const env = workerEnv();
  env.PYTHONDONTWRITEBYTECODE = '1';
  const python = options.python ?? pickPython(env);
  if (!python) return fail('cannot benchmark Python: no python3 found (tried python3, /usr/bin/python3 and python)', skippedField());
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'crucible-bench-'));
  try {
    const jobFile = path.join(tmp, 'job.json');
    const spawnedAt = Date.now();
    const job: PythonWorkerJob = {
      variants: options.variants.map((v) => ({ label: v.id, file: path.resolve(options.root, v.file), qualifiedName: v.qualifiedName, ...(v.source !== undefined ? { source: v.source } : {}) })),
      calls: replayable.map((s) => ({ args: s.args, threw: s.error !== undefined })),
      sysPath: [...pytestPythonPath(options.root), path.resolve(options.root)],
      ...samplingPlan(options, spawnedAt),
    };
    writeFileSync(jobFile, JSON.stringify(job));
    // Messages come on fd 3; the workspace code's stdout/stderr are the worker's own. The worker
    // takes its own directory off sys.path once it has imported the codec next to it.
    const outcome = await runWorker(
      { program: { command: python }, args: ['-B', runtimeFile('crucible_bench_worker.py'), jobFile], cwd: options.root, env, messages: 'fd3', memoryLimitMb: options.maxPythonMemoryMb ?? 1024 },
      options,
      'python',
    );
    const more = outcome.kind === 'done' ? outcome.message.skipped : outcome.skipped;
    for (const [reason, n] of Object.entries(more ?? {})) {
      skipped.count += n;
      skipped.reasons[reason as SkipReason] = (skipped.reasons[reason as SkipReason] ?? 0) + n;
    }
    if (outcome.kind !== 'done') {
      if (outcome.reason === 'no-replayable') return fail(`no replayable recorded call: ${describeSkipped(skipped)}`, skippedField());
      return fail(outcome.reason, { ...(outcome.variant ? { variant: outcome.variant } : {}), ...skippedField() });
    }
    return summarise(outcome.message, skipped, options, started);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

/** What a benchmark stores per artifact in a `bench` run (model.ts). */
export function toBenchEvidence(r: Pick<VariantStats, 'samplesNs' | 'medianNs' | 'ciLowNs' | 'ciHighNs'> & { groups?: number[] }): BenchEvidence {
  return { samplesNs: r.samplesNs, medianNs: r.medianNs, ciLowNs: r.ciLowNs, ciHighNs: r.ciHighNs, ...(r.groups && r.groups.length > 1 ? { groups: r.groups } : {}) };
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
  if (!tsExtensions.has(ext) && !jsExtensions.has(ext) && ext !== '.py') return `${v.id}: only JavaScript, TypeScript and Python functions can be benchmarked`;
  if (v.source !== undefined && ext !== '.py') return `${v.id}: a variant given as source text is supported for Python only (give a JavaScript variant as a module that exports it)`;
  if (v.kind !== 'function' && v.kind !== 'method') return `${v.id}: a ${v.kind} is not benchmarked (functions and static methods are)`;
  if (/~\d+$/.test(v.qualifiedName)) return `${v.id}: one of several definitions with the same name in its file; which one a call reached is not known`;
  return undefined;
}

/** A module as the workspace would resolve it (e.g. its own `tsx`), or undefined. */
export function resolveFrom(root: string, request: string): string | undefined {
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

interface PythonWorkerJob extends Omit<WorkerJob, 'variants'> {
  variants: { label: string; file: string; qualifiedName: string; source?: string }[];
  /** Put in front of sys.path, in this order (pytest's pythonpath entries, then the workspace folder). */
  sysPath: string[];
}

interface DoneMessage {
  type: 'done';
  calls: number;
  rounds: number;
  notes: string[];
  variants: { label: string; samplesNs: number[]; batch: number; async: boolean }[];
  /** Python worker: calls it could not rebuild, by reason. */
  skipped?: Partial<Record<SkipReason, number>>;
}
interface FailMessage {
  type: 'fail';
  reason: string;
  variant?: string;
  skipped?: Partial<Record<SkipReason, number>>;
}
interface PhaseMessage {
  type: 'phase';
  phase: 'load' | 'verify' | 'warmup' | 'sample';
  variant?: string;
  call?: number;
  round?: number;
}
type WorkerMessage = DoneMessage | FailMessage | PhaseMessage;

type WorkerOutcome = { kind: 'done'; message: DoneMessage } | { kind: 'fail'; reason: string; variant?: string; skipped?: Partial<Record<SkipReason, number>> };

/**
 * Runs the worker under the supervisor (own process group, time and memory limits, killed on
 * abort and when it is done) and turns its messages and its end into an outcome.
 */
async function runWorker(worker: Omit<SuperviseOptions<WorkerMessage>, 'onMessage' | 'timeLimitMs' | 'signal'>, options: BenchOptions, language: 'node' | 'python'): Promise<WorkerOutcome> {
  let last: PhaseMessage | undefined;
  let answer: WorkerOutcome | undefined;
  const end = await superviseWorker<WorkerMessage>({
    ...worker,
    timeLimitMs: options.maxSeconds * 1000 + (options.graceMs ?? 2000),
    ...(options.signal ? { signal: options.signal } : {}),
    onMessage: (m, stop) => {
      if (m.type === 'phase') last = m;
      else if (m.type === 'done') answer = { kind: 'done', message: m };
      else if (m.type === 'fail') answer = { kind: 'fail', reason: m.reason, ...(m.variant ? { variant: m.variant } : {}), ...(m.skipped ? { skipped: m.skipped } : {}) };
      // Also ends anything the replayed code started in the group.
      if (answer) stop();
    },
  });
  if (answer) return answer;
  return {
    kind: 'fail',
    reason: describeWorkerEnd(end, {
      name: 'the benchmark worker',
      where: where(last),
      limitSource: `maxSeconds ${options.maxSeconds} + grace`,
      exitHint: language === 'node' ? '(does the function call process.exit?)' : '(does the function call sys.exit or os._exit?)',
    }),
  };
}

/** Where the worker was, from its last phase message. */
function where(last: PhaseMessage | undefined): string {
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
}

/** How a worker (Node or Python) spends its time: the same plan for both. */
function samplingPlan(options: BenchOptions, spawnedAt: number) {
  return {
    deadline: spawnedAt + options.maxSeconds * 1000,
    warmupMs: options.warmupMs ?? 200,
    maxSamples: options.maxSamples ?? 50,
    minSampleNs: (options.minSampleMs ?? 1) * 1e6,
    maxSampleNs: Math.max(options.minSampleMs ?? 1, options.maxSampleMs ?? 10) * 1e6,
    maxInvocationsPerSample: 1_000_000,
  };
}
