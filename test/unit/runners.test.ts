import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { extractFile } from '../../server/src/index/extract';
import { languageForPath, loadParsers, type Parsers } from '../../server/src/index/languages';
import { detectRunners, planFromCommand } from '../../server/src/evidence/runners/detect';
import { commandEnv, expandArgv, runTests } from '../../server/src/evidence/runners/run';
import { testArtifactId, type RunnerKind, type RunnerPlan, type TestRunReport } from '../../server/src/evidence/runners/types';

const repoRoot = path.resolve(__dirname, '..', '..');
const fixtures = path.join(__dirname, '..', 'fixtures', 'runners');

interface FixtureCase {
  name: string;
  runner: RunnerKind;
  /** Words the detected command must contain, in this order. */
  argv: string[];
  /** `status titlePath` per test, in any order; files are checked separately. */
  expected: string[];
  testFile: string;
  /** The one line of the runner's own summary, and how it names passed/failed/skipped. */
  summary: RegExp;
}

const cases: FixtureCase[] = [
  {
    name: 'node-test-ts',
    runner: 'node-test',
    argv: ['node', '--import', 'tsx', '--test'],
    testFile: 'test/math.test.ts',
    expected: [
      'passed math > add > adds two numbers',
      'passed math > add > is commutative',
      'failed math > divides exactly',
      'skipped math > divides by zero into Infinity',
      'passed throws on division by zero',
    ],
    summary: /^# (pass|fail|skipped) (\d+)$/gm,
  },
  {
    name: 'mocha-babel',
    runner: 'mocha',
    argv: ['mocha', '--require', '@babel/register'],
    testFile: 'test/cart.test.js',
    expected: [
      'passed Cart > total > sums prices times quantities',
      'passed Cart > total > is zero for no items',
      'passed Cart > counts items',
      'failed Cart > applies a discount',
      'skipped Cart > persists to storage',
    ],
    summary: /^\s+(\d+) (passing|failing|pending)/gm,
  },
  {
    name: 'jest',
    runner: 'jest',
    argv: ['jest'],
    testFile: 'test/strings.test.js',
    expected: [
      'passed strings > slugify > lowercases and joins words',
      'passed strings > slugify > drops punctuation at the ends',
      'passed strings > capitalizes a word',
      'failed strings > capitalizes every word',
      'skipped strings > handles unicode case folding',
    ],
    summary: /(\d+) (passed|failed|skipped)(?=.*total)/gm,
  },
  {
    name: 'vitest-esm-ts',
    runner: 'vitest',
    argv: ['vitest', 'run'],
    testFile: 'test/queue.test.ts',
    expected: [
      'passed Queue > push > returns the new size',
      'passed Queue > is first in, first out',
      'failed Queue > drains to empty',
      'skipped Queue > bounds its capacity',
    ],
    summary: /(\d+) (passed|failed|skipped)(?=.*\(\d+\)\s*$)/gm,
  },
  {
    name: 'pytest',
    runner: 'pytest',
    argv: ['-m', 'pytest'],
    testFile: 'test_calc.py',
    expected: [
      'passed TestMean > test_mean_of_values',
      'passed TestMean > test_mean_of_one',
      'skipped TestMean > test_median',
      'passed test_clamp_inside',
      'failed test_clamp_above',
    ],
    summary: /(\d+) (passed|failed|skipped)(?=.* in [\d.]+s)/gm,
  },
];

/** passed/failed/skipped counts from a runner's own closing summary. */
function countsFrom(output: string, summary: RegExp): Record<string, number> {
  const names: Record<string, string> = { pass: 'passed', passing: 'passed', fail: 'failed', failing: 'failed', pending: 'skipped' };
  const counts: Record<string, number> = { passed: 0, failed: 0, skipped: 0 };
  // vitest colours its summary under CI=true even when piped; the counts are read from plain text.
  for (const m of output.replace(/\u001b\[[0-9;]*[A-Za-z]/g, '').matchAll(summary)) {
    const [a, b] = [m[1], m[2]];
    const [n, word] = /^\d+$/.test(a) ? [a, b] : [b, a];
    counts[names[word] ?? word] = Number(n);
  }
  return counts;
}

function countsOf(report: TestRunReport): Record<string, number> {
  const counts: Record<string, number> = { passed: 0, failed: 0, skipped: 0 };
  for (const r of report.results) counts[r.status]++;
  return counts;
}

/** Every file under dir (to check that runs write nothing into the source tree). */
function listTree(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' }).sort();
}

function groupAlive(pid: number): boolean {
  try {
    process.kill(-pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code !== 'ESRCH';
  }
}

async function planFor(name: string): Promise<RunnerPlan> {
  const plans = await detectRunners(path.join(fixtures, name));
  assert.ok(plans.length > 0, `no runner detected in ${name}`);
  return plans[0];
}

describe('test-runner adapters', function () {
  this.timeout(120_000);
  let parsers: Parsers;
  let treeBefore: string[];

  before(async () => {
    parsers = await loadParsers();
    treeBefore = listTree(fixtures);
  });

  after(() => {
    assert.deepEqual(listTree(fixtures), treeBefore, 'a test run wrote into test/fixtures/runners');
  });

  for (const c of cases) {
    describe(c.name, () => {
      let plan: RunnerPlan;
      let report: TestRunReport;
      const lines: string[] = [];

      before(async () => {
        plan = await planFor(c.name);
        report = await runTests(plan, { timeoutMs: 60_000, root: repoRoot, onOutput: (line) => lines.push(line) });
      });

      it(`detects ${c.runner} with the project's own options`, () => {
        assert.equal(plan.runner, c.runner);
        const at = plan.argv.indexOf(c.argv[0]);
        assert.ok(at >= 0, plan.argv.join(' '));
        assert.deepEqual(plan.argv.slice(at, at + c.argv.length), c.argv, plan.argv.join(' '));
        assert.match(plan.reason, /package\.json scripts\.test|pytest\.ini/);
      });

      it('reports each test with its status, title path and file', () => {
        assert.equal(report.problem, undefined, `${report.problem}\n${report.outputTail}`);
        assert.equal(report.timedOut, false);
        assert.equal(report.exitCode, 1, report.outputTail);
        const got = report.results.map((r) => `${r.status} ${r.titlePath.join(' > ')}`).sort();
        assert.deepEqual(got, [...c.expected].sort(), report.outputTail);
        const file = path.posix.join('test/fixtures/runners', c.name, c.testFile);
        for (const r of report.results) assert.equal(r.file, file);
        const failed = report.results.find((r) => r.status === 'failed');
        assert.ok(failed?.error?.message, 'the failing test carries its error');
        assert.ok(lines.length > 0, 'onOutput received the runner output');
      });

      it("maps every result to a test artifact the indexer extracts", () => {
        const file = path.posix.join('test/fixtures/runners', c.name, c.testFile);
        const text = readFileSync(path.join(repoRoot, file), 'utf8');
        const { artifacts } = extractFile(parsers, file, languageForPath(file)!, text);
        const tests = new Set(artifacts.filter((a) => a.kind === 'test').map((a) => a.id));
        for (const r of report.results) assert.ok(tests.has(testArtifactId(r)), `${testArtifactId(r)} not in ${[...tests].join(', ')}`);
      });

      it("has the same outcomes as the project's own command without Crucible's reporter", () => {
        let argv = expandArgv(plan);
        if (c.runner === 'pytest') argv = [report.argv[0], ...argv.slice(1), '-p', 'no:cacheprovider'];
        const env = { ...commandEnv(plan), BABEL_DISABLE_CACHE: '1', PYTHONDONTWRITEBYTECODE: '1' };
        const own = spawnSync(argv[0], argv.slice(1), { cwd: plan.cwd, env, encoding: 'utf8', timeout: 60_000 });
        const output = `${own.stdout}\n${own.stderr}`;
        assert.equal(own.status, report.exitCode, output);
        assert.deepEqual(countsFrom(output, c.summary), countsOf(report), output);
      });
    });
  }

  it('runs a subset by test title (grep) and keeps only the skips it selected', async () => {
    const jest = await runTests(await planFor('jest'), { timeoutMs: 60_000, root: repoRoot, grep: 'slugify' });
    assert.deepEqual(jest.results.map((r) => `${r.status} ${r.titlePath.join(' > ')}`).sort(), [
      'passed strings > slugify > drops punctuation at the ends',
      'passed strings > slugify > lowercases and joins words',
    ]);
    assert.equal(jest.exitCode, 0);
    const py = await runTests(await planFor('pytest'), { timeoutMs: 60_000, root: repoRoot, grep: 'TestMean', files: ['test_calc.py'] });
    assert.deepEqual(py.results.map((r) => `${r.status} ${r.titlePath.join(' > ')}`).sort(), [
      'passed TestMean > test_mean_of_one',
      'passed TestMean > test_mean_of_values',
      'skipped TestMean > test_median',
    ]);
  });

  it('kills the whole process group when a run times out', async () => {
    const plan = await planFor('node-test-ts');
    let pid = 0;
    const started = Date.now();
    const report = await runTests(plan, { timeoutMs: 2_000, killGraceMs: 1_000, files: ['slow/hang.test.ts'], root: repoRoot, onSpawn: (p) => (pid = p) });
    const elapsed = Date.now() - started;
    assert.equal(report.timedOut, true);
    assert.equal(report.cancelled, false);
    assert.equal(report.problem, undefined);
    assert.ok(elapsed < 2_000 + 1_000 + 2_500, `took ${elapsed} ms`);
    assert.ok(pid > 0);
    assert.equal(groupAlive(pid), false, 'processes of the run are still alive');
    assert.ok(report.argv.includes('slow/hang.test.ts') && !report.argv.includes('test/math.test.ts'), report.argv.join(' '));
  });

  it('cancels through an AbortSignal, grandchildren included', async () => {
    const plan = await planFor('mocha-babel');
    const controller = new AbortController();
    let pid = 0;
    const report = await runTests(plan, {
      timeoutMs: 60_000,
      killGraceMs: 1_000,
      files: ['slow/hang.test.js'],
      grep: 'never finishes',
      root: repoRoot,
      signal: controller.signal,
      onSpawn: (p) => (pid = p),
      // The suite title is printed before its test starts the grandchild: give it a moment.
      onOutput: (line) => line.includes('slow') && setTimeout(() => controller.abort(), 500),
    });
    assert.equal(report.cancelled, true);
    assert.equal(report.timedOut, false);
    assert.ok(report.durationMs < 10_000, `took ${report.durationMs} ms`);
    assert.equal(groupAlive(pid), false, 'processes of the run are still alive');
  });

  it('reports a missing runner as a problem, not a throw', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'crucible-runners-'));
    const savedPath = process.env.PATH;
    // npx puts the repo's node_modules/.bin on PATH: take it off so jest cannot be found.
    process.env.PATH = (savedPath ?? '').split(path.delimiter).filter((p) => !p.includes('node_modules')).join(path.delimiter);
    try {
      const plan = planFromCommand('jest --ci', dir)!;
      assert.equal(plan.runner, 'jest');
      const report = await runTests(plan, { timeoutMs: 10_000 });
      assert.match(report.problem ?? '', /^runner not installed: jest/);
      assert.deepEqual(report.results, []);
    } finally {
      process.env.PATH = savedPath;
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('plans from a crucible.test.command override and runs it', async () => {
    const cwd = path.join(fixtures, 'mocha-babel');
    const plan = planFromCommand('BABEL_ENV=test npx mocha --require @babel/register test/cart.test.js', cwd)!;
    assert.equal(plan.runner, 'mocha');
    assert.deepEqual(plan.argv, ['mocha', '--require', '@babel/register', 'test/cart.test.js']);
    assert.deepEqual(plan.env, { BABEL_ENV: 'test' });
    assert.match(plan.reason, /^crucible\.test\.command: /);
    const report = await runTests(plan, { timeoutMs: 60_000, root: cwd });
    assert.deepEqual(countsOf(report), { passed: 3, failed: 1, skipped: 1 });
    assert.equal(report.results[0].file, 'test/cart.test.js');

    // `npm test` is followed through the script's text, not run.
    assert.deepEqual(planFromCommand('npm test', cwd)!.argv, ['mocha', '--require', '@babel/register', 'test/**/*.test.js']);
    assert.equal(planFromCommand('python3 -m pytest -q', cwd)!.runner, 'pytest');
    assert.equal(planFromCommand('node --import tsx --test a.test.ts', cwd)!.runner, 'node-test');
    assert.equal(planFromCommand('vitest --coverage', cwd)!.runner, 'vitest');
    assert.equal(planFromCommand('make all', cwd), undefined);
  });

  it('detects runners from scripts indirection, config files and markers', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'crucible-detect-'));
    try {
      const write = (file: string, text: string) => {
        mkdirSync(path.dirname(path.join(dir, file)), { recursive: true });
        writeFileSync(path.join(dir, file), text);
      };
      write('a/package.json', JSON.stringify({ scripts: { test: 'npm run lint && cross-env NODE_ENV=test npm run test:unit -- --bail', 'test:unit': 'mocha -r ts-node/register "src/**/*.spec.ts"', lint: 'eslint .' } }));
      const [a] = await detectRunners(path.join(dir, 'a'));
      assert.equal(a.runner, 'mocha');
      assert.deepEqual(a.argv, ['mocha', '-r', 'ts-node/register', 'src/**/*.spec.ts', '--bail']);
      assert.deepEqual(a.env, { NODE_ENV: 'test' });
      assert.equal(a.globs, undefined, 'a quoted glob is the runner\'s to expand');
      assert.match(a.reason, /scripts\.test → scripts\.test:unit/);

      write('b/package.json', JSON.stringify({ devDependencies: { jest: '*' } }));
      write('b/jest.config.js', 'module.exports = {};');
      write('c/package.json', '{}');
      write('c/vite.config.ts', 'export default { test: { environment: "node" } };');
      write('d/package.json', '{}');
      write('d/.mocharc.yml', 'require: "@babel/register"');
      write('e/pyproject.toml', '[project]\nname = "e"\n\n[tool.pytest.ini_options]\naddopts = "-q"\n');
      write('f/tests/test_x.py', 'def test_x():\n    pass\n');
      const detected = async (sub: string) => (await detectRunners(path.join(dir, sub))).map((p) => `${p.runner}: ${p.argv.join(' ')} (${p.reason.split(':')[0]})`);
      assert.deepEqual(await detected('b'), ['jest: jest (jest.config.js)']);
      assert.deepEqual(await detected('c'), ['vitest: vitest run (vite.config.ts (test options))']);
      assert.deepEqual(await detected('d'), ['mocha: mocha (.mocharc.yml)']);
      assert.deepEqual(await detected('e'), ['pytest: python3 -m pytest (pyproject.toml [tool.pytest.ini_options])']);
      assert.deepEqual(await detected('f'), ['pytest: python3 -m pytest (test_*.py files)']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
