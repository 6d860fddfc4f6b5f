/**
 * `.crucible/` in a workspace folder: the records of what was indexed.
 *
 * lowdb rewrites a whole file on every write, so file records are sharded by a
 * hash of their path into `index/files-NN.json`: an edit rewrites one shard, not
 * the workspace. Writes are batched by the caller (`markDirty` then `flush`).
 *
 * One writer at a time: lowdb's atomic rename is only atomic for one process
 * (two writers share one temp name), so every flush holds a lock
 * (proper-lockfile: a lock directory refreshed while held, stale after a crash).
 * A second writer waits briefly, then gets a `StoreLockedError` naming the holder.
 *
 * A corrupt or unreadable shard is moved aside to `*.corrupt-<timestamp>` and
 * starts empty; the files it described are simply indexed again.
 */
import { constants as fsConstants, mkdirSync, promises as fs, readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { Low } from 'lowdb';
import { JSONFile } from 'lowdb/node';
import * as lockfile from 'proper-lockfile';
import type { ArtifactLanguage } from '../protocol';
import type { ArtifactRecord, Range } from './extract';
import { storeDirName } from './files';

/** Bump when the shape of stored records changes; older stores are rebuilt. */
export const schemaVersion = 1;
export const recordShardCount = 16;

export interface FileRecord {
  file: string;
  language: ArtifactLanguage;
  /** Hash of the text that was indexed: same hash, no work. */
  contentHash: string;
  parseErrors: number;
  /** Where the first syntax error is, when `parseErrors > 0` (optional: older records lack it). */
  firstError?: Range;
  artifacts: ArtifactRecord[];
}

interface ShardData {
  schemaVersion: number;
  files: Record<string, FileRecord>;
}

export interface StoreProblem {
  file: string;
  message: string;
}

export class StoreLockedError extends Error {
  constructor(
    readonly storeDir: string,
    readonly holder: string,
  ) {
    super(`The Crucible store ${storeDir} is being written by another process (${holder}). Waited for it and gave up; try again when it has finished.`);
    this.name = 'StoreLockedError';
  }
}

export interface LockOptions {
  /** Who is asking, written next to the lock so a waiting writer can name it. */
  owner: string;
  /** How long a second writer waits before giving up. */
  waitMs: number;
}

/** FNV-1a; shared by record and vector sharding so a file's data lives in one shard number. */
export function shardOf(file: string, count: number): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < file.length; i++) {
    h ^= file.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return (h >>> 0) % count;
}

export function asideName(file: string): string {
  return `${file}.corrupt-${new Date().toISOString().replace(/[:.]/g, '-')}`;
}

/** Moves a damaged file or folder out of the way; returns where it went, or undefined if that failed too. */
export async function moveAside(file: string): Promise<string | undefined> {
  const target = asideName(file);
  try {
    await fs.rename(file, target);
    return target;
  } catch {
    return undefined;
  }
}

export class RecordStore {
  readonly dir: string;
  private readonly shards: Low<ShardData>[] = [];
  private readonly dirty = new Set<number>();
  private readonly files = new Map<string, FileRecord>();
  /** Set when `.crucible/` can't be created or written: the index keeps working in memory. */
  private writeError: string | undefined;

  constructor(readonly root: string) {
    this.dir = path.join(root, storeDirName);
  }

  get writable(): boolean {
    return this.writeError === undefined;
  }
  get unwritableReason(): string | undefined {
    return this.writeError;
  }

  /** Loads every shard; returns the problems found (each already repaired by moving the file aside). */
  async open(): Promise<StoreProblem[]> {
    const problems: StoreProblem[] = [];
    try {
      await fs.mkdir(path.join(this.dir, 'index'), { recursive: true });
      await this.writeMarkers();
    } catch (err) {
      this.writeError = `cannot create ${path.join(this.dir, 'index')} (${(err as NodeJS.ErrnoException).code ?? err})`;
      problems.push({ file: this.dir, message: `${this.writeError}; the index works in memory only until that is fixed.` });
    }
    for (let i = 0; i < recordShardCount; i++) {
      const file = path.join(this.dir, 'index', `files-${String(i).padStart(2, '0')}.json`);
      const db = new Low<ShardData>(new JSONFile<ShardData>(file), { schemaVersion, files: {} });
      this.shards.push(db);
      try {
        await db.read();
        const data = db.data as unknown;
        if (!isShardData(data)) throw new Error('unexpected structure');
        if (data.schemaVersion !== schemaVersion) {
          db.data = { schemaVersion, files: {} }; // an older layout: rebuilt from the sources
          this.dirty.add(i);
          continue;
        }
        for (const rec of Object.values(data.files)) this.files.set(rec.file, rec);
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === 'ENOENT' || code === 'ENOTDIR') continue; // no store yet (or `.crucible` is not a folder: reported above)
        const aside = await moveAside(file);
        db.data = { schemaVersion, files: {} };
        this.dirty.add(i);
        problems.push({
          file,
          message: aside
            ? `${path.basename(file)} was corrupt (${(err as Error).message}); kept it as ${path.basename(aside)} and rebuilt its part of the index.`
            : `${path.basename(file)} is unreadable (${(err as Error).message}) and could not be moved aside; its part of the index is rebuilt in memory.`,
        });
      }
    }
    return problems;
  }

  private async writeMarkers(): Promise<void> {
    // The store is machine state: keep it out of the user's commits.
    const gi = path.join(this.dir, '.gitignore');
    await fs.writeFile(gi, '*\n', { flag: 'wx' }).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'EEXIST') throw err;
    });
    await fs.access(this.dir, fsConstants.W_OK);
  }

  get(file: string): FileRecord | undefined {
    return this.files.get(file);
  }

  all(): IterableIterator<FileRecord> {
    return this.files.values();
  }

  get size(): number {
    return this.files.size;
  }

  set(rec: FileRecord): void {
    this.files.set(rec.file, rec);
    this.markDirty(rec.file);
  }

  delete(file: string): boolean {
    const had = this.files.delete(file);
    if (had) this.markDirty(file);
    return had;
  }

  private markDirty(file: string): void {
    this.dirty.add(shardOf(file, recordShardCount));
  }

  get hasPendingWrites(): boolean {
    return this.dirty.size > 0;
  }

  /** Writes the shards that changed. The caller holds the store lock. */
  async flush(): Promise<void> {
    if (!this.writable || this.dirty.size === 0) return;
    const shards = [...this.dirty];
    this.dirty.clear();
    const byShard = new Map<number, Record<string, FileRecord>>();
    for (const s of shards) byShard.set(s, {});
    for (const rec of this.files.values()) {
      const bucket = byShard.get(shardOf(rec.file, recordShardCount));
      if (bucket) bucket[rec.file] = rec;
    }
    try {
      for (const s of shards) {
        const db = this.shards[s];
        db.data = { schemaVersion, files: byShard.get(s)! };
        await db.write();
      }
    } catch (err) {
      for (const s of shards) this.dirty.add(s);
      this.writeError = `cannot write ${this.dir} (${(err as NodeJS.ErrnoException).code ?? err})`;
      throw new Error(`${this.writeError}; the index keeps working in memory.`);
    }
  }
}

function isShardData(data: unknown): data is ShardData {
  if (typeof data !== 'object' || data === null) return false;
  const d = data as Partial<ShardData>;
  if (typeof d.schemaVersion !== 'number' || typeof d.files !== 'object' || d.files === null) return false;
  return Object.values(d.files).every((r) => typeof r === 'object' && r !== null && typeof r.file === 'string' && Array.isArray(r.artifacts) && typeof r.contentHash === 'string');
}

/**
 * Takes the store's write lock, waiting up to `waitMs`. Returns a release function.
 * The holder's name is written beside the lock so the waiting side can report it.
 */
export async function acquireStoreLock(storeDir: string, options: LockOptions): Promise<() => Promise<void>> {
  mkdirSync(storeDir, { recursive: true });
  const lockPath = path.join(storeDir, 'write.lock');
  const ownerPath = path.join(storeDir, 'write.lock.owner');
  const deadline = Date.now() + options.waitMs;
  for (;;) {
    try {
      const release = await lockfile.lock(storeDir, {
        lockfilePath: lockPath,
        realpath: false,
        stale: 10_000,
        onCompromised: () => undefined, // a lost lock shows up as a failed next flush, not a crash
      });
      try {
        writeFileSync(ownerPath, JSON.stringify({ owner: options.owner, pid: process.pid, since: new Date().toISOString() }));
      } catch {
        // the name is a courtesy
      }
      return async () => {
        await release().catch(() => undefined);
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ELOCKED') throw err;
      if (Date.now() >= deadline) throw new StoreLockedError(storeDir, describeHolder(ownerPath));
      await new Promise((r) => setTimeout(r, Math.min(100, Math.max(10, deadline - Date.now()))));
    }
  }
}

function describeHolder(ownerPath: string): string {
  try {
    const o = JSON.parse(readFileSync(ownerPath, 'utf8')) as { owner?: string; pid?: number; since?: string };
    return `${o.owner ?? 'unknown'}, pid ${o.pid ?? '?'}, since ${o.since ?? '?'}`;
  } catch {
    return 'unknown holder';
  }
}
