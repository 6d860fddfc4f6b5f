/**
 * Verified optimization end to end on a small JavaScript workspace: `crucible optimize`
 * (rule agents, the real verification pipeline), the documented JSON, the store, the
 * user's files untouched; an Ollama agent (against the loopback double) whose wrong
 * answer verification rejects; and what reaches the editor through the language server:
 * a code lens, Diff, Apply's edit, Dismiss.
 */
import * as assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { CodeLensRequest, DidChangeConfigurationNotification, DidChangeTextDocumentNotification, DidOpenTextDocumentNotification } from 'vscode-languageserver-protocol/node';
import { seededRandom } from '../../server/src/agents/bandit';
import { EvidenceStore } from '../../server/src/evidence/store';
import { WorkspaceIndex } from '../../server/src/index/workspace';
import { ollamaAgents } from '../../server/src/optimize/ollamaAgent';
import { calleeBreakdown, optimizeFolder, planTargets } from '../../server/src/optimize/optimize';
import { TrackRecord } from '../../server/src/agents/trackRecord';
import { createScratchWorkspace, verifyCandidate } from '../../server/src/optimize/verify';
import { IndexedNotification, OptimizeRequest, RunTestsRequest, VariantActionRequest, WorkspaceTrustNotification } from '../../server/src/protocol';
import { scriptWrongAnswer, startOllamaLoopbackDouble } from '../doubles/ollamaLoopbackDouble';
import { LspClient } from '../lsp/lspClient';
import { sheetWorkspace, slowSheetSource } from '../support/sheetWorkspace';
import { tempWorkspace } from '../support/tempWorkspace';

const run = promisify(execFile);
const repo = path.resolve(__dirname, '../..');
const cli = path.join(repo, 'dist/cli.js');

const slow = slowSheetSource;
/** The function's text as the index ranges it (the declaration; `export` is not part of it). */
const original = slow.split('\n').slice(1, 9).join('\n').replace(/^export /, '');
function env(): NodeJS.ProcessEnv {
  const e = { ...process.env };
  delete e.CI;
  return e;
}

const workspace = sheetWorkspace;

interface OptimizeJson {
  variants: { artifact: string; file: string; range: { start: { line: number; character: number }; end: { line: number; character: number } }; agent: string; code: string; speedup: number; speedupLow: number; inputsCompared: number; testsRun: number }[];
  rejected: { artifact: string; agent: string; reason: string }[];
  agents: { id: string; attempts: number; accepted: number; mean: number; low: number; high: number }[];
}

describe('verified optimization', function () {
  this.timeout(180_000);

  it('crucible optimize: a rule agent’s split-once rewrite, verified, in the documented JSON; the file is untouched', async () => {
    const ws = workspace();
    try {
      await assert.rejects(run(process.execPath, [cli, 'optimize', ws.root], { env: env() }), (err: { code?: number; stderr?: string }) => err.code === 2 && /--trust/.test(err.stderr!));
      await assert.rejects(run(process.execPath, [cli, 'optimize', ws.root, '--trust'], { env: env() }), (err: { code?: number; stderr?: string }) => err.code === 1 && /no evidence recorded .*crucible evidence/.test(err.stderr!));
      await run(process.execPath, [cli, 'evidence', ws.root, '--trust', '--no-bench'], { env: env() });
      const { stdout } = await run(process.execPath, [cli, 'optimize', ws.root, '--trust', '--json', '--budget', '3', '--artifact', 'src/sheet.ts#countFields'], { env: env() });
      const out = JSON.parse(stdout) as OptimizeJson;
      const v = out.variants.find((x) => x.agent === 'rule:split-once');
      assert.ok(v, stdout);
      assert.equal(v.artifact, 'src/sheet.ts#countFields');
      assert.equal(v.file, 'src/sheet.ts');
      assert.equal(v.range.start.line, 1);
      assert.deepEqual(v.range.end, { line: 8, character: 1 });
      assert.ok(v.code.startsWith('function countFields(sheet: string): number {'), v.code);
      assert.equal((v.code.match(/\.split\('\\n'\)/g) ?? []).length, 1, 'split once');
      assert.ok(v.speedup >= 1.1 && v.speedupLow > 1, `${v.speedup} [${v.speedupLow}]`);
      assert.ok(v.inputsCompared >= 2, `${v.inputsCompared} inputs`);
      assert.equal(v.testsRun, 2);
      const agent = out.agents.find((a) => a.id === 'rule:split-once')!;
      assert.deepEqual([agent.attempts, agent.accepted], [1, 1]);
      assert.ok(agent.low < agent.mean && agent.mean < agent.high);
      assert.equal(readFileSync(path.join(ws.root, 'src/sheet.ts'), 'utf8'), slow, 'optimize never writes the user’s files');
      const store = new TrackRecord(ws.root);
      await store.open();
      assert.equal(store.variants({ artifact: 'src/sheet.ts#countFields' })[0].status, 'offered');
    } finally {
      ws.remove();
    }
  });

  it('an Ollama agent’s wrong answer (loopback double of Ollama’s HTTP API) is rejected by verification', async () => {
    const ws = workspace();
    const double = await startOllamaLoopbackDouble({ 'double-coder': 8 });
    try {
      await run(process.execPath, [cli, 'evidence', ws.root, '--trust', '--no-bench'], { env: env() });
      scriptWrongAnswer(double, original);
      const index = new WorkspaceIndex(ws.root, { settings: { exclude: ['**/node_modules/**'], maxFileSizeBytes: 1 << 20 }, owner: 'test' });
      await index.open();
      await index.indexAll();
      const evidence = new EvidenceStore(ws.root);
      await evidence.open();
      const store = new TrackRecord(ws.root);
      await store.open();
      const scratch = await createScratchWorkspace(ws.root);
      try {
        const agents = ollamaAgents({ host: double.host, models: ['double-coder'], strategies: ['direct'], timeoutMs: 5000 });
        const report = await optimizeFolder(index, evidence, store, {
          budget: 2,
          artifactIds: ['src/sheet.ts#countFields'],
          agents,
          random: seededRandom(1),
          verify: (target, candidate, signal) => verifyCandidate({ root: ws.root, target, candidate, scratch, signal, maxSeconds: 2 }),
        });
        assert.equal(double.requests.filter((r) => r.path === '/api/chat').length, 1, 'the model was asked');
        assert.deepEqual(report.variants, []);
        assert.equal(report.rejected.length, 1, JSON.stringify(report.rejected));
        assert.equal(report.rejected[0].agent, 'ollama:double-coder/direct');
        assert.match(report.rejected[0].reason, /^differential: differs from the original on recorded call/);
        assert.deepEqual([report.agents[0].attempts, report.agents[0].accepted], [1, 0]);
      } finally {
        await scratch.dispose();
        await index.close();
      }
    } finally {
      await double.close();
      ws.remove();
    }
  });

  it('through the language server: a lens on the function, Diff, Apply’s edit, and Dismiss removes the lens', async () => {
    const ws = workspace();
    const c = LspClient.start({ root: ws.root });
    try {
      await c.initialize();
      await c.waitFor(IndexedNotification.type, (s) => s.folderUri === c.rootUri);
      await assert.rejects(c.connection.sendRequest(OptimizeRequest.type, { runId: 'o0' }), /trusted workspace/);
      await c.connection.sendNotification(WorkspaceTrustNotification.type, { trusted: true });
      c.settings = { optimize: { budget: 2 } };
      await c.connection.sendNotification(DidChangeConfigurationNotification.type, { settings: null });
      await c.connection.sendRequest(RunTestsRequest.type, { runId: 't1' });
      const result = await c.connection.sendRequest(OptimizeRequest.type, { runId: 'o1', ids: ['src/sheet.ts#countFields'] });
      const variant = result.folders[0].variants.find((v) => v.agent === 'rule:split-once');
      assert.ok(variant, JSON.stringify(result));

      const uri = `${c.rootUri}/src/sheet.ts`;
      const lenses = await c.connection.sendRequest(CodeLensRequest.type, { textDocument: { uri } });
      assert.deepEqual(lenses!.map((l) => l.command?.title.replace(/⚡ [\d.]+×/, '⚡ N×')), ['⚡ N× faster variant · 2 recorded calls and 2 tests agree', 'Apply', 'Diff', 'Dismiss']);
      assert.equal(lenses![1].range.start.line, 1);
      assert.deepEqual(lenses!.map((l) => l.command?.command), ['crucible.variant.diff', 'crucible.variant.apply', 'crucible.variant.diff', 'crucible.variant.dismiss']);

      const diff = await c.connection.sendRequest(VariantActionRequest.type, { id: variant.id, action: 'diff' });
      assert.equal(diff.original, original);
      assert.equal((diff.variant!.match(/\.split\('\\n'\)/g) ?? []).length, 1);
      const apply = await c.connection.sendRequest(VariantActionRequest.type, { id: variant.id, action: 'apply' });
      assert.equal(apply.problem, undefined);
      assert.ok(apply.uri?.endsWith('/src/sheet.ts'), apply.uri);
      assert.deepEqual(apply.edit?.range.end, { line: 8, character: 1 });
      assert.equal(apply.edit?.newText, diff.variant);
      assert.equal(readFileSync(path.join(ws.root, 'src/sheet.ts'), 'utf8'), slow, 'the server only hands the edit to the client');

      await c.connection.sendRequest(VariantActionRequest.type, { id: variant.id, action: 'dismiss' });
      assert.deepEqual(await c.connection.sendRequest(CodeLensRequest.type, { textDocument: { uri } }), []);
      assert.equal(await c.shutdownAndExit(), 0);
    } finally {
      await c.dispose();
      ws.remove();
    }
  });

  it('plans level 0 by recorded time and level 1 for a caller’s bottleneck callee, with its breakdown', async () => {
    const ws = tempWorkspace({
      'src/report.js': 'function format(rows) { return rows.map((r) => r.join(",")).join("\\n"); }\nfunction report(rows) { const t = format(rows); return t.length; }\nfunction tiny(x) { return x + 1; }\nmodule.exports = { format, report, tiny };\n',
    });
    try {
      const index = new WorkspaceIndex(ws.root, { settings: { exclude: [], maxFileSizeBytes: 1 << 20 }, owner: 'test' });
      await index.open();
      await index.indexAll();
      const evidence = new EvidenceStore(ws.root);
      await evidence.open();
      const sample = (durationNs: number) => ({ args: [[['a']]], result: 1, durationNs, mutated: false });
      const hash = (id: string) => index.get(id)!.hash;
      evidence.addRun({ id: 'r1', at: '2026-01-01T00:00:00.000Z', kind: 'test', command: 'x', outcomes: [] }, new Map([
        ['src/report.js#report', { hash: hash('src/report.js#report'), tests: [], calls: 10, callSamples: [sample(1000), sample(1100)] }],
        ['src/report.js#format', { hash: hash('src/report.js#format'), tests: [], calls: 10, callSamples: [sample(850), sample(900)] }],
        ['src/report.js#tiny', { hash: hash('src/report.js#tiny'), tests: [], calls: 3, callSamples: [sample(20)] }],
      ]));
      const store = new TrackRecord(ws.root);
      await store.open();
      const shares = calleeBreakdown(index, evidence, index.get('src/report.js#report')!);
      assert.equal(shares[0].callee, 'src/report.js#format');
      assert.ok(Math.abs(shares[0].share - 875 / 1050) < 0.01, `${shares[0].share}`);
      const { plans } = planTargets(index, evidence, store);
      assert.deepEqual(plans.map((p) => [p.id, p.level]), [['src/report.js#format', 1], ['src/report.js#report', 0], ['src/report.js#tiny', 0]]);
      assert.match(plans[0].why, /^bottleneck of src\/report\.js#report: about 83% of its time$/);
      await index.close();
    } finally {
      ws.remove();
    }
  });

  it('a function edited while its candidate is verified gets no lens, and Apply refuses with the reason', async () => {
    const ws = workspace();
    const c = LspClient.start({ root: ws.root });
    try {
      await c.initialize();
      await c.waitFor(IndexedNotification.type, (s) => s.folderUri === c.rootUri);
      await c.connection.sendNotification(WorkspaceTrustNotification.type, { trusted: true });
      await c.connection.sendRequest(RunTestsRequest.type, { runId: 't1' });
      const uri = `${c.rootUri}/src/sheet.ts`;
      await c.connection.sendNotification(DidOpenTextDocumentNotification.type, { textDocument: { uri, languageId: 'typescript', version: 1, text: slow } });
      const mark = c.mark();
      const pending = c.connection.sendRequest(OptimizeRequest.type, { runId: 'o1', ids: ['src/sheet.ts#countFields'] });
      // Once a candidate is being verified, the user edits the function (unsaved).
      for (let i = 0; i < 600 && !c.logLines(mark).some((l) => /verifying rule:split-once/.test(l)); i++) await new Promise((r) => setTimeout(r, 50));
      assert.ok(c.logLines(mark).some((l) => /verifying rule:split-once/.test(l)), 'verification started');
      const edited = slow.replace('let n = 0;', 'let n = 1;');
      await c.connection.sendNotification(DidChangeTextDocumentNotification.type, { textDocument: { uri, version: 2 }, contentChanges: [{ text: edited }] });
      const result = await pending;
      const variant = result.folders[0].variants[0];
      assert.ok(variant, 'the candidate was verified against the code as it was when it was read');
      // The index follows the buffer (a short pause after typing): then the variant is stale.
      for (let i = 0; i < 100; i++) {
        if (((await c.connection.sendRequest(CodeLensRequest.type, { textDocument: { uri } })) ?? []).length === 0) break;
        await new Promise((r) => setTimeout(r, 50));
      }
      assert.deepEqual(await c.connection.sendRequest(CodeLensRequest.type, { textDocument: { uri } }), [], 'no lens offers a variant of code that is no longer there');
      const apply = await c.connection.sendRequest(VariantActionRequest.type, { id: variant.id, action: 'apply' });
      assert.equal(apply.edit, undefined);
      assert.match(apply.problem ?? '', /changed since this variant was verified/);
      assert.equal(await c.shutdownAndExit(), 0);
    } finally {
      await c.dispose();
      ws.remove();
    }
  });
});
