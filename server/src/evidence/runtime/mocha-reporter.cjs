// @ts-check
/**
 * Crucible's mocha reporter (run.ts passes it as `--reporter`). Streams the project's
 * usual spec output through mocha's own Spec reporter when it can find mocha, and
 * appends one NDJSON line per finished test to $CRUCIBLE_RUNNER_EVENTS with
 * synchronous writes, so nothing is lost when mocha exits:
 * `{"file": absolute, "titlePath": [...], "status", "durationMs", "error"?}`.
 */
'use strict';
const fs = require('fs');
const path = require('path');

/**
 * What this reporter reads of mocha's runnables (tests and hooks), any mocha version.
 * @typedef {{ title: string, titlePath?: () => string[], file?: string, parent?: { file?: string }, duration?: number, type?: string, ctx?: { currentTest?: Runnable } }} Runnable
 * @typedef {{ on(event: string, listener: (t: Runnable, err?: any) => void): unknown }} Runner
 */

/** The workspace's mocha (for its Spec reporter), found from the running script or the cwd. */
function findMocha() {
  const from = [process.argv[1], process.cwd()].filter(Boolean);
  for (const p of from) {
    try { return require(require.resolve('mocha', { paths: [path.dirname(p), p] })); } catch {}
  }
  return undefined;
}
/**
 * @this {{ spec?: { done?: (failures: number, fn: (failures: number) => void) => void } }}
 * @param {Runner} runner
 * @param {unknown} options
 */
function CrucibleMochaReporter(runner, options) {
  const mocha = findMocha();
  if (mocha && mocha.reporters && mocha.reporters.Spec) {
    try { this.spec = new mocha.reporters.Spec(runner, options); } catch {}
  }
  const fd = fs.openSync(/** @type {string} */ (process.env.CRUCIBLE_RUNNER_EVENTS), 'a');
  const write = (/** @type {object} */ o) => fs.writeSync(fd, JSON.stringify(o) + '\n');
  const titles = (/** @type {Runnable} */ t) => (typeof t.titlePath === 'function' ? t.titlePath() : [t.title]);
  const fileOf = (/** @type {Runnable} */ t) => t.file || (t.parent && t.parent.file);
  // The recorder (when this run is recorded) takes test windows from the runner's events on mocha < 8.
  try {
    const rec = /** @type {Record<symbol, any>} */ (/** @type {unknown} */ (globalThis))[Symbol.for('crucible.record')];
    if (rec && typeof rec.mochaRunner === 'function') rec.mochaRunner(runner);
  } catch {}
  runner.on('pass', (t) => write({ file: fileOf(t), titlePath: titles(t), status: 'passed', durationMs: t.duration || 0 }));
  runner.on('pending', (t) => write({ file: fileOf(t), titlePath: titles(t), status: 'skipped', durationMs: 0 }));
  runner.on('fail', (t, err) => {
    // A failing hook is reported against the test it ran for, else under its own title.
    const target = t.type === 'hook' && t.ctx && t.ctx.currentTest ? t.ctx.currentTest : t;
    const error = { message: String(err && err.message !== undefined ? err.message : err), stack: err && err.stack ? String(err.stack) : undefined };
    write({ file: fileOf(target) || fileOf(t), titlePath: titles(target), status: 'failed', durationMs: target.duration || 0, error });
  });
}
/**
 * @param {number} failures
 * @param {(failures: number) => void} fn
 */
CrucibleMochaReporter.prototype.done = function (failures, fn) {
  if (this.spec && typeof this.spec.done === 'function') return this.spec.done(failures, fn);
  fn(failures);
};
module.exports = CrucibleMochaReporter;
