/**
 * Artifact embeddings: persisted in vectra `LocalIndex`es, queried from memory.
 *
 * Measured here (../shared/DEPENDENCIES.md): vectra's insert scans the whole item
 * list and its query is a linear scan over JS arrays (150–300 ms at 100k), and
 * its writes rewrite the whole index file. So:
 *  - one folder per embedder id (`vectors/<embedder>/`): vectors of different
 *    embedders never share an index, and switching back reuses the old one;
 *  - inside it, `shard-NN` LocalIndexes keyed by the same path hash as the record
 *    shards: an edit rewrites one shard, and inserts scan 1/32 of the items;
 *  - queries run on a packed Float32Array of unit vectors (dot product = cosine),
 *    and vectra's own copies are dropped after loading to keep memory flat.
 * A shard that fails to load is moved aside; its files lack vectors and are
 * re-embedded by the next index pass.
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { LocalIndex } from 'vectra/lib/LocalIndex';
import { moveAside, shardOf, type StoreProblem } from './store';

export const vectorShardCount = 32;

interface Meta {
  embedder: string;
  dims: number;
}

export interface Neighbour {
  id: string;
  score: number;
}

export class VectorStore {
  readonly dir: string;
  private ids: string[] = [];
  private files: string[] = [];
  private matrix: Float32Array;
  private readonly rows = new Map<string, number>();
  private readonly rowsByFile = new Map<string, Set<string>>();
  private readonly dirty = new Set<number>();

  constructor(
    storeDir: string,
    readonly embedderId: string,
    readonly dims: number,
  ) {
    this.dir = path.join(storeDir, 'vectors', embedderId);
    this.matrix = new Float32Array(dims * 1024);
  }

  get size(): number {
    return this.ids.length;
  }

  has(id: string): boolean {
    return this.rows.has(id);
  }

  async open(): Promise<StoreProblem[]> {
    const problems: StoreProblem[] = [];
    const metaFile = path.join(this.dir, 'embedder.json');
    try {
      const meta = JSON.parse(await fs.readFile(metaFile, 'utf8')) as Meta;
      if (meta.embedder !== this.embedderId || meta.dims !== this.dims) {
        // Not this embedder's space: never mix. Keep it aside rather than delete.
        await moveAside(this.dir);
        return problems;
      }
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
        const aside = await moveAside(this.dir);
        problems.push({ file: metaFile, message: `vector index metadata was unreadable; ${aside ? `kept it as ${path.basename(aside)} and ` : ''}rebuilding the vectors.` });
      }
      return problems;
    }
    for (let s = 0; s < vectorShardCount; s++) {
      const shardDir = this.shardDir(s);
      const index = new LocalIndex(shardDir);
      try {
        if (!(await index.isIndexCreated())) continue;
        const items = await index.listItems();
        for (const item of items) {
          const file = item.metadata?.file;
          if (typeof file !== 'string' || !Array.isArray(item.vector) || item.vector.length !== this.dims) throw new Error(`item ${item.id} is malformed`);
          this.put(item.id, file, Float32Array.from(item.vector));
        }
      } catch (err) {
        const aside = await moveAside(shardDir);
        problems.push({
          file: path.join(shardDir, 'index.json'),
          message: `vector shard ${path.basename(shardDir)} was corrupt (${(err as Error).message}); ${aside ? `kept it as ${path.basename(aside)}; ` : ''}its files are re-embedded.`,
        });
        this.dirty.add(s);
      }
    }
    return problems;
  }

  /** Replaces the vectors of one file. */
  setFile(file: string, items: { id: string; vector: Float32Array }[]): void {
    this.removeFile(file, false);
    for (const { id, vector } of items) this.put(id, file, vector);
    this.dirty.add(shardOf(file, vectorShardCount));
  }

  removeFile(file: string, markDirty = true): void {
    const ids = this.rowsByFile.get(file);
    if (!ids) return;
    for (const id of [...ids]) this.remove(id);
    this.rowsByFile.delete(file);
    if (markDirty) this.dirty.add(shardOf(file, vectorShardCount));
  }

  vector(id: string): Float32Array | undefined {
    const row = this.rows.get(id);
    return row === undefined ? undefined : this.matrix.subarray(row * this.dims, (row + 1) * this.dims);
  }

  /** Top-k by cosine similarity, excluding `exclude`; optional filter on ids. */
  query(vector: Float32Array, k: number, exclude?: string, accept?: (id: string) => boolean): Neighbour[] {
    const top: Neighbour[] = [];
    const d = this.dims;
    const m = this.matrix;
    for (let r = 0; r < this.ids.length; r++) {
      let dot = 0;
      const base = r * d;
      for (let i = 0; i < d; i++) dot += m[base + i] * vector[i];
      if (top.length === k && dot <= top[k - 1].score) continue;
      const id = this.ids[r];
      if (id === exclude || (accept && !accept(id))) continue;
      // insertion into a small sorted list: k is tiny
      let pos = top.length;
      while (pos > 0 && top[pos - 1].score < dot) pos--;
      top.splice(pos, 0, { id, score: dot });
      if (top.length > k) top.pop();
    }
    return top;
  }

  get hasPendingWrites(): boolean {
    return this.dirty.size > 0;
  }

  /** Rewrites the shards that changed. The caller holds the store lock. */
  async flush(): Promise<void> {
    if (this.dirty.size === 0) return;
    const shards = [...this.dirty];
    this.dirty.clear();
    try {
      await fs.mkdir(this.dir, { recursive: true });
      await fs.writeFile(path.join(this.dir, 'embedder.json'), JSON.stringify({ embedder: this.embedderId, dims: this.dims } satisfies Meta));
      const members = new Map<number, number[]>(shards.map((s) => [s, []]));
      for (let r = 0; r < this.ids.length; r++) members.get(shardOf(this.files[r], vectorShardCount))?.push(r);
      for (const s of shards) {
        const index = new LocalIndex(this.shardDir(s));
        await index.createIndex({ version: 1, deleteIfExists: true });
        await index.beginUpdate();
        for (const r of members.get(s)!) {
          // 5 significant decimals: a quarter of the JSON size, cosine error below 1e-4.
          const v = Array.from(this.matrix.subarray(r * this.dims, (r + 1) * this.dims), (x) => Math.round(x * 1e5) / 1e5);
          await index.insertItem({ id: this.ids[r], vector: v, metadata: { file: this.files[r] } });
        }
        await index.endUpdate();
      }
    } catch (err) {
      for (const s of shards) this.dirty.add(s);
      throw new Error(`cannot write vectors under ${this.dir} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
    }
  }

  private shardDir(s: number): string {
    return path.join(this.dir, `shard-${String(s).padStart(2, '0')}`);
  }

  private put(id: string, file: string, vector: Float32Array): void {
    if (this.rows.has(id)) this.remove(id);
    const row = this.ids.length;
    if ((row + 1) * this.dims > this.matrix.length) {
      const bigger = new Float32Array(this.matrix.length * 2);
      bigger.set(this.matrix);
      this.matrix = bigger;
    }
    this.matrix.set(vector.subarray(0, this.dims), row * this.dims);
    this.ids.push(id);
    this.files.push(file);
    this.rows.set(id, row);
    let set = this.rowsByFile.get(file);
    if (!set) this.rowsByFile.set(file, (set = new Set()));
    set.add(id);
  }

  /** Swap-remove: the last row moves into the freed slot. */
  private remove(id: string): void {
    const row = this.rows.get(id);
    if (row === undefined) return;
    const last = this.ids.length - 1;
    const file = this.files[row];
    if (row !== last) {
      this.matrix.copyWithin(row * this.dims, last * this.dims, (last + 1) * this.dims);
      this.ids[row] = this.ids[last];
      this.files[row] = this.files[last];
      this.rows.set(this.ids[row], row);
    }
    this.ids.pop();
    this.files.pop();
    this.rows.delete(id);
    this.rowsByFile.get(file)?.delete(id);
  }
}
