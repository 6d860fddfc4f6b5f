/**
 * `.crucible/evidence/`: what runs of the workspace's code showed, per artifact.
 *
 * Same pattern as the index's record store (../index/store.ts):
 * - artifacts are sharded by a hash of their id into `artifacts-NN.json`, so adding
 *   a run rewrites the shards it touched; runs live in `runs.json`;
 * - writes are batched: `addRun` changes memory, `flush` writes the dirty files;
 *   a flush re-reads those files under the lock and re-applies this store's pending
 *   runs on top, so two processes adding runs (the language server and a CLI) do not
 *   drop each other's;
 * - one writer at a time, through the same lock mechanism, but on its own lock
 *   (`.crucible/evidence/write.lock`): evidence and index files never overlap, so
 *   an indexer and a test run need not wait for each other;
 * - a corrupt shard, or one written with another schema version, is moved aside to
 *   `*.corrupt-<timestamp>` and reported. Unlike the index, evidence cannot be
 *   rebuilt from the sources, so the old file is always kept for a human to look at.
 *
 * History grows with every run, so it is capped: the last `maxHistory` (default 50)
 * entries per artifact, the last `maxRuns` (default 500) runs, and at most
 * `maxCallSamples` (default 100) recorded calls per artifact, newest kept.
 * `lastVerifiedHash` is kept apart from the history, so it survives the cap.
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { Low } from 'lowdb';
import { JSONFile } from 'lowdb/node';
import { storeDirName } from '../index/files';
import { acquireStoreLock, moveAside, shardOf, type StoreProblem } from '../index/store';
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

export class EvidenceStore {
  readonly dir: string;
  private readonly limits: { maxHistory: number; maxRuns: number; maxCallSamples: number };
  private readonly shards: Low<ArtifactShard>[] = [];
  private runsDb: Low<RunsFile> | undefined;
  private readonly dirty = new Set<number>();
  private readonly byArtifact = new Map<string, ArtifactEvidence>();
  private runList: Run[] = [];
  /** Runs added since the last successful flush, re-applied over the disk state when flushing. */
  private pending: { run: Run; perArtifact: ReadonlyMap<string, ArtifactRunInput> }[] = [];
  private heldLock: (() => Promise<void>) | undefined;
  private writeError: string | undefined;

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
  }

  get writable(): boolean {
    return this.writeError === undefined;
  }

  /** Loads every file; returns the problems found (each already handled by moving the file aside). */
  async open(): Promise<StoreProblem[]> {
    const problems: StoreProblem[] = [];
    try {
      await fs.mkdir(this.dir, { recursive: true });
    } catch (err) {
      this.writeError = `cannot create ${this.dir} (${(err as NodeJS.ErrnoException).code ?? err})`;
      problems.push({ file: this.dir, message: `${this.writeError}; evidence is kept in memory only until that is fixed.` });
    }
    const runsFile = path.join(this.dir, 'runs.json');
    this.runsDb = new Low<RunsFile>(new JSONFile<RunsFile>(runsFile), { schemaVersion: evidenceSchemaVersion, runs: [] });
    const runs = await this.load(this.runsDb, runsFile, isRunsFile, problems);
    if (runs) this.runList = runs.runs;
    for (let i = 0; i < evidenceShardCount; i++) {
      const file = shardPath(this.dir, i);
      const db = new Low<ArtifactShard>(new JSONFile<ArtifactShard>(file), { schemaVersion: evidenceSchemaVersion, artifacts: {} });
      this.shards.push(db);
      const data = await this.load(db, file, isArtifactShard, problems);
      if (data) for (const a of Object.values(data.artifacts)) this.byArtifact.set(a.artifact, a);
    }
    return problems;
  }

  /** Reads one file; a bad one is moved aside, reported, and replaced by an empty one at the next flush. */
  private async load<T extends { schemaVersion: number }>(db: Low<T>, file: string, valid: (d: unknown) => d is T, problems: StoreProblem[]): Promise<T | undefined> {
    let why: string;
    try {
      await db.read();
      const data = db.data as unknown;
      const version = (data as { schemaVersion?: unknown } | null)?.schemaVersion;
      if (typeof version === 'number' && version !== evidenceSchemaVersion) {
        why = `it was written by another version of Crucible (schema ${version}, this one reads ${evidenceSchemaVersion})`;
      } else {
        if (!valid(data)) throw new Error('unexpected structure');
        return data;
      }
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ENOTDIR') return undefined; // nothing recorded yet
      why = `it was corrupt (${(err as Error).message})`;
    }
    const aside = await moveAside(file);
    problems.push({
      file,
      message: aside
        ? `${path.basename(file)} could not be used because ${why}; kept it as ${path.basename(aside)} and started that part of the evidence afresh. Re-run the tests to record it again.`
        : `${path.basename(file)} could not be used because ${why}, and could not be moved aside; evidence for that part is kept in memory only.`,
    });
    if (!aside) this.writeError ??= `cannot move ${file} aside`;
    return undefined;
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
    this.heldLock ??= await acquireStoreLock(this.dir, this.lockOptions());
  }

  private lockOptions() {
    return { owner: this.options.owner ?? 'Crucible', waitMs: this.options.lockWaitMs ?? 5000 };
  }

  /**
   * Writes the files that changed, under the evidence lock (taken here unless held).
   * Throws `StoreLockedError` when another writer holds it past the wait; the data stays in memory.
   */
  async flush(): Promise<void> {
    if (!this.writable || this.dirty.size === 0) return;
    const release = this.heldLock ? undefined : await acquireStoreLock(this.dir, this.lockOptions());
    const dirty = [...this.dirty];
    try {
      await this.reload(dirty);
      const byShard = new Map<number, Record<string, ArtifactEvidence>>();
      for (const s of dirty) if (s !== runsShard) byShard.set(s, {});
      for (const rec of this.byArtifact.values()) {
        const bucket = byShard.get(shardOf(rec.artifact, evidenceShardCount));
        if (bucket) bucket[rec.artifact] = rec;
      }
      // Artifact shards first, then the run list: a reader without the lock sees a run only once its evidence is on disk.
      for (const [s, artifacts] of byShard) {
        const db = this.shards[s];
        db.data = { schemaVersion: evidenceSchemaVersion, artifacts };
        await db.write();
      }
      if (dirty.includes(runsShard) && this.runsDb) {
        this.runsDb.data = { schemaVersion: evidenceSchemaVersion, runs: this.runList };
        await this.runsDb.write();
      }
      this.dirty.clear();
      this.pending = [];
    } catch (err) {
      this.writeError = `cannot write ${this.dir} (${(err as NodeJS.ErrnoException).code ?? err})`;
      throw new Error(`${this.writeError}; evidence is kept in memory.`);
    } finally {
      await release?.();
    }
  }

  /**
   * Under the lock: replaces the in-memory copy of the given files with what is on disk
   * now (another process may have added runs since `open`), then re-applies the runs
   * this store added since its last flush.
   */
  private async reload(files: number[]): Promise<void> {
    const problems: StoreProblem[] = [];
    if (this.runsDb && files.includes(runsShard)) {
      const data = await this.load(this.runsDb, path.join(this.dir, 'runs.json'), isRunsFile, problems);
      this.runList = data?.runs ?? [];
    }
    for (const s of files) {
      if (s === runsShard) continue;
      for (const id of [...this.byArtifact.keys()]) if (shardOf(id, evidenceShardCount) === s) this.byArtifact.delete(id);
      const data = await this.load(this.shards[s], shardPath(this.dir, s), isArtifactShard, problems);
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
      await this.heldLock?.();
      this.heldLock = undefined;
    }
  }
}

function shardPath(dir: string, shard: number): string {
  return path.join(dir, `artifacts-${String(shard).padStart(2, '0')}.json`);
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
