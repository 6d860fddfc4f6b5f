import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { runtimeDir } from '../../server/src/evidence/runtime/files';

describe('runtime programs (server/src/evidence/runtime)', () => {
  const programs = readdirSync(runtimeDir());

  it('every Python program compiles (python3 -m py_compile)', function () {
    this.timeout(30_000);
    const python = programs.filter((f) => f.endsWith('.py'));
    assert.ok(python.length >= 4, python.join(', '));
    // Compiled into a scratch directory: no __pycache__ next to the sources.
    const cache = mkdtempSync(path.join(os.tmpdir(), 'crucible-pycompile-'));
    try {
      for (const file of python) {
        const r = spawnSync('python3', ['-m', 'py_compile', path.join(runtimeDir(), file)], { encoding: 'utf8', env: { ...process.env, PYTHONPYCACHEPREFIX: cache } });
        assert.equal(r.status, 0, `${file}: ${r.stderr}`);
      }
    } finally {
      rmSync(cache, { recursive: true, force: true });
    }
  });

  it('every Node program is type-checked (starts with // @ts-check)', () => {
    const node = programs.filter((f) => f.endsWith('.cjs'));
    assert.ok(node.length >= 6, node.join(', '));
    for (const file of node) assert.match(readFileSync(path.join(runtimeDir(), file), 'utf8'), /^\/\/ @ts-check\n/, file);
  });
});
