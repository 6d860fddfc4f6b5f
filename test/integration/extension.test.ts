/**
 * Runs inside a real extension host, with the full `vscode` API, against a copy of
 * examples/demo-shop opened as the workspace. It checks the client/server wiring through
 * what activate() returns ({client, artifacts, whenIndexed}) and what VS Code exposes:
 * commands, the Artifacts tree's data provider, and the language server's answers.
 *
 * Requests go through `api.client.sendRequest` with the protocol's method *names*: the
 * extension bundles its own copy of vscode-jsonrpc, and a RequestType object built by
 * another copy fails its identity checks ("Unknown parameter structure auto").
 */
import * as assert from 'node:assert/strict';
import * as vscode from 'vscode';
import type { ArtifactsTreeNode } from '../../client/src/artifactsView';
import type { CrucibleApi } from '../../client/src/extension';
import { ArtifactsRequest, SimilarRequest, type ArtifactInfo, type ArtifactsParams, type ArtifactsResult, type SimilarParams, type SimilarResult } from '../../server/src/protocol';

const extensionId = 'crucible-dev.crucible';

/** LSP's SymbolInformation as it comes over the wire (URIs are strings). */
interface WireSymbol {
  name: string;
  location: { uri: string };
}

describe('Crucible in the extension host', function () {
  let extension: vscode.Extension<CrucibleApi>;
  let api: CrucibleApi;
  let folder: vscode.WorkspaceFolder;

  const artifacts = (params: ArtifactsParams) => api.client.sendRequest<ArtifactsResult>(ArtifactsRequest.method, params);
  const similar = (params: SimilarParams) => api.client.sendRequest<SimilarResult>(SimilarRequest.method, params);
  const fileUri = (rel: string) => vscode.Uri.joinPath(folder.uri, rel);

  before(async function () {
    this.timeout(120_000);
    const found = vscode.extensions.getExtension<CrucibleApi>(extensionId);
    assert.ok(found, `${extensionId} is not among the loaded extensions`);
    extension = found;
    api = await extension.activate();
    const first = vscode.workspace.workspaceFolders?.[0];
    assert.ok(first, 'the suite needs a workspace folder (a copy of examples/demo-shop)');
    folder = first;
    await within(api.whenIndexed(), 90_000, 'the first full index (crucible/indexed)');
  });

  afterEach(async () => {
    // Leave no dirty editor behind for the next test.
    await vscode.commands.executeCommand('workbench.action.revertAndCloseActiveEditor');
    await vscode.commands.executeCommand('workbench.action.closeAllEditors');
  });

  it('activates and returns its API with a running language client', () => {
    assert.equal(extension.isActive, true);
    assert.equal(api.client.isRunning(), true);
    assert.equal(typeof api.whenIndexed, 'function');
  });

  it('registers every command its manifest declares', async () => {
    const declared = (extension.packageJSON.contributes.commands as { command: string }[]).map((c) => c.command);
    assert.ok(declared.length >= 4, `manifest declares only ${declared.join(', ')}`);
    const registered = new Set(await vscode.commands.getCommands(true));
    assert.deepEqual(
      declared.filter((c) => !registered.has(c)),
      [],
      'declared but not registered',
    );
  });

  it('lists every source file of the workspace over crucible/artifacts, with every kind of artifact', async () => {
    const { artifacts: all, total } = await artifacts({});
    assert.equal(total, all.length);
    const onDisk = (await vscode.workspace.findFiles('**/*.ts', '**/node_modules/**')).map((u) => vscode.workspace.asRelativePath(u, false)).sort();
    assert.deepEqual([...new Set(all.map((a) => a.file))].sort(), onDisk);
    const ids = new Set(all.map((a) => a.id));
    for (const id of ['src/pricing.ts#findCoupon', 'src/pricing.ts#priceCart', 'src/catalog.ts#Catalog', 'src/catalog.ts#Catalog.add', 'src/inventory.ts#StockLedger.reserve']) {
      assert.ok(ids.has(id), `${id} missing from crucible/artifacts`);
    }
    assert.deepEqual([...new Set(all.map((a) => a.kind))].sort(), ['class', 'function', 'method', 'suite', 'test']);
    for (const a of all) assert.ok(a.uri.startsWith(folder.uri.toString()), `${a.id} has a URI outside the workspace: ${a.uri}`);
  });

  it('filters crucible/artifacts by file and kind', async () => {
    const { artifacts: functions } = await artifacts({ uri: fileUri('src/pricing.ts').toString(), kinds: ['function'] });
    assert.ok(functions.length > 0);
    assert.deepEqual([...new Set(functions.map((a) => `${a.file} ${a.kind}`))], ['src/pricing.ts function']);
    assert.ok(functions.some((a) => a.name === 'findCoupon'));
  });

  it('shows the files, then each file’s artifacts in source order, in the Artifacts tree', async () => {
    const roots = await api.artifacts.getChildren();
    const pricing = roots.find((n) => n.type === 'file' && n.file === 'src/pricing.ts');
    assert.ok(pricing, `no src/pricing.ts among ${roots.length} top-level nodes`);
    const fileItem = api.artifacts.getTreeItem(pricing);
    assert.equal(fileItem.label, 'pricing.ts');
    assert.equal(fileItem.description, 'src');
    assert.equal(fileItem.collapsibleState, vscode.TreeItemCollapsibleState.Collapsed);

    const children = await api.artifacts.getChildren(pricing);
    const { artifacts: served } = await artifacts({ uri: fileUri('src/pricing.ts').toString() });
    const bySource = [...served].sort((x, y) => x.range.start.line - y.range.start.line || x.range.start.character - y.range.start.character);
    assert.deepEqual(
      children.map((n) => api.artifacts.getTreeItem(n).label),
      bySource.map((a) => a.qualifiedName),
    );
    for (const child of children) {
      assert.equal(api.artifacts.getParent(child), pricing, 'getParent must hand back the file node');
      const item = api.artifacts.getTreeItem(child);
      assert.equal(item.command?.command, 'crucible.openArtifact');
    }
  });

  it('answers crucible/similar from an artifact id and from a cursor position', async () => {
    const byId = await similar({ id: 'src/pricing.ts#findCoupon', k: 5 });
    assert.equal(byId.source?.id, 'src/pricing.ts#findCoupon');
    assert.ok(byId.items.length > 0 && byId.items.length <= 5, `${byId.items.length} items`);
    assert.ok(!byId.items.some((i) => i.artifact.id === byId.source?.id), 'the source is not similar to itself');
    const scores = byId.items.map((i) => i.score);
    assert.deepEqual(scores, [...scores].sort((a, b) => b - a), 'most similar first');
    assert.ok(byId.embedder.length > 0);

    const findCoupon = await artifactById('src/pricing.ts#findCoupon');
    const byPosition = await similar({ textDocument: { uri: findCoupon.uri }, position: findCoupon.selectionRange.start });
    assert.equal(byPosition.source?.id, findCoupon.id);
  });

  it('answers workspace/symbol with artifacts, tests included', async () => {
    const symbols = await api.client.sendRequest<WireSymbol[]>('workspace/symbol', { query: 'findCoupon' });
    const hit = symbols.find((s) => s.name === 'findCoupon');
    assert.ok(hit, `no findCoupon among ${symbols.map((s) => s.name).join(', ')}`);
    assert.equal(hit.location.uri, fileUri('src/pricing.ts').toString());

    const { artifacts: tests } = await artifacts({ kinds: ['test'], limit: 1 });
    assert.equal(tests.length, 1, 'the example has tests');
    const testSymbols = await api.client.sendRequest<WireSymbol[]>('workspace/symbol', { query: tests[0].name });
    assert.ok(testSymbols.some((s) => s.name === tests[0].name), `test "${tests[0].name}" not found by workspace/symbol`);
  });

  it('opens an artifact with its name selected (the tree’s click command)', async () => {
    const target = await artifactById('src/catalog.ts#Catalog.add');
    await vscode.commands.executeCommand('crucible.openArtifact', target);
    const editor = vscode.window.activeTextEditor;
    assert.ok(editor, 'no active editor after crucible.openArtifact');
    assert.equal(editor.document.uri.toString(), fileUri('src/catalog.ts').toString());
    assert.equal(editor.document.getText(editor.selection), 'add');
  });

  it('updates the tree after an unsaved edit, and again after the edit is reverted, without a reload', async function () {
    this.timeout(60_000);
    const pricing = (await api.artifacts.getChildren()).find((n) => n.type === 'file' && n.file === 'src/pricing.ts');
    assert.ok(pricing);
    const labels = async () => (await api.artifacts.getChildren(pricing)).map((n) => String(api.artifacts.getTreeItem(n).label));
    const name = 'integrationAddedRebate';
    assert.ok(!(await labels()).includes(name));

    const document = await vscode.workspace.openTextDocument(fileUri('src/pricing.ts'));
    const editor = await vscode.window.showTextDocument(document);
    const end = document.lineAt(document.lineCount - 1).range.end;
    assert.ok(await editor.edit((e) => e.insert(end, `\nexport function ${name}(cents: number): number {\n  return cents - 1;\n}\n`)));
    await treeEventually(`${name} in the tree after the edit`, async () => (await labels()).includes(name));

    await vscode.commands.executeCommand('workbench.action.files.revert');
    await treeEventually(`${name} gone from the tree after the revert`, async () => !(await labels()).includes(name));
  });

  it('reindexes from its command and redraws the tree', async function () {
    this.timeout(60_000);
    const redrawn = nextEvent(api.artifacts.onDidChangeTreeData, (node) => node === undefined, 30_000, 'a full tree refresh after Reindex Workspace');
    await vscode.commands.executeCommand('crucible.reindex');
    await redrawn;
    assert.ok((await api.artifacts.getChildren()).some((n: ArtifactsTreeNode) => n.type === 'file' && n.file === 'src/pricing.ts'));
  });

  async function artifactById(id: string): Promise<ArtifactInfo> {
    const { artifacts: list } = await artifacts({ query: id.slice(id.indexOf('#') + 1) });
    const found = list.find((a) => a.id === id);
    assert.ok(found, `${id} not served by crucible/artifacts`);
    return found;
  }

  /** Re-checks `condition` whenever the tree says it changed, until it holds or the time is up. */
  function treeEventually(what: string, condition: () => Promise<boolean>, timeoutMs = 20_000): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      let done = false;
      const finish = (error?: Error) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        subscription.dispose();
        if (error) reject(error);
        else resolve();
      };
      const check = () =>
        condition().then(
          (ok) => ok && finish(),
          (error: Error) => finish(error),
        );
      const timer = setTimeout(() => finish(new Error(`${what}: not within ${timeoutMs / 1000} s`)), timeoutMs);
      const subscription = api.artifacts.onDidChangeTreeData(() => void check());
      void check();
    });
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
