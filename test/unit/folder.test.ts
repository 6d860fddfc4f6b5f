/**
 * The per-folder engine driven directly, with no LSP connection and no CLI process: index,
 * trust, tests recorded as evidence, drift after an edit, a benchmark, optimize with the
 * variant decisions, cancellation and settings changes, on a small node:test workspace.
 */
import * as assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { FolderEngine, TrustRequiredError } from '../../server/src/folder';
import { normalizeSettings } from '../../server/src/settings';
import { sheetWorkspace, slowSheetSource } from '../support/sheetWorkspace';

const slow = slowSheetSource;
const id = 'src/sheet.ts#countFields';

describe('FolderEngine (no connection)', function () {
  this.timeout(180_000);
  let ws: ReturnType<typeof sheetWorkspace>;
  let engine: FolderEngine;
  const driftChanges: string[][] = [];
  const problems: string[] = [];
  /** What an editor buffer holds, by file: wins over the disk. */
  const buffers = new Map<string, string>();

  before(async () => {
    ws = sheetWorkspace();
    engine = await FolderEngine.create(ws.root, {
      settings: normalizeSettings({ bench: { maxSecondsPerArtifact: 1 }, optimize: { budget: 3 } }),
      owner: 'engine test',
      onProblem: (m) => problems.push(m),
      overlay: (rel) => buffers.get(rel),
      onDriftChanged: (changed) => driftChanges.push(changed),
    });
  });
  after(async () => {
    await engine.close();
    ws.remove();
  });

  it('indexes the folder and answers queries from the index', async () => {
    const summary = await engine.indexAll();
    assert.ok(summary);
    assert.equal(summary.files, 2);
    assert.ok(engine.index.get(id), 'countFields is an artifact');
    assert.equal(engine.index.artifacts({ kinds: ['test'] }).length, 2);
    assert.deepEqual(problems, []);
  });

  it('refuses to run workspace code until the folder is trusted, and runs nothing', async () => {
    await assert.rejects(engine.runTests({ runId: 'untrusted' }), (err: Error) => err instanceof TrustRequiredError && /trusted workspace/.test(err.message));
    await assert.rejects(engine.benchmark({ runId: 'untrusted' }), TrustRequiredError);
    await assert.rejects(engine.optimize(), TrustRequiredError);
    assert.equal(existsSync(path.join(ws.root, '.crucible', 'evidence', 'runs.json')), false, 'no evidence was recorded');
  });

  it('a cancelled test run stops and says so', async () => {
    engine.trusted = true;
    const abort = new AbortController();
    abort.abort();
    const { run } = await engine.runTests({ runId: 'cancelled', signal: abort.signal });
    assert.equal(run.cancelled, true);
  });

  it('runs the tests with the recorder and keeps the evidence: tests, calls, verified on this code', async () => {
    const started: string[] = [];
    const { run, changedFiles } = await engine.runTests({ runId: 'first', onStarted: (c) => started.push(c) });
    assert.deepEqual(run.results.map((r) => r.status), ['passed', 'passed']);
    assert.equal(started.length, 1);
    assert.ok(changedFiles.includes('src/sheet.ts'), changedFiles.join());
    const row = engine.evidenceRows().find((r) => r.id === id);
    assert.ok(row, JSON.stringify(engine.evidenceRows()));
    assert.equal(row.status, 'verified');
    assert.equal(row.tests.length, 2);
    assert.ok((row.calls ?? 0) >= 2 && row.samples >= 2, JSON.stringify(row));
  });

  it('benchmarks the function on its recorded calls', async () => {
    const { outcomes, changedFiles } = await engine.benchmark({ runId: 'bench', ids: [id] });
    assert.equal(outcomes.length, 1);
    assert.ok(outcomes[0].ok, outcomes[0].reason);
    assert.ok(outcomes[0].medianNs! > 0 && outcomes[0].ciLowNs! <= outcomes[0].medianNs! && outcomes[0].medianNs! <= outcomes[0].ciHighNs!);
    assert.deepEqual(changedFiles, ['src/sheet.ts']);
    assert.ok(engine.evidenceSummary(engine.index.get(id)!)?.medianNs);
  });

  it('optimizes: a verified variant is offered on the code it was verified against, diffed, applied as an edit, dismissed', async () => {
    const progress: number[] = [];
    const { report } = await engine.optimize({ ids: [id], onProgress: (_m, fraction) => fraction !== undefined && progress.push(fraction) });
    const variant = report.variants.find((v) => v.agent === 'rule:split-once');
    assert.ok(variant, JSON.stringify(report.rejected));
    assert.ok(progress.length > 0 && progress.every((f) => f > 0 && f < 1), `progress ${progress}`);
    const a = engine.index.get(id)!;
    assert.equal(engine.offeredVariant(a)?.best.id, variant.id);
    assert.equal(await engine.hasVariant(variant.id), true);

    const diff = await engine.decideVariant(variant.id, 'diff');
    assert.ok('diff' in diff);
    assert.equal(diff.diff.file, 'src/sheet.ts');
    assert.match(diff.diff.title, /^countFields: original ↔ [\d.]+× faster variant \(rule:split-once\)$/);
    const edit = await engine.decideVariant(variant.id, 'apply');
    assert.ok('edit' in edit, JSON.stringify(edit));
    assert.deepEqual(edit.edit.range, a.range);
    assert.equal(edit.edit.newText, variant.code);
    assert.equal(readFileSync(path.join(ws.root, 'src/sheet.ts'), 'utf8'), slow, 'the engine never writes the user’s files');

    assert.deepEqual(await engine.decideVariant(variant.id, 'dismiss'), { done: true });
    assert.equal(engine.offeredVariant(a), undefined);
    const missing = await engine.decideVariant('no-such-variant', 'apply');
    assert.ok('problem' in missing && /No variant no-such-variant/.test(missing.problem));
  });

  it('an edit in an editor buffer is drift: the function changed since its tests last passed', async () => {
    driftChanges.length = 0;
    const edited = slow.replace('let n = 0;', 'let n = 0 * 1;');
    buffers.set('src/sheet.ts', edited);
    assert.equal(await engine.updateFile('src/sheet.ts', edited), true);
    assert.ok(driftChanges.some((files) => files.includes('src/sheet.ts')), JSON.stringify(driftChanges));
    assert.deepEqual(engine.drift.get('src/sheet.ts')?.map((e) => e.kind), ['unverified-change']);
    const report = await engine.driftReport();
    assert.deepEqual(report.events.map((e) => [e.artifact, e.kind]), [[id, 'unverified-change']]);
    assert.equal(report.artifactsWithEvidence >= 1, true);
    buffers.delete('src/sheet.ts');
    await engine.updateFile('src/sheet.ts');
    assert.equal(engine.drift.get('src/sheet.ts'), undefined, 'back to the verified code: no drift');
  });

  it('an index pass stops when its signal is aborted, and says nothing was indexed', async () => {
    const before = new AbortController();
    before.abort();
    assert.equal(await engine.indexAll({ force: true, signal: before.signal }), undefined);
    const during = new AbortController();
    assert.equal(await engine.indexAll({ force: true, signal: during.signal, onProgress: () => during.abort() }), undefined);
    assert.equal(engine.indexing, 0);
    assert.ok(await engine.indexAll(), 'a later pass completes');
  });

  it('takes new settings at once and says what they change', async () => {
    const same = await engine.applySettings(normalizeSettings({ bench: { maxSecondsPerArtifact: 1 }, optimize: { budget: 3 } }));
    assert.deepEqual(same, { walk: false, embedder: false, diagnostics: false });
    const next = await engine.applySettings(normalizeSettings({ exclude: ['**/node_modules/**', 'test/**'], diagnostics: { drift: false } }));
    assert.deepEqual(next, { walk: true, embedder: false, diagnostics: true });
    await engine.indexAll();
    assert.equal(engine.index.artifacts({ kinds: ['test'] }).length, 0, 'the new exclude applies to the next walk');
  });
});
