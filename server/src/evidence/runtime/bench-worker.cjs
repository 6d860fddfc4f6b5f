// @ts-check
/**
 * The benchmark worker: replay.ts forks it (through supervise.ts) with
 * `--max-old-space-size`, `--expose-gc` and, for TypeScript, tsx's loader
 * (`--import`), and gives it a job file (`argv[2]`, JSON):
 *
 *   { variants: [{ label, file (absolute), qualifiedName }],
 *     calls: [{ args (recorded JSON), threw }],
 *     deadline (epoch ms), warmupMs, maxSamples, minSampleNs, maxSampleNs, maxInvocationsPerSample }
 *
 * It reports over IPC: `{type:'phase', …}` as it goes (so a timeout can say where it
 * hung), then `{type:'done', calls, rounds, variants:[{label, samplesNs, batch, async}], notes}`
 * or `{type:'fail', reason, variant?}`.
 *
 * Method (see README-snippet.md):
 * 1. load each variant's module (CommonJS `require`, else `import()`; TypeScript
 *    through tsx's hooks) and find the function (export, `Class.staticMethod`,
 *    `namespace.fn`);
 * 2. verification pass: every recorded call once per variant, on fresh arguments;
 *    a call that throws where the recorded one did not → fail "replay diverged";
 *    calls are cut to a prefix when a pass would not fit the time budget;
 * 3. warm-up, interleaved across variants, growing each variant's batch (passes
 *    over the calls per sample) until a sample takes ≥ minSampleNs (longer, up to
 *    maxSampleNs, when the budget allows); then one common batch for all variants;
 * 4. rounds: per round each variant takes one sample, the starting variant
 *    rotating (A B, B A, …), until maxSamples rounds or the deadline. A sample is
 *    hrtime around `batch` passes over the calls, divided by the invocations:
 *    ns per call. Arguments are rebuilt from the recording for every invocation
 *    (before the clock starts), a minor GC runs before each sample (outside it).
 *
 * If `require.main !== module` (a test requiring it) it only exports `revive` and `locate`
 * (from worker-common.cjs).
 */
'use strict';
const fs = require('fs');
const { revive, locate, loadModule, message, send, tell } = require('./worker-common.cjs');

/**
 * @typedef {{
 *   variants: { label: string, file: string, qualifiedName: string }[],
 *   calls: { args: any[], threw: boolean }[],
 *   deadline: number, warmupMs: number, maxSamples: number, minSampleNs: number, maxSampleNs: number, maxInvocationsPerSample: number,
 * }} Job
 * @typedef {{ sink: unknown, diverged: number, error: unknown }} RunState
 * @typedef {(fn: Function, self: unknown, sets: unknown[][], expect: boolean[], n: number, state: RunState, hr: () => bigint) => number | Promise<number>} Runner
 * @typedef {{
 *   label: string, fn: Function, thisArg: unknown, async: boolean, batch: number,
 *   samplesNs: number[], warm: number[], state: RunState, run?: Runner, wallPerPass?: number,
 * }} Variant
 */

// One runner per variant, compiled from its own source so each has its own call-site
// feedback (a shared loop would turn polymorphic and slow every variant down).
/**
 * @param {boolean} async
 * @returns {Runner}
 */
function makeRunner(async) {
  const body = async
    ? 'return async function run(fn, self, sets, expect, n, state, hr) {' +
      '  const t0 = hr();' +
      '  for (let i = 0; i < sets.length; i++) {' +
      '    let r;' +
      '    try { r = Reflect.apply(fn, self, sets[i]); } catch (e) { r = e; if (!expect[i % n] && state.diverged < 0) { state.diverged = i % n; state.error = e; } }' +
      '    if (r !== null && (typeof r === "object" || typeof r === "function") && typeof r.then === "function") { try { r = await r; } catch (e) { r = e; } }' +
      '    state.sink = r;' +
      '  }' +
      '  return Number(hr() - t0);' +
      '};'
    : 'return function run(fn, self, sets, expect, n, state, hr) {' +
      '  const t0 = hr();' +
      '  for (let i = 0; i < sets.length; i++) {' +
      '    try { state.sink = Reflect.apply(fn, self, sets[i]); } catch (e) { state.sink = e; if (!expect[i % n] && state.diverged < 0) { state.diverged = i % n; state.error = e; } }' +
      '  }' +
      '  return Number(hr() - t0);' +
      '};';
  return new Function(body)();
}


function minorGc() {
  if (typeof global.gc !== 'function') return;
  try { global.gc({ type: 'minor' }); } catch (e) { try { global.gc(); } catch (x) {} }
}

/** @param {number[]} xs */
function median(xs) {
  const s = xs.slice().sort((a, b) => a - b);
  const n = s.length;
  return n === 0 ? NaN : n % 2 ? s[(n - 1) / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
}

async function main() {
  /** @type {Job} */
  const job = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
  const deadline = job.deadline;
  const hr = process.hrtime.bigint;
  /** @type {string[]} */
  const notes = [];
  let strayRejections = 0;
  process.on('unhandledRejection', () => { strayRejections++; });

  // 1. load and locate
  /** @type {Variant[]} */
  const variants = [];
  for (const v of job.variants) {
    tell({ phase: 'load', variant: v.label });
    let mod;
    try { mod = await loadModule(v.file); }
    catch (e) { return send({ type: 'fail', variant: v.label, reason: 'cannot load ' + v.file + ': ' + message(e) }); }
    const found = locate(mod, v.qualifiedName);
    if (found.reason) return send({ type: 'fail', variant: v.label, reason: found.reason });
    variants.push({ label: v.label, fn: /** @type {Function} */ (found.fn), thisArg: found.thisArg, async: false, batch: 1, samplesNs: [], warm: [], state: { sink: undefined, diverged: -1, error: undefined } });
  }

  // 2. verification pass (also: which variants are async, and how many calls fit the budget)
  const calls = job.calls;
  let n = calls.length;
  const expect = calls.map((c) => !!c.threw);
  let recordedThrowNowReturns = 0;
  let rejected = 0;
  const verifyShare = Math.max(50, (deadline - Date.now()) * 0.25 / variants.length);
  for (const v of variants) {
    const stop = Date.now() + verifyShare;
    for (let i = 0; i < n; i++) {
      tell({ phase: 'verify', variant: v.label, call: i });
      let args;
      try { args = revive(calls[i].args); }
      catch (e) { return send({ type: 'fail', reason: 'cannot rebuild the arguments of recorded call #' + i + ': ' + message(e) }); }
      let threw = false, error;
      let r;
      try { r = Reflect.apply(v.fn, v.thisArg, args); } catch (e) { threw = true; error = e; }
      if (!threw && r !== null && (typeof r === 'object' || typeof r === 'function') && typeof r.then === 'function') {
        v.async = true;
        try { await r; } catch (e) { rejected++; }
      }
      if (threw && !expect[i]) {
        return send({ type: 'fail', variant: v.label, reason: 'replay diverged: recorded call #' + i + ' threw ' + message(error) + ' on replay but did not throw when it was recorded' });
      }
      if (!threw && expect[i]) recordedThrowNowReturns++;
      if (Date.now() > stop && i + 1 < n) {
        notes.push('only the first ' + (i + 1) + ' of ' + n + ' recorded calls were replayed: a pass over all of them would not fit the time budget');
        n = i + 1;
      }
    }
  }
  if (recordedThrowNowReturns > 0) notes.push(recordedThrowNowReturns + ' call(s) recorded as throwing returned normally on replay');
  if (rejected > 0) notes.push(rejected + ' replayed call(s) returned a promise that rejected (the recorder does not await promises, so this cannot be compared with the recording)');

  // Arguments that hold only primitives cannot be mutated: one array serves every invocation.
  /** @type {(unknown[] | null)[]} */
  const shared = [];
  /** @type {number[]} */
  const argWeight = [];
  for (let i = 0; i < n; i++) {
    const a = revive(calls[i].args);
    shared.push(a.every((/** @type {unknown} */ x) => x === null || (typeof x !== 'object' && typeof x !== 'function')) ? a : null);
    argWeight.push(shared[i] ? 0 : JSON.stringify(calls[i].args).length);
  }
  const weightPerPass = argWeight.reduce((s, w) => s + w, 0);
  // Bound the arguments rebuilt for one sample (memory): invocations, and characters of recorded JSON.
  const maxBatch = Math.max(1, Math.min(Math.floor(job.maxInvocationsPerSample / n), weightPerPass > 0 ? Math.floor(20e6 / weightPerPass) : Infinity));
  /** @param {number} batch */
  function argSets(batch) {
    const sets = new Array(batch * n);
    let k = 0;
    for (let b = 0; b < batch; b++) for (let i = 0; i < n; i++) sets[k++] = shared[i] || revive(calls[i].args);
    return sets;
  }
  for (const v of variants) v.run = makeRunner(v.async);
  // Arguments are built before the clock starts. Built ones that are objects are young:
  // every scavenge during the timed loop would copy them, a cost that grows with the
  // batch (so with how fast the variant is) and would bias a comparison. Two minor GCs
  // promote them to the old generation first. Garbage from the previous sample is
  // collected before (outside the clock) so no variant pays for another's.
  const objectArgs = shared.some((a) => a === null);
  /** @param {Variant} v */
  function sample(v) {
    const w0 = hr();
    minorGc();
    const sets = argSets(v.batch);
    if (objectArgs) { minorGc(); minorGc(); }
    const ns = /** @type {Runner} */ (v.run)(v.fn, v.thisArg, sets, expect, n, v.state, hr);
    // Wall time of the whole sample per pass: rebuilding large arguments and the GCs can
    // cost far more than the timed calls, and the batch must not outgrow the budget for it.
    v.wallPerPass = Number(hr() - w0) / v.batch;
    return ns;
  }
  /** @param {Variant} v */
  function diverged(v) {
    if (v.state.diverged < 0) return undefined;
    return { type: 'fail', variant: v.label, reason: 'replay diverged: recorded call #' + v.state.diverged + ' threw ' + message(v.state.error) + ' on a repeated replay but did not throw when it was recorded (does it depend on state a previous call changed?)' };
  }

  // 3. warm-up and batch calibration, interleaved
  const now0 = Date.now();
  const warmFor = Math.min(job.warmupMs * variants.length, (deadline - now0) * 0.3);
  const warmMax = Math.min(job.warmupMs * variants.length * 3, (deadline - now0) * 0.4);
  // Sample length: at least minSampleNs (timer resolution and per-sample overhead), and
  // longer when the budget allows, up to maxSampleNs: a longer sample averages over the
  // scheduler's preemptions and a busy sibling core instead of catching them whole, so
  // the samples are less skewed and bimodal and their median is steadier.
  const samplingNs = (deadline - now0) * 0.55 * 1e6;
  const targetNs = Math.max(job.minSampleNs, Math.min(job.maxSampleNs, (samplingNs * 0.6) / (job.maxSamples * variants.length)));
  // What one sample may cost in wall time (rebuild and GCs included) for maxSamples rounds to fit.
  const wallPerSampleNs = samplingNs / (job.maxSamples * variants.length);
  const wallCap = (/** @type {Variant} */ v) => Math.max(1, Math.floor(wallPerSampleNs / Math.max(v.wallPerPass || 1, 1)));
  tell({ phase: 'warmup' });
  for (let round = 0; ; round++) {
    const elapsed = Date.now() - now0;
    if (elapsed >= warmMax) break;
    if (elapsed >= warmFor && round >= 2 && variants.every(settled)) break;
    for (const v of variants) {
      const ns = await sample(v);
      const d = diverged(v);
      if (d) return send(d);
      if (ns < targetNs && v.batch < Math.min(maxBatch, wallCap(v))) {
        const grow = Math.min(16, Math.max(2, Math.ceil((targetNs * 1.1) / Math.max(ns, 1))));
        v.batch = Math.max(1, Math.min(maxBatch, wallCap(v), v.batch * grow));
        v.warm = [];
      } else v.warm.push(ns / (v.batch * n));
    }
  }
  // The JIT has settled when the last 3 warm-up samples' median is within 10% of the 3 before.
  /** @param {Variant} v */
  function settled(v) {
    if (v.warm.length < 6) return false;
    const a = median(v.warm.slice(-3));
    const b = median(v.warm.slice(-6, -3));
    return Math.abs(a - b) <= 0.1 * b;
  }
  // Variants get one common batch: the same invocations and the same amount of rebuilt
  // arguments per sample, so a batch size cannot favour one of them. It is the smallest
  // that gives every variant a sample of at least minSampleNs and the slowest one a
  // sample of about targetNs.
  if (variants.length > 1 && variants.every((v) => v.warm.length > 0)) {
    let atLeast = 1, toTarget = maxBatch;
    for (const v of variants) {
      const pass = median(v.warm) * n;
      atLeast = Math.max(atLeast, Math.ceil(job.minSampleNs / pass));
      toTarget = Math.min(toTarget, Math.ceil(targetNs / pass));
    }
    const common = Math.min(maxBatch, ...variants.map(wallCap), Math.max(atLeast, toTarget));
    for (const v of variants) v.batch = common;
  }
  for (const v of variants) {
    if (v.batch >= maxBatch && v.warm.length > 0 && median(v.warm) * v.batch * n < job.minSampleNs) notes.push(v.label + ': a sample takes less than ' + (job.minSampleNs / 1e6) + ' ms even at the largest batch (' + v.batch + ' passes): timer resolution weighs more');
    if (!settled(v)) notes.push(v.label + ': timings were still changing at the end of the warm-up');
  }

  // 4. interleaved rounds
  let rounds = 0;
  let lastRoundMs = 0;
  const margin = 50;
  for (let r = 0; r < job.maxSamples; r++) {
    if (Date.now() + lastRoundMs * 1.2 + margin > deadline) break;
    tell({ phase: 'sample', round: r });
    const t0 = Date.now();
    for (let k = 0; k < variants.length; k++) {
      const v = variants[(r + k) % variants.length];
      const ns = await sample(v);
      const d = diverged(v);
      if (d) return send(d);
      v.samplesNs.push(ns / (v.batch * n));
    }
    rounds++;
    lastRoundMs = Date.now() - t0;
  }
  if (rounds === 0) return send({ type: 'fail', reason: 'no time left for any sample after loading, verifying and warming up: raise crucible.bench.maxSecondsPerArtifact' });
  if (strayRejections > 0) notes.push(strayRejections + ' unhandled promise rejection(s) happened during the benchmark');
  return send({
    type: 'done',
    calls: n,
    rounds,
    notes,
    variants: variants.map((v) => ({ label: v.label, samplesNs: v.samplesNs, batch: v.batch, async: v.async })),
  });
}

if (require.main === module && typeof process.send === 'function') {
  main().then(
    () => process.exit(0),
    async (e) => { await send({ type: 'fail', reason: 'benchmark worker failed: ' + message(e) }); process.exit(0); },
  );
} else {
  module.exports = { revive, locate };
}
