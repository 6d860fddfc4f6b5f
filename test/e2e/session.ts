/**
 * The one code-server and Chromium that every e2e spec shares, created on first use and
 * ended by the root hook in ./hooks.ts after the last test (pass or fail). Creating them
 * is the expensive part: the system packages and code-server install (minutes, cold;
 * cached after), the VSIX (`npm run package`), the server start and the browser launch.
 *
 * A failed set-up is remembered, so every spec that needs it fails at once with the same
 * message instead of trying again.
 */
import { existsSync, statSync } from 'node:fs';
import * as path from 'node:path';
import type { Browser } from 'playwright-core';
import { ensureCodeServer, ensureDebianPackages, logsDir, prepareResultsDir, repoRoot, spawnLogged, startCodeServer, type CodeServer, type CodeServerInstall } from './codeServer';
import { defaultChromium, launchChromium } from './workbench';

export interface E2eSession {
  install: CodeServerInstall;
  server: CodeServer;
  browser: Browser;
  vsix: string;
}

let session: Promise<E2eSession> | undefined;
const started: { server?: CodeServer; browser?: Browser } = {};

/** Progress lines for the person watching; mocha's reporter owns stdout. */
export function note(line: string): void {
  process.stderr.write(`      e2e: ${line}\n`);
}

export function e2eSession(): Promise<E2eSession> {
  session ??= createSession();
  return session;
}

async function createSession(): Promise<E2eSession> {
  prepareResultsDir();
  // Cheapest checks first: a missing browser should not cost a two-minute install.
  if (defaultChromium === '/usr/bin/chromium') await ensureDebianPackages([{ pkg: 'chromium', present: () => existsSync(defaultChromium) }]);
  const install = await ensureCodeServer({ log: note });
  const vsix = await packageExtension();
  let step = Date.now();
  started.server = await startCodeServer({ install, vsixes: [vsix] });
  note(`code-server listening on ${started.server.url} in ${seconds(step)} (log: ${path.relative(repoRoot, started.server.logFile)})`);
  step = Date.now();
  started.browser = await launchChromium();
  note(`Chromium started in ${seconds(step)}`);
  return { install, server: started.server, browser: started.browser, vsix };
}

/** Builds crucible.vsix with `npm run package`, or takes CRUCIBLE_E2E_VSIX (a VSIX built before). */
async function packageExtension(): Promise<string> {
  const given = process.env.CRUCIBLE_E2E_VSIX;
  if (given) {
    const vsix = path.resolve(given);
    if (!existsSync(vsix)) throw new Error(`CRUCIBLE_E2E_VSIX names ${vsix}, which does not exist`);
    note(`using ${vsix} (CRUCIBLE_E2E_VSIX)`);
    return vsix;
  }
  const vsix = path.join(repoRoot, 'crucible.vsix');
  const logFile = path.join(logsDir, 'package.log');
  const step = Date.now();
  const code = await spawnLogged('npm', ['run', 'package'], { cwd: repoRoot, logFile, timeoutMs: 10 * 60_000 });
  if (code !== 0) throw new Error(`\`npm run package\` failed (exit code ${code}); its output is in ${logFile}`);
  if (!existsSync(vsix) || statSync(vsix).mtimeMs < step) throw new Error(`\`npm run package\` did not write ${vsix}; see ${logFile}`);
  note(`packaged ${path.relative(repoRoot, vsix)} in ${seconds(step)}`);
  return vsix;
}

/** Closes the browser and stops code-server's process group; safe to call when nothing started. */
export async function stopE2eSession(): Promise<void> {
  const { server, browser } = started;
  started.server = started.browser = undefined;
  session = undefined;
  await browser?.close().catch(() => undefined);
  await server?.stop();
}

function seconds(since: number): string {
  return `${((Date.now() - since) / 1000).toFixed(1)} s`;
}
