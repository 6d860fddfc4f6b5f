// Bundles client, server and CLI with esbuild (CommonJS, Node 20), copies the
// tree-sitter WASM files next to the bundles, and the programs that run in other
// processes (server/src/evidence/runtime/*.cjs, *.py) to dist/runtime/.
// web-tree-sitter is aliased to its CJS build: its ESM build loses import.meta.url
// when bundled to CJS and then fails at runtime (see ../shared/DEPENDENCIES.md).
import { build } from 'esbuild';
import { copyFileSync, mkdirSync, readdirSync, rmSync, chmodSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const out = join(root, 'dist');
const production = process.argv.includes('--production');
rmSync(out, { recursive: true, force: true });
mkdirSync(join(out, 'wasm'), { recursive: true });
mkdirSync(join(out, 'runtime'), { recursive: true });

const common = {
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node20',
  sourcemap: production ? false : 'linked',
  minify: production,
  logLevel: 'warning',
  alias: { 'web-tree-sitter': join(root, 'node_modules/web-tree-sitter/web-tree-sitter.cjs') },
};

await Promise.all([
  build({ ...common, entryPoints: { client: join(root, 'client/src/extension.ts') }, outdir: out, external: ['vscode'] }),
  build({
    ...common,
    entryPoints: {
      server: join(root, 'server/src/server.ts'),
      cli: join(root, 'server/src/cli.ts'),
    },
    outdir: out,
  }),
]);
chmodSync(join(out, 'cli.js'), 0o755);

const wasm = {
  'web-tree-sitter.wasm': 'web-tree-sitter/web-tree-sitter.wasm',
  'tree-sitter-typescript.wasm': 'tree-sitter-typescript/tree-sitter-typescript.wasm',
  'tree-sitter-tsx.wasm': 'tree-sitter-typescript/tree-sitter-tsx.wasm',
  'tree-sitter-javascript.wasm': 'tree-sitter-javascript/tree-sitter-javascript.wasm',
  'tree-sitter-python.wasm': 'tree-sitter-python/tree-sitter-python.wasm',
};
for (const [name, from] of Object.entries(wasm)) copyFileSync(join(root, 'node_modules', from), join(out, 'wasm', name));

// The bundles find them with runtimeFile() (server/src/evidence/runtime/files.ts).
const runtime = join(root, 'server/src/evidence/runtime');
for (const name of readdirSync(runtime)) if (/\.(cjs|py)$/.test(name)) copyFileSync(join(runtime, name), join(out, 'runtime', name));
