/**
 * Where the programs that run in other processes are: the `.cjs` and `.py` files of
 * this folder. Tests run the TypeScript through tsx, so `__dirname` is this folder;
 * the bundles (`dist/server.js`, `dist/cli.js`) find the copies the build put in
 * `dist/runtime/` (scripts/build.mjs), which the VSIX ships.
 */
import { existsSync } from 'node:fs';
import * as path from 'node:path';

/** Every program, by file name. */
export type RuntimeProgram =
  | 'record-preload.cjs'
  | 'bench-worker.cjs'
  | 'differential-worker.cjs'
  | 'worker-common.cjs'
  | 'node-test-reporter.cjs'
  | 'mocha-reporter.cjs'
  | 'crucible_codec.py'
  | 'crucible_pytest_recorder.py'
  | 'crucible_pytest_reporter.py'
  | 'crucible_bench_worker.py';

let dir: string | undefined;

/** The folder that holds the programs (decided once: next to the bundle if the build copied them there, else this source folder). */
export function runtimeDir(): string {
  if (dir === undefined) {
    const bundled = path.join(__dirname, 'runtime');
    dir = existsSync(path.join(bundled, 'worker-common.cjs')) ? bundled : __dirname;
  }
  return dir;
}

/** Absolute path of one program. */
export function runtimeFile(name: RuntimeProgram): string {
  return path.join(runtimeDir(), name);
}
