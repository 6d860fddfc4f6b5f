import * as assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { transformSync } from 'esbuild';
import { extractFile } from '../../server/src/index/extract';
import { loadParsers, type Parsers } from '../../server/src/index/languages';
import type { ArtifactLanguage } from '../../server/src/protocol';
import { ruleAgents } from '../../server/src/optimize/rules';
import { isCandidate, type Proposal } from '../../server/src/agents/contract';
import type { OptimizeAgent, OptimizeTarget } from '../../server/src/optimize/types';

const demo = path.join(__dirname, '..', '..', 'examples', 'demo-shop');
let parsers: Parsers;

function agent(id: string): OptimizeAgent {
  const a = ruleAgents().find((r) => r.id === `rule:${id}`);
  assert.ok(a, `no agent rule:${id}`);
  return a;
}

/** A target whose file is just the function (at line 0, column 0) unless a file text is given. */
function targetFor(code: string, language: ArtifactLanguage = 'typescript', fileText = code): OptimizeTarget {
  const at = fileText.indexOf(code);
  const before = fileText.slice(0, at).split('\n');
  const lines = code.split('\n');
  const start = { line: before.length - 1, character: before[before.length - 1]!.length };
  const end = { line: start.line + lines.length - 1, character: (lines.length === 1 ? start.character : 0) + lines[lines.length - 1]!.length };
  return { id: `t.ts#f`, file: 't.ts', qualifiedName: 'f', name: 'f', kind: 'function', language, range: { start, end }, code, fileText, hash: 'h' };
}

async function propose(id: string, code: string, language: ArtifactLanguage = 'typescript', fileText?: string): Promise<Proposal> {
  const out = await agent(id).propose(targetFor(code, language, fileText));
  assert.equal(out.length, 1);
  return out[0]!;
}

async function candidate(id: string, code: string, language: ArtifactLanguage = 'typescript', fileText?: string): Promise<string> {
  const p = await propose(id, code, language, fileText);
  assert.ok(isCandidate(p), `expected a candidate from ${id}, got: ${'reason' in p ? p.reason : ''}`);
  return p.code;
}

async function declines(id: string, code: string, reason: RegExp, language: ArtifactLanguage = 'typescript', fileText?: string): Promise<void> {
  const p = await propose(id, code, language, fileText);
  assert.ok(!isCandidate(p), `expected ${id} to decline, got:\n${isCandidate(p) ? p.code : ''}`);
  assert.match(p.reason, reason);
}

/** Compiles a declaration (plus context) with esbuild and returns the named function. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
function compile(code: string, name: string, context = ''): (...args: any[]) => any {
  const decl = /^(async\s+)?function\b/.test(code) ? code : `const ${code};`;
  const js = transformSync(`${context}\n${decl}\nmodule.exports = ${name};`, { loader: 'ts', format: 'cjs' }).code;
  const module = { exports: {} as unknown };
  new Function('module', 'exports', js)(module, module.exports);
  return module.exports as never;
}

/** Original and candidate give the same result (or the same error) on every input. */
function sameBehaviour(original: string, rewritten: string, name: string, inputs: unknown[][], context = ''): void {
  const f = compile(original, name, context);
  const g = compile(rewritten, name, context);
  for (const args of inputs) {
    const run = (h: typeof f) => {
      try {
        return { value: h(...structuredClone(args)) };
      } catch (err) {
        return { error: (err as Error).constructor.name };
      }
    };
    assert.deepEqual(run(g), run(f), `differs on ${JSON.stringify(args)}:\n${rewritten}`);
  }
}

/** Same for functions whose results have prototypes that matter (compares own keys, values and the prototype). */
function describeObject(o: object): unknown {
  return { proto: Object.getPrototypeOf(o) === Object.prototype ? 'Object.prototype' : String(Object.getPrototypeOf(o)), keys: Reflect.ownKeys(o).map(String), values: Reflect.ownKeys(o).map((k) => String((o as Record<PropertyKey, unknown>)[k])) };
}

function bestOf(runs: number, f: () => void): number {
  let best = Infinity;
  for (let i = 0; i < runs; i++) {
    const t = process.hrtime.bigint();
    f();
    best = Math.min(best, Number(process.hrtime.bigint() - t));
  }
  return best;
}

describe('rule agents', () => {
  before(async () => {
    parsers = await loadParsers();
  });

  it('exports at least eight rule agents with distinct ids, descriptions and conditions', () => {
    const agents = ruleAgents();
    assert.ok(agents.length >= 8);
    assert.equal(new Set(agents.map((a) => a.id)).size, agents.length);
    for (const a of agents) {
      assert.match(a.id, /^rule:[a-z-]+$/);
      assert.equal(a.kind, 'rule');
      assert.ok(a.description.length > 20 && a.conditions.length > 40, a.id);
      assert.deepEqual([...a.languages].sort(), ['javascript', 'tsx', 'typescript']);
    }
  });

  it('declines Python and text that is not a function', async () => {
    const out = await agent('set-membership').propose({ ...targetFor('def f(x):\n    return x'), language: 'python' });
    assert.ok(!isCandidate(out[0]!));
    await declines('set-membership', 'function f(xs: number[]) { return xs.length; }', /no `arr.includes/);
  });

  describe('memoize-recursion', () => {
    const fib = 'function fib(n: number): number {\n  if (n < 2) return n;\n  return fib(n - 1) + fib(n - 2);\n}';

    it('memoises a pure recursion and keeps its results', async () => {
      const code = await candidate('memoize-recursion', fib);
      sameBehaviour(fib, code, 'fib', [[0], [1], [2], [10], [20], [-3], [2.5], [NaN]]);
      const fast = compile(code, 'fib');
      assert.equal(fast(90), compile(fib, 'fib')(20) * 0 + 2880067194370816000);
    });

    it('keys on every changing argument and keeps pass-through ones and defaults (JS, arrow)', async () => {
      const ways = 'ways = (n, coins, k = 0) => n === 0 ? 1 : n < 0 || k >= coins.length ? 0 : ways(n - coins[k], coins, k) + ways(n, coins, k + 1)';
      const code = await candidate('memoize-recursion', ways, 'javascript');
      assert.doesNotMatch(code, /: number/);
      sameBehaviour(ways, code, 'ways', [[0, [1]], [7, [2, 3]], [12, [2, 3, 6]], [40, [1, 5, 10, 20]], [10, [1, 2], 1], [5, []]]);
    });

    it('uses string keys that cannot collide for string arguments', async () => {
      const lcs = "function lcs(a: string, b: string): number {\n  if (a === '' || b === '') return 0;\n  if (a[0] === b[0]) return 1 + lcs(a.slice(1), b.slice(1));\n  return Math.max(lcs(a.slice(1), b), lcs(a, b.slice(1)));\n}";
      const code = await candidate('memoize-recursion', lcs);
      assert.match(code, /JSON\.stringify/);
      sameBehaviour(lcs, code, 'lcs', [['', 'x'], ['abc', 'abc'], ['a,b', 'ab,'], ['kitten', 'sitting'], ['"1","', '1","']]);
    });

    it('declines impure, linear, object-keyed and untyped recursions', async () => {
      await declines('memoize-recursion', 'function f(n: number): number {\n  console.log(n);\n  return n <= 0 ? 0 : f(n - 1) + f(n - 2);\n}', /calls console\.log/);
      await declines('memoize-recursion', 'function fact(n: number): number {\n  return n <= 1 ? 1 : n * fact(n - 1);\n}', /one recursive call outside a loop/);
      await declines('memoize-recursion', 'function f(o: { n: number }): number {\n  return o.n <= 1 ? 1 : f({ n: o.n - 1 }) + f({ n: o.n - 2 });\n}', /may not be a primitive/);
      await declines('memoize-recursion', 'function f(n: number) {\n  return n <= 1 ? 1 : f(n - 1) + f(n - 2);\n}', /return type/);
      await declines('memoize-recursion', 'let calls = 0;\nfunction f(n: number): number {\n  calls++;\n  return n <= 1 ? 1 : f(n - 1) + f(n - 2);\n}'.split('\n').slice(1).join('\n'), /not local/);
    });
  });

  describe('set-membership', () => {
    it('builds the Set once and keeps SameValueZero (NaN, -0) behaviour', async () => {
      const src = 'function keep(xs: number[], allowed: number[]): number[] {\n  return xs.filter((x) => allowed.includes(x));\n}';
      const code = await candidate('set-membership', src);
      assert.match(code, /const allowedSet = new Set\(allowed\);/);
      sameBehaviour(src, code, 'keep', [[[1, 2, NaN, -0, 3], [NaN, 0, 3]], [[], [1]], [[1], []]]);
    });

    it('works in an expression-bodied arrow and in statement loops', async () => {
      const arrow = 'pick = (xs: string[], ok: string[]): string[] => xs.filter((x) => ok.includes(x))';
      const code = await candidate('set-membership', arrow);
      assert.match(code, /return xs\.filter/);
      sameBehaviour(arrow, code, 'pick', [[['a', 'b', 'c'], ['c', 'a']], [[], []]]);
      const loop = 'function count(xs: string[], ok: string[]): number {\n  let n = 0;\n  for (const x of xs) {\n    if (ok.includes(x)) n++;\n  }\n  return n;\n}';
      sameBehaviour(loop, await candidate('set-membership', loop), 'count', [[['a', 'b', 'a'], ['a']], [[], ['a']]]);
    });

    it('declines strings (substring test), arrays changed in the loop, and fromIndex', async () => {
      await declines('set-membership', 'function f(xs: string[], text: string) {\n  return xs.filter((x) => text.includes(x));\n}', /String#includes/);
      await declines('set-membership', 'function f(xs: number[], seen: number[]) {\n  for (const x of xs) if (!seen.includes(x)) seen.push(x);\n  return seen;\n}', /changed inside the loop/);
      await declines('set-membership', 'function f(xs: number[], a: number[]) {\n  return xs.filter((x) => a.includes(x, 1));\n}', /fromIndex/);
    });
  });

  describe('indexof-to-set', () => {
    const dedupe = 'function dedupe(xs: number[]): number[] {\n  const out: number[] = [];\n  for (const x of xs) {\n    if (out.indexOf(x) === -1) out.push(x);\n  }\n  return out;\n}';

    it('keeps every NaN (strict equality) while deduping the rest', async () => {
      const code = await candidate('indexof-to-set', dedupe);
      assert.match(code, /Number\.isNaN\(x\)/);
      sameBehaviour(dedupe, code, 'dedupe', [[[1, 2, 1, NaN, NaN, 0, -0, 3]], [[]], [[NaN]]]);
      const n = 20000;
      const big = Array.from({ length: n }, (_, i) => i % 5000);
      const slow = compile(dedupe, 'dedupe');
      const fast = compile(code, 'dedupe');
      assert.ok(bestOf(3, () => fast(big)) < bestOf(1, () => slow(big)));
    });

    it('handles `!== -1`, `< 0` and includes (SameValueZero) forms', async () => {
      const src = 'function f(xs) {\n  const seen = [];\n  let dup = 0;\n  for (const x of xs) {\n    if (seen.indexOf(x) !== -1) dup++;\n    if (seen.indexOf(x) < 0 && !seen.includes(x)) seen.push(x);\n  }\n  return [seen, dup];\n}';
      const code = await candidate('indexof-to-set', src, 'javascript');
      sameBehaviour(src, code, 'f', [[[1, 1, NaN, NaN, 'a', 'a', 0, -0]], [[]]]);
    });

    it('declines when the position is used or the array is used otherwise', async () => {
      await declines('indexof-to-set', 'function f(xs: number[]) {\n  const out: number[] = [];\n  for (const x of xs) if (out.indexOf(x) > 2) out.push(x);\n  return out;\n}', /position/);
      await declines('indexof-to-set', 'function f(xs: number[]) {\n  const out: number[] = [];\n  for (const x of xs) { if (out.indexOf(x) === -1) out.push(x); out.sort(); }\n  return out;\n}', /not mirrored|other than/);
      await declines('indexof-to-set', 'function f(xs: number[], out: number[]) {\n  for (const x of xs) if (out.indexOf(x) === -1) out.push(x);\n  return out;\n}', /empty array literal/);
    });
  });

  describe('find-to-map', () => {
    const merge =
      'function merge(first: { k: unknown; n: number }[], more: { k: unknown; n: number }[]) {\n  const lines = first.map((l) => ({ ...l }));\n  for (const x of more) {\n    const hit = lines.find((l) => l.k === x.k);\n    if (hit) hit.n += x.n;\n    else lines.push({ ...x });\n  }\n  return lines;\n}';

    it('looks up the first element with the key, stays in sync with push, never matches NaN', async () => {
      const code = await candidate('find-to-map', merge);
      assert.match(code, /new Map/);
      const a = { k: 'a', n: 1 };
      sameBehaviour(merge, code, 'merge', [
        [[a, { k: 'a', n: 5 }, { k: 'b', n: 2 }], [{ k: 'a', n: 1 }, { k: 'c', n: 1 }, { k: 'c', n: 1 }]],
        [[{ k: NaN, n: 1 }], [{ k: NaN, n: 1 }, { k: 0, n: 1 }, { k: -0, n: 1 }]],
        [[], []],
      ]);
    });

    it('declines when the key property is assigned in the loop or the callback is not a key match', async () => {
      await declines('find-to-map', merge.replace('if (hit) hit.n += x.n;', 'if (hit) hit.k = x.n;'), /key property is assigned|changed inside/);
      await declines('find-to-map', merge.replace('l.k === x.k', 'l.k == x.k'), /not `\(e\) => e\.k === key`/);
    });
  });

  describe('hoist-invariant', () => {
    it('hoists a RegExp and string transforms with invariant operands', async () => {
      const src =
        "function search(names: string[], query: string): string[] {\n  const out: string[] = [];\n  for (const name of names) {\n    const re = new RegExp('^' + query.trim(), 'i');\n    if (re.test(name) || name === query.toLowerCase()) out.push(name);\n  }\n  return out;\n}";
      const code = await candidate('hoist-invariant', src);
      assert.ok(code.indexOf('new RegExp') < code.indexOf('for ('), code);
      assert.ok(code.indexOf('query.toLowerCase()') < code.indexOf('for ('), code);
      sameBehaviour(src, code, 'search', [[['Apple', 'apricot', 'x'], ' ap '], [['ab'], 'ab'], [[], 'x']]);
    });

    it('never hoists a RegExp with the g or y flag, nor one that depends on the loop variable', async () => {
      await declines('hoist-invariant', "function f(xs: string[], q: string) {\n  return xs.filter((x) => new RegExp(q, 'g').test(x));\n}", /g or y flag/);
      await declines('hoist-invariant', "function f(xs: string[], q: string) {\n  return xs.filter((x) => new RegExp(x, 'i').test(q));\n}", /nothing loop-invariant/);
      await declines('hoist-invariant', 'function f(xs: string[], cfg: { q: string }) {\n  const out = [];\n  for (const x of xs) {\n    if (x === cfg.q.trim()) out.push(x);\n    cfg.q = x;\n  }\n  return out;\n}', /nothing loop-invariant/);
    });

    it('hoists calls of pure helpers of the same file, not of impure ones', async () => {
      const file = "function norm(s: string): string {\n  return s.trim().toLowerCase();\n}\nlet n = 0;\nfunction bump(s: string): string {\n  n++;\n  return s;\n}\nfunction f(xs: string[], q: string) {\n  return xs.filter((x) => norm(x) === norm(q));\n}\nfunction g(xs: string[], q: string) {\n  return xs.filter((x) => x === bump(q));\n}";
      const f = file.slice(file.indexOf('function f('), file.indexOf('\nfunction g('));
      const code = await candidate('hoist-invariant', f, 'typescript', file);
      assert.match(code, /const normed = norm\(q\);/);
      const g = file.slice(file.indexOf('function g('));
      await declines('hoist-invariant', g, /nothing loop-invariant/, 'typescript', file);
    });
  });

  describe('accumulate-in-place', () => {
    const assign = 'function levels(rows: { k: string; n: number }[]): Record<string, number> {\n  return rows.reduce<Record<string, number>>((acc, { k, n }) => Object.assign({}, acc, { [k]: (acc[k] ?? 0) + n }), {});\n}';
    const spread = 'function byKey(rows: { k: string; n: number }[]): Record<string, number> {\n  return rows.reduce<Record<string, number>>((acc, r) => ({ ...acc, [r.k]: (acc[r.k] ?? 0) + r.n }), {});\n}';
    const tricky = [
      [[{ k: 'a', n: 1 }, { k: 'b', n: 2 }, { k: 'a', n: 3 }, { k: '2', n: 1 }, { k: '1', n: 1 }]],
      [[{ k: '__proto__', n: 1 }, { k: 'constructor', n: 2 }, { k: '__proto__', n: 3 }, { k: 'toString', n: 1 }]],
      [[]],
    ];

    it('Object.assign copy → assignment (values are primitives, so __proto__ behaves the same)', async () => {
      const code = await candidate('accumulate-in-place', assign);
      assert.match(code, /acc\[k\] = \(acc\[k\] \?\? 0\) \+ n;/);
      for (const [rows] of tricky) assert.deepEqual(describeObject(compile(code, 'levels')(rows)), describeObject(compile(assign, 'levels')(rows)));
    });

    it('spread copy → own-property definition for __proto__, assignment otherwise', async () => {
      const code = await candidate('accumulate-in-place', spread);
      assert.match(code, /Object\.defineProperty/);
      for (const [rows] of tricky) assert.deepEqual(describeObject(compile(code, 'byKey')(rows)), describeObject(compile(spread, 'byKey')(rows)));
      const many = Array.from({ length: 2000 }, (_, i) => ({ k: `c${i % 1000}`, n: i }));
      assert.ok(bestOf(3, () => compile(code, 'byKey')(many)) < bestOf(1, () => compile(spread, 'byKey')(many)));
    });

    it('array copies → push', async () => {
      const src = 'function evens(xs) {\n  return xs.reduce((acc, x) => (x % 2 ? acc : [...acc, x, x * 10]), []);\n}';
      await declines('accumulate-in-place', src, /no reduce that copies/, 'javascript');
      const simple = 'function pairs(xs) {\n  return xs.reduce((acc, x) => [...acc, [x, x]], []);\n}';
      const code = await candidate('accumulate-in-place', simple, 'javascript');
      sameBehaviour(simple, code, 'pairs', [[[1, 2, 3]], [[]]]);
      const concat = 'function flat(xs) {\n  return xs.reduce((acc, x) => acc.concat([x]), []);\n}';
      sameBehaviour(concat, await candidate('accumulate-in-place', concat, 'javascript'), 'flat', [[[1, [2], 3]], [[]]]);
    });

    it('declines a shared initial value, concat of a non-literal, and object values under Object.assign', async () => {
      await declines('accumulate-in-place', 'function f(xs: string[], base: Record<string, number>) {\n  return xs.reduce((acc, x) => ({ ...acc, [x]: 1 }), base);\n}', /fresh empty literal/);
      await declines('accumulate-in-place', 'function f(xs) {\n  return xs.reduce((acc, x) => acc.concat(x), []);\n}', /concat flattens/, 'javascript');
      await declines('accumulate-in-place', 'function f(xs: { k: string }[]) {\n  return xs.reduce((acc, x) => Object.assign({}, acc, { [x.k]: x }), {});\n}', /may be an object/);
    });
  });

  describe('sort-to-extreme', () => {
    it('takes the first of ties for [0] and the last of ties for [length - 1]', async () => {
      const min = 'function cheapest(xs: { p: number; id: number }[]) {\n  const sorted = [...xs].sort((a, b) => a.p - b.p);\n  return sorted[0];\n}';
      const max = 'function priciest(xs: { p: number; id: number }[]) {\n  const sorted = xs.slice().sort((a, b) => a.p - b.p);\n  return sorted[sorted.length - 1];\n}';
      const desc = 'top = (xs: { p: number; id: number }[]) => [...xs].sort((a, b) => b.p - a.p)[0]';
      const inputs = [[[{ p: 3, id: 1 }, { p: 1, id: 2 }, { p: 1, id: 3 }, { p: 3, id: 4 }]], [[]], [[{ p: 5, id: 1 }]], [[{ p: -0, id: 1 }, { p: 0, id: 2 }]]];
      const c1 = await candidate('sort-to-extreme', min);
      assert.doesNotMatch(c1, /\.sort\(/);
      sameBehaviour(min, c1, 'cheapest', inputs);
      sameBehaviour(max, await candidate('sort-to-extreme', max), 'priciest', inputs);
      sameBehaviour(desc, await candidate('sort-to-extreme', desc), 'top', inputs);
    });

    it('declines comparators that are not a key difference, in-place sorts and other uses', async () => {
      await declines('sort-to-extreme', 'function f(xs: { p: number; q: string }[]) {\n  return [...xs].sort((a, b) => a.p - b.p || a.q.localeCompare(b.q))[0];\n}', /simple key difference/);
      await declines('sort-to-extreme', 'function f(xs: { p: number }[]) {\n  return xs.sort((a, b) => a.p - b.p)[0];\n}', /in place/);
      await declines('sort-to-extreme', 'function f(xs: { p: number }[]) {\n  const s = [...xs].sort((a, b) => a.p - b.p);\n  return [s[0], s[1]];\n}', /used other than once/);
      // Never moves the scan out of the callback it belongs to.
      await declines('sort-to-extreme', 'function f(ys: number[], xs: { p: number }[]) {\n  return ys.map((y) => [...xs].sort((a, b) => a.p - b.p)[0]);\n}', /no place/);
    });
  });

  describe('split-once', () => {
    it('splits once before the loop', async () => {
      const src = "function rows(text: string): string[] {\n  const out: string[] = [];\n  for (let i = 0; i < text.split('\\n').length; i++) {\n    const row = text.split('\\n')[i].trim();\n    if (row) out.push(row);\n  }\n  return out;\n}";
      const code = await candidate('split-once', src);
      assert.equal(code.match(/\.split\(/g)?.length, 1);
      sameBehaviour(src, code, 'rows', [['a\nb\n\nc'], [''], ['x\r\ny\r\n']]);
    });

    it('declines when the split result is changed or the string changes', async () => {
      await declines('split-once', "function f(text: string) {\n  let n = 0;\n  for (let i = 0; i < 3; i++) n += text.split(',').reverse().length;\n  return n;\n}", /changed or escapes/);
      await declines('split-once', "function f(text: string) {\n  for (let i = 0; i < text.split(',').length; i++) text = text.slice(1);\n  return text;\n}", /no `s\.split/);
    });
  });

  describe('own-key-check', () => {
    const src = "function tally(days: string[]): Record<string, number> {\n  const by: Record<string, number> = {};\n  for (const d of days) {\n    const day = d.slice(0, 10);\n    if (!Object.keys(by).includes(day)) by[day] = 0;\n    by[day] += 1;\n  }\n  return by;\n}";

    it('Object.keys(o).includes(k) → Object.hasOwn(o, k) for a local literal and string keys', async () => {
      const code = await candidate('own-key-check', src);
      assert.match(code, /Object\.hasOwn\(by, day\)/);
      sameBehaviour(src, code, 'tally', [[['2024-01-01T1', '2024-01-01T2', 'constructor', 'toString', '__proto__']], [[]]]);
    });

    it('declines when the key may not be a string or the object comes from outside', async () => {
      await declines('own-key-check', src.replace('const day = d.slice(0, 10);', 'const day = d.length;'), /is a string/);
      await declines('own-key-check', 'function f(o: Record<string, number>, k: string) {\n  return Object.keys(o).includes(k);\n}', /plain object literal/);
    });
  });

  describe('count-in-one-pass', () => {
    it('counts once in a Map; NaN keys count 0 as with ===', async () => {
      const src = 'function repeats(xs: { c: unknown }[], min: number) {\n  const out: unknown[] = [];\n  for (const x of xs) {\n    const n = xs.filter((o) => o.c === x.c).length;\n    if (n >= min) out.push(x.c);\n  }\n  return out;\n}';
      const code = await candidate('count-in-one-pass', src);
      sameBehaviour(src, code, 'repeats', [[[{ c: 'a' }, { c: 'b' }, { c: 'a' }, { c: NaN }, { c: NaN }, { c: 0 }, { c: -0 }], 1], [[{ c: 'a' }, { c: 'a' }], 2], [[], 1]]);
    });
  });

  describe('on the demo shop', function () {
    this.timeout(120000);
    const expected: [string, string, string][] = [
      ['catalog.ts', 'distinctPricePoints', 'indexof-to-set'],
      ['catalog.ts', 'cheapestInCategory', 'sort-to-extreme'],
      ['catalog.ts', 'searchByName', 'hoist-invariant'],
      ['cart.ts', 'mergeCarts', 'find-to-map'],
      ['cart.ts', 'dropUnavailable', 'set-membership'],
      ['pricing.ts', 'bestBundlePrice', 'memoize-recursion'],
      ['shipping.ts', 'countPackings', 'memoize-recursion'],
      ['inventory.ts', 'parseStockSheet', 'split-once'],
      ['inventory.ts', 'stockLevels', 'accumulate-in-place'],
      ['orders.ts', 'revenueByCustomer', 'accumulate-in-place'],
      ['orders.ts', 'dailyReport', 'own-key-check'],
      ['orders.ts', 'repeatCustomers', 'count-in-one-pass'],
      ['orders.ts', 'repeatCustomers', 'indexof-to-set'],
    ];
    const files = new Map<string, string>();
    const candidates = new Map<string, { file: string; text: string }>();

    function demoTarget(file: string, name: string): OptimizeTarget {
      const text = readFileSync(path.join(demo, 'src', file), 'utf8');
      files.set(file, text);
      const a = extractFile(parsers, `src/${file}`, 'typescript', text).artifacts.find((x) => x.name === name && x.kind === 'function')!;
      assert.ok(a, `${name} not found in ${file}`);
      const lines = text.split('\n');
      const off = (p: { line: number; character: number }) => lines.slice(0, p.line).reduce((s, l) => s + l.length + 1, 0) + p.character;
      return { id: a.id, file: a.file, qualifiedName: a.qualifiedName, name: a.name, kind: 'function', language: 'typescript', range: a.range, code: text.slice(off(a.range.start), off(a.range.end)), fileText: text, hash: a.hash };
    }

    /** The demo module with one function replaced, evaluated in-process (relative imports resolved to the other demo modules). */
    function loadDemo(override?: { file: string; target: OptimizeTarget; code: string }): Record<string, Record<string, (...a: never[]) => unknown>> {
      const cache: Record<string, { exports: Record<string, never> }> = {};
      const load = (file: string): Record<string, never> => {
        if (cache[file]) return cache[file].exports;
        let text = readFileSync(path.join(demo, 'src', file), 'utf8');
        if (override?.file === file) text = text.replace(override.target.code, override.code);
        const js = transformSync(text, { loader: 'ts', format: 'cjs' }).code;
        const module = { exports: {} as Record<string, never> };
        cache[file] = module;
        new Function('module', 'exports', 'require', js)(module, module.exports, (spec: string) => load(`${spec.replace('./', '')}.ts`));
        return module.exports;
      };
      const out: Record<string, Record<string, (...a: never[]) => unknown>> = {};
      for (const f of ['cart.ts', 'catalog.ts', 'pricing.ts', 'shipping.ts', 'inventory.ts', 'orders.ts']) out[f] = load(f);
      return out;
    }

    it('produces the expected candidates for the deliberate inefficiencies', async () => {
      for (const [file, name, rule] of expected) {
        const target = demoTarget(file, name);
        const [p] = await agent(rule).propose(target);
        assert.ok(p && isCandidate(p), `${rule} on ${name}: ${p && 'reason' in p ? p.reason : ''}`);
        candidates.set(`${file}#${name}#${rule}`, { file, text: p.code });
      }
    });

    it('candidates behave like the originals on the demo inputs and edge cases, and are faster', () => {
      const original = loadDemo();
      const swapped = (file: string, name: string, rule: string) => {
        const c = candidates.get(`${file}#${name}#${rule}`)!;
        return loadDemo({ file, target: demoTarget(file, name), code: c.text })[file]![name]! as (...a: unknown[]) => unknown;
      };
      const same = (file: string, name: string, rule: string, inputs: unknown[][]) => {
        const f = original[file]![name]! as (...a: unknown[]) => unknown;
        const g = swapped(file, name, rule);
        for (const args of inputs) assert.deepEqual(g(...structuredClone(args)), f(...structuredClone(args)), `${rule} on ${name} differs on ${JSON.stringify(args)}`);
        return { f, g };
      };
      const products = [
        { sku: 'MUG-001', name: 'Enamel Mug', category: 'Kitchen', priceCents: 1290, tags: [] },
        { sku: 'MUG-002', name: 'Stoneware Mug', category: 'Kitchen', priceCents: 1490, tags: [] },
        { sku: 'PAN-010', name: 'Cast Iron Pan (26cm)', category: 'kitchen', priceCents: 3990, tags: [] },
        { sku: 'TNT-200', name: 'Two-Person Tent', category: 'Outdoor', priceCents: 14900, tags: [] },
        { sku: 'LMP-050', name: 'Head Lamp', category: 'Outdoor', priceCents: 1290, tags: [] },
        { sku: 'TNT-201', name: 'Smug Cat Poster', category: 'Outdoor ', priceCents: 1290, tags: [] },
      ];
      const nanFeed = products.map((p, i) => ({ ...p, priceCents: i % 2 ? NaN : p.priceCents }));
      same('catalog.ts', 'distinctPricePoints', 'indexof-to-set', [[products], [nanFeed], [[]]]);
      same('catalog.ts', 'cheapestInCategory', 'sort-to-extreme', [[products, 'KITCHEN'], [products, 'outdoor'], [products, 'Garden']]);
      same('catalog.ts', 'searchByName', 'hoist-invariant', [[products, 'mug'], [products, '26cm)'], [products, ' LAMP '], [[], '(']]);
      const account = { customerId: 'c1', lines: [{ sku: 'A', quantity: 1, unitPriceCents: 100 }, { sku: 'B', quantity: 2, unitPriceCents: 50 }, { sku: 'A', quantity: 7, unitPriceCents: 90 }] };
      const guest = { customerId: 'guest-1', lines: [{ sku: 'A', quantity: 2, unitPriceCents: 1 }, { sku: 'C', quantity: 1, unitPriceCents: 5 }, { sku: 'C', quantity: 4, unitPriceCents: 6 }] };
      same('cart.ts', 'mergeCarts', 'find-to-map', [[account, guest], [account], [account, guest, guest]]);
      same('cart.ts', 'dropUnavailable', 'set-membership', [[account, ['A', 'C']], [account, []]]);
      const offers = [{ size: 1, priceCents: 100 }, { size: 3, priceCents: 270 }, { size: 6, priceCents: 500 }, { size: 0, priceCents: 1 }];
      const bundle = same('pricing.ts', 'bestBundlePrice', 'memoize-recursion', [[0, offers], [7, offers], [20, offers], [5, [{ size: 2, priceCents: 3 }]], [4, []]]);
      same('shipping.ts', 'countPackings', 'memoize-recursion', [[0, [2, 3]], [7, [2, 3]], [12, [2, 3, 6]], [5, [4]], [40, [1, 5, 10, 20]], [12, [2, 3, 6], 1], [12, [2, 3, 6], 3]]);
      const sheet = 'sku,warehouse,quantity\r\nA, W1 ,3\r\n\r\nB,W2,4\nA,W2,5\n';
      const parse = same('inventory.ts', 'parseStockSheet', 'split-once', [[sheet], ['sku,warehouse,quantity\n'], ['']]);
      const entries = [{ sku: 'A', warehouse: 'w', quantity: 1 }, { sku: 'B', warehouse: 'w', quantity: 2 }, { sku: 'A', warehouse: 'x', quantity: 3 }, { sku: 'constructor', warehouse: 'x', quantity: 3 }];
      const levels = same('inventory.ts', 'stockLevels', 'accumulate-in-place', [[entries], [[]]]);
      const orders = [
        { id: 'o1', customerId: 'ana', placedAt: '2024-03-01T09:15:00+01:00', totalCents: 4500, status: 'paid', skus: [] },
        { id: 'o2', customerId: 'ben', placedAt: '2024-03-01T17:40:00+01:00', totalCents: 14900, status: 'paid', skus: [] },
        { id: 'o3', customerId: 'ana', placedAt: '2024-03-02T08:05:00+01:00', totalCents: 1290, status: 'refunded', skus: [] },
        { id: 'o4', customerId: 'cem', placedAt: '2024-02-29T23:59:00+01:00', totalCents: 3990, status: 'paid', skus: [] },
        { id: 'o5', customerId: 'ana', placedAt: '2024-03-02T12:00:00+01:00', totalCents: 2580, status: 'paid', skus: [] },
        { id: 'o6', customerId: 'toString', placedAt: '2024-03-02T12:30:00+01:00', totalCents: 990, status: 'paid', skus: [] },
      ];
      const revenue = same('orders.ts', 'revenueByCustomer', 'accumulate-in-place', [[orders], [[]]]);
      const proto = [{ ...orders[0]!, customerId: '__proto__' }, { ...orders[1]!, customerId: '__proto__' }];
      assert.deepEqual(describeObject(revenue.g(proto) as object), describeObject(revenue.f(proto) as object));
      same('orders.ts', 'dailyReport', 'own-key-check', [[orders], [[]]]);
      same('orders.ts', 'repeatCustomers', 'count-in-one-pass', [[orders], [orders, 1], [orders, 3], [[]]]);
      same('orders.ts', 'repeatCustomers', 'indexof-to-set', [[orders], [orders, 1], [[]]]);

      // Faster where the README says it is slow.
      assert.ok(bestOf(3, () => bundle.g(30, offers)) * 5 < bestOf(1, () => bundle.f(30, offers)));
      const bigSheet = ['h', ...Array.from({ length: 3000 }, (_, i) => `S${i},W,${i}`)].join('\n');
      assert.ok(bestOf(3, () => parse.g(bigSheet)) * 5 < bestOf(1, () => parse.f(bigSheet)));
      const many = Array.from({ length: 5000 }, (_, i) => ({ sku: `S${i % 2000}`, warehouse: 'w', quantity: 1 }));
      assert.ok(bestOf(3, () => levels.g(many)) * 5 < bestOf(1, () => levels.f(many)));
    });

    it("all candidates typecheck under the demo shop's strict tsconfig", async () => {
      const dir = mkdtempSync(path.join(os.tmpdir(), 'crucible-rules-tsc-'));
      try {
        cpSync(demo, dir, { recursive: true });
        for (const [key, c] of candidates) {
          if (key === 'orders.ts#repeatCustomers#indexof-to-set') continue; // same function as count-in-one-pass
          const file = path.join(dir, 'src', c.file);
          const target = demoTarget(c.file, key.split('#')[1]!);
          const text = readFileSync(file, 'utf8');
          assert.ok(text.includes(target.code));
          writeFileSync(file, text.replace(target.code, c.text));
        }
        const tsc = require.resolve('typescript/bin/tsc');
        const types = path.join(__dirname, '..', '..', 'node_modules', '@types');
        await promisify(execFile)(process.execPath, [tsc, '-p', 'tsconfig.json', '--noEmit', '--typeRoots', types], { cwd: dir }).catch((err: { stdout?: string }) => {
          throw new Error(`typecheck failed:\n${err.stdout}`);
        });
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });

    it("the demo shop's own tests pass with each candidate swapped in", async () => {
      const tsx = pathToFileURL(require.resolve('tsx')).href;
      const run = promisify(execFile);
      // Each module's own test file (inventory and shipping are covered by fulfilment), two at a time.
      const testsOf: Record<string, string[]> = { 'catalog.ts': ['catalog'], 'cart.ts': ['cart'], 'pricing.ts': ['pricing'], 'shipping.ts': ['fulfilment'], 'inventory.ts': ['fulfilment'], 'orders.ts': ['orders'] };
      const queue = [...candidates.entries()];
      const worker = async () => {
        for (let next = queue.shift(); next; next = queue.shift()) await runOne(next);
      };
      const runOne = async ([key, c]: [string, { file: string; text: string }]) => {
        const name = key.split('#')[1]!;
        const dir = mkdtempSync(path.join(os.tmpdir(), 'crucible-rules-'));
        try {
          cpSync(demo, dir, { recursive: true });
          const target = demoTarget(c.file, name);
          writeFileSync(path.join(dir, 'src', c.file), target.fileText.replace(target.code, c.text));
          const tests = readdirSync(path.join(dir, 'test')).filter((f) => testsOf[c.file]!.some((t) => f === `${t}.test.ts`)).map((f) => path.join('test', f));
          assert.ok(tests.length > 0);
          await run(process.execPath, ['--import', tsx, '--test', ...tests], { cwd: dir }).catch((err: { stdout?: string }) => {
            throw new Error(`${key}: demo tests failed\n${err.stdout?.split('\n').filter((l) => /not ok|fail/i.test(l)).join('\n')}`);
          });
        } finally {
          rmSync(dir, { recursive: true, force: true });
        }
      };
      await Promise.all([worker(), worker()]);
    });
  });
});
