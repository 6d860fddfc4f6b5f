import * as assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import type { ArtifactRunInput, CallSample, Run } from '../../server/src/evidence/model';
import { EvidenceStore, evidenceShardCount } from '../../server/src/evidence/store';
import { acquireStoreLock, shardOf, StoreLockedError } from '../../server/src/storage';
import { tempWorkspace } from '../support/tempWorkspace';

const runAt = (n: number, kind: Run['kind'] = 'test'): Run => ({
  id: `run-${n}`,
  at: new Date(Date.UTC(2025, 0, 1, 0, n)).toISOString(),
  kind,
  command: 'npm test',
  outcomes: [{ testId: 'adds', status: n % 7 === 0 ? 'failed' : 'passed', durationMs: 3, ...(n % 7 === 0 ? { error: 'expected 3' } : {}) }],
});
const sample = (i: number): CallSample => ({ args: [i, { nested: [i] }], result: i + 1, durationNs: 1000 + i, mutated: false });
const input = (n: number, patch: Partial<ArtifactRunInput> = {}): ArtifactRunInput => ({
  hash: `h${Math.floor(n / 3)}`,
  tests: [{ testId: 'adds', status: n % 7 === 0 ? 'failed' : 'passed', durationMs: 3 }],
  coveredLines: 8,
  coverableLines: 10,
  calls: 5,
  errors: 0,
  ...patch,
});
const shardFile = (root: string, id: string) => path.join(root, '.crucible', 'evidence', `artifacts-${String(shardOf(id, evidenceShardCount)).padStart(2, '0')}.json`);

describe('evidence store', () => {
  it('round-trips runs and per-artifact evidence through the disk', async () => {
    const ws = tempWorkspace({});
    try {
      const a = new EvidenceStore(ws.root);
      assert.deepEqual(await a.open(), []);
      a.addRun(runAt(1), new Map([
        ['src/m.ts#add', input(1, { callSamples: [sample(1)], bench: { samplesNs: [1, 2, 3], medianNs: 2, ciLowNs: 1, ciHighNs: 3 } })],
        ['src/m.ts#sub', input(1)],
      ]));
      a.addRun(runAt(7), new Map([['src/m.ts#add', input(7)]]));
      assert.ok(a.hasPendingWrites);
      await a.flush();
      assert.ok(!a.hasPendingWrites);
      assert.ok(existsSync(path.join(ws.root, '.crucible', 'evidence', 'runs.json')));

      const b = new EvidenceStore(ws.root);
      assert.deepEqual(await b.open(), []);
      assert.deepEqual(b.runs().map((r) => r.id), ['run-1', 'run-7']);
      assert.equal(b.runs()[1].outcomes[0].error, 'expected 3');
      assert.deepEqual(b.artifacts().sort(), ['src/m.ts#add', 'src/m.ts#sub']);
      const h = b.history('src/m.ts#add');
      assert.deepEqual(h.map((e) => [e.runId, e.at, e.hash]), [['run-1', runAt(1).at, 'h0'], ['run-7', runAt(7).at, 'h2']]);
      assert.deepEqual(h[0].callSamples, [sample(1)]);
      assert.deepEqual(h[0].bench, { samplesNs: [1, 2, 3], medianNs: 2, ciLowNs: 1, ciHighNs: 3 });
      // run-7 failed, so the last verified code is still that of run-1
      assert.equal(b.lastVerified('src/m.ts#add'), 'h0');
      assert.equal(b.lastVerified('src/m.ts#nope'), undefined);
      assert.deepEqual(b.history('src/m.ts#nope'), []);
    } finally {
      ws.remove();
    }
  });

  it('replaces a run added twice instead of duplicating it', async () => {
    const ws = tempWorkspace({});
    try {
      const s = new EvidenceStore(ws.root);
      await s.open();
      s.addRun(runAt(1), new Map([['f', input(1)]]));
      s.addRun(runAt(1), new Map([['f', input(1, { calls: 9 })]]));
      assert.equal(s.runs().length, 1);
      assert.deepEqual(s.history('f').map((e) => e.calls), [9]);
    } finally {
      ws.remove();
    }
  });

  it('caps history, runs and recorded calls, keeping the newest and the last verified hash', async () => {
    const ws = tempWorkspace({});
    try {
      const s = new EvidenceStore(ws.root, { maxHistory: 5, maxRuns: 4, maxCallSamples: 6 });
      await s.open();
      s.addRun(runAt(0), new Map([['f', input(0, { hash: 'green', tests: [{ testId: 'adds', status: 'passed', durationMs: 1 }] })]]));
      for (let n = 1; n <= 20; n++) {
        s.addRun(runAt(n), new Map([['f', input(n, { tests: [{ testId: 'adds', status: 'failed', durationMs: 1 }], callSamples: [sample(n * 10), sample(n * 10 + 1)] })]]));
      }
      await s.flush();
      const r = new EvidenceStore(ws.root, { maxHistory: 5, maxRuns: 4, maxCallSamples: 6 });
      await r.open();
      assert.deepEqual(r.history('f').map((e) => e.runId), ['run-16', 'run-17', 'run-18', 'run-19', 'run-20']);
      assert.deepEqual(r.runs().map((x) => x.id), ['run-17', 'run-18', 'run-19', 'run-20']);
      assert.deepEqual(r.callSamples('f').map((c) => c.durationNs - 1000), [180, 181, 190, 191, 200, 201]);
      assert.equal(r.lastVerified('f'), 'green', 'the verified hash outlives the history cap');
    } finally {
      ws.remove();
    }
  });

  it('moves a corrupt shard aside, reports it and keeps the rest', async () => {
    const ws = tempWorkspace({});
    try {
      const s = new EvidenceStore(ws.root);
      await s.open();
      const ids = ['a#f', 'b#g', 'c#h', 'd#i'];
      s.addRun(runAt(1), new Map(ids.map((id) => [id, input(1)])));
      await s.flush();
      const broken = shardFile(ws.root, 'a#f');
      writeFileSync(broken, '{"schemaVersion":1,"artifacts":{');
      const r = new EvidenceStore(ws.root);
      const problems = await r.open();
      assert.equal(problems.length, 1);
      assert.match(problems[0].message, /artifacts-\d\d\.json could not be used because it was corrupt .*kept it as artifacts-\d\d\.json\.corrupt-.*Re-run the tests/);
      assert.deepEqual(r.history('a#f'), []);
      for (const id of ids.filter((id) => shardOf(id, evidenceShardCount) !== shardOf('a#f', evidenceShardCount))) assert.equal(r.history(id).length, 1, id);
      assert.ok(readdirSync(path.dirname(broken)).some((f) => f.startsWith(`${path.basename(broken)}.corrupt-`)));
      // and the store keeps working
      r.addRun(runAt(2), new Map([['a#f', input(2)]]));
      await r.flush();
      assert.equal(JSON.parse(readFileSync(broken, 'utf8')).artifacts['a#f'].history.length, 1);
    } finally {
      ws.remove();
    }
  });

  it('keeps a file from another schema version aside instead of overwriting it', async () => {
    const ws = tempWorkspace({});
    try {
      const s = new EvidenceStore(ws.root);
      await s.open();
      s.addRun(runAt(1), new Map([['f', input(1)]]));
      await s.flush();
      const runs = path.join(ws.root, '.crucible', 'evidence', 'runs.json');
      writeFileSync(runs, JSON.stringify({ schemaVersion: 99, somethingNew: [] }));
      const r = new EvidenceStore(ws.root);
      const problems = await r.open();
      assert.equal(problems.length, 1);
      assert.match(problems[0].message, /runs\.json could not be used because it was written by another version of Crucible \(schema 99, this one reads 1\)/);
      assert.deepEqual(r.runs(), []);
      assert.equal(r.history('f').length, 1);
    } finally {
      ws.remove();
    }
  });

  it('waits for another writer and gives up naming it, keeping the data in memory', async () => {
    const ws = tempWorkspace({});
    try {
      const s = new EvidenceStore(ws.root, { lockWaitMs: 200, owner: 'second writer' });
      await s.open();
      s.addRun(runAt(1), new Map([['f', input(1)]]));
      const release = await acquireStoreLock(s.dir, { owner: 'mocha adapter', waitMs: 100 });
      try {
        await assert.rejects(s.flush(), (err: unknown) => err instanceof StoreLockedError && /mocha adapter, pid \d+/.test(err.message));
        assert.ok(s.hasPendingWrites);
      } finally {
        await release();
      }
      await s.flush();
      assert.ok(!s.hasPendingWrites);
      // holding the lock for a batch: a second store cannot write meanwhile
      await s.holdLock();
      const other = new EvidenceStore(ws.root, { lockWaitMs: 100 });
      await other.open();
      other.addRun(runAt(2), new Map([['g', input(2)]]));
      await assert.rejects(other.flush(), StoreLockedError);
      await s.close();
      await other.flush();
      const r = new EvidenceStore(ws.root);
      await r.open();
      assert.deepEqual(r.runs().map((x) => x.id), ['run-1', 'run-2']);
    } finally {
      ws.remove();
    }
  });

  it('merges runs added by two stores opened at the same time', async () => {
    const ws = tempWorkspace({});
    try {
      const a = new EvidenceStore(ws.root);
      const b = new EvidenceStore(ws.root);
      await a.open();
      await b.open();
      a.addRun(runAt(1), new Map([['f', input(1)], ['g', input(1)]]));
      b.addRun(runAt(2), new Map([['f', input(2, { calls: 9 })]]));
      await a.flush();
      await b.flush();
      assert.deepEqual(b.history('f').map((e) => e.runId), ['run-1', 'run-2'], 'b sees what a wrote once it flushed');
      const r = new EvidenceStore(ws.root);
      await r.open();
      assert.deepEqual(r.runs().map((x) => x.id), ['run-1', 'run-2']);
      assert.deepEqual(r.history('f').map((e) => e.runId), ['run-1', 'run-2']);
      assert.deepEqual(r.history('g').map((e) => e.runId), ['run-1']);
    } finally {
      ws.remove();
    }
  });
});
