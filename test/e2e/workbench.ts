/**
 * Driving the code-server workbench with Debian's Chromium through playwright-core.
 * Every wait names what it waits for and has a timeout; `waitForExtension` also fails at
 * once when the extension under test failed to activate (read from the extension host's log).
 */
import { appendFileSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { chromium, errors, type Browser, type Locator, type Page } from 'playwright-core';
import { findLogs, logsDir, prepareResultsDir, tempDirUntilExit, type CodeServer } from './codeServer';

/** Debian's package; CRUCIBLE_E2E_CHROMIUM points the tests at another build. Never downloaded. */
export const defaultChromium = process.env.CRUCIBLE_E2E_CHROMIUM ?? '/usr/bin/chromium';

export async function launchChromium(executablePath = defaultChromium): Promise<Browser> {
  if (!existsSync(executablePath)) {
    throw new Error(
      `Chromium was not found at ${executablePath}. Install Debian's package (apt-get install -y chromium) ` +
        'or set CRUCIBLE_E2E_CHROMIUM to a Chromium binary; the tests never download a browser.',
    );
  }
  // Chromium keeps its crash-report database under HOME even with a temp profile: give it a HOME of its own.
  const { dir: home, remove } = tempDirUntilExit('crucible-e2e-chromium-');
  const browser = await chromium
    .launch({
      executablePath,
      headless: true,
      timeout: 60_000,
      env: { ...process.env, HOME: home, XDG_CONFIG_HOME: path.join(home, '.config'), XDG_CACHE_HOME: path.join(home, '.cache') },
      args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
    })
    .catch((error: unknown) => {
      remove();
      throw error;
    });
  browser.once('disconnected', remove);
  return browser;
}

/** Waits for the first match of `locator` to reach `state`; the error says what was awaited. */
export async function waitFor(locator: Locator, what: string, timeoutMs = 30_000, state: 'visible' | 'attached' | 'hidden' = 'visible'): Promise<Locator> {
  const first = locator.first();
  try {
    await first.waitFor({ state, timeout: timeoutMs });
    return first;
  } catch (error) {
    if (error instanceof errors.TimeoutError) {
      throw new Error(`${what}: not ${state} within ${timeoutMs / 1000} s (waiting for ${locator})`);
    }
    throw error;
  }
}

/** One attribute of every element `locator` matches, in document order. */
export async function attributes(locator: Locator, name: string): Promise<string[]> {
  return Promise.all((await locator.all()).map(async (element) => (await element.getAttribute(name)) ?? ''));
}

let windows = 0;

export interface OpenOptions {
  folder: string;
  /** Workbench `payload` pairs, e.g. extensionDevelopmentPath / extensionTestsPath. */
  payload?: [string, string][];
  /** Runs before the workbench loads (e.g. `page.exposeFunction`). */
  beforeLoad?: (page: Page) => Promise<void>;
}

export class Workbench {
  private constructor(
    readonly page: Page,
    readonly server: CodeServer,
  ) {}

  /** Opens a window on `folder` and waits until the workbench has rendered. */
  static async open(browser: Browser, server: CodeServer, options: OpenOptions): Promise<Workbench> {
    const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
    // The workbench's own errors (renderer side) go to a log beside code-server's.
    const consoleLog = path.join(logsDir, `browser-console-${++windows}.log`);
    page.on('console', (message) => {
      if (message.type() === 'error' || message.type() === 'warning') appendFileSync(consoleLog, `[${message.type()}] ${message.text()}\n`);
    });
    page.on('pageerror', (error) => appendFileSync(consoleLog, `[pageerror] ${error.stack ?? error.message}\n`));
    try {
      await options.beforeLoad?.(page);
      await page.goto(server.workbenchUrl(options.folder, options.payload), { timeout: 60_000 });
      await waitFor(page.locator('.monaco-workbench .part.statusbar'), `the VS Code workbench at ${server.url}`, 90_000);
      return new Workbench(page, server);
    } catch (error) {
      await page.close().catch(() => undefined);
      throw error;
    }
  }

  /**
   * Waits for `ready` while watching the extension host log: when `extensionId` failed to
   * activate, this fails at once with the error VS Code logged instead of timing out.
   */
  async waitForExtension(extensionId: string, ready: Locator, what: string, timeoutMs = 60_000): Promise<Locator> {
    let settled = false;
    const failure = new Promise<never>((_, reject) => {
      const check = () => {
        if (settled) return;
        const reason = activationFailure(this.server.userDataDir, extensionId);
        if (reason) reject(new Error(`${what}: extension ${extensionId} failed to activate: ${reason}`));
        else setTimeout(check, 250);
      };
      check();
    });
    try {
      return await Promise.race([waitFor(ready, what, timeoutMs), failure]);
    } finally {
      settled = true;
    }
  }

  /** Runs a command from the command palette (F1) by its full title, e.g. "Crucible: Reindex Workspace". */
  async runCommand(title: string): Promise<void> {
    await this.page.keyboard.press('F1');
    const input = await waitFor(this.page.locator('.quick-input-widget input.input'), 'the command palette');
    await input.fill(`>${title}`);
    // Enter runs the highlighted entry: wait until it is this command, not a recently used one.
    await waitFor(this.page.locator('.quick-input-list .monaco-list-row.focused', { hasText: title }), `command "${title}" in the palette`);
    await this.page.keyboard.press('Enter');
  }

  /** A screenshot in test-results/e2e/. */
  async screenshot(name: string): Promise<string> {
    const file = path.join(prepareResultsDir(), name.endsWith('.png') ? name : `${name}.png`);
    await this.page.screenshot({ path: file });
    return file;
  }

  /**
   * Saves what a failed test needs: a screenshot and the Crucible output channel's text
   * (a log output channel, so VS Code keeps it as a file in the extension host's log folder).
   */
  async saveFailure(testTitle: string): Promise<string[]> {
    const slug = testTitle.replace(/[^a-z0-9]+/gi, '-').replace(/^-|-$/g, '').slice(0, 80).toLowerCase();
    const saved: string[] = [];
    try {
      saved.push(await this.screenshot(`failure-${slug}.png`));
    } catch (error) {
      saved.push(`(no screenshot: ${(error as Error).message})`);
    }
    const outputs = findLogs(this.server.userDataDir, `${path.sep}crucible-dev.crucible${path.sep}Crucible.log`);
    const file = path.join(prepareResultsDir(), `failure-${slug}-crucible-output.txt`);
    writeFileSync(
      file,
      outputs.length === 0
        ? 'No Crucible output channel was written (the extension did not activate?).\n'
        : outputs.map((f) => `=== ${f}\n${readFileSync(f, 'utf8')}`).join('\n'),
    );
    saved.push(file);
    return saved;
  }

  async close(): Promise<void> {
    await this.page.close().catch(() => undefined);
  }
}

/** The error VS Code logged for a failed activation of `extensionId`, if any. */
export function activationFailure(userDataDir: string, extensionId: string): string | undefined {
  const marker = `Activating extension ${extensionId} failed due to an error:`;
  for (const log of findLogs(userDataDir, 'exthost.log')) {
    let text: string;
    try {
      text = readFileSync(log, 'utf8');
    } catch {
      continue;
    }
    const at = text.indexOf(marker);
    if (at < 0) continue;
    // The next log line holds the error and its stack; its first lines name the cause.
    const details = text.slice(at + marker.length).split('\n').slice(1, 4).join('\n').trim();
    return `${details} (logged in ${log})`;
  }
  return undefined;
}
