#!/usr/bin/env node
/**
 * `crucible`: the engine from the command line, no VS Code needed.
 *   crucible index <dir> [--json] [--force]
 *   crucible drift <dir> [--json] [--ci]
 * Exit codes: 0 done, 1 failed (for drift --ci: a regression was found), 2 usage error,
 * 3 store locked by another writer.
 */
import { existsSync, statSync } from 'node:fs';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { SingleBar } from 'cli-progress';
import Table from 'cli-table3';
import { type DriftEvent, detectDrift, isRegression } from './drift/detect';
import { EvidenceStore } from './evidence/store';
import { defaultSettings, type FolderSummary } from './protocol';
import { chooseEmbedder } from './index/embedders';
import { StoreLockedError } from './index/store';
import { WorkspaceIndex } from './index/workspace';

const usage = `Usage: crucible <command> [options]

Commands:
  index <dir>    Index the functions, classes and tests under <dir> into <dir>/.crucible
  drift <dir>    List drift found in the recorded evidence (<dir>/.crucible/evidence):
                 tests gone red, slowdowns, code changed since last verified, coverage
                 drops, error-rate rises, flaky tests. Re-indexes first to know the code now.

Options:
  --json         Print machine-readable JSON instead of a table
  --force        Re-extract every file even if its content is unchanged
  --ci           (drift) Exit 1 when a regression is found: test-failure, slowdown,
                 coverage-drop or error-rate (flaky and unverified-change are listed only)
  --exclude <g>  Extra glob to exclude (repeatable); node_modules and *.min.js are always excluded
  --max-file-size <bytes>  Skip larger files (default ${defaultSettings.maxFileSizeBytes})
  --ollama-embed-model <m> Use this Ollama embedding model (falls back to the local embedder)
  --ollama-host <url>      Ollama server (default ${defaultSettings.ollama.host})
  -h, --help     Show this help
`;

class UsageError extends Error {}

async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      json: { type: 'boolean', default: false },
      force: { type: 'boolean', default: false },
      ci: { type: 'boolean', default: false },
      exclude: { type: 'string', multiple: true, default: [] },
      'max-file-size': { type: 'string' },
      'ollama-embed-model': { type: 'string', default: process.env.CRUCIBLE_OLLAMA_EMBED_MODEL ?? '' },
      'ollama-host': { type: 'string', default: process.env.CRUCIBLE_OLLAMA_HOST ?? defaultSettings.ollama.host },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  const [command, dir] = positionals;
  if (values.help || !command) {
    process.stdout.write(usage);
    return command || values.help ? 0 : 2;
  }
  if (command !== 'index' && command !== 'drift') throw new UsageError(`unknown command '${command}'`);
  if (!dir) throw new UsageError(`${command} needs a directory`);
  if (positionals.length > 2) throw new UsageError(`unexpected argument '${positionals[2]}'`);
  if (values.ci && command !== 'drift') throw new UsageError('--ci is an option of drift');
  const root = path.resolve(dir);
  if (!existsSync(root) || !statSync(root).isDirectory()) throw new UsageError(`${dir} is not a directory`);
  const maxFileSizeBytes = values['max-file-size'] !== undefined ? Number(values['max-file-size']) : defaultSettings.maxFileSizeBytes;
  if (!Number.isFinite(maxFileSizeBytes) || maxFileSizeBytes <= 0) throw new UsageError('--max-file-size must be a positive number of bytes');

  const log = (m: string) => process.stderr.write(`crucible: ${m}\n`);
  const choice = await chooseEmbedder({ host: values['ollama-host']!, embedModel: values['ollama-embed-model']! });
  if (values['ollama-embed-model']) log(choice.reason);
  const index = new WorkspaceIndex(root, {
    settings: { exclude: [...defaultSettings.exclude, ...values.exclude!], maxFileSizeBytes },
    embedder: choice.embedder,
    owner: 'crucible index (CLI)',
    lockWaitMs: Number(process.env.CRUCIBLE_LOCK_WAIT_MS ?? 5000),
    onProblem: (p) => log(p.message),
    log,
  });
  await index.open();
  await index.holdLock();
  const bar = !values.json && process.stderr.isTTY ? new SingleBar({ format: 'indexing [{bar}] {percentage}% {value}/{total} files {file}', hideCursor: true, clearOnComplete: true, stream: process.stderr }) : undefined;
  let started = false;
  let summary: FolderSummary | undefined;
  try {
    summary = await index.indexAll((p) => {
      if (!bar) return;
      if (!started) {
        bar.start(p.total, 0, { file: '' });
        started = true;
      }
      bar.update(p.done, { file: p.file ?? '' });
    }, values.force);
  } finally {
    bar?.stop();
    await index.close();
  }
  if (!summary) throw new Error('indexing was cancelled');
  // drift indexes first (above) for the hashes of the code as it is now; the index stays readable after close
  if (command === 'drift') return drift(root, index, { json: values.json!, ci: values.ci!, log });
  if (values.json) printJson(index, summary);
  else printTable(index, summary);
  return 0;
}

/**
 * `crucible drift`: given an up-to-date index (the current code's hashes), reads the
 * evidence under its lock (a writer's flush spans several files), runs the detectors.
 */
async function drift(root: string, index: WorkspaceIndex, opts: { json: boolean; ci: boolean; log: (m: string) => void }): Promise<number> {
  const evidence = new EvidenceStore(root, { owner: 'crucible drift (CLI)', lockWaitMs: Number(process.env.CRUCIBLE_LOCK_WAIT_MS ?? 5000) });
  await evidence.holdLock();
  const events: DriftEvent[] = [];
  const gone: string[] = [];
  try {
    for (const p of await evidence.open()) opts.log(p.message);
    for (const artifact of evidence.artifacts().sort()) {
      const current = index.get(artifact);
      if (!current) {
        gone.push(artifact); // deleted or renamed: its history says nothing about code that exists
        continue;
      }
      const rec = evidence.get(artifact)!;
      events.push(...detectDrift({ artifact, history: rec.history, currentHash: current.hash, lastVerifiedHash: rec.lastVerifiedHash }));
    }
  } finally {
    await evidence.close();
  }
  const regressions = events.filter(isRegression).length;
  if (opts.json) {
    const out = { events: events.map((e) => (e.ratio === undefined ? { artifact: e.artifact, kind: e.kind, detail: e.detail } : { artifact: e.artifact, kind: e.kind, detail: e.detail, ratio: e.ratio })) };
    process.stdout.write(JSON.stringify(out, null, 2) + '\n');
  } else {
    const artifactsWithEvidence = evidence.artifacts().length;
    process.stdout.write(`Crucible drift of ${root}: ${events.length} event(s), ${regressions} regression(s), over ${artifactsWithEvidence} artifact(s) with evidence\n`);
    if (artifactsWithEvidence === 0) process.stdout.write('  no evidence recorded yet: run the tests through Crucible first\n');
    for (const e of events) process.stdout.write(`  ${isRegression(e) ? '✗' : '·'} ${e.kind.padEnd(17)} ${e.artifact}\n      ${e.detail}\n`);
    if (gone.length) process.stdout.write(`  ${gone.length} artifact(s) with evidence no longer exist in the code (deleted or renamed); not checked\n`);
  }
  return opts.ci && regressions > 0 ? 1 : 0;
}

function printJson(index: WorkspaceIndex, summary: FolderSummary): void {
  const artifacts = index.artifacts().map((a) => ({
    id: a.id,
    kind: a.kind,
    language: a.language,
    file: a.file,
    range: a.range,
    hash: a.hash,
    calls: index.resolveCalls(a),
  }));
  const out = { files: summary.files, artifacts, skipped: index.skippedFiles(), parseErrors: summary.parseErrors, ms: summary.ms, embedder: summary.embedder };
  process.stdout.write(JSON.stringify(out, null, 2) + '\n');
}

function printTable(index: WorkspaceIndex, s: FolderSummary): void {
  const t = new Table({ head: ['', 'count'], style: { head: [], border: [], compact: true } });
  t.push(['files indexed', s.files], ['artifacts', s.artifacts]);
  for (const [k, n] of Object.entries(s.byKind).sort()) t.push([`  ${k}`, n]);
  for (const [l, n] of Object.entries(s.byLanguage).sort()) t.push([`  ${l}`, n]);
  t.push(['files skipped', s.skipped], ['files with parse errors', s.parseErrors], ['time', `${s.ms} ms`], ['embedder', s.embedder]);
  process.stdout.write(`Crucible index of ${index.root}\n${t.toString()}\n`);
  for (const sk of index.skippedFiles().slice(0, 20)) process.stdout.write(`  skipped ${sk.file}: ${sk.reason}\n`);
  if (index.skippedFiles().length > 20) process.stdout.write(`  … and ${index.skippedFiles().length - 20} more (see --json)\n`);
}

// Set the exit code and let Node exit on its own: process.exit() would cut off
// stdout that is still being written to a pipe (large --json output).
main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    if (err instanceof UsageError || (err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      process.stderr.write(`crucible: ${(err as Error).message}\n\n${usage}`);
      process.exitCode = 2;
    } else if (err instanceof StoreLockedError) {
      process.stderr.write(`crucible: ${err.message}\n`);
      process.exitCode = 3;
    } else {
      process.stderr.write(`crucible: ${(err as Error).stack ?? err}\n`);
      process.exitCode = 1;
    }
  },
);
