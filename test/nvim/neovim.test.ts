/**
 * A second, independent LSP client: Neovim's built-in one, run headless, drives the
 * built server (dist/server.js) through test/nvim/lsp-probe.lua. It shows the
 * server speaks plain LSP and leans on nothing VS Code happens to do: Neovim
 * percent-encodes URIs differently from Node (lower-case hex), computes its own
 * incremental changes, answers `workspace/configuration` with null, and registers
 * nothing dynamically.
 *
 * Needs `npm run build:fast` first and Debian's `neovim` (0.7.2) on PATH. One
 * headless session does all the steps; each `it` checks one thing it recorded.
 * The workspace folder's name has a space and a non-ASCII letter on purpose, so
 * the two URI encoders disagree.
 *
 * CRUCIBLE_LSP_SERVER points it at another server build (as for test/lsp);
 * CRUCIBLE_NVIM_KEEP=1 keeps the temp folder (plan.json, result.json, Neovim's
 * lsp.log under xdg/) for a look after a failure.
 */
import * as assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { makeTempDir, removeWorkspace, serverPath } from '../lsp/lspClient';

const probeScript = path.join(__dirname, 'lsp-probe.lua');
/** Each wait inside the Lua probe (indexing, a response, diagnostics). */
const stepTimeoutMs = 20_000;
/** The whole nvim run; past this the process group is killed. */
const runTimeoutMs = 75_000;

// LSP SymbolKind and Neovim's vim.diagnostic.severity values (fixed by the protocol / Neovim's API).
const Kind = { Class: 5, Method: 6, Function: 12 } as const;
const nvimSeverityInfo = 3;

// The edit target: an emoji (4 UTF-8 bytes, 2 UTF-16 units) and accented letters
// sit before the name on its line, so byte and UTF-16 columns differ there.
const editLinePrefix = "const badge = '🚀 ünïcode'; ";

const files: Record<string, string> = {
  'src/pricing.ts': [
    '/** Prices are in cents. */',
    'export function applyDiscount(cents: number, percent: number): number {',
    '  return Math.round(cents * (1 - percent / 100));',
    '}',
    '',
    'export class Cart {',
    '  private items: number[] = [];',
    '  total(): number {',
    '    return this.items.reduce((a, b) => a + b, 0);',
    '  }',
    '}',
    '',
    `${editLinePrefix}export function renamedLater(x: number) { return x * 2; }`,
    '',
  ].join('\n'),
  'src/strings.js': ['function slugify(text) {', "  return text.toLowerCase().replace(/\\s+/g, '-');", '}', '', 'module.exports = { slugify };', ''].join('\n'),
  'src/broken.ts': [
    'export function beforeTheError(a: number): number {',
    '  return a + 1;',
    '}',
    '',
    'export function halfWritten(a: number {',
    '  return a;',
    '}',
    '',
  ].join('\n'),
};

/** 0-based line of the first line of `text` containing `needle` (fails if none). */
function lineOf(text: string, needle: string): number {
  const line = text.split('\n').findIndex((l) => l.includes(needle));
  assert.notEqual(line, -1, `no line contains ${needle}`);
  return line;
}

interface Position {
  line: number;
  character: number;
}
interface Range {
  start: Position;
  end: Position;
}
interface NvimSymbol {
  name: string;
  kind: number;
  containerName?: string;
  location: { uri: string; range: Range };
  /** The file Neovim resolved the location's URI to (vim.uri_to_fname). */
  fname: string;
}
/** What lsp-probe.lua writes; every part is missing if the step before it failed. */
interface ProbeResult {
  nvim: { major: number; minor: number; patch: number };
  steps: string[] | Record<string, never>;
  logs: string[] | Record<string, never>;
  indexed: { files: number; artifacts: number; parseErrors: number; folderUri: string }[] | Record<string, never>;
  published: { uri: string; fname: string; diagnostics: { range: Range; severity?: number; source?: string; message: string }[] }[] | Record<string, never>;
  capabilities?: Record<string, any>;
  serverInfo?: { name: string; version?: string };
  serverPid?: number;
  symbols?: Record<string, NvimSymbol[] | null>;
  diagnostics?: { lnum: number; col: number; end_lnum: number; end_col: number; severity: number; message: string; source: string | null }[];
  afterEdit?: Record<string, NvimSymbol[] | null>;
  reindex?: unknown;
  afterReindex?: Record<string, NvimSymbol[] | null>;
  exit?: { code: number; signal: number } | null;
  error?: string;
  stopError?: string;
}

interface ProbeRun {
  result: ProbeResult;
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  ms: number;
  nvimPid: number;
  /** Tail of Neovim's own LSP log (RPC errors it chose not to show). */
  lspLog: string;
}

/** lua-cjson writes an empty Lua table as `{}`: read any list field through this. */
function list<T>(v: T[] | Record<string, never> | undefined): T[] {
  return Array.isArray(v) ? v : [];
}

/** Fails (never skips) when nvim is absent or too old to have vim.lsp.start_client + vim.diagnostic. */
function requireNeovim(): string {
  const probe = spawnSync('nvim', ['--version'], { encoding: 'utf8', timeout: 10_000 });
  if (probe.error && (probe.error as NodeJS.ErrnoException).code === 'ENOENT') throw new Error('neovim not installed: apt-get install neovim');
  if (probe.error) throw new Error(`cannot run \`nvim --version\`: ${probe.error.message}`);
  const m = /NVIM v(\d+)\.(\d+)\.(\d+)/.exec(probe.stdout);
  if (!m) throw new Error(`unexpected \`nvim --version\` output: ${probe.stdout.slice(0, 200)}`);
  const [major, minor] = [Number(m[1]), Number(m[2])];
  if (major === 0 && minor < 7) throw new Error(`neovim ${m[0]} is too old (need 0.7+): apt-get install neovim`);
  return m[0];
}

/** True while any process of the group (nvim and the server it spawned) is alive. */
function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Runs the Lua probe in a headless nvim with no user config; kills its whole process group on timeout. */
async function runProbe(root: string, scratch: string, plan: Record<string, unknown>): Promise<ProbeRun> {
  const out = path.join(scratch, 'result.json');
  const planFile = path.join(scratch, 'plan.json');
  writeFileSync(planFile, JSON.stringify({ ...plan, root, out, timeoutMs: stepTimeoutMs, server: [process.execPath, serverPath, '--stdio'] }));
  // Neovim writes its logs, shada and swap under the XDG dirs: keep them out of $HOME.
  const xdg = path.join(scratch, 'xdg');
  const env: NodeJS.ProcessEnv = { ...process.env, CRUCIBLE_NVIM_PLAN: planFile, NVIM_LOG_FILE: path.join(xdg, 'nvim.log') };
  for (const v of ['CONFIG', 'DATA', 'STATE', 'CACHE']) env[`XDG_${v}_HOME`] = path.join(xdg, v.toLowerCase());
  delete env.NVIM; // an enclosing Neovim terminal would otherwise be taken as the parent
  delete env.NVIM_LISTEN_ADDRESS;

  const started = Date.now();
  // detached: nvim leads a new process group, which the server it spawns joins; one
  // kill of the group on timeout takes both, and the group tells us what is left.
  const child = spawn('nvim', ['--headless', '--clean', '-u', 'NONE', '-i', 'NONE', '-n', '-S', probeScript], {
    cwd: root,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout = (stdout + d).slice(-20_000)));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr = (stderr + d).slice(-20_000)));
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    try {
      process.kill(-child.pid!, 'SIGKILL');
    } catch {
      // already gone
    }
  }, runTimeoutMs);
  const { code, signal } = await new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (c, s) => resolve({ code: c, signal: s }));
  }).finally(() => clearTimeout(timer));
  const ms = Date.now() - started;

  const lspLogFile = path.join(xdg, 'cache', 'nvim', 'lsp.log');
  // Without its "[START] … LSP logging initiated" header line, so an empty log reads as empty.
  const lspLog = existsSync(lspLogFile) ? readFileSync(lspLogFile, 'utf8').replace(/^\[START\].*\n?/gm, '').slice(-4000) : '';
  const tail = `nvim stdout: ${stdout.slice(-1500) || '(empty)'}\nnvim stderr: ${stderr.slice(-1500) || '(empty)'}\nneovim lsp.log: ${lspLog || '(empty)'}`;
  if (timedOut) throw new Error(`nvim did not finish within ${runTimeoutMs} ms and was killed (with the server)\n${tail}`);
  if (!existsSync(out)) throw new Error(`nvim exited (code ${code}, signal ${signal}) without writing ${out}: the probe did not run to its end\n${tail}`);
  const result = JSON.parse(readFileSync(out, 'utf8')) as ProbeResult;
  return { result, exitCode: code, signal, stdout, stderr, ms, nvimPid: child.pid!, lspLog };
}

describe("a second LSP client: Neovim's, headless", function () {
  this.timeout(runTimeoutMs + 15_000);

  let scratch: string | undefined;
  let root = '';
  let run!: ProbeRun; // set by before(); unset only if it threw, and then no test runs
  const abs = (rel: string) => path.join(root, ...rel.split('/'));

  /** Appended to every failure: where the probe stopped and what the server said. */
  function context(): string {
    const r = run.result;
    return [
      `probe steps completed: ${list(r.steps).join(', ') || '(none)'}`,
      r.error ? `probe error: ${r.error}` : 'probe error: (none)',
      `server log (tail): ${JSON.stringify(list(r.logs).slice(-10)).slice(0, 2000)}`,
      run.lspLog ? `neovim lsp.log (tail): ${run.lspLog.slice(-1500)}` : '',
      `nvim stderr: ${run.stderr.slice(-1000) || '(empty)'}`,
    ].join('\n');
  }

  function symbolsFor(table: Record<string, NvimSymbol[] | null> | undefined, query: string, where: string): NvimSymbol[] {
    assert.ok(table, `no ${where} symbols recorded\n${context()}`);
    return table[query] ?? [];
  }

  before(async () => {
    requireNeovim();
    if (!existsSync(serverPath)) throw new Error(`${serverPath} is missing: run \`npm run build:fast\` first`);
    scratch = makeTempDir('crucible-nvim-');
    root = path.join(scratch, 'café workspace');
    for (const [rel, text] of Object.entries(files)) {
      mkdirSync(path.dirname(abs(rel)), { recursive: true });
      writeFileSync(abs(rel), text);
    }
    run = await runProbe(root, scratch, {
      open: ['src/broken.ts', 'src/pricing.ts'],
      filetypes: { 'src/broken.ts': 'typescript', 'src/pricing.ts': 'typescript' },
      queries: ['applyDiscount', 'Cart', 'total', 'slugify', 'beforeTheError'],
      diagnosticsFor: 'src/broken.ts',
      edit: { file: 'src/pricing.ts', line: lineOf(files['src/pricing.ts'], 'renamedLater'), find: 'renamedLater', replace: 'renamedInNvim' },
      afterEditQueries: ['renamedInNvim', 'renamedLater'],
    });
  });

  after(() => {
    // Only reached with processes left if the last test already failed on it: don't leak them.
    if (run && groupAlive(run.nvimPid)) process.kill(-run.nvimPid, 'SIGKILL');
    if (!process.env.CRUCIBLE_NVIM_KEEP) removeWorkspace(scratch);
  });

  it('runs every step and nvim exits 0', () => {
    if (run.result.error) assert.fail(`the probe failed\n${context()}`);
    assert.deepEqual(list(run.result.steps), ['started', 'opened', 'indexed', 'symbols', 'diagnostics', 'edited', 'reindexed'], context());
    assert.equal(run.exitCode, 0, `nvim exit code (signal ${run.signal})\n${context()}`);
  });

  it('initializes from Neovim and indexes the folder it names with its own URI encoding', () => {
    const r = run.result;
    assert.ok(r.capabilities, `no initialize result\n${context()}`);
    assert.equal(r.capabilities.workspaceSymbolProvider, true);
    assert.ok(r.capabilities.textDocumentSync, 'textDocumentSync capability');
    assert.equal(r.serverInfo?.name, 'crucible');
    const indexed = list(r.indexed);
    assert.ok(indexed.length >= 1, `no crucible/indexed\n${context()}`);
    const first = indexed[0];
    // The folder is Neovim's URI (lower-case escapes), and still the right directory.
    assert.equal(fileURLToPath(first.folderUri), root);
    assert.equal(first.files, Object.keys(files).length, JSON.stringify(first));
    assert.ok(first.parseErrors >= 1, `parseErrors in ${JSON.stringify(first)}`);
  });

  it('answers workspace/symbol with names, kinds and locations Neovim resolves to the files', () => {
    const expect = [
      { query: 'applyDiscount', kind: Kind.Function, file: 'src/pricing.ts', needle: 'function applyDiscount' },
      { query: 'Cart', kind: Kind.Class, file: 'src/pricing.ts', needle: 'class Cart' },
      { query: 'total', kind: Kind.Method, file: 'src/pricing.ts', needle: 'total(): number', container: 'Cart' },
      { query: 'slugify', kind: Kind.Function, file: 'src/strings.js', needle: 'function slugify' },
      // Partly indexed: what precedes the syntax error is still there.
      { query: 'beforeTheError', kind: Kind.Function, file: 'src/broken.ts', needle: 'function beforeTheError' },
    ];
    for (const e of expect) {
      const found = symbolsFor(run.result.symbols, e.query, 'workspace/symbol');
      const hit = found.find((s) => s.name === e.query);
      assert.ok(hit, `${e.query} in ${JSON.stringify(found.map((s) => s.name))}\n${context()}`);
      assert.equal(hit.kind, e.kind, `kind of ${e.query}`);
      assert.equal(hit.fname, abs(e.file), `file Neovim resolved ${hit.location.uri} to`);
      assert.equal(hit.location.range.start.line, lineOf(files[e.file], e.needle), `line of ${e.query}`);
      if (e.container) assert.equal(hit.containerName, e.container, `container of ${e.query}`);
    }
  });

  it('publishes a crucible diagnostic on the syntax error that Neovim shows on that line', () => {
    const diags = run.result.diagnostics;
    assert.ok(diags && diags.length > 0, `no diagnostics in Neovim for src/broken.ts\n${context()}`);
    const errorLine = lineOf(files['src/broken.ts'], 'halfWritten(');
    const d = diags.find((x) => x.source === 'crucible');
    assert.ok(d, `a diagnostic with source crucible in ${JSON.stringify(diags)}`);
    assert.equal(d.lnum, errorLine, `diagnostic line in ${JSON.stringify(d)}`);
    assert.equal(d.severity, nvimSeverityInfo, 'Information severity');
    assert.match(d.message, /^Crucible indexed this file only partly/);
    // The raw notification named the file by Node's URI encoding; Neovim resolved it to the open buffer's file.
    const published = list(run.result.published).filter((p) => p.diagnostics.length > 0);
    assert.ok(published.length > 0);
    for (const p of published) assert.equal(p.fname, abs('src/broken.ts'), `publishDiagnostics for ${p.uri}`);
  });

  it("applies Neovim's incremental edits after non-ASCII text in UTF-16 columns", () => {
    const renamed = symbolsFor(run.result.afterEdit, 'renamedInNvim', 'after-edit').find((s) => s.name === 'renamedInNvim');
    assert.ok(renamed, `renamedInNvim after the unsaved edit: ${JSON.stringify(run.result.afterEdit)}\n${context()}`);
    const line = lineOf(files['src/pricing.ts'], 'renamedLater');
    assert.equal(renamed.location.range.start.line, line);
    // UTF-16 column of the declaration: the JS string index (a byte column would be larger).
    const edited = files['src/pricing.ts'].split('\n')[line].replace('renamedLater', 'renamedInNvim');
    const utf16 = [edited.indexOf('export function renamedInNvim'), edited.indexOf('function renamedInNvim')];
    assert.ok(utf16.includes(renamed.location.range.start.character), `start character ${renamed.location.range.start.character}, expected one of ${utf16} (UTF-16)`);
    assert.deepEqual(symbolsFor(run.result.afterEdit, 'renamedLater', 'after-edit').filter((s) => s.name === 'renamedLater'), [], 'the old name is gone');
  });

  it("re-indexes an open, unsaved buffer from Neovim's text rather than the disk", () => {
    const after = symbolsFor(run.result.afterReindex, 'renamedInNvim', 'after-reindex');
    assert.ok(
      after.some((s) => s.name === 'renamedInNvim'),
      `renamedInNvim after crucible/reindex: ${JSON.stringify(run.result.afterReindex)}\n${context()}`,
    );
    assert.deepEqual(symbolsFor(run.result.afterReindex, 'renamedLater', 'after-reindex').filter((s) => s.name === 'renamedLater'), [], 'the on-disk name came back');
  });

  it('shuts down on shutdown/exit with code 0 and leaves no process behind', () => {
    if (run.result.stopError) assert.fail(`stopping the client: ${run.result.stopError}\n${context()}`);
    assert.deepEqual(run.result.exit, { code: 0, signal: 0 }, `server exit seen by Neovim\n${context()}`);
    assert.ok(run.result.serverPid, 'server pid recorded');
    assert.equal(pidAlive(run.result.serverPid), false, `server pid ${run.result.serverPid} still alive`);
    assert.equal(groupAlive(run.nvimPid), false, `a process of nvim's group ${run.nvimPid} is still alive`);
  });
});
