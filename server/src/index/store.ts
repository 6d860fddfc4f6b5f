/**
 * `.crucible/` in a workspace folder: the records of what was indexed.
 *
 * A JSON file is rewritten whole on every write, so file records are sharded by a hash
 * of their path into `index/files-NN.json`: an edit rewrites one shard, not the workspace. Writes are batched by the caller (`markDirty` then `flush`).
 *
 * Locking, atomic writes and recovery are `../storage.ts`'s: the caller (WorkspaceIndex)
 * holds the `.crucible` folder's lock around a flush of the records and the vectors, and a
 * corrupt, unreadable or other-version shard is set aside to `*.corrupt-<timestamp>` and
 * starts empty; the files it described are simply indexed again.
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import type { ArtifactLanguage } from '../protocol';
import { checkWritable, type JsonDocument, type LockOptions, shardFileName, shardOf, StoreFolder, type StoreProblem } from '../storage';
import type { ArtifactRecord, Range } from './extract';
import { storeDirName } from './files';

/** Bump when the shape of stored records changes; older stores are set aside and rebuilt. */
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

const shardKind = { schemaVersion, valid: isShardData };

export class RecordStore {
  readonly dir: string;
  /** `.crucible/` itself: its lock covers the record shards and the vectors. */
  readonly folder: StoreFolder;
  private readonly shards: JsonDocument<ShardData>[] = [];
  private readonly dirty = new Set<number>();
  private readonly files = new Map<string, FileRecord>();

  constructor(
    readonly root: string,
    lock: Partial<LockOptions> = {},
  ) {
    this.dir = path.join(root, storeDirName);
    this.folder = new StoreFolder(this.dir, { owner: lock.owner, lockWaitMs: lock.waitMs, inMemory: 'the index works in memory only' });
    for (let i = 0; i < recordShardCount; i++) this.shards.push(this.folder.document(path.join('index', shardFileName('files', i)), shardKind, 'rebuilt its part of the index'));
  }

  /** False when `.crucible/` can't be created or written: the index keeps working in memory. */
  get writable(): boolean {
    return this.folder.writable;
  }
  get unwritableReason(): string | undefined {
    return this.folder.unwritableReason;
  }

  /** Loads every shard; returns the problems found (each already repaired by moving the file aside). */
  async open(): Promise<StoreProblem[]> {
    const problems = await this.folder.create(async () => {
      await fs.mkdir(path.join(this.dir, 'index'), { recursive: true });
      // The store is machine state: keep it out of the user's commits.
      await fs.writeFile(path.join(this.dir, '.gitignore'), '*\n', { flag: 'wx' }).catch((err: NodeJS.ErrnoException) => {
        if (err.code !== 'EEXIST') throw err;
      });
      await checkWritable(this.dir);
    });
    for (const [i, shard] of this.shards.entries()) {
      const read = await shard.read();
      if (read.problem) {
        problems.push(read.problem);
        this.dirty.add(i); // rewritten, once its files are indexed again
      }
      for (const rec of Object.values(read.data?.files ?? {})) this.files.set(rec.file, rec);
    }
    return problems;
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

  /** Writes the shards that changed. The caller holds the store lock (`folder.underLock`). */
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
      await this.folder.write(async () => {
        for (const s of shards) await this.shards[s].write({ schemaVersion, files: byShard.get(s)! });
      });
    } catch (err) {
      for (const s of shards) this.dirty.add(s);
      throw err;
    }
  }
}

function isShardData(data: unknown): data is ShardData {
  if (typeof data !== 'object' || data === null) return false;
  const d = data as Partial<ShardData>;
  if (typeof d.schemaVersion !== 'number' || typeof d.files !== 'object' || d.files === null) return false;
  return Object.values(d.files).every((r) => typeof r === 'object' && r !== null && typeof r.file === 'string' && Array.isArray(r.artifacts) && typeof r.contentHash === 'string');
}
