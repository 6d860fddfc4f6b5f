/**
 * Entry point of the extension-host integration suite, in the shape VS Code's test
 * runners expect (`extensionTestsPath` → a module exporting `run()`): @vscode/test-electron
 * on a desktop VS Code, or the code-server workbench's `payload` in test/e2e.
 *
 * Compiled by ./build.ts to dist-test/integration/; mocha stays external and is resolved
 * from the repo's node_modules.
 */
import * as path from 'node:path';

export async function run(): Promise<void> {
  // mocha 12's CommonJS entry is a namespace object whose `Mocha` export is the runner class
  // (@types/mocha still describes the older shape, where the module itself was the class).
  const { Mocha } = require('mocha') as { Mocha: typeof import('mocha') };
  const mocha = new Mocha({ ui: 'bdd', color: false, timeout: 60_000, reporter: 'spec' });
  // Lets a caller run part of the suite, as mocha's --grep would.
  if (process.env.CRUCIBLE_INTEGRATION_GREP) mocha.grep(process.env.CRUCIBLE_INTEGRATION_GREP);
  mocha.addFile(path.join(__dirname, 'extension.test.js'));
  mocha.addFile(path.join(__dirname, 'testing.test.js'));
  mocha.addFile(path.join(__dirname, 'optimize.test.js'));
  await mocha.loadFilesAsync();
  const failures = await new Promise<number>((resolve) => mocha.run(resolve));
  if (failures > 0) throw new Error(`${failures} integration test${failures === 1 ? '' : 's'} failed`);
}
