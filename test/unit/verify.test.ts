/**
 * The verification pipeline (server/src/optimize/verify/) on the fixture workspace
 * test/fixtures/optimize (a JS and a TS module with node:test tests, tsx through the
 * repository's node_modules, symlinked): a right candidate is accepted, wrong ones are
 * rejected at the right step with the right reason, and the user's workspace (a temp
 * copy of the fixture) is byte-identical after all of it.
 */
import * as assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, realpathSync, rmSync, symlinkSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { CallSample } from '../../server/src/evidence/model';
import { extractFile } from '../../server/src/index/extract';
import { languageForPath, loadParsers } from '../../server/src/index/languages';
import type { Candidate, VerificationRecord } from '../../server/src/agents/contract';
import type { OptimizeTarget } from '../../server/src/optimize/types';
import { createScratchWorkspace, verifyCandidate, type ScratchWorkspace, type VerifyOptions } from '../../server/src/optimize/verify';
import { encode, generateInputs } from '../../server/src/evidence/inputs';

const fixture = path.resolve(__dirname, '../fixtures/optimize');
const repoModules = path.resolve(__dirname, '../../node_modules');

function hashTree(root: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (rel: string) => {
    for (const e of readdirSync(path.join(root, rel), { withFileTypes: true })) {
      const child = rel ? `${rel}/${e.name}` : e.name;
      if (e.name === 'node_modules') continue;
      if (e.isDirectory()) walk(child);
      else out.set(child, createHash('sha256').update(readFileSync(path.join(root, child))).digest('hex'));
    }
  };
  walk('');
  return out;
}

function call(args: unknown[], extra: Partial<CallSample> = {}): CallSample {
  return { args: args.map(encode), durationNs: 1000, mutated: false, ...extra };
}

const ints = (n: number, seed: number) => Array.from({ length: n }, (_, i) => (i * 7919 + seed * 104729) % (n * 2));

describe('verifyCandidate', function () {
  this.timeout(180_000);
  let ws: string;
  let original: Map<string, string>;
  let scratch: ScratchWorkspace;

  before(async () => {
    ws = realpathSync(mkdtempSync(path.join(os.tmpdir(), 'crucible-verify-ws-')));
    cpSync(fixture, ws, { recursive: true });
    symlinkSync(repoModules, path.join(ws, 'node_modules'), 'dir');
    original = hashTree(ws);
    scratch = await createScratchWorkspace(ws);
  });

  after(() => {
    scratch?.dispose();
    if (ws) rmSync(ws, { recursive: true, force: true });
  });

  async function target(file: string, qualifiedName: string, samples: CallSample[] = [], extra: Partial<OptimizeTarget> = {}): Promise<OptimizeTarget> {
    const fileText = readFileSync(path.join(ws, file), 'utf8');
    const language = languageForPath(file)!;
    const artifact = extractFile(await loadParsers(), file, language, fileText).artifacts.find((a) => a.qualifiedName === qualifiedName)!;
    assert.ok(artifact, `${qualifiedName} in ${file}`);
    const lines = fileText.split('\n');
    const start = lines.slice(0, artifact.range.start.line).join('\n').length + (artifact.range.start.line > 0 ? 1 : 0) + artifact.range.start.character;
    const end = lines.slice(0, artifact.range.end.line).join('\n').length + (artifact.range.end.line > 0 ? 1 : 0) + artifact.range.end.character;
    return {
      id: artifact.id,
      file,
      qualifiedName,
      name: artifact.name,
      kind: artifact.kind as 'function',
      language,
      range: artifact.range,
      code: fileText.slice(start, end),
      fileText,
      hash: artifact.hash,
      ...(samples.length > 0 ? { samples } : {}),
      ...extra,
    };
  }

  const candidate = (t: OptimizeTarget, code: string): Candidate => ({ agent: 'test', target: t.id, code, summary: 'test candidate' });
  const verify = (t: OptimizeTarget, code: string, extra: Partial<VerifyOptions> = {}): Promise<VerificationRecord> =>
    verifyCandidate({ root: ws, target: t, candidate: candidate(t, code), scratch, maxSeconds: 2, differentialSeconds: 8, generatedInputs: 60, ...extra });
  const dump = (r: VerificationRecord) => { if (process.env.VERIFY_DEBUG) console.log(JSON.stringify(r, null, 1)); };
  const rejected = (r: VerificationRecord, step: string, reason: RegExp) => {
    dump(r);
    assert.equal(r.accepted, false, JSON.stringify(r));
    assert.equal(r.rejection?.step, step, JSON.stringify(r.rejection));
    assert.match(r.rejection!.reason, reason);
  };

  const commonSamples = () => [call([ints(300, 1), ints(300, 2)]), call([ints(200, 3), ints(250, 4)]), call([[1, 2, 3], [3, 4]])];
  const setVersion = 'function countCommon(a, b) {\n  const s = new Set(b);\n  let n = 0;\n  for (const x of a) if (s.has(x)) n++;\n  return n;\n}';

  it('accepts a right candidate (Set instead of includes), with every step timed', async () => {
    const t = await target('src/list.js', 'countCommon', commonSamples());
    const r = await verify(t, setVersion);
    dump(r);
    assert.equal(r.accepted, true, JSON.stringify(r));
    assert.ok(r.speedup! >= 1.1 && r.speedupLow! > 1, JSON.stringify(r));
    assert.deepEqual(r.inputsCompared.recorded, 3);
    assert.ok(r.inputsCompared.generated > 10, JSON.stringify(r.inputsCompared));
    assert.ok(r.testsRun >= 1 && r.testsPassed === r.testsRun, JSON.stringify(r));
    for (const s of ['parse', 'determinism', 'differential', 'tests', 'benchmark'] as const) assert.ok(typeof r.stepMs[s] === 'number', s);
  });

  it('accepts a right TypeScript candidate (typechecked, loaded through tsx, tests of the importing file)', async () => {
    const t = await target('src/stats.ts', 'uniqueSorted', [call([ints(400, 5)]), call([[3, 1, 3, 2]])]);
    const r = await verify(t, 'function uniqueSorted(xs: readonly number[]): number[] {\n  return [...new Set(xs)].sort((a, b) => a - b);\n}');
    assert.equal(r.accepted, true, JSON.stringify(r));
    assert.ok(typeof r.stepMs.typecheck === 'number');
    assert.equal(r.testsRun, 2, 'both tests of test/stats.test.ts');
  });

  it('rejects a syntax error, a renamed function and a second definition at parse', async () => {
    const t = await target('src/list.js', 'countCommon', commonSamples());
    rejected(await verify(t, 'function countCommon(a, b) {\n  return a.filter((x) => b.includes(x).length;\n}'), 'parse', /syntax error in the candidate at line \d+/);
    rejected(await verify(t, setVersion.replace('countCommon', 'countShared')), 'parse', /defines countShared, not countCommon/);
    rejected(await verify(t, `${setVersion}\nfunction helper() {}`), 'parse', /defines 2 functions/);
  });

  it('rejects a new type error at typecheck, but not errors the original already had', async () => {
    const t = await target('src/stats.ts', 'uniqueSorted', [call([[3, 1, 2]])]);
    const r = await verify(t, 'function uniqueSorted(xs: readonly number[]): number[] {\n  return xs.length;\n}');
    rejected(r, 'typecheck', /TS2322: Type 'number' is not assignable to type 'number\[\]'/);
    assert.equal(r.stepMs.differential, undefined, 'stopped before the differential step');
  });

  it('rejects indexOf → Set (NaN found) at differential with the counterexample', async () => {
    const t = await target('src/list.js', 'hasValue', [call([[1, 2, 3], 2]), call([[1, Number.NaN], Number.NaN])]);
    const r = await verify(t, 'function hasValue(xs, x) {\n  return new Set(xs).has(x);\n}');
    rejected(r, 'differential', /differs from the original on recorded call #1: the result: false vs true/);
    assert.deepEqual(r.rejection!.counterexample, [[1, { __type: 'number', value: 'NaN' }], { __type: 'number', value: 'NaN' }]);
  });

  it('finds the NaN difference from generated inputs alone when the recorded numbers are floats', async () => {
    const t = await target('src/list.js', 'hasValue', [call([[1.5, 2.5, 3.25], 2.5]), call([[0.1, 0.2], 0.3])]);
    const r = await verify(t, 'function hasValue(xs, x) {\n  return new Set(xs).has(x);\n}', { generatedInputs: 200 });
    rejected(r, 'differential', /differs from the original on generated input #\d+: the result: false vs true/);
    assert.match(JSON.stringify(r.rejection!.counterexample), /NaN/);
  });

  it('rejects a candidate that mutates its argument where the original does not', async () => {
    const t = await target('src/list.js', 'normalise', [call([[3, 1, 2]])]);
    const r = await verify(t, 'function normalise(xs) {\n  return xs.sort((a, b) => a - b);\n}');
    rejected(r, 'differential', /recorded call #0: argument 0 after the call\[0\]: 3 vs 1 \(the candidate changes its arguments differently\)/);
  });

  it('rejects at determinism when the original depends on Math.random()', async () => {
    const t = await target('src/list.js', 'pick', [call([[1, 2, 3, 4, 5, 6, 7, 8, 9, 10]])]);
    const r = await verify(t, 'function pick(xs) {\n  return xs[0];\n}');
    rejected(r, 'determinism', /^non-deterministic: the original gave different results on two runs of /);
    assert.ok(r.rejection!.counterexample !== undefined);
  });

  it('rejects a candidate equal on recorded and generated inputs that fails a workspace test', async () => {
    const t = await target('src/list.js', 'titleCase', [call(['hello world']), call(['a tale of two cities'])]);
    const r = await verify(t, "function titleCase(s) {\n  return s\n    .split(' ')\n    .map((w) => (w ? w[0].toUpperCase() + w.slice(1).toLowerCase() : w))\n    .join(' ');\n}");
    rejected(r, 'tests', /fails with the candidate and passes with the original: test\/list\.test\.js#title-cases words but not brand names/);
    assert.ok(r.inputsCompared.generated > 0);
    assert.ok(r.testsRun >= 1 && r.testsPassed < r.testsRun, JSON.stringify(r));
  });

  it('rejects an equivalent candidate that is not faster at benchmark', async () => {
    const t = await target('src/list.js', 'countCommon', commonSamples());
    const r = await verify(t, 'function countCommon(left, right) {\n  let count = 0;\n  for (const item of left) if (right.includes(item)) count++;\n  return count;\n}');
    rejected(r, 'benchmark', /^not faster enough: /);
    assert.ok(r.speedup !== undefined && r.speedupLow !== undefined && r.speedupHigh !== undefined);
  });

  it('kills an infinite loop at the time limit and says so', async () => {
    const t = await target('src/list.js', 'countCommon', commonSamples());
    const t0 = performance.now();
    const r = await verify(t, 'function countCommon(a, b) {\n  for (;;) {}\n}', { differentialSeconds: 3 });
    rejected(r, 'differential', /^the candidate did not finish on recorded call #0 within the time limit \(3 s; an infinite loop\?\)/);
    assert.ok(performance.now() - t0 < 10_000);
  });

  it('reports a candidate that exhausts memory', async () => {
    const t = await target('src/list.js', 'countCommon', commonSamples());
    const r = await verify(t, 'function countCommon(a, b) {\n  const keep = [];\n  for (;;) keep.push(new Array(1000).fill(a.length));\n}', { memoryMb: 64, differentialSeconds: 20 });
    rejected(r, 'differential', /^the candidate ran out of memory on recorded call #0 \(heap limit 64 MB\)/);
  });

  it('rejects a candidate that writes a file or sets a global, and one that throws', async () => {
    const t = await target('src/list.js', 'countCommon', commonSamples());
    const writes = await verify(t, setVersion.replace('{\n', "{\n  require('fs').writeFileSync('crucible-was-here.txt', 'x');\n"));
    rejected(writes, 'differential', /^the candidate writes files: it creates crucible-was-here\.txt/);
    assert.equal(existsSync(path.join(ws, 'crucible-was-here.txt')), false);
    const global = await verify(t, setVersion.replace('return n;', 'globalThis.lastCount = n;\n  return n;'));
    rejected(global, 'differential', /^the candidate adds globalThis\.lastCount/);
    const throws = await verify(t, 'function countCommon(a, b) {\n  throw new TypeError("nope");\n}');
    rejected(throws, 'differential', /recorded call #0: the original returned \d+, the candidate threw TypeError "nope"/);
  });

  it('generates inputs from parameter names and annotations when nothing was recorded', () => {
    const g = generateInputs([], [{ name: 'xs', rest: false, optional: false }, { name: 'n', type: 'number', rest: false, optional: false }], 20);
    assert.ok(g.inputs.length > 5);
    for (const args of g.inputs) assert.ok(Array.isArray(args[0]) && args.length === 2);
    const none = generateInputs([], [{ name: 'thing', rest: false, optional: false }], 20);
    assert.equal(none.inputs.length, 0);
    assert.match(none.note!, /parameter `thing` could not be inferred/);
  });

  it('verifies on generated inputs only when no call was recorded (and says so)', async () => {
    const t = await target('src/stats.ts', 'uniqueSorted');
    const r = await verify(t, 'function uniqueSorted(xs: readonly number[]): number[] {\n  return [...new Set(xs)].sort((a, b) => b - a);\n}');
    rejected(r, 'differential', /generated input #\d+: the result/);
    assert.ok(r.notes.some((n) => /^generated only/.test(n)), JSON.stringify(r.notes));
  });

  it('swaps and restores files in the scratch copy only', async () => {
    const s = await createScratchWorkspace(ws);
    try {
      assert.ok(existsSync(path.join(s.dir, 'src/list.js')));
      assert.equal(realpathSync(path.join(s.dir, 'node_modules')), realpathSync(repoModules));
      s.swap('src/list.js', 'changed');
      assert.equal(readFileSync(path.join(s.dir, 'src/list.js'), 'utf8'), 'changed');
      s.restore('src/list.js');
      assert.equal(readFileSync(path.join(s.dir, 'src/list.js'), 'utf8'), readFileSync(path.join(ws, 'src/list.js'), 'utf8'));
      assert.throws(() => s.swap('../outside.js', 'x'), /outside the workspace/);
    } finally {
      s.dispose();
    }
    assert.equal(existsSync(s.dir), false);
    assert.ok(existsSync(repoModules), 'disposing removed the link, not the modules');
  });

  it('left the user’s workspace byte-identical', () => {
    assert.deepEqual(hashTree(ws), original);
  });
});
