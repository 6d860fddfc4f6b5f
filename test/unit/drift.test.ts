import * as assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import * as path from 'node:path';
import { promisify } from 'node:util';
import {
  type ArtifactEvidenceView,
  detectCoverageDrop,
  detectDrift,
  detectErrorRate,
  detectSlowdown,
  detectTestFailures,
  detectUnverifiedChange,
  isRegression,
} from '../../server/src/drift/detect';
import type { ArtifactRunEvidence, ArtifactTestResult, BenchEvidence, Run } from '../../server/src/evidence/model';
import { seededRandom, summarize } from '../../server/src/evidence/stats';
import { EvidenceStore } from '../../server/src/evidence/store';
import { acquireStoreLock } from '../../server/src/storage';
import { WorkspaceIndex } from '../../server/src/index/workspace';
import { tempWorkspace } from '../support/tempWorkspace';

const run = promisify(execFile);
const cli = path.join(__dirname, '..', '..', 'dist', 'cli.js');

let day = 0;
/** A history entry one day after the previous one. */
function entry(hash: string, patch: Partial<ArtifactRunEvidence> = {}): ArtifactRunEvidence {
  day++;
  const at = new Date(Date.UTC(2025, 0, day)).toISOString();
  return { runId: `r${day}`, at, hash, tests: [], ...patch };
}
const test = (testId: string, status: ArtifactTestResult['status'], testHash?: string): ArtifactTestResult => ({ testId, status, durationMs: 1, ...(testHash ? { testHash } : {}) });
const view = (history: ArtifactRunEvidence[], extra: Partial<ArtifactEvidenceView> = {}): ArtifactEvidenceView => ({ artifact: 'src/a.ts#f', history, currentHash: history[history.length - 1]?.hash, ...extra });

function bench(seed: number, medianNs: number, sigma: number, n = 30): BenchEvidence {
  const random = seededRandom(seed);
  const samplesNs = Array.from({ length: n }, () => {
    const z = Math.sqrt(-2 * Math.log(Math.max(random(), 1e-12))) * Math.cos(2 * Math.PI * random());
    return medianNs * Math.exp(sigma * z);
  });
  const s = summarize(samplesNs);
  return { samplesNs, medianNs: s.median, ciLowNs: s.ciLow, ciHighNs: s.ciHigh };
}

describe('drift detection', () => {
  describe('test-failure and flaky', () => {
    it('reports a test that went red after the code changed', () => {
      const events = detectTestFailures(view([entry('a', { tests: [test('t1', 'passed')] }), entry('b', { tests: [test('t1', 'failed')] })]));
      assert.equal(events.length, 1);
      assert.equal(events[0].kind, 'test-failure');
      assert.match(events[0].detail, /test t1 fails in the run of 2025-.*passed on 2025-.* the code changed \(a → b\)/);
    });

    it('counts a change to the test itself as a code change', () => {
      const events = detectTestFailures(view([entry('a', { tests: [test('t1', 'passed', 'x')] }), entry('a', { tests: [test('t1', 'failed', 'y')] })]));
      assert.deepEqual(events.map((e) => e.kind), ['test-failure']);
      assert.match(events[0].detail, /the test changed/);
    });

    it('on a test’s own evidence, a change in the code it executed is a code change, not flakiness', () => {
      const own = (status: ArtifactTestResult['status'], codeHash: string) => ({ ...test('t1', status, 'x'), codeHash });
      const changed = detectTestFailures(view([entry('t', { tests: [own('passed', 'c1')] }), entry('t', { tests: [own('failed', 'c2')] })]));
      assert.deepEqual(changed.map((e) => e.kind), ['test-failure']);
      assert.match(changed[0].detail, /the code it executed changed \(c1 → c2\)/);
      const same = detectTestFailures(view([entry('t', { tests: [own('passed', 'c1')] }), entry('t', { tests: [own('failed', 'c1')] })]));
      assert.deepEqual(same.map((e) => e.kind), ['flaky']);
    });

    it('calls a flip with identical code flaky, not drift', () => {
      const events = detectTestFailures(view([entry('a', { tests: [test('t1', 'passed')] }), entry('a', { tests: [test('t1', 'failed')] })]));
      assert.deepEqual(events.map((e) => e.kind), ['flaky']);
      assert.ok(!isRegression(events[0]));
    });

    it('keeps reporting a failure that persists, ignoring skips and runs without the test', () => {
      const events = detectTestFailures(
        view([entry('a', { tests: [test('t1', 'passed')] }), entry('b', { tests: [test('t1', 'failed')] }), entry('b', { tests: [test('t1', 'skipped')] }), entry('b'), entry('b', { tests: [test('t1', 'failed')] })]),
      );
      assert.deepEqual(events.map((e) => e.kind), ['test-failure']);
      assert.match(events[0].detail, /since the run of .*still failing/);
    });

    it('says nothing about a test that never passed or that passes now after a fix', () => {
      assert.deepEqual(detectTestFailures(view([entry('a', { tests: [test('t1', 'failed')] }), entry('b', { tests: [test('t1', 'failed')] })])), []);
      assert.deepEqual(detectTestFailures(view([entry('a', { tests: [test('t1', 'passed')] }), entry('b', { tests: [test('t1', 'failed')] }), entry('c', { tests: [test('t1', 'passed')] })])), []);
    });

    it('flags a test that alternated with the same code in the window, even if green now', () => {
      const events = detectTestFailures(view([entry('a', { tests: [test('t1', 'passed')] }), entry('a', { tests: [test('t1', 'failed')] }), entry('a', { tests: [test('t1', 'passed')] })]));
      assert.deepEqual(events.map((e) => e.kind), ['flaky']);
      assert.match(events[0].detail, /passed on .* → failed on .*; failed on .* → passed on/);
    });

    it('does not flag alternation outside the window', () => {
      const history = [entry('a', { tests: [test('t1', 'passed')] }), entry('a', { tests: [test('t1', 'failed')] })];
      for (let i = 0; i < 10; i++) history.push(entry('a', { tests: [test('t1', 'passed')] }));
      assert.deepEqual(detectTestFailures(view(history)), []);
    });

    it('notes earlier flakiness on a real failure', () => {
      const events = detectTestFailures(
        view([entry('a', { tests: [test('t1', 'passed')] }), entry('a', { tests: [test('t1', 'failed')] }), entry('a', { tests: [test('t1', 'passed')] }), entry('b', { tests: [test('t1', 'failed')] })]),
      );
      assert.deepEqual(events.map((e) => e.kind), ['test-failure']);
      assert.match(events[0].detail, /may be flaky/);
    });
  });

  describe('slowdown', () => {
    it('fires on a 20% slower median after a code change, with the ratio', () => {
      const events = detectSlowdown(view([entry('a', { bench: bench(1, 1e6, 0.05) }), entry('b', { bench: bench(2, 1.2e6, 0.05) })]));
      assert.equal(events.length, 1);
      assert.equal(events[0].kind, 'slowdown');
      assert.ok(Math.abs(events[0].ratio! - 1.2) < 0.05, `${events[0].ratio}`);
      assert.match(events[0].detail, /1\.\d\d× slower after the code changed \(a → b\): median .* ms \(30 samples.*95% CI of the ratio 1\.\d\d–1\.\d\d \(bootstrap\)/);
    });

    it('does not fire on a significant but small slowdown, nor on a large but noisy one', () => {
      assert.deepEqual(detectSlowdown(view([entry('a', { bench: bench(1, 1e6, 0.01) }), entry('b', { bench: bench(2, 1.05e6, 0.01) })])), []);
      // 15% slower medians, but spread so wide that the ratio's interval includes 1
      const wide = [50, 80, 100, 120, 200, 60, 150, 90, 110, 130];
      const asBench = (samplesNs: number[]): BenchEvidence => ({ samplesNs, medianNs: summarize(samplesNs).median, ciLowNs: summarize(samplesNs).ciLow, ciHighNs: summarize(samplesNs).ciHigh });
      assert.deepEqual(detectSlowdown(view([entry('a', { bench: asBench(wide) }), entry('b', { bench: asBench(wide.map((x) => x * 1.15)) })])), []);
      assert.deepEqual(detectSlowdown(view([entry('a', { bench: bench(1, 1e6, 0.05) }), entry('b', { bench: bench(3, 1e6, 0.05) })])), []);
    });

    it('compares with the previous version of the code, so a re-run does not clear it', () => {
      const events = detectSlowdown(view([entry('a', { bench: bench(1, 1e6, 0.05) }), entry('b', { bench: bench(2, 1.3e6, 0.05) }), entry('b', { bench: bench(3, 1.3e6, 0.05) })]));
      assert.deepEqual(events.map((e) => e.kind), ['slowdown']);
    });

    it('with unchanged code, needs three earlier benchmarks and compares with the slowest of the oldest three', () => {
      const early = [entry('a', { bench: bench(1, 1e6, 0.05) }), entry('a', { bench: bench(2, 1.08e6, 0.05) })];
      // Two earlier runs are not enough to tell a slowdown from run-to-run noise.
      assert.deepEqual(detectSlowdown(view([...early, entry('a', { bench: bench(3, 1.4e6, 0.05) })])), []);
      const events = detectSlowdown(view([...early, entry('a', { bench: bench(4, 1.02e6, 0.05) }), entry('a', { bench: bench(5, 1.4e6, 0.05) })]));
      assert.deepEqual(events.map((e) => e.kind), ['slowdown']);
      assert.match(events[0].detail, /no change to this code/);
      assert.match(events[0].detail, /the slowest of 3 runs of that code/);
      assert.ok(Math.abs(events[0].ratio! - 1.4 / 1.08) < 0.06, `${events[0].ratio}: against the slowest of the three`);
      // A slowdown within what the earlier runs varied is not one.
      assert.deepEqual(detectSlowdown(view([...early, entry('a', { bench: bench(4, 1.02e6, 0.05) }), entry('a', { bench: bench(5, 1.12e6, 0.05) })])), []);
    });

    it('falls back to the stored intervals when there are too few samples', () => {
      const b: BenchEvidence = { samplesNs: [100, 101, 99], medianNs: 100, ciLowNs: 99, ciHighNs: 101 };
      const c: BenchEvidence = { samplesNs: [130, 131, 129], medianNs: 130, ciLowNs: 129, ciHighNs: 131 };
      const events = detectSlowdown(view([entry('a', { bench: b }), entry('b', { bench: c })]));
      assert.equal(events[0].ratio, 1.3);
      assert.match(events[0].detail, /from per-run intervals/);
      assert.deepEqual(detectSlowdown(view([entry('a', { bench: b })])), []);
    });

    it('with benchmarks from several processes, compares over processes: noise between them is no slowdown', () => {
      const grouped = (medians: number[], seed: number): BenchEvidence => {
        const parts = medians.map((m, i) => bench(seed * 10 + i, m, 0.02, 20).samplesNs);
        const samplesNs = parts.flat();
        const sm = summarize(samplesNs);
        return { samplesNs, medianNs: sm.median, ciLowNs: sm.ciLow, ciHighNs: sm.ciHigh, groups: parts.map((p) => p.length) };
      };
      const noisy = detectSlowdown(view([entry('a', { bench: grouped([30e3, 43e3, 31e3], 1) }), entry('a', { bench: grouped([44e3, 30.5e3, 43.5e3], 2) })]));
      assert.deepEqual(noisy, []);
      const real = detectSlowdown(view([entry('a', { bench: grouped([30e3, 43e3, 31e3], 1) }), entry('b', { bench: grouped([90e3, 120e3, 95e3], 3) })]));
      assert.deepEqual(real.map((e) => e.kind), ['slowdown']);
      assert.match(real[0].detail, /bootstrap over 3 and 3 processes/);
    });

    it('gives no verdict on runs of one or two samples, however far apart', () => {
      const one = (ns: number): BenchEvidence => ({ samplesNs: [ns], medianNs: ns, ciLowNs: ns, ciHighNs: ns });
      assert.deepEqual(detectSlowdown(view([entry('a', { bench: one(100) }), entry('b', { bench: one(900) })])), []);
      const two: BenchEvidence = { samplesNs: [100, 101], medianNs: 100.5, ciLowNs: 100, ciHighNs: 101 };
      const five = bench(2, 1e3, 0.01);
      assert.deepEqual(detectSlowdown(view([entry('a', { bench: two }), entry('b', { bench: five })])), []);
    });
  });

  describe('unverified-change, coverage-drop, error-rate', () => {
    it('unverified-change fires when tested code differs from the last verified hash', () => {
      const h = [entry('a', { tests: [test('t1', 'passed')] })];
      assert.deepEqual(detectUnverifiedChange(view(h, { currentHash: 'b', lastVerifiedHash: 'a' })).map((e) => e.kind), ['unverified-change']);
      assert.deepEqual(detectUnverifiedChange(view(h, { currentHash: 'a', lastVerifiedHash: 'a' })), []);
      assert.match(detectUnverifiedChange(view(h, { currentHash: 'a' }))[0].detail, /never all passed/);
      assert.deepEqual(detectUnverifiedChange(view([entry('a', { calls: 3 })], { currentHash: 'b' })), [], 'no tests: nothing to verify with');
      assert.deepEqual(detectUnverifiedChange(view(h, { currentHash: undefined, lastVerifiedHash: 'a' })), []);
    });

    it('coverage-drop fires at 5 points and not at 4, skipping runs that did not measure it', () => {
      const drop = detectCoverageDrop(view([entry('a', { coveredLines: 80, coverableLines: 100 }), entry('a', { bench: bench(1, 1, 0.1) }), entry('b', { coveredLines: 75, coverableLines: 100 })]));
      assert.deepEqual(drop.map((e) => e.kind), ['coverage-drop']);
      assert.match(drop[0].detail, /from 80\.0% \(80\/100, .*\) to 75\.0% \(75\/100/);
      assert.deepEqual(detectCoverageDrop(view([entry('a', { coveredLines: 80, coverableLines: 100 }), entry('b', { coveredLines: 76, coverableLines: 100 })])), []);
      assert.deepEqual(detectCoverageDrop(view([entry('a', { coveredLines: 80, coverableLines: 100 })])), []);
    });

    it('error-rate fires on a 10-point rise over enough calls only', () => {
      const up = detectErrorRate(view([entry('a', { calls: 100, errors: 0 }), entry('b', { calls: 100, errors: 10 })]));
      assert.deepEqual(up.map((e) => e.kind), ['error-rate']);
      assert.match(up[0].detail, /10\.0% of calls threw \(10\/100, .*up from 0\.0% \(0\/100/);
      assert.deepEqual(detectErrorRate(view([entry('a', { calls: 100, errors: 0 }), entry('b', { calls: 100, errors: 9 })])), []);
      assert.deepEqual(detectErrorRate(view([entry('a', { calls: 19, errors: 0 }), entry('b', { calls: 19, errors: 19 })])), [], 'too few calls');
    });

    it('detectDrift runs every detector and only measured regressions gate CI', () => {
      const events = detectDrift(view([entry('a', { tests: [test('t1', 'passed')], calls: 100, errors: 0 }), entry('b', { tests: [test('t1', 'failed')], calls: 100, errors: 50 })], { lastVerifiedHash: 'a' }));
      assert.deepEqual(events.map((e) => e.kind).sort(), ['error-rate', 'test-failure', 'unverified-change']);
      assert.deepEqual(events.filter(isRegression).map((e) => e.kind).sort(), ['error-rate', 'test-failure']);
      assert.deepEqual(detectDrift(view([])), []);
    });
  });

  describe('crucible drift CLI', () => {
    const files = {
      'src/price.ts': 'export function total(xs: number[]) { return xs.reduce((a, b) => a + b, 0); }\n',
      'src/tax.ts': 'export function withTax(x: number) { return x * 1.2; }\n',
    };

    /** Indexes the workspace for the real hashes, then writes a hand-built evidence store. */
    async function seed(root: string, withSlowdown: boolean): Promise<void> {
      const index = new WorkspaceIndex(root, { settings: { exclude: [], maxFileSizeBytes: 1 << 20 }, owner: 'unit test' });
      await index.open();
      await index.indexAll();
      const totalHash = index.get('src/price.ts#total')!.hash;
      const taxHash = index.get('src/tax.ts#withTax')!.hash;
      await index.close();
      const store = new EvidenceStore(root, { owner: 'unit test' });
      await store.open();
      const runs: Run[] = [1, 2].map((d) => ({ id: `run${d}`, at: `2025-02-0${d}T10:00:00.000Z`, kind: 'test', command: 'npm test', outcomes: [] }));
      store.addRun(runs[0], new Map([
        ['src/price.ts#total', { hash: withSlowdown ? 'old-total' : totalHash, tests: [test('price totals', 'passed')], bench: bench(1, 1e6, 0.05) }],
        ['src/tax.ts#withTax', { hash: taxHash, tests: [test('tax adds 20%', 'passed')] }],
        ['src/gone.ts#removed', { hash: 'x', tests: [test('gone', 'passed')] }],
      ]));
      store.addRun(runs[1], new Map([
        ['src/price.ts#total', { hash: totalHash, tests: [test('price totals', 'passed')], bench: bench(2, withSlowdown ? 1.25e6 : 1e6, 0.05) }],
        ['src/tax.ts#withTax', { hash: taxHash, tests: [test('tax adds 20%', 'failed')] }],
        ['src/gone.ts#removed', { hash: 'y', tests: [test('gone', 'failed')] }],
      ]));
      await store.flush();
    }

    it('prints the documented JSON and exits 1 with --ci on a regression', async () => {
      const ws = tempWorkspace(files);
      try {
        await seed(ws.root, true);
        const { stdout } = await run(process.execPath, [cli, 'drift', ws.root, '--json']);
        const out = JSON.parse(stdout) as { events: { artifact: string; kind: string; detail: string; ratio?: number }[] };
        assert.deepEqual(Object.keys(out), ['events']);
        assert.deepEqual(out.events.map((e) => `${e.artifact} ${e.kind}`).sort(), ['src/price.ts#total slowdown', 'src/tax.ts#withTax flaky']);
        const slow = out.events.find((e) => e.kind === 'slowdown')!;
        assert.deepEqual(Object.keys(slow).sort(), ['artifact', 'detail', 'kind', 'ratio']);
        assert.ok(slow.ratio! > 1.15 && slow.ratio! < 1.35);
        for (const e of out.events.filter((x) => x.kind !== 'slowdown')) assert.deepEqual(Object.keys(e).sort(), ['artifact', 'detail', 'kind']);

        await assert.rejects(run(process.execPath, [cli, 'drift', ws.root, '--ci']), (err: { code?: number; stdout?: string }) => {
          assert.equal(err.code, 1);
          assert.match(err.stdout ?? '', /slowdown\s+src\/price\.ts#total/);
          assert.match(err.stdout ?? '', /1 artifact\(s\) with evidence no longer exist/);
          return true;
        });
      } finally {
        ws.remove();
      }
    });

    it('exits 0 with --ci when only flaky tests and unverified changes are found', async () => {
      const ws = tempWorkspace(files);
      try {
        await seed(ws.root, false);
        const kinds = async () => (JSON.parse((await run(process.execPath, [cli, 'drift', ws.root, '--ci', '--json'])).stdout) as { events: { kind: string }[] }).events.map((e) => e.kind).sort();
        assert.deepEqual(await kinds(), ['flaky']);
        ws.write('src/tax.ts', 'export function withTax(x: number) { return x * 1.25; }\n');
        assert.deepEqual(await kinds(), ['flaky', 'unverified-change'], 'an edit since the last green run is listed, and does not fail the gate');
      } finally {
        ws.remove();
      }
    });

    it('prints an empty list for a workspace without evidence', async () => {
      const ws = tempWorkspace(files);
      try {
        const { stdout } = await run(process.execPath, [cli, 'drift', ws.root, '--json', '--ci']);
        assert.deepEqual(JSON.parse(stdout), { events: [] });
        const table = await run(process.execPath, [cli, 'drift', ws.root]);
        assert.match(table.stdout, /no evidence recorded yet/);
      } finally {
        ws.remove();
      }
    });

    it('exits 2 on bad arguments', async () => {
      for (const args of [['drift'], ['drift', '/definitely/not/here'], ['index', '.', '--ci'], ['drift', '.', '--nope']]) {
        await assert.rejects(run(process.execPath, [cli, ...args]), (err: { code?: number; stderr?: string }) => {
          assert.equal(err.code, 2, args.join(' '));
          assert.match(err.stderr ?? '', /Usage: crucible/);
          return true;
        });
      }
    });

    it('exits 3 when the evidence store is being written', async () => {
      const ws = tempWorkspace(files);
      try {
        const release = await acquireStoreLock(path.join(ws.root, '.crucible', 'evidence'), { owner: 'test runner', waitMs: 100 });
        try {
          await assert.rejects(run(process.execPath, [cli, 'drift', ws.root], { env: { ...process.env, CRUCIBLE_LOCK_WAIT_MS: '300' } }), (err: { code?: number; stderr?: string }) => {
            assert.equal(err.code, 3);
            assert.match(err.stderr ?? '', /being written by another process \(test runner, pid \d+/);
            return true;
          });
        } finally {
          await release();
        }
      } finally {
        ws.remove();
      }
    });
  });
});
