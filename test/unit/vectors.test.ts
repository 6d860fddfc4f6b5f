import * as assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import wabt from 'wabt';
import { dotsWasm, type Neighbour, VectorStore } from '../../server/src/index/vectors';
import { tempWorkspace } from '../support/tempWorkspace';
import { seededRandom as rng } from '../../server/src/evidence/stats';


function randomUnit(rand: () => number, dims: number): Float32Array {
  const v = new Float32Array(dims);
  let sum = 0;
  for (let i = 0; i < dims; i++) {
    v[i] = rand() - 0.5;
    sum += v[i] * v[i];
  }
  const norm = Math.sqrt(sum);
  for (let i = 0; i < dims; i++) v[i] /= norm;
  return v;
}

/** What the store should hold: file -> its items, in the order they were set. */
type Model = Map<string, { id: string; vector: Float32Array }[]>;

/** Brute force over the model, in f64: ids of the k best (ties are improbable with random data). */
function reference(model: Model, q: Float32Array, k: number, exclude?: string, accept?: (id: string) => boolean): string[] {
  const all: { id: string; score: number }[] = [];
  for (const items of model.values()) {
    for (const { id, vector } of items) {
      if (id === exclude || (accept && !accept(id))) continue;
      let dot = 0;
      for (let i = 0; i < q.length; i++) dot += vector[i] * q[i];
      all.push({ id, score: dot });
    }
  }
  all.sort((a, b) => b.score - a.score);
  return all.slice(0, k).map((n) => n.id);
}

function fill(stores: VectorStore[], model: Model, rand: () => number, files: number, perFile: number, dims: number, prefix = 'f'): void {
  for (let f = 0; f < files; f++) {
    const file = `${prefix}${f}.ts`;
    const items = Array.from({ length: perFile }, (_, j) => ({ id: `${file}#${j}`, vector: randomUnit(rand, dims) }));
    for (const s of stores) s.setFile(file, items);
    model.set(file, items);
  }
}

const ids = (ns: Neighbour[]) => ns.map((n) => n.id);
const memBytes = (s: VectorStore) => (s as unknown as { wasm: { mem: { buffer: ArrayBuffer } } }).wasm.mem.buffer.byteLength;

describe('VectorStore similarity (WebAssembly SIMD kernel and JS fallback)', () => {
  it('embeds exactly the bytes that dots.wat compiles to', async () => {
    const wat = readFileSync(path.join(__dirname, '..', '..', 'server', 'src', 'index', 'dots.wat'), 'utf8');
    const mod = (await wabt()).parseWat('dots.wat', wat, { simd: true });
    let bytes: Uint8Array;
    try {
      mod.validate();
      bytes = mod.toBinary({ write_debug_names: false }).buffer;
    } finally {
      mod.destroy();
    }
    const literal = Array.from(bytes, (b) => `0x${b.toString(16).padStart(2, '0')}`)
      .reduce<string[][]>((rows, b, i) => (i % 16 === 0 ? [...rows, [b]] : (rows[rows.length - 1].push(b), rows)), [])
      .map((row) => `  ${row.join(', ')},`)
      .join('\n');
    assert.deepEqual(Buffer.from(dotsWasm), Buffer.from(bytes), `dotsWasm in server/src/index/vectors.ts is stale; replace its bytes with:\n${literal}\n`);
  });

  it('uses the kernel when dims is a multiple of 4, the JS loop otherwise or when asked', () => {
    assert.equal(new VectorStore('/unused', 'e', 256).kernel, 'wasm-simd');
    assert.equal(new VectorStore('/unused', 'e', 12).kernel, 'wasm-simd');
    assert.equal(new VectorStore('/unused', 'e', 10).kernel, 'js');
    assert.equal(new VectorStore('/unused', 'e', 256, { simd: false }).kernel, 'js');
  });

  for (const dims of [256, 20, 12, 4]) {
    it(`gives the same scores as the JS loop within 1e-5 (dims ${dims}: 16-float steps and the 4-float tail)`, () => {
      const rand = rng(dims);
      const wasm = new VectorStore('/unused', 'e', dims);
      const js = new VectorStore('/unused', 'e', dims, { simd: false });
      assert.equal(wasm.kernel, 'wasm-simd');
      fill([wasm, js], new Map(), rand, 60, 10, dims);
      for (let t = 0; t < 5; t++) {
        const q = randomUnit(rand, dims);
        const a = wasm.query(q, 600);
        const b = new Map(js.query(q, 600).map((n) => [n.id, n.score]));
        assert.equal(a.length, 600);
        for (const n of a) assert.ok(Math.abs(n.score - b.get(n.id)!) < 1e-5, `${n.id}: ${n.score} vs ${b.get(n.id)}`);
      }
    });
  }

  for (const simd of [true, false]) {
    const label = simd ? 'kernel' : 'JS fallback';

    it(`${label}: top-k ids match a brute-force reference, with exclude and accept`, () => {
      const dims = 64;
      const rand = rng(3);
      const store = new VectorStore('/unused', 'e', dims, { simd });
      const model: Model = new Map();
      fill([store], model, rand, 300, 7, dims);
      for (let t = 0; t < 20; t++) {
        const q = randomUnit(rand, dims);
        const k = 1 + (t % 12);
        const top = store.query(q, k);
        assert.deepEqual(ids(top), reference(model, q, k));
        for (let i = 1; i < top.length; i++) assert.ok(top[i - 1].score >= top[i].score, 'descending');
        // exclude the best hit: the rest shift up
        assert.deepEqual(ids(store.query(q, k, top[0].id)), reference(model, q, k, top[0].id));
        const accept = (id: string) => id.endsWith('#3') || id.startsWith('f1');
        assert.deepEqual(ids(store.query(q, k, undefined, accept)), reference(model, q, k, undefined, accept));
        assert.deepEqual(ids(store.query(q, k, top[1]?.id, accept)), reference(model, q, k, top[1]?.id, accept));
      }
      // a stored vector finds itself first; with itself excluded, the others
      const own = store.vector('f7.ts#2')!;
      assert.equal(store.query(own, 1)[0].id, 'f7.ts#2');
      assert.ok(Math.abs(store.query(own, 1)[0].score - 1) < 1e-5);
      assert.deepEqual(ids(store.query(own, 5, 'f7.ts#2')), reference(model, own.slice(), 5, 'f7.ts#2'));
    });

    it(`${label}: stays correct through many setFile/removeFile calls (swap-remove)`, () => {
      const dims = 32;
      const rand = rng(simd ? 5 : 6);
      const store = new VectorStore('/unused', 'e', dims, { simd });
      const model: Model = new Map();
      fill([store], model, rand, 100, 5, dims);
      for (let op = 0; op < 2000; op++) {
        const file = `f${Math.floor(rand() * 150)}.ts`;
        if (rand() < 0.35) {
          store.removeFile(file);
          model.delete(file);
        } else {
          // ids shared with the file's previous items, so put() replaces some rows in place of others
          const items = Array.from({ length: Math.floor(rand() * 9) }, (_, j) => ({ id: `${file}#${j}`, vector: randomUnit(rand, dims) }));
          store.setFile(file, items);
          if (items.length > 0) model.set(file, items);
          else model.delete(file);
        }
        if (op % 100 === 99) {
          const expected = [...model.values()].reduce((a, items) => a + items.length, 0);
          assert.equal(store.size, expected);
          for (const items of model.values()) for (const it of items) assert.deepEqual(store.vector(it.id), it.vector, it.id);
          const q = randomUnit(rand, dims);
          assert.deepEqual(ids(store.query(q, 10)), reference(model, q, 10));
        }
      }
      for (const file of [...model.keys()]) store.removeFile(file);
      assert.equal(store.size, 0);
      assert.deepEqual(store.query(randomUnit(rand, dims), 5), []);
    });
  }

  it('grows the WebAssembly memory several times and keeps every row', () => {
    const dims = 64;
    const rand = rng(9);
    const store = new VectorStore('/unused', 'e', dims);
    const js = new VectorStore('/unused', 'e', dims, { simd: false });
    const model: Model = new Map();
    const sizes = new Set<number>([memBytes(store)]);
    for (let f = 0; f < 900; f++) {
      fill([store, js], model, rand, 1, 10, dims, `g${f}-`);
      sizes.add(memBytes(store));
      // a view taken now is used before the next mutation: valid
      if (f % 97 === 0) {
        const q = store.vector(`g${f}-0.ts#4`)!;
        assert.equal(store.query(q, 1)[0].id, `g${f}-0.ts#4`);
      }
    }
    assert.ok(sizes.size >= 4, `memory grew ${sizes.size - 1} times`);
    assert.equal(store.size, 9000);
    for (const items of model.values()) for (const it of items) assert.deepEqual(store.vector(it.id), it.vector);
    for (let t = 0; t < 5; t++) {
      const q = randomUnit(rand, dims);
      assert.deepEqual(ids(store.query(q, 10)), reference(model, q, 10));
      assert.deepEqual(ids(js.query(q, 10)), ids(store.query(q, 10)));
    }
  });

  it('copies a vector() view passed back to setFile, across growth and swap-remove', () => {
    const dims = 8;
    const store = new VectorStore('/unused', 'e', dims);
    const rand = rng(12);
    const capacity = (store as unknown as { capacity: number }).capacity;
    fill([store], new Map(), rand, 1, capacity, dims, 'big'); // full: the next row grows the memory
    const first = store.vector('big0.ts#0')!.slice();
    const fifth = store.vector('big0.ts#5')!.slice();
    const bytes = memBytes(store);
    store.setFile('new.ts', [{ id: 'copy', vector: store.vector('big0.ts#5')! }]);
    assert.ok(memBytes(store) > bytes, 'grew');
    assert.deepEqual(store.vector('copy'), fifth);
    // removing big0.ts's rows first moves other rows through row 0
    store.setFile('big0.ts', [{ id: 'again', vector: store.vector('big0.ts#0')! }]);
    assert.deepEqual(store.vector('again'), first);
    assert.equal(store.size, 2);
  });

  it('keeps equal scores in row order, as before, on both paths', () => {
    for (const simd of [true, false]) {
      const store = new VectorStore('/unused', 'e', 4, { simd });
      const v = Float32Array.from([0.5, 0.5, 0.5, 0.5]);
      store.setFile('x.ts', ['a', 'b'].map((id) => ({ id, vector: v })));
      store.setFile('y.ts', ['c', 'd'].map((id) => ({ id, vector: v })));
      store.setFile('z.ts', [{ id: 'e', vector: Float32Array.from([1, 0, 0, 0]) }]);
      assert.deepEqual(ids(store.query(v, 3)), ['a', 'b', 'c']);
      // swap-remove: a's row takes the last (e), then b's row takes the last (d): rows are e, d, c
      store.removeFile('x.ts');
      assert.deepEqual(ids(store.query(v, 3)), ['d', 'c', 'e']);
      store.setFile('x.ts', [{ id: 'a', vector: v }]);
      assert.deepEqual(ids(store.query(v, 3)), ['d', 'c', 'a']);
      assert.deepEqual(ids(store.query(v, 2, 'd')), ['c', 'a']);
      assert.deepEqual(ids(store.query(v, 2, undefined, (id) => id !== 'c')), ['d', 'a']);
    }
  });

  it('falls back to the JS loop when dims is not a multiple of 4, with the same results', () => {
    const dims = 30;
    const rand = rng(21);
    const store = new VectorStore('/unused', 'e', dims);
    assert.equal(store.kernel, 'js');
    const model: Model = new Map();
    fill([store], model, rand, 80, 6, dims);
    for (let t = 0; t < 10; t++) {
      const q = randomUnit(rand, dims);
      assert.deepEqual(ids(store.query(q, 8)), reference(model, q, 8));
    }
  });

  it('handles empty stores, k = 0, k beyond the size and query vectors of the wrong length', () => {
    for (const simd of [true, false]) {
      const store = new VectorStore('/unused', 'e', 8, { simd });
      assert.deepEqual(store.query(new Float32Array(8), 3), []);
      store.setFile('a.ts', [{ id: 'x', vector: Float32Array.from([1, 0, 0, 0, 0, 0, 0, 0]) }, { id: 'y', vector: Float32Array.from([0, 1, 0, 0, 0, 0, 0, 0]) }]);
      assert.deepEqual(store.query(Float32Array.from([1, 0, 0, 0, 0, 0, 0, 0]), 0), []);
      assert.deepEqual(ids(store.query(Float32Array.from([1, 0.5, 0, 0, 0, 0, 0, 0]), 10)), ['x', 'y']);
      // extra components are ignored (the kernel reads dims floats)
      assert.deepEqual(ids(store.query(Float32Array.from([0, 1, 0, 0, 0, 0, 0, 0, 9, 9]), 1)), ['y']);
    }
    // shorter on the kernel path: the missing components count as 0, never as a previous query's
    const store = new VectorStore('/unused', 'e', 8);
    store.setFile('a.ts', [{ id: 'x', vector: Float32Array.from([1, 0, 0, 0, 0, 0, 0, 0]) }, { id: 'y', vector: Float32Array.from([0, 0, 0, 0, 0, 0, 0, 1]) }]);
    store.query(Float32Array.from([0, 0, 0, 0, 0, 0, 0, 1]), 1);
    assert.deepEqual(store.query(Float32Array.from([1, 0]), 2).map((n) => [n.id, n.score]), [['x', 1], ['y', 0]]);
  });

  it('round-trips through flush and open with the same query results', async () => {
    const ws = tempWorkspace({});
    try {
      const dir = path.join(ws.root, '.crucible');
      const dims = 64;
      const rand = rng(33);
      const store = new VectorStore(dir, 'local-test-64', dims);
      await store.open();
      const model: Model = new Map();
      fill([store], model, rand, 200, 6, dims);
      for (let f = 0; f < 200; f += 3) store.removeFile(`f${f}.ts`);
      await store.flush();
      assert.equal(store.hasPendingWrites, false);
      const again = new VectorStore(dir, 'local-test-64', dims);
      assert.deepEqual(await again.open(), []);
      assert.equal(again.kernel, 'wasm-simd');
      assert.equal(again.size, store.size);
      const js = new VectorStore(dir, 'local-test-64', dims, { simd: false });
      await js.open();
      for (let t = 0; t < 10; t++) {
        const q = randomUnit(rand, dims);
        const before = store.query(q, 10);
        const after = again.query(q, 10);
        // stored with 5 decimals: same ids, scores within 1e-4
        assert.deepEqual(ids(after), ids(before));
        for (let i = 0; i < before.length; i++) assert.ok(Math.abs(after[i].score - before[i].score) < 1e-4);
        assert.deepEqual(ids(js.query(q, 10)), ids(after));
      }
    } finally {
      ws.remove();
    }
  });
});
