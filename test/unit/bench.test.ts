import * as assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { CallSample, JsonValue } from '../../server/src/evidence/model';
import { benchmarkArtifact, benchmarkInProcesses, compareVariants, pytestPythonPath, toBenchEvidence, type BenchTarget } from '../../server/src/evidence/bench/replay';
import { partitionSamples, pythonUnreplayableReason, unreplayableReason } from '../../server/src/evidence/bench/replayable';
import { runtimeFile } from '../../server/src/evidence/runtime/files';
import { detectRunners } from '../../server/src/evidence/runners/detect';
import { runTestsRecorded, type RecordedRun } from '../../server/src/evidence/record/record';
import { extractFile, type ArtifactRecord } from '../../server/src/index/extract';
import { languageForPath, loadParsers } from '../../server/src/index/languages';

const root = path.resolve(__dirname, '../fixtures/bench');

function target(qualifiedName: string, file = 'lib.js', kind = 'function'): BenchTarget {
  return { id: `${file}#${qualifiedName}`, file, qualifiedName, kind };
}
function call(args: JsonValue[], extra: Partial<CallSample> = {}): CallSample {
  return { args, durationNs: 1000, mutated: false, ...extra };
}
function assertCiContainsMedian(r: { medianNs: number; ciLowNs: number; ciHighNs: number }): void {
  assert.ok(r.medianNs > 0, `median ${r.medianNs}`);
  assert.ok(r.ciLowNs <= r.medianNs && r.medianNs <= r.ciHighNs, `${r.ciLowNs} ≤ ${r.medianNs} ≤ ${r.ciHighNs}`);
}

describe('benchmarks: replaying recorded calls', () => {
  describe('which recorded calls can be replayed', () => {
    it('accepts the reversible encodings and rejects the lossy ones, with counts by reason', () => {
      const ok: JsonValue[] = [
        [1, 'x', null, true, { a: [1, 2] }],
        [{ __type: 'undefined' }, { __type: 'number', value: 'NaN' }, { __type: 'number', value: '-0' }, { __type: 'bigint', value: '12' }],
        [{ __type: 'Map', entries: [['k', { __type: 'Date', value: '2024-01-01T00:00:00.000Z' }]] }, { __type: 'Set', values: [1] }, { __type: 'RegExp', value: '/a+/gi' }],
        [{ __type: 'Uint8Array', length: 2, values: [1, 2] }, { __type: 'Error', name: 'TypeError', message: 'm', code: 'E' }],
      ];
      for (const args of ok) assert.equal(unreplayableReason({ args }), undefined, JSON.stringify(args));
      const bad: [JsonValue, string][] = [
        [['[Function cb]'], 'function'],
        [[{ self: '[Circular]' }], 'circular'],
        [['abc…(truncated: 5 more)'], 'truncated'],
        [[[1, 2, '…(truncated: 10 more)']], 'truncated'],
        [[{ a: 1, '…': '…(truncated: 3 more)' }], 'truncated'],
        [['[Truncated]'], 'truncated'],
        [[{ __class: 'Point', x: 1 }], 'class-instance'],
        [[{ __type: 'symbol', value: 'Symbol(x)' }], 'symbol'],
        [[{ __type: 'DataView', length: 4, values: [] }], 'binary'],
        [[{ g: '[Getter]' }], 'no-value'],
        ['[Unserialisable]', 'not-an-argument-list'],
      ];
      for (const [args, reason] of bad) assert.equal(unreplayableReason({ args }), reason, JSON.stringify(args));
      const { replayable, skipped } = partitionSamples([call([1]), call(['[Function f]']), call(['[Function g]']), call([{ __class: 'A' }])]);
      assert.equal(replayable.length, 1);
      assert.deepEqual(skipped, { count: 3, reasons: { function: 2, 'class-instance': 1 } });
    });

    it('rebuilds recorded values fresh every time (the worker reviver)', () => {
      const dir = mkdtempSync(path.join(os.tmpdir(), 'crucible-bench-test-'));
      try {
        const file = runtimeFile('bench-worker.cjs');
        // eslint-disable-next-line @typescript-eslint/no-require-imports
        const { revive } = require(file) as { revive: (v: JsonValue) => unknown };
        const recorded: JsonValue = [
          { __type: 'Map', entries: [['d', { __type: 'Date', value: '2024-01-01T00:00:00.000Z' }]] },
          { __type: 'Set', values: [1, 2] },
          { __type: 'RegExp', value: '/a\\/b/gi' },
          { __type: 'bigint', value: '9007199254740993' },
          { __type: 'number', value: '-0' },
          { __type: 'number', value: '-Infinity' },
          { __type: 'undefined' },
          { __type: 'Float64Array', length: 2, values: [1.5, 2.5] },
          { __type: 'BigInt64Array', length: 1, values: ['-3'] },
          { __type: 'Buffer', length: 2, values: [104, 105] },
          { __type: 'Error', name: 'RangeError', message: 'bad', code: 'E_BAD' },
          { nested: [{ __type: 'Date', value: 'Invalid Date' }] },
        ];
        const v = revive(recorded) as unknown[];
        assert.deepEqual(v[0], new Map([['d', new Date('2024-01-01T00:00:00.000Z')]]));
        assert.deepEqual(v[1], new Set([1, 2]));
        assert.equal(String(v[2]), '/a\\/b/gi');
        assert.equal(v[3], 9007199254740993n);
        assert.ok(Object.is(v[4], -0));
        assert.equal(v[5], -Infinity);
        assert.equal(v[6], undefined);
        assert.ok(v[7] instanceof Float64Array && v[7][1] === 2.5);
        assert.ok(v[8] instanceof BigInt64Array && v[8][0] === -3n);
        assert.ok(Buffer.isBuffer(v[9]) && v[9].toString() === 'hi');
        assert.ok(v[10] instanceof Error && (v[10] as Error).name === 'RangeError' && (v[10] as Error & { code: string }).code === 'E_BAD');
        assert.ok(Number.isNaN(((v[11] as { nested: Date[] }).nested[0]).getTime()));
        const again = revive(recorded) as unknown[];
        assert.notEqual(again[0], v[0], 'a new object on every revive');
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  });

  describe('benchmarkArtifact', () => {
    it('measures a fast function: positive median, interval around it, batched samples', async () => {
      const r = await benchmarkArtifact({ root, artifact: target('add'), samples: [call([1, 2], { result: 3 }), call([2.5, 4], { result: 6.5 })], maxSeconds: 2 });
      assert.ok(r.ok, JSON.stringify(r));
      assertCiContainsMedian(r);
      assert.equal(r.calls, 2);
      assert.ok(r.samplesNs.length >= 6 && r.samplesNs.length <= 50, `${r.samplesNs.length} samples`);
      assert.ok(r.batch > 1, 'a sub-microsecond function is batched');
      assert.ok(r.samplesNs.every((x) => x > 0));
      assert.ok(r.madNs >= 0 && r.ciConfidence >= 0.95);
      assert.equal(r.iterations, r.samplesNs.length * r.batch * r.calls);
      assert.deepEqual(Object.keys(toBenchEvidence(r)).sort(), ['ciHighNs', 'ciLowNs', 'medianNs', 'samplesNs']);
    });

    it('in several worker processes: pooled samples, their groups, an interval over processes', async () => {
      const r = await benchmarkInProcesses({ root, artifact: target('add'), samples: [call([1, 2], { result: 3 })], maxSeconds: 2, processes: 2 });
      assert.ok(r.ok, JSON.stringify(r));
      assert.equal(r.groups?.length, 2);
      assert.equal(r.groups!.reduce((a, b) => a + b, 0), r.samplesNs.length);
      assertCiContainsMedian(r);
      assert.match(r.notes[0], /^2 worker processes, medians /);
      assert.deepEqual(toBenchEvidence(r).groups, r.groups);
    });

    it('awaits async functions: the time includes the awaiting', async () => {
      const r = await benchmarkArtifact({ root, artifact: target('delayedDouble'), samples: [call([21], { result: '[Promise]' })], maxSeconds: 2, warmupMs: 50, maxSamples: 10 });
      assert.ok(r.ok, JSON.stringify(r));
      assert.equal(r.async, true);
      assert.ok(r.medianNs >= 1e6, `a call awaits a 1 ms timer: ${r.medianNs} ns`);
      assertCiContainsMedian(r);
    });

    it('times calls recorded as throwing, and fails when a call throws that did not when recorded', async () => {
      const threw = await benchmarkArtifact({ root, artifact: target('parsePositive'), samples: [call(['-1'], { error: { __type: 'Error', name: 'RangeError', message: 'not a positive number: -1' } }), call(['4'], { result: 4 })], maxSeconds: 1 });
      assert.ok(threw.ok, JSON.stringify(threw));
      assertCiContainsMedian(threw);
      const diverged = await benchmarkArtifact({ root, artifact: target('parsePositive'), samples: [call(['x'], { result: 1 })], maxSeconds: 1 });
      assert.equal(diverged.ok, false);
      assert.match(diverged.ok ? '' : diverged.reason, /^replay diverged: recorded call #0 threw RangeError: not a positive number: x/);
    });

    it('gives every invocation fresh arguments (a mutating function never sees a mutated one)', async () => {
      const r = await benchmarkArtifact({ root, artifact: target('pushAndCount'), samples: [call([[1, 2, 3]], { result: 4, mutated: true })], maxSeconds: 1 });
      assert.ok(r.ok, JSON.stringify(r));
      assert.ok(r.iterations > 100, `${r.iterations} invocations, all on fresh arguments`);
    });

    it('skips calls it cannot replay, with counts, and says so when none is left', async () => {
      const samples = [call([1, 2]), call(['[Function cb]', 1]), call([{ self: '[Circular]' }, 1]), call([{ __class: 'Point', x: 1 }, 2]), call(['[Function g]', 2])];
      const r = await benchmarkArtifact({ root, artifact: target('add'), samples, maxSeconds: 1 });
      assert.ok(r.ok, JSON.stringify(r));
      assert.equal(r.calls, 1);
      assert.deepEqual(r.skipped, { count: 4, reasons: { function: 2, circular: 1, 'class-instance': 1 } });
      assert.match(r.notes[0], /^4 recorded calls skipped: 2 with a function argument/);
      const none = await benchmarkArtifact({ root, artifact: target('add'), samples: samples.slice(1), maxSeconds: 1 });
      assert.equal(none.ok, false);
      assert.match(none.ok ? '' : none.reason, /^no replayable recorded call: 4 recorded calls skipped/);
      assert.equal(none.skipped?.count, 4);
      const empty = await benchmarkArtifact({ root, artifact: target('add'), samples: [], maxSeconds: 1 });
      assert.match(empty.ok ? '' : empty.reason, /no recorded calls/);
    });

    it('rebuilds Map, Set, Date, RegExp, typed arrays and bigint arguments', async () => {
      const args: JsonValue[] = [
        { __type: 'Map', entries: [[1, 2]] },
        { __type: 'Set', values: [1] },
        { __type: 'Date', value: '2024-01-01T00:00:00.000Z' },
        { __type: 'RegExp', value: '/x/g' },
        { __type: 'Uint8Array', length: 1, values: [7] },
        { __type: 'bigint', value: '5' },
        { __type: 'undefined' },
        null,
      ];
      // describeTypes throws nothing: this checks the worker gets through the rebuilt values.
      const r = await benchmarkArtifact({ root, artifact: target('describeTypes'), samples: [call(args, { result: 'Map,Set,Date,RegExp,Uint8Array,bigint,undefined,null' })], maxSeconds: 1 });
      assert.ok(r.ok, JSON.stringify(r));
    });

    it('finds static methods and functions of exported objects; refuses instance methods, classes and non-exports with a reason', async () => {
      const stat = await benchmarkArtifact({ root, artifact: target('Stack.of', 'lib.js', 'method'), samples: [call([1, 2, 3], { result: 3 })], maxSeconds: 1 });
      assert.ok(stat.ok, JSON.stringify(stat));
      const ns = await benchmarkArtifact({ root, artifact: target('strings.shout'), samples: [call(['hi'], { result: 'HI!' })], maxSeconds: 1 });
      assert.ok(ns.ok, JSON.stringify(ns));
      const inst = await benchmarkArtifact({ root, artifact: target('Stack.push', 'lib.js', 'method'), samples: [call([1], { result: 1 })], maxSeconds: 1 });
      assert.match(inst.ok ? '' : inst.reason, /Stack\.push is an instance method: .*does not serialise the receiver/);
      const cls = await benchmarkArtifact({ root, artifact: target('Stack', 'lib.js', 'class'), samples: [call([])], maxSeconds: 1 });
      assert.match(cls.ok ? '' : cls.reason, /a class is not benchmarked/);
      const missing = await benchmarkArtifact({ root, artifact: target('internalHelper'), samples: [call([])], maxSeconds: 1 });
      assert.match(missing.ok ? '' : missing.reason, /internalHelper is not exported by its module/);
      const other = await benchmarkArtifact({ root, artifact: target('f', 'x.rb'), samples: [call([])], maxSeconds: 1 });
      assert.match(other.ok ? '' : other.reason, /only JavaScript, TypeScript and Python/);
      const py = await benchmarkArtifact({ root, artifact: target('f', 'x.py'), samples: [call([])], maxSeconds: 1 });
      assert.match(py.ok ? '' : py.reason, /^cannot load .*x\.py: no such file/);
    });

    it('loads a TypeScript module through the workspace tsx, and says why not without it', async () => {
      // tsx compiles on load: a larger budget, so a busy machine still leaves time for samples.
      const r = await benchmarkArtifact({ root, artifact: target('distance', 'typed.ts'), samples: [call([{ x: 0, y: 0 }, { x: 3, y: 4 }], { result: 5 })], maxSeconds: 3 });
      assert.ok(r.ok, JSON.stringify(r));
      assertCiContainsMedian(r);
      const ns = await benchmarkArtifact({ root, artifact: target('geometry.area', 'typed.ts'), samples: [call([2, 3], { result: 6 })], maxSeconds: 3 });
      assert.ok(ns.ok, JSON.stringify(ns));

      const bare = realpathSync(mkdtempSync(path.join(os.tmpdir(), 'crucible-bench-no-tsx-')));
      try {
        copyFileSync(path.join(root, 'typed.ts'), path.join(bare, 'typed.ts'));
        const no = await benchmarkArtifact({ root: bare, artifact: target('distance', 'typed.ts'), samples: [call([{ x: 0, y: 0 }, { x: 3, y: 4 }])], maxSeconds: 1 });
        assert.equal(no.ok ? '' : no.reason, 'cannot load TypeScript without tsx/ts-node in the workspace');
      } finally {
        rmSync(bare, { recursive: true, force: true });
      }
    });
  });

  describe('the time budget', () => {
    it('stays within maxSeconds for a slow function', async () => {
      const xs = Array.from({ length: 3000 }, (_, i) => i % 101);
      const t0 = performance.now();
      const r = await benchmarkArtifact({ root, artifact: target('countDuplicatePairsQuadratic'), samples: [call([xs])], maxSeconds: 1, maxSamples: 100_000 });
      const wall = performance.now() - t0;
      assert.ok(r.ok, JSON.stringify(r));
      assert.ok(wall < 1000 + 800, `wall time ${Math.round(wall)} ms for maxSeconds 1`);
      assert.ok(r.samplesNs.length < 100_000, 'stopped by the deadline, not the sample count');
      assertCiContainsMedian(r);
    });

    it('kills a hanging function at maxSeconds + grace and reports where it hung', async () => {
      const t0 = performance.now();
      const r = await benchmarkArtifact({ root, artifact: target('hang'), samples: [call([])], maxSeconds: 1, graceMs: 500 });
      const wall = performance.now() - t0;
      assert.equal(r.ok, false);
      assert.match(r.ok ? '' : r.reason, /^timed out: still running during recorded call #0 of lib\.js#hang after 1\.5 s .*killed/);
      assert.ok(wall >= 1400 && wall < 2500, `killed after ${Math.round(wall)} ms`);
    });

    it('reports a worker that exits on its own', async () => {
      const r = await benchmarkArtifact({ root, artifact: target('exitNow'), samples: [call([])], maxSeconds: 1 });
      assert.match(r.ok ? '' : r.reason, /worker exited with code 3 during recorded call #0/);
    });

    it('stops on abort', async () => {
      const ac = new AbortController();
      setTimeout(() => ac.abort(), 300);
      const t0 = performance.now();
      const r = await benchmarkArtifact({ root, artifact: target('hang'), samples: [call([])], maxSeconds: 10, signal: ac.signal });
      assert.equal(r.ok ? '' : r.reason, 'cancelled');
      assert.ok(performance.now() - t0 < 2000);
    });
  });

  describe('compareVariants', () => {
    const xs = Array.from({ length: 300 }, (_, i) => i % 37);

    it('finds the quadratic variant slower than its linear twin, with an interval entirely above 1', async () => {
      const r = await compareVariants({ root, variants: [target('countDuplicatePairsLinear'), target('countDuplicatePairsQuadratic')], samples: [call([xs], { result: 1179 })], maxSeconds: 3 });
      assert.ok(r.ok, JSON.stringify(r));
      assert.equal(r.variants.length, 2);
      for (const v of r.variants) assertCiContainsMedian(v);
      assert.equal(r.variants[0].samplesNs.length, r.rounds);
      assert.equal(r.variants[1].samplesNs.length, r.rounds);
      const [ratio] = r.ratios;
      assert.equal(ratio.baselineId, 'lib.js#countDuplicatePairsLinear');
      assert.ok(ratio.low > 1, `ratio ${ratio.ratio} [${ratio.low}, ${ratio.high}]`);
      assert.ok(ratio.paired.low > 1);
      assert.ok(ratio.low <= ratio.ratio && ratio.ratio <= ratio.high);
    });

    // On an idle machine the interval of two identical variants contains 1 (8 of 8 runs);
    // on a loaded 2-core machine a steady difference of up to ~18% was seen between two
    // copies of one function (README, Known limits), so the test asserts no gross bias only.
    it('finds no large difference between two identical variants', async () => {
      const r = await compareVariants({ root, variants: [target('countDuplicatePairsLinear'), { ...target('countDuplicatePairsLinear'), id: 'copy' }], samples: [call([xs])], maxSeconds: 3 });
      assert.ok(r.ok, JSON.stringify(r));
      const [ratio] = r.ratios;
      assert.ok(Math.abs(ratio.ratio - 1) < 0.25, `ratio ${ratio.ratio} [${ratio.low}, ${ratio.high}]`);
      assert.ok(ratio.low < 1.25 && ratio.high > 0.8, `interval [${ratio.low}, ${ratio.high}]`);
    });

    it('reports which variant failed', async () => {
      const r = await compareVariants({ root, variants: [target('add'), target('parsePositive')], samples: [call(['x', 'y'], { result: 'xy' })], maxSeconds: 1 });
      assert.equal(r.ok, false);
      assert.equal(r.ok ? '' : r.variant, 'lib.js#parsePositive');
    });
  });
});

// A Python workspace written per run: pytest.ini's pythonpath puts src/ on sys.path, as pytest does.
const pyModule = `import asyncio


def count_pairs(xs):
    seen = {}
    n = 0
    for x in xs:
        n += seen.get(x, 0)
        seen[x] = seen.get(x, 0) + 1
    return n


def parse_positive(text):
    value = int(text)
    if value <= 0:
        raise ValueError("not positive: %d" % value)
    return value


def hang():
    while True:
        pass


def squares(n):
    for i in range(n):
        yield i * i


async def fetch(x):
    await asyncio.sleep(0)
    return x


class Meter:
    unit = "m"

    def __init__(self, scale):
        self.scale = scale
        self.readings = []

    def record(self, value):
        self.readings.append(value * self.scale)
        return len(self.readings)

    @staticmethod
    def clamp(value, low=0, high=10):
        return max(low, min(high, value))

    @classmethod
    def describe(cls, value):
        return "%s %s" % (value, cls.unit)
`;

describe('benchmarks: Python functions', function () {
  this.timeout(120_000);
  let ws: string;
  const py = (qualifiedName: string, kind = 'function', source?: string): BenchTarget => ({ id: `src/meters.py#${qualifiedName}${source ? '*' : ''}`, file: 'src/meters.py', qualifiedName, kind, ...(source ? { source } : {}) });
  const xs = Array.from({ length: 300 }, (_, i) => i % 37);

  before(() => {
    ws = realpathSync(mkdtempSync(path.join(os.tmpdir(), 'crucible-bench-py-')));
    mkdirSync(path.join(ws, 'src'));
    writeFileSync(path.join(ws, 'pytest.ini'), '[pytest]\npythonpath = src\n');
    writeFileSync(path.join(ws, 'src', 'meters.py'), pyModule);
  });
  after(() => rmSync(ws, { recursive: true, force: true }));

  it('reads pytest pythonpath from pytest.ini and pyproject.toml', () => {
    assert.deepEqual(pytestPythonPath(ws), [path.join(ws, 'src')]);
    const dir = mkdtempSync(path.join(os.tmpdir(), 'crucible-bench-pyproject-'));
    try {
      writeFileSync(path.join(dir, 'pyproject.toml'), '[project]\nname = "x"\n\n[tool.pytest.ini_options]\npythonpath = [\n  "src",\n  "lib",\n]\n');
      assert.deepEqual(pytestPythonPath(dir), [path.join(dir, 'src'), path.join(dir, 'lib')]);
      writeFileSync(path.join(dir, 'pyproject.toml'), '[project]\nname = "x"\n');
      assert.deepEqual(pytestPythonPath(dir), []);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("skips lossy recorded values with counts by reason (the Python encoding)", () => {
    assert.equal(pythonUnreplayableReason({ args: [[1, 2], { __type: 'tuple', values: [{ __type: 'float', value: '2.0' }] }, { __type: 'kwargs', values: { upper: true } }] }), undefined);
    assert.equal(pythonUnreplayableReason({ args: [{ __class: 'Stock', __module: 'inventory', items: { __type: 'dict', entries: [[1, 'a']] } }] }), undefined);
    assert.equal(pythonUnreplayableReason({ args: ['[Class Meter]', 3] }), undefined, "a classmethod's cls is left to the worker");
    assert.equal(pythonUnreplayableReason({ args: [1, '[Class Meter]'] }), 'class-or-module');
    assert.equal(pythonUnreplayableReason({ args: ['[Function f]'] }), 'function');
    assert.equal(pythonUnreplayableReason({ args: [[1, '…(truncated: 3 more)']] }), 'truncated');
    assert.equal(pythonUnreplayableReason({ args: [{ __type: 'bytes', value: 'AA==', length: 5000 }] }), 'truncated');
    assert.equal(pythonUnreplayableReason({ args: [{ __type: 'dict', entries: [[1, 2], '…(truncated: 9 more)'] }] }), 'truncated');
    assert.equal(pythonUnreplayableReason({ args: [{ __class: 'A', __module: 'm', me: '[Circular]' }] }), 'circular');
    assert.equal(pythonUnreplayableReason({ args: ['[Generator]'] }), 'no-value');
    assert.equal(pythonUnreplayableReason({ args: [{ __type: 'Map', entries: [] }] }), 'unknown-type');
  });

  it('benchmarks a function: positive median inside its interval, batched samples', async () => {
    const r = await benchmarkArtifact({ root: ws, artifact: py('count_pairs'), samples: [call([xs], { result: 1179 }), call([[1, 1, 2]], { result: 1 })], maxSeconds: 2 });
    assert.ok(r.ok, JSON.stringify(r));
    assertCiContainsMedian(r);
    assert.equal(r.calls, 2);
    assert.equal(r.async, false);
    assert.ok(r.samplesNs.length >= 6, `${r.samplesNs.length} samples`);
    assert.ok(r.batch > 1, 'batched up to a sample of at least 1 ms');
    assert.equal(r.iterations, r.samplesNs.length * r.batch * r.calls);
  });

  it('times calls recorded as raising; a call that raises where the recording did not → replay diverged', async () => {
    const ok = await benchmarkArtifact({ root: ws, artifact: py('parse_positive'), samples: [call(['4'], { result: 4 }), call(['-1'], { error: { __type: 'Error', name: 'ValueError', message: 'not positive: -1' } })], maxSeconds: 1 });
    assert.ok(ok.ok, JSON.stringify(ok));
    const diverged = await benchmarkArtifact({ root: ws, artifact: py('parse_positive'), samples: [call(['x'], { result: 1 })], maxSeconds: 1 });
    assert.match(diverged.ok ? '' : diverged.reason, /^replay diverged: recorded call #0 raised ValueError: invalid literal for int\(\)/);
  });

  it('compareVariants: a quadratic variant (source text) is slower than the linear original, interval above 1', async () => {
    const quadratic = 'def count_pairs(xs):\n    n = 0\n    for i in range(len(xs)):\n        for j in range(i):\n            if xs[i] == xs[j]:\n                n += 1\n    return n\n';
    const r = await compareVariants({ root: ws, variants: [py('count_pairs'), py('count_pairs', 'function', quadratic)], samples: [call([xs], { result: 1179 })], maxSeconds: 2 });
    assert.ok(r.ok, JSON.stringify(r));
    for (const v of r.variants) assertCiContainsMedian(v);
    assert.equal(r.variants[0].samplesNs.length, r.rounds);
    assert.equal(r.variants[1].samplesNs.length, r.rounds);
    assert.equal(r.variants[0].batch, r.variants[1].batch, 'one common batch');
    const [ratio] = r.ratios;
    assert.equal(ratio.baselineId, 'src/meters.py#count_pairs');
    assert.ok(ratio.low > 1 && ratio.paired.low > 1, `ratio ${ratio.ratio} [${ratio.low}, ${ratio.high}]`);
  });

  it('compareVariants: a variant that raises where the original did not → replay diverged, naming the variant', async () => {
    const broken = 'def count_pairs(xs):\n    return xs[10 ** 6]\n';
    const r = await compareVariants({ root: ws, variants: [py('count_pairs'), py('count_pairs', 'function', broken)], samples: [call([xs], { result: 1179 })], maxSeconds: 1 });
    assert.equal(r.ok, false);
    assert.match(r.ok ? '' : r.reason, /^replay diverged: recorded call #0 raised IndexError/);
    assert.equal(r.ok ? '' : r.variant, 'src/meters.py#count_pairs*');
  });

  it('kills a hanging Python function at maxSeconds + grace and reports where it hung', async () => {
    const t0 = performance.now();
    const r = await benchmarkArtifact({ root: ws, artifact: py('hang'), samples: [call([])], maxSeconds: 1, graceMs: 500 });
    const wall = performance.now() - t0;
    assert.match(r.ok ? '' : r.reason, /^timed out: still running during recorded call #0 of src\/meters\.py#hang after 1\.5 s .*killed/);
    assert.ok(wall >= 1400 && wall < 2500, `killed after ${Math.round(wall)} ms`);
  });

  it('methods: the recorded self is rebuilt (and skipped when it cannot be); static and class methods; generators drained; coroutines refused', async () => {
    const self = (scale: number) => ({ __class: 'Meter', __module: 'meters', scale, readings: [1, 2] });
    const samples = [
      call([self(2), 5], { result: 3, mutated: true }),
      call([self(3), { __type: 'float', value: '1.0' }], { result: 3, mutated: true }),
      call([{ __class: 'Meter', __module: 'nowhere', scale: 1 }, 1]),
      call(['not a meter', 1]),
    ];
    const m = await benchmarkArtifact({ root: ws, artifact: py('Meter.record', 'method'), samples, maxSeconds: 1 });
    assert.ok(m.ok, JSON.stringify(m));
    assertCiContainsMedian(m);
    assert.equal(m.calls, 2);
    assert.deepEqual(m.skipped, { count: 2, reasons: { 'unknown-class': 1, self: 1 } });
    const stat = await benchmarkArtifact({ root: ws, artifact: py('Meter.clamp', 'method'), samples: [call([12, { __type: 'kwargs', values: { high: 5 } }], { result: 5 })], maxSeconds: 1 });
    assert.ok(stat.ok, JSON.stringify(stat));
    const cls = await benchmarkArtifact({ root: ws, artifact: py('Meter.describe', 'method'), samples: [call(['[Class Meter]', 3], { result: '3 m' })], maxSeconds: 1 });
    assert.ok(cls.ok, JSON.stringify(cls));
    const gen = await benchmarkArtifact({ root: ws, artifact: py('squares'), samples: [call([50], { result: '[Generator]' })], maxSeconds: 1 });
    assert.ok(gen.ok, JSON.stringify(gen));
    assert.ok(gen.notes.some((n) => /generator function: each timed call includes draining/.test(n)), gen.notes.join('; '));
    const coro = await benchmarkArtifact({ root: ws, artifact: py('fetch'), samples: [call([1], { result: '[Coroutine]' })], maxSeconds: 1 });
    assert.match(coro.ok ? '' : coro.reason, /fetch is a coroutine function/);
  });
});

describe('benchmarks: Python functions on calls recorded by pytest', function () {
  this.timeout(240_000);
  const fixture = path.resolve(__dirname, '../fixtures/record/pytest');
  let run: RecordedRun;

  before(async () => {
    const plan = (await detectRunners(fixture)).find((p) => p.runner === 'pytest');
    assert.ok(plan, 'no pytest plan for the pytest fixture');
    const parsers = await loadParsers();
    const artifacts: ArtifactRecord[] = [];
    for (const file of ['src/inventory.py', 'test/test_inventory.py']) artifacts.push(...extractFile(parsers, file, languageForPath(file)!, readFileSync(path.join(fixture, file), 'utf8')).artifacts);
    run = await runTestsRecorded(plan, { timeoutMs: 120_000 }, artifacts);
    assert.equal(run.report.problem, undefined, run.report.outputTail);
  });

  const samplesOf = (name: string) => run.recording.artifacts.get(`src/inventory.py#${name}`)?.samples ?? [];
  const artifact = (name: string, kind = 'function'): BenchTarget => ({ id: `src/inventory.py#${name}`, file: 'src/inventory.py', qualifiedName: name, kind });

  it('replays the recorded calls of a function (a raise included, kwargs of a decorated function)', async () => {
    for (const [name, calls] of [['total', 2], ['parse_qty', 1], ['label', 1]] as const) {
      const samples = samplesOf(name);
      assert.equal(samples.length, calls, name);
      const r = await benchmarkArtifact({ root: fixture, artifact: artifact(name), samples, maxSeconds: 1 });
      assert.ok(r.ok, `${name}: ${JSON.stringify(r)}`);
      assertCiContainsMedian(r);
      assert.equal(r.calls, calls);
    }
  });

  it('replays a method on its recorded self (Stock.add, whose self the class of module inventory rebuilds)', async () => {
    const samples = samplesOf('Stock.add');
    assert.equal(samples.length, 3);
    const r = await benchmarkArtifact({ root: fixture, artifact: artifact('Stock.add', 'method'), samples, maxSeconds: 1 });
    assert.ok(r.ok, JSON.stringify(r));
    assertCiContainsMedian(r);
    assert.equal(r.calls, 3);
    assert.equal(r.skipped, undefined);
  });
});
