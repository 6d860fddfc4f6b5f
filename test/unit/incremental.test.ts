/**
 * Incremental re-extraction (an editor buffer being typed in) must give exactly what
 * a cold extraction of the same text gives: same artifacts, ids, ranges, hashes,
 * calls, docs, parse errors. Random edit sequences on every fixture and on a real
 * 1,000-line file check that, plus the cache's effect: unchanged chunks are reused.
 */
import * as assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import fc from 'fast-check';
import { ExtractionCache, extractFile, textEdit, type FileExtraction } from '../../server/src/index/extract';
import { languageForPath, loadParsers, type Parsers } from '../../server/src/index/languages';

const fixtures = path.join(__dirname, '..', 'fixtures', 'extract');
const realFile = path.join(__dirname, '..', '..', 'node_modules', 'three', 'src', 'renderers', 'webgl', 'WebGLProgram.js');
let parsers: Parsers;

function cold(file: string, text: string): FileExtraction {
  return extractFile(parsers, file, languageForPath(file)!, text);
}

function comparable(x: FileExtraction) {
  return { artifacts: x.artifacts, embedInputs: x.embedInputs, parseErrors: x.parseErrors, firstError: x.firstError };
}

/** Snippets that make and break structure: blocks, functions, tests, comments, docs, strings. */
const snippets = [
  '\n',
  ' ',
  'x',
  '{',
  '}',
  '(',
  ';',
  '// note\n',
  '/** Doc. */\n',
  'function added(a, b) { return helper(a) + b; }\n',
  'const arrow = (q) => q * 2;\n',
  "it('new case', () => { check(1); });\n",
  "describe('group', () => {\n",
  'class Extra { m() { return this.n(); } }\n',
  'def extra(a):\n    return a\n',
  '"str',
  'é😀',
];

const edit = fc.record({ at: fc.double({ min: 0, max: 1, noNaN: true }), remove: fc.nat({ max: 40 }), insert: fc.constantFrom(...snippets) });

type EditStep = { at: number; remove: number; insert: string };
const regressions: [EditStep[]][] = [
  [[{ at: 0, remove: 0, insert: '// note\n' }, { at: 0, remove: 0, insert: '// note\n' }, { at: 0, remove: 0, insert: '\n' }]],
  [[{ at: 0, remove: 10, insert: 'é😀' }, { at: 0, remove: 10, insert: 'class Extra { m() { return this.n(); } }\n' }, { at: 0, remove: 17, insert: 'é😀' }, { at: 0, remove: 35, insert: 'é😀' }]],
  [[{ at: 0.7327935222672065, remove: 23, insert: '/** Doc. */\n' }, { at: 0, remove: 0, insert: ';' }, { at: 0, remove: 0, insert: '\n' }]],
];

function apply(text: string, e: { at: number; remove: number; insert: string }): string {
  const at = Math.floor(e.at * text.length);
  return text.slice(0, at) + e.insert + text.slice(Math.min(text.length, at + e.remove));
}

describe('incremental extraction', () => {
  before(async () => {
    parsers = await loadParsers();
  });

  it('textEdit describes the change in UTF-16 code units, rows and columns', () => {
    const e = textEdit('ab\ncd😀ef\ngh', 'ab\ncd😀XYZf\ngh');
    assert.equal(e.startIndex, 7);
    assert.equal(e.oldEndIndex, 8);
    assert.equal(e.newEndIndex, 10);
    assert.deepEqual(e.startPosition, { row: 1, column: 4 });
    assert.deepEqual(e.oldEndPosition, { row: 1, column: 5 });
    assert.deepEqual(e.newEndPosition, { row: 1, column: 7 });
  });

  for (const file of readdirSync(fixtures)) {
    it(`equals a cold extraction after random edits: ${file}`, () => {
      const original = readFileSync(path.join(fixtures, file), 'utf8');
      fc.assert(
        fc.property(fc.array(edit, { minLength: 1, maxLength: 8 }), (edits) => {
          const cache = new ExtractionCache();
          try {
            let text = original;
            extractFile(parsers, file, languageForPath(file)!, text, cache);
            for (const e of edits) {
              text = apply(text, e);
              const incremental = extractFile(parsers, file, languageForPath(file)!, text, cache);
              assert.deepEqual(comparable(incremental), comparable(cold(file, text)));
            }
          } finally {
            cache.dispose();
          }
        }),
        // CRUCIBLE_PROPERTY_RUNS=400 for a deeper search; the examples are sequences that once
        // broke it (a chunk boundary moving under the same text; a MISSING node appearing
        // under the same text; error recovery that depends on the edit history).
        { numRuns: Number(process.env.CRUCIBLE_PROPERTY_RUNS ?? 40), examples: regressions },
      );
    });
  }

  it('equals a cold extraction on a real 1,000-line file, and reuses the untouched chunks', () => {
    const original = readFileSync(realFile, 'utf8');
    const file = 'WebGLProgram.js';
    const cache = new ExtractionCache();
    try {
      const first = extractFile(parsers, file, 'javascript', original, cache);
      assert.ok(first.artifacts.length > 15);
      // Type inside one function body, line by line: only that function's artifacts are new objects.
      const anchor = original.indexOf('function replaceClippingPlaneNums');
      assert.ok(anchor > 0);
      const at = original.indexOf('{', anchor) + 1;
      const edited = original.slice(0, at) + '\n\tconst extra = 1;' + original.slice(at);
      const second = extractFile(parsers, file, 'javascript', edited, cache);
      assert.deepEqual(comparable(second), comparable(cold(file, edited)));
      const changed = second.artifacts.filter((a, i) => a.hash !== first.artifacts[i].hash).map((a) => a.name);
      assert.deepEqual(changed, ['replaceClippingPlaneNums']);
      // Artifacts above the edit are the very same objects (reused, not re-walked).
      const before = first.artifacts.findIndex((a) => a.name === 'replaceClippingPlaneNums');
      for (let i = 0; i < before - 1; i++) assert.equal(second.artifacts[i], first.artifacts[i], `${first.artifacts[i].name} reused`);
      // Those below moved down one line.
      const last = first.artifacts.length - 1;
      assert.equal(second.artifacts[last].range.start.line, first.artifacts[last].range.start.line + 1);
    } finally {
      cache.dispose();
    }
  });

  it('numbers duplicate names the same way when an edit adds or removes an earlier duplicate', () => {
    const file = 'dups.ts';
    const one = 'function f() { return 1; }\n\nfunction g() {}\n\nfunction f() { return 2; }\n';
    const cache = new ExtractionCache();
    try {
      extractFile(parsers, file, 'typescript', one, cache);
      const removed = one.replace('function f() { return 1; }\n', '');
      const after = extractFile(parsers, file, 'typescript', removed, cache);
      assert.deepEqual(
        after.artifacts.map((a) => a.id),
        ['dups.ts#g', 'dups.ts#f'],
      );
      assert.deepEqual(comparable(after), comparable(cold(file, removed)));
      const back = extractFile(parsers, file, 'typescript', one, cache);
      assert.deepEqual(
        back.artifacts.map((a) => a.id),
        ['dups.ts#f', 'dups.ts#g', 'dups.ts#f~2'],
      );
    } finally {
      cache.dispose();
    }
  });
});
