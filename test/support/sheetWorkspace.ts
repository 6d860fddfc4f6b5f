/**
 * A small node:test workspace with one slow function (`countFields` splits the whole sheet
 * on every line) and two tests, with the repository's node_modules linked in: what the
 * optimize and folder-engine tests record, benchmark and optimize.
 */
import { symlinkSync } from 'node:fs';
import * as path from 'node:path';
import { tempWorkspace } from './tempWorkspace';

const repo = path.resolve(__dirname, '../..');

export const slowSheetSource = [
  '/** How many fields the sheet has (its header line left out): splits the whole sheet on every line. */',
  'export function countFields(sheet: string): number {',
  '  let n = 0;',
  "  for (let i = 1; i < sheet.split('\\n').length; i++) {",
  "    const line = sheet.split('\\n')[i].trim();",
  "    if (line) n += line.split(',').length;",
  '  }',
  '  return n;',
  '}',
  '',
].join('\n');

const files = {
  'package.json': JSON.stringify({ name: 'opt', private: true, type: 'commonjs', scripts: { test: 'node --import tsx --test test/sheet.test.ts' } }),
  'src/sheet.ts': slowSheetSource,
  'test/sheet.test.ts': [
    "import { it } from 'node:test';",
    "import assert from 'node:assert';",
    "import { countFields } from '../src/sheet';",
    "const sheet = ['sku,qty,where', ...Array.from({ length: 40 }, (_, i) => `sku-${i},${i},shelf ${i % 7}`)].join('\\n');",
    "it('counts the fields of every line', () => { assert.equal(countFields(sheet), 120); });",
    "it('counts nothing in a header-only sheet', () => { assert.equal(countFields('sku,qty'), 0); });",
    '',
  ].join('\n'),
};

export function sheetWorkspace(): ReturnType<typeof tempWorkspace> {
  const ws = tempWorkspace(files);
  symlinkSync(path.join(repo, 'node_modules'), path.join(ws.root, 'node_modules'), 'dir');
  return ws;
}
