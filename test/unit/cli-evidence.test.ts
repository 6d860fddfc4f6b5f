/**
 * `crucible evidence` end to end on a small node:test workspace (plain CommonJS, so no
 * transpiler is involved): trust gate, the documented JSON, the table, a failing test,
 * bad input that keeps what was stored, and drift read from what evidence recorded.
 */
import * as assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, symlinkSync } from 'node:fs';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { tempWorkspace } from '../support/tempWorkspace';

const run = promisify(execFile);
const cli = path.resolve(__dirname, '../../dist/cli.js');

const files = {
  'package.json': JSON.stringify({ name: 'ev', private: true, scripts: { test: 'node --test test/' } }),
  'src/price.js': [
    'function total(xs) { let s = 0; for (const x of xs) s += x; return s; }',
    'function withTax(x) { return Math.round(x * 1.2); }',
    'function unused(x) { return x; }',
    'module.exports = { total, withTax, unused };',
    '',
  ].join('\n'),
  'test/price.test.js': [
    "const { it } = require('node:test');",
    "const assert = require('node:assert');",
    "const { total, withTax } = require('../src/price');",
    "it('totals', () => { assert.equal(total([1, 2, 3]), 6); assert.equal(total([]), 0); });",
    "it('adds tax', () => { assert.equal(withTax(100), 120); });",
    '',
  ].join('\n'),
};

interface Row {
  id: string;
  status: string;
  tests: { id: string; status: string }[];
  coverage: number | null;
  calls: number | null;
  medianNs: number | null;
  lastVerified: string | null;
}

/** The environment without CI, so the trust flag is what decides. */
function env(): NodeJS.ProcessEnv {
  const e = { ...process.env };
  delete e.CI;
  return e;
}

describe('crucible evidence CLI', function () {
  this.timeout(120_000);

  it('refuses to run the workspace’s code without --trust outside CI, and writes nothing', async () => {
    const ws = tempWorkspace(files);
    try {
      await assert.rejects(run(process.execPath, [cli, 'evidence', ws.root], { env: env() }), (err: { code?: number; stderr?: string }) => {
        assert.equal(err.code, 2);
        assert.match(err.stderr!, /--trust/);
        return true;
      });
      assert.equal(existsSync(path.join(ws.root, '.crucible', 'evidence', 'runs.json')), false);
    } finally {
      ws.remove();
    }
  });

  it('runs the tests, maps them, benchmarks, and prints the documented JSON; drift sees a test gone red', async () => {
    const ws = tempWorkspace(files);
    try {
      const { stdout } = await run(process.execPath, [cli, 'evidence', ws.root, '--trust', '--json', '--bench-seconds', '1'], { env: env() });
      const rows = (JSON.parse(stdout) as { artifacts: Row[] }).artifacts;
      const byId = new Map(rows.map((r) => [r.id, r]));
      const total = byId.get('src/price.js#total')!;
      assert.ok(total, stdout);
      assert.deepEqual(total.tests, [{ id: 'test/price.test.js#totals', status: 'passed' }]);
      assert.equal(total.status, 'verified');
      assert.equal(total.coverage, 1);
      assert.equal(total.calls, 2);
      assert.ok(total.medianNs !== null && total.medianNs > 0, `median ${total.medianNs}`);
      assert.ok(total.lastVerified && !Number.isNaN(Date.parse(total.lastVerified)));
      assert.deepEqual(byId.get('src/price.js#withTax')!.tests, [{ id: 'test/price.test.js#adds tax', status: 'passed' }]);
      assert.equal(byId.has('src/price.js#unused'), false, 'no test ran it: no evidence row');

      // The code changes and its test fails: failing, not verified, and drift calls it a regression.
      ws.write('src/price.js', files['src/price.js'].replace('x * 1.2', 'x * 1.3'));
      const again = await run(process.execPath, [cli, 'evidence', ws.root, '--trust', '--json', '--no-bench'], { env: env() });
      const tax = (JSON.parse(again.stdout) as { artifacts: Row[] }).artifacts.find((r) => r.id === 'src/price.js#withTax')!;
      assert.equal(tax.status, 'failing');
      assert.equal(tax.lastVerified, null);
      assert.deepEqual(tax.tests, [{ id: 'test/price.test.js#adds tax', status: 'failed' }]);
      await assert.rejects(run(process.execPath, [cli, 'drift', ws.root, '--json', '--ci'], { env: env() }), (err: { code?: number; stdout?: string }) => {
        assert.equal(err.code, 1);
        const events = (JSON.parse(err.stdout!) as { events: { artifact: string; kind: string }[] }).events;
        assert.ok(events.some((e) => e.artifact === 'src/price.js#withTax' && e.kind === 'test-failure'), err.stdout);
        return true;
      });

      // The table names each artifact with its tests and coverage.
      ws.write('src/price.js', files['src/price.js']);
      const table = await run(process.execPath, [cli, 'evidence', ws.root, '--no-bench'], { env: { ...env(), CI: 'true' } });
      assert.match(table.stdout, /src\/price\.js#total\s*│\s*verified\s*│\s*1\/1\s*│\s*100%/);
      assert.match(table.stderr, /2 tests in [\d.]+ s \(node-test\): 2 passed, 0 failed, 0 skipped/);
    } finally {
      ws.remove();
    }
  });

  it('says what is wrong with a test command that does not exist, and keeps the evidence already stored', async () => {
    const ws = tempWorkspace(files);
    try {
      await run(process.execPath, [cli, 'evidence', ws.root, '--trust', '--no-bench'], { env: env() });
      await assert.rejects(run(process.execPath, [cli, 'evidence', ws.root, '--trust', '--no-bench', '--test-command', 'frobnicate --all'], { env: env() }), (err: { code?: number; stderr?: string }) => {
        assert.equal(err.code, 1);
        assert.match(err.stderr!, /frobnicate --all.*not a command Crucible recognises/);
        return true;
      });
      await assert.rejects(run(process.execPath, [cli, 'evidence', ws.root, '--trust', '--no-bench', '--test-command', 'mocha'], { env: env() }), (err: { code?: number; stderr?: string }) => {
        assert.equal(err.code, 1);
        assert.match(err.stderr!, /mocha/);
        assert.match(err.stderr!, /nothing recorded/);
        return true;
      });
      const { stdout } = await run(process.execPath, [cli, 'drift', ws.root, '--json'], { env: env() });
      assert.deepEqual(JSON.parse(stdout), { events: [] });
      const table = await run(process.execPath, [cli, 'evidence', ws.root, '--trust', '--no-bench', '--json', '--timeout', '60'], { env: env() });
      assert.equal((JSON.parse(table.stdout) as { artifacts: Row[] }).artifacts.find((r) => r.id === 'src/price.js#total')?.status, 'verified');
    } finally {
      ws.remove();
    }
  });

  it('records and replays calls of TypeScript modules loaded through tsx (node --import tsx --test)', async () => {
    const ws = tempWorkspace({
      'package.json': JSON.stringify({ name: 'ts', private: true, type: 'commonjs', scripts: { test: 'node --import tsx --test test/price.test.ts' } }),
      'src/price.ts': 'export function total(xs: number[]): number {\n  return xs.reduce((a, b) => a + b, 0);\n}\nexport const half = (x: number): number => x / 2;\n',
      'test/price.test.ts': "import { it } from 'node:test';\nimport assert from 'node:assert';\nimport { total, half } from '../src/price';\nit('totals', () => assert.equal(total([1, 2]), 3));\nit('halves', () => assert.equal(half(4), 2));\n",
    });
    try {
      // tsx from this repository, as a workspace would have it in its own node_modules
      symlinkSync(path.resolve(__dirname, '../../node_modules'), path.join(ws.root, 'node_modules'), 'dir');
      const { stdout } = await run(process.execPath, [cli, 'evidence', ws.root, '--trust', '--json', '--bench-seconds', '1'], { env: env() });
      const rows = new Map((JSON.parse(stdout) as { artifacts: (Row & { samples: number })[] }).artifacts.map((r) => [r.id, r]));
      const total = rows.get('src/price.ts#total')!;
      assert.deepEqual(total.tests, [{ id: 'test/price.test.ts#totals', status: 'passed' }]);
      assert.equal(total.samples, 1, 'the call through esbuild-style exports (non-configurable getters) is sampled');
      assert.ok(total.medianNs !== null && total.medianNs > 0, 'and replayed by the benchmark');
      assert.equal(rows.get('src/price.ts#half')!.samples, 1);
    } finally {
      ws.remove();
    }
  });

  it('stops a hanging test run at --timeout and reports it', async () => {
    const ws = tempWorkspace({ ...files, 'test/hang.test.js': "const { it } = require('node:test');\nit('hangs', () => new Promise(() => setInterval(() => {}, 1000)));\n" });
    try {
      const started = Date.now();
      const outcome = await run(process.execPath, [cli, 'evidence', ws.root, '--trust', '--no-bench', '--timeout', '3'], { env: env() }).then(
        (r) => ({ code: 0, stderr: r.stderr }),
        (err: { code?: number; stderr?: string }) => ({ code: err.code, stderr: err.stderr ?? '' }),
      );
      assert.ok(Date.now() - started < 20_000, `took ${Date.now() - started} ms`);
      assert.match(outcome.stderr, /stopped after 3 s \(--timeout\)/);
    } finally {
      ws.remove();
    }
  });
});
