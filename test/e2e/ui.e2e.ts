/**
 * The user's view of Crucible in a real VS Code (code-server 1.100 + Chromium), on a temp
 * copy of examples/demo-shop, with the extension installed from the packaged VSIX.
 * The steps build on each other (the suite bails at the first failure); each saves a
 * screenshot in test-results/e2e/, and a failure also saves the Crucible output channel.
 */
import * as assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, symlinkSync } from 'node:fs';
import * as path from 'node:path';
import { promisify } from 'node:util';
import type { Locator } from 'playwright-core';
import { repoRoot } from './codeServer';
import { e2eSession, note } from './session';
import { attributes, waitFor, Workbench } from './workbench';

const extensionId = 'crucible-dev.crucible';
const demoShop = path.join(repoRoot, 'examples', 'demo-shop');

describe('e2e: Crucible in code-server, driven through the UI', function () {
  this.bail(true);
  let workbench: Workbench;
  let workspace: string;

  before(async function () {
    this.timeout(20 * 60_000);
    const { server, browser } = await e2eSession();
    workspace = server.copyWorkspace(demoShop);
    workbench = await Workbench.open(browser, server, { folder: workspace });
  });

  afterEach(async function () {
    if (this.currentTest?.state !== 'failed' || !workbench) return;
    const saved = await workbench.saveFailure(this.currentTest.fullTitle());
    note(`failure evidence: ${saved.map((f) => path.relative(repoRoot, f)).join(', ')}`);
  });

  after(async () => {
    await workbench?.close();
  });

  const page = () => workbench.page;
  const tree = () => page().locator('.monaco-list[aria-label="Artifacts"]');
  const treeItem = (label: string | RegExp, level?: number) =>
    tree().locator(`[role="treeitem"]${level ? `[aria-level="${level}"]` : ''}`, { has: page().locator('.label-name', { hasText: label }) });
  const statusItem = () => page().locator('[id="crucible-dev.crucible.crucible.status"]');
  const statusCount = (artifacts: number) => statusItem().filter({ hasText: `Crucible: ${artifacts} artifacts` });
  /** What the status bar reported once the first index was done. */
  let indexedArtifacts = 0;

  it('activates and shows the Artifacts tree with the example’s files and functions', async function () {
    this.timeout(120_000);
    await (await waitFor(page().locator('.activitybar a[aria-label="Crucible"]'), 'the Crucible view container in the activity bar')).click();
    // Activation and the first index take the longest; once the status bar reports the index,
    // the tree has no reason to take more than a moment.
    await workbench.waitForExtension(extensionId, statusItem().filter({ hasText: /Crucible: \d+ artifacts/ }), 'the status bar reporting a finished index', 90_000);
    await waitFor(treeItem('pricing.ts', 1), 'src/pricing.ts in the Artifacts tree, with the index ready', 15_000);

    const files = sourceFiles(workspace);
    const shown = await attributes(tree().locator('[role="treeitem"][aria-level="1"]'), 'aria-label');
    assert.deepEqual(shown, files, 'one top-level entry per indexed file, sorted by path');

    await treeItem('pricing.ts', 1).click();
    for (const fn of ['findCoupon', 'bestBundlePrice', 'priceCart', 'taxRules.rateFor']) {
      await waitFor(treeItem(new RegExp(`^${fn.replace('.', '\\.')}$`), 2), `artifact ${fn} under pricing.ts`, 15_000);
    }
    await workbench.screenshot('01-artifacts-tree');
  });

  it('shows the index state in the status bar', async function () {
    this.timeout(60_000);
    const ready = await waitFor(statusItem().filter({ hasText: /Crucible: \d+ artifacts · \d+ files/ }), 'the status bar showing the finished index', 30_000);
    const [, artifacts, files] = /(\d+) artifacts · (\d+) files/.exec((await ready.textContent()) ?? '')!;
    // The command line indexes an identical copy: the status bar must show the server's real counts.
    const copy = workbench.server.copyWorkspace(demoShop);
    const { stdout } = await promisify(execFile)(process.execPath, [path.join(repoRoot, 'dist', 'cli.js'), 'index', copy, '--json']);
    const cli = JSON.parse(stdout) as { files: number; artifacts: unknown[] };
    assert.equal(Number(files), cli.files, 'files in the status bar');
    assert.equal(Number(artifacts), cli.artifacts.length, 'artifacts in the status bar');
    indexedArtifacts = Number(artifacts);
    assert.match((await ready.getAttribute('aria-label')) ?? '', /up to date/i);
    await workbench.screenshot('02-status-bar');
  });

  it('runs "Crucible: Find Similar Artifacts" from the command palette and navigates to the chosen result', async function () {
    this.timeout(90_000);
    // Put the cursor on findCoupon by clicking it in the tree (which opens it with its name selected).
    await treeItem(/^findCoupon$/, 2).click();
    await waitFor(page().locator('.tabs-container .tab.active[aria-label^="pricing.ts"]'), 'pricing.ts opened from the tree');
    await waitFor(page().locator('[id="status.editor.selection"]', { hasText: `(${'findCoupon'.length} selected)` }), 'findCoupon selected in the editor');

    await workbench.runCommand('Crucible: Find Similar Artifacts');
    await waitFor(page().locator('.quick-input-widget .quick-input-title', { hasText: 'Similar to findCoupon (src/pricing.ts)' }), 'the Find Similar result list', 30_000);
    const options = page().locator('.quick-input-list [role="option"]');
    await waitFor(options, 'a similar artifact');
    // Choose the best-scored function elsewhere: its name selection can be checked against the file.
    const labels = await attributes(options, 'aria-label');
    const results = labels.map(parseResult).filter((r) => r.kind === 'function' && r.file !== 'src/pricing.ts');
    assert.ok(results.length > 0, `no function from another file among the results:\n${labels.join('\n')}`);
    const choice = results[0];
    await workbench.screenshot('03-find-similar-results');
    await page().locator('.quick-input-widget input.input').fill(choice.name);
    await waitFor(page().locator('.quick-input-list .monaco-list-row.focused', { hasText: `score ${choice.score}` }), `${choice.name} highlighted`);
    await page().keyboard.press('Enter');

    await waitFor(page().locator(`.tabs-container .tab.active[aria-label^="${path.posix.basename(choice.file)}"]`), `${choice.file} opened by Find Similar`, 20_000);
    // The editor selects the artifact's name (the last part of a qualified name like `outer.inner`).
    const name = choice.name.slice(choice.name.lastIndexOf('.') + 1);
    const selection = await waitFor(page().locator('[id="status.editor.selection"]', { hasText: `(${name.length} selected)` }), `${name} selected`);
    const [, line, column] = /Ln (\d+), Col (\d+)/.exec((await selection.textContent()) ?? '')!;
    const text = readFileSync(path.join(workspace, choice.file), 'utf8').split('\n')[Number(line) - 1];
    const end = Number(column) - 1;
    assert.equal(text.slice(end - name.length, end), name, `line ${line} of ${choice.file}: ${text}`);
    await workbench.screenshot('04-find-similar-navigated');
  });

  it('updates the tree when a file is edited, without a reload', async function () {
    this.timeout(90_000);
    const added = 'e2eLoyaltyDiscount';
    await treeItem(/^findCoupon$/, 2).click();
    await waitFor(page().locator('.tabs-container .tab.active[aria-label^="pricing.ts"]'), 'pricing.ts back in the editor');
    await page().locator('.editor-instance .monaco-editor .view-lines').first().click();
    await page().keyboard.press('Control+End');
    await page().keyboard.press('Enter');
    await page().keyboard.insertText(`export function ${added}(cents: number, years: number) { return cents - years; }`);
    await waitFor(page().locator('.tabs-container .tab.active.dirty'), 'the edited, unsaved pricing.ts');
    await waitFor(treeItem(new RegExp(`^${added}$`), 2), `${added} in the tree after typing it`, 30_000);
    await waitFor(statusCount(indexedArtifacts + 1), `the status bar counting ${indexedArtifacts + 1} artifacts`, 15_000);
    await workbench.screenshot('05-tree-after-edit');

    await workbench.runCommand('File: Revert File');
    await waitFor(treeItem(new RegExp(`^${added}$`), 2), `${added} gone from the tree after reverting the file`, 30_000, 'hidden');
    await waitFor(statusCount(indexedArtifacts), `the status bar back at ${indexedArtifacts} artifacts`, 15_000);
  });

  // The Test Explorer's rows. A row's accessible name is its label, then its state: "cart (Not yet run)".
  const testRow = (level: number, label: string) => page().locator(`.test-explorer [role="treeitem"][aria-level="${level}"][aria-label^=${JSON.stringify(`${label} (`)}]`);
  const withState = (row: Locator, state: 'passed' | 'failed') => row.filter({ has: page().locator(`.computed-state.codicon-testing-${state}-icon`) });
  /** Expands file → describe → … down to the last label's parent; returns the last row. */
  async function revealTest(chain: string[]): Promise<Locator> {
    for (let level = 1; level < chain.length; level++) {
      const row = await waitFor(testRow(level, chain[level - 1]), `"${chain[level - 1]}" in the Test Explorer`, 30_000);
      if ((await row.getAttribute('aria-expanded')) === 'false') await row.locator('.monaco-tl-twistie').click();
    }
    return waitFor(testRow(chain.length, chain.at(-1)!), `"${chain.at(-1)}" in the Test Explorer`);
  }
  // file → describe → describe → it, as the Crucible TestController nests them.
  const totalsTest = ['test/cart.test.ts', 'cart', 'totals', 'lineTotal, cartSubtotal and itemCount add up quantities and prices'];
  const addItemTest = ['test/cart.test.ts', 'cart', 'addItem / removeItem', 'appends a new line with a default quantity of one'];
  /** The line of src/cart.ts that defines lineTotal, as the editor renders it. */
  const lineTotalLine = () => page().locator('.editor-instance .view-line', { hasText: 'export const lineTotal = ' });

  it('runs a demo-shop test from the Testing view and shows it passed', async function () {
    this.timeout(120_000);
    // The example's tests run as `node --import tsx --test`: the temp copy resolves tsx through
    // the repo's node_modules, as it would after `npm install`.
    const modules = path.join(workspace, 'node_modules');
    if (!existsSync(modules)) symlinkSync(path.join(repoRoot, 'node_modules'), modules, 'dir');

    await workbench.runCommand('Testing: Focus on Test Explorer View');
    const test = await revealTest(totalsTest);
    await test.hover();
    await test.locator('.action-label[aria-label="Run Test"]').click();
    await waitFor(withState(testRow(totalsTest.length, totalsTest.at(-1)!), 'passed'), 'the test shown as passed after its run', 60_000);
    assert.match((await test.getAttribute('aria-label')) ?? '', /passed/i);
    await workbench.screenshot('06-testing-view');
  });

  it('shows the evidence of the run when a function’s name is hovered in the editor', async function () {
    this.timeout(60_000);
    // The test just run calls lineTotal three times (once directly, twice through cartSubtotal).
    await (await waitFor(page().locator('.activitybar a[aria-label="Crucible"]'), 'the Crucible view container')).click();
    const cartFile = await waitFor(tree().locator('[role="treeitem"][aria-level="1"][aria-label="src/cart.ts"]'), 'src/cart.ts in the Artifacts tree');
    if ((await cartFile.getAttribute('aria-expanded')) === 'false') await cartFile.click();
    await (await waitFor(treeItem(/^lineTotal$/, 2), 'lineTotal under src/cart.ts')).click();
    await waitFor(page().locator('.tabs-container .tab.active[aria-label^="cart.ts"]'), 'src/cart.ts opened from the tree');

    await lineTotalLine().locator('span', { hasText: /^lineTotal$/ }).first().hover();
    const hover = await waitFor(page().locator('.monaco-hover', { hasText: 'Crucible · lineTotal (function)' }), 'the Crucible hover on lineTotal', 20_000);
    const text = ((await hover.innerText()) ?? '').replace(/\s+/g, ' ');
    assert.match(text, /✓ verified · tests 1\/1 passing \(run \d{4}-\d\d-\d\d \d\d:\d\d\)/, `hover: ${text}`);
    // How many of the calls were also recorded with their arguments is the recorder's business, not the hover's.
    assert.match(text, /coverage 100% · 3 calls in the last run, \d+ recorded/, `hover: ${text}`);
    assert.match(text, /Last verified \d{4}-\d\d-\d\d \d\d:\d\d, on this code\./, `hover: ${text}`);
    await workbench.screenshot('07-hover-evidence');
    await page().keyboard.press('Escape');
    await waitFor(page().locator('.monaco-hover', { hasText: 'Crucible · lineTotal' }), 'the hover closed', 10_000, 'hidden');
  });

  it('breaks a function in the editor, runs the test file from the Testing view and shows passed and failed tests', async function () {
    this.timeout(120_000);
    // src/cart.ts is open from the hover step: make lineTotal one cent off, typed and saved.
    await lineTotalLine().click();
    await page().keyboard.press('End');
    await page().keyboard.press('ArrowLeft'); // before the `;`
    await page().keyboard.insertText(' + 1');
    await waitFor(lineTotalLine().filter({ hasText: 'quantity * unitPriceCents + 1;' }), 'the edited lineTotal in the editor');
    await page().keyboard.press('Control+S');
    await page().keyboard.press('Home'); // scrolls the long line back into view for the screenshots
    await waitFor(page().locator('.tabs-container .tab.active:not(.dirty)[aria-label^="cart.ts"]'), 'src/cart.ts saved');
    assert.match(readFileSync(path.join(workspace, 'src', 'cart.ts'), 'utf8'), /=> quantity \* unitPriceCents \+ 1;/);

    await workbench.runCommand('Testing: Focus on Test Explorer View');
    const file = await waitFor(testRow(1, 'test/cart.test.ts'), 'test/cart.test.ts in the Test Explorer');
    await file.hover();
    await file.locator('.action-label[aria-label="Run Test"]').click();
    // lineTotal's test fails now; addItem's tests never call it and still pass.
    await waitFor(withState(testRow(1, 'test/cart.test.ts'), 'failed'), 'the file shown as failed after its run', 60_000);
    await waitFor(withState(testRow(totalsTest.length, totalsTest.at(-1)!), 'failed'), `"${totalsTest.at(-1)}" shown as failed`);
    const passing = await revealTest(addItemTest);
    await waitFor(withState(testRow(addItemTest.length, addItemTest.at(-1)!), 'passed'), `"${addItemTest.at(-1)}" shown as passed`);
    assert.match((await passing.getAttribute('aria-label')) ?? '', /passed/i);
    assert.match((await testRow(totalsTest.length, totalsTest.at(-1)!).getAttribute('aria-label')) ?? '', /failed/i);
    await workbench.screenshot('08-testing-pass-fail');
  });

  it('lists the test failure since the code change as a Crucible warning in the Problems panel', async function () {
    this.timeout(60_000);
    await workbench.runCommand('View: Focus Problems (Errors, Warnings, Infos)');
    const expected = 'Test failing since a code change: test test/cart.test.ts#cart > totals > lineTotal, cartSubtotal and itemCount add up quantities and prices fails in the run of';
    const problem = await waitFor(page().locator('.markers-panel [role="treeitem"]', { hasText: expected }), 'the test-failure drift in the Problems panel', 20_000);
    const text = ((await problem.innerText()) ?? '').replace(/\s+/g, ' ');
    assert.match(text, /it passed on \d{4}-\d\d-\d\d \d\d:\d\d and the code changed \([0-9a-f]+ → [0-9a-f]+\)/, `problem: ${text}`);
    // Source and code, shown as "crucible(test-failure)".
    assert.match(text, /crucible\W*test-failure/, `problem: ${text}`);
    const label = (await problem.getAttribute('aria-label')) ?? '';
    assert.match(label, /warning/i, `a regression is a Warning: ${label}`);
    await waitFor(problem.locator('.codicon-warning'), 'the warning icon on the problem');
    // On lineTotal's name in src/cart.ts (col 14, after `export const `).
    const line = readFileSync(path.join(workspace, 'src', 'cart.ts'), 'utf8').split('\n').findIndex((l) => l.startsWith('export const lineTotal')) + 1;
    assert.match(text, new RegExp(`\\[Ln ${line}, Col 14\\]`), `problem: ${text}`);
    await workbench.screenshot('09-problems-drift');
  });

});

/** Folder-relative paths of the example's source files, as the tree lists them. */
function sourceFiles(root: string): string[] {
  const out: string[] = [];
  const walk = (rel: string) => {
    for (const e of readdirSync(path.join(root, rel), { withFileTypes: true })) {
      const child = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory() && !e.name.startsWith('.') && e.name !== 'node_modules') walk(child);
      else if (e.isFile() && /\.(ts|tsx|js|py)$/.test(e.name)) out.push(child);
    }
  };
  walk('');
  return out.sort((a, b) => a.localeCompare(b));
}

/** A Find Similar entry's accessible name: "name, score 0.41 · src/file.ts, function (a, b)". */
function parseResult(label: string): { name: string; score: string; file: string; kind: string } {
  const m = /^(.*), score (-?[\d.]+) · ([^,]+), (\w+)/.exec(label);
  assert.ok(m, `unexpected Find Similar entry: ${label}`);
  return { name: m[1], score: m[2], file: m[3], kind: m[4] };
}
