/**
 * Runs a plan in a child process with the runner's machine-readable output added
 * next to the project's own options, and turns that output into per-test
 * results. The child gets its own process group so a timeout or a cancel stops
 * every process the runner started (workers, per-file subprocesses).
 * A failing test run is a result, never an exception.
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { runtimeFile } from '../runtime/files';
import { ansiEscapes, superviseWorker } from '../runtime/supervise';
import type { RunnerPlan, RunTestsOptions, TestCaseError, TestCaseResult, TestRunReport } from './types';

/**
 * Crucible's own reporters (runtime/node-test-reporter.cjs, mocha-reporter.cjs,
 * crucible_pytest_reporter.py) each write one NDJSON line per finished test:
 * `{"file": absolute, "titlePath": [...], "status", "durationMs", "error"?}`, and
 * `{"fileError": absolute, "message"}` for a file that could not be loaded. jest and
 * vitest need none: their `--json` output already has this shape.
 */

/** Environment variable naming the NDJSON file the mocha reporter and the pytest plugin write. */
const eventsFileVariable = 'CRUCIBLE_RUNNER_EVENTS';
/** Module name of the pytest plugin (loaded with `-p`, found through PYTHONPATH). */
const pytestPluginModule = 'crucible_pytest_reporter';
const outputTailChars = 16_000;

/** `node_modules/.bin` of `cwd` and every directory above it, nearest first, as npm puts them on PATH. */
function binDirs(cwd: string): string[] {
  const dirs: string[] = [];
  for (let dir = path.resolve(cwd); ; dir = path.dirname(dir)) {
    const bin = path.join(dir, 'node_modules', '.bin');
    if (existsSync(bin)) dirs.push(bin);
    if (path.dirname(dir) === dir) return dirs;
  }
}

/** The environment the project's script would see under `npm test`. */
export function commandEnv(plan: RunnerPlan, base: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...base, ...plan.env };
  env.PATH = [...binDirs(plan.cwd), base.PATH ?? ''].filter(Boolean).join(path.delimiter);
  return env;
}

/** Expands one unquoted glob word like `sh` does: `*` and `?` within a path segment, no match leaves it as written. */
function expandGlob(pattern: string, cwd: string): string[] {
  const absolute = path.isAbsolute(pattern);
  const parts = pattern.split('/').filter((p, i) => p !== '' || i === 0);
  let bases: string[] = [absolute ? '/' : ''];
  for (const part of parts) {
    if (part === '') continue;
    if (!/[*?[]/.test(part)) {
      bases = bases.map((b) => (b === '' ? part : path.posix.join(b, part))).filter((b) => existsSync(path.resolve(cwd, b)));
      continue;
    }
    const re = new RegExp(`^${globSegmentSource(part)}$`);
    const next: string[] = [];
    for (const b of bases) {
      let entries: string[];
      try {
        entries = readdirSync(path.resolve(cwd, b || '.'));
      } catch {
        continue;
      }
      for (const e of entries.sort()) if (re.test(e) && (!e.startsWith('.') || part.startsWith('.'))) next.push(b === '' ? e : path.posix.join(b, e));
    }
    bases = next;
  }
  return bases.length > 0 ? bases : [pattern];
}

function globSegmentSource(part: string): string {
  let out = '';
  for (let i = 0; i < part.length; i++) {
    const ch = part[i];
    if (ch === '*') out += '[^/]*';
    else if (ch === '?') out += '[^/]';
    else if (ch === '[') {
      const close = part.indexOf(']', i + 2);
      if (close < 0) out += '\\[';
      else {
        out += `[${part.slice(i + 1, close).replace(/^!/, '^').replace(/\\/g, '\\\\')}]`;
        i = close;
      }
    } else out += ch.replace(/[.+^${}()|\\\]]/g, '\\$&');
  }
  return out;
}

/** The plan's command as the shell would run it: glob words expanded against its cwd. */
export function expandArgv(plan: RunnerPlan): string[] {
  const globs = new Set(plan.globs ?? []);
  return plan.argv.flatMap((word, i) => (globs.has(i) ? expandGlob(word, plan.cwd) : [word]));
}

function escapeRegex(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
}

/** Options that take the next word as their value, per runner: everything else that is not `-x` is a positional (a file). */
const valueOptions: Record<string, Set<string>> = {
  node: new Set(['--import', '--require', '-r', '--loader', '--experimental-loader', '--test-reporter', '--test-reporter-destination', '--test-name-pattern', '--test-skip-pattern', '--test-concurrency', '--conditions', '-C', '--input-type', '--env-file', '--test-timeout']),
  mocha: new Set(['--require', '-r', '--reporter', '-R', '--reporter-option', '--reporter-options', '-O', '--ui', '-u', '--timeout', '-t', '--slow', '-s', '--grep', '-g', '--fgrep', '-f', '--config', '--package', '--extension', '--spec', '--ignore', '--exclude', '--file', '--retries', '--jobs', '-j', '--node-option', '-n']),
  jest: new Set(['--config', '-c', '--testNamePattern', '-t', '--testPathPatterns', '--testPathPattern', '--testPathIgnorePatterns', '--maxWorkers', '-w', '--reporters', '--setupFiles', '--setupFilesAfterEnv', '--rootDir', '--roots', '--selectProjects', '--testTimeout', '--outputFile', '--cacheDirectory', '--coverageDirectory', '--env', '--testEnvironment', '--shard', '--seed', '--testMatch', '--testRegex', '--projects']),
  vitest: new Set(['--config', '-c', '--root', '-r', '--dir', '--testNamePattern', '-t', '--reporter', '--outputFile', '--environment', '--pool', '--project', '--shard', '--mode', '--maxWorkers', '--minWorkers', '--testTimeout', '--exclude']),
  pytest: new Set(['-k', '-m', '-p', '-c', '-o', '-W', '--rootdir', '--junitxml', '--junit-xml', '--maxfail', '--tb', '--ignore', '--ignore-glob', '--deselect', '--confcutdir', '--basetemp', '-n', '--durations', '--log-level', '--import-mode', '--capture']),
};

/** Index of the word that is the runner itself (`mocha` in `node --inspect node_modules/.bin/mocha`). */
function runnerIndex(argv: string[], names: string[]): number {
  const i = argv.findIndex((w) => names.includes(path.basename(w).replace(/\.(cmd|js|cjs|mjs)$/, '')));
  return i < 0 ? 0 : i;
}

/** Removes `--flag value`, `--flag=value` and (boolean) `--flag` words for the given flags. */
function withoutOptions(argv: string[], flags: string[], takesValue = true): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const w = argv[i];
    if (flags.includes(w)) {
      if (takesValue) i++;
      continue;
    }
    if (flags.some((f) => f.startsWith('--') && w.startsWith(`${f}=`)) || flags.some((f) => f.startsWith('--') && w.startsWith(`${f}.`))) continue;
    out.push(w);
  }
  return out;
}

/** Replaces the positional (file) words after `start` with `files`. */
function replacePositionals(argv: string[], start: number, values: Set<string>, files: string[], keep: (w: string) => boolean = () => false): string[] {
  const out = argv.slice(0, start + 1);
  for (let i = start + 1; i < argv.length; i++) {
    const w = argv[i];
    if (w === '--') break;
    if (w.startsWith('-')) {
      out.push(w);
      if (values.has(w) && i + 1 < argv.length) out.push(argv[++i]);
      continue;
    }
    if (keep(w)) out.push(w);
  }
  return [...out, ...files];
}

interface Prepared {
  argv: string[];
  env: NodeJS.ProcessEnv;
  /** Reads what the reporter wrote, after the process ended. */
  collect(): { events: RawEvent[]; missing: boolean };
}

interface RawEvent {
  file?: string;
  titlePath?: string[];
  status?: TestCaseResult['status'];
  durationMs?: number;
  error?: TestCaseError;
  fileError?: string;
  message?: string;
}

function readNdjson(file: string): { events: RawEvent[]; missing: boolean } {
  if (!existsSync(file)) return { events: [], missing: true };
  const events: RawEvent[] = [];
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    if (!line.trim()) continue;
    try {
      events.push(JSON.parse(line) as RawEvent);
    } catch {
      // a line cut by a kill: the rest is still good
    }
  }
  return { events, missing: false };
}

interface JestLikeReport {
  testResults?: {
    name: string;
    status?: string;
    message?: string;
    assertionResults?: { ancestorTitles?: string[]; title: string; status: string; duration?: number | null; failureMessages?: string[] | null }[];
  }[];
}

function readJestLike(file: string): { events: RawEvent[]; missing: boolean } {
  if (!existsSync(file)) return { events: [], missing: true };
  let report: JestLikeReport;
  try {
    report = JSON.parse(readFileSync(file, 'utf8')) as JestLikeReport;
  } catch {
    return { events: [], missing: true };
  }
  const events: RawEvent[] = [];
  for (const suite of report.testResults ?? []) {
    const assertions = suite.assertionResults ?? [];
    if (suite.status === 'failed' && assertions.length === 0) events.push({ fileError: suite.name, message: (suite.message ?? '').replace(ansiEscapes, '') });
    for (const a of assertions) {
      const status = a.status === 'passed' ? 'passed' : a.status === 'failed' ? 'failed' : 'skipped';
      const event: RawEvent = { file: suite.name, titlePath: [...(a.ancestorTitles ?? []), a.title], status, durationMs: a.duration ?? 0 };
      if (status === 'failed') {
        const text = (a.failureMessages ?? []).join('\n').replace(ansiEscapes, '');
        event.error = { message: text.split('\n').find((l) => l.trim()) ?? 'failed', stack: text };
      }
      events.push(event);
    }
  }
  return { events, missing: false };
}

/** A python that can `-m pytest`, preferring the plan's own; undefined when none can. */
export function pythonWithPytest(preferred: string, env: NodeJS.ProcessEnv): string | undefined {
  for (const python of [...new Set([preferred, 'python3', '/usr/bin/python3'])]) {
    const probe = spawnSync(python, ['-m', 'pytest', '--version'], { env, stdio: 'ignore', timeout: 20_000 });
    if (probe.status === 0) return python;
  }
  return undefined;
}

type Prepare = (argv: string[], plan: RunnerPlan, tmp: string, env: NodeJS.ProcessEnv, opts: RunTestsOptions) => Prepared | string;

const prepare: Record<RunnerPlan['runner'], Prepare> = {
  'node-test': (argv, _plan, tmp, env, opts) => {
    const reporter = runtimeFile('node-test-reporter.cjs');
    const events = path.join(tmp, 'events.ndjson');
    let at = argv.indexOf('--test');
    if (opts.files) argv = replacePositionals(argv, at, valueOptions.node, opts.files);
    const count = (flag: string) => argv.filter((w) => w === flag || w.startsWith(`${flag}=`)).length;
    const theirs = count('--test-reporter');
    const flags: string[] = [];
    // Destinations pair with reporters by position: give theirs stdout, as node does for a lone reporter.
    for (let k = count('--test-reporter-destination'); k < theirs; k++) flags.push('--test-reporter-destination=stdout');
    if (theirs === 0) flags.push('--test-reporter=spec', '--test-reporter-destination=stdout');
    flags.push(`--test-reporter=${reporter}`, `--test-reporter-destination=${events}`);
    if (opts.grep !== undefined) flags.push(`--test-name-pattern=${escapeRegex(opts.grep)}`);
    at = argv.indexOf('--test');
    argv = [...argv.slice(0, at + 1), ...flags, ...argv.slice(at + 1)];
    return { argv, env, collect: () => readNdjson(events) };
  },
  mocha: (argv, _plan, tmp, env, opts) => {
    const reporter = runtimeFile('mocha-reporter.cjs');
    const events = path.join(tmp, 'events.ndjson');
    argv = withoutOptions(argv, ['--reporter', '-R', '--reporter-option', '--reporter-options', '-O']);
    const at = runnerIndex(argv, ['mocha', '_mocha']);
    if (opts.files) argv = replacePositionals(withoutOptions(argv, ['--spec']), at, valueOptions.mocha, opts.files);
    if (opts.grep !== undefined) argv = [...withoutOptions(argv, ['--grep', '-g', '--fgrep', '-f']), '--grep', escapeRegex(opts.grep)];
    argv = [...argv, '--reporter', reporter];
    return { argv, env: { ...env, [eventsFileVariable]: events }, collect: () => readNdjson(events) };
  },
  jest: (argv, plan, tmp, env, opts) => {
    const out = path.join(tmp, 'jest.json');
    argv = withoutOptions(argv, ['--json', '--testLocationInResults'], false);
    argv = withoutOptions(argv, ['--outputFile']);
    const at = runnerIndex(argv, ['jest']);
    if (opts.files) argv = replacePositionals(withoutOptions(argv, ['--testPathPatterns', '--testPathPattern']), at, valueOptions.jest, opts.files.map((f) => escapeRegex(path.resolve(plan.cwd, f))));
    if (opts.grep !== undefined) argv = [...withoutOptions(argv, ['--testNamePattern', '-t']), '-t', escapeRegex(opts.grep)];
    argv = [...argv, '--json', `--outputFile=${out}`, '--testLocationInResults'];
    return { argv, env, collect: () => readJestLike(out) };
  },
  vitest: (argv, plan, tmp, env, opts) => {
    const out = path.join(tmp, 'vitest.json');
    const at = runnerIndex(argv, ['vitest']);
    // Never watch: `vitest` alone watches on a TTY, `vitest watch`/`dev` always do.
    const sub = argv[at + 1];
    if (sub === 'watch' || sub === 'dev') argv = [...argv.slice(0, at + 1), 'run', ...argv.slice(at + 2)];
    else if (sub !== 'run' && sub !== 'related') argv = [...argv.slice(0, at + 1), 'run', ...argv.slice(at + 1)];
    argv = withoutOptions(argv, ['--reporter', '--outputFile']);
    argv = withoutOptions(argv, ['--watch', '-w'], false);
    if (opts.files) argv = replacePositionals(argv, at + 1, valueOptions.vitest, opts.files.map((f) => path.relative(plan.cwd, path.resolve(plan.cwd, f))));
    if (opts.grep !== undefined) argv = [...withoutOptions(argv, ['--testNamePattern', '-t']), '-t', escapeRegex(opts.grep)];
    argv = [...argv, '--reporter=default', '--reporter=json', `--outputFile.json=${out}`];
    return { argv, env, collect: () => readJestLike(out) };
  },
  pytest: (argv, _plan, tmp, env, opts) => {
    const events = path.join(tmp, 'events.ndjson');
    // A copy in the run's own directory: that directory goes on PYTHONPATH, and only the plugin should become importable.
    copyFileSync(runtimeFile('crucible_pytest_reporter.py'), path.join(tmp, `${pytestPluginModule}.py`));
    const exe = path.basename(argv[0]);
    let at: number;
    if (exe === 'pytest' || exe === 'py.test') {
      // A `pytest` script on PATH may belong to a python without the project's packages; keep it when it runs.
      const python = spawnSync(argv[0], ['--version'], { env, stdio: 'ignore', timeout: 20_000 }).status === 0 ? undefined : pythonWithPytest('python3', env);
      if (python) argv = [python, '-m', 'pytest', ...argv.slice(1)];
      at = python ? 2 : 0;
    } else {
      const python = pythonWithPytest(argv[0], env);
      if (!python) return 'runner not installed: pytest (no python3 with pytest found: tried python3 and /usr/bin/python3; on Debian install python3-pytest)';
      argv = [python, ...argv.slice(1)];
      at = argv.indexOf('pytest');
    }
    if (opts.files) argv = replacePositionals(argv, at, valueOptions.pytest, opts.files);
    if (opts.grep !== undefined) argv = [...withoutOptions(argv, ['-k']), '-k', opts.grep];
    argv = [...argv, '-p', pytestPluginModule];
    if (!argv.includes('no:cacheprovider')) argv.push('-p', 'no:cacheprovider');
    const pythonPath = [tmp, env.PYTHONPATH].filter(Boolean).join(path.delimiter);
    // No __pycache__ in the workspace: pytest's assertion rewriting honours this too.
    return { argv, env: { ...env, PYTHONPATH: pythonPath, PYTHONDONTWRITEBYTECODE: '1', [eventsFileVariable]: events }, collect: () => readNdjson(events) };
  },
};

function toRelative(root: string, file: string | undefined): string {
  if (!file) return '';
  const abs = file.startsWith('file://') ? new URL(file).pathname : path.resolve(root, file);
  return path.relative(root, abs).split(path.sep).join('/');
}

/** Caches that would otherwise land in the workspace (babel's in node_modules/.cache, vite's in node_modules/.vite). */
function cacheEnv(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const dir = path.join(os.tmpdir(), 'crucible-runner-cache');
  return { BABEL_CACHE_PATH: path.join(dir, 'babel-register.json'), ...env };
}

/**
 * Runs the plan's tests and reports each test's outcome. Adds only the runner's
 * machine-readable reporter (and, for a subset, the runner's own file and name
 * filters) to the project's command.
 */
export async function runTests(plan: RunnerPlan, opts: RunTestsOptions): Promise<TestRunReport> {
  const started = Date.now();
  const root = opts.root ?? plan.cwd;
  const report: TestRunReport = {
    runner: plan.runner,
    argv: plan.argv,
    cwd: plan.cwd,
    exitCode: null,
    signal: null,
    timedOut: false,
    cancelled: false,
    durationMs: 0,
    results: [],
    outputTail: '',
  };
  if (opts.signal?.aborted) {
    report.cancelled = true;
    return report;
  }
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'crucible-run-'));
  try {
    const prepared = prepare[plan.runner](expandArgv(plan), plan, tmp, cacheEnv(commandEnv(plan)), opts);
    if (typeof prepared === 'string') {
      report.problem = prepared;
      return report;
    }
    report.argv = prepared.argv;
    const outcome = await spawnGroup(prepared.argv, plan.cwd, prepared.env, opts);
    Object.assign(report, outcome);
    const { events, missing } = prepared.collect();
    const fileErrors: string[] = [];
    for (const e of events) {
      if (e.fileError !== undefined) {
        fileErrors.push(`${toRelative(root, e.fileError)}: ${(e.message ?? '').trim().split('\n').slice(-1)[0]}`);
        continue;
      }
      const result: TestCaseResult = {
        file: toRelative(root, e.file),
        titlePath: e.titlePath ?? [],
        status: e.status ?? 'failed',
        durationMs: e.durationMs ?? 0,
      };
      if (e.error) result.error = e.error.stack ? { message: e.error.message, stack: e.error.stack } : { message: e.error.message };
      report.results.push(result);
    }
    // Filters of jest, vitest and node report what they left out as skipped: keep only skips the filter selected.
    if (opts.grep !== undefined) report.results = report.results.filter((r) => r.status !== 'skipped' || r.titlePath.some((t) => t.includes(opts.grep!)));
    report.problem = problemOf(plan, report, outcome.spawnError, missing, fileErrors);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
    report.durationMs = Date.now() - started;
  }
  return report;
}

function problemOf(plan: RunnerPlan, report: TestRunReport, spawnError: NodeJS.ErrnoException | undefined, missing: boolean, fileErrors: string[]): string | undefined {
  if (spawnError) {
    return spawnError.code === 'ENOENT'
      ? `runner not installed: ${plan.runner} (\`${report.argv[0]}\` is not in node_modules/.bin or on PATH from ${plan.cwd})`
      : `could not start ${report.argv[0]}: ${spawnError.message}`;
  }
  if (report.timedOut || report.cancelled) return undefined;
  if (/No module named pytest/.test(report.outputTail)) return 'runner not installed: pytest (on Debian install python3-pytest)';
  const notFound = /Cannot find module '([^']+)'|ERR_MODULE_NOT_FOUND[^\n]*?'([^']+)'/.exec(report.outputTail);
  if (fileErrors.length > 0) return `test files failed to load: ${fileErrors.join('; ')}`;
  if (missing) {
    const why = notFound ? `: module not found ${notFound[1] ?? notFound[2]}` : '';
    return `reporter output missing: ${plan.runner} exited ${report.exitCode ?? report.signal} without writing results${why}`;
  }
  if (report.results.length === 0 && report.exitCode !== 0 && report.exitCode !== 5) return `${plan.runner} exited ${report.exitCode} and reported no tests`;
  return undefined;
}

interface SpawnOutcome {
  exitCode: number | null;
  signal: string | null;
  timedOut: boolean;
  cancelled: boolean;
  outputTail: string;
  spawnError?: NodeJS.ErrnoException;
}

/** Runs argv in a new process group, streams its lines, and stops the whole group (SIGTERM, then SIGKILL) on timeout or abort. */
async function spawnGroup(argv: string[], cwd: string, env: NodeJS.ProcessEnv, opts: RunTestsOptions): Promise<SpawnOutcome> {
  const end = await superviseWorker({
    program: { command: argv[0] },
    args: argv.slice(1),
    cwd,
    env,
    timeLimitMs: opts.timeoutMs,
    termGraceMs: opts.killGraceMs ?? 2000,
    tailChars: outputTailChars,
    ...(opts.signal ? { signal: opts.signal } : {}),
    // The output channel and the error tails are plain text: the supervisor drops colours.
    onOutput: (line, stream) => opts.onOutput?.(line, stream),
    ...(opts.onSpawn ? { onSpawn: opts.onSpawn } : {}),
  });
  return {
    exitCode: end.exitCode,
    signal: end.signal,
    timedOut: end.how === 'timedOut',
    cancelled: end.how === 'cancelled',
    outputTail: end.tail,
    ...(end.spawnError ? { spawnError: end.spawnError } : {}),
  };
}
