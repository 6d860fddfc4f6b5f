#!/usr/bin/env node
/**
 * `npm run demo`: Crucible's main job on the bundled example, headless.
 *
 *   1. copies examples/demo-shop to .cache/demo/demo-shop (a throw-away working copy inside
 *      the repository, so the example's `node --import tsx` finds tsx in ./node_modules);
 *   2. `crucible evidence`: runs its tests through Crucible, records which functions each
 *      test ran with their real calls and coverage, benchmarks them, prints the table;
 *   3. applies the "next release" of one module (examples/demo-shop-changes/shipping.ts:
 *      country names accepted, with a lookup table rebuilt on every call) and runs
 *      `crucible evidence` again: every test still passes;
 *   4. `crucible drift --ci`: the slowdown shows, with its numbers, and fails the gate;
 *   5. `crucible optimize`: rule agents propose faster variants of the slowest functions, and
 *      each is verified (differential checks, the tests in a scratch copy, a benchmark) before
 *      it is kept; the working copy's files are not changed.
 *
 * The example is ours, so the demo passes --trust. Nothing outside .cache/demo is written.
 */
import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, rmSync } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const cli = path.join(repo, 'dist', 'cli.js');
const work = path.join(repo, '.cache', 'demo', 'demo-shop');
const benchSeconds = process.env.CRUCIBLE_DEMO_BENCH_SECONDS ?? '2';

function step(title) {
  process.stdout.write(`\n\x1b[1m== ${title}\x1b[0m\n`);
}

/** Runs the CLI with the terminal attached; returns its exit code. */
function crucible(...args) {
  process.stdout.write(`$ crucible ${args.map((a) => (a === work ? path.relative(repo, work) : a)).join(' ')}\n`);
  const r = spawnSync(process.execPath, [cli, ...args], { stdio: 'inherit' });
  if (r.error) throw r.error;
  return r.status ?? 1;
}

rmSync(work, { recursive: true, force: true });
mkdirSync(path.dirname(work), { recursive: true });
cpSync(path.join(repo, 'examples', 'demo-shop'), work, { recursive: true, filter: (src) => !src.includes(`${path.sep}.crucible`) });

step(`1/4 Evidence: run demo-shop's own tests through Crucible, record and benchmark (working copy: ${path.relative(repo, work)})`);
if (crucible('evidence', work, '--trust', '--bench-seconds', benchSeconds) !== 0) process.exit(1);

step('2/4 A change: shipping.ts now accepts country names (examples/demo-shop-changes/shipping.ts); run everything again');
cpSync(path.join(repo, 'examples', 'demo-shop-changes', 'shipping.ts'), path.join(work, 'src', 'shipping.ts'));
if (crucible('evidence', work, '--trust', '--bench-seconds', benchSeconds) !== 0) process.exit(1);

step('3/4 Drift: what changed in the evidence (as a CI gate: exit 1 on a regression)');
const gate = crucible('drift', work, '--ci');
process.stdout.write(
  gate === 1
    ? '\ncrucible drift --ci exited 1: a regression was found, as a CI job would be stopped. The tests all pass; only the measurements show it.\n'
    : `\ncrucible drift --ci exited ${gate}: no regression found this time (a loaded machine widens the intervals; see README "Drift").\n`,
);

step('4/4 Verified optimization: rule agents propose, Crucible verifies, only proven-faster variants are kept');
if (crucible('optimize', work, '--trust', '--budget', process.env.CRUCIBLE_DEMO_BUDGET ?? '6') !== 0) process.exit(1);
process.stdout.write('\nIn VS Code these variants are code lenses above the functions (Apply | Diff | Dismiss); the files above were not changed.\n');
