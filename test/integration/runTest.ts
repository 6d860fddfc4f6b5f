/**
 * The standard desktop runner: downloads VS Code with @vscode/test-electron and runs the
 * integration suite in it. For machines that can reach update.code.visualstudio.com; the
 * CI machines of this project cannot, so there the same suite runs in code-server instead
 * (test/e2e/integration.e2e.ts). Run with: npx tsx test/integration/runTest.ts
 */
import { runTests } from '@vscode/test-electron';
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { buildIntegrationSuite, repoRoot } from './build';

async function main(): Promise<void> {
  const extensionTestsPath = await buildIntegrationSuite();
  // A copy, so that the index the extension writes (.crucible/) never lands in the repo.
  const scratch = mkdtempSync(path.join(os.tmpdir(), 'crucible-integration-'));
  const workspace = path.join(scratch, 'demo-shop');
  cpSync(path.join(repoRoot, 'examples', 'demo-shop'), workspace, { recursive: true, filter: (src) => !/[\\/]\.crucible$/.test(src) });
  try {
    await runTests({
      extensionDevelopmentPath: repoRoot,
      extensionTestsPath,
      launchArgs: [workspace, '--disable-extensions', '--disable-workspace-trust', '--user-data-dir', path.join(scratch, 'user-data')],
    });
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
