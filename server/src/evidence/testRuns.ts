/**
 * Running a workspace folder's tests for the editor or the CLI: choose the runner
 * (setting, else detection), narrow the command to the requested tests, run it,
 * match results to indexed test artifacts, and record the run as evidence.
 *
 * No LSP here: the server and the CLI call it. It never runs anything unless its
 * caller has established that the workspace is trusted.
 */
import type { FolderTestRun, TestResultInfo } from '../protocol';
import type { ArtifactRecord } from '../index/extract';
import type { WorkspaceIndex } from '../index/workspace';
import type { ArtifactRunInput, Run } from './model';
import type { EvidenceStore } from './store';
import { detectRunners, planFromCommand } from './runners/detect';
import { runTests } from './runners/run';
import { testArtifactId, type RunnerPlan } from './runners/types';

export interface FolderTestRunOptions {
  runId: string;
  /** Test or suite artifact ids; empty: all tests. */
  ids?: string[];
  /** `crucible.test.command` (empty: detect) and `crucible.test.timeoutSeconds`. */
  settings: { command: string; timeoutSeconds: number };
  signal?: AbortSignal;
  onOutput?: (line: string) => void;
  onStarted?: (command: string) => void;
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
  const command = plan.argv.join(' ');
  options.onStarted?.(command);
  const report = await runTests(plan, {
    ...narrow(requested),
    root: index.root,
    timeoutMs: options.settings.timeoutSeconds * 1000,
    signal: options.signal,
    onOutput: options.onOutput,
  });

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
    // Until calls are recorded, what a run proves is about the tests themselves.
    const perArtifact = new Map<string, ArtifactRunInput>();
    for (const r of results) {
      const test = r.indexed ? index.get(r.id) : undefined;
      if (!test) continue;
      perArtifact.set(test.id, { hash: test.hash, tests: [{ testId: test.id, status: r.status, durationMs: r.durationMs, testHash: test.hash }] });
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
  };
}
