/**
 * Runs the extension-host integration suite (test/integration) inside code-server, the way
 * VS Code's own browser integration tests do: the workbench URL's `payload` names the
 * extension under development (this repo) and the tests; the workbench reports the
 * suite's log lines through `window.codeAutomationLog` and its end through
 * `window.codeAutomationExit(code)`, both exposed here with Playwright.
 */
import * as assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { format } from 'node:util';
import { buildIntegrationSuite } from '../integration/build';
import { prepareResultsDir, repoRoot } from './codeServer';
import { e2eSession, note, type E2eSession } from './session';
import { Workbench } from './workbench';

describe('e2e: extension-host integration suite in code-server', function () {
  let session: E2eSession;
  let suite: string;

  before(async function () {
    this.timeout(20 * 60_000);
    [session, suite] = await Promise.all([e2eSession(), buildIntegrationSuite()]);
  });

  it('passes test/integration against a copy of examples/demo-shop', async function () {
    const timeoutMs = 4 * 60_000;
    this.timeout(timeoutMs + 30_000);
    const { server, browser } = session;
    const workspace = server.copyWorkspace(path.join(repoRoot, 'examples', 'demo-shop'));
    const lines: string[] = [];
    let exited: (code: number) => void = () => undefined;
    const exitCode = new Promise<number>((resolve) => (exited = resolve));

    const workbench = await Workbench.open(browser, server, {
      folder: workspace,
      payload: [
        // The host:port must be the one the browser uses, or the workbench treats the path as local to the browser.
        ['extensionDevelopmentPath', server.remoteUri(repoRoot)],
        ['extensionTestsPath', server.remoteUri(suite)],
      ],
      beforeLoad: async (page) => {
        await page.exposeFunction('codeAutomationLog', (level: string, args: unknown) => {
          lines.push(...formatLog(level, args));
        });
        await page.exposeFunction('codeAutomationExit', (code: number) => exited(code));
      },
    });
    const logFile = path.join(prepareResultsDir(), 'integration-suite.log');
    try {
      let timer: NodeJS.Timeout | undefined;
      const code = await Promise.race([
        exitCode,
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error(`the integration suite did not finish within ${timeoutMs / 1000} s; its output so far is in ${logFile}`)), timeoutMs);
        }),
      ]).finally(() => clearTimeout(timer));
      if (code !== 0) await workbench.saveFailure('integration suite');
      assert.equal(code, 0, `the integration suite failed (exit code ${code}); output in ${logFile}:\n${lines.join('\n')}`);
      note(`integration suite: ${lines.filter((l) => /passing|failing|pending/.test(l)).join(', ').trim()}`);
    } finally {
      writeFileSync(logFile, lines.join('\n') + '\n');
      await workbench.close();
    }
  });
});

/** codeAutomationLog receives a level and the logged message: a string, or console.log's arguments (printf-style). */
function formatLog(level: string, args: unknown): string[] {
  const text = Array.isArray(args) ? format(...(args as unknown[])) : String(args);
  return text.split('\n').map((line) => (level === 'info' || level === 'log' ? line : `[${level}] ${line}`));
}
