/**
 * The Test Explorer inside a real extension host, on the copy of examples/demo-shop:
 * the `crucible` TestController's items against `crucible/artifacts`, real runs of the
 * example's node:test tests through `crucible/runTests` and through the run profile's
 * handler, cancellation, and the mapping of results onto a TestRun.
 *
 * demo-shop's tests run as `node --import tsx --test test/*.test.ts`, and the temp copy
 * the harness opens cannot resolve `tsx` (it lives in the repo's node_modules), so the
 * suite links the repo's node_modules into the copy first, as `npm install` would have.
 */
import * as assert from 'node:assert/strict';
import { existsSync, symlinkSync } from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import type { CrucibleApi } from '../../client/src/extension';
import { applyRunResult, missingResultReason, type TestRunSink } from '../../client/src/testing';
import { ArtifactsRequest, RunTestsRequest, type ArtifactsResult, type FolderTestRun, type RunTestsParams, type RunTestsResult } from '../../server/src/protocol';

const extensionId = 'crucible-dev.crucible';
/** A demo-shop test that passes. */
const knownTest = 'test/cart.test.ts#cart > totals > lineTotal, cartSubtotal and itemCount add up quantities and prices';

describe('Test Explorer in the extension host', function () {
  let api: CrucibleApi;
  let folder: vscode.WorkspaceFolder;

  // No `undefined` token argument: vscode-jsonrpc would send it as a second (null) parameter.
  const runTests = (params: RunTestsParams) => api.client.sendRequest<RunTestsResult>(RunTestsRequest.method, params);

  before(async function () {
    this.timeout(120_000);
    const extension = vscode.extensions.getExtension<CrucibleApi>(extensionId);
    assert.ok(extension, `${extensionId} is not among the loaded extensions`);
    api = await extension.activate();
    const first = vscode.workspace.workspaceFolders?.[0];
    assert.ok(first, 'the suite needs a workspace folder (a copy of examples/demo-shop)');
    folder = first;
    await within(api.whenIndexed(), 90_000, 'the first full index (crucible/indexed)');
    const modules = path.join(folder.uri.fsPath, 'node_modules');
    if (!existsSync(modules)) symlinkSync(path.join(extension.extensionPath, 'node_modules'), modules, 'dir');
    await within(api.tests.refresh(), 30_000, 'the Test Explorer loading its items');
  });

  it('shows file → suite → test items that match crucible/artifacts', async () => {
    const { artifacts } = await api.client.sendRequest<ArtifactsResult>(ArtifactsRequest.method, { kinds: ['suite', 'test'] });
    assert.ok(artifacts.length > 10, `only ${artifacts.length} suites and tests in demo-shop`);
    const folderKey = folder.uri.toString();
    const controller = api.tests.controller;

    const top: vscode.TestItem[] = [];
    controller.items.forEach((item) => top.push(item));
    const files = [...new Set(artifacts.map((a) => a.file))].sort();
    assert.deepEqual(top.map((i) => i.id).sort(), files.map((f) => `${folderKey}#${f}`), 'one top-level item per test file (one workspace folder: no folder item)');
    for (const item of top) {
      assert.equal(item.label, item.id.slice(item.id.indexOf('#') + 1), 'file items are labelled with the folder-relative path');
      assert.equal(item.parent, undefined);
    }

    const ids = new Set(artifacts.map((a) => a.id));
    for (const a of artifacts) {
      const item = api.tests.item(a.id);
      assert.ok(item, `no test item for ${a.id}`);
      assert.equal(item.id, a.id);
      assert.equal(item.label, a.name);
      assert.equal(item.uri?.toString(), vscode.Uri.parse(a.uri).toString());
      assert.deepEqual(
        [item.range?.start.line, item.range?.start.character, item.range?.end.line, item.range?.end.character],
        [a.range.start.line, a.range.start.character, a.range.end.line, a.range.end.character],
        `range of ${a.id}`,
      );
      const expectedParent = a.parent !== undefined && ids.has(a.parent) ? a.parent : `${folderKey}#${a.file}`;
      assert.equal(item.parent?.id, expectedParent, `parent of ${a.id}`);
    }

    // The nesting the example is known to have: file → describe → describe → it.
    const known = api.tests.item(knownTest);
    assert.deepEqual(ancestry(known), [`${folderKey}#test/cart.test.ts`, 'test/cart.test.ts#cart', 'test/cart.test.ts#cart > totals', knownTest]);
  });

  it('adds a test typed into a file, and drops it again on revert, reloading only that file', async function () {
    this.timeout(60_000);
    const rel = 'test/pricing.test.ts';
    const id = `${rel}#integration-added check`;
    const otherFile = api.tests.controller.items.get(`${folder.uri.toString()}#test/cart.test.ts`);
    assert.ok(otherFile);
    assert.equal(api.tests.item(id), undefined);
    const document = await vscode.workspace.openTextDocument(vscode.Uri.joinPath(folder.uri, rel));
    const editor = await vscode.window.showTextDocument(document);
    const end = document.lineAt(document.lineCount - 1).range.end;
    try {
      const added = loadedUntil(() => api.tests.item(id) !== undefined, `${id} in the Test Explorer after the edit`);
      assert.ok(await editor.edit((e) => e.insert(end, `\nit('integration-added check', () => {});\n`)));
      const load = await added;
      assert.deepEqual(load.files, [rel], 'an incremental reload of the edited file only');
      assert.equal(api.tests.item(id)?.parent?.id, `${folder.uri.toString()}#${rel}`);
      assert.equal(api.tests.controller.items.get(`${folder.uri.toString()}#test/cart.test.ts`), otherFile, 'other files keep their items');
    } finally {
      const removed = loadedUntil(() => api.tests.item(id) === undefined, `${id} gone after the revert`);
      await vscode.commands.executeCommand('workbench.action.files.revert');
      await removed;
      await vscode.commands.executeCommand('workbench.action.closeAllEditors');
    }
  });

  it('runs one demo-shop test over crucible/runTests and gets its real result', async function () {
    this.timeout(90_000);
    const result = await runTests({ runId: 'integration-direct', ids: [knownTest] });
    assert.equal(result.runId, 'integration-direct');
    assert.equal(result.folders.length, 1, JSON.stringify(result));
    const [run] = result.folders;
    assert.equal(run.problem, undefined, `the run could not report: ${run.problem}`);
    assert.equal(run.runner, 'node-test');
    assert.match(run.command, /--test/);
    const mine = run.results.find((r) => r.id === knownTest);
    assert.ok(mine, `no result for ${knownTest} among ${run.results.map((r) => `${r.id} (${r.status})`).join(', ')}`);
    assert.equal(mine.indexed, true);
    assert.equal(mine.status, 'passed', mine.message);
    assert.ok(mine.durationMs >= 0);
  });

  it('runs a test item through the run profile’s handler: enqueued, started, passed, with the runner’s output', async function () {
    this.timeout(90_000);
    const item = api.tests.item(knownTest);
    assert.ok(item);
    const started: string[] = [];
    const listening = api.tests.onRunEvent((e) => e.kind === 'started' && started.push(e.runId));
    try {
      const report = await api.tests.run(new vscode.TestRunRequest([item], undefined, api.tests.runProfile));
      assert.equal(report.error, undefined);
      assert.deepEqual([...report.outcomes.entries()].map(([id, o]) => [id, o.state]), [[knownTest, 'passed']], 'only the requested test gets a state');
      assert.ok(started.includes(report.runId), 'the server announced the run with crucible/testRunEvent');
      assert.ok(report.output.some((l) => l.startsWith('> ') && /--test/.test(l)), `the command is in the output:\n${report.output.join('\n')}`);
      assert.ok(report.output.some((l) => l.includes('lineTotal, cartSubtotal and itemCount')), `the runner's output streamed into the run:\n${report.output.join('\n')}`);
    } finally {
      listening.dispose();
    }
  });

  it('runs a whole file item: every test of the file passes', async function () {
    this.timeout(90_000);
    const fileItem = api.tests.controller.items.get(`${folder.uri.toString()}#test/pricing.test.ts`);
    assert.ok(fileItem);
    const report = await api.tests.run(new vscode.TestRunRequest([fileItem]));
    const expected = (await api.client.sendRequest<ArtifactsResult>(ArtifactsRequest.method, { uri: vscode.Uri.joinPath(folder.uri, 'test/pricing.test.ts').toString(), kinds: ['test'] })).artifacts.map((a) => a.id);
    assert.ok(expected.length > 1);
    assert.deepEqual([...report.outcomes.keys()].sort(), [...new Set(expected)].sort());
    for (const [id, o] of report.outcomes) assert.equal(o.state, 'passed', `${id}: ${o.message ?? ''}`);
  });

  it('cancels a run: $/cancelRequest reaches the server, which stops the runner and says so', async function () {
    this.timeout(90_000);
    const source = new vscode.CancellationTokenSource();
    // Cancel as soon as the runner has started (never before: then there would be nothing to stop).
    const listening = api.tests.onRunEvent((e) => e.kind === 'started' && source.cancel());
    try {
      const report = await api.tests.run(new vscode.TestRunRequest(), source.token);
      const errored = [...report.outcomes.values()].filter((o) => o.state === 'errored');
      assert.ok(report.outcomes.size > 10, 'every test was requested');
      assert.equal(report.error, undefined, 'the server answers a cancelled run with what it has');
      assert.equal(report.result?.folders[0]?.cancelled, true, `not reported as cancelled: ${JSON.stringify(report.result)}`);
      assert.ok(errored.length > 0 && errored.every((o) => /cancelled/.test(o.message ?? '')), `tests without a result name the cancel: ${JSON.stringify([...report.outcomes])}`);
    } finally {
      listening.dispose();
      source.dispose();
    }
  });

  describe('applyRunResult (a result mapped onto a run)', () => {
    let controller: vscode.TestController;
    const folderKey = 'file:///ws';
    const uri = vscode.Uri.parse('file:///ws/test/a.test.ts');
    before(() => {
      controller = vscode.tests.createTestController('crucible-mapping-test', 'mapping test');
    });
    after(() => controller.dispose());

    function items(...ids: string[]): vscode.TestItem[] {
      return ids.map((id, i) => {
        const item = controller.createTestItem(id, id, uri);
        item.range = new vscode.Range(i, 0, i, 10);
        return item;
      });
    }
    function folderRun(extra: Partial<FolderTestRun>): FolderTestRun {
      return { folderUri: folderKey, runner: 'node:test', command: 'node --test a.test.ts', exitCode: 1, timedOut: false, cancelled: false, results: [], durationMs: 5, ...extra };
    }
    function recorder() {
      const calls: string[] = [];
      const messages: vscode.TestMessage[] = [];
      const sink: TestRunSink = {
        enqueued: (i) => calls.push(`enqueued ${i.id}`),
        started: (i) => calls.push(`started ${i.id}`),
        passed: (i, d) => calls.push(`passed ${i.id} ${d}`),
        skipped: (i) => calls.push(`skipped ${i.id}`),
        failed: (i, m, d) => (calls.push(`failed ${i.id} ${d}`), messages.push(m as vscode.TestMessage)),
        errored: (i, m) => (calls.push(`errored ${i.id}`), messages.push(m as vscode.TestMessage)),
        appendOutput: () => undefined,
      };
      return { sink, calls, messages };
    }
    const result = (id: string, status: 'passed' | 'failed' | 'skipped', extra: { message?: string; indexed?: boolean } = {}) => ({
      id,
      indexed: extra.indexed ?? true,
      file: 'test/a.test.ts',
      titlePath: id.split('#')[1].split(' > '),
      status,
      durationMs: 12,
      ...(extra.message ? { message: extra.message } : {}),
    });

    it('passes, fails (message at the test), skips, and errors a requested test without a result', () => {
      const [ok, bad, skip, missing] = items('test/a.test.ts#s > ok', 'test/a.test.ts#s > bad', 'test/a.test.ts#s > skip', 'test/a.test.ts#s > missing');
      const { sink, calls, messages } = recorder();
      const outcomes = applyRunResult(
        sink,
        {
          runId: 'r',
          folders: [
            folderRun({
              results: [
                result(ok.id, 'passed'),
                result(bad.id, 'failed', { message: 'expected 1 to equal 2' }),
                result(skip.id, 'skipped'),
                result('test/a.test.ts#s > not requested', 'failed'),
                result('test/a.test.ts#s > ok', 'failed', { indexed: false }),
              ],
            }),
          ],
        },
        [ok, bad, skip, missing],
        () => folderKey,
      );
      assert.deepEqual(calls, [`passed ${ok.id} 12`, `failed ${bad.id} 12`, `skipped ${skip.id}`, `errored ${missing.id}`]);
      assert.equal(messages[0].message, 'expected 1 to equal 2');
      assert.equal(messages[0].location?.uri.toString(), uri.toString());
      assert.equal(messages[0].location?.range.start.line, 1, 'the failure points at the failing test');
      assert.match(String(messages[1].message), /No result from the runner for this test \(node --test a\.test\.ts\)/);
      assert.equal(outcomes.get(missing.id)?.state, 'errored');
    });

    it('names the reason a test has no result: the folder’s problem, a timeout, a cancel, no run at all', () => {
      assert.match(missingResultReason(folderRun({ problem: 'Cannot find module tsx' })), /^Cannot find module tsx/);
      assert.match(missingResultReason(folderRun({ timedOut: true })), /timed out.*crucible\.test\.timeoutSeconds/);
      assert.match(missingResultReason(folderRun({ cancelled: true })), /cancelled/);
      assert.match(missingResultReason(undefined), /no tests of this folder/);

      const [t] = items('test/a.test.ts#s > t');
      const { sink, calls } = recorder();
      applyRunResult(sink, { runId: 'r', folders: [folderRun({ folderUri: 'file:///elsewhere' })] }, [t], () => folderKey);
      assert.deepEqual(calls, [`errored ${t.id}`], 'a result for another folder does not count');
    });
  });

  it('runs a test with the Coverage profile and reports line coverage of the code it executed', async function () {
    this.timeout(120_000);
    const item = api.tests.item(knownTest);
    assert.ok(item, `no item ${knownTest}`);
    assert.equal(api.tests.coverageProfile.kind, vscode.TestRunProfileKind.Coverage);
    const report = await api.tests.run(new vscode.TestRunRequest([item], undefined, api.tests.coverageProfile), undefined, true);
    assert.equal(report.outcomes.get(knownTest)?.state, 'passed');
    const cart = report.coverage?.find((c) => c.uri.path.endsWith('/src/cart.ts'));
    assert.ok(cart, `coverage for src/cart.ts among ${report.coverage?.map((c) => c.uri.path).join(', ') || 'none'}`);
    assert.ok(cart.statementCoverage.covered > 0 && cart.statementCoverage.covered < cart.statementCoverage.total, `some but not all of cart.ts ran: ${cart.statementCoverage.covered}/${cart.statementCoverage.total}`);
    const details = (await api.tests.coverageProfile.loadDetailedCoverage!({} as vscode.TestRun, cart, new vscode.CancellationTokenSource().token)) as vscode.StatementCoverage[];
    assert.equal(details.filter((d) => d.executed).length, cart.statementCoverage.covered, 'one statement per covered line');
    // lineTotal ran (the test calls it): its one line is covered.
    const text = Buffer.from(await vscode.workspace.fs.readFile(cart.uri)).toString('utf8').split('\n');
    const lineTotal = text.findIndex((l) => /export const lineTotal/.test(l));
    assert.ok(details.some((d) => d.executed && (d.location as vscode.Range).start.line === lineTotal), `line ${lineTotal + 1} of cart.ts (lineTotal) covered`);
  });

  it('shows a test that fails after its code changed in the Drift view, as a regression', async function () {
    this.timeout(120_000);
    const file = vscode.Uri.joinPath(folder.uri, 'test/cart.test.ts');
    const original = Buffer.from(await vscode.workspace.fs.readFile(file)).toString('utf8');
    const green = await runTests({ runId: 'drift-green', ids: [knownTest] });
    assert.equal(green.folders[0].results.find((r) => r.id === knownTest)?.status, 'passed');
    try {
      // Break the test's own code on disk (the expected subtotal), so its hash changes.
      await vscode.workspace.fs.writeFile(file, Buffer.from(original.replace('assert.equal(cartSubtotal(accountCart), 6570);', 'assert.equal(cartSubtotal(accountCart), 6571);')));
      await within(
        (async () => {
          // The watcher's event re-indexes the file; wait until the index has the new hash.
          for (;;) {
            const { artifacts } = await api.client.sendRequest<ArtifactsResult>(ArtifactsRequest.method, { query: 'lineTotal, cartSubtotal' });
            if (artifacts.some((a) => a.id === knownTest && a.hash !== hashBefore)) return;
            await new Promise((r) => setTimeout(r, 100));
          }
        })(),
        20_000,
        'the edited test file re-indexed',
      );
      const red = await runTests({ runId: 'drift-red', ids: [knownTest] });
      assert.equal(red.folders[0].results.find((r) => r.id === knownTest)?.status, 'failed');
      api.drift.refresh();
      const events = await api.drift.current();
      const mine = events.filter((e) => e.artifact === knownTest).map((e) => `${e.kind}${e.regression ? ' (regression)' : ''}`);
      assert.ok(mine.includes('test-failure (regression)'), `Drift view events for the test: ${mine.join(', ') || 'none'}`);
      assert.ok(api.drift.view.badge && api.drift.view.badge.value >= 1, 'the view carries a badge with the number of regressions');
      // The Artifacts tree shows the evidence badge on the test (after its refresh on the run's indexChanged).
      await within(
        (async () => {
          for (;;) {
            const roots = await api.artifacts.getChildren();
            const fileNode = roots.find((n) => n.type === 'file' && n.file === 'test/cart.test.ts');
            const nodes = fileNode ? await api.artifacts.getChildren(fileNode) : [];
            const node = nodes.find((n) => n.type === 'artifact' && n.artifact.id === knownTest);
            if (node && String(api.artifacts.getTreeItem(node).description).startsWith('✗ failing')) return;
            await new Promise((r) => setTimeout(r, 100));
          }
        })(),
        20_000,
        'the tree item of the broken test described as "✗ failing"',
      );
    } finally {
      await vscode.workspace.fs.writeFile(file, Buffer.from(original));
    }
  });

  let hashBefore: string | undefined;
  before(async () => {
    const { artifacts } = await api.client.sendRequest<ArtifactsResult>(ArtifactsRequest.method, { query: 'lineTotal, cartSubtotal' });
    hashBefore = artifacts.find((a) => a.id === knownTest)?.hash;
  });

  /** Resolves with the first reload after which `condition` holds (subscribe before causing it). */
  function loadedUntil(condition: () => boolean, what: string, timeoutMs = 20_000): Promise<{ folderUri: string; files?: string[] }> {
    return within(
      new Promise((resolve) => {
        const subscription = api.tests.onDidLoad((load) => {
          if (!condition()) return;
          subscription.dispose();
          resolve(load);
        });
      }),
      timeoutMs,
      what,
    );
  }
});

function ancestry(item: vscode.TestItem | undefined): string[] {
  const out: string[] = [];
  for (let i = item; i; i = i.parent) out.unshift(i.id);
  return out;
}

function within<T>(promise: Promise<T>, timeoutMs: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: not within ${timeoutMs / 1000} s`)), timeoutMs);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
