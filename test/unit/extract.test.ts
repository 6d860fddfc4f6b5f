import * as assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { extractFile, type ArtifactRecord } from '../../server/src/index/extract';
import { languageForPath, loadParsers, type Parsers } from '../../server/src/index/languages';

const fixtures = path.join(__dirname, '..', 'fixtures', 'extract');
let parsers: Parsers;

function extract(file: string, text = readFileSync(path.join(fixtures, file), 'utf8')) {
  return extractFile(parsers, file, languageForPath(file)!, text);
}
function byId(artifacts: ArtifactRecord[]): Map<string, ArtifactRecord> {
  return new Map(artifacts.map((a) => [a.id, a]));
}
/** 0-based line of the first occurrence of `needle` in a fixture. */
function lineOf(file: string, needle: string): number {
  const lines = readFileSync(path.join(fixtures, file), 'utf8').split('\n');
  const i = lines.findIndex((l) => l.includes(needle));
  assert.ok(i >= 0, `${needle} not in ${file}`);
  return i;
}

describe('artifact extraction', () => {
  before(async () => {
    parsers = await loadParsers();
  });

  it('maps file extensions to grammars and skips declaration files', () => {
    assert.equal(languageForPath('a/b.ts'), 'typescript');
    assert.equal(languageForPath('x.mts'), 'typescript');
    assert.equal(languageForPath('x.tsx'), 'tsx');
    assert.equal(languageForPath('x.cjs'), 'javascript');
    assert.equal(languageForPath('x.mjs'), 'javascript');
    assert.equal(languageForPath('x.jsx'), 'javascript');
    assert.equal(languageForPath('x.py'), 'python');
    assert.equal(languageForPath('types.d.ts'), undefined);
    assert.equal(languageForPath('README.md'), undefined);
  });

  it('finds TypeScript functions, arrow and function expressions, classes, methods and object methods', () => {
    const { artifacts, parseErrors } = extract('shapes.ts');
    assert.equal(parseErrors, 0);
    const got = artifacts.map((a) => `${a.id} ${a.kind}`);
    assert.deepEqual(got, [
      'shapes.ts#add function',
      'shapes.ts#double function',
      'shapes.ts#format function',
      'shapes.ts#Cart class',
      'shapes.ts#Cart.get size method',
      'shapes.ts#Cart.create method',
      'shapes.ts#Cart.addItem method',
      'shapes.ts#Cart.onChange method',
      'shapes.ts#api.get method',
      'shapes.ts#api.put method',
    ]);
    const a = byId(artifacts);
    assert.deepEqual(a.get('shapes.ts#add')!.signature, ['a', 'b', '...rest']);
    assert.deepEqual(a.get('shapes.ts#format')!.signature, ['{ amount }', 'currency']);
    assert.equal(a.get('shapes.ts#add')!.doc, 'Sums two numbers.');
    assert.equal(a.get('shapes.ts#double')!.doc, 'Doubles a number.');
    assert.equal(a.get('shapes.ts#Cart.get size')!.doc, 'Number of items.');
    assert.equal(a.get('shapes.ts#Cart.addItem')!.parent, 'shapes.ts#Cart');
    assert.equal(a.get('shapes.ts#add')!.language, 'typescript');
  });

  it('reports ranges as 0-based LSP positions covering the declaration', () => {
    const add = byId(extract('shapes.ts').artifacts).get('shapes.ts#add')!;
    const start = lineOf('shapes.ts', 'export function add');
    assert.deepEqual(add.range.start, { line: start, character: 'export '.length });
    assert.equal(add.range.end.line, start + 2);
    assert.deepEqual(add.selectionRange, { start: { line: start, character: 16 }, end: { line: start, character: 19 } });
    const cart = byId(extract('shapes.ts').artifacts).get('shapes.ts#Cart')!;
    assert.equal(cart.range.start.line, lineOf('shapes.ts', 'export class Cart'));
    assert.equal(cart.range.end.line, lineOf('shapes.ts', 'export const api') - 2);
  });

  it('records callee names and keeps test plumbing out of them', () => {
    const a = byId(extract('shapes.ts').artifacts);
    assert.deepEqual(a.get('shapes.ts#add')!.calls, ['double']);
    assert.deepEqual(a.get('shapes.ts#Cart.addItem')!.calls, ['push', 'add']);
    assert.deepEqual(a.get('shapes.ts#Cart.create')!.calls, ['Cart'], 'new Cart() is a call of the class');
    const t = byId(extract('cart.test.js').artifacts);
    assert.ok(!t.get('cart.test.js#cart')!.calls.includes('it'));
    assert.ok(!t.get('cart.test.js#cart')!.calls.includes('skip'), 'it.skip is not a call of skip');
  });

  it('finds TSX components', () => {
    const ids = extract('view.tsx').artifacts.map((a) => `${a.id} ${a.kind} ${a.language}`);
    assert.deepEqual(ids, ['view.tsx#Price function tsx', 'view.tsx#List function tsx']);
  });

  it('handles CommonJS exports and prototype methods', () => {
    const got = extract('legacy.cjs').artifacts.map((a) => `${a.id} ${a.kind}`);
    assert.deepEqual(got, ['legacy.cjs#total function', 'legacy.cjs#average function', 'legacy.cjs#max function', 'legacy.cjs#Shape function', 'legacy.cjs#Shape.area method', 'legacy.cjs#Shape.describe method']);
    assert.equal(byId(extract('legacy.cjs').artifacts).get('legacy.cjs#total')!.doc, 'Total of a list.');
  });

  it('takes this.x = function in a constructor for a method of the class, not of the constructor', () => {
    const src = [
      'class Renderer {',
      '  constructor(gl) {',
      '    this.gl = gl;',
      '    this.render = function (scene, camera) { return draw(scene, camera); };',
      '    this.clear = () => gl.clear();',
      '  }',
      '  size() { this.later = function () {}; return 1; }',
      '}',
      'const free = function () { this.notAMethod = () => 1; };',
    ].join('\n');
    const got = extractFile(parsers, 'r.js', 'javascript', src).artifacts.map((a) => `${a.id} ${a.kind} (${a.signature.join(',')})`);
    assert.deepEqual(got, [
      'r.js#Renderer class ()',
      'r.js#Renderer.constructor method (gl)',
      'r.js#Renderer.render method (scene,camera)',
      'r.js#Renderer.clear method ()',
      'r.js#Renderer.size method ()',
      'r.js#free function ()',
      'r.js#free.notAMethod method ()',
    ]);
  });

  it('handles ESM generators, default-exported classes and private fields', () => {
    const got = extract('modern.mjs').artifacts.map((a) => `${a.id} ${a.kind}`);
    assert.deepEqual(got, ['modern.mjs#pages function', 'modern.mjs#Queue class', 'modern.mjs#Queue.push method', 'modern.mjs#Queue.pop method']);
  });

  it('finds mocha suites and tests with nested titles, including skipped ones', () => {
    const tests = extract('cart.test.js').artifacts.filter((a) => a.kind === 'test' || a.kind === 'suite');
    assert.deepEqual(
      tests.map((a) => `${a.kind}: ${a.qualifiedName}`),
      ['suite: cart', 'suite: cart > adding', 'test: cart > adding > adds two numbers', 'test: cart > adding > skipped but still a test', 'test: cart > has a top-level test'],
    );
    assert.equal(tests[2].parent, 'cart.test.js#cart > adding');
    assert.equal(tests[2].selectionRange.start.line, lineOf('cart.test.js', "it('adds two numbers'"));
  });

  it('tells vitest, jest and node:test files apart by their imports', () => {
    const vi = extract('math.spec.ts').artifacts;
    assert.deepEqual(vi.map((a) => `${a.kind} ${a.qualifiedName} ${a.framework}`), ['suite math vitest', 'test math > add vitest', 'test math > table %i vitest']);
    assert.deepEqual(extract('jest.test.ts').artifacts.map((a) => `${a.kind} ${a.name} ${a.framework}`), ['test works with jest jest', 'test doubles %i to %i jest']);
    assert.deepEqual(extract('nodetest.test.ts').artifacts.map((a) => `${a.kind} ${a.name} ${a.framework}`), ['test node test node:test']);
  });

  it('does not take it/test calls in ordinary source files for tests', () => {
    const src = "function it(x, f) { return f(x); }\nit('looks like a test', () => 1);\n";
    const got = extractFile(parsers, 'src/util.ts', 'typescript', src).artifacts.map((a) => a.kind);
    assert.deepEqual(got, ['function']);
  });

  it('finds Python functions, classes, methods (with decorators), nested functions and docstrings', () => {
    const { artifacts } = extract('inventory.py');
    assert.deepEqual(
      artifacts.map((a) => `${a.id} ${a.kind}`),
      [
        'inventory.py#restock function',
        'inventory.py#normalize function',
        'inventory.py#Ledger class',
        'inventory.py#Ledger.__init__ method',
        'inventory.py#Ledger.available method',
        'inventory.py#Ledger.empty method',
        'inventory.py#Ledger.empty.build function',
      ],
    );
    const a = byId(artifacts);
    assert.deepEqual(a.get('inventory.py#restock')!.signature, ['levels', 'sku', 'amount', '*extra', '**options']);
    assert.deepEqual(a.get('inventory.py#Ledger.available')!.signature, ['sku'], 'self is not a parameter a caller passes');
    assert.equal(a.get('inventory.py#restock')!.doc, 'Add stock for a SKU.');
    assert.equal(a.get('inventory.py#Ledger')!.doc, 'A ledger of reservations.');
    assert.deepEqual(a.get('inventory.py#restock')!.calls, ['get', 'normalize']);
    assert.equal(a.get('inventory.py#Ledger.available')!.range.start.line, lineOf('inventory.py', '@functools.lru_cache'), 'decorators are part of the range');
  });

  it('finds pytest tests: test_* functions and test_* methods of Test* classes', () => {
    const got = extract('test_inventory.py').artifacts.map((a) => `${a.kind} ${a.qualifiedName} ${a.framework ?? '-'}`);
    assert.deepEqual(got, ['test test_restock_adds pytest', 'suite TestLedger pytest', 'test TestLedger > test_available pytest', 'method TestLedger > helper -']);
    const notTests = extract('inventory.py').artifacts.filter((a) => a.kind === 'test');
    assert.equal(notTests.length, 0);
  });

  it('indexes a file with syntax errors as far as it parses and counts the errors', () => {
    const { artifacts, parseErrors } = extract('broken.ts');
    assert.ok(parseErrors > 0);
    assert.ok(artifacts.some((a) => a.id === 'broken.ts#good'), 'the function before the error is indexed');
  });

  it('gives every artifact of a file a distinct id, even for duplicate names', () => {
    const src = 'function f() { return 1 }\nfunction f() { return 2 }\n';
    const ids = extractFile(parsers, 'dup.js', 'javascript', src).artifacts.map((a) => a.id);
    assert.deepEqual(ids, ['dup.js#f', 'dup.js#f~2']);
  });

  describe('content hash', () => {
    const original = readFileSync(path.join(fixtures, 'shapes.ts'), 'utf8');
    const hashes = (text: string) => new Map(extractFile(parsers, 'shapes.ts', 'typescript', text).artifacts.map((a) => [a.id, a.hash]));

    it('is stable under reformatting: indentation, line breaks, comments, semicolons, trailing commas', () => {
      const reformatted = original
        .replace(/^ {2}/gm, '\t')
        .replace(/return double\(a\) \+ b \+ rest.length;/, 'return double(a)\n      + b // plus b\n      + rest.length')
        .replace(/this\.items\.push\(sku\);/, '/* keep */ this.items.push( sku )')
        .replace(/put: \(value: number\) => double\(value\),/, 'put: (value: number) => double(value)');
      assert.notEqual(reformatted, original);
      assert.deepEqual(hashes(reformatted), hashes(original));
    });

    it('changes for the edited artifact and its container only', () => {
      const before = hashes(original);
      const after = hashes(original.replace('this.items.push(sku);', 'this.items.unshift(sku);'));
      const changed = [...before.keys()].filter((id) => before.get(id) !== after.get(id));
      assert.deepEqual(changed, ['shapes.ts#Cart', 'shapes.ts#Cart.addItem']);
    });

    it('keeps string contents significant', () => {
      const a = extractFile(parsers, 's.ts', 'typescript', "function s() { return 'a  b' }").artifacts[0].hash;
      const b = extractFile(parsers, 's.ts', 'typescript', "function s() { return 'a b' }").artifacts[0].hash;
      assert.notEqual(a, b);
    });

    it('keeps Python block structure significant', () => {
      const a = extractFile(parsers, 'p.py', 'python', 'def f(a):\n    if a:\n        g()\n    h()\n').artifacts[0].hash;
      const b = extractFile(parsers, 'p.py', 'python', 'def f(a):\n    if a:\n        g()\n        h()\n').artifacts[0].hash;
      const c = extractFile(parsers, 'p.py', 'python', 'def f(a):\n  # comment\n  if a:\n      g()\n  h()\n').artifacts[0].hash;
      assert.notEqual(a, b);
      assert.equal(a, c);
    });
  });
});
