/**
 * How every store under `.crucible/` keeps its files: written once here, used by the
 * index records and vectors, the evidence, the agents' track record, and the stores to come.
 *
 * - A store owns one folder (`StoreFolder`): it creates it, and when the folder cannot be
 *   created or written the store keeps working in memory and says so once.
 * - One writer per folder at a time: a lock directory (proper-lockfile, refreshed while
 *   held, stale after a crash) with an owner note beside it, so a second writer waits
 *   briefly and then gets a `StoreLockedError` naming the holder.
 * - Documents are versioned JSON files (`{ schemaVersion, ... }`) checked by a shape
 *   validator. A file that is corrupt, unreadable, of the wrong shape or of another schema
 *   version is moved aside to `*.corrupt-<timestamp>` (kept, never deleted), reported with
 *   one message format, and its part of the store starts empty.
 * - Documents are read and written by lowdb's JSON adapter (steno: a temp file, then a
 *   rename, so a reader sees the old or the new text, never half). Its temp name is the
 *   same in every process, which is safe because every write holds the folder's lock.
 * - `JsonStore` puts these together for a store that is one document: one call
 *   (`openJsonStore`) opens it.
 */
import { constants as fsConstants, mkdirSync, promises as fs, readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { JSONFile } from 'lowdb/node';
import * as lockfile from 'proper-lockfile';

/** Something found wrong with a store, already handled; `message` is for the user. */
export interface StoreProblem {
  file: string;
  message: string;
}

// ---------------------------------------------------------------------------------------
// Lock
// ---------------------------------------------------------------------------------------

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

export const defaultLockWaitMs = 5000;

/**
 * Takes the write lock of `storeDir`, waiting up to `waitMs`. Returns a release function.
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

// ---------------------------------------------------------------------------------------
// Setting damaged files aside
// ---------------------------------------------------------------------------------------

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

/** What was wrong with a store file. */
export type Damage =
  | { kind: 'corrupt'; detail: string }
  | { kind: 'unreadable'; detail: string }
  | { kind: 'other-version'; found: unknown; reads: number };

/** What a failed read says: unreadable when the file system refused (EISDIR, EACCES), corrupt otherwise (bad JSON, a failed shape check). */
export function damageOf(err: unknown): Damage {
  const detail = (err as Error)?.message ?? String(err);
  return (err as NodeJS.ErrnoException)?.code ? { kind: 'unreadable', detail } : { kind: 'corrupt', detail };
}

function describeDamage(d: Damage): string {
  switch (d.kind) {
    case 'corrupt':
      return `was corrupt (${d.detail})`;
    case 'unreadable':
      return `was unreadable (${d.detail})`;
    case 'other-version':
      return `was written by another version of Crucible (schema ${String(d.found)}, this one reads ${d.reads})`;
  }
}

export interface SetAsideReport {
  /** How the message names the thing; by default `<file name> could not be used because it`. */
  subject?: string;
  /** What the store does instead, after "kept it as <aside> and …". */
  then: string;
  /** What the store does when the file cannot even be moved: "<store> keeps working in memory". */
  inMemory: string;
}

/**
 * Moves `target` (a file or a folder) aside and says so, in the one wording every store uses:
 * `<subject> <what was wrong>; kept it as <where> and <what happens now>.`
 */
export async function setAside(target: string, damage: Damage, report: SetAsideReport, file = target): Promise<{ problem: StoreProblem; aside: string | undefined }> {
  const aside = await moveAside(target);
  const subject = report.subject ?? `${path.basename(file)} could not be used because it`;
  const message = aside
    ? `${subject} ${describeDamage(damage)}; kept it as ${path.basename(aside)} and ${report.then}.`
    : `${subject} ${describeDamage(damage)}, and could not be moved aside; ${report.inMemory}.`;
  return { problem: { file, message }, aside };
}

// ---------------------------------------------------------------------------------------
// Atomic writes
// ---------------------------------------------------------------------------------------

/** Writes `data` as two-space JSON, atomically (lowdb's adapter: temp file, then rename). The caller holds the lock. */
export async function writeJsonAtomic(file: string, data: unknown): Promise<void> {
  await new JSONFile<unknown>(file).write(data);
}

// ---------------------------------------------------------------------------------------
// Versioned JSON documents
// ---------------------------------------------------------------------------------------

export interface Versioned {
  schemaVersion: number;
}

/** What a document of one kind looks like. */
export interface DocumentKind<T extends Versioned> {
  /** The version this code reads and writes; a file with another one is set aside. */
  schemaVersion: number;
  /** Shape check of a document that has the right version. */
  valid(data: unknown): data is T;
}

export type DocumentRead<T> =
  /** The file was there and good. */
  | { data: T; problem?: undefined }
  /** Nothing there yet (or the folder is missing: the folder's own problem says why). */
  | { data: undefined; problem?: undefined }
  /** The file was set aside (or could not be, see the folder's `writable`); start that part empty. */
  | { data: undefined; problem: StoreProblem };

/** One versioned JSON file of a store folder. */
export class JsonDocument<T extends Versioned> {
  constructor(
    readonly file: string,
    private readonly kind: DocumentKind<T>,
    private readonly folder: StoreFolder,
    /** What the store does after setting this file aside ("rebuilt its part of the index"). */
    private readonly then: string,
  ) {
    this.adapter = new JSONFile<unknown>(file);
  }
  private readonly adapter: JSONFile<unknown>;

  /** Reads the file; a damaged one is set aside and reported, never thrown. */
  async read(): Promise<DocumentRead<T>> {
    let damage: Damage;
    try {
      const data = await this.adapter.read();
      if (data === null) return { data: undefined };
      const version = (data as Partial<Versioned> | null)?.schemaVersion;
      if (typeof version === 'number' && version !== this.kind.schemaVersion) damage = { kind: 'other-version', found: version, reads: this.kind.schemaVersion };
      else if (!this.kind.valid(data)) damage = { kind: 'corrupt', detail: 'unexpected structure' };
      else return { data };
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ENOTDIR') return { data: undefined };
      damage = damageOf(err);
    }
    const { problem, aside } = await setAside(this.file, damage, { then: this.then, inMemory: this.folder.inMemory });
    // Never overwrite a damaged file that could not be kept: the store stays in memory.
    if (!aside) this.folder.markUnwritable(`cannot move ${this.file} aside`);
    return { data: undefined, problem };
  }

  /** Writes atomically (lowdb's adapter, two-space JSON). The caller holds the folder's lock. */
  async write(data: T): Promise<void> {
    await this.adapter.write(data);
  }
}

// ---------------------------------------------------------------------------------------
// A store's folder
// ---------------------------------------------------------------------------------------

export interface StoreFolderOptions {
  /** Who writes, for the lock's owner note. */
  owner?: string;
  lockWaitMs?: number;
  /** How the store says it keeps working without its files: "the index works in memory". */
  inMemory: string;
}

/**
 * The folder a store owns: its creation, its write lock, its documents, and whether it can
 * still be written (once it cannot, the store keeps its data in memory).
 */
export class StoreFolder {
  private writeError: string | undefined;
  private heldLock: (() => Promise<void>) | undefined;

  constructor(
    readonly dir: string,
    private readonly options: StoreFolderOptions,
  ) {}

  get inMemory(): string {
    return this.options.inMemory;
  }
  get writable(): boolean {
    return this.writeError === undefined;
  }
  get unwritableReason(): string | undefined {
    return this.writeError;
  }

  markUnwritable(reason: string): void {
    this.writeError ??= reason;
  }

  /**
   * Creates the folder (and runs `prepare` in it); when that fails the store works in memory
   * and the returned problem says so.
   */
  async create(prepare?: () => Promise<void>): Promise<StoreProblem[]> {
    try {
      await fs.mkdir(this.dir, { recursive: true });
      await prepare?.();
      return [];
    } catch (err) {
      this.writeError = `cannot create ${this.dir} (${(err as NodeJS.ErrnoException).code ?? err})`;
      return [{ file: this.dir, message: `${this.writeError}; ${this.options.inMemory} until that is fixed.` }];
    }
  }

  /** A versioned JSON file in this folder. */
  document<T extends Versioned>(name: string, kind: DocumentKind<T>, then: string): JsonDocument<T> {
    return new JsonDocument(path.join(this.dir, name), kind, this, then);
  }

  /**
   * Runs the writes in `work`; a failure makes the folder unwritable (the store keeps its
   * data in memory) and is rethrown as one message saying so.
   */
  async write(work: () => Promise<void>): Promise<void> {
    try {
      await work();
    } catch (err) {
      this.writeError = `cannot write ${this.dir} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message ?? err})`;
      throw new Error(`${this.writeError}; ${this.options.inMemory} until that is fixed.`);
    }
  }

  private lockOptions(): LockOptions {
    return { owner: this.options.owner ?? 'Crucible', waitMs: this.options.lockWaitMs ?? defaultLockWaitMs };
  }

  /** Takes the write lock and keeps it until `releaseLock` (a CLI run or a batch import does this). */
  async holdLock(): Promise<void> {
    this.heldLock ??= await acquireStoreLock(this.dir, this.lockOptions());
  }

  async releaseLock(): Promise<void> {
    const release = this.heldLock;
    this.heldLock = undefined;
    await release?.();
  }

  /** Runs `work` under the write lock, taken here unless held. Throws `StoreLockedError` when another writer keeps it. */
  async underLock<R>(work: () => Promise<R>): Promise<R> {
    const release = this.heldLock ? undefined : await acquireStoreLock(this.dir, this.lockOptions());
    try {
      return await work();
    } finally {
      await release?.();
    }
  }
}

/** Throws when `dir` cannot be written: `mkdir -p` of an existing read-only folder succeeds, `access` does not. */
export async function checkWritable(dir: string): Promise<void> {
  await fs.access(dir, fsConstants.W_OK);
}

// ---------------------------------------------------------------------------------------
// A store that is one document
// ---------------------------------------------------------------------------------------

export interface JsonStoreOptions<T extends Versioned> extends StoreFolderOptions, DocumentKind<T> {
  /** The store's folder (its lock lives there). */
  dir: string;
  /** The document's file name inside `dir`. */
  file: string;
  /** A fresh document, for a new store and after a damaged one was set aside. */
  empty(): T;
  /** What the store does after setting its file aside ("started the variants and rankings afresh"). */
  then: string;
}

/**
 * A store kept as one versioned JSON document: `data` is the document in memory; `changed`
 * marks it for the next `flush`, which writes it atomically under the folder's lock.
 */
export class JsonStore<T extends Versioned> {
  readonly folder: StoreFolder;
  readonly document: JsonDocument<T>;
  data: T;
  private dirty = false;

  constructor(private readonly options: JsonStoreOptions<T>) {
    this.folder = new StoreFolder(options.dir, options);
    this.document = this.folder.document(options.file, options, options.then);
    this.data = options.empty();
  }

  get file(): string {
    return this.document.file;
  }
  get writable(): boolean {
    return this.folder.writable;
  }
  get hasPendingWrites(): boolean {
    return this.dirty;
  }

  /** Creates the folder and reads the document; returns the problems found (each already handled). */
  async open(): Promise<StoreProblem[]> {
    const problems = await this.folder.create();
    const read = await this.document.read();
    this.data = read.data ?? this.options.empty();
    if (read.problem) {
      problems.push(read.problem);
      this.dirty = true; // the next flush writes a good file where the damaged one was
    }
    return problems;
  }

  changed(): void {
    this.dirty = true;
  }

  /** Writes the document if it changed. Throws `StoreLockedError` when another writer keeps the lock; the data stays in memory. */
  async flush(): Promise<void> {
    if (!this.dirty || !this.writable) return;
    await this.folder.underLock(() =>
      this.folder.write(async () => {
        await this.document.write(this.data);
        this.dirty = false;
      }),
    );
  }
}

/** Opens a store kept as one versioned JSON document, in one call. */
export async function openJsonStore<T extends Versioned>(options: JsonStoreOptions<T>): Promise<{ store: JsonStore<T>; problems: StoreProblem[] }> {
  const store = new JsonStore(options);
  return { store, problems: await store.open() };
}

// ---------------------------------------------------------------------------------------
// Sharding
// ---------------------------------------------------------------------------------------

/** FNV-1a; shared by the sharded stores so a file's data lands in the same shard number in each. */
export function shardOf(key: string, count: number): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) {
    h ^= key.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return (h >>> 0) % count;
}

/** `<prefix>-NN.json`: the file name of shard `n`. */
export function shardFileName(prefix: string, n: number): string {
  return `${prefix}-${String(n).padStart(2, '0')}.json`;
}
