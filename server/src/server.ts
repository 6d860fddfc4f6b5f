/**
 * Crucible's language server: LSP wiring only. Each workspace folder has a FolderEngine
 * (folder.ts) that does the work; the handlers below find the folder, call the engine and
 * translate its results into LSP (presentation for editors lives in lsp/).
 *
 * Settings flow: the client sends `workspace/didChangeConfiguration`; the server then pulls
 * `crucible` per folder with `workspace/configuration`, normalises it (settings.ts) and
 * hands it to the folder's engine at once (docs/settings.md).
 */
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  type CancellationToken,
  createConnection,
  DidChangeConfigurationNotification,
  ErrorCodes,
  FileChangeType,
  ProposedFeatures,
  ResponseError,
  TextDocuments,
  TextDocumentSyncKind,
  type SymbolInformation,
  type WorkspaceFolder,
} from 'vscode-languageserver/node';
import { TextDocument } from 'vscode-languageserver-textdocument';
import {
  AgentsRequest,
  type AgentsResult,
  type ArtifactInfo,
  ArtifactsRequest,
  BenchmarkRequest,
  type BenchmarkOutcome,
  DriftChangedNotification,
  type DriftEventInfo,
  DriftRequest,
  type FolderSummary,
  type FolderTestRun,
  IndexChangedNotification,
  IndexedNotification,
  OptimizeChangedNotification,
  OptimizeRequest,
  type OptimizeResult,
  ReindexRequest,
  RunTestsRequest,
  SimilarRequest,
  StatusNotification,
  type StatusParams,
  TestRunEventNotification,
  VariantActionRequest,
  type VariantActionResult,
  WorkspaceTrustNotification,
} from './protocol';
import { configurationSection, normalizeSettings, type CrucibleSettings, type SettingsLayer } from './settings';
import { FolderEngine, TrustRequiredError } from './folder';
import { formatNs } from './format';
import { toRel } from './index/files';
import { languageForPath } from './index/languages';
import type { ArtifactRecord } from './index/extract';
import { isRegression } from './drift/detect';
import { artifactInfo, fileUri, workspaceSymbols } from './lsp/artifacts';
import { variantLenses } from './lsp/codeLens';
import { fileDiagnostics, filesWithDiagnostics } from './lsp/diagnostics';
import { evidenceMarkdown } from './lsp/hover';

const connection = createConnection(ProposedFeatures.all);
const documents = new TextDocuments(TextDocument);
const owner = `Crucible language server (pid ${process.pid})`;

/** A workspace folder: its engine, and what this connection has published for it. */
interface Folder {
  uri: string;
  engine: FolderEngine;
  /** Files that have a diagnostic published now (rel path → its content), to clear and to skip resends. */
  diagnostics: Map<string, string>;
}
const folders = new Map<string, Folder>();

/**
 * Open documents by file path. Clients spell file URIs differently (Neovim writes
 * `%c3%a9` where Node writes `%C3%A9`), so a URI built here must not be used to
 * look up one the client sent.
 */
const openByPath = new Map<string, string>();
function openDocumentAt(file: string): TextDocument | undefined {
  const uri = openByPath.get(file);
  return uri === undefined ? undefined : documents.get(uri);
}

let initialFolders: WorkspaceFolder[] = [];
let canPullConfiguration = false;
let canRegisterConfiguration = false;
let initOptionsSettings: SettingsLayer = {};
/**
 * Workspace Trust, as the client reports it (`initializationOptions.trusted`, then
 * `crucible/workspaceTrust`). Every engine refuses to run workspace code until it is true.
 */
let trusted = false;
let state: StatusParams = { state: 'starting', files: 0, artifacts: 0 };

// ---- lifecycle and folders --------------------------------------------------------------

connection.onInitialize((params) => {
  const caps = params.capabilities;
  canPullConfiguration = caps.workspace?.configuration === true;
  canRegisterConfiguration = caps.workspace?.didChangeConfiguration?.dynamicRegistration === true;
  const initOptions = params.initializationOptions as { settings?: SettingsLayer; trusted?: boolean } | undefined;
  initOptionsSettings = initOptions?.settings ?? {};
  trusted = initOptions?.trusted === true;
  initialFolders = params.workspaceFolders ?? (params.rootUri ? [{ uri: params.rootUri, name: path.basename(fileURLToPath(params.rootUri)) }] : []);
  return {
    capabilities: {
      textDocumentSync: { openClose: true, change: TextDocumentSyncKind.Incremental, save: { includeText: false } },
      workspaceSymbolProvider: true,
      hoverProvider: true,
      codeLensProvider: { resolveProvider: false },
      workspace: { workspaceFolders: { supported: true, changeNotifications: true } },
    },
    serverInfo: { name: 'crucible', version: '0.1.0' },
  };
});

connection.onInitialized(async () => {
  if (canRegisterConfiguration) await connection.client.register(DidChangeConfigurationNotification.type, { section: configurationSection });
  connection.workspace.onDidChangeWorkspaceFolders((e) => {
    for (const removed of e.removed) void removeFolder(removed.uri);
    for (const added of e.added) void addFolder(added);
  });
  await Promise.all(initialFolders.map((f) => addFolder(f)));
  if (initialFolders.length === 0) publishStatus();
});

async function settingsFor(uri: string): Promise<CrucibleSettings> {
  let pulled: SettingsLayer = {};
  if (canPullConfiguration) {
    try {
      pulled = (await connection.workspace.getConfiguration({ scopeUri: uri, section: configurationSection })) as SettingsLayer;
    } catch {
      pulled = {};
    }
  }
  return normalizeSettings(initOptionsSettings, pulled);
}

async function addFolder(wf: WorkspaceFolder): Promise<void> {
  if (folders.has(wf.uri) || !wf.uri.startsWith('file:')) return;
  const root = fileURLToPath(wf.uri);
  const tag = (m: string) => `[${wf.name}] ${m}`;
  const engine = await FolderEngine.create(root, {
    settings: await settingsFor(wf.uri),
    owner,
    trusted,
    log: (m) => connection.console.info(tag(m)),
    warn: (m) => connection.console.warn(tag(m)),
    onProblem: (m) => {
      connection.console.warn(tag(m));
      announceProblem(wf.name, m);
    },
    overlay: (rel) => openDocumentAt(path.join(root, rel))?.getText(),
    onDriftChanged: (files) => {
      const folder = folders.get(wf.uri);
      if (!folder) return;
      for (const rel of files) publishFileDiagnostics(folder, rel);
      connection.sendNotification(DriftChangedNotification.type, { folderUri: wf.uri });
    },
  });
  connection.console.info(tag(engine.embedderReason));
  const folder: Folder = { uri: wf.uri, engine, diagnostics: new Map() };
  folders.set(wf.uri, folder);
  engine.trusted = trusted; // trust may have been granted while the engine was being made
  await engine.ready;
  await reindexFolder(folder, false);
}

// Store problems come in bursts (16 corrupt shards): every one goes to the log,
// and the user gets one notification per burst.
const pendingProblems: string[] = [];
function announceProblem(folderName: string, message: string): void {
  pendingProblems.push(`[${folderName}] ${message}`);
  if (pendingProblems.length > 1) return;
  setTimeout(() => {
    const [first, ...rest] = pendingProblems.splice(0);
    const more = rest.length > 0 ? ` (and ${rest.length} more; see the Crucible output)` : '';
    void connection.window.showWarningMessage(`Crucible: ${first}${more}`);
  }, 200);
}

async function removeFolder(uri: string): Promise<void> {
  const folder = folders.get(uri);
  if (!folder) return;
  folders.delete(uri);
  for (const rel of folder.diagnostics.keys()) void connection.sendDiagnostics({ uri: fileUri(folder.engine, rel), diagnostics: [] });
  await folder.engine.close();
  publishStatus();
}

async function reindexFolder(folder: Folder, force: boolean): Promise<FolderSummary | undefined> {
  const { engine } = folder;
  await engine.ready;
  const progress = await connection.window.createWorkDoneProgress();
  progress.begin('Crucible: indexing', 0, engine.name, false);
  let summary: FolderSummary | undefined;
  const running = engine.indexAll({
    force,
    onProgress: (() => {
      let lastPercent = -1;
      return (p: { done: number; total: number }) => {
        const percent = p.total === 0 ? 100 : Math.floor((p.done / p.total) * 100);
        if (percent === lastPercent) return;
        lastPercent = percent;
        progress.report(percent, `${p.done}/${p.total} files`);
        state = { ...state, state: 'indexing', percent };
        connection.sendNotification(StatusNotification.type, { ...aggregate(), state: 'indexing', percent });
      };
    })(),
  });
  publishStatus(); // the engine counts this pass as indexing from here
  try {
    summary = await running;
  } catch (err) {
    connection.console.error(`indexing ${engine.root} failed: ${(err as Error).stack ?? err}`);
    state = { ...state, state: 'error', message: (err as Error).message };
  } finally {
    progress.done();
  }
  if (summary && folders.get(folder.uri) === folder) {
    summary = { ...summary, folderUri: folder.uri };
    connection.console.info(`[${engine.name}] indexed ${summary.files} files, ${summary.artifacts} artifacts in ${summary.ms} ms (${summary.skipped} skipped, ${summary.parseErrors} with parse errors)`);
    connection.sendNotification(IndexedNotification.type, summary);
    publishFolderDiagnostics(folder);
  }
  publishStatus();
  return summary;
}

function aggregate(): { files: number; artifacts: number } {
  let files = 0;
  let artifacts = 0;
  for (const { engine } of folders.values()) {
    files += engine.index.fileCount;
    artifacts += engine.index.artifactCount;
  }
  return { files, artifacts };
}

function publishStatus(): void {
  const indexing = [...folders.values()].some((f) => f.engine.indexing > 0);
  if (state.state !== 'error' || indexing) state = { ...aggregate(), state: indexing ? 'indexing' : 'ready' };
  else state = { ...state, ...aggregate() };
  connection.sendNotification(StatusNotification.type, state);
}

connection.onDidChangeConfiguration(async () => {
  for (const folder of folders.values()) {
    const changes = await folder.engine.applySettings(await settingsFor(folder.uri));
    if (changes.diagnostics) publishFolderDiagnostics(folder);
    if (changes.walk || changes.embedder) void reindexFolder(folder, false);
  }
});

connection.onNotification(WorkspaceTrustNotification.type, (p) => {
  trusted = p.trusted === true;
  for (const { engine } of folders.values()) engine.trusted = trusted;
});

connection.onShutdown(async () => {
  await Promise.all([...folders.values()].map((f) => f.engine.close()));
});

/** The folder that contains a file URI (the innermost, for nested folders). */
function locate(uri: string): { folder: Folder; rel: string } | undefined {
  if (!uri.startsWith('file:')) return undefined;
  const file = fileURLToPath(uri);
  let best: Folder | undefined;
  for (const f of folders.values()) {
    const root = f.engine.root;
    if ((file === root || file.startsWith(root + path.sep)) && (!best || root.length > best.engine.root.length)) best = f;
  }
  return best ? { folder: best, rel: toRel(best.engine.root, file) } : undefined;
}

/** The folders a request addresses: one (`folderUri`), or all. */
function foldersFor(folderUri: string | undefined): Folder[] {
  return [...folders.values()].filter((f) => !folderUri || f.uri === folderUri);
}

/** The requested ids this folder owns; undefined when ids were requested and none is here (skip the folder). */
function idsIn(folder: Folder, ids: string[] | undefined): string[] | undefined | null {
  if (!ids || ids.length === 0) return undefined;
  const own = ids.filter((id) => folder.engine.index.get(id) !== undefined);
  return own.length > 0 ? own : null;
}

// ---- documents and files ----------------------------------------------------------------

// Edits are re-indexed after a short pause in typing: one parse per burst, not per keystroke.
const pendingEdits = new Map<string, NodeJS.Timeout>();
function scheduleDocument(uri: string, delayMs: number): void {
  const prev = pendingEdits.get(uri);
  if (prev) clearTimeout(prev);
  pendingEdits.set(
    uri,
    setTimeout(() => {
      pendingEdits.delete(uri);
      void updateFile(uri, documents.get(uri)?.getText());
    }, delayMs),
  );
}

async function updateFile(uri: string, text: string | undefined): Promise<void> {
  const where = locate(uri);
  if (!where || !languageForPath(where.rel)) return;
  const changed = await where.folder.engine.updateFile(where.rel, text);
  publishFileDiagnostics(where.folder, where.rel);
  if (changed) notifyChanged(where.folder, [where.rel]);
}

function notifyChanged(folder: Folder, files: string[]): void {
  connection.sendNotification(IndexChangedNotification.type, { folderUri: folder.uri, files });
  publishStatus();
}

documents.onDidOpen((e) => {
  if (e.document.uri.startsWith('file:')) openByPath.set(fileURLToPath(e.document.uri), e.document.uri);
  scheduleDocument(e.document.uri, 0);
  // Then parse it for incremental re-indexing, so typing never waits for a full parse.
  setTimeout(() => {
    const where = locate(e.document.uri);
    const doc = documents.get(e.document.uri);
    if (where && doc) where.folder.engine.index.primeEditorState(where.rel, doc.getText());
  }, 50);
});
documents.onDidChangeContent((e) => scheduleDocument(e.document.uri, 150));
documents.onDidSave((e) => scheduleDocument(e.document.uri, 0));
// Closing without saving: the disk is the truth again.
documents.onDidClose((e) => {
  if (e.document.uri.startsWith('file:')) openByPath.delete(fileURLToPath(e.document.uri));
  const where = locate(e.document.uri);
  where?.folder.engine.index.releaseEditorState(where.rel);
  void updateFile(e.document.uri, undefined);
});

connection.onDidChangeWatchedFiles(async ({ changes }) => {
  const touched = new Map<Folder, string[]>();
  for (const change of changes) {
    const where = locate(change.uri);
    if (!where) continue;
    const { folder, rel } = where;
    if (rel === '.gitignore' || rel.endsWith('/.gitignore')) {
      if (!folder.engine.index.gitignoreMatters(rel)) continue;
      folder.engine.index.gitignoreChanged();
      void reindexFolder(folder, false);
      continue;
    }
    if (!languageForPath(rel) || openDocumentAt(path.join(folder.engine.root, rel))) continue; // open documents follow the buffer
    const changed = change.type === FileChangeType.Deleted ? await folder.engine.removeFile(rel) : await folder.engine.updateFile(rel);
    publishFileDiagnostics(folder, rel);
    if (changed) touched.set(folder, [...(touched.get(folder) ?? []), rel]);
  }
  for (const [folder, files] of touched) notifyChanged(folder, files);
});

// ---- diagnostics ------------------------------------------------------------------------

function publishFileDiagnostics(folder: Folder, rel: string): void {
  const diagnostics = fileDiagnostics(folder.engine, rel);
  const key = diagnostics.length > 0 ? JSON.stringify(diagnostics) : undefined;
  if (key === folder.diagnostics.get(rel)) return;
  if (key) folder.diagnostics.set(rel, key);
  else folder.diagnostics.delete(rel);
  void connection.sendDiagnostics({ uri: fileUri(folder.engine, rel), diagnostics });
}

function publishFolderDiagnostics(folder: Folder): void {
  for (const rel of filesWithDiagnostics(folder.engine, folder.diagnostics.keys())) publishFileDiagnostics(folder, rel);
}

// ---- index queries ----------------------------------------------------------------------

connection.onHover(async ({ textDocument, position }) => {
  const where = locate(textDocument.uri);
  if (!where) return null;
  await where.folder.engine.ready;
  const a = where.folder.engine.index.artifactAt(where.rel, position);
  // Only on the name: hovering anywhere in a body belongs to the language's own hover.
  if (!a || position.line !== a.selectionRange.start.line || position.character < a.selectionRange.start.character || position.character > a.selectionRange.end.character) return null;
  return { contents: { kind: 'markdown', value: evidenceMarkdown(where.folder.engine, a) }, range: a.selectionRange };
});

connection.onWorkspaceSymbol(async ({ query }) => {
  const out: SymbolInformation[] = [];
  for (const { engine } of folders.values()) {
    await engine.ready;
    out.push(...workspaceSymbols(engine, query));
  }
  return out.slice(0, 500);
});

connection.onRequest(ArtifactsRequest.type, async (params) => {
  let all: ArtifactInfo[] = [];
  for (const folder of foldersFor(params.folderUri)) {
    await folder.engine.ready;
    let file: string | undefined;
    if (params.uri) {
      const where = locate(params.uri);
      if (where?.folder !== folder) continue;
      file = where.rel;
    }
    all = all.concat(folder.engine.index.artifacts({ file, kinds: params.kinds, query: params.query }).map((a) => artifactInfo(folder.engine, a)));
  }
  return { artifacts: params.limit !== undefined ? all.slice(0, params.limit) : all, total: all.length };
});

connection.onRequest(SimilarRequest.type, async (params) => {
  const k = Math.max(1, Math.min(params.k ?? 10, 100));
  let engine: FolderEngine | undefined;
  let source: ArtifactRecord | undefined;
  if (params.id) {
    for (const f of folders.values()) {
      await f.engine.ready;
      source = f.engine.index.get(params.id);
      if (source) {
        engine = f.engine;
        break;
      }
    }
  } else if (params.textDocument && params.position) {
    const where = locate(params.textDocument.uri);
    if (where) {
      engine = where.folder.engine;
      await engine.ready;
      source = engine.index.artifactAt(where.rel, params.position);
    }
  }
  if (!engine || !source) return { items: [], embedder: engine?.index.embedderId ?? '' };
  const e = engine;
  return {
    source: artifactInfo(e, source),
    items: e.index.similar(source.id, k).map((n) => ({ artifact: artifactInfo(e, n.artifact), score: Math.round(n.score * 1e4) / 1e4 })),
    embedder: e.index.embedderId,
  };
});

connection.onRequest(ReindexRequest.type, async (params) => {
  const summaries: FolderSummary[] = [];
  for (const folder of folders.values()) {
    const s = await reindexFolder(folder, params.force === true);
    if (s) summaries.push(s);
  }
  return summaries;
});

// ---- work that runs workspace code: tests, benchmarks, optimization ---------------------

/** Refused unless trusted (with or without folders); aborted when the client cancels. */
function startWorkspaceCode(what: string, token: CancellationToken | undefined): AbortController {
  if (!trusted) throw asResponseError(new TrustRequiredError(what));
  const abort = new AbortController();
  token?.onCancellationRequested(() => abort.abort()); // a client may send no token at all
  return abort;
}

function asResponseError(err: unknown): unknown {
  return err instanceof TrustRequiredError ? new ResponseError(ErrorCodes.InvalidRequest, err.message) : err;
}

/** An engine call whose refusal (an untrusted folder) reaches the client as a request error. */
async function refusedAsResponseError<T>(work: Promise<T>): Promise<T> {
  try {
    return await work;
  } catch (err) {
    throw asResponseError(err);
  }
}

connection.onRequest(RunTestsRequest.type, async (params, token) => {
  const abort = startWorkspaceCode('Running tests', token);
  const out: FolderTestRun[] = [];
  for (const folder of foldersFor(params.folderUri)) {
    const { engine } = folder;
    await engine.ready;
    const ids = idsIn(folder, params.ids);
    if (ids === null) continue; // none of the requested tests lives here
    const event = (kind: 'started' | 'output', text: string) => connection.sendNotification(TestRunEventNotification.type, { runId: params.runId, folderUri: folder.uri, kind, text });
    const { run, changedFiles } = await refusedAsResponseError(
      engine.runTests({
        runId: folders.size > 1 ? `${params.runId}:${engine.name}` : params.runId,
        ids,
        coverage: params.coverage === true,
        signal: abort.signal,
        onStarted: (command) => {
          connection.console.info(`[${engine.name}] running tests: ${command}`);
          event('started', command);
        },
        onOutput: (line) => {
          connection.console.log(`[${engine.name}] ${line}`);
          event('output', line);
        },
      }),
    );
    const counts = { passed: 0, failed: 0, skipped: 0 };
    for (const r of run.results) counts[r.status]++;
    connection.console.info(`[${engine.name}] tests: ${counts.passed} passed, ${counts.failed} failed, ${counts.skipped} skipped in ${run.durationMs} ms${run.problem ? ` (${run.problem})` : ''}${run.timedOut ? ' (timed out)' : ''}${run.cancelled ? ' (cancelled)' : ''}`);
    if (changedFiles.length > 0) connection.sendNotification(IndexChangedNotification.type, { folderUri: folder.uri, files: changedFiles });
    out.push(run);
    if (abort.signal.aborted) break;
  }
  return { runId: params.runId, folders: out };
});

connection.onRequest(BenchmarkRequest.type, async (params, token) => {
  const abort = startWorkspaceCode('Benchmarking', token);
  const progress = await connection.window.createWorkDoneProgress();
  progress.begin('Crucible: benchmarking', 0, 'replaying recorded calls', true);
  progress.token.onCancellationRequested(() => abort.abort());
  const outcomes: BenchmarkOutcome[] = [];
  try {
    for (const folder of folders.values()) {
      const { engine } = folder;
      await engine.ready;
      const ids = idsIn(folder, params.ids);
      if (ids === null) continue;
      const got = await refusedAsResponseError(
        engine.benchmark({
          runId: folders.size > 1 ? `${params.runId}:${engine.name}` : params.runId,
          ids,
          signal: abort.signal,
          onProgress: (done, total, id) => progress.report(total === 0 ? 100 : Math.floor((done / total) * 100), `${done + 1}/${total} ${id}`),
        }),
      );
      for (const o of got.outcomes) connection.console.info(`[${engine.name}] benchmark ${o.id}: ${o.ok ? `median ${formatNs(o.medianNs!)}/call [${formatNs(o.ciLowNs!)}, ${formatNs(o.ciHighNs!)}]` : o.reason}`);
      outcomes.push(...got.outcomes);
      if (got.changedFiles.length > 0) connection.sendNotification(IndexChangedNotification.type, { folderUri: folder.uri, files: got.changedFiles });
      if (abort.signal.aborted) break;
    }
  } finally {
    progress.done();
  }
  return { outcomes };
});

connection.onRequest(DriftRequest.type, async (params) => {
  const events: DriftEventInfo[] = [];
  for (const { engine } of foldersFor(params.folderUri)) {
    await engine.ready;
    for (const [rel, list] of engine.drift) {
      for (const e of list) {
        const a = engine.index.get(e.artifact);
        if (!a) continue;
        events.push({ artifact: e.artifact, kind: e.kind, detail: e.detail, ...(e.ratio !== undefined ? { ratio: e.ratio } : {}), regression: isRegression(e), uri: fileUri(engine, rel), range: a.selectionRange });
      }
    }
  }
  return { events };
});

// Lenses are served from the track record (no computation on request): fast on every keystroke.
connection.onCodeLens(async ({ textDocument }) => {
  const where = locate(textDocument.uri);
  return where ? variantLenses(where.folder.engine, where.rel) : [];
});

function optimizeChanged(folder: Folder): void {
  connection.sendNotification(OptimizeChangedNotification.type, { folderUri: folder.uri });
  void connection.sendRequest('workspace/codeLens/refresh').catch(() => undefined);
}

connection.onRequest(OptimizeRequest.type, async (params, token) => {
  const abort = startWorkspaceCode('Optimizing', token);
  const progress = await connection.window.createWorkDoneProgress();
  progress.begin('Crucible: optimizing', 0, 'choosing functions', true);
  progress.token.onCancellationRequested(() => abort.abort());
  const result: OptimizeResult = { folders: [] };
  try {
    for (const folder of foldersFor(params.folderUri)) {
      const { engine } = folder;
      await engine.ready;
      const ids = idsIn(folder, params.ids);
      if (ids === null) continue;
      try {
        const { report, notices: sessionNotices, changes } = await refusedAsResponseError(
          engine.optimize({
            budget: params.budget,
            ids,
            signal: abort.signal,
            onProgress: (m, fraction) => {
              connection.console.info(`[${engine.name}] ${m}`);
              if (fraction !== undefined) progress.report(Math.floor(fraction * 100), m.trim());
            },
          }),
        );
        const notices = [...sessionNotices, ...changes];
        for (const n of notices) connection.console.info(`[${engine.name}] ${n}`);
        result.folders.push({
          folderUri: folder.uri,
          variants: report.variants.map((v) => ({ id: v.id, artifact: v.artifact, agent: v.agent, speedup: v.verification.speedup ?? 1, summary: v.summary })),
          rejected: report.rejected.map((r) => ({ artifact: r.artifact, agent: r.agent, reason: r.reason })),
          skipped: report.skipped,
          verified: report.verified,
          notices,
        });
      } finally {
        if (engine.openTrackRecord) optimizeChanged(folder);
      }
      if (abort.signal.aborted) break;
    }
  } finally {
    progress.done();
  }
  return result;
});

connection.onRequest(AgentsRequest.type, async (params) => {
  const result: AgentsResult = { folders: [] };
  for (const folder of foldersFor(params.folderUri)) result.folders.push({ folderUri: folder.uri, ...(await folder.engine.agentRanking()) });
  return result;
});

connection.onRequest(VariantActionRequest.type, async (params, token): Promise<VariantActionResult> => {
  let folder: Folder | undefined;
  for (const f of folders.values()) {
    if (await f.engine.hasVariant(params.id)) {
      folder = f;
      break;
    }
  }
  if (!folder) return { problem: `No variant ${params.id} (it may have been removed by another optimize run).` };
  const abort = new AbortController();
  token?.onCancellationRequested(() => abort.abort());
  const decision = await refusedAsResponseError(folder.engine.decideVariant(params.id, params.action, abort.signal));
  if ('done' in decision || ('problem' in decision && decision.dismissed)) optimizeChanged(folder);
  if ('problem' in decision) return { problem: decision.problem };
  if ('diff' in decision) return { uri: fileUri(folder.engine, decision.diff.file), original: decision.diff.original, variant: decision.diff.variant, title: decision.diff.title };
  if ('edit' in decision) return { uri: fileUri(folder.engine, decision.edit.file), edit: { range: decision.edit.range, newText: decision.edit.newText } };
  return {};
});

documents.listen(connection);
connection.listen();
