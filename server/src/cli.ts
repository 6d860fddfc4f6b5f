#!/usr/bin/env node
/**
 * `crucible`: the engine from the command line, no VS Code needed.
 *   crucible index <dir> [--json] [--force]
 *   crucible evidence <dir> [--json] [--trust] [--no-bench] [--bench-seconds N] [--test-command C] [--timeout S]
 *   crucible drift <dir> [--json] [--ci]
 *   crucible optimize <dir> [--artifact ID]… [--budget N] [--json] [--trust]
 * Exit codes: 0 done, 1 failed (for drift --ci: a regression was found; for evidence: the
 * tests could not be run or reported), 2 usage error (also: evidence without --trust
 * outside CI), 3 store locked by another writer.
 */
import { existsSync, statSync } from 'node:fs';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { SingleBar } from 'cli-progress';
import Table from 'cli-table3';
import { isRegression } from './drift/detect';
import { type EvidenceRow, FolderEngine, TrustRequiredError } from './folder';
import { formatNs, formatRateInterval, formatRatio, formatRatioInterval } from './format';
import { StoreLockedError } from './storage';
import type { FolderSummary } from './protocol';
import { defaultSettings, normalizeSettings } from './settings';

const usage = `Usage: crucible <command> [options]

Commands:
  index <dir>    Index the functions, classes and tests under <dir> into <dir>/.crucible
  evidence <dir> Run <dir>'s own tests through Crucible (runner detected from package.json,
                 config files or pytest markers), record which functions each test ran,
                 their real calls and line coverage, benchmark the functions on the
                 recorded calls, and print the evidence per artifact. Runs the
                 workspace's code: needs --trust (not needed when CI is set).
  optimize <dir> Propose faster variants of the functions with evidence (rule agents, and
                 Ollama models when crucible.ollama.models / --ollama-model are set and
                 reachable), verify each (parse, typecheck, differential on recorded and
                 generated inputs, the tests in a scratch copy, an interleaved benchmark),
                 and keep the ones proven equivalent and faster. Runs the workspace's
                 code: needs --trust (not when CI is set). Never writes your files.
  drift <dir>    List drift found in the recorded evidence (<dir>/.crucible/evidence):
                 tests gone red, slowdowns, code changed since last verified, coverage
                 drops, error-rate rises, flaky tests. Re-indexes first to know the code now.

Options:
  --json         Print machine-readable JSON instead of a table
  --force        Re-extract every file even if its content is unchanged
  --trust        (evidence) Allow running the workspace's tests and code
  --no-bench     (evidence) Run and record the tests, skip the benchmarks
  --bench-seconds <s>  (evidence) Budget per benchmarked function (default ${defaultSettings.bench.maxSecondsPerArtifact})
  --test-command <c>   (evidence) The test command instead of detection (as crucible.test.command)
  --timeout <s>  (evidence) Stop a test run after this long (default ${defaultSettings.test.timeoutSeconds})
  --verbose      (evidence) Stream the test runner's output to stderr
  --artifact <id>      (optimize) Only this artifact (repeatable)
  --budget <n>         (optimize) Candidates verified at most (default ${defaultSettings.optimize.budget})
  --min-speedup <x>    (optimize) Required speedup (default ${defaultSettings.optimize.minSpeedup})
  --ollama-model <m>   (optimize) An Ollama model to use as micro-agents (repeatable)
  --ci           (drift) Exit 1 when a regression is found: test-failure, slowdown,
                 coverage-drop or error-rate (flaky and unverified-change are listed only)
  --exclude <g>  Extra glob to exclude (repeatable); node_modules and *.min.js are always excluded
  --max-file-size <bytes>  Skip larger files (default ${defaultSettings.maxFileSizeBytes})
  --ollama-embed-model <m> Use this Ollama embedding model (falls back to the local embedder)
  --ollama-host <url>      Ollama server (default ${defaultSettings.ollama.host})
  -h, --help     Show this help
`;

class UsageError extends Error {}
/** Refused to run workspace code: exit 2 like a usage error, without the usage text. */
class TrustError extends Error {}

async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      json: { type: 'boolean', default: false },
      force: { type: 'boolean', default: false },
      ci: { type: 'boolean', default: false },
      trust: { type: 'boolean', default: false },
      'no-bench': { type: 'boolean', default: false },
      'bench-seconds': { type: 'string' },
      'test-command': { type: 'string', default: '' },
      timeout: { type: 'string' },
      verbose: { type: 'boolean', default: false },
      artifact: { type: 'string', multiple: true, default: [] },
      budget: { type: 'string' },
      'min-speedup': { type: 'string' },
      'ollama-model': { type: 'string', multiple: true, default: [] },
      exclude: { type: 'string', multiple: true, default: [] },
      'max-file-size': { type: 'string' },
      'ollama-embed-model': { type: 'string', default: process.env.CRUCIBLE_OLLAMA_EMBED_MODEL ?? '' },
      'ollama-host': { type: 'string', default: process.env.CRUCIBLE_OLLAMA_HOST ?? defaultSettings.ollama.host },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  const [command, dir] = positionals;
  if (values.help || !command) {
    process.stdout.write(usage);
    return command || values.help ? 0 : 2;
  }
  if (command !== 'index' && command !== 'drift' && command !== 'evidence' && command !== 'optimize') throw new UsageError(`unknown command '${command}'`);
  if (!dir) throw new UsageError(`${command} needs a directory`);
  if (positionals.length > 2) throw new UsageError(`unexpected argument '${positionals[2]}'`);
  if (values.ci && command !== 'drift') throw new UsageError('--ci is an option of drift');
  for (const o of ['no-bench', 'verbose', 'bench-seconds', 'timeout'] as const) {
    if (command !== 'evidence' && values[o] !== undefined && values[o] !== false && values[o] !== '') throw new UsageError(`--${o} is an option of evidence`);
  }
  for (const o of ['trust', 'test-command'] as const) {
    if (command !== 'evidence' && command !== 'optimize' && values[o] !== false && values[o] !== '') throw new UsageError(`--${o} is an option of evidence and optimize`);
  }
  for (const o of ['budget', 'min-speedup'] as const) if (command !== 'optimize' && values[o] !== undefined) throw new UsageError(`--${o} is an option of optimize`);
  if (command !== 'optimize' && (values.artifact!.length > 0 || values['ollama-model']!.length > 0)) throw new UsageError('--artifact and --ollama-model are options of optimize');
  const budget = values.budget === undefined ? defaultSettings.optimize.budget : Number(values.budget);
  if (!Number.isInteger(budget) || budget < 1) throw new UsageError('--budget must be a whole number of candidates, at least 1');
  const minSpeedup = values['min-speedup'] === undefined ? defaultSettings.optimize.minSpeedup : Number(values['min-speedup']);
  if (!Number.isFinite(minSpeedup) || minSpeedup < 1) throw new UsageError('--min-speedup must be a number of at least 1');
  const benchSeconds = positiveNumber(values['bench-seconds'], defaultSettings.bench.maxSecondsPerArtifact, '--bench-seconds');
  const timeoutSeconds = positiveNumber(values.timeout, defaultSettings.test.timeoutSeconds, '--timeout');
  // Running tests runs the workspace's code: the editor asks VS Code's Workspace Trust, the
  // command line an explicit flag (a CI job has already decided to run the repository's code).
  if ((command === 'evidence' || command === 'optimize') && !values.trust && !process.env.CI) {
    throw new TrustError(`${command} runs the tests and code of ${dir}: pass --trust if you trust it (not needed when CI is set)`);
  }
  const root = path.resolve(dir);
  if (!existsSync(root) || !statSync(root).isDirectory()) throw new UsageError(`${dir} is not a directory`);
  const maxFileSizeBytes = values['max-file-size'] !== undefined ? Number(values['max-file-size']) : defaultSettings.maxFileSizeBytes;
  if (!Number.isFinite(maxFileSizeBytes) || maxFileSizeBytes <= 0) throw new UsageError('--max-file-size must be a positive number of bytes');

  const log = (m: string) => process.stderr.write(`crucible: ${m}\n`);
  // The flags through the same normalisation as the editor's settings (settings.ts).
  const settings = normalizeSettings({
    exclude: [...defaultSettings.exclude, ...values.exclude!],
    maxFileSizeBytes,
    ollama: { host: values['ollama-host'], embedModel: values['ollama-embed-model'], models: values['ollama-model'] },
    test: { command: values['test-command'], timeoutSeconds },
    bench: { maxSecondsPerArtifact: benchSeconds },
    optimize: { minSpeedup, budget },
  });
  const engine = await FolderEngine.create(root, {
    settings,
    owner: `crucible ${command} (CLI)`,
    lockWaitMs: Number(process.env.CRUCIBLE_LOCK_WAIT_MS ?? 5000),
    exclusive: true,
    trusted: true, // checked above: --trust or CI
    log,
    onProblem: log,
  });
  if (values['ollama-embed-model']) log(engine.embedderReason);
  try {
    await engine.ready;
    const summary = await indexWithProgressBar(engine, { json: values.json!, force: values.force! });
    // drift, evidence and optimize index first, for the hashes of the code as it is now
    switch (command) {
      case 'index':
        if (values.json) printJson(engine, summary);
        else printTable(engine, summary);
        return 0;
      case 'drift':
        return await drift(engine, { json: values.json!, ci: values.ci! });
      case 'evidence':
        return await evidence(engine, { json: values.json!, bench: !values['no-bench'], verbose: values.verbose!, log });
      case 'optimize':
        return await optimize(engine, { json: values.json!, ids: values.artifact!, log });
      default:
        throw new UsageError(`unknown command '${command}'`);
    }
  } finally {
    await engine.close();
  }
}

async function indexWithProgressBar(engine: FolderEngine, opts: { json: boolean; force: boolean }): Promise<FolderSummary> {
  const bar = !opts.json && process.stderr.isTTY ? new SingleBar({ format: 'indexing [{bar}] {percentage}% {value}/{total} files {file}', hideCursor: true, clearOnComplete: true, stream: process.stderr }) : undefined;
  let started = false;
  try {
    const summary = await engine.indexAll({
      force: opts.force,
      onProgress: (p) => {
        if (!bar) return;
        if (!started) {
          bar.start(p.total, 0, { file: '' });
          started = true;
        }
        bar.update(p.done, { file: p.file ?? '' });
      },
    });
    if (!summary) throw new Error('indexing was cancelled');
    return summary;
  } finally {
    bar?.stop();
  }
}

/** Stops the engine's work on Ctrl-C or SIGTERM: the runner's whole process group and any worker end with it. */
async function untilInterrupted<T>(work: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const abort = new AbortController();
  const onSignal = () => abort.abort();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    return await work(abort.signal);
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

/** `crucible drift`: the detectors over the recorded evidence, against the code as just indexed. */
async function drift(engine: FolderEngine, opts: { json: boolean; ci: boolean }): Promise<number> {
  const { events, gone, artifactsWithEvidence } = await engine.driftReport();
  const regressions = events.filter(isRegression).length;
  if (opts.json) {
    const out = { events: events.map((e) => (e.ratio === undefined ? { artifact: e.artifact, kind: e.kind, detail: e.detail } : { artifact: e.artifact, kind: e.kind, detail: e.detail, ratio: e.ratio })) };
    process.stdout.write(JSON.stringify(out, null, 2) + '\n');
  } else {
    process.stdout.write(`Crucible drift of ${engine.root}: ${events.length} event(s), ${regressions} regression(s), over ${artifactsWithEvidence} artifact(s) with evidence\n`);
    if (artifactsWithEvidence === 0) process.stdout.write('  no evidence recorded yet: run the tests through Crucible first\n');
    for (const e of events) process.stdout.write(`  ${isRegression(e) ? '✗' : '·'} ${e.kind.padEnd(17)} ${e.artifact}\n      ${e.detail}\n`);
    if (gone.length) process.stdout.write(`  ${gone.length} artifact(s) with evidence no longer exist in the code (deleted or renamed); not checked\n`);
  }
  return opts.ci && regressions > 0 ? 1 : 0;
}

/** A benchmark refusal without the function's own name, so that refusals for the same reason group. */
function reasonKind(reason: string): string {
  if (/ is an instance method/.test(reason)) return 'instance methods: a call needs its `this`, which the recorder does not keep';
  return reason.replace(/\d+ recorded calls? skipped: \d+ /, 'recorded calls skipped: ');
}

/**
 * `crucible optimize`: proposes, verifies and stores variants (`.crucible/optimize/`), prints
 * them with the rejections and the agents' ranking. The user's files are never written.
 */
async function optimize(engine: FolderEngine, opts: { json: boolean; ids: string[]; log: (m: string) => void }): Promise<number> {
  if ((await engine.evidence()).artifacts().length === 0) {
    opts.log(`no evidence recorded in ${engine.root}: run \`crucible evidence ${engine.root} --trust\` first (optimize works from recorded calls and benchmarks)`);
    return 1;
  }
  const { report, notices } = await untilInterrupted((signal) =>
    engine.optimize({ ids: opts.ids.length ? opts.ids : undefined, signal, onProgress: opts.json ? undefined : (m) => process.stderr.write(`${m}\n`) }),
  );
  for (const n of notices) opts.log(n);
  if (opts.json) {
    const out = {
      variants: report.variants.map((v) => ({
        artifact: v.artifact,
        file: v.file,
        range: v.range,
        agent: v.agent,
        code: v.code,
        speedup: v.verification.speedup,
        speedupLow: v.verification.speedupLow,
        inputsCompared: v.verification.inputsCompared.recorded + v.verification.inputsCompared.generated,
        testsRun: v.verification.testsRun,
      })),
      rejected: report.rejected.map((r) => ({ artifact: r.artifact, agent: r.agent, reason: r.reason })),
      agents: report.agents.map((a) => ({ id: a.id, attempts: a.attempts, accepted: a.accepted, mean: a.mean, low: a.low, high: a.high })),
    };
    process.stdout.write(JSON.stringify(out, null, 2) + '\n');
    return 0;
  }
  process.stdout.write(`Crucible optimize of ${engine.root}: ${report.verified} candidate(s) verified, ${report.variants.length} accepted, ${report.rejected.length} rejected\n`);
  for (const v of report.variants) {
    const c = v.verification;
    process.stdout.write(`  ⚡ ${v.artifact}: ${formatRatio(c.speedup ?? 1)} faster (95% CI ${formatRatioInterval(c.speedupLow ?? 0, c.speedupHigh ?? 0)}) by ${v.agent}: ${v.summary}\n      ${c.inputsCompared.recorded} recorded + ${c.inputsCompared.generated} generated inputs agree, ${c.testsPassed}/${c.testsRun} tests pass with it\n`);
  }
  for (const r of report.rejected) process.stdout.write(`  ✗ ${r.artifact} (${r.agent}): ${r.reason}\n`);
  const t = new Table({ head: ['#', 'agent', 'accepted', 'rate [95%]', 'speedup'], style: { head: [], border: [], compact: true } });
  for (const a of report.agents) t.push([a.rank, `${a.id}${a.provisional ? ' (provisional)' : ''}${a.retired ? ' (retired)' : ''}`, `${a.accepted}/${a.attempts}`, formatRateInterval(a.mean, a.low, a.high), a.meanSpeedup ? formatRatio(a.meanSpeedup) : '']);
  process.stdout.write(`${t.toString()}\n`);
  for (const id of report.retired) process.stdout.write(`  retired ${id}\n`);
  if (report.settingsChange) process.stdout.write(`  optimizer settings changed: ${report.settingsChange.why}\n`);
  return 0;
}

function positiveNumber(text: string | undefined, fallback: number, name: string): number {
  if (text === undefined) return fallback;
  const n = Number(text);
  if (!Number.isFinite(n) || n <= 0) throw new UsageError(`${name} must be a positive number of seconds`);
  return n;
}

/**
 * `crucible evidence`: runs the folder's tests with the recorder (test → artifact mapping,
 * calls, coverage), benchmarks what has recorded calls, and prints the evidence per
 * code artifact. The engine holds the evidence store's lock for the whole run.
 */
async function evidence(engine: FolderEngine, opts: { json: boolean; bench: boolean; verbose: boolean; log: (m: string) => void }): Promise<number> {
  await engine.evidence(); // the lock and the store's problems before the tests start
  const stamp = new Date().toISOString();
  const progress = (m: string) => {
    if (!opts.json) process.stderr.write(`${m}\n`);
  };
  return untilInterrupted(async (signal) => {
    const { run } = await engine.runTests({
      runId: `cli-test-${stamp}`,
      signal,
      onStarted: (command) => progress(`running the tests: ${command}`),
      onOutput: opts.verbose ? (line) => process.stderr.write(`  | ${line}\n`) : undefined,
    });
    const counts = { passed: 0, failed: 0, skipped: 0 };
    for (const r of run.results) counts[r.status]++;
    if (run.problem) opts.log(run.problem);
    if (run.workspaceChanges) opts.log(run.workspaceChanges.message);
    if (run.timedOut) opts.log(`the test run was stopped after ${engine.settings.test.timeoutSeconds} s (--timeout); what finished before is recorded`);
    if (run.cancelled) opts.log('the test run was cancelled');
    if (run.results.length === 0) {
      opts.log(`no test results${run.command ? ` from: ${run.command}` : ''}; nothing recorded (the evidence already stored is unchanged)`);
      return 1;
    }
    progress(`${run.results.length} tests in ${(run.durationMs / 1000).toFixed(1)} s (${run.runner}): ${counts.passed} passed, ${counts.failed} failed, ${counts.skipped} skipped`);
    if (opts.bench && !signal.aborted) {
      const seconds = engine.settings.bench.maxSecondsPerArtifact;
      const { outcomes } = await engine.benchmark({
        runId: `cli-bench-${stamp}`,
        signal,
        onProgress: (done, total, id) => {
          if (!opts.json && process.stderr.isTTY) process.stderr.write(`\rbenchmarking ${done + 1}/${total} ${id}`.padEnd(100).slice(0, 100));
        },
      });
      if (!opts.json && process.stderr.isTTY) process.stderr.write('\r'.padEnd(101) + '\r');
      progress(`benchmarked ${outcomes.filter((b) => b.ok).length} of ${outcomes.length} functions with recorded calls (≤ ${seconds} s each)`);
      // One line per reason, not per function: instance methods alone can be dozens.
      const byReason = new Map<string, string[]>();
      for (const b of outcomes) if (!b.ok) byReason.set(reasonKind(b.reason ?? 'unknown'), [...(byReason.get(reasonKind(b.reason ?? 'unknown')) ?? []), b.id]);
      for (const [reason, ids] of byReason) opts.log(`not benchmarked (${ids.length}): ${reason}: ${opts.verbose || ids.length <= 3 ? ids.join(', ') : `${ids.slice(0, 3).join(', ')} and ${ids.length - 3} more (--verbose lists them)`}`);
    }
    const rows = engine.evidenceRows();
    if (opts.json) process.stdout.write(JSON.stringify({ artifacts: rows }, null, 2) + '\n');
    else printEvidenceTable(engine.root, rows, run.command);
    return 0;
  });
}

function printEvidenceTable(root: string, rows: EvidenceRow[], command: string): void {
  const t = new Table({ head: ['artifact', 'status', 'tests', 'coverage', 'calls', 'median', 'score'], style: { head: [], border: [], compact: true } });
  for (const r of rows) {
    const passed = r.tests.filter((x) => x.status === 'passed').length;
    const ran = r.tests.filter((x) => x.status !== 'skipped').length;
    t.push([r.id, r.status, ran ? `${passed}/${ran}` : '', r.coverage === null ? '' : `${Math.round(r.coverage * 100)}%`, r.calls ?? '', r.medianNs === null ? '' : formatNs(r.medianNs), r.score ?? '']);
  }
  process.stdout.write(`Crucible evidence of ${root}\n(${command})\n${t.toString()}\n`);
  const counts = new Map<string, number>();
  for (const r of rows) counts.set(r.status, (counts.get(r.status) ?? 0) + 1);
  process.stdout.write(`${rows.length} artifacts with evidence: ${[...counts].map(([k, n]) => `${n} ${k}`).join(', ')}\n`);
}

function printJson(engine: FolderEngine, summary: FolderSummary): void {
  const index = engine.index;
  const artifacts = index.artifacts().map((a) => ({
    id: a.id,
    kind: a.kind,
    language: a.language,
    file: a.file,
    range: a.range,
    hash: a.hash,
    calls: index.resolveCalls(a),
  }));
  const out = { files: summary.files, artifacts, skipped: index.skippedFiles(), parseErrors: summary.parseErrors, ms: summary.ms, embedder: summary.embedder };
  process.stdout.write(JSON.stringify(out, null, 2) + '\n');
}

function printTable(engine: FolderEngine, s: FolderSummary): void {
  const index = engine.index;
  const t = new Table({ head: ['', 'count'], style: { head: [], border: [], compact: true } });
  t.push(['files indexed', s.files], ['artifacts', s.artifacts]);
  for (const [k, n] of Object.entries(s.byKind).sort()) t.push([`  ${k}`, n]);
  for (const [l, n] of Object.entries(s.byLanguage).sort()) t.push([`  ${l}`, n]);
  t.push(['files skipped', s.skipped], ['files with parse errors', s.parseErrors], ['time', `${s.ms} ms`], ['embedder', s.embedder]);
  process.stdout.write(`Crucible index of ${index.root}\n${t.toString()}\n`);
  for (const sk of index.skippedFiles().slice(0, 20)) process.stdout.write(`  skipped ${sk.file}: ${sk.reason}\n`);
  if (index.skippedFiles().length > 20) process.stdout.write(`  … and ${index.skippedFiles().length - 20} more (see --json)\n`);
}

// Set the exit code and let Node exit on its own: process.exit() would cut off
// stdout that is still being written to a pipe (large --json output).
main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    if (err instanceof UsageError || (err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      process.stderr.write(`crucible: ${(err as Error).message}\n\n${usage}`);
      process.exitCode = 2;
    } else if (err instanceof TrustError || err instanceof TrustRequiredError) {
      process.stderr.write(`crucible: ${err.message}\n`);
      process.exitCode = 2;
    } else if (err instanceof StoreLockedError) {
      process.stderr.write(`crucible: ${err.message}\n`);
      process.exitCode = 3;
    } else {
      process.stderr.write(`crucible: ${(err as Error).stack ?? err}\n`);
      process.exitCode = 1;
    }
  },
);
