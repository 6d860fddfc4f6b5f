/**
 * Crucible's own reporters for node:test, mocha and pytest, kept as source text
 * and written to a temp directory per run: the bundled server has no files of
 * its own to point a runner at. Each writes one NDJSON line per finished test:
 * `{"file": absolute, "titlePath": [...], "status", "durationMs", "error"?}`,
 * and `{"fileError": absolute, "message"}` for a file that could not be loaded.
 * jest and vitest need none: their `--json` output already has this shape.
 */

/** Environment variable naming the NDJSON file (mocha, pytest). */
export const eventsFileVariable = 'CRUCIBLE_RUNNER_EVENTS';

/**
 * node:test reporter (ESM, async generator over the run's events). Suites and
 * tests that `--test-name-pattern` filtered out are not reported; titles come
 * from the `test:start` nesting, kept per file because files run concurrently.
 */
export const nodeTestReporter = String.raw`
const stacks = new Map();
function errorOf(e) {
  if (!e) return undefined;
  const inner = e.cause && typeof e.cause === 'object' ? e.cause : e;
  return { message: String(inner.message ?? inner), stack: typeof inner.stack === 'string' ? inner.stack : undefined };
}
export default async function* crucibleNodeTestReporter(source) {
  for await (const event of source) {
    const d = event.data ?? {};
    const key = d.file ?? '';
    if (event.type === 'test:start') {
      const stack = stacks.get(key) ?? [];
      stack.length = d.nesting;
      stack.push(d.name);
      stacks.set(key, stack);
      continue;
    }
    if (event.type !== 'test:pass' && event.type !== 'test:fail') continue;
    if (d.details?.type === 'suite') continue;
    if (d.skip === 'test name does not match pattern') continue;
    const titlePath = [...(stacks.get(key) ?? []).slice(0, d.nesting), d.name];
    const skipped = (d.skip !== undefined && d.skip !== false) || (d.todo !== undefined && d.todo !== false);
    const status = skipped ? 'skipped' : event.type === 'test:fail' ? 'failed' : 'passed';
    const out = { file: d.file, titlePath, status, durationMs: d.details?.duration_ms ?? 0 };
    if (status === 'failed') out.error = errorOf(d.details?.error);
    yield JSON.stringify(out) + '\n';
  }
}
`;

/**
 * mocha reporter (CommonJS). Streams the project's usual spec output through
 * mocha's own Spec reporter when it can find mocha, and appends events with
 * synchronous writes so nothing is lost when mocha exits.
 */
export const mochaReporter = String.raw`
'use strict';
const fs = require('fs');
const path = require('path');
function findMocha() {
  const from = [process.argv[1], process.cwd()].filter(Boolean);
  for (const p of from) {
    try { return require(require.resolve('mocha', { paths: [path.dirname(p), p] })); } catch {}
  }
  return undefined;
}
function CrucibleMochaReporter(runner, options) {
  const mocha = findMocha();
  if (mocha && mocha.reporters && mocha.reporters.Spec) {
    try { this.spec = new mocha.reporters.Spec(runner, options); } catch {}
  }
  const fd = fs.openSync(process.env.${eventsFileVariable}, 'a');
  const write = (o) => fs.writeSync(fd, JSON.stringify(o) + '\n');
  const titles = (t) => (typeof t.titlePath === 'function' ? t.titlePath() : [t.title]);
  const fileOf = (t) => t.file || (t.parent && t.parent.file);
  // The recorder (when this run is recorded) takes test windows from the runner's events on mocha < 8.
  try {
    const rec = globalThis[Symbol.for('crucible.record')];
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
CrucibleMochaReporter.prototype.done = function (failures, fn) {
  if (this.spec && typeof this.spec.done === 'function') return this.spec.done(failures, fn);
  fn(failures);
};
module.exports = CrucibleMochaReporter;
`;

/** Module name of the pytest plugin (loaded with `-p`, found through PYTHONPATH). */
export const pytestPluginModule = 'crucible_pytest_reporter';

/** pytest plugin: one event per test from its call phase, or from a setup/teardown that did not pass. */
export const pytestPlugin = String.raw`
import json
import os
import re

_out = None
_root = None

def _write(obj):
    global _out
    if _out is None:
        _out = open(os.environ["${eventsFileVariable}"], "a", encoding="utf-8")
    _out.write(json.dumps(obj) + "\n")
    _out.flush()

def pytest_configure(config):
    global _root
    _root = str(config.rootpath) if hasattr(config, "rootpath") else str(config.rootdir)

def _message(report):
    crash = getattr(report.longrepr, "reprcrash", None)
    if crash is not None:
        return crash.message
    text = report.longreprtext or ""
    return text.strip().splitlines()[-1] if text.strip() else "failed"

def pytest_runtest_logreport(report):
    status = None
    if report.when == "call":
        status = "skipped" if report.skipped else report.outcome
    elif report.when == "setup" and not report.passed:
        status = "skipped" if report.skipped else "failed"
    elif report.when == "teardown" and report.failed:
        status = "failed"
    if status is None:
        return
    parts = report.nodeid.split("::")
    titles = parts[1:]
    if titles:
        titles[-1] = re.sub(r"\[.*\]$", "", titles[-1])
    event = {
        "file": os.path.join(_root, parts[0]),
        "titlePath": titles,
        "status": status,
        "durationMs": report.duration * 1000.0,
    }
    if status == "failed":
        event["error"] = {"message": _message(report), "stack": report.longreprtext}
    _write(event)

def pytest_collectreport(report):
    if report.failed:
        path = report.nodeid.split("::")[0]
        _write({"fileError": os.path.join(_root, path), "message": report.longreprtext})
`;
