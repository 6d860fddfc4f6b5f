import * as assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readdirSync, unlinkSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { acquireStoreLock } from '../../server/src/storage';
import { WorkspaceIndex } from '../../server/src/index/workspace';
import { tempWorkspace } from '../support/tempWorkspace';

const settings = { exclude: ['**/node_modules/**'], maxFileSizeBytes: 1 << 20 };
const run = promisify(execFile);
const cli = path.join(__dirname, '..', '..', 'dist', 'cli.js');

const files = {
  'src/price.ts': 'export function total(xs: number[]) { return xs.reduce((a, b) => a + b, 0) + fee(); }\nfunction fee() { return 1; }\n',
  'src/tax.ts': 'import { total } from "./price";\nexport function withTax(xs: number[]) { return total(xs) * 1.2; }\nexport function fee() { return 2; }\n',
  'test/price.test.ts': 'import { it } from "node:test";\nimport { total } from "../src/price";\nit("totals", () => { total([1]); });\n',
};

async function openIndex(root: string, problems: string[] = []) {
  const index = new WorkspaceIndex(root, { settings, owner: 'unit test', onProblem: (p) => problems.push(p.message) });
  await index.open();
  return index;
}

describe('workspace index', () => {
  it('indexes a folder and resolves calls where the callee is unambiguous', async () => {
    const ws = tempWorkspace(files);
    try {
      const index = await openIndex(ws.root);
      const summary = (await index.indexAll())!;
      assert.equal(summary.files, 3);
      assert.deepEqual(summary.byKind, { function: 4, test: 1 });
      const withTax = index.get('src/tax.ts#withTax')!;
      assert.deepEqual(index.resolveCalls(withTax), [{ name: 'total', target: 'src/price.ts#total' }]);
      // `fee` exists in two files: the same-file one wins
      assert.deepEqual(index.resolveCalls(index.get('src/price.ts#total')!), [
        { name: 'reduce' },
        { name: 'fee', target: 'src/price.ts#fee' },
      ]);
      assert.deepEqual(index.symbols('withT').map((a) => a.id), ['src/tax.ts#withTax']);
      assert.equal(index.artifactAt('src/tax.ts', { line: 1, character: 30 })?.id, 'src/tax.ts#withTax');
      await index.close();
    } finally {
      ws.remove();
    }
  });

  it('does no work for unchanged content, in the same session and after a restart', async () => {
    const ws = tempWorkspace(files);
    try {
      const first = await openIndex(ws.root);
      await first.indexAll();
      assert.equal(first.stats.filesExtracted, 3);
      await first.indexAll();
      assert.equal(first.stats.filesExtracted, 3, 'second pass extracted nothing');
      assert.equal(await first.updateFile('src/price.ts', files['src/price.ts']), false);
      assert.equal(first.stats.filesExtracted, 3);
      await first.close();

      const second = await openIndex(ws.root);
      await second.indexAll();
      assert.equal(second.stats.filesExtracted, 0, 'restart reuses the store');
      assert.equal(second.artifactCount, 5);
      assert.equal(second.similar('src/price.ts#total', 3).length, 3, 'vectors were reloaded');

      const changed = await second.updateFile('src/tax.ts', files['src/tax.ts'] + 'export const extra = () => 3;\n');
      assert.equal(changed, true);
      assert.equal(second.stats.filesExtracted, 1, 'only the touched file');
      assert.ok(second.get('src/tax.ts#extra'));
      await second.close();
    } finally {
      ws.remove();
    }
  });

  it('drops deleted files and files that become excluded', async () => {
    const ws = tempWorkspace(files);
    try {
      const index = await openIndex(ws.root);
      await index.indexAll();
      unlinkSync(path.join(ws.root, 'src/tax.ts'));
      await index.indexAll();
      assert.equal(index.get('src/tax.ts#withTax'), undefined);
      index.updateSettings({ ...settings, exclude: ['test/**'] });
      await index.indexAll();
      assert.deepEqual(index.artifacts().map((a) => a.file), ['src/price.ts', 'src/price.ts']);
      await index.close();
    } finally {
      ws.remove();
    }
  });

  it('rebuilds what a corrupt store lost and tells the user', async () => {
    const ws = tempWorkspace(files);
    try {
      const first = await openIndex(ws.root);
      await first.indexAll();
      await first.close();
      const dir = path.join(ws.root, '.crucible', 'index');
      for (const f of readdirSync(dir)) writeFileSync(path.join(dir, f), 'garbage');
      const problems: string[] = [];
      const second = await openIndex(ws.root, problems);
      assert.ok(problems.length > 0 && problems.every((p) => /corrupt/.test(p)));
      const summary = (await second.indexAll())!;
      assert.equal(summary.artifacts, 5);
      assert.equal(second.stats.filesExtracted, 3);
      await second.close();
    } finally {
      ws.remove();
    }
  });

  it('survives binary, non-UTF-8 and broken files', async () => {
    const ws = tempWorkspace({
      'ok.ts': 'export function ok() {}',
      'blob.js': Uint8Array.from([0x7f, 0x45, 0x4c, 0x46, 0, 0, 1]),
      'latin1.ts': Uint8Array.from([...Buffer.from('const caf'), 0xe9, 0x0a]),
      'broken.ts': 'export function good() { return 1 }\nfunction (((\n',
    });
    try {
      const index = await openIndex(ws.root);
      const summary = (await index.indexAll())!;
      assert.equal(summary.parseErrors, 1);
      assert.equal(summary.skipped, 2);
      assert.deepEqual(index.skippedFiles().map((s) => s.file).sort(), ['blob.js', 'latin1.ts']);
      assert.ok(index.get('ok.ts#ok') && index.get('broken.ts#good'));
      await index.close();
    } finally {
      ws.remove();
    }
  });

  describe('crucible CLI', () => {
    it('prints the documented JSON with 0-based positions', async () => {
      const ws = tempWorkspace(files);
      try {
        const { stdout } = await run(process.execPath, [cli, 'index', ws.root, '--json']);
        const out = JSON.parse(stdout);
        assert.equal(out.files, 3);
        assert.equal(out.parseErrors, 0);
        assert.ok(typeof out.ms === 'number');
        assert.deepEqual(out.skipped, []);
        const withTax = out.artifacts.find((a: { id: string }) => a.id === 'src/tax.ts#withTax');
        assert.deepEqual(Object.keys(withTax).sort(), ['calls', 'file', 'hash', 'id', 'kind', 'language', 'range'].sort());
        assert.deepEqual(withTax.range.start, { line: 1, character: 7 });
        assert.deepEqual(withTax.calls, [{ name: 'total', target: 'src/price.ts#total' }]);
      } finally {
        ws.remove();
      }
    });

    it('writes large JSON completely through a pipe', async () => {
      const many: Record<string, string> = {};
      for (let i = 0; i < 60; i++) many[`src/m${i}.ts`] = Array.from({ length: 40 }, (_, j) => `export function f${i}_${j}(a: number) { return a + ${j}; }`).join('\n');
      const ws = tempWorkspace(many);
      try {
        const { stdout } = await run(process.execPath, [cli, 'index', ws.root, '--json'], { maxBuffer: 64 << 20 });
        assert.ok(stdout.length > 300_000, `only ${stdout.length} characters`);
        assert.equal(JSON.parse(stdout).artifacts.length, 2400);
      } finally {
        ws.remove();
      }
    });

    it('prints a summary table', async () => {
      const ws = tempWorkspace(files);
      try {
        const { stdout } = await run(process.execPath, [cli, 'index', ws.root]);
        assert.match(stdout, /files indexed\s*│\s*3/);
        assert.match(stdout, /artifacts\s*│\s*5/);
        assert.match(stdout, /files with parse errors\s*│\s*0/);
      } finally {
        ws.remove();
      }
    });

    it('exits 3 naming the other writer when the store is locked', async () => {
      const ws = tempWorkspace(files);
      try {
        const release = await acquireStoreLock(path.join(ws.root, '.crucible'), { owner: 'Crucible language server', waitMs: 100 });
        try {
          await assert.rejects(run(process.execPath, [cli, 'index', ws.root], { env: { ...process.env, CRUCIBLE_LOCK_WAIT_MS: '300' } }), (err: { code?: number; stderr?: string }) => {
            assert.equal(err.code, 3);
            assert.match(err.stderr ?? '', /being written by another process \(Crucible language server, pid \d+/);
            return true;
          });
        } finally {
          await release();
        }
      } finally {
        ws.remove();
      }
    });

    it('exits 2 with usage on bad arguments', async () => {
      await assert.rejects(run(process.execPath, [cli, 'index', '/definitely/not/here']), (err: { code?: number; stderr?: string }) => {
        assert.equal(err.code, 2);
        assert.match(err.stderr ?? '', /is not a directory/);
        return true;
      });
    });
  });
});
