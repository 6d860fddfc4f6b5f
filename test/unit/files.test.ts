import * as assert from 'node:assert/strict';
import { symlinkSync } from 'node:fs';
import * as path from 'node:path';
import { decodeSource, walkFolder } from '../../server/src/index/files';
import { tempWorkspace } from '../support/tempWorkspace';

describe('workspace walk', () => {
  it('honours nested .gitignore files, crucible.exclude globs and skips .git and .crucible', async () => {
    const ws = tempWorkspace({
      '.gitignore': 'build/\n*.gen.ts\n',
      'src/a.ts': 'export const a = 1;',
      'src/b.gen.ts': 'x',
      'src/vendor/.gitignore': 'old.js\n',
      'src/vendor/old.js': 'x',
      'src/vendor/new.js': 'x',
      'build/out.js': 'x',
      'node_modules/dep/index.js': 'x',
      'docs/notes.md': 'x',
      'scripts/tool.py': 'x',
      '.git/hooks/pre-commit.js': 'x',
      '.crucible/index/files-00.json': '{}',
    });
    try {
      const { files } = await walkFolder(ws.root, { exclude: ['**/node_modules/**', 'scripts/**'], maxFileSizeBytes: 1 << 20 });
      assert.deepEqual(files.map((f) => f.rel).sort(), ['src/a.ts', 'src/vendor/new.js']);
    } finally {
      ws.remove();
    }
  });

  it('skips files over the size limit and says why', async () => {
    const ws = tempWorkspace({ 'small.ts': 'const a = 1;', 'big.js': 'x'.repeat(5000) });
    try {
      const r = await walkFolder(ws.root, { exclude: [], maxFileSizeBytes: 4096 });
      assert.deepEqual(r.files.map((f) => f.rel), ['small.ts']);
      assert.equal(r.skipped.length, 1);
      assert.equal(r.skipped[0].file, 'big.js');
      assert.match(r.skipped[0].reason, /larger than 4\.0 KiB .*crucible\.maxFileSizeBytes/);
    } finally {
      ws.remove();
    }
  });

  it('ends on symlink loops and reports them', async () => {
    const ws = tempWorkspace({ 'pkg/a.ts': 'export function a() {}' });
    try {
      symlinkSync('..', path.join(ws.root, 'pkg', 'loop'));
      const r = await walkFolder(ws.root, { exclude: [], maxFileSizeBytes: 1 << 20 });
      assert.deepEqual(r.files.map((f) => f.rel), ['pkg/a.ts']);
      assert.ok(r.skipped.some((s) => s.reason.includes('symlink loop')));
    } finally {
      ws.remove();
    }
  });

  it('refuses binary and non-UTF-8 content with a reason instead of throwing', () => {
    const bin = decodeSource(Uint8Array.from([0x63, 0x6f, 0x00, 0x01]), 1 << 20);
    assert.equal(bin.ok, false);
    assert.match(!bin.ok ? bin.reason : '', /binary/);
    const latin1 = decodeSource(Uint8Array.from([0x63, 0x61, 0x66, 0xe9, 0x0a]), 1 << 20);
    assert.equal(latin1.ok, false);
    assert.match(!latin1.ok ? latin1.reason : '', /UTF-8/);
    const good = decodeSource(new TextEncoder().encode('const café = "ü";'), 1 << 20);
    assert.equal(good.ok, true);
  });
});
