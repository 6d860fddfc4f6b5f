/**
 * Corrupt-store recovery and the write lock, driven through `server/src/storage.ts` for
 * every store: index records, vectors, evidence, the agents' track record, and a store
 * opened with `openJsonStore` (as the scenario and training stores will be).
 */
import * as assert from 'node:assert/strict';
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { TrackRecord } from '../../server/src/agents/trackRecord';
import { EvidenceStore } from '../../server/src/evidence/store';
import { RecordStore } from '../../server/src/index/store';
import { VectorStore } from '../../server/src/index/vectors';
import { acquireStoreLock, openJsonStore, type StoreProblem, StoreLockedError } from '../../server/src/storage';
import { tempWorkspace } from '../support/tempWorkspace';

/** One way a store file goes bad, and what it should be reported as. */
interface Damage {
  name: string;
  /** Puts the bad thing where the file is; `good` is a valid document of the store. */
  make(file: string, good: Record<string, unknown>): void;
  reported: RegExp;
}

const damages: Damage[] = [
  { name: 'corrupt JSON', make: (f) => writeFileSync(f, '{"schemaVersion": 1, "x": [tru'), reported: /was corrupt \(/ },
  { name: 'valid JSON of the wrong shape', make: (f) => writeFileSync(f, '[1, 2, 3]'), reported: /was corrupt \(unexpected structure\)/ },
  {
    name: 'another schema version',
    make: (f, good) => writeFileSync(f, JSON.stringify({ ...good, schemaVersion: 99 })),
    reported: /was written by another version of Crucible \(schema 99, this one reads 1\)/,
  },
  {
    name: 'a directory where the file should be',
    make: (f) => {
      mkdirSync(f, { recursive: true });
      writeFileSync(path.join(f, 'inside'), 'kept');
    },
    reported: /was unreadable \(EISDIR/,
  },
];

/** A store under test: where its file is, a valid document for it, and how to open it and tell it is empty. */
interface StoreCase {
  name: string;
  /** Workspace-relative path of the damaged file. */
  file: string;
  good: Record<string, unknown>;
  open(root: string): Promise<{ problems: StoreProblem[]; isEmpty: boolean; writeSomething(): Promise<void> }>;
}

const stores: StoreCase[] = [
  {
    name: 'index records',
    file: '.crucible/index/files-03.json',
    good: { schemaVersion: 1, files: {} },
    async open(root) {
      const s = new RecordStore(root);
      const problems = await s.open();
      return {
        problems,
        isEmpty: s.size === 0,
        writeSomething: async () => {
          s.set({ file: 'a.ts', language: 'typescript', contentHash: 'h', parseErrors: 0, artifacts: [] });
          await s.folder.underLock(() => s.flush());
        },
      };
    },
  },
  {
    name: 'evidence runs',
    file: '.crucible/evidence/runs.json',
    good: { schemaVersion: 1, runs: [] },
    async open(root) {
      const s = new EvidenceStore(root);
      const problems = await s.open();
      return {
        problems,
        isEmpty: s.runs().length === 0,
        writeSomething: async () => {
          s.addRun({ id: 'r1', at: '2025-01-01T00:00:00.000Z', kind: 'test', command: 'npm test', outcomes: [] }, new Map());
          await s.flush();
        },
      };
    },
  },
  {
    name: 'evidence artifact shards',
    file: '.crucible/evidence/artifacts-05.json',
    good: { schemaVersion: 1, artifacts: {} },
    async open(root) {
      const s = new EvidenceStore(root);
      const problems = await s.open();
      return {
        problems,
        isEmpty: s.artifacts().length === 0,
        writeSomething: async () => {
          s.addRun({ id: 'r1', at: '2025-01-01T00:00:00.000Z', kind: 'test', command: 'npm test', outcomes: [] }, new Map());
          await s.flush();
        },
      };
    },
  },
  {
    name: 'track record',
    file: '.crucible/optimize/optimize.json',
    good: { schemaVersion: 1, variants: [], rejected: [], agents: [], settings: {}, settingsHistory: [] },
    async open(root) {
      const s = new TrackRecord(root);
      const problems = await s.open();
      return {
        problems,
        isEmpty: s.variants().length === 0 && s.allAgents().length === 0,
        writeSomething: async () => {
          s.agentRecords([{ id: 'rule:x', kind: 'rule', description: 'x' }]);
          await s.flush();
        },
      };
    },
  },
  {
    name: 'a store opened with openJsonStore',
    file: '.crucible/scenarios/scenarios.json',
    good: { schemaVersion: 1, scenarios: [] },
    async open(root) {
      const { store, problems } = await openJsonStore<{ schemaVersion: number; scenarios: string[] }>({
        dir: path.join(root, '.crucible', 'scenarios'),
        file: 'scenarios.json',
        schemaVersion: 1,
        valid: (d): d is { schemaVersion: number; scenarios: string[] } => Array.isArray((d as { scenarios?: unknown }).scenarios),
        empty: () => ({ schemaVersion: 1, scenarios: [] }),
        then: 'started the scenarios afresh',
        inMemory: 'scenarios are kept in memory only',
      });
      return {
        problems,
        isEmpty: store.data.scenarios.length === 0,
        writeSomething: async () => {
          store.data.scenarios.push('s1');
          store.changed();
          await store.flush();
        },
      };
    },
  },
];

/** The `*.corrupt-*` entries beside `abs`. */
const asideOf = (abs: string) => readdirSync(path.dirname(abs)).filter((f) => f.startsWith(`${path.basename(abs)}.corrupt-`));

describe('storage: corrupt-store recovery, for every store', () => {
  for (const store of stores) {
    describe(store.name, () => {
      for (const damage of damages) {
        it(`${damage.name}: kept aside, reported once naming the file, and the store opens empty and writes again`, async () => {
          const ws = tempWorkspace({});
          try {
            const abs = path.join(ws.root, store.file);
            mkdirSync(path.dirname(abs), { recursive: true });
            damage.make(abs, store.good);
            const opened = await store.open(ws.root);
            assert.equal(opened.problems.length, 1, JSON.stringify(opened.problems));
            const [problem] = opened.problems;
            const name = path.basename(abs);
            assert.equal(problem.file, abs);
            assert.match(problem.message, new RegExp(`^${name.replace(/\./g, '\\.')} could not be used because it `));
            assert.match(problem.message, damage.reported);
            assert.match(problem.message, new RegExp(`; kept it as ${name.replace(/\./g, '\\.')}\\.corrupt-\\S+ and `));
            assert.equal(asideOf(abs).length, 1, 'the damaged file is kept aside');
            assert.ok(opened.isEmpty, 'the store starts empty');

            await opened.writeSomething();
            const again = await store.open(ws.root);
            assert.deepEqual(again.problems, [], 'what is written after recovery reads back cleanly');
            assert.equal(asideOf(abs).length, 1, 'and the kept file is still there');
          } finally {
            ws.remove();
          }
        });
      }
    });
  }

  describe('vectors', () => {
    const dims = 8;
    const embedder = 'local-test-8';
    const unit = (i: number) => {
      const v = new Float32Array(dims);
      v[i % dims] = 1;
      return v;
    };

    /** A vector index with one shard written; returns that shard's folder. */
    async function written(root: string): Promise<string> {
      const v = new VectorStore(path.join(root, '.crucible'), embedder, dims);
      await v.open();
      v.setFile('a.ts', [{ id: 'a.ts#f', vector: unit(0) }]);
      await v.flush();
      const shard = readdirSync(v.dir).find((d) => d.startsWith('shard-'))!;
      return path.join(v.dir, shard);
    }

    const shardDamages: { name: string; make(indexJson: string): void; reported: RegExp }[] = [
      { name: 'corrupt JSON', make: (f) => writeFileSync(f, '{"version":1,"items":[{"id":'), reported: /was corrupt \(/ },
      { name: 'valid JSON of the wrong shape', make: (f) => writeFileSync(f, JSON.stringify({ version: 1, items: [{ id: 'a.ts#f', vector: [1, 2] }] })), reported: /was corrupt \(item a\.ts#f is malformed\)/ },
      {
        name: 'a directory where the file should be',
        make: (f) => {
          rmSync(f);
          mkdirSync(f);
        },
        reported: /was unreadable \(EISDIR/,
      },
    ];

    for (const damage of shardDamages) {
      it(`a shard with ${damage.name}: the shard folder is kept aside, reported naming it, and its files are re-embedded`, async () => {
        const ws = tempWorkspace({});
        try {
          const shardDir = await written(ws.root);
          damage.make(path.join(shardDir, 'index.json'));
          const v = new VectorStore(path.join(ws.root, '.crucible'), embedder, dims);
          const problems = await v.open();
          assert.equal(problems.length, 1, JSON.stringify(problems));
          assert.equal(problems[0].file, path.join(shardDir, 'index.json'));
          assert.match(problems[0].message, new RegExp(`^vector shard ${path.basename(shardDir)} `));
          assert.match(problems[0].message, damage.reported);
          assert.match(problems[0].message, new RegExp(`; kept it as ${path.basename(shardDir)}\\.corrupt-\\S+ and re-embeds its files\\.$`));
          assert.equal(asideOf(shardDir).length, 1);
          assert.equal(v.size, 0);
          assert.ok(v.hasPendingWrites, 'the shard is rewritten at the next flush');
          await v.flush();
          assert.deepEqual(await new VectorStore(path.join(ws.root, '.crucible'), embedder, dims).open(), []);
        } finally {
          ws.remove();
        }
      });
    }

    it('metadata that is corrupt or of the wrong shape: the embedder folder is kept aside and reported', async () => {
      for (const bad of ['{"embedder":', '{"model": 3}']) {
        const ws = tempWorkspace({});
        try {
          await written(ws.root);
          const dir = path.join(ws.root, '.crucible', 'vectors', embedder);
          writeFileSync(path.join(dir, 'embedder.json'), bad);
          const v = new VectorStore(path.join(ws.root, '.crucible'), embedder, dims);
          const problems = await v.open();
          assert.equal(problems.length, 1, bad);
          assert.equal(problems[0].file, path.join(dir, 'embedder.json'));
          assert.match(problems[0].message, /^vector index metadata was corrupt \(.*\); kept it as local-test-8\.corrupt-\S+ and rebuilds the vectors\.$/);
          assert.equal(asideOf(dir).length, 1);
          assert.equal(v.size, 0);
        } finally {
          ws.remove();
        }
      }
    });

    it('vectors of another embedding space (the schema of a vector index) are kept aside, never mixed', async () => {
      const ws = tempWorkspace({});
      try {
        await written(ws.root);
        const dir = path.join(ws.root, '.crucible', 'vectors', embedder);
        writeFileSync(path.join(dir, 'embedder.json'), JSON.stringify({ embedder, dims: 16 }));
        const v = new VectorStore(path.join(ws.root, '.crucible'), embedder, dims);
        assert.deepEqual(await v.open(), [], 'a changed space is expected, not a problem');
        assert.equal(v.size, 0);
        assert.equal(asideOf(dir).length, 1);
      } finally {
        ws.remove();
      }
    });
  });
});

describe('storage: a second writer waits, then is told who holds the lock', () => {
  const cases: { name: string; lockDir: (root: string) => string; write(root: string): Promise<void> }[] = [
    {
      name: 'index records (and the vectors, under the same lock)',
      lockDir: (root) => path.join(root, '.crucible'),
      async write(root) {
        const s = new RecordStore(root, { owner: 'second writer', waitMs: 300 });
        await s.open();
        s.set({ file: 'a.ts', language: 'typescript', contentHash: 'h', parseErrors: 0, artifacts: [] });
        await s.folder.underLock(() => s.flush());
      },
    },
    {
      name: 'evidence',
      lockDir: (root) => path.join(root, '.crucible', 'evidence'),
      async write(root) {
        const s = new EvidenceStore(root, { owner: 'second writer', lockWaitMs: 300 });
        await s.open();
        s.addRun({ id: 'r1', at: '2025-01-01T00:00:00.000Z', kind: 'test', command: 'npm test', outcomes: [] }, new Map());
        await s.flush();
      },
    },
    {
      name: 'track record',
      lockDir: (root) => path.join(root, '.crucible', 'optimize'),
      async write(root) {
        const s = new TrackRecord(root, { owner: 'second writer', lockWaitMs: 300 });
        await s.open();
        s.agentRecords([{ id: 'rule:x', kind: 'rule', description: 'x' }]);
        await s.flush();
      },
    },
  ];

  for (const c of cases) {
    it(c.name, async () => {
      const ws = tempWorkspace({});
      try {
        const release = await acquireStoreLock(c.lockDir(ws.root), { owner: 'crucible optimize (CLI)', waitMs: 100 });
        const t0 = Date.now();
        try {
          await assert.rejects(c.write(ws.root), (err: unknown) => {
            assert.ok(err instanceof StoreLockedError, String(err));
            assert.match(err.message, /crucible optimize \(CLI\), pid \d+, since /);
            return true;
          });
          assert.ok(Date.now() - t0 >= 250, 'the second writer waited');
        } finally {
          await release();
        }
        await c.write(ws.root); // and once the lock is free, the same write goes through
      } finally {
        ws.remove();
      }
    });
  }
});

describe('storage: atomic writes', () => {
  it('leaves no temp files behind and writes the two-space JSON earlier stores wrote', async () => {
    const ws = tempWorkspace({});
    try {
      const s = new TrackRecord(ws.root);
      await s.open();
      s.agentRecords([{ id: 'rule:x', kind: 'rule', description: 'x' }]);
      await Promise.all([s.flush(), s.flush()]);
      assert.deepEqual(readdirSync(s.dir).filter((f) => f.endsWith('.tmp')), []);
      const text = readFileSync(s.file, 'utf8');
      assert.equal(text, JSON.stringify(JSON.parse(text), null, 2));
    } finally {
      ws.remove();
    }
  });
});
