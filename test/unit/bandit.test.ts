import * as assert from 'node:assert/strict';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import {
  adaptSettings,
  type AgentRecord,
  chooseAgents,
  contextKey,
  defaultOptimizerSettings,
  newAgentRecord,
  posterior,
  rankAgents,
  recordAttempt,
  retireAgents,
  seededRandom,
} from '../../server/src/agents/bandit';
import type { VerificationRecord } from '../../server/src/agents/contract';
import { TrackRecord } from '../../server/src/agents/trackRecord';
import { tempWorkspace } from '../support/tempWorkspace';

const ts = contextKey('typescript', 'function');
const py = contextKey('python', 'function');

function agent(id: string, accepted: number, attempts: number, context = ts): AgentRecord {
  const r = newAgentRecord(id, 'rule', id);
  for (let i = 0; i < attempts; i++) recordAttempt(r, context, { accepted: i < accepted, speedup: 2, latencyMs: 3 });
  return r;
}

describe('micro-agent ranking (Beta posteriors, Thompson sampling)', () => {
  it('gives the Beta posterior of the acceptance rate with its 95% interval', () => {
    const flat = posterior({ attempts: 0, accepted: 0 });
    assert.equal(flat.mean, 0.5);
    assert.ok(Math.abs(flat.low - 0.025) < 0.015 && Math.abs(flat.high - 0.975) < 0.015, `${flat.low}–${flat.high}`);
    // Beta(9, 3): exact 2.5% and 97.5% quantiles 0.4822 and 0.9398
    const p = posterior({ attempts: 10, accepted: 8 });
    assert.ok(Math.abs(p.mean - 0.75) < 1e-12);
    assert.ok(Math.abs(p.low - 0.4822) < 0.02 && Math.abs(p.high - 0.9398) < 0.02, `${p.low}–${p.high}`);
    assert.deepEqual(posterior({ attempts: 10, accepted: 8 }), p, 'deterministic');
  });

  it('spends most of the budget on the best agent, still tries a new one, rarely a bad one', () => {
    const records = [agent('good', 18, 20), agent('bad', 1, 20), newAgentRecord('new', 'rule', 'new')];
    const random = seededRandom(3);
    const counts: Record<string, number> = { good: 0, bad: 0, new: 0 };
    for (let i = 0; i < 2000; i++) counts[chooseAgents(records, ts, 1, random)[0].id]++;
    assert.ok(counts.good > 1500, JSON.stringify(counts));
    assert.ok(counts.new > 40, `a new agent is explored: ${JSON.stringify(counts)}`);
    assert.ok(counts.bad < 60, JSON.stringify(counts));
  });

  it('judges an agent by its record in the context (language × kind) once it has one there', () => {
    const tsExpert = agent('ts-expert', 15, 16, ts);
    for (let i = 0; i < 16; i++) recordAttempt(tsExpert, py, { accepted: false, latencyMs: 1 });
    const generalist = agent('generalist', 5, 10, py);
    const random = seededRandom(5);
    let expertFirstOnPython = 0;
    let expertFirstOnTs = 0;
    for (let i = 0; i < 500; i++) {
      if (chooseAgents([tsExpert, generalist], py, 1, random)[0].id === 'ts-expert') expertFirstOnPython++;
      if (chooseAgents([tsExpert, generalist], ts, 1, random)[0].id === 'ts-expert') expertFirstOnTs++;
    }
    assert.ok(expertFirstOnPython < 25, `${expertFirstOnPython}`);
    assert.ok(expertFirstOnTs > 300, `${expertFirstOnTs}`);
  });

  it('ranks by posterior mean, marks provisional agents, lists retired ones last, and never chooses them', () => {
    const records = [agent('a', 3, 5), agent('b', 30, 40), agent('c', 0, 40)];
    assert.deepEqual(retireAgents(records, new Date('2026-01-01T00:00:00Z')), ['c']);
    assert.match(records[2].retired!.reason, /^accepted 0 of 40 attempts; the 95% interval of its acceptance rate \(0\.\d%–\d\.\d%\) lies below 10\.0%$/);
    const ranked = rankAgents(records);
    assert.deepEqual(ranked.map((r) => [r.rank, r.id, r.provisional]), [[1, 'b', false], [2, 'a', true], [3, 'c', false]]);
    assert.equal(ranked[0].meanSpeedup, 2);
    assert.equal(ranked[0].meanLatencyMs, 3);
    assert.ok(ranked[2].retired);
    for (let i = 0; i < 50; i++) assert.ok(!chooseAgents(records, ts, 3, seededRandom(i)).some((r) => r.id === 'c'));
  });

  it('does not retire an agent on too few attempts or while its interval reaches 10%', () => {
    const records = [agent('young', 0, 10), agent('meh', 3, 30)];
    assert.deepEqual(retireAgents(records), []);
  });

  it('adapts the optimizer’s settings from its acceptance history, with the reason', () => {
    const fewer = adaptSettings(defaultOptimizerSettings, { artifacts: 12, candidates: 30, accepted: 0, acceptedFromRank: [] });
    assert.equal(fewer!.to.candidatesPerArtifact, defaultOptimizerSettings.candidatesPerArtifact - 1);
    assert.match(fewer!.why, /no candidate of 30 over 12 artifacts was accepted/);
    const wider = adaptSettings(defaultOptimizerSettings, { artifacts: 5, candidates: 12, accepted: 4, acceptedFromRank: [3, 3, 0, 3] });
    assert.equal(wider!.to.agentsPerArtifact, defaultOptimizerSettings.agentsPerArtifact + 1);
    assert.equal(adaptSettings(defaultOptimizerSettings, { artifacts: 3, candidates: 6, accepted: 2, acceptedFromRank: [0, 1] }), undefined);
  });
});

describe('optimize store (.crucible/optimize/optimize.json)', () => {
  const verification: VerificationRecord = { accepted: true, inputsCompared: { recorded: 3, generated: 100 }, testsRun: 2, testsPassed: 2, speedup: 2.5, speedupLow: 2.2, speedupHigh: 2.8, stepMs: {}, notes: [] };
  const variant = {
    artifact: 'src/a.ts#f',
    file: 'src/a.ts',
    range: { start: { line: 0, character: 0 }, end: { line: 2, character: 1 } },
    originalHash: 'h1',
    original: 'function f() {}',
    fileHash: 'fh',
    agent: 'rule:x',
    code: 'function f() { }',
    summary: 's',
    verification,
  };

  it('keeps variants, dismissals, rejections, agents and settings across a reopen', async () => {
    const ws = tempWorkspace({});
    try {
      const store = new TrackRecord(ws.root);
      assert.deepEqual(await store.open(), []);
      const [rec] = store.agentRecords([{ id: 'rule:x', kind: 'rule', description: 'x' }]);
      recordAttempt(rec, ts, { accepted: true, speedup: 2.5, latencyMs: 4 });
      store.touchAgents();
      const v = store.addVariant(variant);
      assert.equal(v.id, 'src/a.ts#f@rule:x#1');
      store.setStatus(v.id, 'dismissed');
      store.addRejection({ artifact: 'src/a.ts#f', agent: 'rule:y', at: 'now', rejection: { step: 'differential', reason: 'differs on NaN', counterexample: [[{ __type: 'number', value: 'NaN' }]] } });
      store.changeSettings({ at: 'now', from: defaultOptimizerSettings, to: { agentsPerArtifact: 5, candidatesPerArtifact: 5 }, why: 'test' });
      await store.flush();

      const again = new TrackRecord(ws.root);
      assert.deepEqual(await again.open(), []);
      assert.equal(again.allAgents()[0].accepted, 1);
      assert.equal(again.wasDismissed('src/a.ts#f', variant.code), true);
      assert.equal(again.rejections('src/a.ts#f')[0].rejection.step, 'differential');
      assert.equal(again.settings.agentsPerArtifact, 5);
      assert.equal(again.settingsHistory().length, 1);
    } finally {
      ws.remove();
    }
  });

  it('moves a corrupt file aside, keeps it, starts afresh and says so', async () => {
    const ws = tempWorkspace({});
    try {
      const store = new TrackRecord(ws.root);
      await store.open();
      store.addVariant(variant);
      await store.flush();
      writeFileSync(store.file, '{"schemaVersion": 1, "variants": [tru');
      const again = new TrackRecord(ws.root);
      const problems = await again.open();
      assert.equal(problems.length, 1);
      assert.match(problems[0].message, /optimize\.json could not be used .*kept it as optimize\.json\.corrupt-/);
      assert.deepEqual(again.variants(), []);
      const aside = readdirSync(store.dir).find((f) => f.startsWith('optimize.json.corrupt-'))!;
      assert.match(readFileSync(path.join(store.dir, aside), 'utf8'), /\[tru$/);
      await again.flush();
      assert.equal(JSON.parse(readFileSync(store.file, 'utf8')).schemaVersion, 1, 'rebuilt');
    } finally {
      ws.remove();
    }
  });
});
