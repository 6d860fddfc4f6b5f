/**
 * The engine of one workspace folder, shared by the language server and the CLI: it owns
 * the folder's index, evidence, drift, track record (variants, rejections, agents), its
 * settings and its trust, and exposes what a front end can ask for as plain async methods
 * with cancellation (`AbortSignal`) and progress callbacks.
 *
 * No LSP and no `vscode` here: server.ts translates these results into messages, cli.ts
 * into text and exit codes, and tests drive the engine directly. Nothing is created at
 * import time.
 */
import { existsSync } from 'node:fs';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import type { BenchmarkOutcome, FolderSummary, FolderTestRun } from './protocol';
import { settingsChanges, type CrucibleSettings } from './settings';
import { formatRatio } from './format';
import { chooseEmbedder } from './index/embedders';
import type { ArtifactRecord, Range } from './index/extract';
import { storeDirName } from './index/files';
import type { IndexProgress } from './index/workspace';
import { WorkspaceIndex } from './index/workspace';
import { lastTwo } from './evidence/history';
import { evidenceDirName, EvidenceStore } from './evidence/store';
import { summarizeEvidence } from './evidence/summary';
import { benchmarkFolder, runFolderTests } from './evidence/testRuns';
import { type DriftEvent, detectFolderDrift } from './drift/detect';
import { rankAgents, type RankedAgent } from './agents/bandit';
import { calleeBreakdown, optimizeFolder, type OptimizeRunReport, targetOf, textAt, type CalleeShare } from './optimize/optimize';
import { openOptimizeSession } from './optimize/session';
import { fileHashOf, TrackRecord, type VariantRecord } from './agents/trackRecord';

export interface FolderEngineOptions {
  settings: CrucibleSettings;
  /** Who writes the stores, for the lock's owner note ("crucible evidence (CLI)", "Crucible language server (pid 12)"). */
  owner: string;
  /** How long a writer waits for another one before giving up. */
  lockWaitMs?: number;
  /**
   * A command-line run: each store's write lock is held while a command uses it (the
   * index's while indexing, the evidence's until `close`), so a second writer is told at
   * once who holds it. The language server takes the lock per write instead.
   */
  exclusive?: boolean;
  /** Workspace Trust: nothing of the workspace runs until it is true. */
  trusted?: boolean;
  log?: (message: string) => void;
  /** Store problems the user should hear about once (corrupt file kept aside, folder unwritable). */
  onProblem?: (message: string) => void;
  /** Problems worth a log line only (a flush that failed and will be retried). */
  warn?: (message: string) => void;
  /** Text of files open in an editor, which wins over the disk. */
  overlay?: (rel: string) => string | undefined;
  /** Drift changed for these files (folder-relative): publish diagnostics, refresh views. */
  onDriftChanged?: (files: string[]) => void;
}

/** Raised by every operation that would run workspace code in an untrusted folder. */
export class TrustRequiredError extends Error {
  constructor(what: string) {
    super(`${what} runs workspace code, so it needs a trusted workspace. Trust the folder (Workspaces: Manage Workspace Trust) and run again.`);
    this.name = 'TrustRequiredError';
  }
}

/** A store opened on first use; `current` is the same store once open, for synchronous reads (hover, summaries). */
class OpenedOnce<T> {
  private promise: Promise<T> | undefined;
  current: T | undefined;
  constructor(private readonly openIt: () => Promise<T>) {}
  get(): Promise<T> {
    this.promise ??= this.openIt().then((v) => (this.current = v));
    return this.promise;
  }
  get started(): boolean {
    return this.promise !== undefined;
  }
  async ifStarted(): Promise<T | undefined> {
    return this.promise?.catch(() => undefined);
  }
}

export interface TestRunRequest {
  runId: string;
  /** Test or suite artifact ids; empty: all tests. */
  ids?: string[];
  coverage?: boolean;
  signal?: AbortSignal;
  onStarted?: (command: string) => void;
  onOutput?: (line: string) => void;
}

export interface OptimizeRequestOptions {
  budget?: number;
  ids?: string[];
  signal?: AbortSignal;
  /** A line of what the optimizer is doing, and the fraction of the budget verified so far when it is a verification. */
  onProgress?: (message: string, fraction?: number) => void;
}

export interface OptimizeOutcome {
  report: OptimizeRunReport;
  /** Lines for the user from the session: Ollama not reachable, models not pulled. */
  notices: string[];
  /** What the run changed beyond variants: agents retired (with the reason), the optimizer's settings. */
  changes: string[];
}

/** What became of a variant action; file paths are folder-relative. */
export type VariantDecision =
  /** `dismissed`: the variant failed its re-verification and is not offered any more. */
  | { problem: string; dismissed?: true }
  | { done: true }
  | { diff: { file: string; original: string; variant: string; title: string } }
  | { edit: { file: string; range: Range; newText: string } };

/** One row of `crucible evidence`: an artifact with evidence, as of the code there is now. */
export interface EvidenceRow {
  id: string;
  status: string;
  tests: { id: string; status: string }[];
  /** Covered / coverable lines, 0–1, or null when not measured. */
  coverage: number | null;
  calls: number | null;
  samples: number;
  medianNs: number | null;
  /** When its tests last all passed on the code there is now (ISO), or null. */
  lastVerified: string | null;
  score: number | null;
}

export class FolderEngine {
  readonly root: string;
  readonly index: WorkspaceIndex;
  settings: CrucibleSettings;
  trusted: boolean;
  /** Resolves when the index has been opened (its problems reported). */
  readonly ready: Promise<void>;
  /** Full index passes running (a reindex can start while one is being cancelled). */
  indexing = 0;
  /** Drift events by artifact file (folder-relative), from the last computation. */
  drift = new Map<string, DriftEvent[]>();
  private readonly evidenceStore: OpenedOnce<EvidenceStore>;
  private readonly trackRecordStore: OpenedOnce<TrackRecord>;

  /** Chooses the embedder (Ollama when configured and reachable, else local), then opens the index in the background (`ready`). */
  static async create(root: string, options: FolderEngineOptions): Promise<FolderEngine> {
    const choice = await chooseEmbedder(options.settings.ollama);
    const engine = new FolderEngine(root, options, choice.embedder);
    engine.embedderReason = choice.reason;
    return engine;
  }

  /** Why this embedder (Ollama's model, or the local one and why): for the log. */
  embedderReason = '';

  private constructor(
    root: string,
    private readonly options: FolderEngineOptions,
    embedder: Awaited<ReturnType<typeof chooseEmbedder>>['embedder'],
  ) {
    this.root = root;
    this.settings = options.settings;
    this.trusted = options.trusted === true;
    const index = new WorkspaceIndex(root, {
      settings: options.settings,
      embedder,
      owner: options.owner,
      lockWaitMs: options.lockWaitMs,
      onProblem: (p) => options.onProblem?.(p.message),
      log: options.log,
      overlay: options.overlay,
    });
    this.index = index;
    this.evidenceStore = new OpenedOnce(async () => {
      const store = new EvidenceStore(root, { owner: options.owner, lockWaitMs: options.lockWaitMs, onProblem: (p) => this.warn(p.message) });
      if (options.exclusive) await store.holdLock();
      for (const p of await store.open()) options.onProblem?.(p.message);
      return store;
    });
    this.trackRecordStore = new OpenedOnce(async () => {
      const store = new TrackRecord(root, { owner: options.owner, lockWaitMs: options.lockWaitMs });
      for (const p of await store.open()) options.onProblem?.(p.message);
      return store;
    });
    this.ready = (async () => {
      try {
        await index.open();
        if (options.exclusive) await index.holdLock();
      } catch (err) {
        if (options.exclusive) throw err; // the CLI reports it (a held lock: exit 3)
        options.log?.(`cannot open the index: ${(err as Error).stack ?? err}`);
      }
    })();
  }

  get name(): string {
    return path.basename(this.root);
  }

  private warn(message: string): void {
    (this.options.warn ?? this.options.log)?.(message);
  }

  /** The evidence store, opened on first use. */
  evidence(): Promise<EvidenceStore> {
    return this.evidenceStore.get();
  }
  /** The evidence store if it is open already (synchronous reads). */
  get openEvidence(): EvidenceStore | undefined {
    return this.evidenceStore.current;
  }
  /** The agents' track record (variants, rejections, rankings), opened on first use. */
  trackRecord(): Promise<TrackRecord> {
    return this.trackRecordStore.get();
  }
  get openTrackRecord(): TrackRecord | undefined {
    return this.trackRecordStore.current;
  }

  private hasStoredEvidence(): boolean {
    return this.evidenceStore.started || existsSync(path.join(this.root, storeDirName, evidenceDirName));
  }

  /** Throws `TrustRequiredError` unless the folder is trusted. */
  requireTrust(what: string): void {
    if (!this.trusted) throw new TrustRequiredError(what);
  }

  // ---- index ----------------------------------------------------------------------------

  /**
   * Indexes the whole folder (unchanged files do no work unless `force`), then recomputes
   * drift when the folder has evidence and opens a stored track record so lenses show
   * without a run. Undefined when the pass was cancelled.
   */
  async indexAll(options: { force?: boolean; signal?: AbortSignal; onProgress?: (p: IndexProgress) => void } = {}): Promise<FolderSummary | undefined> {
    this.indexing++; // counted at once: a status published right after the call says "indexing"
    let summary: FolderSummary | undefined;
    const cancel = () => this.index.cancel();
    options.signal?.addEventListener('abort', cancel, { once: true });
    try {
      await this.ready;
      if (options.signal?.aborted) return undefined;
      summary = await this.index.indexAll(options.onProgress, options.force === true);
    } finally {
      options.signal?.removeEventListener('abort', cancel);
      this.indexing--;
      // A command-line run lets go of the index's lock once indexed; the index stays readable.
      if (this.options.exclusive) await this.index.close();
    }
    if (!summary) return undefined;
    if (!this.options.exclusive) {
      if (this.hasStoredEvidence()) await this.refreshDrift();
      if (existsSync(path.join(this.root, storeDirName, 'optimize', 'optimize.json'))) void this.trackRecord().catch(() => undefined);
    }
    return summary;
  }

  /** A file's text changed (an editor buffer, or the disk when `text` is undefined): true when its artifacts changed. */
  async updateFile(rel: string, text?: string): Promise<boolean> {
    await this.ready;
    const changed = await this.index.updateFile(rel, text);
    if (changed && this.evidenceStore.started) await this.refreshDrift([rel]);
    return changed;
  }

  async removeFile(rel: string): Promise<boolean> {
    await this.ready;
    const changed = this.index.removeFile(rel);
    if (changed && this.evidenceStore.started) await this.refreshDrift([rel]);
    return changed;
  }

  /**
   * Applies new settings at once: the index's walk rules, a new embedder when the Ollama
   * settings changed. Says what changed, so the caller can re-index or re-publish.
   */
  async applySettings(next: CrucibleSettings): Promise<ReturnType<typeof settingsChanges>> {
    const changes = settingsChanges(this.settings, next);
    this.settings = next;
    this.index.updateSettings(next);
    if (changes.embedder) {
      const choice = await chooseEmbedder(next.ollama);
      this.embedderReason = choice.reason;
      this.options.log?.(choice.reason);
      await this.index.setEmbedder(choice.embedder);
    }
    return changes;
  }

  // ---- evidence -------------------------------------------------------------------------

  /**
   * Runs the folder's tests with the recorder and records them as evidence; then writes
   * the evidence and recomputes drift. `changedFiles`: files whose artifacts' evidence changed.
   */
  async runTests(request: TestRunRequest): Promise<{ run: FolderTestRun; changedFiles: string[] }> {
    this.requireTrust('Running tests');
    await this.ready;
    const evidence = await this.evidence().catch(() => undefined);
    const run = await runFolderTests(this.index, evidence, pathToFileURL(this.root).toString(), {
      runId: request.runId,
      ids: request.ids ?? [],
      settings: this.settings.test,
      coverage: request.coverage === true,
      signal: request.signal,
      onStarted: request.onStarted,
      onOutput: request.onOutput,
    });
    const changedFiles = evidence ? await this.evidenceChanged(evidence, evidence.artifacts()) : [];
    return { run, changedFiles };
  }

  /** Benchmarks functions on their recorded calls (all with calls, or `ids`) and records a bench run. */
  async benchmark(request: { runId: string; ids?: string[]; signal?: AbortSignal; onProgress?: (done: number, total: number, id: string) => void }): Promise<{ outcomes: BenchmarkOutcome[]; changedFiles: string[] }> {
    this.requireTrust('Benchmarking');
    await this.ready;
    const evidence = await this.evidence();
    const outcomes = await benchmarkFolder(this.index, evidence, {
      runId: request.runId,
      ids: request.ids,
      maxSecondsPerArtifact: this.settings.bench.maxSecondsPerArtifact,
      signal: request.signal,
      onProgress: request.onProgress,
    });
    const changedFiles = await this.evidenceChanged(evidence, outcomes.filter((o) => o.ok).map((o) => o.id));
    return { outcomes, changedFiles };
  }

  /** After evidence changed: write it, recompute drift; returns the files of the artifacts whose evidence changed. */
  private async evidenceChanged(evidence: EvidenceStore, ids: readonly string[]): Promise<string[]> {
    await evidence.flush().catch((err) => this.warn(`evidence not written: ${(err as Error).message}`));
    await this.refreshDrift();
    return [...new Set(ids.map((id) => this.index.get(id)?.file).filter((f): f is string => f !== undefined))];
  }

  /** An artifact's evidence as of its code now, when the evidence store is open. */
  evidenceSummary(a: ArtifactRecord) {
    const store = this.openEvidence;
    return store ? summarizeEvidence(store, a.id, a.hash) : undefined;
  }

  /** Every function, method and class with evidence, in file order (`crucible evidence`). */
  evidenceRows(): EvidenceRow[] {
    const store = this.openEvidence;
    if (!store) return [];
    const rows: EvidenceRow[] = [];
    for (const a of this.index.artifacts({ kinds: ['function', 'method', 'class'] })) {
      const rec = store.get(a.id);
      if (!rec) continue;
      const s = summarizeEvidence(store, a.id, a.hash);
      const tested = lastTwo(rec.history, (e) => e.tests.length > 0).latest;
      rows.push({
        id: a.id,
        status: s.status,
        tests: (tested?.tests ?? []).map((t) => ({ id: t.testId, status: t.status })),
        coverage: s.coverage ?? null,
        calls: s.calls ?? null,
        samples: s.samples,
        medianNs: s.medianNs ?? null,
        lastVerified: s.status === 'verified' ? (s.lastVerifiedAt ?? null) : null,
        score: s.score ?? null,
      });
    }
    return rows;
  }

  // ---- drift ----------------------------------------------------------------------------

  /**
   * Recomputes drift against the code as indexed now (every artifact with evidence, or
   * those of `files`); when it changed, tells `onDriftChanged` which files it touched.
   */
  async refreshDrift(files?: string[]): Promise<void> {
    const evidence = await this.evidence().catch(() => undefined);
    if (!evidence) return;
    const only = files ? new Set(files) : undefined;
    const { byFile } = detectFolderDrift(evidence, (id) => this.index.get(id), only);
    const next = new Map<string, DriftEvent[]>(only ? [...this.drift].filter(([rel]) => !only.has(rel)) : []);
    for (const [rel, events] of byFile) next.set(rel, events);
    const before = JSON.stringify([...this.drift].sort());
    const touched = new Set([...this.drift.keys(), ...next.keys()]);
    this.drift = next;
    if (JSON.stringify([...next].sort()) !== before) this.options.onDriftChanged?.([...touched]);
  }

  /** Drift of every artifact with evidence, sorted by artifact (`crucible drift`). */
  async driftReport(): Promise<{ events: DriftEvent[]; gone: string[]; artifactsWithEvidence: number }> {
    const evidence = await this.evidence();
    const { byFile, gone } = detectFolderDrift(evidence, (id) => this.index.get(id));
    const events = [...byFile.values()].flat().sort((x, y) => (x.artifact < y.artifact ? -1 : x.artifact > y.artifact ? 1 : 0));
    return { events, gone: gone.sort(), artifactsWithEvidence: evidence.artifacts().length };
  }

  // ---- optimization ---------------------------------------------------------------------

  /** Where a function's time goes (recorded call durations): the callees the optimizer targets first. */
  timeInCallees(a: ArtifactRecord): CalleeShare[] {
    const evidence = this.openEvidence;
    return evidence ? calleeBreakdown(this.index, evidence, a) : [];
  }

  /** The variant to offer on an artifact: offered, verified on the code there is now, the fastest. */
  offeredVariant(a: ArtifactRecord): { best: VariantRecord; more: number } | undefined {
    // 'applied' still counts: after Undo the original is back (its hash again), and so is the offer.
    const offered = this.openTrackRecord?.variants({ artifact: a.id }).filter((v) => v.status !== 'dismissed' && v.originalHash === a.hash) ?? [];
    if (offered.length === 0) return undefined;
    offered.sort((x, y) => (y.verification.speedup ?? 0) - (x.verification.speedup ?? 0));
    return { best: offered[0], more: offered.length - 1 };
  }

  /**
   * Proposes, verifies and stores variants of the functions with evidence. The user's
   * files are never written; the track record is written at the end, whatever happened.
   */
  async optimize(request: OptimizeRequestOptions = {}): Promise<OptimizeOutcome> {
    this.requireTrust('Optimizing');
    await this.ready;
    const evidence = await this.evidence();
    const store = await this.trackRecord();
    const session = await openOptimizeSession(this.index, store, this.settings, this.options.log);
    const budget = request.budget ?? this.settings.optimize.budget;
    let verifying = 0;
    try {
      const report = await optimizeFolder(this.index, evidence, store, {
        budget,
        artifactIds: request.ids,
        agents: session.agents,
        verify: (t, c, signal) => session.verify(t, c, signal),
        readFile: this.options.overlay,
        signal: request.signal,
        onProgress: (m) => request.onProgress?.(m, m.startsWith('  verifying') ? Math.min(0.99, ++verifying / budget) : undefined),
      });
      const changes: string[] = [];
      for (const id of report.retired) changes.push(`retired ${id}: ${store.allAgents().find((r) => r.id === id)?.retired?.reason ?? ''}`);
      if (report.settingsChange) changes.push(`optimizer settings changed: ${report.settingsChange.why}`);
      return { report, notices: [...session.notices], changes };
    } finally {
      await session.dispose();
      await this.saveTrackRecord(store);
    }
  }

  /** Writes the track record; a busy or unwritable store keeps it in memory and says so in the log. */
  private async saveTrackRecord(store: TrackRecord): Promise<void> {
    await store.flush().catch((err) => this.warn(`variants not written: ${(err as Error).message}`));
  }

  /** The agents' ranking and the optimizer's settings with their history (the Micro-agents view). */
  async agentRanking(): Promise<{ agents: RankedAgent[]; settings: TrackRecord['settings']; settingsHistory: { at: string; why: string }[] }> {
    const store = await this.trackRecord();
    return { agents: rankAgents(store.allAgents()), settings: store.settings, settingsHistory: store.settingsHistory().map((c) => ({ at: c.at, why: c.why })) };
  }

  /** True when this folder's track record holds the variant. */
  async hasVariant(id: string): Promise<boolean> {
    return (await this.trackRecord()).variant(id) !== undefined;
  }

  /**
   * Diff, dismiss, mark applied, or the edit that applies a variant. The edit is given only
   * onto the code it was verified against; when the rest of the file changed (a helper it
   * calls, an import), the variant is verified again first.
   */
  async decideVariant(id: string, action: 'apply' | 'diff' | 'dismiss' | 'applied', signal?: AbortSignal): Promise<VariantDecision> {
    const store = await this.trackRecord();
    const v = store.variant(id);
    if (!v) return { problem: `No variant ${id} (it may have been removed by another optimize run).` };
    if (action === 'dismiss' || action === 'applied') {
      store.setStatus(v.id, action === 'dismiss' ? 'dismissed' : 'applied');
      await this.saveTrackRecord(store);
      return { done: true };
    }
    const name = v.artifact.split('#')[1];
    if (action === 'diff') return { diff: { file: v.file, original: v.original, variant: v.code, title: `${name}: original ↔ ${formatRatio(v.verification.speedup ?? 1)} faster variant (${v.agent})` } };
    await this.ready;
    const a = this.index.get(v.artifact);
    if (!a || a.hash !== v.originalHash) return { problem: `${name} changed since this variant was verified, so it is not offered any more: run Crucible: Optimize again.` };
    const evidence = await this.evidence();
    const target = targetOf(this.index, evidence, a, this.options.overlay);
    const fileText = this.options.overlay?.(v.file) ?? target?.fileText;
    if (!target || fileText === undefined || textAt(fileText, a.range) !== v.original) return { problem: `${name} could not be found as it was verified in ${v.file}; save the file and try again.` };
    if (fileHashOf(fileText) !== v.fileHash) {
      this.requireTrust('Re-verifying the variant');
      const session = await openOptimizeSession(this.index, store, this.settings, undefined, { verifyOnly: true });
      try {
        const check = await session.verify({ ...target, fileText }, { agent: v.agent, target: v.artifact, code: v.code, summary: v.summary }, signal);
        if (!check.accepted) {
          store.setStatus(v.id, 'dismissed');
          await this.saveTrackRecord(store);
          return { problem: `The file changed since this variant was verified, and it no longer passes: ${check.rejection?.step}: ${check.rejection?.reason}`, dismissed: true };
        }
        v.verification = check;
        v.fileHash = fileHashOf(fileText);
        store.touchAgents();
      } finally {
        await session.dispose();
      }
    }
    return { edit: { file: v.file, range: a.range, newText: v.code } };
  }

  // ---- lifetime -------------------------------------------------------------------------

  /** Writes what is pending and lets go of every lock. */
  async close(): Promise<void> {
    await this.index.close();
    await (await this.evidenceStore.ifStarted())?.close();
    await (await this.trackRecordStore.ifStarted())?.flush().catch(() => undefined);
  }
}
