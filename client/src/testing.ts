/**
 * The Test Explorer: a `vscode.TestController` that maps the server's test truth onto
 * VS Code's Testing view, as rust-analyzer's test explorer does. The server discovers
 * the tests (the index's `suite` and `test` artifacts), runs them with the workspace's
 * own runner and records every run as evidence; this module only shows the items,
 * forwards run requests (and their cancellation) and reports the results it gets back.
 *
 * Items: workspace folder (only when there are several) → file (labelled with its
 * folder-relative path) → suite → test, nested by the artifacts' `parent`. Suite and test
 * items use the artifact id as their id; file items `${folderUri}#${file}`; folder items
 * the folder URI.
 */
import * as vscode from 'vscode';
import type { LanguageClient } from 'vscode-languageclient/node';
import {
  ArtifactsRequest,
  RunTestsRequest,
  type ArtifactInfo,
  type ArtifactsParams,
  type FolderTestRun,
  type RunTestsParams,
  type RunTestsResult,
  type TestRunEventParams,
} from '../../server/src/protocol';
import type { ServerEvents } from './client';

/** What an item stands for; kept beside the item rather than parsed out of its id. */
interface ItemInfo {
  kind: 'folder' | 'file' | 'suite' | 'test';
  folderKey: string;
  /** Folder-relative file (file, suite and test items). */
  file?: string;
  artifact?: ArtifactInfo;
}

export type TestOutcomeState = 'enqueued' | 'started' | 'passed' | 'failed' | 'skipped' | 'errored';
export interface TestOutcome {
  state: TestOutcomeState;
  message?: string;
  durationMs?: number;
}
/** What a run reported, by item id (for the API and the tests; the Testing view has its own copy). */
export interface TestRunReport {
  runId: string;
  outcomes: Map<string, TestOutcome>;
  /** The run's output, as appended to the Test Results terminal (without line endings). */
  output: string[];
  result?: RunTestsResult;
  /** The request's error, when the server refused or failed the run. */
  error?: string;
  /** A coverage run's file coverages, as added to the run. */
  coverage?: vscode.FileCoverage[];
}

/** The part of a `vscode.TestRun` the result mapping uses (a real run, or a recorder in tests). */
export type TestRunSink = Pick<vscode.TestRun, 'enqueued' | 'started' | 'passed' | 'failed' | 'skipped' | 'errored' | 'appendOutput'>;

export const untrustedMessage = 'Running tests runs workspace code, so it needs a trusted workspace. Trust the folder (Workspaces: Manage Workspace Trust) and run again.';

/**
 * Applies a `crucible/runTests` result to a run: each indexed result whose item was
 * requested gets its state, duration and (on failure) a message at the test's location;
 * every requested test left without a result is errored with the reason (the folder's
 * problem, a timeout, a cancel, or no result from the runner). Results for tests that were
 * not requested (a runner that ran a whole file) are left out, so they don't overwrite
 * those tests' last states. Returns each requested item's final outcome.
 */
export function applyRunResult(
  run: TestRunSink,
  result: RunTestsResult,
  requested: readonly vscode.TestItem[],
  folderOf: (item: vscode.TestItem) => string | undefined,
): Map<string, TestOutcome> {
  const outcomes = new Map<string, TestOutcome>();
  const wanted = new Map<string, vscode.TestItem>();
  for (const item of requested) wanted.set(`${folderOf(item) ?? ''}\n${item.id}`, item);
  const folderRuns = new Map<string, FolderTestRun>();
  for (const folder of result.folders) {
    const key = normalizeFolder(folder.folderUri);
    folderRuns.set(key, folder);
    for (const r of folder.results) {
      if (!r.indexed) continue;
      const item = wanted.get(`${key}\n${r.id}`);
      if (!item || outcomes.has(item.id)) continue;
      if (r.status === 'passed') {
        run.passed(item, r.durationMs);
        outcomes.set(item.id, { state: 'passed', durationMs: r.durationMs });
      } else if (r.status === 'skipped') {
        run.skipped(item);
        outcomes.set(item.id, { state: 'skipped' });
      } else {
        const text = r.message ?? `${r.titlePath.join(' > ')} failed`;
        run.failed(item, messageAt(item, text), r.durationMs);
        outcomes.set(item.id, { state: 'failed', message: text, durationMs: r.durationMs });
      }
    }
  }
  for (const item of requested) {
    if (outcomes.has(item.id)) continue;
    const folderKey = folderOf(item);
    const text = missingResultReason(folderKey === undefined ? undefined : folderRuns.get(folderKey));
    run.errored(item, messageAt(item, text));
    outcomes.set(item.id, { state: 'errored', message: text });
  }
  return outcomes;
}

/** Why a requested test has no result, in words a user can act on. */
export function missingResultReason(folder: FolderTestRun | undefined): string {
  if (!folder) return 'No result from the runner: the server ran no tests of this folder.';
  const command = folder.command ? ` (${folder.command})` : '';
  if (folder.cancelled) return `The run was cancelled before this test reported${command}.`;
  if (folder.timedOut) return `The run timed out before this test reported${command}; see crucible.test.timeoutSeconds.`;
  if (folder.problem) return `${folder.problem}${command}`;
  return `No result from the runner for this test${command}: it did not run or was reported under another name.`;
}

function messageAt(item: vscode.TestItem, text: string): vscode.TestMessage {
  const message = new vscode.TestMessage(text);
  if (item.uri) message.location = new vscode.Location(item.uri, item.range ?? new vscode.Position(0, 0));
  return message;
}

function normalizeFolder(folderUri: string): string {
  return vscode.Uri.parse(folderUri).toString();
}

function toRange(r: ArtifactInfo['range']): vscode.Range {
  return new vscode.Range(r.start.line, r.start.character, r.end.line, r.end.character);
}

export class CrucibleTests implements vscode.Disposable {
  readonly controller: vscode.TestController;
  readonly runProfile: vscode.TestRunProfile;
  /** Runs like `runProfile` and adds line coverage of the code the tests executed. */
  readonly coverageProfile: vscode.TestRunProfile;
  /** Line details behind each FileCoverage of a coverage run (for `loadDetailedCoverage`). */
  private readonly coverageDetails = new WeakMap<vscode.FileCoverage, vscode.StatementCoverage[]>();
  private readonly info = new WeakMap<vscode.TestItem, ItemInfo>();
  /** Per folder, suite and test items by artifact id (what results are matched against). */
  private readonly byId = new Map<string, Map<string, vscode.TestItem>>();
  /** Per folder, the last reload: reloads of one folder run one after another. */
  private readonly queues = new Map<string, Promise<void>>();
  private readonly runEvents = new vscode.EventEmitter<TestRunEventParams>();
  /** The server's events for every run (`crucible/testRunEvent`): its command, then its output lines. */
  readonly onRunEvent = this.runEvents.event;
  private readonly loaded = new vscode.EventEmitter<{ folderUri: string; files?: string[] }>();
  /** After the items of a folder (or only of `files`) were reloaded from the server. */
  readonly onDidLoad = this.loaded.event;
  private readonly disposables: vscode.Disposable[] = [];
  private runs = 0;

  constructor(
    private readonly client: LanguageClient,
    events: ServerEvents,
  ) {
    this.controller = vscode.tests.createTestController('crucible', 'Crucible');
    this.controller.refreshHandler = () => this.refresh();
    // The Testing view asks for the top level when it first opens.
    this.controller.resolveHandler = (item) => (item ? undefined : this.refreshIfEmpty());
    this.runProfile = this.controller.createRunProfile('Run', vscode.TestRunProfileKind.Run, (request, token) => this.run(request, token).then(() => undefined), true);
    this.coverageProfile = this.controller.createRunProfile('Coverage', vscode.TestRunProfileKind.Coverage, (request, token) => this.run(request, token, true).then(() => undefined), true);
    this.coverageProfile.loadDetailedCoverage = async (_run, fileCoverage) => this.coverageDetails.get(fileCoverage) ?? [];
    this.disposables.push(
      this.controller,
      this.runEvents,
      this.loaded,
      events.onIndexed(({ folderUri }) => void this.reload(normalizeFolder(folderUri))),
      events.onIndexChanged(({ folderUri, files }) => void this.reload(normalizeFolder(folderUri), files)),
      events.onTestRunEvent((e) => this.runEvents.fire(e)),
      vscode.workspace.onDidChangeWorkspaceFolders(() => void this.refresh()),
    );
  }

  dispose(): void {
    for (const d of this.disposables) d.dispose();
  }

  /** Re-reads every folder's tests from the server; resolves when the items are in place. */
  async refresh(): Promise<void> {
    const folders = vscode.workspace.workspaceFolders ?? [];
    const keys = new Set(folders.map((f) => f.uri.toString()));
    for (const key of [...this.byId.keys()]) if (!keys.has(key)) this.byId.delete(key);
    if (folders.length > 1) {
      this.controller.items.replace(folders.map((f) => this.folderItem(f)));
    } else {
      this.controller.items.forEach((item) => {
        if (this.info.get(item)?.kind === 'folder') this.controller.items.delete(item.id);
      });
    }
    await Promise.all(folders.map((f) => this.reload(f.uri.toString())));
  }

  private async refreshIfEmpty(): Promise<void> {
    if (this.controller.items.size === 0) await this.refresh();
  }

  /** The item with this artifact id in a folder (the first folder when none is given). */
  item(id: string, folderUri?: string): vscode.TestItem | undefined {
    const key = folderUri ? normalizeFolder(folderUri) : vscode.workspace.workspaceFolders?.[0]?.uri.toString();
    return key === undefined ? undefined : this.byId.get(key)?.get(id);
  }

  /**
   * Reloads a folder's tests: the whole folder, or only `files` (after an incremental
   * update). One request either way; only the listed files' items are replaced.
   */
  private reload(folderKey: string, files?: string[]): Promise<void> {
    const previous = this.queues.get(folderKey) ?? Promise.resolve();
    const next = previous.then(() => this.load(folderKey, files)).catch((error: unknown) => {
      this.client.warn(`Test Explorer: could not list the tests of ${folderKey}`, error, false);
    });
    this.queues.set(folderKey, next);
    return next;
  }

  private async load(folderKey: string, files?: string[]): Promise<void> {
    const folder = (vscode.workspace.workspaceFolders ?? []).find((f) => f.uri.toString() === folderKey);
    if (!folder) return;
    const params: ArtifactsParams = { folderUri: folderKey, kinds: ['suite', 'test'] };
    const { artifacts } = await this.client.sendRequest(ArtifactsRequest.type, params);
    const byFile = new Map<string, ArtifactInfo[]>();
    for (const a of artifacts) {
      const list = byFile.get(a.file);
      if (list) list.push(a);
      else byFile.set(a.file, [a]);
    }
    const container = this.containerOf(folder);
    let ids = this.byId.get(folderKey);
    if (!ids || !files) {
      ids = new Map();
      this.byId.set(folderKey, ids);
      container.replace([...byFile.entries()].map(([file, list]) => this.fileItem(folderKey, file, list, ids!)));
      this.loaded.fire({ folderUri: folderKey });
      return;
    }
    for (const file of files) {
      for (const [id, item] of ids) if (this.info.get(item)?.file === file) ids.delete(id);
      const list = byFile.get(file);
      if (list) container.add(this.fileItem(folderKey, file, list, ids));
      else container.delete(`${folderKey}#${file}`);
    }
    this.loaded.fire({ folderUri: folderKey, files });
  }

  /** Where a folder's file items go: the top level, or the folder's item in a multi-root workspace. */
  private containerOf(folder: vscode.WorkspaceFolder): vscode.TestItemCollection {
    if ((vscode.workspace.workspaceFolders?.length ?? 0) <= 1) return this.controller.items;
    const key = folder.uri.toString();
    let item = this.controller.items.get(key);
    if (!item) {
      item = this.folderItem(folder);
      this.controller.items.add(item);
    }
    return item.children;
  }

  private folderItem(folder: vscode.WorkspaceFolder): vscode.TestItem {
    const key = folder.uri.toString();
    const existing = this.controller.items.get(key);
    if (existing) return existing;
    const item = this.controller.createTestItem(key, folder.name, folder.uri);
    this.info.set(item, { kind: 'folder', folderKey: key });
    return item;
  }

  /** A file's item with its suites and tests nested by `parent` (a parent outside the file's tests means top level). */
  private fileItem(folderKey: string, file: string, artifacts: ArtifactInfo[], ids: Map<string, vscode.TestItem>): vscode.TestItem {
    const fileItem = this.controller.createTestItem(`${folderKey}#${file}`, file, vscode.Uri.parse(artifacts[0].uri));
    this.info.set(fileItem, { kind: 'file', folderKey, file });
    const items = new Map<string, vscode.TestItem>();
    for (const a of artifacts) {
      // Overloads or duplicated titles share an id; the first one stands for them.
      if (items.has(a.id)) continue;
      const item = this.controller.createTestItem(a.id, a.name || a.qualifiedName, vscode.Uri.parse(a.uri));
      item.range = toRange(a.range);
      this.info.set(item, { kind: a.kind === 'suite' ? 'suite' : 'test', folderKey, file, artifact: a });
      items.set(a.id, item);
      ids.set(a.id, item);
    }
    for (const a of artifacts) {
      const item = items.get(a.id)!;
      if (this.info.get(item)?.artifact !== a) continue;
      const parent = a.parent !== undefined ? items.get(a.parent) : undefined;
      (parent && parent !== item ? parent : fileItem).children.add(item);
    }
    return fileItem;
  }

  /**
   * The run profile's handler (also callable from tests): sends `crucible/runTests` for the
   * requested items, streams the runner's output into the run, and applies the result.
   * Cancelling the token sends `$/cancelRequest`; the server stops the runner's process
   * group and answers with what it has.
   */
  async run(request: vscode.TestRunRequest, token: vscode.CancellationToken = new vscode.CancellationTokenSource().token, coverage = false): Promise<TestRunReport> {
    const runId = `vscode-${Date.now().toString(36)}-${++this.runs}`;
    const run = this.controller.createTestRun(request, undefined, true);
    const report: TestRunReport = { runId, outcomes: new Map(), output: [] };
    const sink = recording(run, report);
    const subscriptions: vscode.Disposable[] = [];
    try {
      const excluded = new Set(request.exclude ?? []);
      const roots = request.include ?? this.topLevel();
      const tests = this.testsUnder(roots, excluded);
      for (const t of tests) sink.enqueued(t);
      if (tests.length === 0) {
        sink.appendOutput('No Crucible tests were requested.\r\n');
        return report;
      }

      if (!vscode.workspace.isTrusted) {
        for (const t of tests) sink.errored(t, messageAt(t, untrustedMessage));
        report.error = untrustedMessage;
        return report;
      }

      const params: RunTestsParams = { runId, ...(coverage ? { coverage: true } : {}) };
      // No include: every test. Exclusions: name the remaining tests one by one.
      if (request.include) params.ids = excluded.size > 0 ? tests.map((t) => t.id) : this.artifactIdsOf(request.include, excluded);
      subscriptions.push(
        this.runEvents.event((e) => {
          if (e.runId !== runId) return;
          if (e.kind === 'started') {
            sink.appendOutput(`> ${e.text}\r\n`);
            const key = normalizeFolder(e.folderUri);
            for (const t of tests) if (this.info.get(t)?.folderKey === key) sink.started(t);
          } else {
            sink.appendOutput(`${e.text}\r\n`);
          }
        }),
      );

      let result: RunTestsResult;
      try {
        result = await this.client.sendRequest(RunTestsRequest.type, params, token);
      } catch (error) {
        const text = token.isCancellationRequested ? 'The run was cancelled.' : `The test run failed: ${error instanceof Error ? error.message : String(error)}`;
        report.error = text;
        sink.appendOutput(`${text}\r\n`);
        for (const t of tests) sink.errored(t, messageAt(t, text));
        return report;
      }
      report.result = result;
      for (const folder of result.folders) {
        const ran = folder.command ? `${folder.runner}: ${folder.command}` : folder.runner || 'no runner';
        const extra = [folder.problem, folder.timedOut ? 'timed out' : '', folder.cancelled ? 'cancelled' : ''].filter(Boolean).join('; ');
        sink.appendOutput(`${ran} — ${folder.results.length} result${folder.results.length === 1 ? '' : 's'}, exit code ${folder.exitCode ?? 'none'}, ${folder.durationMs} ms${extra ? ` (${extra})` : ''}\r\n`);
        if (folder.workspaceChanges) {
          sink.appendOutput(`Crucible: ${folder.workspaceChanges.message}\r\n`);
          void vscode.window.showWarningMessage(`Crucible: ${folder.workspaceChanges.message}`);
        }
      }
      applyRunResult(sink, result, tests, (item) => this.info.get(item)?.folderKey);
      if (coverage) report.coverage = this.addCoverage(run, result);
      return report;
    } finally {
      for (const s of subscriptions) s.dispose();
      run.end();
    }
  }

  /** Line coverage per file into the run; each line is one statement (executed once or not). */
  private addCoverage(run: vscode.TestRun, result: RunTestsResult): vscode.FileCoverage[] {
    const added: vscode.FileCoverage[] = [];
    for (const folder of result.folders) {
      for (const f of folder.coverage ?? []) {
        const details = [
          ...f.covered.map((line) => new vscode.StatementCoverage(1, new vscode.Range(line, 0, line, Number.MAX_SAFE_INTEGER))),
          ...f.uncovered.map((line) => new vscode.StatementCoverage(0, new vscode.Range(line, 0, line, Number.MAX_SAFE_INTEGER))),
        ].sort((a, b) => (a.location as vscode.Range).start.line - (b.location as vscode.Range).start.line);
        const fileCoverage = new vscode.FileCoverage(vscode.Uri.parse(f.uri), new vscode.TestCoverageCount(f.covered.length, f.covered.length + f.uncovered.length));
        this.coverageDetails.set(fileCoverage, details);
        run.addCoverage(fileCoverage);
        added.push(fileCoverage);
      }
    }
    return added;
  }

  private topLevel(): vscode.TestItem[] {
    const items: vscode.TestItem[] = [];
    this.controller.items.forEach((item) => items.push(item));
    return items;
  }

  /** Every test item at or under `roots`, minus the excluded subtrees, in tree order. */
  private testsUnder(roots: readonly vscode.TestItem[], excluded: ReadonlySet<vscode.TestItem>): vscode.TestItem[] {
    const out: vscode.TestItem[] = [];
    const seen = new Set<vscode.TestItem>();
    const visit = (item: vscode.TestItem) => {
      if (excluded.has(item) || seen.has(item)) return;
      seen.add(item);
      if (this.info.get(item)?.kind === 'test') out.push(item);
      item.children.forEach(visit);
    };
    roots.forEach(visit);
    return out;
  }

  /** Artifact ids the server needs for these items: a suite or test its own, a file or folder its top-level ones. */
  private artifactIdsOf(items: readonly vscode.TestItem[], excluded: ReadonlySet<vscode.TestItem>): string[] {
    const ids = new Set<string>();
    const visit = (item: vscode.TestItem) => {
      if (excluded.has(item)) return;
      const info = this.info.get(item);
      if (info?.artifact) ids.add(info.artifact.id);
      else item.children.forEach(visit);
    };
    items.forEach(visit);
    return [...ids];
  }
}

/** Passes every call on to the real run and records the final state per item for the report. */
function recording(run: vscode.TestRun, report: TestRunReport): TestRunSink {
  const set = (item: vscode.TestItem, outcome: TestOutcome) => report.outcomes.set(item.id, outcome);
  const text = (m: vscode.TestMessage | readonly vscode.TestMessage[]) =>
    (Array.isArray(m) ? m : [m as vscode.TestMessage]).map((x) => (typeof x.message === 'string' ? x.message : x.message.value)).join('\n');
  return {
    enqueued: (item) => (run.enqueued(item), set(item, { state: 'enqueued' })),
    started: (item) => (run.started(item), set(item, { state: 'started' })),
    passed: (item, durationMs) => (run.passed(item, durationMs), set(item, { state: 'passed', durationMs })),
    skipped: (item) => (run.skipped(item), set(item, { state: 'skipped' })),
    failed: (item, message, durationMs) => (run.failed(item, message, durationMs), set(item, { state: 'failed', message: text(message), durationMs })),
    errored: (item, message, durationMs) => (run.errored(item, message, durationMs), set(item, { state: 'errored', message: text(message), durationMs })),
    appendOutput: (output, location, test) => {
      run.appendOutput(output, location, test);
      report.output.push(...output.replace(/\r\n$/, '').split('\r\n'));
    },
  };
}
