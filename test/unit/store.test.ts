import * as assert from 'node:assert/strict';
import { chmodSync, existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { RecordStore, recordShardCount } from '../../server/src/index/store';
import { acquireStoreLock, shardOf, StoreLockedError } from '../../server/src/storage';
import { VectorStore } from '../../server/src/index/vectors';
import { tempWorkspace } from '../support/tempWorkspace';

const record = (file: string) => ({ file, language: 'typescript' as const, contentHash: 'abc', parseErrors: 0, artifacts: [] });

describe('store', () => {
  it('writes records to sharded files and reads them back', async () => {
    const ws = tempWorkspace({});
    try {
      const s = new RecordStore(ws.root);
      assert.deepEqual(await s.open(), []);
      s.set(record('a.ts'));
      s.set(record('lib/b.ts'));
      await s.flush();
      const again = new RecordStore(ws.root);
      await again.open();
      assert.deepEqual([...again.all()].map((r) => r.file).sort(), ['a.ts', 'lib/b.ts']);
      const shardFile = path.join(ws.root, '.crucible', 'index', `files-${String(shardOf('a.ts', recordShardCount)).padStart(2, '0')}.json`);
      assert.equal(JSON.parse(readFileSync(shardFile, 'utf8')).schemaVersion, 1);
      assert.equal(readFileSync(path.join(ws.root, '.crucible', '.gitignore'), 'utf8'), '*\n');
    } finally {
      ws.remove();
    }
  });

  it('moves a corrupt shard aside, reports it once, and starts that shard empty', async () => {
    const ws = tempWorkspace({});
    try {
      const s = new RecordStore(ws.root);
      await s.open();
      s.set(record('a.ts'));
      s.set(record('b.ts'));
      await s.flush();
      const shard = `files-${String(shardOf('a.ts', recordShardCount)).padStart(2, '0')}.json`;
      writeFileSync(path.join(ws.root, '.crucible', 'index', shard), '{"schemaVersion": 1, "files": {');
      const again = new RecordStore(ws.root);
      const problems = await again.open();
      assert.equal(problems.length, 1);
      assert.match(problems[0].message, /was corrupt .* kept it as files-\d\d\.json\.corrupt-/);
      assert.equal(again.get('a.ts'), undefined);
      if (shardOf('b.ts', recordShardCount) !== shardOf('a.ts', recordShardCount)) assert.ok(again.get('b.ts'), 'other shards are untouched');
      const aside = readdirSync(path.join(ws.root, '.crucible', 'index')).filter((f) => f.includes('.corrupt-'));
      assert.equal(aside.length, 1);
      assert.equal(readFileSync(path.join(ws.root, '.crucible', 'index', aside[0]), 'utf8'), '{"schemaVersion": 1, "files": {', 'the damaged file is kept, byte for byte');
      again.set(record('a.ts'));
      await again.flush();
      const third = new RecordStore(ws.root);
      assert.deepEqual(await third.open(), [], 'rebuilt shard is valid');
    } finally {
      ws.remove();
    }
  });

  it('treats valid JSON of the wrong shape as corrupt', async () => {
    const ws = tempWorkspace({ '.crucible/index/files-03.json': '[1,2,3]' });
    try {
      const problems = await new RecordStore(ws.root).open();
      assert.equal(problems.length, 1);
      assert.ok(existsSync(path.join(ws.root, '.crucible', 'index')));
    } finally {
      ws.remove();
    }
  });

  it('keeps working in memory when .crucible cannot be written, and says so', async function () {
    if (process.getuid?.() === 0) {
      // root ignores permission bits: make .crucible a file so mkdir fails instead
      const ws = tempWorkspace({ '.crucible': 'not a directory' });
      try {
        const s = new RecordStore(ws.root);
        const problems = await s.open();
        assert.equal(problems.length, 1);
        assert.match(problems[0].message, /cannot create .*works in memory/);
        assert.equal(s.writable, false);
        s.set(record('a.ts'));
        await s.flush();
        assert.ok(s.get('a.ts'));
      } finally {
        ws.remove();
      }
      return;
    }
    const ws = tempWorkspace({ 'a.ts': '' });
    try {
      chmodSync(ws.root, 0o555);
      const problems = await new RecordStore(ws.root).open();
      assert.match(problems[0].message, /works in memory/);
    } finally {
      chmodSync(ws.root, 0o755);
      ws.remove();
    }
  });

  it('lets one writer hold the lock; a second waits briefly and then names the holder', async () => {
    const ws = tempWorkspace({});
    try {
      const dir = path.join(ws.root, '.crucible');
      const release = await acquireStoreLock(dir, { owner: 'crucible index (CLI)', waitMs: 100 });
      const t0 = Date.now();
      await assert.rejects(acquireStoreLock(dir, { owner: 'language server', waitMs: 300 }), (err: unknown) => {
        assert.ok(err instanceof StoreLockedError);
        assert.match((err as Error).message, /crucible index \(CLI\), pid \d+/);
        return true;
      });
      assert.ok(Date.now() - t0 >= 250, 'the second writer waited');
      // released while the second writer waits: it gets the lock
      const waiting = acquireStoreLock(dir, { owner: 'language server', waitMs: 3000 });
      setTimeout(() => void release(), 100);
      const release2 = await waiting;
      await release2();
    } finally {
      ws.remove();
    }
  });

  describe('vectors', () => {
    const unit = (i: number, dims = 8) => {
      const v = new Float32Array(dims);
      v[i % dims] = 1;
      return v;
    };

    it('persists per embedder and finds nearest neighbours', async () => {
      const ws = tempWorkspace({});
      try {
        const dir = path.join(ws.root, '.crucible');
        const v = new VectorStore(dir, 'local-test-8', 8);
        await v.open();
        v.setFile('a.ts', [{ id: 'a.ts#x', vector: unit(0) }, { id: 'a.ts#y', vector: unit(1) }]);
        v.setFile('b.ts', [{ id: 'b.ts#z', vector: Float32Array.from([0.8, 0.6, 0, 0, 0, 0, 0, 0]) }]);
        await v.flush();
        const again = new VectorStore(dir, 'local-test-8', 8);
        assert.deepEqual(await again.open(), []);
        assert.equal(again.size, 3);
        const top = again.query(unit(0), 2, 'a.ts#x');
        assert.deepEqual(top.map((n) => n.id), ['b.ts#z', 'a.ts#y']);
        assert.ok(Math.abs(top[0].score - 0.8) < 1e-4);
        // replacing a file's vectors drops the old ones
        again.setFile('a.ts', [{ id: 'a.ts#w', vector: unit(2) }]);
        assert.equal(again.size, 2);
        assert.equal(again.has('a.ts#x'), false);
        // another embedder never sees these vectors
        const other = new VectorStore(dir, 'ollama-model-8', 8);
        await other.open();
        assert.equal(other.size, 0);
      } finally {
        ws.remove();
      }
    });

    it('moves a corrupt vectra shard aside and keeps the rest', async () => {
      const ws = tempWorkspace({});
      try {
        const dir = path.join(ws.root, '.crucible');
        const v = new VectorStore(dir, 'local-test-8', 8);
        await v.open();
        for (let i = 0; i < 20; i++) v.setFile(`f${i}.ts`, [{ id: `f${i}.ts#a`, vector: unit(i) }]);
        await v.flush();
        const shards = readdirSync(v.dir).filter((d) => d.startsWith('shard-'));
        writeFileSync(path.join(v.dir, shards[0], 'index.json'), '{"version":1,"items":[{"id":');
        const again = new VectorStore(dir, 'local-test-8', 8);
        const problems = await again.open();
        assert.equal(problems.length, 1);
        assert.match(problems[0].message, /vector shard shard-\d\d was corrupt/);
        assert.ok(again.size > 0 && again.size < 20);
        assert.ok(readdirSync(v.dir).some((d) => d.startsWith(shards[0] + '.corrupt-')));
      } finally {
        ws.remove();
      }
    });
  });
});
