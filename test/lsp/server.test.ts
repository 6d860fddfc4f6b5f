/**
 * The built language server (dist/server.js) driven over stdio by a test client,
 * as VS Code drives it: the LSP wiring, Crucible's custom messages, incremental
 * updates, settings, store recovery, hostile input and a clean shutdown.
 *
 * Needs `npm run build:fast` first. Every test gets its own temp workspace and
 * server process; nothing sleeps: tests wait for the notification that proves
 * the server did the work.
 */
import * as assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import * as path from 'node:path';
import {
  DidChangeConfigurationNotification,
  DidChangeTextDocumentNotification,
  DidChangeWatchedFilesNotification,
  DidOpenTextDocumentNotification,
  FileChangeType,
  PublishDiagnosticsNotification,
  type SymbolInformation,
  SymbolKind,
  WorkspaceSymbolRequest,
} from 'vscode-languageserver-protocol/node';
import {
  type ArtifactInfo,
  type ArtifactsParams,
  ArtifactsRequest,
  type FolderSummary,
  IndexChangedNotification,
  IndexedNotification,
  ReindexRequest,
  SimilarRequest,
  StatusNotification,
} from '../../server/src/protocol';
import { copyDemoShop, fileUri, LspClient, makeWorkspace, removeWorkspace, writeFile } from './lspClient';

/** 0-based line of the first line of `text` matching `pattern` (fails if none). */
function lineOf(text: string, pattern: RegExp): number {
  const line = text.split('\n').findIndex((l) => pattern.test(l));
  assert.notEqual(line, -1, `no line matches ${pattern}`);
  return line;
}

describe('language server over stdio', function () {
  this.timeout(60_000);

  let client: LspClient | undefined;
  let root: string | undefined;

  afterEach(async () => {
    await client?.dispose(); // kills the process if a test failed before shutting it down
    client = undefined;
    removeWorkspace(root);
    root = undefined;
  });

  /** Starts a server on `ws`, initializes, and waits for the first full index of the folder. */
  async function startIndexed(ws: string, settings?: unknown) {
    root = ws;
    const c = (client = LspClient.start({ root: ws, settings }));
    const init = await c.initialize();
    const summary = await c.waitFor(IndexedNotification.type, (s) => s.folderUri === c.rootUri);
    return { c, init, summary };
  }

  const artifacts = (c: LspClient, params: ArtifactsParams = {}) => c.connection.sendRequest(ArtifactsRequest.type, params);
  const symbols = async (c: LspClient, query: string) => ((await c.connection.sendRequest(WorkspaceSymbolRequest.type, { query })) ?? []) as SymbolInformation[];

  async function expectCleanExit(c: LspClient): Promise<void> {
    const code = await c.shutdownAndExit();
    assert.equal(code, 0, `server exit code after shutdown+exit\n${c.stderrTail()}`);
  }

  it('initializes, indexes the folder with work-done progress and reports ready', async () => {
    const { c, init, summary } = await startIndexed(copyDemoShop());

    assert.ok(init.capabilities.workspaceSymbolProvider, 'workspaceSymbolProvider capability');
    assert.ok(summary.files > 0, `files in crucible/indexed: ${summary.files}`);
    const all = await artifacts(c);
    assert.equal(all.artifacts.length, all.total);
    assert.ok(all.total > 0);
    assert.equal(summary.artifacts, all.total, 'crucible/indexed artifacts vs crucible/artifacts total');
    assert.equal(new Set(all.artifacts.map((a) => a.file)).size, summary.files, 'files with artifacts vs crucible/indexed files');

    // The server asked for a progress token, then began, reported percentages and ended on it.
    const created = c.requests('window/workDoneProgress/create');
    assert.ok(created.length >= 1, 'window/workDoneProgress/create was requested');
    const token = created[0].token;
    await c.waitFor<{ token: unknown; value: { kind: string } }>('$/progress', (p) => p.token === token && p.value.kind === 'end');
    const values = c.notifications<{ token: unknown; value: { kind: string; percentage?: number } }>('$/progress').filter((p) => p.token === token).map((p) => p.value);
    assert.equal(values[0].kind, 'begin', `first progress value: ${JSON.stringify(values)}`);
    assert.equal(values[values.length - 1].kind, 'end');
    const percents = values.filter((v) => v.kind === 'report' && typeof v.percentage === 'number').map((v) => v.percentage!);
    assert.ok(percents.length >= 1, `at least one report with a percentage: ${JSON.stringify(values)}`);
    assert.ok(percents.every((p, i) => p >= 0 && p <= 100 && (i === 0 || p >= percents[i - 1])), `percentages in [0,100], non-decreasing: ${percents}`);

    const ready = await c.waitFor(StatusNotification.type, (s) => s.state === 'ready');
    assert.equal(ready.artifacts, all.total);
    assert.equal(ready.files, summary.files);

    // Settings changes were registered for dynamically (the client declared support).
    const registrations = c.requests('client/registerCapability').flatMap((p: { registrations: { method: string }[] }) => p.registrations.map((r) => r.method));
    assert.ok(registrations.includes('workspace/didChangeConfiguration'), `registrations: ${registrations}`);

    await expectCleanExit(c);
  });

  it('answers workspace/symbol with the function and its location', async () => {
    const ws = copyDemoShop();
    const { c } = await startIndexed(ws);
    const text = readFileSync(path.join(ws, 'src', 'cart.ts'), 'utf8');
    const expectedLine = lineOf(text, /\bcartSubtotal\s*=/);

    const found = await symbols(c, 'cartSubtotal');
    const hit = found.find((s) => s.name === 'cartSubtotal');
    assert.ok(hit, `cartSubtotal in ${JSON.stringify(found.map((s) => s.name))}`);
    assert.equal(found[0].name, 'cartSubtotal', 'the exact match ranks first');
    assert.equal(hit.kind, SymbolKind.Function);
    assert.equal(hit.location.uri, fileUri(ws, 'src/cart.ts'));
    assert.equal(hit.location.range.start.line, expectedLine);

    await expectCleanExit(c);
  });

  it('reports positions in UTF-16 code units, as LSP requires', async () => {
    // Non-ASCII and astral characters before the names: byte or code-point columns would be off.
    const text = ['const s = "é🎉"; export function afterEmoji(x: number) { return x; }', '/* 😀😀 */ class Später { größe(ä: number) { return ä; } }', ''].join('\n');
    const ws = makeWorkspace({ 'src/u.ts': text });
    const { c } = await startIndexed(ws);
    const lines = text.split('\n');
    const all = await artifacts(c);
    assert.deepEqual(all.artifacts.map((a) => a.id), ['src/u.ts#afterEmoji', 'src/u.ts#Später', 'src/u.ts#Später.größe']);
    for (const a of all.artifacts) {
      const line = lines.findIndex((l) => l.includes(a.name + (a.kind === 'class' ? ' ' : '(')));
      const character = lines[line].indexOf(a.name + (a.kind === 'class' ? ' ' : '('));
      assert.deepEqual(a.selectionRange, { start: { line, character }, end: { line, character: character + a.name.length } }, `selectionRange of ${a.id}`);
    }
    const sym = (await symbols(c, 'afterEmoji')).find((s) => s.name === 'afterEmoji');
    assert.equal(sym?.location.range.start.character, lines[0].indexOf('function afterEmoji'), 'the declaration starts after the emoji');

    // And positions sent to the server are read as UTF-16 too.
    const at = await c.connection.sendRequest(SimilarRequest.type, { textDocument: { uri: fileUri(ws, 'src/u.ts') }, position: { line: 1, character: lines[1].indexOf('return ä') } });
    assert.equal(at.source?.id, 'src/u.ts#Später.größe');

    await expectCleanExit(c);
  });

  it('crucible/similar by id and by position ranks the near-duplicate first', async () => {
    const body = (acc: string) =>
      [
        '/** Adds up the positive numbers. */',
        'export function sumPositive(values: number[]): number {',
        `  let ${acc} = 0;`,
        '  for (const value of values) {',
        `    if (value > 0) ${acc} += value;`,
        '  }',
        `  return ${acc};`,
        '}',
        '',
      ].join('\n');
    const ws = makeWorkspace({
      'src/dupA.ts': body('total'),
      'src/dupB.ts': body('acc'),
      'src/other.ts': [
        'export class Greeter {',
        '  constructor(private readonly greeting: string) {}',
        '  greet(name: string): string {',
        '    return `${this.greeting}, ${name}!`;',
        '  }',
        '}',
        '',
        'export function parseIsoDate(text: string): Date | undefined {',
        '  const m = /^(\\d{4})-(\\d{2})-(\\d{2})$/.exec(text);',
        '  if (!m) return undefined;',
        '  return new Date(Number(m[1]), Number(m[2]) - 1, Number(m[3]));',
        '}',
        '',
        "export const shout = (s: string): string => s.toUpperCase() + '!';",
        '',
        'export async function fetchJson(url: string): Promise<unknown> {',
        '  const res = await fetch(url);',
        '  if (!res.ok) throw new Error(res.statusText);',
        '  return res.json();',
        '}',
        '',
        'export function fibonacci(n: number): number {',
        '  return n < 2 ? n : fibonacci(n - 1) + fibonacci(n - 2);',
        '}',
        '',
      ].join('\n'),
    });
    const { c, summary } = await startIndexed(ws);
    const k = 3;
    assert.ok(summary.artifacts > k + 1, `enough artifacts for k=${k}: ${summary.artifacts}`);

    const check = (res: { source?: ArtifactInfo; items: { artifact: ArtifactInfo; score: number }[]; embedder: string }, sourceId: string, twinId: string) => {
      assert.equal(res.source?.id, sourceId, 'source artifact');
      assert.ok(res.embedder, 'embedder id');
      assert.equal(res.items.length, k, `k items: ${JSON.stringify(res.items.map((i) => [i.artifact.id, i.score]))}`);
      const scores = res.items.map((i) => i.score);
      for (const s of scores) assert.ok(s >= -1 && s <= 1, `score ${s} in [-1, 1]`);
      assert.deepEqual(scores, [...scores].sort((a, b) => b - a), `scores sorted descending: ${scores}`);
      assert.ok(!res.items.some((i) => i.artifact.id === sourceId), 'the source is not among its neighbours');
      assert.equal(res.items[0].artifact.id, twinId, `near-duplicate first: ${JSON.stringify(res.items.map((i) => [i.artifact.id, i.score]))}`);
      assert.ok(res.items[0].score > res.items[1].score, 'the near-duplicate scores above the unrelated code');
    };

    const byId = await c.connection.sendRequest(SimilarRequest.type, { id: 'src/dupA.ts#sumPositive', k });
    check(byId, 'src/dupA.ts#sumPositive', 'src/dupB.ts#sumPositive');

    const textB = readFileSync(path.join(ws, 'src', 'dupB.ts'), 'utf8');
    const line = lineOf(textB, /let acc = 0/);
    const byPosition = await c.connection.sendRequest(SimilarRequest.type, {
      textDocument: { uri: fileUri(ws, 'src/dupB.ts') },
      position: { line, character: textB.split('\n')[line].indexOf('acc') },
      k,
    });
    check(byPosition, 'src/dupB.ts#sumPositive', 'src/dupA.ts#sumPositive');

    await expectCleanExit(c);
  });

  it('re-indexes an edited buffer: new functions appear, whitespace and comments keep hashes', async () => {
    const original = ['export function add(a: number, b: number): number {', '  return a + b;', '}', '', 'export function square(x: number): number {', '  return x * x;', '}', ''].join('\n');
    const ws = makeWorkspace({ 'src/math.ts': original, 'src/other.ts': 'export const id = <T>(x: T): T => x;\n' });
    const { c } = await startIndexed(ws);
    const uri = fileUri(ws, 'src/math.ts');
    await c.connection.sendNotification(DidOpenTextDocumentNotification.type, { textDocument: { uri, languageId: 'typescript', version: 1, text: original } });

    // Add a function in the buffer only (the disk is not touched), as an incremental edit at the end
    // (the server declares TextDocumentSyncKind.Incremental).
    const insertion = ['', 'export function multiplyAll(values: number[]): number {', '  return values.reduce((p, v) => p * v, 1);', '}', ''].join('\n');
    const added = original + insertion;
    const end = { line: original.split('\n').length - 1, character: 0 };
    let mark = c.mark();
    await c.connection.sendNotification(DidChangeTextDocumentNotification.type, { textDocument: { uri, version: 2 }, contentChanges: [{ range: { start: end, end }, text: insertion }] });
    await c.waitFor(IndexChangedNotification.type, (p) => p.folderUri === c.rootUri && p.files.includes('src/math.ts'), { since: mark });

    const found = (await symbols(c, 'multiplyAll')).filter((s) => s.name === 'multiplyAll');
    assert.equal(found.length, 1, 'multiplyAll found by workspace/symbol');
    assert.equal(found[0].location.uri, uri);
    assert.equal(found[0].location.range.start.line, lineOf(added, /function multiplyAll/));
    const inFile = await artifacts(c, { uri });
    assert.deepEqual(
      inFile.artifacts.map((a) => a.id),
      ['src/math.ts#add', 'src/math.ts#square', 'src/math.ts#multiplyAll'],
    );
    assert.equal((await artifacts(c, { query: 'multiplyAll' })).total, 1);

    // Only whitespace and comments differ (the leading comment shifts every line, so the file does change).
    const reformatted = ['// reformatted by hand', '', added.replace('return a + b;', 'return   a +   b; // the sum').replace('  return x * x;', '\n    return x*x;   /* the square */')].join('\n');
    mark = c.mark();
    await c.connection.sendNotification(DidChangeTextDocumentNotification.type, { textDocument: { uri, version: 3 }, contentChanges: [{ text: reformatted }] });
    await c.waitFor(IndexChangedNotification.type, (p) => p.folderUri === c.rootUri && p.files.includes('src/math.ts'), { since: mark });
    const after = await artifacts(c, { uri });
    assert.deepEqual(
      after.artifacts.map((a) => [a.id, a.hash]),
      inFile.artifacts.map((a) => [a.id, a.hash]),
      'ids and normalized hashes unchanged by whitespace and comments',
    );
    assert.deepEqual(
      after.artifacts.map((a) => a.range.start.line),
      ['add', 'square', 'multiplyAll'].map((n) => lineOf(reformatted, new RegExp(`function ${n}\\b`))),
      'ranges follow the buffer',
    );

    await expectCleanExit(c);
  });

  it('follows workspace/didChangeWatchedFiles for created and deleted files', async () => {
    const ws = makeWorkspace({ 'src/math.ts': 'export function add(a: number, b: number): number {\n  return a + b;\n}\n' });
    const { c } = await startIndexed(ws);
    const uri = fileUri(ws, 'src/extra.ts');
    const abs = writeFile(ws, 'src/extra.ts', 'export function extraHelper(s: string): number {\n  return s.length;\n}\n\nexport class ExtraBox {\n  open(): boolean {\n    return true;\n  }\n}\n');

    let mark = c.mark();
    await c.connection.sendNotification(DidChangeWatchedFilesNotification.type, { changes: [{ uri, type: FileChangeType.Created }] });
    await c.waitFor(IndexChangedNotification.type, (p) => p.files.includes('src/extra.ts'), { since: mark });
    const created = await artifacts(c, { uri });
    assert.deepEqual(created.artifacts.map((a) => a.id).sort(), ['src/extra.ts#ExtraBox', 'src/extra.ts#ExtraBox.open', 'src/extra.ts#extraHelper']);
    assert.equal((await symbols(c, 'extraHelper')).filter((s) => s.name === 'extraHelper').length, 1);

    rmSync(abs);
    mark = c.mark();
    await c.connection.sendNotification(DidChangeWatchedFilesNotification.type, { changes: [{ uri, type: FileChangeType.Deleted }] });
    await c.waitFor(IndexChangedNotification.type, (p) => p.files.includes('src/extra.ts'), { since: mark });
    assert.equal((await artifacts(c, { uri })).total, 0);
    const all = await artifacts(c);
    assert.deepEqual(all.artifacts.map((a) => a.id), ['src/math.ts#add']);
    assert.equal((await symbols(c, 'extraHelper')).filter((s) => s.name === 'extraHelper').length, 0);

    await expectCleanExit(c);
  });

  it('applies a changed exclude setting without a restart', async () => {
    const ws = copyDemoShop();
    const { c } = await startIndexed(ws, { exclude: ['**/node_modules/**'] });
    const before = await artifacts(c);
    assert.ok(before.artifacts.some((a) => a.file.startsWith('test/')), 'test/ is indexed at first');

    c.settings = { exclude: ['**/node_modules/**', 'test/**'] };
    const mark = c.mark();
    await c.connection.sendNotification(DidChangeConfigurationNotification.type, { settings: null });
    const summary = await c.waitFor(IndexedNotification.type, (s) => s.folderUri === c.rootUri, { since: mark });
    assert.ok(c.requests('workspace/configuration', mark).length >= 1, 'the server pulled the settings again');

    const after = await artifacts(c);
    const fromTest = after.artifacts.filter((a) => a.file.startsWith('test/'));
    assert.deepEqual(fromTest.map((a) => a.id), [], 'no artifact from test/ remains');
    assert.ok(after.total > 0);
    assert.equal(summary.artifacts, after.total);
    assert.deepEqual(
      after.artifacts.map((a) => a.id),
      before.artifacts.filter((a) => !a.file.startsWith('test/')).map((a) => a.id),
      'src/ artifacts are all still there',
    );
    assert.equal((await symbols(c, 'cart')).filter((s) => s.location.uri.includes('/test/')).length, 0, 'workspace/symbol drops them too');

    await expectCleanExit(c);
  });

  it('marks where a file stops parsing with one crucible diagnostic, follows edits, and obeys the setting', async () => {
    const broken = ['export function ok(a: number) {', '  return a + 1;', '}', '', 'export function broken( {', '  return ;', '}', '', 'export function after() {}', ''].join('\n');
    const fixed = broken.replace('broken( {', 'broken() {');
    const ws = makeWorkspace({ 'src/broken.ts': broken, 'src/fine.ts': 'export const one = () => 1;\n' });
    const uri = fileUri(ws, 'src/broken.ts');
    const { c } = await startIndexed(ws);
    const first = await c.waitFor(PublishDiagnosticsNotification.type, (p) => p.uri === uri && p.diagnostics.length > 0);
    assert.equal(first.diagnostics.length, 1);
    const d = first.diagnostics[0];
    assert.equal(d.source, 'crucible');
    assert.equal(d.severity, 3, 'Information: the editor owns syntax errors');
    assert.equal(d.range.start.line, lineOf(broken, /broken\(/));
    assert.match(String(d.message), /^Crucible indexed this file only partly/);
    assert.equal(c.notifications(PublishDiagnosticsNotification.type).filter((n) => n.uri === fileUri(ws, "src/fine.ts") && n.diagnostics.length > 0).length, 0, "nothing on the file that parses");

    // Fixing the buffer clears it; breaking it again elsewhere brings it back on the new line.
    await c.connection.sendNotification(DidOpenTextDocumentNotification.type, { textDocument: { uri, languageId: 'typescript', version: 1, text: broken } });
    let mark = c.mark();
    await c.connection.sendNotification(DidChangeTextDocumentNotification.type, { textDocument: { uri, version: 2 }, contentChanges: [{ text: fixed }] });
    await c.waitFor(PublishDiagnosticsNotification.type, (p) => p.uri === uri && p.diagnostics.length === 0, { since: mark });
    const rebroken = fixed.replace('export function after() {}', 'export function after() {');
    mark = c.mark();
    await c.connection.sendNotification(DidChangeTextDocumentNotification.type, { textDocument: { uri, version: 3 }, contentChanges: [{ text: rebroken }] });
    const again = await c.waitFor(PublishDiagnosticsNotification.type, (p) => p.uri === uri && p.diagnostics.length === 1, { since: mark });
    assert.ok(again.diagnostics[0].range.start.line >= lineOf(rebroken, /function after/), `error reported at or after the unclosed function, got line ${again.diagnostics[0].range.start.line}`);

    // Turning the setting off clears it without a restart.
    c.settings = { diagnostics: { parseErrors: false } };
    mark = c.mark();
    await c.connection.sendNotification(DidChangeConfigurationNotification.type, { settings: null });
    await c.waitFor(PublishDiagnosticsNotification.type, (p) => p.uri === uri && p.diagnostics.length === 0, { since: mark });

    await expectCleanExit(c);
  });

  it('recovers from corrupt record shards, warns, and keeps them aside', async () => {
    const files: Record<string, string> = {};
    const expectedIds: string[] = [];
    for (let i = 0; i < 20; i++) {
      files[`src/mod${i}.ts`] = `export function alpha${i}(x: number): number {\n  return x + ${i};\n}\n\nexport function beta${i}(s: string): string {\n  return s.repeat(${i + 1});\n}\n`;
      expectedIds.push(`src/mod${i}.ts#alpha${i}`, `src/mod${i}.ts#beta${i}`);
    }
    const ws = makeWorkspace(files);
    const indexDir = path.join(ws, '.crucible', 'index');
    // Garbage in every shard, so whichever shard a file lands in is hit.
    for (let s = 0; s < 16; s++) writeFile(ws, `.crucible/index/files-${String(s).padStart(2, '0')}.json`, '{ not json');

    const { c, summary } = await startIndexed(ws);
    assert.equal(summary.files, 20);
    assert.equal(summary.artifacts, expectedIds.length);
    const all = await artifacts(c);
    assert.deepEqual(all.artifacts.map((a) => a.id).sort(), [...expectedIds].sort());

    const warning = await c.waitForRequest('window/showMessageRequest', (p: { type: number; message: string }) => p.type === 2 && /corrupt/i.test(p.message));
    assert.match(warning.message, /files-\d\d\.json/);

    const entries = readdirSync(indexDir);
    for (let s = 0; s < 16; s++) {
      const name = `files-${String(s).padStart(2, '0')}.json`;
      assert.ok(entries.some((e) => e.startsWith(`${name}.corrupt-`)), `${name}.corrupt-* kept aside, in ${entries}`);
    }
    // The shards were rebuilt (flushed before crucible/indexed) and parse again.
    for (const e of entries.filter((n) => /^files-\d\d\.json$/.test(n))) assert.doesNotThrow(() => JSON.parse(readFileSync(path.join(indexDir, e), 'utf8')), e);

    await expectCleanExit(c);
  });

  it('survives binary, non-UTF-8 and broken files and a symlink loop', async () => {
    const ws = makeWorkspace({
      'src/good.ts': 'export function fineFunction(n: number): number {\n  return n + 1;\n}\n',
      'src/blob.js': Buffer.concat([Buffer.from([0x7f, 0x45, 0x4c, 0x46, 0x02, 0x01, 0x01, 0x00, 0x00, 0x00]), Buffer.from('function hiddenInBinary() { return 1; }\n'), Buffer.alloc(64)]),
      'src/latin1.ts': Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from('export function latinName(): string {\n  return "caf'), Buffer.from([0xe9]), Buffer.from('";\n}\n')]),
      'src/broken.ts': [
        'export function survivesTheError(x: number): number {',
        '  return x * 2;',
        '}',
        '',
        'export function broken(a: number {',
        '  if (a > ) {',
        '    return ;;',
        '  }',
        '}}}',
        'const = ;',
        '',
      ].join('\n'),
      'sub/inner.ts': 'export function insideSub(): number {\n  return 42;\n}\n',
    });
    symlinkSync('..', path.join(ws, 'sub', 'loop'));

    const { c, summary } = await startIndexed(ws);
    assert.ok(summary.skipped >= 2, `binary and non-UTF-8 files skipped: ${JSON.stringify(summary)}`);
    assert.ok(summary.parseErrors >= 1, `broken.ts counted with parse errors: ${JSON.stringify(summary)}`);

    const found = (await symbols(c, 'survivesTheError')).filter((s) => s.name === 'survivesTheError');
    assert.equal(found.length, 1, 'the good function in the broken file is found');
    assert.equal(found[0].location.uri, fileUri(ws, 'src/broken.ts'));
    assert.equal(found[0].location.range.start.line, 0);

    const all = await artifacts(c);
    const filesIndexed = [...new Set(all.artifacts.map((a) => a.file))].sort();
    assert.ok(!filesIndexed.includes('src/blob.js') && !filesIndexed.includes('src/latin1.ts'), `binary/non-UTF-8 not indexed: ${filesIndexed}`);
    assert.ok(!filesIndexed.some((f) => f.includes('loop/')), `nothing indexed through the symlink loop: ${filesIndexed}`);
    assert.equal(all.artifacts.filter((a) => a.name === 'insideSub').length, 1, 'sub/inner.ts indexed once');
    assert.ok(all.artifacts.some((a) => a.id === 'src/good.ts#fineFunction'));

    // Still answering, including a forced full re-index over the same hostile tree.
    const summaries: FolderSummary[] = await c.connection.sendRequest(ReindexRequest.type, { force: true });
    assert.equal(summaries.length, 1);
    assert.equal(summaries[0].artifacts, all.total);
    assert.equal((await symbols(c, 'fineFunction')).filter((s) => s.name === 'fineFunction').length, 1);

    await expectCleanExit(c);
  });

  it('flushes the index on shutdown and exits with code 0', async () => {
    const original = 'export function add(a: number, b: number): number {\n  return a + b;\n}\n';
    const ws = makeWorkspace({ 'src/math.ts': original });
    const { c } = await startIndexed(ws);
    const uri = fileUri(ws, 'src/math.ts');
    await c.connection.sendNotification(DidOpenTextDocumentNotification.type, { textDocument: { uri, languageId: 'typescript', version: 1, text: original } });
    const mark = c.mark();
    const edited = original + '\nexport function persistedOnShutdown(): string {\n  return "kept";\n}\n';
    await c.connection.sendNotification(DidChangeTextDocumentNotification.type, { textDocument: { uri, version: 2 }, contentChanges: [{ text: edited }] });
    await c.waitFor(IndexChangedNotification.type, (p) => p.files.includes('src/math.ts'), { since: mark });

    // Straight to shutdown: the edit's write is still batched, so shutdown must flush it.
    await expectCleanExit(c);

    const storeDir = path.join(ws, '.crucible');
    const shards = readdirSync(path.join(storeDir, 'index')).filter((n) => /^files-\d\d\.json$/.test(n));
    assert.ok(shards.length > 0, 'record shards written');
    const records = shards.flatMap((n) => Object.values((JSON.parse(readFileSync(path.join(storeDir, 'index', n), 'utf8')) as { files: Record<string, { file: string; artifacts: { id: string }[] }> }).files));
    const math = records.find((r) => r.file === 'src/math.ts');
    assert.ok(math, `src/math.ts stored in ${shards}`);
    assert.deepEqual(math.artifacts.map((a) => a.id), ['src/math.ts#add', 'src/math.ts#persistedOnShutdown'], 'the buffered edit was flushed');
    assert.ok(existsSync(path.join(storeDir, 'vectors')), 'vectors written');
    assert.ok(!existsSync(path.join(storeDir, 'write.lock')), 'the store lock was released');
  });

  // Incremental updates (watched-file events and open buffers) obey crucible.exclude and
  // .gitignore exactly as the full walk does.
  it('keeps excluded and .gitignored files out of incremental updates', async () => {
    const ws = makeWorkspace({
      'src/a.ts': 'export function kept(): number {\n  return 1;\n}\n',
      'test/t.test.ts': 'export function excludedBySetting(): number {\n  return 2;\n}\n',
      '.gitignore': 'build/\n',
      'build/out.js': 'function ignoredByGit() {\n  return 3;\n}\n',
      'vendor/lib.min.js': 'function excludedByDefaultGlob(){return 4}\n',
    });
    const { c } = await startIndexed(ws, { exclude: ['**/node_modules/**', '**/*.min.js', 'test/**'] });
    const ids = async () => (await artifacts(c)).artifacts.map((a) => a.id);
    assert.deepEqual(await ids(), ['src/a.ts#kept'], 'the full walk leaves the excluded and ignored files out');

    // Disk events for the left-out files (a build rewriting build/, a test edited outside the editor),
    // with an indexable new file last so there is a notification to wait for.
    writeFile(ws, 'src/fresh.ts', 'export function fresh(): number {\n  return 5;\n}\n');
    let mark = c.mark();
    await c.connection.sendNotification(DidChangeWatchedFilesNotification.type, {
      changes: [
        { uri: fileUri(ws, 'test/t.test.ts'), type: FileChangeType.Changed },
        { uri: fileUri(ws, 'build/out.js'), type: FileChangeType.Created },
        { uri: fileUri(ws, 'vendor/lib.min.js'), type: FileChangeType.Changed },
        { uri: fileUri(ws, 'src/fresh.ts'), type: FileChangeType.Created },
      ],
    });
    const changed = await c.waitFor(IndexChangedNotification.type, (p) => p.files.includes('src/fresh.ts'), { since: mark });
    assert.deepEqual(
      { reported: changed.files, indexed: await ids() },
      { reported: ['src/fresh.ts'], indexed: ['src/a.ts#kept', 'src/fresh.ts#fresh'] },
      'workspace/didChangeWatchedFiles must not index files that crucible.exclude / .gitignore leave out',
    );

    // Opening an excluded file in the editor must not index it either (an indexable edit follows, to wait on).
    const testUri = fileUri(ws, 'test/t.test.ts');
    await c.connection.sendNotification(DidOpenTextDocumentNotification.type, { textDocument: { uri: testUri, languageId: 'typescript', version: 1, text: readFileSync(path.join(ws, 'test', 't.test.ts'), 'utf8') } });
    mark = c.mark();
    const aUri = fileUri(ws, 'src/a.ts');
    await c.connection.sendNotification(DidOpenTextDocumentNotification.type, { textDocument: { uri: aUri, languageId: 'typescript', version: 1, text: 'export function kept(): number {\n  return 1;\n}\nexport function alsoKept(): void {}\n' } });
    await c.waitFor(IndexChangedNotification.type, (p) => p.files.includes('src/a.ts'), { since: mark });
    assert.ok(!(await ids()).some((id) => id.startsWith('test/')), 'an opened buffer of an excluded file must not be indexed');

    await expectCleanExit(c);
  });

  it('re-walks for a .gitignore that matters, not for the one .crucible/ writes or ones under excluded folders', async () => {
    const ws = makeWorkspace({ 'src/a.ts': 'export const a = () => 1;\n', 'node_modules/pkg/.gitignore': 'x\n' });
    const { c } = await startIndexed(ws);
    const mark = c.mark();
    writeFile(ws, 'src/b.ts', 'export const b = () => 2;\n');
    await c.connection.sendNotification(DidChangeWatchedFilesNotification.type, {
      changes: [
        { uri: fileUri(ws, '.crucible/.gitignore'), type: FileChangeType.Created },
        { uri: fileUri(ws, 'node_modules/pkg/.gitignore'), type: FileChangeType.Changed },
        { uri: fileUri(ws, 'src/b.ts'), type: FileChangeType.Created },
      ],
    });
    await c.waitFor(IndexChangedNotification.type, (p) => p.files.includes('src/b.ts'), { since: mark });
    // A root .gitignore change does re-walk: its notification closes the window in which a
    // re-walk started by the two events above would have reported first.
    writeFile(ws, '.gitignore', 'src/b.ts\n');
    await c.connection.sendNotification(DidChangeWatchedFilesNotification.type, { changes: [{ uri: fileUri(ws, '.gitignore'), type: FileChangeType.Changed }] });
    await c.waitFor(IndexedNotification.type, (s) => s.folderUri === c.rootUri, { since: mark });
    // Every re-walk announces work-done progress, even one a later re-walk cancels.
    assert.equal(c.requests('window/workDoneProgress/create', mark).length, 1, 'one re-walk, for the root .gitignore only');
    assert.deepEqual((await artifacts(c)).artifacts.map((a) => a.id), ['src/a.ts#a'], 'the root .gitignore took effect');
    await expectCleanExit(c);
  });
});
