/**
 * Crucible's language server: LSP wiring only. The engine lives in index/ (and,
 * later, evidence/, drift/, optimize/ …) and knows nothing of LSP.
 *
 * Settings flow: the client sends `workspace/didChangeConfiguration`; the server
 * then pulls `crucible` per folder with `workspace/configuration` and applies it
 * at once (re-walk for exclude/size changes, re-probe Ollama for embedder changes).
 */
import { existsSync } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import {
  type CancellationToken,
  createConnection,
  ErrorCodes,
  ResponseError,
  type Diagnostic,
  DiagnosticSeverity,
  DidChangeConfigurationNotification,
  FileChangeType,
  ProposedFeatures,
  SymbolKind,
  TextDocuments,
  TextDocumentSyncKind,
  type Connection,
  type SymbolInformation,
  type WorkspaceFolder,
} from 'vscode-languageserver/node';
import { TextDocument } from 'vscode-languageserver-textdocument';
import {
  type ArtifactInfo,
  ArtifactsRequest,
  configurationSection,
  type CrucibleSettings,
  defaultSettings,
  type FolderSummary,
  IndexChangedNotification,
  IndexedNotification,
  ReindexRequest,
  BenchmarkRequest,
  type BenchmarkOutcome,
  DriftChangedNotification,
  type DriftEventInfo,
  DriftRequest,
  RunTestsRequest,
  type FolderTestRun,
  SimilarRequest,
  TestRunEventNotification,
  WorkspaceTrustNotification,
  type StatusParams,
  StatusNotification,
  AgentsRequest,
  type AgentsResult,
  OptimizeChangedNotification,
  OptimizeRequest,
  type OptimizeResult,
  VariantActionRequest,
  type VariantActionResult,
} from './protocol';
import { chooseEmbedder } from './index/embedders';
import type { ArtifactRecord } from './index/extract';
import { storeDirName, toRel } from './index/files';
import { languageForPath } from './index/languages';
import { WorkspaceIndex } from './index/workspace';
import { evidenceDirName, EvidenceStore } from './evidence/store';
import { benchmarkFolder, runFolderTests } from './evidence/testRuns';
import { summarizeEvidence } from './evidence/summary';
import { type DriftEvent, detectDrift, isRegression } from './drift/detect';
import { calleeBreakdown, optimizeFolder, targetOf, textAt } from './optimize/optimize';
import { openOptimizeSession } from './optimize/session';
import { fileHashOf, TrackRecord, type VariantRecord } from './agents/trackRecord';
import { rankAgents } from './agents/bandit';

const connection: Connection = createConnection(ProposedFeatures.all);
const documents = new TextDocuments(TextDocument);

interface Folder {
  uri: string;
  root: string;
  index: WorkspaceIndex;
  settings: CrucibleSettings;
  /** Full index passes running (a reindex can start while one is being cancelled). */
  indexing: number;
  ready: Promise<void>;
  /** Files that have a diagnostic published now (rel path → its message), to clear and to skip resends. */
  diagnostics: Map<string, string>;
  /** Opened on the first test run, or at start when the folder has recorded evidence. */
  evidence?: Promise<EvidenceStore>;
  /** The same store once open, for synchronous reads (summaries in artifact answers, hover). */
  evidenceStore?: EvidenceStore;
  /** Drift events by artifact file (folder-relative), from the last computation. */
  drift: Map<string, DriftEvent[]>;
  /** Variants, rejections and agent rankings (`.crucible/optimize/`), opened on first use. */
  optimize?: Promise<TrackRecord>;
  optimizeStore?: TrackRecord;
}

const folders = new Map<string, Folder>();

/**
 * Open documents by file path. Clients spell file URIs differently (Neovim writes
 * `%c3%a9` where Node writes `%C3%A9`), so a URI built here must not be used to
 * look up one the client sent.
 */
const openByPath = new Map<string, string>();
documents.onDidOpen((e) => {
  if (e.document.uri.startsWith('file:')) openByPath.set(fileURLToPath(e.document.uri), e.document.uri);
});
documents.onDidClose((e) => {
  if (e.document.uri.startsWith('file:')) openByPath.delete(fileURLToPath(e.document.uri));
});
function openDocumentAt(file: string): TextDocument | undefined {
  const uri = openByPath.get(file);
  return uri === undefined ? undefined : documents.get(uri);
}
let initialFolders: WorkspaceFolder[] = [];
let canPullConfiguration = false;
let canRegisterConfiguration = false;
let initOptionsSettings: Partial<CrucibleSettings> = {};
/**
 * Workspace Trust, as the client reports it (`initializationOptions.trusted`, then
 * `crucible/workspaceTrust`). Nothing of the workspace is run until it is true.
 */
let trusted = false;
let state: StatusParams = { state: 'starting', files: 0, artifacts: 0 };

connection.onInitialize((params) => {
  const caps = params.capabilities;
  canPullConfiguration = caps.workspace?.configuration === true;
  canRegisterConfiguration = caps.workspace?.didChangeConfiguration?.dynamicRegistration === true;
  const initOptions = params.initializationOptions as { settings?: Partial<CrucibleSettings>; trusted?: boolean } | undefined;
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
  let pulled: Partial<CrucibleSettings> = {};
  if (canPullConfiguration) {
    try {
      pulled = ((await connection.workspace.getConfiguration({ scopeUri: uri, section: configurationSection })) as Partial<CrucibleSettings> | null) ?? {};
    } catch {
      pulled = {};
    }
  }
  const merged = { ...defaultSettings, ...initOptionsSettings, ...pulled };
  return {
    exclude: Array.isArray(merged.exclude) ? merged.exclude : defaultSettings.exclude,
    maxFileSizeBytes: typeof merged.maxFileSizeBytes === 'number' && merged.maxFileSizeBytes > 0 ? merged.maxFileSizeBytes : defaultSettings.maxFileSizeBytes,
    ollama: {
      ...defaultSettings.ollama,
      ...(merged.ollama ?? {}),
      models: Array.isArray(merged.ollama?.models) ? merged.ollama.models.filter((m): m is string => typeof m === 'string' && m.trim() !== '') : defaultSettings.ollama.models,
      timeoutSeconds: typeof merged.ollama?.timeoutSeconds === 'number' && merged.ollama.timeoutSeconds > 0 ? merged.ollama.timeoutSeconds : defaultSettings.ollama.timeoutSeconds,
    },
    diagnostics: { parseErrors: merged.diagnostics?.parseErrors !== false, drift: merged.diagnostics?.drift !== false },
    test: {
      command: typeof merged.test?.command === 'string' ? merged.test.command.trim() : '',
      timeoutSeconds: typeof merged.test?.timeoutSeconds === 'number' && merged.test.timeoutSeconds > 0 ? merged.test.timeoutSeconds : defaultSettings.test.timeoutSeconds,
    },
    bench: {
      maxSecondsPerArtifact: typeof merged.bench?.maxSecondsPerArtifact === 'number' && merged.bench.maxSecondsPerArtifact >= 1 ? merged.bench.maxSecondsPerArtifact : defaultSettings.bench.maxSecondsPerArtifact,
    },
    optimize: {
      minSpeedup: typeof merged.optimize?.minSpeedup === 'number' && merged.optimize.minSpeedup >= 1 ? merged.optimize.minSpeedup : defaultSettings.optimize.minSpeedup,
      budget: typeof merged.optimize?.budget === 'number' && merged.optimize.budget >= 1 ? Math.floor(merged.optimize.budget) : defaultSettings.optimize.budget,
    },
  };
}

async function addFolder(wf: WorkspaceFolder): Promise<void> {
  if (folders.has(wf.uri) || !wf.uri.startsWith('file:')) return;
  const root = fileURLToPath(wf.uri);
  const settings = await settingsFor(wf.uri);
  const choice = await chooseEmbedder(settings.ollama);
  connection.console.info(`[${wf.name}] ${choice.reason}`);
  const index = new WorkspaceIndex(root, {
    settings,
    embedder: choice.embedder,
    owner: `Crucible language server (pid ${process.pid})`,
    onProblem: (p) => {
      connection.console.warn(`[${wf.name}] ${p.message}`);
      announceProblem(wf.name, p.message);
    },
    log: (m) => connection.console.info(`[${wf.name}] ${m}`),
    overlay: (rel) => openDocumentAt(path.join(root, rel))?.getText(),
  });
  const folder: Folder = { uri: wf.uri, root, index, settings, indexing: 0, ready: Promise.resolve(), diagnostics: new Map(), drift: new Map() };
  folders.set(wf.uri, folder);
  folder.ready = (async () => {
    try {
      await index.open();
    } catch (err) {
      connection.console.error(`[${wf.name}] cannot open the index: ${(err as Error).stack ?? err}`);
    }
  })();
  await folder.ready;
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
  for (const rel of folder.diagnostics.keys()) void connection.sendDiagnostics({ uri: fileUri(folder, rel), diagnostics: [] });
  await folder.index.close();
  publishStatus();
}

async function reindexFolder(folder: Folder, force: boolean): Promise<FolderSummary | undefined> {
  await folder.ready;
  folder.indexing++;
  const progress = await connection.window.createWorkDoneProgress();
  progress.begin('Crucible: indexing', 0, path.basename(folder.root), false);
  publishStatus();
  let summary: FolderSummary | undefined;
  try {
    let lastPercent = -1;
    summary = await folder.index.indexAll((p) => {
      const percent = p.total === 0 ? 100 : Math.floor((p.done / p.total) * 100);
      if (percent === lastPercent) return;
      lastPercent = percent;
      progress.report(percent, `${p.done}/${p.total} files`);
      state = { ...state, state: 'indexing', percent };
      connection.sendNotification(StatusNotification.type, { ...aggregate(), state: 'indexing', percent });
    }, force);
  } catch (err) {
    connection.console.error(`indexing ${folder.root} failed: ${(err as Error).stack ?? err}`);
    state = { ...state, state: 'error', message: (err as Error).message };
  } finally {
    folder.indexing--;
    progress.done();
  }
  if (summary && folders.get(folder.uri) === folder) {
    summary = { ...summary, folderUri: folder.uri };
    connection.console.info(`[${path.basename(folder.root)}] indexed ${summary.files} files, ${summary.artifacts} artifacts in ${summary.ms} ms (${summary.skipped} skipped, ${summary.parseErrors} with parse errors)`);
    // Evidence first, so that views refreshing on `crucible/indexed` get its summaries.
    if (folder.evidence || existsSync(path.join(folder.root, storeDirName, evidenceDirName))) await refreshDrift(folder);
    openOptimizeIfPresent(folder);
    connection.sendNotification(IndexedNotification.type, summary);
    publishFolderDiagnostics(folder);
  }
  publishStatus();
  return summary;
}

function aggregate(): { files: number; artifacts: number } {
  let files = 0;
  let artifacts = 0;
  for (const f of folders.values()) {
    files += f.index.fileCount;
    artifacts += f.index.artifactCount;
  }
  return { files, artifacts };
}

function publishStatus(): void {
  const indexing = [...folders.values()].some((f) => f.indexing > 0);
  if (state.state !== 'error' || indexing) state = { ...aggregate(), state: indexing ? 'indexing' : 'ready' };
  else state = { ...state, ...aggregate() };
  connection.sendNotification(StatusNotification.type, state);
}

connection.onDidChangeConfiguration(async () => {
  for (const folder of folders.values()) {
    const next = await settingsFor(folder.uri);
    const walkChanged = JSON.stringify(next.exclude) !== JSON.stringify(folder.settings.exclude) || next.maxFileSizeBytes !== folder.settings.maxFileSizeBytes;
    const embedChanged = JSON.stringify(next.ollama) !== JSON.stringify(folder.settings.ollama);
    const diagnosticsChanged = JSON.stringify(next.diagnostics) !== JSON.stringify(folder.settings.diagnostics);
    folder.settings = next;
    folder.index.updateSettings(next);
    if (diagnosticsChanged) publishFolderDiagnostics(folder);
    if (embedChanged) {
      const choice = await chooseEmbedder(next.ollama);
      connection.console.info(`[${path.basename(folder.root)}] ${choice.reason}`);
      await folder.index.setEmbedder(choice.embedder);
    }
    if (walkChanged || embedChanged) void reindexFolder(folder, false);
  }
});

/** The folder that contains a file URI (the innermost, for nested folders). */
function locate(uri: string): { folder: Folder; rel: string } | undefined {
  if (!uri.startsWith('file:')) return undefined;
  const file = fileURLToPath(uri);
  let best: Folder | undefined;
  for (const f of folders.values()) {
    if ((file === f.root || file.startsWith(f.root + path.sep)) && (!best || f.root.length > best.root.length)) best = f;
  }
  return best ? { folder: best, rel: toRel(best.root, file) } : undefined;
}


// Edits are re-indexed after a short pause in typing: one parse per burst, not per keystroke.
const pendingEdits = new Map<string, NodeJS.Timeout>();
function scheduleDocument(uri: string, delayMs: number): void {
  const prev = pendingEdits.get(uri);
  if (prev) clearTimeout(prev);
  pendingEdits.set(
    uri,
    setTimeout(() => {
      pendingEdits.delete(uri);
      const doc = documents.get(uri);
      void updateFile(uri, doc?.getText());
    }, delayMs),
  );
}

async function updateFile(uri: string, text: string | undefined): Promise<void> {
  const where = locate(uri);
  if (!where || !languageForPath(where.rel)) return;
  await where.folder.ready;
  const changed = await where.folder.index.updateFile(where.rel, text);
  if (changed && where.folder.evidence) await refreshDrift(where.folder, [where.rel]);
  publishFileDiagnostics(where.folder, where.rel);
  if (changed) notifyChanged(where.folder, [where.rel]);
}

// ---- diagnostics ----------------------------------------------------------------------

function fileUri(folder: Folder, rel: string): string {
  return pathToFileURL(path.join(folder.root, rel)).toString();
}

/**
 * Where a file stops parsing, Crucible's index of it is partial: say so on that line
 * (Information, not Error: the editor's own language service owns syntax errors).
 */
function parseDiagnostic(folder: Folder, rel: string): Diagnostic | undefined {
  const rec = folder.index.fileRecord(rel);
  if (!folder.settings.diagnostics.parseErrors || !rec || rec.parseErrors === 0) return undefined;
  const start = rec.firstError?.start ?? { line: 0, character: 0 };
  const end = rec.firstError && rec.firstError.end.line === start.line ? rec.firstError.end : { line: start.line + 1, character: 0 };
  const n = rec.parseErrors;
  return {
    range: { start, end },
    severity: DiagnosticSeverity.Information,
    source: 'crucible',
    code: 'partial-parse',
    message: `Crucible indexed this file only partly: it cannot parse the code here (${n} syntax error${n === 1 ? '' : 's'} in the file). Functions in the unparsed part may be missing from the index until it parses.`,
  };
}

/** Drift events as diagnostics on the artifact's name: Warning for regressions, Information otherwise. */
function driftDiagnostics(folder: Folder, rel: string): Diagnostic[] {
  if (!folder.settings.diagnostics.drift) return [];
  const out: Diagnostic[] = [];
  for (const e of folder.drift.get(rel) ?? []) {
    const a = folder.index.get(e.artifact);
    if (!a) continue;
    out.push({
      range: a.selectionRange,
      severity: isRegression(e) ? DiagnosticSeverity.Warning : DiagnosticSeverity.Information,
      source: 'crucible',
      code: e.kind,
      message: `${driftTitles[e.kind]}: ${e.detail}`,
    });
  }
  return out;
}

const driftTitles: Record<DriftEvent['kind'], string> = {
  'test-failure': 'Test failing since a code change',
  slowdown: 'Slower than before',
  'unverified-change': 'Changed since its tests last passed',
  'coverage-drop': 'Coverage dropped',
  'error-rate': 'More calls throw',
  flaky: 'Flaky test (outcome changed without a code change)',
};

function publishFileDiagnostics(folder: Folder, rel: string): void {
  const parse = parseDiagnostic(folder, rel);
  const diagnostics = [...(parse ? [parse] : []), ...driftDiagnostics(folder, rel)];
  const key = diagnostics.length > 0 ? JSON.stringify(diagnostics) : undefined;
  if (key === folder.diagnostics.get(rel)) return;
  if (key) folder.diagnostics.set(rel, key);
  else folder.diagnostics.delete(rel);
  void connection.sendDiagnostics({ uri: fileUri(folder, rel), diagnostics });
}

function publishFolderDiagnostics(folder: Folder): void {
  const files = new Set(folder.diagnostics.keys());
  for (const rec of folder.index.store.all()) if (rec.parseErrors > 0) files.add(rec.file);
  for (const rel of folder.drift.keys()) files.add(rel);
  for (const rel of files) publishFileDiagnostics(folder, rel);
}

// ---- drift ----------------------------------------------------------------------------

/**
 * Recomputes drift from the evidence store against the code as indexed now (all
 * artifacts with evidence, or those of `files`), then tells the client.
 */
async function refreshDrift(folder: Folder, files?: string[]): Promise<void> {
  const evidence = await evidenceOf(folder).catch(() => undefined);
  if (!evidence) return;
  const only = files ? new Set(files) : undefined;
  const next = new Map<string, DriftEvent[]>(only ? [...folder.drift].filter(([rel]) => !only.has(rel)) : []);
  for (const id of evidence.artifacts()) {
    const a = folder.index.get(id);
    if (!a || (only && !only.has(a.file))) continue;
    const rec = evidence.get(id)!;
    const events = detectDrift({ artifact: id, history: rec.history, currentHash: a.hash, lastVerifiedHash: rec.lastVerifiedHash });
    if (events.length > 0) next.set(a.file, [...(next.get(a.file) ?? []), ...events]);
  }
  const before = JSON.stringify([...folder.drift].sort());
  const touched = new Set([...folder.drift.keys(), ...next.keys()]);
  folder.drift = next;
  if (JSON.stringify([...next].sort()) === before) return;
  for (const rel of touched) publishFileDiagnostics(folder, rel);
  connection.sendNotification(DriftChangedNotification.type, { folderUri: folder.uri });
}

connection.onRequest(DriftRequest.type, async (params) => {
  const events: DriftEventInfo[] = [];
  for (const folder of folders.values()) {
    if (params.folderUri && params.folderUri !== folder.uri) continue;
    await folder.ready;
    for (const [rel, list] of folder.drift) {
      for (const e of list) {
        const a = folder.index.get(e.artifact);
        if (!a) continue;
        events.push({ artifact: e.artifact, kind: e.kind, detail: e.detail, ...(e.ratio !== undefined ? { ratio: e.ratio } : {}), regression: isRegression(e), uri: fileUri(folder, rel), range: a.selectionRange });
      }
    }
  }
  return { events };
});

function notifyChanged(folder: Folder, files: string[]): void {
  connection.sendNotification(IndexChangedNotification.type, { folderUri: folder.uri, files });
  publishStatus();
}

documents.onDidOpen((e) => {
  scheduleDocument(e.document.uri, 0);
  // Then parse it for incremental re-indexing, so typing never waits for a full parse.
  setTimeout(() => {
    const where = locate(e.document.uri);
    const doc = documents.get(e.document.uri);
    if (where && doc) where.folder.index.primeEditorState(where.rel, doc.getText());
  }, 50);
});
documents.onDidChangeContent((e) => scheduleDocument(e.document.uri, 150));
documents.onDidSave((e) => scheduleDocument(e.document.uri, 0));
// Closing without saving: the disk is the truth again.
documents.onDidClose((e) => {
  const where = locate(e.document.uri);
  where?.folder.index.releaseEditorState(where.rel);
  void updateFile(e.document.uri, undefined);
});

connection.onDidChangeWatchedFiles(async ({ changes }) => {
  const touched = new Map<Folder, string[]>();
  for (const change of changes) {
    const where = locate(change.uri);
    if (!where) continue;
    if (where.rel === '.gitignore' || where.rel.endsWith('/.gitignore')) {
      if (!where.folder.index.gitignoreMatters(where.rel)) continue;
      where.folder.index.gitignoreChanged();
      void reindexFolder(where.folder, false);
      continue;
    }
    if (!languageForPath(where.rel) || openDocumentAt(path.join(where.folder.root, where.rel))) continue; // open documents follow the buffer
    await where.folder.ready;
    const changed = change.type === FileChangeType.Deleted ? where.folder.index.removeFile(where.rel) : await where.folder.index.updateFile(where.rel);
    if (changed && where.folder.evidence) await refreshDrift(where.folder, [where.rel]);
    publishFileDiagnostics(where.folder, where.rel);
    if (changed) touched.set(where.folder, [...(touched.get(where.folder) ?? []), where.rel]);
  }
  for (const [folder, files] of touched) notifyChanged(folder, files);
});

function toInfo(folder: Folder, a: ArtifactRecord): ArtifactInfo {
  const info: ArtifactInfo = { ...a, uri: fileUri(folder, a.file), calls: folder.index.resolveCalls(a) };
  if (folder.evidenceStore) info.evidence = summarizeEvidence(folder.evidenceStore, a.id, a.hash);
  return info;
}

// ---- hover: an artifact's evidence, on its name -----------------------------------------

const ago = (iso: string) => iso.slice(0, 16).replace('T', ' ');

function evidenceMarkdown(folder: Folder, a: ArtifactRecord): string {
  const lines = [`**Crucible** · \`${a.qualifiedName}\` (${a.kind})`, ''];
  const e = folder.evidenceStore ? summarizeEvidence(folder.evidenceStore, a.id, a.hash) : undefined;
  if (!e || (e.status === 'untested' && e.calls === undefined)) {
    lines.push(a.kind === 'test' || a.kind === 'suite' ? 'Not run through Crucible yet: run it from the Testing view.' : 'No evidence yet: no test run through Crucible has executed it. Run the tests from the Testing view.');
    return lines.join('\n');
  }
  const status = { verified: '✓ verified', failing: '✗ failing', unverified: '△ changed since its tests last passed', untested: 'no test ran it' }[e.status];
  const facts = [`${status}`];
  if (e.testsTotal > 0) facts.push(`tests ${e.testsPassed}/${e.testsTotal} passing${e.lastRunAt ? ` (run ${ago(e.lastRunAt)})` : ''}`);
  if (e.coverage !== undefined) facts.push(`coverage ${Math.round(e.coverage * 100)}%`);
  if (e.medianNs !== undefined) facts.push(`median ${e.medianNs >= 1e6 ? `${(e.medianNs / 1e6).toFixed(2)} ms` : `${(e.medianNs / 1e3).toFixed(1)} µs`} per call`);
  if (e.calls !== undefined) facts.push(`${e.calls} call${e.calls === 1 ? '' : 's'} in the last run, ${e.samples} recorded`);
  lines.push(facts.join(' · '));
  if (e.lastVerifiedAt) lines.push('', `Last verified ${ago(e.lastVerifiedAt)}${e.status === 'verified' ? ', on this code' : ', on earlier code'}.`);
  if (e.score !== undefined) lines.push('', `Quality score ${e.score.toFixed(2)}`);
  // Where its time goes (recorded call durations): the callees the optimizer would target first.
  if (folder.evidenceStore && (a.kind === 'function' || a.kind === 'method')) {
    const shares = calleeBreakdown(folder.index, folder.evidenceStore, a).filter((c) => c.share >= 0.05).slice(0, 3);
    if (shares.length) lines.push('', `Time in callees: ${shares.map((c) => `\`${folder.index.get(c.callee)?.qualifiedName ?? c.callee}\` ~${Math.round(c.share * 100)}%`).join(', ')}${shares[0].share >= 0.5 ? ' (the bottleneck: optimized first)' : ''}`);
  }
  const offer = offeredVariant(folder, a);
  if (offer) lines.push('', `⚡ A verified variant is ${fmtX(offer.best.verification.speedup ?? 1)} faster (${offer.best.agent}): see the code lens.`);
  return lines.join('\n');
}

connection.onHover(async ({ textDocument, position }) => {
  const where = locate(textDocument.uri);
  if (!where) return null;
  await where.folder.ready;
  const a = where.folder.index.artifactAt(where.rel, position);
  // Only on the name: hovering anywhere in a body belongs to the language's own hover.
  if (!a || position.line !== a.selectionRange.start.line || position.character < a.selectionRange.start.character || position.character > a.selectionRange.end.character) return null;
  return { contents: { kind: 'markdown', value: evidenceMarkdown(where.folder, a) }, range: a.selectionRange };
});

const symbolKinds: Record<ArtifactRecord['kind'], SymbolKind> = {
  function: SymbolKind.Function,
  method: SymbolKind.Method,
  class: SymbolKind.Class,
  test: SymbolKind.Event,
  suite: SymbolKind.Module,
};

connection.onWorkspaceSymbol(async ({ query }) => {
  const out: SymbolInformation[] = [];
  for (const folder of folders.values()) {
    await folder.ready;
    for (const a of folder.index.symbols(query)) {
      out.push({
        name: a.name,
        kind: symbolKinds[a.kind],
        containerName: a.parent ? folder.index.get(a.parent)?.qualifiedName : a.file,
        location: { uri: fileUri(folder, a.file), range: a.range },
      });
    }
  }
  return out.slice(0, 500);
});

connection.onRequest(ArtifactsRequest.type, async (params) => {
  let all: ArtifactInfo[] = [];
  for (const folder of folders.values()) {
    if (params.folderUri && params.folderUri !== folder.uri) continue;
    await folder.ready;
    let file: string | undefined;
    if (params.uri) {
      const where = locate(params.uri);
      if (where?.folder !== folder) continue;
      file = where.rel;
    }
    all = all.concat(folder.index.artifacts({ file, kinds: params.kinds, query: params.query }).map((a) => toInfo(folder, a)));
  }
  return { artifacts: params.limit !== undefined ? all.slice(0, params.limit) : all, total: all.length };
});

connection.onRequest(SimilarRequest.type, async (params) => {
  const k = Math.max(1, Math.min(params.k ?? 10, 100));
  let folder: Folder | undefined;
  let source: ArtifactRecord | undefined;
  if (params.id) {
    for (const f of folders.values()) {
      await f.ready;
      source = f.index.get(params.id);
      if (source) {
        folder = f;
        break;
      }
    }
  } else if (params.textDocument && params.position) {
    const where = locate(params.textDocument.uri);
    if (where) {
      folder = where.folder;
      await folder.ready;
      source = folder.index.artifactAt(where.rel, params.position);
    }
  }
  if (!folder || !source) return { items: [], embedder: folder?.index.embedderId ?? '' };
  const f = folder;
  return {
    source: toInfo(f, source),
    items: f.index.similar(source.id, k).map((n) => ({ artifact: toInfo(f, n.artifact), score: Math.round(n.score * 1e4) / 1e4 })),
    embedder: f.index.embedderId,
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

// ---- test runs ------------------------------------------------------------------------

connection.onNotification(WorkspaceTrustNotification.type, (p) => {
  trusted = p.trusted === true;
});

function evidenceOf(folder: Folder): Promise<EvidenceStore> {
  folder.evidence ??= (async () => {
    const store = new EvidenceStore(folder.root, {
      owner: `Crucible language server (pid ${process.pid})`,
      onProblem: (p) => connection.console.warn(`[${path.basename(folder.root)}] ${p.message}`),
    });
    for (const p of await store.open()) {
      connection.console.warn(`[${path.basename(folder.root)}] ${p.message}`);
      announceProblem(path.basename(folder.root), p.message);
    }
    folder.evidenceStore = store;
    return store;
  })();
  return folder.evidence;
}

/** Work that runs workspace code: refused unless trusted; aborted when the client cancels. */
function startWorkspaceCode(what: string, token: CancellationToken | undefined): AbortController {
  if (!trusted) throw new ResponseError(ErrorCodes.InvalidRequest, `${what} runs workspace code, so it needs a trusted workspace. Trust the folder (Workspaces: Manage Workspace Trust) and run again.`);
  const abort = new AbortController();
  token?.onCancellationRequested(() => abort.abort()); // a client may send no token at all
  return abort;
}

/** After evidence changed: write it, recompute drift, and let views showing evidence (tree badges) re-read those files. */
async function evidenceChanged(folder: Folder, evidence: EvidenceStore, ids: readonly string[]): Promise<void> {
  await evidence.flush().catch((err) => connection.console.warn(`[${path.basename(folder.root)}] evidence not written: ${(err as Error).message}`));
  await refreshDrift(folder);
  const files = [...new Set(ids.map((id) => folder.index.get(id)?.file).filter((f): f is string => f !== undefined))];
  if (files.length > 0) connection.sendNotification(IndexChangedNotification.type, { folderUri: folder.uri, files });
}

connection.onRequest(RunTestsRequest.type, async (params, token) => {
  const abort = startWorkspaceCode('Running tests', token);
  const out: FolderTestRun[] = [];
  for (const folder of folders.values()) {
    if (params.folderUri && params.folderUri !== folder.uri) continue;
    await folder.ready;
    const ids = params.ids?.filter((id) => folder.index.get(id) !== undefined) ?? [];
    if ((params.ids?.length ?? 0) > 0 && ids.length === 0) continue; // none of the requested tests lives here
    const name = path.basename(folder.root);
    const evidence = await evidenceOf(folder).catch(() => undefined);
    const run = await runFolderTests(folder.index, evidence, folder.uri, {
      runId: folders.size > 1 ? `${params.runId}:${name}` : params.runId,
      ids,
      settings: folder.settings.test,
      coverage: params.coverage === true,
      signal: abort.signal,
      onStarted: (command) => {
        connection.console.info(`[${name}] running tests: ${command}`);
        connection.sendNotification(TestRunEventNotification.type, { runId: params.runId, folderUri: folder.uri, kind: 'started', text: command });
      },
      onOutput: (line) => {
        connection.console.log(`[${name}] ${line}`);
        connection.sendNotification(TestRunEventNotification.type, { runId: params.runId, folderUri: folder.uri, kind: 'output', text: line });
      },
    });
    const counts = { passed: 0, failed: 0, skipped: 0 };
    for (const r of run.results) counts[r.status]++;
    connection.console.info(`[${name}] tests: ${counts.passed} passed, ${counts.failed} failed, ${counts.skipped} skipped in ${run.durationMs} ms${run.problem ? ` (${run.problem})` : ''}${run.timedOut ? ' (timed out)' : ''}${run.cancelled ? ' (cancelled)' : ''}`);
    if (evidence) await evidenceChanged(folder, evidence, evidence.artifacts());
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
      await folder.ready;
      const ids = params.ids?.filter((id) => folder.index.get(id) !== undefined);
      if ((params.ids?.length ?? 0) > 0 && (ids?.length ?? 0) === 0) continue;
      const evidence = await evidenceOf(folder);
      const name = path.basename(folder.root);
      const got = await benchmarkFolder(folder.index, evidence, {
        runId: folders.size > 1 ? `${params.runId}:${name}` : params.runId,
        ids,
        maxSecondsPerArtifact: folder.settings.bench.maxSecondsPerArtifact,
        signal: abort.signal,
        onProgress: (done, total, id) => progress.report(total === 0 ? 100 : Math.floor((done / total) * 100), `${done + 1}/${total} ${id}`),
      });
      for (const o of got) connection.console.info(`[${name}] benchmark ${o.id}: ${o.ok ? `median ${Math.round(o.medianNs!)} ns/call [${Math.round(o.ciLowNs!)}, ${Math.round(o.ciHighNs!)}]` : o.reason}`);
      outcomes.push(...got);
      await evidenceChanged(folder, evidence, got.filter((o) => o.ok).map((o) => o.id));
      if (abort.signal.aborted) break;
    }
  } finally {
    progress.done();
  }
  return { outcomes };
});

// ---- verified optimization: variants as code lenses, the optimizer, the agents' ranking ------

function optimizeOf(folder: Folder): Promise<TrackRecord> {
  folder.optimize ??= (async () => {
    const store = new TrackRecord(folder.root, { owner: `Crucible language server (pid ${process.pid})` });
    for (const p of await store.open()) {
      connection.console.warn(`[${path.basename(folder.root)}] ${p.message}`);
      announceProblem(path.basename(folder.root), p.message);
    }
    folder.optimizeStore = store;
    return store;
  })();
  return folder.optimize;
}

/** Open the store at start when the folder has one, so lenses show without a run. */
function openOptimizeIfPresent(folder: Folder): void {
  if (existsSync(path.join(folder.root, storeDirName, 'optimize', 'optimize.json'))) void optimizeOf(folder).catch(() => undefined);
}

const fmtX = (x: number) => `${x >= 10 ? x.toFixed(0) : x.toFixed(x >= 2 ? 1 : 2)}×`;

/** The variant to offer on an artifact: offered, verified on the code there is now, the fastest. */
function offeredVariant(folder: Folder, a: ArtifactRecord): { best: VariantRecord; more: number } | undefined {
  // 'applied' still counts: after Undo the original is back (its hash again), and so is the offer.
  const offered = folder.optimizeStore?.variants({ artifact: a.id }).filter((v) => v.status !== 'dismissed' && v.originalHash === a.hash) ?? [];
  if (offered.length === 0) return undefined;
  offered.sort((x, y) => (y.verification.speedup ?? 0) - (x.verification.speedup ?? 0));
  return { best: offered[0], more: offered.length - 1 };
}

// Lenses are served from the store (no computation on request): fast on every keystroke.
connection.onCodeLens(async ({ textDocument }) => {
  const where = locate(textDocument.uri);
  if (!where || !where.folder.optimizeStore) return [];
  const { folder, rel } = where;
  const lenses = [];
  for (const a of folder.index.artifacts({ file: rel, kinds: ['function', 'method'] })) {
    const offer = offeredVariant(folder, a);
    if (!offer) continue;
    const v = offer.best.verification;
    const agree = [
      v.inputsCompared.recorded > 0 ? `${v.inputsCompared.recorded} recorded call${v.inputsCompared.recorded === 1 ? '' : 's'}` : `generated inputs only (${v.inputsCompared.generated})`,
      v.testsRun > 0 ? `${v.testsPassed} test${v.testsPassed === 1 ? '' : 's'}` : '',
    ].filter(Boolean);
    const title = `⚡ ${fmtX(v.speedup ?? 1)} faster variant · ${agree.join(' and ')} agree${offer.more ? ` · +${offer.more} more` : ''}`;
    const range = { start: a.range.start, end: a.range.start };
    const args = [offer.best.id];
    lenses.push(
      { range, command: { title, command: 'crucible.variant.diff', arguments: args } },
      { range, command: { title: 'Apply', command: 'crucible.variant.apply', arguments: args } },
      { range, command: { title: 'Diff', command: 'crucible.variant.diff', arguments: args } },
      { range, command: { title: 'Dismiss', command: 'crucible.variant.dismiss', arguments: args } },
    );
  }
  return lenses;
});

async function optimizeChanged(folder: Folder, store: TrackRecord): Promise<void> {
  await store.flush().catch((err) => connection.console.warn(`[${path.basename(folder.root)}] variants not written: ${(err as Error).message}`));
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
    for (const folder of folders.values()) {
      if (params.folderUri && params.folderUri !== folder.uri) continue;
      await folder.ready;
      const ids = params.ids?.filter((id) => folder.index.get(id) !== undefined);
      if ((params.ids?.length ?? 0) > 0 && (ids?.length ?? 0) === 0) continue;
      const name = path.basename(folder.root);
      const evidence = await evidenceOf(folder);
      const store = await optimizeOf(folder);
      const session = await openOptimizeSession(folder.index, store, folder.settings, (m) => connection.console.info(`[${name}] ${m}`));
      for (const n of session.notices) connection.console.info(`[${name}] ${n}`);
      try {
        const budget = params.budget ?? folder.settings.optimize.budget;
        let done = 0;
        const report = await optimizeFolder(folder.index, evidence, store, {
          budget,
          artifactIds: ids,
          agents: session.agents,
          verify: (t, c, signal) => session.verify(t, c, signal),
          readFile: (rel) => openDocumentAt(path.join(folder.root, rel))?.getText(),
          signal: abort.signal,
          onProgress: (m) => {
            connection.console.info(`[${name}] ${m}`);
            if (m.startsWith('  verifying')) progress.report(Math.min(99, Math.floor((++done / budget) * 100)), m.trim());
          },
        });
        const notices = [...session.notices];
        for (const id of report.retired) notices.push(`retired ${id}: ${store.allAgents().find((r) => r.id === id)?.retired?.reason ?? ''}`);
        if (report.settingsChange) notices.push(`optimizer settings changed: ${report.settingsChange.why}`);
        result.folders.push({
          folderUri: folder.uri,
          variants: report.variants.map((v) => ({ id: v.id, artifact: v.artifact, agent: v.agent, speedup: v.verification.speedup ?? 1, summary: v.summary })),
          rejected: report.rejected.map((r) => ({ artifact: r.artifact, agent: r.agent, reason: r.reason })),
          skipped: report.skipped,
          verified: report.verified,
          notices,
        });
      } finally {
        await session.dispose();
        await optimizeChanged(folder, store);
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
  for (const folder of folders.values()) {
    if (params.folderUri && params.folderUri !== folder.uri) continue;
    const store = await optimizeOf(folder);
    result.folders.push({ folderUri: folder.uri, agents: rankAgents(store.allAgents()), settings: store.settings, settingsHistory: store.settingsHistory().map((c) => ({ at: c.at, why: c.why })) });
  }
  return result;
});

/** The folder and store that hold a variant id. */
async function variantOf(id: string): Promise<{ folder: Folder; store: TrackRecord; v: VariantRecord } | undefined> {
  for (const folder of folders.values()) {
    const store = await optimizeOf(folder);
    const v = store.variant(id);
    if (v) return { folder, store, v };
  }
  return undefined;
}

connection.onRequest(VariantActionRequest.type, async (params, token): Promise<VariantActionResult> => {
  const found = await variantOf(params.id);
  if (!found) return { problem: `No variant ${params.id} (it may have been removed by another optimize run).` };
  const { folder, store, v } = found;
  const uri = fileUri(folder, v.file);
  if (params.action === 'dismiss' || params.action === 'applied') {
    store.setStatus(v.id, params.action === 'dismiss' ? 'dismissed' : 'applied');
    await optimizeChanged(folder, store);
    return {};
  }
  const name = v.artifact.split('#')[1];
  if (params.action === 'diff') return { uri, original: v.original, variant: v.code, title: `${name}: original ↔ ${fmtX(v.verification.speedup ?? 1)} faster variant (${v.agent})` };
  // apply: only onto the code it was verified against; a file changed elsewhere means verifying again.
  await folder.ready;
  const a = folder.index.get(v.artifact);
  if (!a || a.hash !== v.originalHash) return { problem: `${name} changed since this variant was verified, so it is not offered any more: run Crucible: Optimize again.` };
  const doc = openDocumentAt(path.join(folder.root, v.file));
  const evidence = await evidenceOf(folder);
  const target = targetOf(folder.index, evidence, a, (rel) => openDocumentAt(path.join(folder.root, rel))?.getText());
  const fileText = doc?.getText() ?? target?.fileText;
  if (!target || fileText === undefined || textAt(fileText, a.range) !== v.original) return { problem: `${name} could not be found as it was verified in ${v.file}; save the file and try again.` };
  if (fileHashOf(fileText) !== v.fileHash) {
    // The rest of the file changed (a helper it calls, an import): the variant is checked again first.
    const abort = startWorkspaceCode('Re-verifying the variant', token);
    const session = await openOptimizeSession(folder.index, store, folder.settings, undefined, { verifyOnly: true });
    try {
      const check = await session.verify({ ...target, fileText }, { agent: v.agent, target: v.artifact, code: v.code, summary: v.summary }, abort.signal);
      if (!check.accepted) {
        store.setStatus(v.id, 'dismissed');
        await optimizeChanged(folder, store);
        return { problem: `The file changed since this variant was verified, and it no longer passes: ${check.rejection?.step}: ${check.rejection?.reason}` };
      }
      v.verification = check;
      v.fileHash = fileHashOf(fileText);
      store.touchAgents();
    } finally {
      await session.dispose();
    }
  }
  return { uri, edit: { range: a.range, newText: v.code } };
});

connection.onShutdown(async () => {
  await Promise.all([...folders.values()].map(async (f) => {
    await f.index.close();
    await (await f.evidence?.catch(() => undefined))?.close();
    await (await f.optimize?.catch(() => undefined))?.flush().catch(() => undefined);
  }));
});

documents.listen(connection);
connection.listen();
