/**
 * Verified optimization inside a real extension host, on the copy of examples/demo-shop:
 * the optimize and variant commands, `crucible.optimize` on functions with recorded
 * evidence, the Micro-agents view's rows, a variant's code lens
 * (`vscode.executeCodeLensProvider`), Diff (a diff editor of two `crucible-variant:`
 * documents), Apply (the document becomes the variant; `undo` restores it) and Dismiss
 * (the lens goes away).
 *
 * One optimize run covers two functions: `src/pricing.ts#bestBundlePrice` (exponential
 * recursion the memoize rule rewrites; its variant's lens on src/pricing.ts is the one the
 * lens/diff/apply tests prefer) and `src/inventory.ts#stockLevels` (a reduce that copies
 * its accumulator, which the rule agents reliably speed up several times). The lens tests
 * work on the first function that got a variant, and Dismiss on the other one when both
 * did, so no second optimize run is needed.
 *
 * The optimizer needs recorded calls, so the suite first runs demo-shop's pricing tests
 * through Crucible (which records them), with the repo's node_modules linked into the copy
 * as testing.test.ts does. Requests go by method name (see extension.test.ts).
 */
import * as assert from 'node:assert/strict';
import { existsSync, symlinkSync } from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { describeAgent, noAgentsMessage, type AgentsTreeNode } from '../../client/src/agentsView';
import { formatRateInterval as formatRate } from '../../server/src/format';
import type { CrucibleApi } from '../../client/src/extension';
import { summarizeOptimize, variantScheme } from '../../client/src/optimize';
import {
  ArtifactsRequest,
  RunTestsRequest,
  VariantActionRequest,
  type AgentInfo,
  type ArtifactsResult,
  type OptimizeResult,
  type RunTestsResult,
  type VariantActionParams,
  type VariantActionResult,
} from '../../server/src/protocol';

const extensionId = 'crucible-dev.crucible';
/** The function the lens, diff and apply tests prefer. */
const target = 'src/pricing.ts#bestBundlePrice';
/** A second function the rule agents reliably find a faster variant for. */
const second = 'src/inventory.ts#stockLevels';
const fileOf = (artifact: string) => artifact.slice(0, artifact.indexOf('#'));
const lensCommands = ['crucible.variant.apply', 'crucible.variant.diff', 'crucible.variant.dismiss'];

describe('Verified optimization in the extension host', function () {
  let extension: vscode.Extension<CrucibleApi>;
  let api: CrucibleApi;
  let folder: vscode.WorkspaceFolder;
  /** The optimize run's answer (undefined if the server could not optimize). */
  let optimized: OptimizeResult | undefined;
  /** The variant the lens, diff and apply tests work on, and its function. */
  let variantId: string | undefined;
  let variantArtifact = target;

  const fileUri = (rel: string) => vscode.Uri.joinPath(folder.uri, rel);
  const variantAction = (params: VariantActionParams) => api.client.sendRequest<VariantActionResult>(VariantActionRequest.method, params);

  before(async function () {
    this.timeout(180_000);
    const found = vscode.extensions.getExtension<CrucibleApi>(extensionId);
    assert.ok(found, `${extensionId} is not among the loaded extensions`);
    extension = found;
    api = await extension.activate();
    const first = vscode.workspace.workspaceFolders?.[0];
    assert.ok(first, 'the suite needs a workspace folder (a copy of examples/demo-shop)');
    folder = first;
    await within(api.whenIndexed(), 90_000, 'the first full index (crucible/indexed)');
    const modules = path.join(folder.uri.fsPath, 'node_modules');
    if (!existsSync(modules)) symlinkSync(path.join(extension.extensionPath, 'node_modules'), modules, 'dir');
    // Evidence first: the optimizer works only on functions with recorded calls.
    const tests: string[] = [];
    for (const file of ['test/pricing.test.ts', 'test/fulfilment.test.ts']) {
      const { artifacts } = await api.client.sendRequest<ArtifactsResult>(ArtifactsRequest.method, { uri: fileUri(file).toString(), kinds: ['test'] });
      assert.ok(artifacts.length > 0, `demo-shop has tests in ${file}`);
      tests.push(...artifacts.map((t) => t.id));
    }
    const run = await api.client.sendRequest<RunTestsResult>(RunTestsRequest.method, { runId: 'integration-optimize-evidence', ids: tests });
    assert.equal(run.folders[0]?.problem, undefined, `the tests could not run: ${run.folders[0]?.problem}`);
  });

  afterEach(async () => {
    await vscode.commands.executeCommand('workbench.action.revertAndCloseActiveEditor');
    await vscode.commands.executeCommand('workbench.action.closeAllEditors');
  });

  it('registers the optimize and variant commands, and keeps the lens commands out of the palette', async () => {
    const registered = new Set(await vscode.commands.getCommands(true));
    for (const id of ['crucible.optimize', 'crucible.optimizeFunction', ...lensCommands]) assert.ok(registered.has(id), `${id} is not registered`);
    const contributes = extension.packageJSON.contributes as {
      commands: { command: string; title: string; category?: string }[];
      menus: Record<string, { command: string; when?: string }[]>;
      views: Record<string, { id: string }[]>;
    };
    const optimize = contributes.commands.find((c) => c.command === 'crucible.optimize');
    assert.deepEqual([optimize?.title, optimize?.category], ['Optimize Functions with Evidence', 'Crucible']);
    const hidden = contributes.menus.commandPalette.filter((m) => m.when === 'false').map((m) => m.command);
    for (const id of lensCommands) assert.ok(hidden.includes(id), `${id} shows in the command palette`);
    assert.ok(
      contributes.menus['view/item/context'].some((m) => m.command === 'crucible.optimizeFunction' && /crucible\.artifacts/.test(m.when ?? '')),
      'Optimize This Function is in the Artifacts tree context menu',
    );
    assert.deepEqual(
      contributes.views.crucible.map((v) => v.id).slice(-2),
      ['crucible.drift', 'crucible.agents'],
      'the Micro-agents view comes after Drift',
    );
  });

  it('describes agents and optimize runs in the words the view and the summary use', () => {
    const agent: AgentInfo = { rank: 1, id: 'rule:memoize-recursion', kind: 'rule', description: 'memo table', attempts: 9, accepted: 6, mean: 0.62, low: 0.41, high: 0.8, meanSpeedup: 2.4, meanLatencyMs: 35, provisional: false };
    assert.equal(formatRate(0.62, 0.41, 0.8), '62% [41–80%]');
    assert.equal(describeAgent(agent), '6/9 · 62% [41–80%] · 2.4× · 35 ms');
    assert.equal(describeAgent({ ...agent, attempts: 1, accepted: 0, meanSpeedup: undefined, meanLatencyMs: undefined, provisional: true }), '0/1 · 62% [41–80%] (provisional)');
    assert.match(describeAgent({ ...agent, retired: { at: '2026-01-01T00:00:00Z', reason: 'low acceptance' } }), /^retired · 6\/9/);
    assert.match(noAgentsMessage, /Crucible: Optimize Functions with Evidence/);
    const folderUri = folder.uri.toString();
    assert.match(
      summarizeOptimize({
        folders: [
          {
            folderUri,
            variants: [{ id: `${target}@rule:x#1`, artifact: target, agent: 'rule:x', speedup: 3.14, summary: 'memo' }],
            rejected: [{ artifact: target, agent: 'rule:y', reason: 'differential: differs' }],
            skipped: [],
            verified: 2,
            notices: ['Ollama not reachable: rule agents only'],
          },
        ],
      }),
      /^Crucible: 1 faster variant found .*up to 3\.1×; 1 candidate rejected\. Ollama not reachable: rule agents only\.$/,
    );
    assert.match(summarizeOptimize({ folders: [] }), /nothing to optimize yet/);
  });

  // Everything below needs the server side of crucible/optimize, crucible/agents,
  // crucible/variantAction and textDocument/codeLens.

  it(`runs crucible.optimize on ${target} and ${second} and gets verified variants`, async function () {
    this.timeout(240_000);
    optimized = await vscode.commands.executeCommand<OptimizeResult | undefined>('crucible.optimize', { ids: [target, second] });
    assert.ok(optimized, 'crucible.optimize returned nothing (server error or untrusted workspace; see the Crucible output)');
    assert.equal(optimized.folders.length, 1, JSON.stringify(optimized));
    const [f] = optimized.folders;
    assert.ok(f.verified > 0, `no candidate was verified: ${JSON.stringify(f)}`);
    for (const x of [...f.variants, ...f.rejected, ...f.skipped]) assert.ok([target, second].includes(x.artifact), `${x.artifact} was not asked for`);
    for (const v of f.variants) assert.ok(v.speedup > 1, `${v.id} is not faster: ${v.speedup}`);
    // The preferred function's best variant, else the other one's.
    const best = [target, second].map((a) => f.variants.filter((v) => v.artifact === a).sort((x, y) => y.speedup - x.speedup)[0]).find(Boolean);
    assert.ok(best, `no variant for either function: ${JSON.stringify(f)}`);
    variantId = best.id;
    variantArtifact = best.artifact;
  });

  it(`offers a variant for ${target} (memoized recursion)`, () => {
    assert.ok(optimized, 'needs the optimize run above');
    const f = optimized.folders[0];
    assert.ok(
      f.variants.some((v) => v.artifact === target),
      `no variant for ${target}: rejected ${JSON.stringify(f.rejected.filter((r) => r.artifact === target))}, skipped ${JSON.stringify(f.skipped.filter((s) => s.artifact === target))}`,
    );
  });

  it('lists the micro-agents in the Micro-agents view, ranked, with their record and the optimizer settings', async function () {
    this.timeout(30_000);
    assert.ok(optimized, 'needs the optimize run above');
    const result = await api.agents.current();
    const served = result.folders.flatMap((f) => f.agents);
    assert.ok(served.some((a) => a.attempts > 0), `no agent has attempts after the run: ${JSON.stringify(served)}`);

    const roots = await api.agents.getChildren();
    const rows = roots.filter((n): n is Extract<AgentsTreeNode, { type: 'agent' }> => n.type === 'agent');
    assert.deepEqual(rows.map((n) => n.agent.id), [...served].sort((a, b) => a.rank - b.rank).map((a) => a.id), 'one row per agent, by rank');
    for (const row of rows) {
      const item = api.agents.getTreeItem(row);
      assert.equal(item.label, `#${row.agent.rank} ${row.agent.id}`);
      assert.match(String(item.description), /^(retired · )?\d+\/\d+ · \d+% \[\d+–\d+%\]/);
      if (row.agent.provisional && !row.agent.retired) assert.match(String(item.description), /\(provisional\)$/);
    }
    assert.equal(api.agents.view.message, undefined, 'no empty-state text once there are agents');

    const settings = roots.find((n) => n.type === 'settings');
    assert.ok(settings, 'an Optimizer settings node');
    assert.equal(api.agents.getTreeItem(settings).label, 'Optimizer settings');
    const children = await api.agents.getChildren(settings);
    assert.deepEqual(
      children.filter((n) => n.type === 'setting').map((n) => api.agents.getTreeItem(n).label),
      ['Agents per function', 'Candidates verified per function'],
    );
    assert.equal(children.filter((n) => n.type === 'history').length, result.folders[0].settingsHistory.length, 'one row per settings change');
  });

  it('shows a code lens for the variant on its function', async function () {
    this.timeout(30_000);
    assert.ok(variantId, 'needs a variant from the optimize run');
    const id = variantId;
    const lenses = await lensesUntil(fileOf(variantArtifact), (all) => all.some((l) => l.command?.command === 'crucible.variant.apply' && l.command.arguments?.[0] === id), `a lens for ${id}`);
    const mine = lenses.filter((l) => l.command?.arguments?.[0] === id).map((l) => l.command!.command);
    for (const command of lensCommands) assert.ok(mine.includes(command), `no ${command} lens for ${id}: ${mine.join(', ')}`);
    const { artifacts } = await api.client.sendRequest<ArtifactsResult>(ArtifactsRequest.method, { uri: fileUri(fileOf(variantArtifact)).toString() });
    const fn = artifacts.find((a) => a.id === variantArtifact);
    assert.ok(fn, `${variantArtifact} not served by crucible/artifacts`);
    const apply = lenses.find((l) => l.command?.command === 'crucible.variant.apply' && l.command.arguments?.[0] === id)!;
    assert.equal(apply.range.start.line, fn.range.start.line, 'the lens sits on the function');
  });

  it('opens a diff editor of the original and the variant (crucible.variant.diff)', async function () {
    this.timeout(30_000);
    assert.ok(variantId, 'needs a variant from the optimize run');
    const texts = await variantAction({ id: variantId, action: 'diff' });
    assert.equal(texts.problem, undefined);
    assert.equal(await vscode.commands.executeCommand('crucible.variant.diff', variantId), true);
    const diff = vscode.window.tabGroups.all
      .flatMap((g) => g.tabs)
      .map((t) => t.input)
      .find((input): input is vscode.TabInputTextDiff => input instanceof vscode.TabInputTextDiff && input.original.scheme === variantScheme);
    assert.ok(diff, 'no diff tab of crucible-variant documents');
    assert.equal(diff.original.query, variantId);
    const [left, right] = await Promise.all([vscode.workspace.openTextDocument(diff.original), vscode.workspace.openTextDocument(diff.modified)]);
    assert.equal(left.getText(), texts.original);
    assert.equal(right.getText(), texts.variant);
    assert.notEqual(left.getText(), right.getText());
    assert.equal(right.languageId, 'typescript', 'the variant gets the file’s language');
  });

  it('applies the variant as one undoable edit (crucible.variant.apply), and undo restores the original', async function () {
    this.timeout(60_000);
    assert.ok(variantId, 'needs a variant from the optimize run');
    const id = variantId;
    const texts = await variantAction({ id, action: 'diff' });
    const document = await vscode.workspace.openTextDocument(fileUri(fileOf(variantArtifact)));
    await vscode.window.showTextDocument(document);
    const before = document.getText();
    assert.ok(texts.original && before.includes(texts.original), 'the file has the original as verified');
    try {
      assert.equal(await vscode.commands.executeCommand('crucible.variant.apply', id), true);
      assert.equal(document.getText(), before.replace(texts.original, texts.variant!), 'the function, and only it, is replaced by the variant');
      assert.equal(document.isDirty, true, 'applied as an edit, not saved');
      // Applied: the server no longer offers it.
      await lensesUntil(fileOf(variantArtifact), (all) => !all.some((l) => l.command?.arguments?.[0] === id), `the lens of ${id} gone after Apply`);
      await vscode.window.showTextDocument(document);
      await vscode.commands.executeCommand('undo');
      assert.equal(document.getText(), before, 'undo restores the original');
    } finally {
      if (document.getText() !== before) {
        await vscode.window.showTextDocument(document);
        await vscode.commands.executeCommand('workbench.action.files.revert');
      }
    }
  });

  it('dismisses a variant (crucible.variant.dismiss): its lens goes away', async function () {
    this.timeout(240_000);
    assert.ok(optimized, 'needs the optimize run above');
    const offered = (all: vscode.CodeLens[]) => all.find((l) => l.command?.command === 'crucible.variant.dismiss')?.command?.arguments?.[0] as string | undefined;
    // The other function's variant when both got one (the applied one is no longer offered).
    let artifact = optimized.folders[0].variants.find((v) => v.artifact !== variantArtifact)?.artifact ?? variantArtifact;
    let id = offered(await lenses(fileOf(artifact)));
    if (!id) {
      // Only one function got a variant, and the test above applied it; the function is back
      // to its original text, so optimizing it again offers a variant anew.
      artifact = variantArtifact;
      const again = await vscode.commands.executeCommand<OptimizeResult | undefined>('crucible.optimize', { ids: [artifact] });
      assert.ok(again?.folders[0]?.variants.length, `the second optimize run offered nothing: ${JSON.stringify(again)}`);
      id = offered(await lensesUntil(fileOf(artifact), (all) => offered(all) !== undefined, 'a lens after optimizing again'));
    }
    assert.ok(id);
    const dismissed = id;
    const viewRefreshed = nextEvent(api.agents.onDidChangeTreeData, () => true, 20_000, 'the Micro-agents view refreshing on crucible/optimizeChanged');
    assert.equal(await vscode.commands.executeCommand('crucible.variant.dismiss', dismissed), true);
    await lensesUntil(fileOf(artifact), (all) => !all.some((l) => l.command?.arguments?.[0] === dismissed), `the lens of ${dismissed} gone after Dismiss`);
    await viewRefreshed;
  });

  /** A file's code lenses as the editor would show them (the workbench only answers for a loaded document). */
  async function lenses(rel: string): Promise<vscode.CodeLens[]> {
    const document = await vscode.workspace.openTextDocument(fileUri(rel));
    return (await vscode.commands.executeCommand<vscode.CodeLens[]>('vscode.executeCodeLensProvider', document.uri, 100)) ?? [];
  }

  /** Asks for a file's lenses until `ok` holds (lenses follow workspace/codeLens/refresh and edits). */
  async function lensesUntil(rel: string, ok: (all: vscode.CodeLens[]) => boolean, what: string, timeoutMs = 20_000): Promise<vscode.CodeLens[]> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const all = await lenses(rel);
      if (ok(all)) return all;
      if (Date.now() > deadline) {
        throw new Error(`${what}: not within ${timeoutMs / 1000} s; lenses: ${JSON.stringify(all.map((l) => [l.range.start.line, l.command?.command, l.command?.arguments]))}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  }
});

/** Resolves with the first event that matches, or fails after `timeoutMs` naming what was awaited. */
function nextEvent<T>(event: vscode.Event<T>, matches: (value: T) => boolean, timeoutMs: number, what: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => {
      subscription.dispose();
      reject(new Error(`${what}: no such event within ${timeoutMs / 1000} s`));
    }, timeoutMs);
    const subscription = event((value) => {
      if (!matches(value)) return;
      clearTimeout(timer);
      subscription.dispose();
      resolve(value);
    });
  });
}

function within<T>(promise: Promise<T>, timeoutMs: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: not within ${timeoutMs / 1000} s`)), timeoutMs);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
