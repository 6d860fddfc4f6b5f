// @ts-check
/**
 * Crucible's node:test reporter (run.ts passes it as `--test-reporter`, its destination
 * an NDJSON file): an async generator over the run's events, one line per finished test,
 * `{"file": absolute, "titlePath": [...], "status", "durationMs", "error"?}`. Suites and
 * tests that `--test-name-pattern` filtered out are not reported; titles come from the
 * `test:start` nesting, kept per file because files run concurrently.
 */
'use strict';
/** Title stack per file (`test:start` nesting): files run concurrently. @type {Map<string, string[]>} */
const stacks = new Map();
/**
 * @param {any} e the failure node:test reports (its cause is the test's own error)
 * @returns {{ message: string, stack: string | undefined } | undefined}
 */
function errorOf(e) {
  if (!e) return undefined;
  const inner = e.cause && typeof e.cause === 'object' ? e.cause : e;
  return { message: String(inner.message ?? inner), stack: typeof inner.stack === 'string' ? inner.stack : undefined };
}
/**
 * @param {AsyncIterable<{ type: string, data?: any }>} source node:test's event stream
 * @returns {AsyncGenerator<string>}
 */
async function* crucibleNodeTestReporter(source) {
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
    /** @type {{ file: string, titlePath: string[], status: string, durationMs: number, error?: ReturnType<typeof errorOf> }} */
    const out = { file: d.file, titlePath, status, durationMs: d.details?.duration_ms ?? 0 };
    if (status === 'failed') out.error = errorOf(d.details?.error);
    yield JSON.stringify(out) + '\n';
  }
}

module.exports = crucibleNodeTestReporter;
