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
 *    and vectra's own copies are dropped after loading to keep memory flat;
 *  - that matrix lives in WebAssembly linear memory, where a SIMD kernel (dots.wat)
 *    scores every row: V8 does not auto-vectorise the scalar JS loop, which took
 *    p95 46–71 ms at 50k x 256 against a 50 ms target; the kernel takes about 10 ms.
 *    Top-k selection over the scores stays in JS. When dims is not a multiple of 4
 *    or the runtime lacks WebAssembly SIMD, a plain Float32Array and the JS loop
 *    are used instead, with the same results.
 * A shard that fails to load is set aside (`../storage.ts`); its files lack vectors and
 * are re-embedded by the next index pass. The `.crucible` lock, held by the caller around
 * `flush`, covers the vectors as it covers the records.
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { LocalIndex } from 'vectra/lib/LocalIndex';
import { damageOf, moveAside, setAside, shardOf, type StoreProblem, writeJsonAtomic } from '../storage';

export const vectorShardCount = 32;

/** Said when a damaged shard cannot even be moved: vectors are derived data, so it is overwritten by the next flush. */
const rebuiltVectors = 'its vectors are rebuilt';

interface Meta {
  embedder: string;
  dims: number;
}

const isMeta = (d: unknown): d is Meta => typeof d === 'object' && d !== null && typeof (d as Meta).embedder === 'string' && typeof (d as Meta).dims === 'number';

export interface Neighbour {
  id: string;
  score: number;
}

/**
 * dots.wat compiled (by the `wabt` package's wat2wasm, no debug names). Embedded so the
 * esbuild bundle needs no extra file; test/unit/vectors.test.ts recompiles dots.wat and
 * fails, printing the new bytes, if this copy has drifted.
 */
export const dotsWasm = new Uint8Array([
  0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x01, 0x09, 0x01, 0x60, 0x05, 0x7f, 0x7f, 0x7f,
  0x7f, 0x7f, 0x00, 0x03, 0x02, 0x01, 0x00, 0x05, 0x03, 0x01, 0x00, 0x01, 0x07, 0x0e, 0x02, 0x03,
  0x6d, 0x65, 0x6d, 0x02, 0x00, 0x04, 0x64, 0x6f, 0x74, 0x73, 0x00, 0x00, 0x0a, 0xf1, 0x02, 0x01,
  0xee, 0x02, 0x02, 0x05, 0x7f, 0x04, 0x7b, 0x20, 0x01, 0x20, 0x03, 0x41, 0x02, 0x74, 0x6a, 0x21,
  0x05, 0x20, 0x01, 0x20, 0x03, 0x41, 0x70, 0x71, 0x41, 0x02, 0x74, 0x6a, 0x21, 0x06, 0x20, 0x04,
  0x20, 0x02, 0x41, 0x02, 0x74, 0x6a, 0x21, 0x07, 0x20, 0x00, 0x21, 0x08, 0x02, 0x40, 0x03, 0x40,
  0x20, 0x04, 0x20, 0x07, 0x4f, 0x0d, 0x01, 0xfd, 0x0c, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
  0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x21, 0x0a, 0xfd, 0x0c, 0x00, 0x00, 0x00,
  0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x21, 0x0b, 0xfd,
  0x0c, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
  0x00, 0x21, 0x0c, 0xfd, 0x0c, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
  0x00, 0x00, 0x00, 0x00, 0x00, 0x21, 0x0d, 0x20, 0x01, 0x21, 0x09, 0x02, 0x40, 0x03, 0x40, 0x20,
  0x09, 0x20, 0x06, 0x4f, 0x0d, 0x01, 0x20, 0x0a, 0x20, 0x08, 0xfd, 0x00, 0x04, 0x00, 0x20, 0x09,
  0xfd, 0x00, 0x04, 0x00, 0xfd, 0xe6, 0x01, 0xfd, 0xe4, 0x01, 0x21, 0x0a, 0x20, 0x0b, 0x20, 0x08,
  0xfd, 0x00, 0x04, 0x10, 0x20, 0x09, 0xfd, 0x00, 0x04, 0x10, 0xfd, 0xe6, 0x01, 0xfd, 0xe4, 0x01,
  0x21, 0x0b, 0x20, 0x0c, 0x20, 0x08, 0xfd, 0x00, 0x04, 0x20, 0x20, 0x09, 0xfd, 0x00, 0x04, 0x20,
  0xfd, 0xe6, 0x01, 0xfd, 0xe4, 0x01, 0x21, 0x0c, 0x20, 0x0d, 0x20, 0x08, 0xfd, 0x00, 0x04, 0x30,
  0x20, 0x09, 0xfd, 0x00, 0x04, 0x30, 0xfd, 0xe6, 0x01, 0xfd, 0xe4, 0x01, 0x21, 0x0d, 0x20, 0x08,
  0x41, 0xc0, 0x00, 0x6a, 0x21, 0x08, 0x20, 0x09, 0x41, 0xc0, 0x00, 0x6a, 0x21, 0x09, 0x0c, 0x00,
  0x0b, 0x0b, 0x02, 0x40, 0x03, 0x40, 0x20, 0x09, 0x20, 0x05, 0x4f, 0x0d, 0x01, 0x20, 0x0a, 0x20,
  0x08, 0xfd, 0x00, 0x04, 0x00, 0x20, 0x09, 0xfd, 0x00, 0x04, 0x00, 0xfd, 0xe6, 0x01, 0xfd, 0xe4,
  0x01, 0x21, 0x0a, 0x20, 0x08, 0x41, 0x10, 0x6a, 0x21, 0x08, 0x20, 0x09, 0x41, 0x10, 0x6a, 0x21,
  0x09, 0x0c, 0x00, 0x0b, 0x0b, 0x20, 0x0a, 0x20, 0x0b, 0xfd, 0xe4, 0x01, 0x20, 0x0c, 0x20, 0x0d,
  0xfd, 0xe4, 0x01, 0xfd, 0xe4, 0x01, 0x21, 0x0a, 0x20, 0x04, 0x20, 0x0a, 0xfd, 0x1f, 0x00, 0x20,
  0x0a, 0xfd, 0x1f, 0x01, 0x92, 0x20, 0x0a, 0xfd, 0x1f, 0x02, 0x20, 0x0a, 0xfd, 0x1f, 0x03, 0x92,
  0x92, 0x38, 0x02, 0x00, 0x20, 0x04, 0x41, 0x04, 0x6a, 0x21, 0x04, 0x0c, 0x00, 0x0b, 0x0b, 0x0b,
]);

/** The slice of the WebAssembly API used here (the project's TS libs do not declare it). */
interface WasmMemory {
  readonly buffer: ArrayBuffer;
  grow(deltaPages: number): number;
}
interface DotsKernel {
  mem: WasmMemory;
  dots(m: number, q: number, rows: number, dims: number, out: number): void;
}
interface WasmApi {
  validate(bytes: Uint8Array): boolean;
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object) => { exports: object };
}

const wasmPage = 65536;
let dotsModule: object | null | undefined;

/** A fresh kernel instance (its own memory), or undefined when WebAssembly SIMD is unavailable. */
function newDotsKernel(): DotsKernel | undefined {
  if (dotsModule === undefined) {
    const api = (globalThis as { WebAssembly?: WasmApi }).WebAssembly;
    // validate() is false on runtimes without SIMD: the module uses v128.
    dotsModule = api?.validate(dotsWasm) ? new api.Module(dotsWasm) : null;
  }
  if (dotsModule === null) return undefined;
  const api = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;
  return new api.Instance(dotsModule).exports as DotsKernel;
}

export interface VectorStoreOptions {
  /** false forces the JS loop (for tests); by default the SIMD kernel is used when it can be. */
  simd?: boolean;
}

export class VectorStore {
  readonly dir: string;
  /** Which scoring path queries take: the WebAssembly SIMD kernel or the scalar JS loop. */
  readonly kernel: 'wasm-simd' | 'js';
  private ids: string[] = [];
  private files: string[] = [];
  /**
   * Row r is matrix[r * dims, (r + 1) * dims). With the kernel this is a view of its
   * memory, replaced after every memory.grow (which detaches the old buffer): never keep
   * it in a local across a call that may add rows.
   */
  private matrix: Float32Array;
  /** Kernel path only: the kernel, and views of its query and score regions (replaced with `matrix`). */
  private readonly wasm?: DotsKernel;
  private queryView = new Float32Array(0);
  private scores = new Float32Array(0);
  /** Rows that fit in `matrix` (and in `scores`). */
  private capacity = 0;
  private readonly rows = new Map<string, number>();
  private readonly rowsByFile = new Map<string, Set<string>>();
  private readonly dirty = new Set<number>();

  constructor(
    storeDir: string,
    readonly embedderId: string,
    readonly dims: number,
    options: VectorStoreOptions = {},
  ) {
    this.dir = path.join(storeDir, 'vectors', embedderId);
    // The kernel reads 4 floats at a time and has no scalar tail.
    this.wasm = options.simd !== false && dims > 0 && dims % 4 === 0 ? newDotsKernel() : undefined;
    this.kernel = this.wasm ? 'wasm-simd' : 'js';
    this.matrix = new Float32Array(0);
    this.reserve(1024);
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
      const meta = JSON.parse(await fs.readFile(metaFile, 'utf8')) as unknown;
      if (!isMeta(meta)) throw new Error('unexpected structure');
      if (meta.embedder !== this.embedderId || meta.dims !== this.dims) {
        // Not this embedder's space: never mix. Keep it aside rather than delete.
        await moveAside(this.dir);
        return problems;
      }
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
        const { problem } = await setAside(this.dir, damageOf(err), { subject: 'vector index metadata', then: 'rebuilds the vectors', inMemory: rebuiltVectors }, metaFile);
        problems.push(problem);
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
        // vectra owns the shard's files, so the whole shard folder is what goes aside.
        const { problem } = await setAside(shardDir, damageOf(err), { subject: `vector shard ${path.basename(shardDir)}`, then: 're-embeds its files', inMemory: rebuiltVectors }, path.join(shardDir, 'index.json'));
        problems.push(problem);
        this.dirty.add(s);
      }
    }
    return problems;
  }

  /** Replaces the vectors of one file. */
  setFile(file: string, items: { id: string; vector: Float32Array }[]): void {
    // A vector that is a view from vector() would move (swap-remove) or be detached (growth) under us.
    items = items.map((it) => (it.vector.buffer === this.matrix.buffer ? { id: it.id, vector: it.vector.slice(0, this.dims) } : it));
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

  /**
   * The stored vector of `id`, as a view into the matrix (no copy). It is valid only until
   * the next mutation (setFile, removeFile, open): rows move on swap-remove and growing the
   * WebAssembly memory detaches the view (it reads as empty). Callers that keep it copy it.
   */
  vector(id: string): Float32Array | undefined {
    const row = this.rows.get(id);
    return row === undefined ? undefined : this.matrix.subarray(row * this.dims, (row + 1) * this.dims);
  }

  /**
   * Top-k by cosine similarity, excluding `exclude`; optional filter on ids. Descending
   * scores; of equal scores the earlier row comes first.
   */
  query(vector: Float32Array, k: number, exclude?: string, accept?: (id: string) => boolean): Neighbour[] {
    const n = this.ids.length;
    if (n === 0 || k <= 0) return [];
    const d = this.dims;
    if (this.wasm) {
      const q = this.queryView;
      q.set(vector.length > d ? vector.subarray(0, d) : vector);
      if (vector.length < d) q.fill(0, vector.length);
      // Byte addresses in the layout made by reserve().
      this.wasm.dots(this.matrix.byteOffset, q.byteOffset, n, d, this.scores.byteOffset);
      return this.topK(this.scores, n, k, exclude, accept);
    }
    // JS fallback: f64 accumulation, as the store always did.
    const scores = new Float64Array(n);
    const m = this.matrix;
    for (let r = 0; r < n; r++) {
      let dot = 0;
      const base = r * d;
      for (let i = 0; i < d; i++) dot += m[base + i] * vector[i];
      scores[r] = dot;
    }
    return this.topK(scores, n, k, exclude, accept);
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
      await writeJsonAtomic(path.join(this.dir, 'embedder.json'), { embedder: this.embedderId, dims: this.dims } satisfies Meta);
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

  /** The k best of scores[0, n), after exclude and accept; a later row must beat, not tie, to enter. */
  private topK(scores: Float32Array | Float64Array, n: number, k: number, exclude?: string, accept?: (id: string) => boolean): Neighbour[] {
    const top: Neighbour[] = [];
    let worst = -Infinity; // top[k - 1].score once top is full
    for (let r = 0; r < n; r++) {
      const dot = scores[r];
      if (top.length === k && dot <= worst) continue;
      const id = this.ids[r];
      if (id === exclude || (accept && !accept(id))) continue;
      // insertion into a small sorted list: k is tiny
      let pos = top.length;
      while (pos > 0 && top[pos - 1].score < dot) pos--;
      top.splice(pos, 0, { id, score: dot });
      if (top.length > k) top.pop();
      if (top.length === k) worst = top[k - 1].score;
    }
    return top;
  }

  /**
   * Makes room for `rows` rows, at least doubling. JS path: a bigger Float32Array. Kernel
   * path: memory.grow (in place in V8, no copy; untouched pages cost no RSS), then new
   * views, since growing detaches every view of the old buffer. Layout in bytes:
   * [0, 4d) query | [4d, 4d + 4d*capacity) matrix | then capacity f32 scores.
   */
  private reserve(rows: number): void {
    if (rows <= this.capacity) return;
    const d = this.dims;
    const want = Math.max(rows, this.capacity * 2);
    if (!this.wasm) {
      const bigger = new Float32Array(want * d);
      bigger.set(this.matrix);
      this.matrix = bigger;
      this.capacity = want;
      return;
    }
    const mem = this.wasm.mem;
    const bytes = 4 * d + 4 * (d + 1) * want;
    if (bytes > mem.buffer.byteLength) mem.grow(Math.ceil((bytes - mem.buffer.byteLength) / wasmPage));
    const buffer = mem.buffer;
    const capacity = Math.floor((buffer.byteLength - 4 * d) / (4 * (d + 1)));
    const scoresAt = 4 * d + 4 * d * capacity;
    // The matrix keeps its start, so rows stay put; the old score region becomes matrix
    // space, which is fine: every query rewrites the scores before reading them.
    this.queryView = new Float32Array(buffer, 0, d);
    this.matrix = new Float32Array(buffer, 4 * d, d * capacity);
    this.scores = new Float32Array(buffer, scoresAt, capacity);
    this.capacity = capacity;
  }

  private shardDir(s: number): string {
    return path.join(this.dir, `shard-${String(s).padStart(2, '0')}`);
  }

  private put(id: string, file: string, vector: Float32Array): void {
    if (this.rows.has(id)) this.remove(id);
    const row = this.ids.length;
    this.reserve(row + 1);
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
