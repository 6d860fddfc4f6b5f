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

  // Verified optimization (issue 5). bestBundlePrice recurses exponentially; the rule agent
  // memoize-recursion rewrites it with a memo Map, which the server verifies and offers as a lens.
  const bundleTests = ['test/pricing.test.ts', 'pricing', 'bestBundlePrice'];
  /** The editor's code lens row above a function: one `a` per lens command. */
  const lensLink = (text: string | RegExp) => page().locator('.editor-instance .monaco-editor .codelens-decoration a', { hasText: text });
  const variantLens = () => lensLink(/^⚡ .*faster variant/);
  const bundleLine = () => page().locator('.editor-instance .view-line', { hasText: 'export function bestBundlePrice(' });
  /** A line only the original has, and one only the memoised variant has. */
  const originalRecursion = 'best = Math.min(best, priceCents + bestBundlePrice(quantity - size, offers));';
  // Regexps see the editor's rendering, where a space may be a no-break space: \s matches both.
  const memoTable = /=\s+new\s+Map<.*>\(\);/;
  const pricingTab = () => page().locator('.tabs-container .tab[aria-label^="pricing.ts"]');
  /** The optimize run's summary: "Crucible: 1 faster variant found …, up to 13×; 0 candidates rejected." */
  let optimizeSummary = '';

  it('records evidence for bestBundlePrice, optimizes it from the Artifacts tree and shows the variant’s code lens', async function () {
    this.timeout(150_000);
    // Evidence first: the optimizer works on recorded calls. Only bestBundlePrice's tests: the
    // priceCart tests would fail on the lineTotal broken by the steps above.
    await workbench.runCommand('Testing: Focus on Test Explorer View');
    const suite = await revealTest(bundleTests);
    await suite.hover();
    await suite.locator('.action-label[aria-label="Run Test"]').click();
    await waitFor(withState(testRow(bundleTests.length, bundleTests.at(-1)!), 'passed'), 'the bestBundlePrice tests shown as passed after their run', 60_000);

    await (await waitFor(page().locator('.activitybar a[aria-label="Crucible"]'), 'the Crucible view container')).click();
    const pricingFile = await waitFor(tree().locator('[role="treeitem"][aria-level="1"][aria-label="src/pricing.ts"]'), 'src/pricing.ts in the Artifacts tree');
    if ((await pricingFile.getAttribute('aria-expanded')) === 'false') await pricingFile.click();
    const fn = await waitFor(treeItem(/^bestBundlePrice$/, 2), 'bestBundlePrice under src/pricing.ts');
    await fn.click(); // opens src/pricing.ts on bestBundlePrice, where the lens will show
    await waitFor(page().locator('.tabs-container .tab.active[aria-label^="pricing.ts"]'), 'src/pricing.ts opened from the tree');
    await expectNoLens();

    await fn.click({ button: 'right' });
    // Hover, then Enter on the focused entry: a click that lands as the menu opens can be
    // swallowed by the workbench's menu (seen with Chromium 156), leaving the menu open.
    const optimizeEntry = page().locator('.monaco-menu .action-item', { has: page().locator('.action-menu-item', { hasText: 'Optimize This Function' }) });
    await (await waitFor(optimizeEntry, 'Optimize This Function in the tree’s context menu')).hover();
    await waitFor(page().locator('.monaco-menu .action-item.focused', { hasText: 'Optimize This Function' }), 'Optimize This Function focused in the context menu');
    await page().keyboard.press('Enter');
    const summary = await waitFor(page().locator('.notifications-toasts .notification-list-item', { hasText: /Crucible: .*faster variant/ }), 'the optimize run’s summary', 120_000);
    optimizeSummary = ((await summary.innerText()) ?? '').replace(/\s+/g, ' ');
    note(`optimize summary: ${optimizeSummary}`);
    assert.match(optimizeSummary, /Crucible: 1 faster variant found \(see the code lens above the function\), up to \d+(\.\d+)?×; \d+ candidates? rejected\./, optimizeSummary);

    const lens = await waitFor(variantLens(), 'the faster-variant lens in the editor', 30_000);
    const title = ((await lens.innerText()) ?? '').trim();
    // The tests agreeing are those of test/pricing.test.ts that pass with the original too.
    assert.match(title, /^⚡ \d+(\.\d+)?× faster variant · [1-9]\d* recorded calls? and [1-9]\d* tests? agree$/, `lens: ${title}`);
    // One variant: the lens's speedup is the summary's (rounded to 2 significant digits at 10× and more).
    const [lensX, summaryX] = [Number(/^⚡ (\d+(?:\.\d+)?)×/.exec(title)![1]), Number(/up to (\d+(?:\.\d+)?)×/.exec(optimizeSummary)![1])];
    assert.ok(lensX > 1 && Math.abs(lensX - summaryX) <= 0.5, `lens "${title}" and summary "${optimizeSummary}"`);
    for (const action of ['Apply', 'Diff', 'Dismiss']) await waitFor(lensLink(new RegExp(`^${action}$`)), `the ${action} lens`);
    await assertAbove(lens, bundleLine(), 'the variant lens');
    // Off the tree's hover (where the context menu was), onto the empty tab bar; cosmetic, so not awaited hard.
    await page().mouse.move(1000, 50);
    await page().locator('.workbench-hover').first().waitFor({ state: 'hidden', timeout: 5_000 }).catch(() => page().keyboard.press('Escape'));
    await workbench.screenshot('10-variant-lens');
  });

  it('opens the variant’s diff from its Diff lens', async function () {
    this.timeout(60_000);
    // The summary toast, off the screenshots: its Clear button shows on hover.
    const toast = page().locator('.notifications-toasts .notification-list-item', { hasText: /Crucible: .*faster variant/ });
    if (await toast.isVisible()) {
      await toast.hover();
      await toast.locator('.codicon-notifications-clear').click({ timeout: 10_000 });
      await waitFor(toast, 'the summary toast cleared', 10_000, 'hidden');
    }
    await lensLink(/^Diff$/).click();
    const tab = await waitFor(page().locator('.tabs-container .tab.active', { hasText: /bestBundlePrice: original ↔ .*faster variant/ }), 'the diff editor’s tab', 20_000);
    const tabTitle = ((await tab.innerText()) ?? '').trim();
    assert.match(tabTitle, /^bestBundlePrice: original ↔ \d+(\.\d+)?× faster variant \(rule:memoize-recursion\)/, `tab: ${tabTitle}`);
    const diff = page().locator('.editor-instance .monaco-diff-editor');
    // Left: the function as verified; right: the memoised variant. Neither side is the file.
    await waitFor(diff.locator('.editor.original .view-line', { hasText: originalRecursion }), 'the original recursion on the diff’s left side', 20_000);
    await waitFor(diff.locator('.editor.modified .view-line', { hasText: memoTable }), 'the memo table on the diff’s right side', 20_000);
    // Both sides are the function from `function` on (the `export` before it is not replaced).
    await waitFor(diff.locator('.editor.modified .view-line', { hasText: 'function bestBundlePrice(quantity: number, offers: BundleOffer[]): number {' }), 'the variant keeping the function’s signature');
    assert.equal(await diff.locator('.editor.original .view-line', { hasText: memoTable }).count(), 0, 'no memo table in the original');
    await workbench.screenshot('11-variant-diff');

    await tab.locator('.tab-actions .codicon-close').click({ timeout: 10_000 });
    await waitFor(page().locator('.tabs-container .tab', { hasText: 'original ↔' }), 'the diff editor closed', 10_000, 'hidden');
    await waitFor(page().locator('.tabs-container .tab.active[aria-label^="pricing.ts"]'), 'src/pricing.ts back in the editor');
    await waitFor(variantLens(), 'the variant lens still offered after the diff');
  });

  it('applies the variant from its Apply lens as an unsaved edit, and Undo restores the original', async function () {
    this.timeout(60_000);
    const onDisk = readFileSync(path.join(workspace, 'src', 'pricing.ts'), 'utf8');
    await lensLink(/^Apply$/).click();
    await waitFor(page().locator('.editor-instance .view-line', { hasText: memoTable }), 'the memo table in src/pricing.ts after Apply', 20_000);
    await waitFor(page().locator('.editor-instance .view-line', { hasText: originalRecursion }), 'the original recursion gone from the editor', 10_000, 'hidden');
    await waitFor(pricingTab().and(page().locator('.tab.active.dirty')), 'src/pricing.ts changed and unsaved');
    await waitFor(bundleLine(), 'bestBundlePrice’s signature kept');
    // Applied: the server stops offering it, so its lens goes.
    await waitFor(variantLens(), 'the variant lens gone once applied', 20_000, 'hidden');
    assert.equal(readFileSync(path.join(workspace, 'src', 'pricing.ts'), 'utf8'), onDisk, 'Apply does not save the file');
    await workbench.screenshot('12-variant-applied');

    await bundleLine().click(); // the editor's focus, for its undo stack
    await page().keyboard.press('Control+Z');
    await waitFor(page().locator('.editor-instance .view-line', { hasText: originalRecursion }), 'the original recursion back after Undo', 20_000);
    await waitFor(page().locator('.editor-instance .view-line', { hasText: memoTable }), 'the memo table gone after Undo', 10_000, 'hidden');
    await waitFor(pricingTab().and(page().locator('.tab.active:not(.dirty)')), 'src/pricing.ts back to its saved text');
    assert.equal(readFileSync(path.join(workspace, 'src', 'pricing.ts'), 'utf8'), onDisk);
  });

  it('lists the micro-agents with their numbers in the Micro-agents view', async function () {
    this.timeout(60_000);
    await workbench.runCommand('Crucible: Focus on Micro-agents View');
    // The Artifacts and Drift views collapsed, so every agent row has room (the list renders only what shows).
    const header = (title: string) => page().locator('.pane-header', { has: page().locator('h3.title', { hasText: new RegExp(`^${title}$`, 'i') }) });
    for (const title of ['Artifacts', 'Drift']) {
      if ((await (await waitFor(header(title), `the ${title} view's header`)).getAttribute('aria-expanded')) === 'true') await header(title).click();
      await waitFor(header(title).and(page().locator('[aria-expanded="false"]')), `the ${title} view collapsed`);
    }
    await waitFor(header('Micro-agents').and(page().locator('[aria-expanded="true"]')), 'the Micro-agents view expanded');
    const view = page().locator('.monaco-list[aria-label="Micro-agents"]');
    const rows = view.locator('[role="treeitem"]');
    const memo = await waitFor(rows.filter({ has: page().locator('.label-name', { hasText: /^#\d+ rule:memoize-recursion$/ }) }), 'rule:memoize-recursion in the Micro-agents view', 20_000);
    await waitFor(rows.filter({ has: page().locator('.label-name', { hasText: /^Optimizer settings$/ }) }), 'the Optimizer settings row');
    const names = await rows.locator('.label-name').allInnerTexts();
    const descriptions = await rows.locator('.label-description').allInnerTexts();
    note(`micro-agents: ${names.map((n, i) => `${n} ${descriptions[i] ?? ''}`).join(' | ')}`);
    const agents = names.slice(0, -1);
    assert.equal(names.at(-1), 'Optimizer settings', `rows: ${names.join(', ')}`);
    // Ranked best first: #1, #2, …, each with accepted/attempts · rate [interval].
    assert.deepEqual(agents.map((n) => Number(/^#(\d+) /.exec(n)?.[1])), agents.map((_, i) => i + 1), `ranks: ${agents.join(', ')}`);
    for (const [i, name] of agents.entries()) assert.match(descriptions[i], /^(retired · )?\d+\/\d+ · \d+% \[\d+–\d+%\]/, `${name}: ${descriptions[i]}`);
    // The one variant found was memoize-recursion's, from its one attempt: it ranks first.
    const memoText = ((await memo.locator('.label-name').innerText()) ?? '').trim();
    const memoDescription = ((await memo.locator('.label-description').innerText()) ?? '').trim();
    assert.equal(memoText, '#1 rule:memoize-recursion', `rows: ${names.join(', ')}`);
    assert.match(memoDescription, /^1\/1 · \d+% \[\d+–\d+%\] · \d+(\.\d+)?× · [\d.]+ ms/, `memoize-recursion: ${memoDescription}`);
    const accepted = descriptions.slice(0, agents.length).reduce((n, d) => n + Number(/(\d+)\//.exec(d)![1]), 0);
    assert.equal(accepted, 1, `accepted candidates over all agents (the run found one variant): ${descriptions.join(' | ')}`);
    // A wider side bar for the screenshot, so the numbers are not cut off; then back as it was.
    const width = await dragSideBar(700);
    await workbench.screenshot('13-micro-agents');
    await dragSideBar(width);
    for (const title of ['Artifacts', 'Drift']) await header(title).click(); // as they were
  });

  /** Drags the side bar's sash until the side bar is `width` px wide; returns the width it had. */
  async function dragSideBar(width: number): Promise<number> {
    const box = async () => (await page().locator('.part.sidebar').boundingBox())!;
    const before = await box();
    const y = before.y + before.height / 2;
    await page().mouse.move(before.x + before.width, y);
    await page().mouse.down();
    await page().mouse.move(before.x + width, y, { steps: 5 });
    await page().mouse.up();
    const after = await box();
    assert.ok(Math.abs(after.width - width) < 5, `the side bar is ${after.width} px wide, not ${width}`);
    return before.width;
  }

  /** No variant lens anywhere in the editor (before the optimize run). */
  async function expectNoLens(): Promise<void> {
    assert.equal(await variantLens().count(), 0, 'a variant lens before any optimize run');
  }

  /** `lens` sits in the view zone right above `line` (within one line's height). */
  async function assertAbove(lens: Locator, line: Locator, what: string): Promise<void> {
    const [l, t] = [await lens.boundingBox(), await (await waitFor(line, `the line under ${what}`)).boundingBox()];
    assert.ok(l && t, `${what}: not laid out`);
    const gap = t.y - (l.y + l.height);
    assert.ok(gap >= -1 && gap < t.height, `${what} is not right above the line: lens y ${l.y}+${l.height}, line y ${t.y} (height ${t.height})`);
  }

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
