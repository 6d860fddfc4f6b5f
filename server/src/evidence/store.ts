/**
 * `.crucible/evidence/`: what runs of the workspace's code showed, per artifact.
 *
 * Locking, atomic writes and recovery are `../storage.ts`'s, as for every store:
 * - artifacts are sharded by a hash of their id into `artifacts-NN.json`, so adding
 *   a run rewrites the shards it touched; runs live in `runs.json`;
 * - writes are batched: `addRun` changes memory, `flush` writes the dirty files;
 *   a flush re-reads those files under the lock and re-applies this store's pending
 *   runs on top, so two processes adding runs (the language server and a CLI) do not
 *   drop each other's;
 * - one writer at a time, on the evidence folder's own lock
 *   (`.crucible/evidence/write.lock`): evidence and index files never overlap, so
 *   an indexer and a test run need not wait for each other;
 * - a corrupt shard, or one written with another schema version, is moved aside to
 *   `*.corrupt-<timestamp>` and reported. Evidence cannot be rebuilt from the sources,
 *   so the old file is kept for a human to look at.
 *
 * History grows with every run, so it is capped: the last `maxHistory` (default 50)
 * entries per artifact, the last `maxRuns` (default 500) runs, and at most
 * `maxCallSamples` (default 100) recorded calls per artifact, newest kept.
 * `lastVerifiedHash` is kept apart from the history, so it survives the cap.
 */
import * as path from 'node:path';
import { storeDirName } from '../index/files';
import { type JsonDocument, shardFileName, shardOf, StoreFolder, type StoreProblem } from '../storage';
import { type ArtifactEvidence, type ArtifactRunEvidence, type ArtifactRunInput, type Run, verifies } from './model';

/** Bump when the shape of stored evidence changes; older files are moved aside, not rewritten. */
export const evidenceSchemaVersion = 1;
export const evidenceShardCount = 16;
export const evidenceDirName = 'evidence';

export interface EvidenceStoreOptions {
  /** History entries kept per artifact (oldest dropped first). */
  maxHistory?: number;
  /** Runs kept in `runs.json` (oldest dropped first). */
  maxRuns?: number;
  /** Recorded calls kept per artifact over its whole history (oldest dropped first). */
  maxCallSamples?: number;
  /** Who writes, for the lock's owner note. */
  owner?: string;
  lockWaitMs?: number;
  /** Problems found after `open` (a file gone corrupt by the time a flush re-reads it). */
  onProblem?: (problem: StoreProblem) => void;
}

export const defaultEvidenceLimits = { maxHistory: 50, maxRuns: 500, maxCallSamples: 100 } as const;

interface ArtifactShard {
  schemaVersion: number;
  artifacts: Record<string, ArtifactEvidence>;
}

interface RunsFile {
  schemaVersion: number;
  runs: Run[];
}

const runsShard = -1; // marker for runs.json in the dirty set

/** Said after "kept it as …" when a file is set aside: the evidence in it is not rebuilt by itself. */
const afterAside = 'started that part of the evidence afresh. Re-run the tests to record it again';

export class EvidenceStore {
  readonly dir: string;
  private readonly folder: StoreFolder;
  private readonly limits: { maxHistory: number; maxRuns: number; maxCallSamples: number };
  private readonly shards: JsonDocument<ArtifactShard>[] = [];
  private readonly runsDoc: JsonDocument<RunsFile>;
  private readonly dirty = new Set<number>();
  private readonly byArtifact = new Map<string, ArtifactEvidence>();
  private runList: Run[] = [];
  /** Runs added since the last successful flush, re-applied over the disk state when flushing. */
  private pending: { run: Run; perArtifact: ReadonlyMap<string, ArtifactRunInput> }[] = [];

  constructor(
    readonly root: string,
    private readonly options: EvidenceStoreOptions = {},
  ) {
    this.dir = path.join(root, storeDirName, evidenceDirName);
    this.limits = {
      maxHistory: options.maxHistory ?? defaultEvidenceLimits.maxHistory,
      maxRuns: options.maxRuns ?? defaultEvidenceLimits.maxRuns,
      maxCallSamples: options.maxCallSamples ?? defaultEvidenceLimits.maxCallSamples,
    };
    this.folder = new StoreFolder(this.dir, { owner: options.owner, lockWaitMs: options.lockWaitMs, inMemory: 'evidence is kept in memory only' });
    this.runsDoc = this.folder.document('runs.json', { schemaVersion: evidenceSchemaVersion, valid: isRunsFile }, afterAside);
    for (let i = 0; i < evidenceShardCount; i++) this.shards.push(this.folder.document(shardFileName('artifacts', i), { schemaVersion: evidenceSchemaVersion, valid: isArtifactShard }, afterAside));
  }

  get writable(): boolean {
    return this.folder.writable;
  }

  /** Loads every file; returns the problems found (each already handled by moving the file aside). */
  async open(): Promise<StoreProblem[]> {
    const problems = await this.folder.create();
    this.runList = (await this.load(this.runsDoc, problems))?.runs ?? [];
    for (const shard of this.shards) {
      const data = await this.load(shard, problems);
      if (data) for (const a of Object.values(data.artifacts)) this.byArtifact.set(a.artifact, a);
    }
    return problems;
  }

  /** Reads one file; a bad one is set aside and reported, and that part starts empty. */
  private async load<T extends { schemaVersion: number }>(doc: JsonDocument<T>, problems: StoreProblem[]): Promise<T | undefined> {
    const read = await doc.read();
    if (read.problem) problems.push(read.problem);
    return read.data;
  }

  /**
   * Records one run and what it showed per artifact. Re-adding a run with the same id
   * replaces it (adapters may import the same report twice). Changes memory only: call `flush`.
   */
  addRun(run: Run, perArtifact: ReadonlyMap<string, ArtifactRunInput>): void {
    this.pending.push({ run, perArtifact });
    this.apply(run, perArtifact);
  }

  private apply(run: Run, perArtifact: ReadonlyMap<string, ArtifactRunInput>): void {
    const existing = this.runList.findIndex((r) => r.id === run.id);
    if (existing >= 0) this.runList.splice(existing, 1);
    this.runList.push(run);
    this.runList.sort((a, b) => a.at.localeCompare(b.at));
    if (this.runList.length > this.limits.maxRuns) this.runList.splice(0, this.runList.length - this.limits.maxRuns);
    this.dirty.add(runsShard);

    for (const [artifact, input] of perArtifact) {
      const rec = this.byArtifact.get(artifact) ?? { artifact, history: [] };
      const entry: ArtifactRunEvidence = { ...input, runId: run.id, at: run.at };
      if (entry.callSamples) entry.callSamples = entry.callSamples.slice(-this.limits.maxCallSamples);
      rec.history = rec.history.filter((h) => h.runId !== run.id);
      rec.history.push(entry);
      rec.history.sort((a, b) => a.at.localeCompare(b.at));
      if (rec.history.length > this.limits.maxHistory) rec.history.splice(0, rec.history.length - this.limits.maxHistory);
      this.capCallSamples(rec);
      if (verifies(entry) && (rec.lastVerifiedAt === undefined || entry.at >= rec.lastVerifiedAt)) {
        rec.lastVerifiedHash = entry.hash;
        rec.lastVerifiedAt = entry.at;
      }
      this.byArtifact.set(artifact, rec);
      this.dirty.add(shardOf(artifact, evidenceShardCount));
    }
  }

  /** Drops the oldest recorded calls until the artifact holds at most `maxCallSamples`. */
  private capCallSamples(rec: ArtifactEvidence): void {
    let total = 0;
    for (const h of rec.history) total += h.callSamples?.length ?? 0;
    for (const h of rec.history) {
      if (total <= this.limits.maxCallSamples) break;
      if (!h.callSamples?.length) continue;
      const drop = Math.min(h.callSamples.length, total - this.limits.maxCallSamples);
      h.callSamples = h.callSamples.slice(drop);
      total -= drop;
    }
  }

  /** The artifact's history, oldest first (empty when nothing was recorded). */
  history(artifact: string): readonly ArtifactRunEvidence[] {
    return this.byArtifact.get(artifact)?.history ?? [];
  }

  /** Runs, oldest first. */
  runs(): readonly Run[] {
    return this.runList;
  }

  /** Content hash at the last run where all of the artifact's tests passed. */
  lastVerified(artifact: string): string | undefined {
    return this.byArtifact.get(artifact)?.lastVerifiedHash;
  }

  /** Everything stored about one artifact. */
  get(artifact: string): ArtifactEvidence | undefined {
    return this.byArtifact.get(artifact);
  }

  /** Ids of the artifacts with evidence. */
  artifacts(): string[] {
    return [...this.byArtifact.keys()];
  }

  /** Recorded calls of the artifact over its history, oldest first. */
  callSamples(artifact: string): NonNullable<ArtifactRunEvidence['callSamples']> {
    return this.history(artifact).flatMap((h) => h.callSamples ?? []);
  }

  get hasPendingWrites(): boolean {
    return this.dirty.size > 0;
  }

  /** Holds the write lock until `close` (a CLI run or a batch import does this). */
  async holdLock(): Promise<void> {
    await this.folder.holdLock();
  }

  /**
   * Writes the files that changed, under the evidence lock (taken here unless held).
   * Throws `StoreLockedError` when another writer holds it past the wait; the data stays in memory.
   */
  async flush(): Promise<void> {
    if (!this.writable || this.dirty.size === 0) return;
    await this.folder.underLock(() =>
      this.folder.write(async () => {
        const dirty = [...this.dirty];
        await this.reload(dirty);
        const byShard = new Map<number, Record<string, ArtifactEvidence>>();
        for (const s of dirty) if (s !== runsShard) byShard.set(s, {});
        for (const rec of this.byArtifact.values()) {
          const bucket = byShard.get(shardOf(rec.artifact, evidenceShardCount));
          if (bucket) bucket[rec.artifact] = rec;
        }
        // Artifact shards first, then the run list: a reader without the lock sees a run only once its evidence is on disk.
        for (const [s, artifacts] of byShard) await this.shards[s].write({ schemaVersion: evidenceSchemaVersion, artifacts });
        if (dirty.includes(runsShard)) await this.runsDoc.write({ schemaVersion: evidenceSchemaVersion, runs: this.runList });
        this.dirty.clear();
        this.pending = [];
      }),
    );
  }

  /**
   * Under the lock: replaces the in-memory copy of the given files with what is on disk
   * now (another process may have added runs since `open`), then re-applies the runs
   * this store added since its last flush.
   */
  private async reload(files: number[]): Promise<void> {
    const problems: StoreProblem[] = [];
    if (files.includes(runsShard)) this.runList = (await this.load(this.runsDoc, problems))?.runs ?? [];
    for (const s of files) {
      if (s === runsShard) continue;
      for (const id of [...this.byArtifact.keys()]) if (shardOf(id, evidenceShardCount) === s) this.byArtifact.delete(id);
      const data = await this.load(this.shards[s], problems);
      if (data) for (const a of Object.values(data.artifacts)) this.byArtifact.set(a.artifact, a);
    }
    for (const p of problems) this.options.onProblem?.(p);
    for (const p of this.pending) this.apply(p.run, p.perArtifact);
  }

  /** Writes what is pending and lets go of a held lock. */
  async close(): Promise<void> {
    try {
      await this.flush();
    } finally {
      await this.folder.releaseLock();
    }
  }
}

function isRunsFile(data: unknown): data is RunsFile {
  if (typeof data !== 'object' || data === null) return false;
  const d = data as Partial<RunsFile>;
  return typeof d.schemaVersion === 'number' && Array.isArray(d.runs) && d.runs.every((r) => typeof r === 'object' && r !== null && typeof r.id === 'string' && typeof r.at === 'string' && Array.isArray(r.outcomes));
}

function isArtifactShard(data: unknown): data is ArtifactShard {
  if (typeof data !== 'object' || data === null) return false;
  const d = data as Partial<ArtifactShard>;
  if (typeof d.schemaVersion !== 'number' || typeof d.artifacts !== 'object' || d.artifacts === null) return false;
  return Object.values(d.artifacts).every(
    (a) => typeof a === 'object' && a !== null && typeof a.artifact === 'string' && Array.isArray(a.history) && a.history.every((h) => typeof h === 'object' && h !== null && typeof h.hash === 'string' && Array.isArray(h.tests)),
  );
}
