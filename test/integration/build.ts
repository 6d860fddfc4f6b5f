/**
 * Compiles the integration suite for the extension host: CommonJS bundles in
 * dist-test/integration/ (not dist/, which the extension build wipes and the VSIX ships).
 * `vscode` comes from the host and mocha from the repo's node_modules, so both stay external.
 */
import { build } from 'esbuild';
import * as path from 'node:path';

export const repoRoot = path.resolve(__dirname, '..', '..');
export const integrationOutDir = path.join(repoRoot, 'dist-test', 'integration');

/** Builds the suite and returns the path of its entry point (what `extensionTestsPath` names). */
export async function buildIntegrationSuite(): Promise<string> {
  await build({
    entryPoints: {
      index: path.join(__dirname, 'index.ts'),
      'extension.test': path.join(__dirname, 'extension.test.ts'),
      'testing.test': path.join(__dirname, 'testing.test.ts'),
      'optimize.test': path.join(__dirname, 'optimize.test.ts'),
    },
    outdir: integrationOutDir,
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    sourcemap: 'inline',
    external: ['vscode', 'mocha'],
    logLevel: 'warning',
  });
  return path.join(integrationOutDir, 'index.js');
}
