/**
 * Bad input to an evidence run, through `crucible evidence` (the same engine as the
 * editor's runs): tests that write into the workspace, print megabytes, crash their
 * process, or call functions with values that cannot be serialised; a Python
 * workspace without pytest. Each is reported, nothing stored is lost, the next run works.
 */
import * as assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { planFromCommand } from '../../server/src/evidence/runners/detect';
import { runTests } from '../../server/src/evidence/runners/run';
import { tempWorkspace } from '../support/tempWorkspace';

const run = promisify(execFile);
const cli = path.resolve(__dirname, '../../dist/cli.js');

interface Row {
  id: string;
  status: string;
  tests: { id: string; status: string }[];
  samples: number;
}

function env(): NodeJS.ProcessEnv {
  const e = { ...process.env };
  delete e.CI;
  return e;
}

const base = {
  'package.json': JSON.stringify({ name: 'bad', private: true, scripts: { test: 'node --test test/' } }),
  'src/lib.js': 'function size(x) { return Object.keys(x).length; }\nfunction echo(x) { return typeof x; }\nmodule.exports = { size, echo };\n',
  'test/ok.test.js': "const { it } = require('node:test');\nconst assert = require('node:assert');\nconst { size } = require('../src/lib');\nit('sizes', () => assert.equal(size({ a: 1 }), 1));\n",
};

/** `crucible evidence --json` for the rows, then the same again as a table for the progress lines on stderr. */
async function evidence(root: string): Promise<{ code: number; rows: Row[]; stderr: string }> {
  try {
    const r = await run(process.execPath, [cli, 'evidence', root, '--trust', '--no-bench', '--json'], { env: env(), maxBuffer: 64 * 1024 * 1024 });
    return { code: 0, rows: (JSON.parse(r.stdout) as { artifacts: Row[] }).artifacts, stderr: r.stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: e.code ?? -1, rows: e.stdout ? (JSON.parse(e.stdout) as { artifacts: Row[] }).artifacts : [], stderr: e.stderr ?? '' };
  }
}

async function evidenceTable(root: string): Promise<{ stdout: string; stderr: string }> {
  return run(process.execPath, [cli, 'evidence', root, '--trust', '--no-bench'], { env: env(), maxBuffer: 64 * 1024 * 1024 });
}

describe('bad input to an evidence run', function () {
  this.timeout(120_000);

  it('names the files a test wrote into the workspace', async () => {
    const ws = tempWorkspace({
      ...base,
      'test/writes.test.js': "const { it } = require('node:test');\nconst fs = require('node:fs');\nconst path = require('node:path');\nit('writes a report', () => { fs.mkdirSync(path.join(__dirname, '..', 'out'), { recursive: true }); fs.writeFileSync(path.join(__dirname, '..', 'out', 'report.txt'), 'x'); });\n",
    });
    try {
      const r = await evidence(ws.root);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stderr, /the tests changed files in the workspace \(created out\/report\.txt\)/);
      assert.doesNotMatch(r.stderr, /(created|modified) [^)]*\.crucible\//, 'Crucible’s own store is not a change the tests made');
      // The next run rewrites the same file with the same size, but a new mtime: modified.
      const again = await evidence(ws.root);
      assert.match(again.stderr, /modified out\/report\.txt/);
    } finally {
      ws.remove();
    }
  });

  it('survives a test that prints megabytes, keeping only a tail of it', async () => {
    const ws = tempWorkspace({
      ...base,
      'test/loud.test.js': "const { it } = require('node:test');\nit('is loud', () => { const line = 'x'.repeat(1023) + '\\n'; for (let i = 0; i < 8 * 1024; i++) process.stdout.write(line); });\n",
    });
    try {
      const r = await evidence(ws.root);
      assert.equal(r.code, 0, r.stderr.slice(-2000));
      assert.deepEqual(r.rows.find((x) => x.id === 'src/lib.js#size')?.tests, [{ id: 'test/ok.test.js#sizes', status: 'passed' }]);
      const table = await evidenceTable(ws.root);
      assert.ok(table.stderr.length + table.stdout.length < 100_000, `output is ${table.stderr.length + table.stdout.length} characters`);
      assert.match(table.stderr, /2 tests in [\d.]+ s \(node-test\): 2 passed/);
    } finally {
      ws.remove();
    }
  });

  it('reports a test file whose process crashes, keeps the other results, and the next run works', async () => {
    const ws = tempWorkspace(base);
    try {
      assert.equal((await evidence(ws.root)).code, 0);
      ws.write('test/crash.test.js', "const { it } = require('node:test');\nit('crashes', () => { process.exit(7); });\n");
      const r = await evidenceTable(ws.root);
      assert.match(r.stderr, /: 1 passed, 1 failed/);
      assert.match(r.stdout, /src\/lib\.js#size\s*│\s*verified/, 'the evidence of the file that ran is kept');
      ws.write('test/crash.test.js', "const { it } = require('node:test');\nit('crashes', () => {});\n");
      const next = await evidenceTable(ws.root);
      assert.match(next.stderr, /: 2 passed, 0 failed/);
    } finally {
      ws.remove();
    }
  });

  it('records calls whose arguments cannot be serialised without changing the outcome', async () => {
    const ws = tempWorkspace({
      ...base,
      'test/odd.test.js': [
        "const { it } = require('node:test');",
        "const assert = require('node:assert');",
        "const { echo } = require('../src/lib');",
        "it('takes odd values', () => {",
        '  const { proxy, revoke } = Proxy.revocable({}, {});',
        '  revoke();',
        "  assert.equal(echo(proxy), 'object');",
        "  assert.equal(echo({ get boom() { throw new Error('getter ran'); } }), 'object');",
        "  assert.equal(echo(Symbol('s')), 'symbol');",
        "  assert.equal(echo(new Array(200000).fill(1)), 'object');",
        "  assert.equal(echo('y'.repeat(100000)), 'string');",
        "  const cyclic = { a: 1 }; cyclic.self = cyclic; assert.equal(echo(cyclic), 'object');",
        "  assert.equal(echo(() => 1), 'function');",
        "  assert.equal(echo(10n ** 30n), 'bigint');",
        '});',
        '',
      ].join('\n'),
    });
    try {
      const r = await evidence(ws.root);
      assert.equal(r.code, 0, r.stderr);
      const echo = r.rows.find((x) => x.id === 'src/lib.js#echo')!;
      assert.deepEqual(echo.tests, [{ id: 'test/odd.test.js#takes odd values', status: 'passed' }]);
      assert.equal(echo.samples, 8);
    } finally {
      ws.remove();
    }
  });

  it('says how to install pytest when no Python can run it', async () => {
    const ws = tempWorkspace({ 'test_x.py': 'def test_x():\n    assert True\n' });
    try {
      // A `pytest` package that cannot be imported shadows every installed one for this run.
      mkdirSync(path.join(ws.root, 'shadow', 'pytest'), { recursive: true });
      writeFileSync(path.join(ws.root, 'shadow', 'pytest', '__init__.py'), "raise ImportError('No module named pytest')\n");
      const plan = planFromCommand('python3 -m pytest', ws.root)!;
      const report = await runTests({ ...plan, env: { ...plan.env, PYTHONPATH: path.join(ws.root, 'shadow') } }, { timeoutMs: 30_000 });
      assert.match(report.problem ?? '', /runner not installed: pytest .*python3-pytest/);
      assert.deepEqual(report.results, []);
    } finally {
      ws.remove();
    }
  });
});
