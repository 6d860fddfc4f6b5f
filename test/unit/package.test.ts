import * as assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readdirSync } from 'node:fs';
import * as path from 'node:path';
import { promisify } from 'node:util';

const root = path.join(__dirname, '..', '..');

describe('extension package', () => {
  it('ships the bundled server, client, CLI and WASM grammars, and nothing from test/, examples/ or source maps', async () => {
    // `vsce ls` lists exactly what `vsce package` would put in the VSIX.
    const { stdout } = await promisify(execFile)(process.execPath, [require.resolve('@vscode/vsce/vsce'), 'ls', '--no-dependencies'], { cwd: root });
    const files = stdout.split('\n').map((l) => l.trim()).filter(Boolean);
    for (const needed of ['package.json', 'dist/server.js', 'dist/client.js', 'dist/cli.js', 'dist/wasm/web-tree-sitter.wasm', 'dist/wasm/tree-sitter-typescript.wasm', 'dist/wasm/tree-sitter-tsx.wasm', 'dist/wasm/tree-sitter-javascript.wasm', 'dist/wasm/tree-sitter-python.wasm', 'media/crucible.svg', 'docs/e2e-artifacts-tree.png']) {
      assert.ok(files.includes(needed), `${needed} missing from the package: ${files.join(', ')}`);
    }
    // The programs the server runs in other processes (workers, reporters, the recorder), as the build copies them.
    for (const program of readdirSync(path.join(root, 'server/src/evidence/runtime')).filter((f) => /\.(cjs|py)$/.test(f))) {
      assert.ok(files.includes(`dist/runtime/${program}`), `dist/runtime/${program} missing from the package: ${files.join(', ')}`);
    }
    const unwanted = files.filter((f) => f.startsWith('test/') || f.startsWith('examples/') || f.endsWith('.map') || f.startsWith('node_modules/') || f.endsWith('.ts') || f.endsWith('.node'));
    assert.deepEqual(unwanted, []);
  });
});
