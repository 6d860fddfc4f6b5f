import * as assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import * as path from 'node:path';
import { extractFile, type ArtifactRecord } from '../../server/src/index/extract';
import { languageForPath, loadParsers } from '../../server/src/index/languages';
import { detectRunners } from '../../server/src/evidence/runners/detect';
import { runTests } from '../../server/src/evidence/runners/run';
import { testArtifactId, type RunnerPlan, type TestRunReport } from '../../server/src/evidence/runners/types';
import { runTestsRecorded, testResultsOf, type RecordedRun } from '../../server/src/evidence/record/record';

const fixtures = path.join(__dirname, '..', 'fixtures', 'record');

async function artifactsOf(root: string): Promise<ArtifactRecord[]> {
  const parsers = await loadParsers();
  const out: ArtifactRecord[] = [];
  for (const dir of ['src', 'test']) {
    for (const name of readdirSync(path.join(root, dir))) {
      const file = `${dir}/${name}`;
      const lang = languageForPath(file);
      if (lang) out.push(...extractFile(parsers, file, lang, readFileSync(path.join(root, file), 'utf8')).artifacts);
    }
  }
  return out;
}

function outcomes(report: TestRunReport): string[] {
  return report.results.map((r) => `${r.status} ${testArtifactId(r)}`).sort();
}

/** Per source artifact (tests' own artifacts left out): the tests that executed it, sorted. */
function testsBySource(run: RecordedRun): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const [id, r] of run.recording.artifacts) if (id.startsWith('src/') && r.tests.size > 0) out[id] = [...r.tests].sort();
  return out;
}

interface Case {
  name: string;
  runner: string;
  plan?: RunnerPlan;
  plain?: TestRunReport;
  recorded?: RecordedRun;
  plainMs?: number;
  recordedMs?: number;
}

describe('recording test runs (test -> artifact, call samples)', function () {
  this.timeout(180_000);
  const cases: Case[] = [
    { name: 'mocha-babel', runner: 'mocha' },
    { name: 'vitest-esm-ts', runner: 'vitest' },
    { name: 'node-test', runner: 'node-test' },
  ];

  before(async () => {
    for (const c of cases) {
      const root = path.join(fixtures, c.name);
      const plan = (await detectRunners(root)).find((p) => p.runner === c.runner);
      assert.ok(plan, `no ${c.runner} plan for ${c.name}`);
      c.plan = plan;
      const artifacts = await artifactsOf(root);
      let t = Date.now();
      c.plain = await runTests(plan, { timeoutMs: 120_000 });
      c.plainMs = Date.now() - t;
      t = Date.now();
      c.recorded = await runTestsRecorded(plan, { timeoutMs: 120_000 }, artifacts);
      c.recordedMs = Date.now() - t;
    }
  });

  after(() => {
    for (const c of cases) console.log(`      ${c.name}: ${c.plainMs} ms plain, ${c.recordedMs} ms recorded`);
  });

  for (const name of ['mocha-babel', 'vitest-esm-ts', 'node-test']) {
    it(`${name}: test outcomes are identical with and without recording`, () => {
      const c = cases.find((x) => x.name === name)!;
      assert.equal(c.plain!.problem, undefined, c.plain!.outputTail);
      assert.equal(c.recorded!.report.problem, undefined, c.recorded!.report.outputTail);
      assert.ok(c.plain!.results.length >= 4);
      assert.deepEqual(outcomes(c.recorded!.report), outcomes(c.plain!));
      assert.equal(c.recorded!.report.exitCode, c.plain!.exitCode);
      assert.equal(c.recorded!.recording.badLines, 0);
    });
  }

  it('mocha + babel: maps each test to exactly the artifacts it executed', () => {
    const run = cases[0].recorded!;
    const t = (title: string) => `test/ledger.test.js#ledger > ${title}`;
    assert.deepEqual(testsBySource(run), {
      'src/ledger.js#total': [t('Ledger > balances'), t('totals prices')],
      'src/ledger.js#parseAmount': [t('rejects a bad amount')],
      'src/ledger.js#tag': [t('tags an entry')],
      'src/ledger.js#depth': [t('follows a cycle')],
      // The class itself: its field initialiser runs on construction.
      'src/ledger.js#Ledger': [t('Ledger > balances'), t('Ledger > counts entries')],
      'src/ledger.js#Ledger.add': [t('Ledger > balances'), t('Ledger > counts entries')],
      'src/ledger.js#Ledger.get size': [t('Ledger > counts entries')],
      'src/ledger.js#Ledger.balance': [t('Ledger > balances')],
    });
    // The test's own artifact is executed by that test.
    assert.deepEqual([...run.recording.artifacts.get(t('totals prices'))!.tests], [t('totals prices')]);
  });

  it('mocha + babel: records arguments, results, thrown errors, mutation and cycles', () => {
    const a = cases[0].recorded!.recording.artifacts;
    // Only calls through the module's exports are sampled: `balance` calls `total` directly (V8 still counts it).
    assert.deepEqual(a.get('src/ledger.js#total')!.samples.map((s) => [s.args, s.result, s.mutated]), [[[[{ price: 2, qty: 3 }, { price: 1 }]], 7, false]]);
    const thrown = a.get('src/ledger.js#parseAmount')!.samples;
    assert.equal(thrown.length, 1);
    assert.deepEqual(thrown[0].args, ['abc']);
    assert.deepEqual(thrown[0].error, { __type: 'Error', name: 'RangeError', message: 'not an amount: abc' });
    assert.equal(thrown[0].result, undefined);
    assert.equal(a.get('src/ledger.js#parseAmount')!.sampledErrors, 1);
    const tagged = a.get('src/ledger.js#tag')!.samples[0];
    assert.deepEqual(tagged.args, [{ price: 1 }, 'food']);
    assert.equal(tagged.mutated, true);
    assert.equal(tagged.result, 1);
    assert.deepEqual(a.get('src/ledger.js#depth')!.samples[0].args, [{ name: 'a', next: '[Circular]' }]);
    const add = a.get('src/ledger.js#Ledger.add')!;
    assert.equal(add.samples.length, 3);
    assert.deepEqual(add.samples[0].result, { __class: 'Ledger', entries: [{ price: 4 }] });
    assert.ok(add.samples.every((s) => s.durationNs > 0));
    assert.equal(add.calls, 3);
    assert.equal(a.get('src/ledger.js#total')!.calls, 2);
  });

  it('mocha + babel: line coverage and outcomes per artifact', () => {
    const c = cases[0];
    const a = c.recorded!.recording.artifacts;
    const parse = a.get('src/ledger.js#parseAmount')!;
    assert.equal(parse.coverableLines, 4, 'lines with code, not the closing brace');
    assert.equal(parse.coveredLines, 3, 'the `return value` line never ran');
    const total = a.get('src/ledger.js#total')!;
    assert.equal(total.coveredLines, total.coverableLines);
    const size = testResultsOf(a.get('src/ledger.js#Ledger.get size')!, c.recorded!.report);
    assert.deepEqual(size.map((r) => `${r.status} ${r.testId}`), ['failed test/ledger.test.js#ledger > Ledger > counts entries']);
  });

  it('vitest ESM TypeScript: maps each test to exactly the artifacts it executed', () => {
    const run = cases[1].recorded!;
    const t = (title: string) => `test/queue.test.ts#Queue > ${title}`;
    assert.deepEqual(testsBySource(run), {
      'src/queue.ts#Queue': [t('drains in order'), t('keeps its size'), t('returns the new size')],
      'src/queue.ts#Queue.push': [t('drains in order'), t('keeps its size'), t('returns the new size')],
      'src/queue.ts#Queue.shift': [t('drains in order'), t('keeps its size')],
      'src/queue.ts#Queue.get size': [t('keeps its size')],
      'src/queue.ts#drain': [t('drains in order'), t('keeps its size')],
      'src/queue.ts#parsePriority': [t('rejects a bad priority')],
    });
  });

  it('vitest ESM TypeScript: records calls through ESM exports and class methods', () => {
    const a = cases[1].recorded!.recording.artifacts;
    const drain = a.get('src/queue.ts#drain')!.samples;
    assert.deepEqual(drain[0].args, [{ __class: 'Queue', items: ['a', 'b'] }]);
    assert.deepEqual(drain[0].result, ['a', 'b']);
    assert.equal(drain[0].mutated, true, 'drain empties the queue it is given');
    const parse = a.get('src/queue.ts#parsePriority')!.samples;
    assert.deepEqual(parse[0].error, { __type: 'Error', name: 'TypeError', message: 'not a priority: high' });
    assert.deepEqual(a.get('src/queue.ts#Queue.push')!.samples.map((s) => [s.args, s.result]), [[[1], 1], [['a'], 1], [['b'], 2], [[1], 1]]);
  });

  it('node:test: maps each test (CommonJS, ESM, async, callback, subtest) to exactly the artifacts it executed', () => {
    const run = cases[2].recorded!;
    const t = (title: string) => `test/shapes.test.js#shapes > ${title}`;
    const m = (title: string) => `test/words.test.mjs#${title}`;
    // Per test, not per file: the subtest's own calls are its own, not its parent's.
    assert.deepEqual(testsBySource(run), {
      'src/shapes.js#area': [t('computes an area'), t('describes a shape with subtests > names it'), m('measures from ESM')],
      'src/shapes.js#perimeter': [t('computes a perimeter'), t('fails on purpose')],
      'src/shapes.js#later': [t('async > waits for a value')],
      'src/shapes.js#callback': [t('calls back')],
      'src/shapes.js#describeShape': [t('describes a shape with subtests > names it')],
      'src/words.mjs#shout': [m('shouts')],
      'src/words.mjs#whisper': [m('whispers')],
    });
    for (const [id, r] of run.recording.artifacts) if (id.startsWith('src/')) assert.deepEqual([...r.fileScoped], [], id);
    // The test's own artifact is executed by that test; the suite's body ran at load time (the file's).
    assert.deepEqual([...run.recording.artifacts.get(t('calls back'))!.tests], [t('calls back')]);
    assert.deepEqual([...run.recording.artifacts.get('test/shapes.test.js#shapes')!.fileScoped], ['test/shapes.test.js']);
    const results = testResultsOf(run.recording.artifacts.get('src/shapes.js#perimeter')!, run.report);
    assert.deepEqual(results.map((r) => `${r.status} ${r.testId}`).sort(), [`failed ${t('fails on purpose')}`, `passed ${t('computes a perimeter')}`]);
    const statuses = Object.fromEntries(run.report.results.map((r) => [testArtifactId(r), r.status]));
    assert.equal(statuses[t('calls back')], 'passed');
    assert.equal(statuses[t('is skipped')], 'skipped');
  });
});
