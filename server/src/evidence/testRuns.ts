/**
 * Running a workspace folder's tests for the editor or the CLI: choose the runner
 * (setting, else detection), narrow the command to the requested tests, run it,
 * match results to indexed test artifacts, and record the run as evidence.
 *
 * No LSP here: the server and the CLI call it. It never runs anything unless its
 * caller has established that the workspace is trusted.
 */
import { createHash } from 'node:crypto';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import type { BenchmarkOutcome, FolderTestRun, TestResultInfo } from '../protocol';
import type { ArtifactRecord } from '../index/extract';
import type { WorkspaceIndex } from '../index/workspace';
import type { ArtifactRunInput, Run } from './model';
import type { EvidenceStore } from './store';
import { detectRunners, planFromCommand } from './runners/detect';
import { runTestsRecorded, testResultsOf } from './record/record';
import { benchmarkInProcesses, toBenchEvidence } from './bench/replay';
import { testArtifactId, type RunnerPlan } from './runners/types';
import { describeWorkspaceChanges, snapshotWorkspace, workspaceChanges } from './workspaceWrites';

export interface FolderTestRunOptions {
  runId: string;
  /** Test or suite artifact ids; empty: all tests. */
  ids?: string[];
  /** `crucible.test.command` (empty: detect) and `crucible.test.timeoutSeconds`. */
  settings: { command: string; timeoutSeconds: number };
  signal?: AbortSignal;
  onOutput?: (line: string) => void;
  onStarted?: (command: string) => void;
  /** Return line coverage per file. */
  coverage?: boolean;
}

export async function choosePlan(root: string, command: string): Promise<{ plan?: RunnerPlan; problem?: string }> {
  if (command) {
    const plan = planFromCommand(command, root);
    return plan ? { plan } : { problem: `crucible.test.command "${command}" is not a command Crucible recognises (node --test, mocha, jest, vitest or pytest).` };
  }
  const plans = await detectRunners(root);
  if (plans.length === 0) return { problem: 'No test runner found (no test script, runner config or test files). Set crucible.test.command to the command that runs your tests.' };
  return { plan: plans[0] };
}

/**
 * Which files and title filter run exactly the requested tests, or a superset of
 * them: one artifact → its file and its title; several → their files.
 */
export function narrow(artifacts: ArtifactRecord[]): { files?: string[]; grep?: string } {
  if (artifacts.length === 0) return {};
  const files = [...new Set(artifacts.map((a) => a.file))];
  if (artifacts.length === 1) return { files, grep: artifacts[0].name };
  return { files };
}

export async function runFolderTests(index: WorkspaceIndex, evidence: EvidenceStore | undefined, folderUri: string, options: FolderTestRunOptions): Promise<FolderTestRun> {
  const started = performance.now();
  const empty = (problem: string, runner = '', command = ''): FolderTestRun => ({ folderUri, runner, command, exitCode: null, timedOut: false, cancelled: false, problem, results: [], durationMs: Math.round(performance.now() - started) });
  const { plan, problem } = await choosePlan(index.root, options.settings.command);
  if (!plan) return empty(problem!);

  const requested = (options.ids ?? []).map((id) => index.get(id)).filter((a): a is ArtifactRecord => a !== undefined && (a.kind === 'test' || a.kind === 'suite'));
  if ((options.ids?.length ?? 0) > 0 && requested.length === 0) return empty(`None of the requested tests is in the index of this folder.`, plan.runner, plan.argv.join(' '));
  const narrowed = narrow(requested);
  // What ran, as a user could re-run it (without Crucible's reporter and recorder).
  const command = [plan.argv.join(' '), ...(narrowed.files ? [`(files: ${narrowed.files.join(', ')})`] : []), ...(narrowed.grep ? [`(tests named "${narrowed.grep}")`] : [])].join(' ');
  options.onStarted?.(command);
  const before = snapshotWorkspace(index.root);
  // Every run records which functions each test executed and samples their calls
  // (server/src/evidence/record/): the code artifacts of the folder are what it maps to.
  const code = index.artifacts({ kinds: ['function', 'method', 'class'] });
  const { report, recording, notes } = await runTestsRecorded(
    plan,
    {
      ...narrowed,
      root: index.root,
      timeoutMs: options.settings.timeoutSeconds * 1000,
      signal: options.signal,
      onOutput: options.onOutput,
    },
    code,
  );

  // Why the recorder stayed out (coverage.py or a debugger active, …): said where the run's output goes.
  for (const note of notes ?? []) options.onOutput?.(`[crucible] ${note}`);
  const changed = workspaceChanges(before, snapshotWorkspace(index.root));
  const changedMessage = changed ? describeWorkspaceChanges(changed) : undefined;
  if (changedMessage) options.onOutput?.(`[crucible] ${changedMessage}`);

  const results: TestResultInfo[] = report.results.map((r) => {
    const id = testArtifactId(r);
    const message = r.error ? [r.error.message, r.error.stack].filter(Boolean).join('\n') : undefined;
    return { id, indexed: index.get(id)?.kind === 'test', file: r.file, titlePath: r.titlePath, status: r.status, durationMs: Math.round(r.durationMs * 100) / 100, ...(message ? { message } : {}) };
  });

  if (evidence && results.length > 0) {
    const run: Run = {
      id: options.runId,
      at: new Date(Date.now() - report.durationMs).toISOString(),
      kind: 'test',
      command,
      outcomes: results.map((r) => ({ testId: r.id, status: r.status, durationMs: r.durationMs, ...(r.message ? { error: r.message.split('\n')[0] } : {}) })),
    };
    const perArtifact = new Map<string, ArtifactRunInput>();
    // Per code artifact, the tests that executed it (one pass over the report each), and per
    // test what it executed, as `id=hash` of the code artifacts (for its codeHash below).
    const testsOf = new Map<string, ArtifactRunInput['tests']>();
    const executed = new Map<string, string[]>();
    for (const [id, rec] of recording.artifacts) {
      const a = index.get(id);
      if (!a) continue;
      const tests = testResultsOf(rec, report).map((t) => {
        const test = index.get(t.testId);
        return test ? { ...t, testHash: test.hash } : t;
      });
      testsOf.set(id, tests);
      for (const t of tests) {
        const list = executed.get(t.testId);
        if (list) list.push(`${id}=${a.hash}`);
        else executed.set(t.testId, [`${id}=${a.hash}`]);
      }
    }
    // The tests themselves: each one's outcome proves (or not) its own code, and its
    // codeHash tells drift whether the code it ran changed (a failure then is not flaky).
    for (const r of results) {
      const test = r.indexed ? index.get(r.id) : undefined;
      if (!test) continue;
      const ran = executed.get(test.id);
      const codeHash = ran ? createHash('sha256').update(ran.sort().join('\n')).digest('hex').slice(0, 16) : undefined;
      perArtifact.set(test.id, { hash: test.hash, tests: [{ testId: test.id, status: r.status, durationMs: r.durationMs, testHash: test.hash, ...(codeHash ? { codeHash } : {}) }] });
    }
    // The code they executed: which tests ran it, how often, with what, how much of it.
    for (const [id, rec] of recording.artifacts) {
      const a = index.get(id);
      const tests = testsOf.get(id);
      if (!a || !tests) continue;
      perArtifact.set(id, {
        hash: a.hash,
        tests,
        calls: rec.calls,
        ...(rec.samples.length > 0 ? { callSamples: rec.samples } : {}),
        // Throws are seen only on sampled calls: an error count is exact (and stored) only
        // when every call was sampled; otherwise it is left out as not measured.
        ...(rec.samples.length > 0 && rec.samples.length >= rec.calls ? { errors: rec.sampledErrors } : {}),
        ...(rec.coverableLines > 0 ? { coveredLines: rec.coveredLines, coverableLines: rec.coverableLines } : {}),
      });
    }
    evidence.addRun(run, perArtifact);
  }

  return {
    folderUri,
    runner: report.runner,
    command,
    exitCode: report.exitCode,
    timedOut: report.timedOut,
    cancelled: report.cancelled,
    ...(report.problem ? { problem: report.problem } : {}),
    results,
    durationMs: Math.round(performance.now() - started),
    ...(changed && changedMessage ? { workspaceChanges: { ...changed, message: changedMessage } } : {}),
    ...(options.coverage
      ? { coverage: [...recording.files].sort(([x], [y]) => (x < y ? -1 : 1)).map(([file, c]) => ({ file, uri: pathToFileURL(path.join(index.root, file)).toString(), covered: c.covered, uncovered: c.uncovered })) }
      : {}),
  };
}

/**
 * Benchmarks artifacts on their recorded calls (all with recorded calls, or `ids`),
 * one after another in isolated workers, and records one `bench` run as evidence.
 */
export async function benchmarkFolder(
  index: WorkspaceIndex,
  evidence: EvidenceStore,
  options: { runId: string; ids?: string[]; maxSecondsPerArtifact: number; signal?: AbortSignal; onProgress?: (done: number, total: number, id: string) => void },
): Promise<BenchmarkOutcome[]> {
  const wanted = options.ids && options.ids.length > 0 ? options.ids : evidence.artifacts();
  const targets = wanted
    .map((id) => index.get(id))
    .filter((a): a is ArtifactRecord => a !== undefined && (a.kind === 'function' || a.kind === 'method') && evidence.callSamples(a.id).length > 0);
  const outcomes: BenchmarkOutcome[] = [];
  const perArtifact = new Map<string, ArtifactRunInput>();
  const startedAt = new Date().toISOString();
  for (let i = 0; i < targets.length; i++) {
    if (options.signal?.aborted) break;
    const a = targets[i];
    options.onProgress?.(i, targets.length, a.id);
    const r = await benchmarkInProcesses({ root: index.root, artifact: { id: a.id, file: a.file, qualifiedName: a.qualifiedName, kind: a.kind }, samples: evidence.callSamples(a.id), maxSeconds: options.maxSecondsPerArtifact, signal: options.signal });
    if (r.ok) {
      outcomes.push({ id: a.id, ok: true, medianNs: r.medianNs, ciLowNs: r.ciLowNs, ciHighNs: r.ciHighNs });
      perArtifact.set(a.id, { hash: a.hash, tests: [], bench: toBenchEvidence(r) });
    } else outcomes.push({ id: a.id, ok: false, reason: r.reason });
  }
  for (const id of options.ids ?? []) if (!targets.some((t) => t.id === id)) outcomes.push({ id, ok: false, reason: index.get(id) ? 'no recorded calls to replay: run its tests through Crucible first' : 'not in the index' });
  if (perArtifact.size > 0) evidence.addRun({ id: options.runId, at: startedAt, kind: 'bench', command: `benchmark ${perArtifact.size} artifact(s), ≤ ${options.maxSecondsPerArtifact} s each`, outcomes: [] }, perArtifact);
  return outcomes;
}
