import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { benchmarkArtifact } from '../../server/src/evidence/bench/replay';
import { extractFile, type ArtifactRecord } from '../../server/src/index/extract';
import { languageForPath, loadParsers } from '../../server/src/index/languages';
import { detectRunners } from '../../server/src/evidence/runners/detect';
import { runTests } from '../../server/src/evidence/runners/run';
import { testArtifactId, type RunnerPlan, type TestRunReport } from '../../server/src/evidence/runners/types';
import { copyPytestRecorder, pytestRecorderModule, runTestsRecorded, testResultsOf, type RecordedRun } from '../../server/src/evidence/record/record';
import type { CallSample } from '../../server/src/evidence/model';

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
      // The closure it returned ran in both tests: both count for it, as tests and lines.
      'src/ledger.js#counter': [t('counts on'), t('makes a counter')],
      // The class itself: its field initialiser runs on construction.
      'src/ledger.js#Ledger': [t('Ledger > balances'), t('Ledger > counts entries')],
      'src/ledger.js#Ledger.add': [t('Ledger > balances'), t('Ledger > counts entries')],
      'src/ledger.js#Ledger.get size': [t('Ledger > counts entries')],
      'src/ledger.js#Ledger.balance': [t('Ledger > balances')],
    });
    // The test's own artifact is executed by that test.
    assert.deepEqual([...run.recording.artifacts.get(t('totals prices'))!.tests], [t('totals prices')]);
  });

  it('mocha + babel: the Runner-event windows (mocha < 8, no root hook plugins) map exactly as root hooks do', async () => {
    const c = cases[0];
    const root = path.join(fixtures, c.name);
    const plan = { ...c.plan!, env: { ...c.plan!.env, CRUCIBLE_RECORD_MOCHA_EVENTS: '1' } };
    const viaEvents = await runTestsRecorded(plan, { timeoutMs: 120_000 }, await artifactsOf(root));
    assert.deepEqual(outcomes(viaEvents.report), outcomes(c.recorded!.report));
    assert.deepEqual(testsBySource(viaEvents), testsBySource(c.recorded!));
    assert.equal(viaEvents.recording.artifacts.get('src/ledger.js#counter')!.calls, 1);
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
    // The closure firing in a later test is not a call of `counter`.
    assert.equal(a.get('src/ledger.js#counter')!.calls, 1);
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

describe('recording jest runs (test -> artifact, call samples)', function () {
  this.timeout(240_000);
  const root = path.join(fixtures, 'jest');
  const t = (title: string) => `test/inventory.test.js#inventory > ${title}`;
  let plan: RunnerPlan;
  let plain: TestRunReport;
  // jest picks in-band or workers itself (from cached timings): both forced too.
  const runs: Record<'default' | 'in-band' | 'workers', RecordedRun | undefined> = { default: undefined, 'in-band': undefined, workers: undefined };
  const cacheDirs: string[] = [];

  before(async () => {
    const detected = (await detectRunners(root)).find((p) => p.runner === 'jest');
    assert.ok(detected, 'no jest plan for the jest fixture');
    plan = detected;
    const artifacts = await artifactsOf(root);
    plain = await runTests(plan, { timeoutMs: 120_000 });
    runs.default = await runTestsRecorded(plan, { timeoutMs: 120_000 }, artifacts);
    runs['in-band'] = await runTestsRecorded({ ...plan, argv: [...plan.argv, '--runInBand'] }, { timeoutMs: 120_000 }, artifacts);
    // A fresh cache has no timings: with more than one test file and two workers, jest uses workers.
    const cache = mkdtempSync(path.join(os.tmpdir(), 'crucible-jest-cache-'));
    cacheDirs.push(cache);
    runs.workers = await runTestsRecorded({ ...plan, argv: [...plan.argv, '--maxWorkers=2', `--cacheDirectory=${cache}`] }, { timeoutMs: 120_000 }, artifacts);
  });

  after(() => {
    for (const dir of cacheDirs) rmSync(dir, { recursive: true, force: true });
  });

  for (const mode of ['default', 'in-band', 'workers'] as const) {
    it(`${mode}: test outcomes and exit code are identical with and without recording`, () => {
      const run = runs[mode]!;
      assert.equal(plain.problem, undefined, plain.outputTail);
      assert.equal(run.report.problem, undefined, run.report.outputTail);
      assert.equal(plain.results.length, 14);
      assert.deepEqual(outcomes(run.report), outcomes(plain));
      assert.equal(run.report.exitCode, plain.exitCode);
      assert.equal(plain.exitCode, 1);
      assert.equal(run.recording.badLines, 0);
    });

    it(`${mode}: maps each test (hooks included) to exactly the artifacts it executed`, () => {
      const run = runs[mode]!;
      assert.deepEqual(testsBySource(run), {
        // `subtotal` calls `price` directly: V8 still sees it run; `discount` never runs in these tests.
        'src/inventory.js#price': [t('Cart > totals its items'), t('adds up a subtotal'), t('prices an item'), 'test/mocked.test.js#spies on an export'],
        // A file with concurrent tests: the file's (every test of it).
        'src/inventory.js#discount': ['test/concurrent.test.js', 'test/discount.test.js#rejects a negative rate', t('applies a discount')],
        'src/inventory.js#subtotal': [t('Cart > totals its items'), t('adds up a subtotal')],
        'src/inventory.js#parseQty': [t('reads a quantity'), t('rejects a bad quantity')],
        'src/inventory.js#restock': [t('restocks an item')],
        // The beforeEach hook constructs and adds: it counts for each test of the suite.
        'src/inventory.js#Cart.constructor': [t('Cart > counts its items'), t('Cart > totals its items')],
        'src/inventory.js#Cart.add': [t('Cart > counts its items'), t('Cart > totals its items')],
        'src/inventory.js#Cart.get count': [t('Cart > counts its items')],
        'src/inventory.js#Cart.total': [t('Cart > totals its items')],
        // src/labels.js is automocked: its function never runs.
      });
      for (const [id, r] of run.recording.artifacts) {
        const concurrent = id === 'src/inventory.js#discount' || id.startsWith('test/concurrent.test.js#');
        assert.deepEqual([...r.fileScoped], concurrent ? ['test/concurrent.test.js'] : [], id);
      }
      assert.deepEqual([...run.recording.artifacts.get(t('restocks an item'))!.tests], [t('restocks an item')]);
      const discounts = testResultsOf(run.recording.artifacts.get('src/inventory.js#discount')!, run.report);
      assert.deepEqual(discounts.map((r) => `${r.status} ${r.testId}`).sort(), [
        'passed test/concurrent.test.js#discounts by half',
        'passed test/concurrent.test.js#keeps a full price',
        'passed test/discount.test.js#rejects a negative rate',
        `passed ${t('applies a discount')}`,
      ]);
      const results = testResultsOf(run.recording.artifacts.get('src/inventory.js#parseQty')!, run.report);
      assert.deepEqual(results.map((r) => `${r.status} ${r.testId}`).sort(), [`failed ${t('reads a quantity')}`, `passed ${t('rejects a bad quantity')}`]);
    });

    it(`${mode}: records arguments, results, thrown errors and mutation through the module registry`, () => {
      const a = runs[mode]!.recording.artifacts;
      const samples = (id: string) => a.get(`src/inventory.js#${id}`)!.samples;
      // Plain objects of the test's realm (jest's vm context) are plain objects, not class instances.
      assert.deepEqual(samples('subtotal').map((s) => [s.args, s.result, s.mutated]), [[[[{ unit: 2, qty: 3 }, { unit: 1 }]], 7, false]]);
      const parse = samples('parseQty').map((s) => [s.args, s.error, s.result]);
      assert.deepEqual(parse, [
        [['many'], { __type: 'Error', name: 'RangeError', message: 'not a quantity: many' }, undefined],
        [['-1'], { __type: 'Error', name: 'RangeError', message: 'not a quantity: -1' }, undefined],
      ]);
      assert.equal(a.get('src/inventory.js#parseQty')!.sampledErrors, 2);
      const restock = samples('restock');
      assert.deepEqual(restock.map((s) => [s.args, s.result, s.mutated]), [[[{ unit: 5, qty: 1 }, 4], 5, true]]);
      // The spied call (mockReturnValue) never reached the function; after mockRestore it did.
      assert.deepEqual(samples('price').map((s) => [s.args, s.result]).sort((x, y) => JSON.stringify(x).localeCompare(JSON.stringify(y))), [
        [[{ unit: 2, qty: 2 }], 4],
        [[{ unit: 3, qty: 2 }], 6],
      ]);
      assert.deepEqual(samples('Cart.add')[0].result, { __class: 'Cart', items: [{ unit: 4 }] });
      assert.deepEqual(samples('Cart.total').map((s) => [s.args, s.result]), [[[], 16]]);
      assert.equal(a.get('src/inventory.js#Cart.add')!.calls, 3);
      assert.ok(samples('discount').every((s) => s.durationNs > 0));
      // The automocked module's function: neither run nor sampled.
      assert.equal(a.get('src/labels.js#label')?.samples.length ?? 0, 0);
    });
  }

  it('the sampled calls replay: benchmarkArtifact on `discount` succeeds', async () => {
    const samples = runs.default!.recording.artifacts.get('src/inventory.js#discount')!.samples;
    assert.equal(samples.length, 4);
    assert.ok(samples.some((s) => s.error !== undefined));
    const r = await benchmarkArtifact({ root, artifact: { id: 'src/inventory.js#discount', file: 'src/inventory.js', qualifiedName: 'discount', kind: 'function' }, samples, maxSeconds: 3, warmupMs: 50, maxSamples: 10 });
    assert.ok(r.ok, r.ok ? '' : r.reason);
    assert.equal(r.calls, 4);
    assert.ok(r.medianNs > 0);
  });
});

describe('recording pytest runs (test -> function, call samples)', function () {
  this.timeout(240_000);
  const root = path.join(fixtures, 'pytest');
  const t = (title: string) => `test/test_inventory.py#${title}`;
  const src = (name: string) => `src/inventory.py#${name}`;
  let plan: RunnerPlan;
  let plain: TestRunReport;
  let run: RecordedRun;
  let traced: RecordedRun;
  const tmps: string[] = [];

  before(async () => {
    const detected = (await detectRunners(root)).find((p) => p.runner === 'pytest');
    assert.ok(detected, 'no pytest plan for the pytest fixture');
    plan = detected;
    const artifacts = await artifactsOf(root);
    plain = await runTests(plan, { timeoutMs: 120_000 });
    run = await runTestsRecorded(plan, { timeoutMs: 120_000 }, artifacts);
    // A trace function already set when pytest configures (as under coverage.py or a debugger).
    const dir = mkdtempSync(path.join(os.tmpdir(), 'crucible-pytest-tracer-'));
    tmps.push(dir);
    writeFileSync(path.join(dir, 'other_tracer.py'), 'import sys\n\ndef _other(frame, event, arg):\n    return None\n\nsys.settrace(_other)\n');
    traced = await runTestsRecorded({ ...plan, argv: [...plan.argv, '-p', 'other_tracer'], env: { ...plan.env, PYTHONPATH: dir } }, { timeoutMs: 120_000 }, artifacts);
  });

  after(() => {
    for (const dir of tmps) rmSync(dir, { recursive: true, force: true });
  });

  it('test outcomes and exit code are identical with and without recording', () => {
    assert.equal(plain.problem, undefined, plain.outputTail);
    assert.equal(run.report.problem, undefined, run.report.outputTail);
    assert.equal(plain.results.length, 7);
    assert.deepEqual(outcomes(run.report), outcomes(plain));
    assert.ok(outcomes(plain).includes(`failed ${t('test_total_fails')}`));
    assert.equal(run.report.exitCode, plain.exitCode);
    assert.equal(plain.exitCode, 1);
    assert.equal(run.recording.badLines, 0);
    assert.equal(run.notes, undefined);
  });

  it('maps each test (its fixtures included) to exactly the functions it executed', () => {
    const stockTests = [t('TestStock > test_count'), t('TestStock > test_name')];
    assert.deepEqual(testsBySource(run), {
      // test_total calls total, never parse_qty; `unused` never runs; `logged` ran at import only (no test).
      [src('total')]: [t('test_total'), t('test_total_fails')],
      [src('parse_qty')]: [t('test_parse_rejects')],
      [src('restock')]: [t('test_restock')],
      // The decorated function (its range starts at the decorator) and the decorator's wrapper.
      [src('label')]: [t('test_label')],
      [src('logged.wrapper')]: [t('test_label')],
      // The `stock` fixture constructs and adds: it counts for each test that uses it.
      [src('Stock')]: stockTests,
      [src('Stock.__init__')]: stockTests,
      [src('Stock.add')]: stockTests,
      [src('Stock.count')]: [t('TestStock > test_count')],
    });
    const a = run.recording.artifacts;
    assert.deepEqual([...a.get('test/test_inventory.py#stock')!.tests].sort(), stockTests);
    assert.deepEqual([...a.get(t('test_total'))!.tests], [t('test_total')]);
    assert.equal(a.get(src('logged'))!.calls, 1);
    assert.equal(a.get(src('unused')), undefined);
    for (const r of a.values()) assert.deepEqual([...r.fileScoped], []);
    const results = testResultsOf(a.get(src('total'))!, run.report);
    assert.deepEqual(results.map((r) => `${r.status} ${r.testId}`).sort(), [`failed ${t('test_total_fails')}`, `passed ${t('test_total')}`]);
  });

  it('counts calls and covers lines (an untaken branch, a raise before the end)', () => {
    const a = run.recording.artifacts;
    assert.equal(a.get(src('total'))!.calls, 2);
    assert.equal(a.get(src('Stock.add'))!.calls, 3);
    assert.equal(a.get(src('Stock'))!.calls, 2, 'constructions');
    assert.equal(a.get(src('label'))!.calls, 1);
    // total: def, s = sum(...), if discount, s = s * ..., return s (the docstring is no code).
    assert.deepEqual([a.get(src('total'))!.coveredLines, a.get(src('total'))!.coverableLines], [4, 5]);
    assert.deepEqual([a.get(src('parse_qty'))!.coveredLines, a.get(src('parse_qty'))!.coverableLines], [2, 5]);
    const restock = a.get(src('restock'))!;
    assert.equal(restock.coveredLines, restock.coverableLines);
    const file = run.recording.files.get('src/inventory.py')!;
    // 0-based: the discount line, parse_qty after int(), unused's lines.
    assert.deepEqual(file.uncovered, [16, 22, 23, 24, 37, 38]);
    assert.ok(file.covered.includes(12) && file.covered.includes(47));
  });

  it('records arguments, results, raised errors and mutation', () => {
    const samples = (name: string) => run.recording.artifacts.get(src(name))!.samples;
    assert.deepEqual(samples('total').map((s) => [s.args, s.result, s.mutated]), [
      [[[1, 2, 3.5], { __type: 'float', value: '0.0' }], 6.5, false],
      [[[1, 2], { __type: 'float', value: '0.0' }], 3, false],
    ]);
    const parse = samples('parse_qty');
    assert.deepEqual(parse.map((s) => [s.args, s.error, s.result]), [[['abc'], { __type: 'Error', name: 'ValueError', message: "invalid literal for int() with base 10: 'abc'" }, undefined]]);
    assert.equal(run.recording.artifacts.get(src('parse_qty'))!.sampledErrors, 1);
    assert.deepEqual(samples('restock').map((s) => [s.args, s.result, s.mutated]), [[[['a'], ['b', 'c']], 3, true]]);
    assert.deepEqual(samples('label').map((s) => [s.args, s.result]), [[['box', { __type: 'kwargs', values: { upper: true } }], 'BOX']]);
    // A method's `self` is its first argument: adding changes it.
    const add = samples('Stock.add');
    assert.equal(add.length, 3);
    assert.deepEqual(add[0].args, [{ __class: 'Stock', __module: 'inventory', name: 'shop', items: {} }, 'apple', 2]);
    assert.deepEqual(add[0].result, { __class: 'Stock', __module: 'inventory', name: 'shop', items: { apple: 2 } });
    assert.ok(add.every((s) => s.mutated && s.durationNs > 0));
    // Test files (tests, their fixtures) are mapped but not sampled.
    assert.deepEqual(run.recording.artifacts.get('test/test_inventory.py#stock')!.samples, []);
  });

  it('the sampled calls replay in Python: decoded arguments give the recorded result or error', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'crucible-pytest-replay-'));
    tmps.push(dir);
    copyPytestRecorder(dir);
    writeFileSync(
      path.join(dir, 'replay.py'),
      [
        'import json, sys',
        `from ${pytestRecorderModule} import _find, decode_args, encode, encode_error`,
        'out = []',
        'for qualname, sample in json.load(sys.stdin):',
        '    fn = _find("inventory", qualname)',
        '    fn = fn.fget if isinstance(fn, property) else fn',
        '    args, kwargs = decode_args(sample["args"])',
        '    try:',
        '        got = {"result": encode(fn(*args, **kwargs))}',
        '    except Exception as e:',
        '        got = {"error": encode_error(e)}',
        '    out.append(got)',
        'print(json.dumps(out))',
      ].join('\n'),
    );
    const calls: [string, CallSample][] = [];
    // What a module attribute reaches (not the decorator's inner wrapper, not `logged`, whose arguments are functions).
    for (const name of ['total', 'parse_qty', 'restock', 'label', 'Stock.__init__', 'Stock.add', 'Stock.count']) for (const s of run.recording.artifacts.get(src(name))!.samples) calls.push([name, s]);
    assert.equal(calls.length, 11);
    const python = run.report.argv[0];
    const replay = spawnSync(python, [path.join(dir, 'replay.py')], { input: JSON.stringify(calls), encoding: 'utf8', env: { ...process.env, PYTHONPATH: [dir, path.join(root, 'src')].join(path.delimiter), PYTHONDONTWRITEBYTECODE: '1' } });
    assert.equal(replay.status, 0, replay.stderr);
    const got = JSON.parse(replay.stdout) as { result?: unknown; error?: unknown }[];
    calls.forEach(([name, s], i) => assert.deepEqual(got[i], s.error !== undefined ? { error: s.error } : { result: s.result }, name));
  });

  it('stays out, and says so, when another trace function is set (coverage.py, a debugger)', () => {
    assert.equal(traced.report.problem, undefined, traced.report.outputTail);
    assert.deepEqual(outcomes(traced.report), outcomes(plain));
    assert.deepEqual(testsBySource(traced), {});
    assert.equal(traced.recording.files.size, 0);
    assert.equal(traced.notes?.length, 1);
    assert.match(traced.notes![0], /a trace function is already set \(_other\)/);
    assert.match(traced.report.outputTail, /crucible: not recording: a trace function is already set/);
  });
});
