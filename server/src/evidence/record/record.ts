/**
 * Runs the workspace's tests as `runTests` does, with the recording preload in
 * every Node process of the run, and returns the per-test report together with
 * the evidence per artifact (tests that executed it, execution counts, line
 * coverage, sampled calls). See runtime/record-preload.cjs for how, collect.ts for
 * the mapping; pytest runs get the recorder plugin runtime/crucible_pytest_recorder.py
 * instead (collected by collectPython.ts).
 */
import { copyFileSync, mkdirSync, mkdtempSync, realpathSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { ArtifactTestResult } from '../model';
import { runTests } from '../runners/run';
import { testArtifactId, type RunnerPlan, type RunTestsOptions, type TestRunReport } from '../runners/types';
import { collectRecording, type RecordArtifact, type RecordedArtifact, type RecordingResult } from './collect';
import { pythonRecordingNotes } from './collectPython';
import { runtimeFile } from '../runtime/files';

/** Module name of the pytest recorder plugin (loaded with `-p`, found through PYTHONPATH). */
export const pytestRecorderModule = 'crucible_pytest_recorder';

/**
 * Copies the pytest recorder and the codec it imports into `dir`, which then goes first on
 * the run's PYTHONPATH: only these two modules, not every program of runtime/, become
 * importable by the workspace's tests.
 */
export function copyPytestRecorder(dir: string): void {
  copyFileSync(runtimeFile('crucible_pytest_recorder.py'), path.join(dir, `${pytestRecorderModule}.py`));
  copyFileSync(runtimeFile('crucible_codec.py'), path.join(dir, 'crucible_codec.py'));
}

export interface RecordOptions {
  /** Calls recorded per function per process (default 20). */
  samplesPerFunction?: number;
  /** Samples kept per artifact over the run (default 100). */
  maxSamples?: number;
}

export interface RecordedRun {
  report: TestRunReport;
  recording: RecordingResult;
  /** Why recording stayed out of (part of) the run: pytest under coverage.py or a debugger. */
  notes?: string[];
}

/**
 * The plan with the preload added: NODE_OPTIONS for every process, and mocha's root-hook `--require`;
 * for pytest, `-p crucible_pytest_recorder` with `pythonDir` (where the plugin is) first on PYTHONPATH.
 */
export function recordingPlan(plan: RunnerPlan, preload: string, outDir: string, root: string, samplesPerFunction?: number, pythonDir?: string): RunnerPlan {
  const nodeOptions = [process.env.NODE_OPTIONS, plan.env?.NODE_OPTIONS, `--require ${JSON.stringify(preload)}`].filter(Boolean).join(' ');
  const env: Record<string, string> = { ...plan.env, NODE_OPTIONS: nodeOptions, CRUCIBLE_RECORD_ROOT: root, CRUCIBLE_RECORD_DIR: outDir };
  if (samplesPerFunction !== undefined) env.CRUCIBLE_RECORD_SAMPLES = String(samplesPerFunction);
  let argv = plan.argv;
  let globs = plan.globs;
  if (plan.runner === 'mocha') {
    // Mocha takes root hooks (test boundaries) only from its own --require.
    const dashes = argv.indexOf('--');
    const at = dashes < 0 ? argv.length : dashes;
    argv = [...argv.slice(0, at), '--require', preload, ...argv.slice(at)];
    globs = globs?.map((i) => (i >= at ? i + 2 : i));
  }
  if (plan.runner === 'pytest' && pythonDir) {
    // The user's PYTHONPATH (the plan's, else the environment's) stays after ours.
    env.PYTHONPATH = [pythonDir, plan.env?.PYTHONPATH ?? process.env.PYTHONPATH].filter(Boolean).join(path.delimiter);
    // Right after `pytest` (`-m pytest` or the script), so no `--` can turn it into a file name.
    let at = argv.findIndex((w, i) => (w === 'pytest' || w === 'py.test') && argv[i - 1] === '-m');
    if (at < 0) at = argv.findIndex((w) => /^py\.?test$/.test(path.basename(w)));
    if (at < 0) at = argv.indexOf('--') < 0 ? argv.length - 1 : argv.indexOf('--') - 1;
    argv = [...argv.slice(0, at + 1), '-p', pytestRecorderModule, ...argv.slice(at + 1)];
    globs = globs?.map((i) => (i > at ? i + 2 : i));
  }
  return { ...plan, argv, env, ...(globs ? { globs } : {}) };
}

/** Runs the tests with recording; the report is the same as `runTests` would give. */
export async function runTestsRecorded(plan: RunnerPlan, opts: RunTestsOptions, artifacts: RecordArtifact[], options: RecordOptions = {}): Promise<RecordedRun> {
  const root = realpathSync(opts.root ?? plan.cwd);
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'crucible-record-'));
  try {
    // Every Node process of the run loads the preload from where it is (it keeps itself and the other programs out of the recording).
    const preload = runtimeFile('record-preload.cjs');
    const outDir = path.join(tmp, 'out');
    if (plan.runner === 'pytest') copyPytestRecorder(tmp);
    mkdirSync(outDir);
    const report = await runTests(recordingPlan(plan, preload, outDir, root, options.samplesPerFunction, tmp), { ...opts, root: opts.root ?? plan.cwd });
    const recording = collectRecording(outDir, root, artifacts, options.maxSamples ?? 100);
    const notes = pythonRecordingNotes(outDir);
    return { report, recording, ...(notes.length > 0 ? { notes } : {}) };
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

/** The tests of a recorded artifact with their outcomes from the run's report (file-scoped ids: every test of that file). */
export function testResultsOf(recorded: RecordedArtifact, report: TestRunReport): ArtifactTestResult[] {
  const out: ArtifactTestResult[] = [];
  for (const r of report.results) {
    const id = testArtifactId(r);
    if (recorded.tests.has(id) || recorded.fileScoped.has(r.file)) out.push({ testId: id, status: r.status, durationMs: r.durationMs });
  }
  return out;
}
