/**
 * The index of one workspace folder: walks it, extracts artifacts, embeds them,
 * keeps them in memory for queries and in `.crucible/` across sessions.
 *
 * Content-addressed, as Continue's index is: a file whose text hashes to what
 * was indexed last time does no work (no parse, no embedding, no write).
 * Used by the language server and the CLI alike; knows nothing of LSP or VS Code.
 */
import * as path from 'node:path';
import type { ArtifactKind, ArtifactLanguage, CallRef, FolderSummary } from '../protocol';
import { type Embedder, LocalEmbedder } from './embedders';
import { type ArtifactRecord, ExtractionCache, extractFile, type Position } from './extract';
import { languageForPath, loadParsers, type Parsers } from './languages';
import { hashText, PathFilter, readSource, type SkippedFile, walkFolder } from './files';
import { StoreLockedError, type StoreProblem } from '../storage';
import { type FileRecord, RecordStore } from './store';
import { VectorStore } from './vectors';

export interface IndexSettings {
  exclude: string[];
  maxFileSizeBytes: number;
}

export interface WorkspaceIndexOptions {
  settings: IndexSettings;
  embedder?: Embedder;
  /** Who writes the store, for the lock's owner note ("crucible index", "language server"). */
  owner: string;
  /** How long a flush waits for another writer before giving up. */
  lockWaitMs?: number;
  /** Store problems (corrupt files moved aside, unwritable folder): each reported once. */
  onProblem?: (problem: StoreProblem) => void;
  log?: (message: string) => void;
  /** Text of files open in an editor, which wins over the disk. */
  overlay?: (rel: string) => string | undefined;
}

export interface IndexProgress {
  done: number;
  total: number;
  file?: string;
}

/** Work counters: tests use them to prove unchanged content does no work. */
export interface WorkStats {
  filesRead: number;
  filesExtracted: number;
  artifactsEmbedded: number;
}

export interface ArtifactFilter {
  file?: string;
  kinds?: ArtifactKind[];
  query?: string;
}

export class WorkspaceIndex {
  readonly store: RecordStore;
  private vectors: VectorStore;
  private embedder: Embedder;
  private parsers: Parsers | undefined;
  private readonly byId = new Map<string, ArtifactRecord>();
  private readonly byName = new Map<string, Set<string>>();
  private readonly needsEmbedding = new Set<string>();
  private skipped: SkippedFile[] = [];
  private lastIndexMs = 0;
  private generation = 0;
  private flushTimer: NodeJS.Timeout | undefined;
  private readonly reported = new Set<string>();
  readonly stats: WorkStats = { filesRead: 0, filesExtracted: 0, artifactsEmbedded: 0 };
  private readonly filter: PathFilter;
  /**
   * Syntax trees and chunk results of recently updated files (editor buffers being
   * typed in), most recent last. Bounded: each holds a WASM tree.
   */
  private readonly caches = new Map<string, ExtractionCache>();

  constructor(
    readonly root: string,
    private options: WorkspaceIndexOptions,
  ) {
    this.store = new RecordStore(root, { owner: options.owner, waitMs: options.lockWaitMs });
    this.filter = new PathFilter(root, options.settings.exclude);
    this.embedder = options.embedder ?? new LocalEmbedder();
    this.vectors = new VectorStore(this.store.dir, this.embedder.id, this.embedder.dims);
  }

  get embedderId(): string {
    return this.embedder.id;
  }

  /** Loads the store and the parsers. Corrupt parts are moved aside and reported, never fatal. */
  async open(): Promise<void> {
    this.parsers = await loadParsers();
    this.report(await this.store.open());
    for (const rec of this.store.all()) this.indexRecord(rec);
    this.report(await this.vectors.open());
    this.markMissingVectors();
  }

  /** Holds the write lock until `close` (the CLI does this for its whole run). */
  async holdLock(): Promise<void> {
    await this.store.folder.holdLock();
  }

  updateSettings(settings: IndexSettings): void {
    this.options = { ...this.options, settings };
    this.filter.setExclude(settings.exclude);
  }

  /** Whether a single file belongs in the index: supported language, not excluded, not git-ignored. */
  accepts(rel: string): boolean {
    return languageForPath(rel) !== undefined && this.filter.accepts(rel);
  }

  /**
   * Whether a changed `.gitignore` can affect the index: not when its folder is itself
   * left out (`.crucible/` writes its own; `npm install` writes many under node_modules).
   */
  gitignoreMatters(rel: string): boolean {
    const dir = rel.includes('/') ? rel.slice(0, rel.lastIndexOf('/')) : '';
    return dir === '' || this.filter.accepts(dir, true);
  }

  /** A `.gitignore` changed: forget cached rules (the caller re-walks). */
  gitignoreChanged(): void {
    this.filter.clear();
  }

  /** Switches embedder; vectors of the new one are computed by the next index pass (or loaded if it was used before). */
  async setEmbedder(embedder: Embedder): Promise<void> {
    if (embedder.id === this.embedder.id) return;
    this.embedder = embedder;
    this.vectors = new VectorStore(this.store.dir, embedder.id, embedder.dims);
    this.report(await this.vectors.open());
    this.markMissingVectors();
  }

  private markMissingVectors(): void {
    for (const rec of this.store.all()) if (rec.artifacts.some((a) => !this.vectors.has(a.id))) this.needsEmbedding.add(rec.file);
  }

  /** Cancels a running `indexAll` (folder removed, new reindex). */
  cancel(): void {
    this.generation++;
  }

  /**
   * Brings the whole folder up to date: new and changed files are extracted,
   * deleted or newly excluded ones dropped. `force` re-extracts everything.
   */
  async indexAll(onProgress?: (p: IndexProgress) => void, force = false): Promise<FolderSummary | undefined> {
    const generation = ++this.generation;
    this.filter.clear();
    const cancelled = () => generation !== this.generation;
    const started = performance.now();
    const { maxFileSizeBytes } = this.options.settings;
    const walk = await walkFolder(this.root, { ...this.options.settings, isCancelled: cancelled, filter: this.filter });
    if (cancelled()) return undefined;
    const skipped: SkippedFile[] = [...walk.skipped];
    const present = new Set(walk.files.map((f) => f.rel));
    for (const rec of [...this.store.all()]) if (!present.has(rec.file)) this.dropFile(rec.file);
    let lastYield = performance.now();
    onProgress?.({ done: 0, total: walk.files.length });
    for (let i = 0; i < walk.files.length; i++) {
      const f = walk.files[i];
      const overlay = this.options.overlay?.(f.rel);
      const read = overlay !== undefined ? { ok: true as const, text: overlay } : await readSource(f.abs, maxFileSizeBytes);
      this.stats.filesRead++;
      if (!read.ok) {
        if (!read.vanished) skipped.push({ file: f.rel, reason: read.reason });
        this.dropFile(f.rel);
      } else {
        await this.indexText(f.rel, read.text, force);
      }
      if (cancelled()) return undefined;
      // Stay responsive: let LSP requests in every few milliseconds.
      if (performance.now() - lastYield > 15) {
        onProgress?.({ done: i + 1, total: walk.files.length, file: f.rel });
        await new Promise((r) => setImmediate(r));
        lastYield = performance.now();
        if (cancelled()) return undefined;
      }
    }
    onProgress?.({ done: walk.files.length, total: walk.files.length });
    this.skipped = skipped;
    this.lastIndexMs = performance.now() - started;
    await this.flushNow();
    return this.summary();
  }

  /**
   * Re-indexes one file from the given text (an editor buffer) or from disk.
   * Returns true when its artifacts changed. Unchanged content does no work.
   */
  async updateFile(rel: string, text?: string): Promise<boolean> {
    if (!this.accepts(rel)) return this.removeFile(rel);
    if (text !== undefined && text.length > this.options.settings.maxFileSizeBytes) return this.removeFile(rel); // an open editor obeys the size limit too
    // Trees are kept for editor buffers (typed in again soon), not for disk events
    // such as a checkout touching hundreds of files.
    const cache = text !== undefined ? this.cacheFor(rel) : this.caches.get(rel);
    if (text === undefined) {
      const read = await readSource(path.join(this.root, rel), this.options.settings.maxFileSizeBytes);
      this.stats.filesRead++;
      if (!read.ok) return this.removeFile(rel);
      text = read.text;
    }
    const changed = await this.indexText(rel, text, false, cache);
    if (changed) this.scheduleFlush();
    return changed;
  }

  private cacheFor(rel: string): ExtractionCache {
    let cache = this.caches.get(rel);
    if (cache) this.caches.delete(rel);
    else cache = new ExtractionCache();
    this.caches.set(rel, cache);
    if (this.caches.size > maxCachedFiles) {
      const [oldest, evicted] = this.caches.entries().next().value!;
      evicted.dispose();
      this.caches.delete(oldest);
    }
    return cache;
  }

  /**
   * A file was opened in an editor: parse it now, off the typing path, so that its
   * first edit is already incremental. Changes nothing in the index.
   */
  primeEditorState(rel: string, text: string): void {
    const language = languageForPath(rel);
    if (!language || !this.parsers || !this.accepts(rel) || text.length > this.options.settings.maxFileSizeBytes) return;
    const cache = this.cacheFor(rel);
    if (cache.text === text) return;
    extractFile(this.parsers, rel, language, text, cache);
  }

  /** Frees what is kept to re-index a file incrementally (its editor was closed). */
  releaseEditorState(rel: string): void {
    this.dropCache(rel);
  }

  private dropCache(rel: string): void {
    this.caches.get(rel)?.dispose();
    this.caches.delete(rel);
  }

  removeFile(rel: string): boolean {
    const had = this.dropFile(rel);
    if (had) this.scheduleFlush();
    return had;
  }

  private async indexText(rel: string, text: string, force: boolean, cache = this.caches.get(rel)): Promise<boolean> {
    const language = languageForPath(rel);
    if (!language || !this.parsers) return false;
    const contentHash = hashText(text); // same hash for disk reads and editor buffers
    const previous = this.store.get(rel);
    if (!force && previous && previous.contentHash === contentHash && !this.needsEmbedding.has(rel)) return false;
    const extraction = extractFile(this.parsers, rel, language, text, cache);
    this.stats.filesExtracted++;
    // An artifact with the same id and hash has the same embedding input (the hash
    // covers its tokens and syntax): keep its vector and embed only what changed.
    const previousHash = new Map(force ? [] : (previous?.artifacts ?? []).map((a) => [a.id, a.hash]));
    const vectors: (Float32Array | undefined)[] = extraction.artifacts.map((a) => (previousHash.get(a.id) === a.hash ? this.vectors.vector(a.id)?.slice() : undefined));
    const missing = vectors.flatMap((v, i) => (v === undefined ? [i] : []));
    if (missing.length > 0) {
      try {
        const fresh = await this.embedder.embed(missing.map((i) => extraction.embedInputs[i]));
        missing.forEach((i, j) => (vectors[i] = fresh[j]));
        this.stats.artifactsEmbedded += fresh.length;
      } catch (err) {
        await this.fallBackToLocal(err);
        // Another vector space now: the kept vectors don't belong in it either.
        const all = await this.embedder.embed(extraction.embedInputs);
        all.forEach((v, i) => (vectors[i] = v));
        this.stats.artifactsEmbedded += all.length;
      }
    }
    const rec: FileRecord = { file: rel, language, contentHash, parseErrors: extraction.parseErrors, artifacts: extraction.artifacts };
    if (extraction.firstError) rec.firstError = extraction.firstError;
    const sameArtifacts = previous !== undefined && sameShape(previous.artifacts, rec.artifacts);
    this.unindexRecord(rel);
    this.store.set(rec);
    this.indexRecord(rec);
    this.vectors.setFile(rel, rec.artifacts.map((a, i) => ({ id: a.id, vector: vectors[i]! })));
    this.needsEmbedding.delete(rel);
    return !sameArtifacts;
  }

  private async fallBackToLocal(err: unknown): Promise<void> {
    if (this.embedder instanceof LocalEmbedder) throw err;
    this.options.log?.(`Embedder ${this.embedder.id} failed (${(err as Error).message}); falling back to the local embedder.`);
    await this.setEmbedder(new LocalEmbedder());
  }

  private dropFile(rel: string): boolean {
    this.dropCache(rel);
    this.unindexRecord(rel);
    this.vectors.removeFile(rel);
    this.needsEmbedding.delete(rel);
    return this.store.delete(rel);
  }

  private indexRecord(rec: FileRecord): void {
    for (const a of rec.artifacts) {
      this.byId.set(a.id, a);
      let ids = this.byName.get(a.name);
      if (!ids) this.byName.set(a.name, (ids = new Set()));
      ids.add(a.id);
    }
  }

  private unindexRecord(rel: string): void {
    const rec = this.store.get(rel);
    if (!rec) return;
    for (const a of rec.artifacts) {
      this.byId.delete(a.id);
      const ids = this.byName.get(a.name);
      ids?.delete(a.id);
      if (ids?.size === 0) this.byName.delete(a.name);
    }
  }

  // ---- queries ----------------------------------------------------------------------

  get(id: string): ArtifactRecord | undefined {
    return this.byId.get(id);
  }

  get artifactCount(): number {
    return this.byId.size;
  }

  get fileCount(): number {
    return this.store.size;
  }

  fileRecord(rel: string): FileRecord | undefined {
    return this.store.get(rel);
  }

  /** Artifacts in file order, then source order. */
  artifacts(filter: ArtifactFilter = {}): ArtifactRecord[] {
    const out: ArtifactRecord[] = [];
    const q = filter.query?.toLowerCase();
    const files = filter.file !== undefined ? [this.store.get(filter.file)].filter((r): r is FileRecord => r !== undefined) : [...this.store.all()].sort((a, b) => (a.file < b.file ? -1 : 1));
    for (const rec of files) {
      for (const a of rec.artifacts) {
        if (filter.kinds && !filter.kinds.includes(a.kind)) continue;
        if (q && !a.qualifiedName.toLowerCase().includes(q) && !a.file.toLowerCase().includes(q)) continue;
        out.push(a);
      }
    }
    return out;
  }

  /** The innermost artifact whose range contains the position. */
  artifactAt(rel: string, pos: Position): ArtifactRecord | undefined {
    let best: ArtifactRecord | undefined;
    for (const a of this.store.get(rel)?.artifacts ?? []) {
      if (before(pos, a.range.start) || before(a.range.end, pos)) continue;
      if (!best || !before(a.range.start, best.range.start)) best = a;
    }
    return best;
  }

  /** Calls resolved to workspace artifacts where the callee is unambiguous (same file first). */
  resolveCalls(a: ArtifactRecord): CallRef[] {
    return a.calls.map((name) => {
      const candidates = [...(this.byName.get(name) ?? [])].map((id) => this.byId.get(id)!).filter((c) => c.kind !== 'test' && c.kind !== 'suite');
      const local = candidates.filter((c) => c.file === a.file);
      const pick = local.length === 1 ? local[0] : candidates.length === 1 ? candidates[0] : undefined;
      return pick ? { name, target: pick.id } : { name };
    });
  }

  similar(id: string, k: number): { artifact: ArtifactRecord; score: number }[] {
    const v = this.vectors.vector(id);
    if (!v) return [];
    return this.vectors
      .query(v, k, id)
      .map((n) => ({ artifact: this.byId.get(n.id)!, score: n.score }))
      .filter((n) => n.artifact !== undefined);
  }

  /** Fuzzy (subsequence) match on names, prefix and exact matches first. */
  symbols(query: string, limit = 500): ArtifactRecord[] {
    const q = query.toLowerCase();
    const scored: { a: ArtifactRecord; score: number }[] = [];
    for (const a of this.byId.values()) {
      const name = a.name.toLowerCase();
      let score: number;
      if (q === '') score = 0;
      else if (name === q) score = 3;
      else if (name.startsWith(q)) score = 2;
      else if (name.includes(q)) score = 1;
      else if (isSubsequence(q, a.qualifiedName.toLowerCase())) score = 0;
      else continue;
      scored.push({ a, score });
    }
    scored.sort((x, y) => y.score - x.score || x.a.name.length - y.a.name.length || (x.a.id < y.a.id ? -1 : 1));
    return scored.slice(0, limit).map((s) => s.a);
  }

  summary(): FolderSummary {
    const byKind: Partial<Record<ArtifactKind, number>> = {};
    const byLanguage: Partial<Record<ArtifactLanguage, number>> = {};
    let parseErrors = 0;
    for (const rec of this.store.all()) {
      if (rec.parseErrors > 0) parseErrors++;
      for (const a of rec.artifacts) {
        byKind[a.kind] = (byKind[a.kind] ?? 0) + 1;
        byLanguage[a.language] = (byLanguage[a.language] ?? 0) + 1;
      }
    }
    return {
      folderUri: this.root,
      files: this.store.size,
      artifacts: this.byId.size,
      byKind,
      byLanguage,
      skipped: this.skipped.length,
      parseErrors,
      ms: Math.round(this.lastIndexMs),
      embedder: this.embedder.id,
    };
  }

  skippedFiles(): SkippedFile[] {
    return this.skipped;
  }

  // ---- persistence --------------------------------------------------------------------

  /** Batches writes from edits: record shards and vectra indexes are rewritten whole, so typing must not write per keystroke. */
  private scheduleFlush(delayMs = 500): void {
    if (this.flushTimer) clearTimeout(this.flushTimer);
    this.flushTimer = setTimeout(() => {
      this.flushTimer = undefined;
      this.flushNow().catch(() => undefined);
    }, delayMs);
    this.flushTimer.unref?.();
  }

  /** Writes pending changes under the store lock. A busy or unwritable store is reported, and the data stays in memory. */
  async flushNow(): Promise<void> {
    if (this.flushTimer) {
      clearTimeout(this.flushTimer);
      this.flushTimer = undefined;
    }
    if (!this.store.writable || (!this.store.hasPendingWrites && !this.vectors.hasPendingWrites)) return;
    try {
      await this.store.folder.underLock(async () => {
        await this.store.flush();
        await this.vectors.flush();
      });
    } catch (err) {
      this.report([{ file: this.store.dir, message: (err as Error).message }]);
      if (err instanceof StoreLockedError) this.scheduleFlush(5000);
    }
  }

  async close(): Promise<void> {
    this.cancel();
    for (const rel of [...this.caches.keys()]) this.dropCache(rel);
    await this.flushNow();
    await this.store.folder.releaseLock();
  }

  private report(problems: StoreProblem[]): void {
    for (const p of problems) {
      const key = `${p.file}\u0000${p.message.replace(/\d{4}-\d\d-\d\dT[\d-]+Z/g, '')}`;
      if (this.reported.has(key)) continue;
      this.reported.add(key);
      this.options.onProblem?.(p);
    }
  }
}

/** Files whose syntax tree is kept for incremental re-parsing: the ones being edited. */
const maxCachedFiles = 8;

function before(a: Position, b: Position): boolean {
  return a.line < b.line || (a.line === b.line && a.character < b.character);
}

function isSubsequence(q: string, s: string): boolean {
  let i = 0;
  for (let j = 0; j < s.length && i < q.length; j++) if (s[j] === q[i]) i++;
  return i === q.length;
}

/** Same ids, hashes and ranges: nothing a view shows has changed. */
function sameShape(a: ArtifactRecord[], b: ArtifactRecord[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) {
    const x = a[i];
    const y = b[i];
    if (x.id !== y.id || x.hash !== y.hash || x.range.start.line !== y.range.start.line || x.range.end.line !== y.range.end.line) return false;
  }
  return true;
}
