/**
 * `crucible/runTests` over stdio: the server refuses to run workspace code until the
 * client says the workspace is trusted, then runs the folder's own tests with the
 * detected runner, matches results to indexed test artifacts, streams the runner's
 * output, records the run as evidence, narrows to one requested test, and stops a
 * run when the client cancels the request.
 */
import * as assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { CancellationTokenSource, DidChangeConfigurationNotification, DidChangeWatchedFilesNotification, FileChangeType, HoverRequest, PublishDiagnosticsNotification, ResponseError } from 'vscode-languageserver-protocol/node';
import { EvidenceStore } from '../../server/src/evidence/store';
import { ArtifactsRequest, BenchmarkRequest, DriftChangedNotification, DriftRequest, IndexChangedNotification, IndexedNotification, RunTestsRequest, type RunTestsResult, TestRunEventNotification, WorkspaceTrustNotification } from '../../server/src/protocol';
import { LspClient, makeWorkspace, removeWorkspace } from './lspClient';

const files = {
  'package.json': JSON.stringify({ name: 'tiny', private: true, scripts: { test: 'node --test test/' } }, null, 2),
  'src/math.js': 'function add(a, b) {\n  return a + b;\n}\nmodule.exports = { add };\n',
  'test/math.test.js': [
    "const { describe, it } = require('node:test');",
    "const assert = require('node:assert/strict');",
    "const { add } = require('../src/math');",
    "describe('add', () => {",
    "  it('adds', () => assert.equal(add(1, 2), 3));",
    "  it('is wrong on purpose', () => assert.equal(add(1, 1), 3));",
    '});',
    '',
  ].join('\n'),
};

const run = (c: LspClient, params: { runId: string; ids?: string[]; coverage?: boolean }, token?: CancellationTokenSource) =>
  c.connection.sendRequest(RunTestsRequest.type, params, token?.token) as Promise<RunTestsResult>;

describe('test runs through the language server', function () {
  this.timeout(90_000);
  let client: LspClient | undefined;
  let root: string | undefined;

  afterEach(async () => {
    await client?.dispose();
    client = undefined;
    removeWorkspace(root);
    root = undefined;
  });

  async function start(extra: Record<string, string> = {}) {
    root = makeWorkspace({ ...files, ...extra });
    const c = (client = LspClient.start({ root }));
    await c.initialize();
    await c.waitFor(IndexedNotification.type, (s) => s.folderUri === c.rootUri);
    return c;
  }


  it('refuses until the workspace is trusted, then runs the tests and records them as evidence', async () => {
    const c = await start();
    await assert.rejects(run(c, { runId: 'r0' }), (err: ResponseError<unknown>) => /trusted workspace/.test(err.message));

    await c.connection.sendNotification(WorkspaceTrustNotification.type, { trusted: true });
    const mark = c.mark();
    const result = await run(c, { runId: 'r1' });
    assert.equal(result.folders.length, 1);
    const folder = result.folders[0];
    assert.equal(folder.runner, 'node-test');
    assert.match(folder.command, /node --test/);
    const byId = Object.fromEntries(folder.results.map((r) => [r.id, r]));
    assert.deepEqual(Object.keys(byId).sort(), ['test/math.test.js#add > adds', 'test/math.test.js#add > is wrong on purpose']);
    assert.equal(byId['test/math.test.js#add > adds'].status, 'passed');
    assert.equal(byId['test/math.test.js#add > adds'].indexed, true, 'the result id is the indexed test artifact id');
    assert.equal(byId['test/math.test.js#add > is wrong on purpose'].status, 'failed');
    assert.match(byId['test/math.test.js#add > is wrong on purpose'].message ?? '', /Expected values to be strictly equal|3/);

    const events = c.notifications(TestRunEventNotification.type, mark).filter((e) => e.runId === 'r1');
    assert.equal(events[0]?.kind, 'started');
    assert.ok(events.some((e) => e.kind === 'output' && /adds/.test(e.text)), 'the runner output was streamed');

    // What the editor shows: summaries in artifact answers (tree badges) and the hover on a name.
    const infos = (await c.connection.sendRequest(ArtifactsRequest.type, {})).artifacts;
    const evidenceOf = (id: string) => infos.find((a) => a.id === id)?.evidence;
    assert.deepEqual(
      { status: evidenceOf('src/math.js#add')?.status, passed: evidenceOf('src/math.js#add')?.testsPassed, total: evidenceOf('src/math.js#add')?.testsTotal, calls: evidenceOf('src/math.js#add')?.calls, samples: evidenceOf('src/math.js#add')?.samples },
      { status: 'failing', passed: 1, total: 2, calls: 2, samples: 2 },
    );
    assert.equal(evidenceOf('test/math.test.js#add > adds')?.status, 'verified');
    const hover = await c.connection.sendRequest(HoverRequest.type, { textDocument: { uri: `${c.rootUri}/src/math.js` }, position: { line: 0, character: 10 } });
    const text = (hover?.contents as { value: string } | undefined)?.value ?? '';
    assert.match(text, /src\/math\.js|`add` \(function\)/);
    assert.match(text, /✗ failing · tests 1\/2 passing/);
    assert.match(text, /coverage 100% · 2 calls in the last run, 2 recorded/);
    const inBody = await c.connection.sendRequest(HoverRequest.type, { textDocument: { uri: `${c.rootUri}/src/math.js` }, position: { line: 1, character: 4 } });
    assert.equal(inBody, null, 'no hover inside the body: that belongs to the language service');

    assert.equal(await c.shutdownAndExit(), 0);
    const store = new EvidenceStore(root!);
    await store.open();
    assert.deepEqual(store.runs().map((r) => [r.id, r.kind, r.outcomes.length]), [['r1', 'test', 2]]);
    assert.equal(store.history('test/math.test.js#add > adds')[0]?.tests[0]?.status, 'passed');
    assert.ok(store.lastVerified('test/math.test.js#add > adds'), 'a passing test verifies its own code');
    assert.equal(store.lastVerified('test/math.test.js#add > is wrong on purpose'), undefined);
    // The function under test: which tests ran it (per file under node:test), how often, its coverage.
    const add = store.history('src/math.js#add')[0];
    assert.ok(add, 'evidence recorded for src/math.js#add');
    assert.deepEqual(add.tests.map((t) => [t.testId, t.status]).sort(), [
      ['test/math.test.js#add > adds', 'passed'],
      ['test/math.test.js#add > is wrong on purpose', 'failed'],
    ]);
    assert.equal(add.calls, 2);
    assert.ok(add.coverableLines! > 0 && add.coveredLines === add.coverableLines, `fully covered: ${add.coveredLines}/${add.coverableLines}`);
    assert.deepEqual(add.callSamples?.map((c) => [c.args, c.result]), [[[1, 2], 3], [[1, 1], 2]], 'the real calls, with their results');
  });

  it('benchmarks a function on the calls its tests made, records it, and shows the median on hover', async () => {
    const c = await start();
    await assert.rejects(c.connection.sendRequest(BenchmarkRequest.type, { runId: 'b0' }), /trusted workspace/);
    await c.connection.sendNotification(WorkspaceTrustNotification.type, { trusted: true });
    await run(c, { runId: 'record' });
    c.settings = { bench: { maxSecondsPerArtifact: 2 } };
    await c.connection.sendNotification(DidChangeConfigurationNotification.type, { settings: null });
    const t = performance.now();
    const { outcomes } = await c.connection.sendRequest(BenchmarkRequest.type, { runId: 'b1' });
    assert.ok(performance.now() - t < 15_000, 'bounded by crucible.bench.maxSecondsPerArtifact');
    const add = outcomes.find((o) => o.id === 'src/math.js#add');
    assert.ok(add?.ok, JSON.stringify(outcomes));
    assert.ok(add.medianNs! > 0 && add.ciLowNs! <= add.medianNs! && add.medianNs! <= add.ciHighNs!, JSON.stringify(add));
    const hover = await c.connection.sendRequest(HoverRequest.type, { textDocument: { uri: `${c.rootUri}/src/math.js` }, position: { line: 0, character: 10 } });
    assert.match((hover?.contents as { value: string }).value, /median [\d.]+ (µs|ms) per call/);
    assert.equal(await c.shutdownAndExit(), 0);
    const store = new EvidenceStore(root!);
    await store.open();
    assert.deepEqual(store.runs().map((r) => r.kind), ['test', 'bench']);
    assert.ok((store.history('src/math.js#add').at(-1)?.bench?.samplesNs.length ?? 0) >= 5, 'samples stored per run');
  });

  it('runs only the requested test', async () => {
    const c = await start();
    await c.connection.sendNotification(WorkspaceTrustNotification.type, { trusted: true });
    const result = await run(c, { runId: 'one', ids: ['test/math.test.js#add > adds'] });
    const ran = result.folders[0].results.filter((r) => r.status !== 'skipped').map((r) => r.id);
    assert.deepEqual(ran, ['test/math.test.js#add > adds']);
    assert.equal(result.folders[0].coverage, undefined, 'coverage only when asked');

    const withCoverage = await run(c, { runId: 'cov', ids: ['test/math.test.js#add > adds'], coverage: true });
    const math = withCoverage.folders[0].coverage?.find((f) => f.file === 'src/math.js');
    assert.ok(math, `coverage for src/math.js among ${JSON.stringify(withCoverage.folders[0].coverage)}`);
    assert.deepEqual({ covered: math.covered.length > 0, uncovered: math.uncovered }, { covered: true, uncovered: [] }, 'add ran: all its lines');
    assert.match(math.uri, /^file:.*\/src\/math\.js$/);
  });

  it('stops the run when the client cancels the request', async () => {
    const hang = "const { it } = require('node:test');\nit('never ends', () => new Promise(() => setInterval(() => {}, 1000)));\n";
    const c = await start({ 'test/hang.test.js': hang });
    await c.connection.sendNotification(WorkspaceTrustNotification.type, { trusted: true });
    const source = new CancellationTokenSource();
    const mark = c.mark();
    const pending = run(c, { runId: 'cancel-me', ids: ['test/hang.test.js#never ends'] }, source);
    await c.waitFor(TestRunEventNotification.type, (e) => e.runId === 'cancel-me' && e.kind === 'started', { since: mark });
    const t = performance.now();
    source.cancel();
    const outcome = await pending.then(
      (r) => r.folders[0],
      (err: Error) => err,
    );
    assert.ok(performance.now() - t < 10_000, 'stopped within the grace period');
    assert.ok(!(outcome instanceof Error), `the server answers a cancelled run with what it has: ${outcome}`);
    assert.equal(outcome.cancelled, true);
    assert.deepEqual(outcome.results.filter((r) => r.status === 'passed'), []);
  });
});

describe('drift through the language server', function () {
  this.timeout(90_000);
  let client: LspClient | undefined;
  let root: string | undefined;

  afterEach(async () => {
    await client?.dispose();
    client = undefined;
    removeWorkspace(root);
    root = undefined;
  });

  // The flag file is data, not code: a failure it causes is flaky, not drift.
  const driftFiles = {
    'package.json': JSON.stringify({ name: 'drifty', private: true, scripts: { test: 'node --test test/' } }),
    'flag.txt': 'ok',
    'test/a.test.js': [
      "const { it } = require('node:test');",
      "const assert = require('node:assert/strict');",
      "const { readFileSync } = require('node:fs');",
      "it('depends on data', () => assert.equal(readFileSync(__dirname + '/../flag.txt', 'utf8'), 'ok'));",
      "it('checks arithmetic', () => assert.equal(1 + 1, 2));",
      '',
    ].join('\n'),
  };

  it('turns a test that fails after its code changed into a warning, and one that fails without a change into a flaky note', async () => {
    root = makeWorkspace(driftFiles);
    const c = (client = LspClient.start({ root }));
    await c.initialize({ initializationOptions: { trusted: true } });
    await c.waitFor(IndexedNotification.type, (s) => s.folderUri === c.rootUri);
    const uri = `${c.rootUri}/test/a.test.js`;
    const first = await run(c, { runId: 'green' });
    assert.deepEqual(first.folders[0].results.map((r) => r.status), ['passed', 'passed']);

    // Break the data (flaky) and the arithmetic test's code (a real regression), then run again.
    writeFileSync(path.join(root, 'flag.txt'), 'broken');
    const edited = driftFiles['test/a.test.js'].replace('1 + 1, 2', '1 + 1, 3');
    writeFileSync(path.join(root, 'test/a.test.js'), edited);
    await c.connection.sendNotification(DidChangeWatchedFilesNotification.type, { changes: [{ uri, type: FileChangeType.Changed }] });
    await c.waitFor(IndexChangedNotification.type, (p) => p.files.includes('test/a.test.js'));
    const mark = c.mark();
    await run(c, { runId: 'red' });
    await c.waitFor(DriftChangedNotification.type, () => true, { since: mark });

    const { events } = await c.connection.sendRequest(DriftRequest.type, {});
    assert.deepEqual(
      events.map((e) => `${e.artifact}: ${e.kind}${e.regression ? ' (regression)' : ''}`).sort(),
      [
        'test/a.test.js#checks arithmetic: test-failure (regression)',
        // Its code also differs from the code its tests last passed on.
        'test/a.test.js#checks arithmetic: unverified-change',
        'test/a.test.js#depends on data: flaky',
      ],
    );
    const diagnostics = await c.waitFor(PublishDiagnosticsNotification.type, (p) => p.uri === uri && p.diagnostics.length === 3, { since: mark });
    const byCode = Object.fromEntries(diagnostics.diagnostics.map((d) => [d.code, d]));
    assert.equal(byCode['test-failure'].severity, 2, 'a regression is a Warning');
    assert.equal(byCode.flaky.severity, 3, 'flaky is Information');
    assert.equal(byCode['test-failure'].range.start.line, 4, 'on the test title');
    assert.match(String(byCode['test-failure'].message), /Test failing since a code change/);
    assert.equal(await c.shutdownAndExit(), 0);
  });
});
