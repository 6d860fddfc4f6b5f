/**
 * Bad input for the e2e machinery itself: each failure must come quickly, name its cause
 * and where the logs are, and leave no process behind.
 */
import * as assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { ensureCodeServer, freePort, installProblem, logsDir, prepareResultsDir, startCodeServer, type CodeServerInstall } from './codeServer';
import { e2eSession, note } from './session';
import { launchChromium, Workbench } from './workbench';

describe('e2e: the launcher on bad input', function () {
  const scratch: string[] = [];
  const tempDir = () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'crucible-e2e-bad-'));
    scratch.push(dir);
    return dir;
  };
  after(() => scratch.forEach((d) => rmSync(d, { recursive: true, force: true })));

  /** A stand-in for code-server's entry point, to fake broken installs cheaply. */
  function fakeInstall(script: string): CodeServerInstall {
    const dir = tempDir();
    const entry = path.join(dir, 'entry.js');
    writeFileSync(entry, script);
    return { dir, entry };
  }

  it('reports a code-server that exits during start-up, with its output and the log file', async function () {
    this.timeout(20_000);
    prepareResultsDir();
    const logFile = path.join(logsDir, 'bad-input-exits.log');
    const install = fakeInstall(`console.error("Error: Cannot find module '@vscode/spdlog'"); process.exit(3);`);
    await assert.rejects(startCodeServer({ install, logFile }), (error: Error) => {
      assert.match(error.message, /code-server exited during start-up \(exit code 3\)/);
      assert.match(error.message, /Cannot find module '@vscode\/spdlog'/);
      assert.ok(error.message.includes(logFile), `the log file is not named: ${error.message}`);
      return true;
    });
  });

  it('gives up on a code-server that never gets ready and kills its whole process group', async function () {
    this.timeout(20_000);
    const tag = `crucible-e2e-hang-${process.pid}-${Date.now()}`;
    // The fake starts a grandchild, as code-server starts its file watcher: both must die.
    const install = fakeInstall(
      `require('node:child_process').spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)', '${tag}'], { stdio: 'ignore' });\n` +
        `console.log('starting, but never listening'); setInterval(() => {}, 1000);`,
    );
    const started = Date.now();
    await assert.rejects(startCodeServer({ install, readyTimeoutMs: 2000, logFile: path.join(logsDir, 'bad-input-hangs.log') }), /did not report "HTTP server listening" within 2 s; its output is in .*bad-input-hangs\.log/);
    assert.ok(Date.now() - started < 10_000, `took ${Date.now() - started} ms`);
    assert.deepEqual(processesMentioning(tag), [], 'processes left behind');
  });

  it('says so when the port is already taken, quickly, and leaves no process behind', async function () {
    this.timeout(20 * 60_000); // only the first run of all installs code-server
    const install = await ensureCodeServer({ log: note });
    const port = await freePort();
    const blocker = net.createServer();
    await new Promise<void>((resolve) => blocker.listen(port, '127.0.0.1', resolve));
    try {
      const started = Date.now();
      const logFile = path.join(logsDir, 'bad-input-port-taken.log');
      await assert.rejects(startCodeServer({ install, port, logFile }), (error: Error) => {
        assert.match(error.message, new RegExp(`port 127\\.0\\.0\\.1:${port} is already in use`));
        assert.ok(error.message.includes(logFile), `the log file is not named: ${error.message}`);
        return true;
      });
      assert.ok(Date.now() - started < 20_000, `took ${Date.now() - started} ms`);
      assert.deepEqual(processesMentioning(`127.0.0.1:${port}`), [], 'processes left behind');
    } finally {
      blocker.close();
    }
  });

  it('tells a complete install from a missing, interrupted or outdated one', async function () {
    this.timeout(20 * 60_000);
    const install = await ensureCodeServer({ log: note });
    assert.equal(installProblem(install.dir), undefined);

    assert.match(installProblem(path.join(tempDir(), 'nothing-here')) ?? '', /not installed/);
    const interrupted = tempDir();
    mkdirSync(path.join(interrupted, 'node_modules', 'code-server'), { recursive: true });
    assert.match(installProblem(interrupted) ?? '', /no verified-install marker/);

    const marker = JSON.parse(readFileSync(path.join(install.dir, '.crucible-verified-install.json'), 'utf8'));
    writeFileSync(path.join(interrupted, '.crucible-verified-install.json'), JSON.stringify(marker));
    assert.match(installProblem(interrupted) ?? '', /out\/node\/entry\.js is missing/, 'a marker without the files is not an install');
    writeFileSync(path.join(interrupted, '.crucible-verified-install.json'), JSON.stringify({ ...marker, nodeAbi: '1' }));
    assert.match(installProblem(interrupted) ?? '', /Node ABI 1/);
  });

  it('names the missing Chromium and how to install it', async () => {
    await assert.rejects(launchChromium('/nonexistent/chromium'), /Chromium was not found at \/nonexistent\/chromium\. Install Debian's package \(apt-get install -y chromium\)/);
  });

  it('reports an extension that fails to activate at once, with its error, instead of timing out', async function () {
    this.timeout(20 * 60_000);
    const { server, browser } = await e2eSession();
    const workspace = tempDir();
    const workbench = await Workbench.open(browser, server, {
      folder: workspace,
      payload: [['extensionDevelopmentPath', server.remoteUri(path.join(__dirname, 'fixtures', 'broken-extension'))]],
    });
    try {
      const started = Date.now();
      const neverThere = workbench.page.locator('#crucible-e2e-never-rendered');
      await assert.rejects(
        workbench.waitForExtension('crucible-e2e.broken-fixture', neverThere, 'the fixture’s view', 120_000),
        /extension crucible-e2e\.broken-fixture failed to activate: .*fixture: activation refused on purpose[\s\S]*logged in .*exthost\.log/,
      );
      assert.ok(Date.now() - started < 60_000, `took ${Date.now() - started} ms, as long as a timeout`);
    } finally {
      await workbench.close();
    }
  });
});

/** Pids of live processes whose command line contains `text` (Linux /proc), this process excluded. */
function processesMentioning(text: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      if (readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0').join(' ').includes(text)) pids.push(Number(entry));
    } catch {
      // exited meanwhile
    }
  }
  return pids;
}

