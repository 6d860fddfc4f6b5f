/**
 * The benchmark worker, kept as source text (like the runners' reporters and the
 * recording preload) and written to a temp directory per benchmark: replay.ts
 * forks it with `--max-old-space-size`, `--expose-gc` and, for TypeScript, tsx's
 * loader (`--import`), and gives it a job file (`argv[2]`, JSON):
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
 * If `require.main !== module` (a test requiring it) it only exports `revive` and `locate`.
 */
/**
 * Functions both worker sources need (this one and the verification's differential worker):
 * loading a workspace module (require, else import for ESM) and printing a thrown value.
 * Needs `path` and `url` in scope.
 */
export const workerModuleHelpers = String.raw`async function loadModule(file) {
  const ext = path.extname(file).toLowerCase();
  if (ext !== '.mjs' && ext !== '.mts') {
    try { return require(file); }
    catch (e) { if (!e || (e.code !== 'ERR_REQUIRE_ESM' && e.code !== 'ERR_REQUIRE_ASYNC_MODULE')) throw e; }
  }
  return await import(url.pathToFileURL(file).href);
}

function message(e) {
  if (e && typeof e === 'object' && 'message' in e) return (e.name ? e.name + ': ' : '') + e.message;
  try { return String(e); } catch (x) { return 'a value that cannot be printed'; }
}`;

export const benchWorkerSource = String.raw`'use strict';
const fs = require('fs');
const path = require('path');
const url = require('url');

const TYPED = {
  Int8Array, Uint8Array, Uint8ClampedArray, Int16Array, Uint16Array, Int32Array, Uint32Array,
  Float32Array, Float64Array, BigInt64Array, BigUint64Array,
};

// Rebuilds a value from the recorder's JSON-safe encoding (record/preload.ts). Every call
// returns new objects: this is the deep clone that keeps one invocation's mutations away
// from the next (used instead of structuredClone, which would turn a Buffer into a
// Uint8Array and drop an Error's own properties).
function revive(v) {
  if (v === null || typeof v !== 'object') return v;
  if (Array.isArray(v)) {
    const a = new Array(v.length);
    for (let i = 0; i < v.length; i++) a[i] = revive(v[i]);
    return a;
  }
  const t = v.__type;
  if (typeof t === 'string') {
    switch (t) {
      case 'undefined': return undefined;
      case 'number': return v.value === '-0' ? -0 : Number(v.value);
      case 'bigint': return BigInt(v.value);
      case 'Date': return new Date(v.value === 'Invalid Date' ? NaN : v.value);
      case 'RegExp': { const s = String(v.value); const i = s.lastIndexOf('/'); return new RegExp(s.slice(1, i), s.slice(i + 1)); }
      case 'Map': return new Map(v.entries.map((e) => [revive(e[0]), revive(e[1])]));
      case 'Set': return new Set(v.values.map(revive));
      case 'Error': {
        const e = new Error(String(v.message));
        if (v.name !== 'Error') Object.defineProperty(e, 'name', { value: String(v.name), writable: true, configurable: true, enumerable: false });
        for (const k of Object.keys(v)) if (k !== '__type' && k !== 'name' && k !== 'message') e[k] = revive(v[k]);
        return e;
      }
      case 'Buffer': return Buffer.from(v.values);
      default:
        if (TYPED[t]) return TYPED[t].from(t.startsWith('Big') ? v.values.map((x) => BigInt(x)) : v.values);
        throw new Error('cannot rebuild a recorded ' + t);
    }
  }
  const o = {};
  for (const k of Object.keys(v)) {
    if (k === '__proto__') Object.defineProperty(o, k, { value: revive(v[k]), writable: true, enumerable: true, configurable: true });
    else o[k] = revive(v[k]);
  }
  return o;
}

const FnToString = Function.prototype.toString;
function isClass(fn) {
  try { return /^class[\s{]/.test(FnToString.call(fn)); } catch (e) { return false; }
}
function isObj(v) { return v !== null && (typeof v === 'object' || typeof v === 'function'); }

// The function named by an artifact's qualified name in a module's exports:
// { fn, thisArg } or { reason }.
function locate(mod, qualifiedName) {
  const parts = qualifiedName.split('.');
  const roots = [mod];
  if (isObj(mod) && isObj(mod.default) && mod.default !== mod) roots.push(mod.default);
  let why = 'is not exported by its module (only exported functions, static methods and functions of exported objects can be replayed)';
  for (const root of roots) {
    let value;
    if (isObj(root) && parts[0] in root) value = root[parts[0]];
    else if (typeof root === 'function' && root.name === parts[0]) value = root;
    else continue;
    let holder;
    let found = true;
    for (let i = 1; i < parts.length && found; i++) {
      const p = parts[i];
      if (typeof value === 'function' && p in value && value[p] !== Function.prototype[p]) { holder = value; value = value[p]; }
      else if (typeof value === 'function' && isObj(value.prototype) && p in value.prototype) {
        return { reason: qualifiedName + ' is an instance method: it needs an instance as this, and the recorder does not serialise the receiver of a call, so its calls cannot be replayed (only static methods and functions can)' };
      }
      else if (isObj(value) && typeof value !== 'function' && p in value) { holder = value; value = value[p]; }
      else found = false;
    }
    if (!found) { why = 'is not reachable from its module\'s exports'; continue; }
    if (typeof value !== 'function') return { reason: qualifiedName + ' is exported but is not a function' };
    if (isClass(value)) return { reason: qualifiedName + ' is a class: constructors are not benchmarked (its static methods are)' };
    return { fn: value, thisArg: holder };
  }
  return { reason: qualifiedName + ' ' + why };
}

${workerModuleHelpers}

// One runner per variant, compiled from its own source so each has its own call-site
// feedback (a shared loop would turn polymorphic and slow every variant down).
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

function send(msg) {
  return new Promise((resolve) => {
    try { process.send(msg, () => resolve()); } catch (e) { resolve(); }
  });
}
function tell(p) { try { process.send(Object.assign({ type: 'phase' }, p)); } catch (e) {} }

function minorGc() {
  if (typeof global.gc !== 'function') return;
  try { global.gc({ type: 'minor' }); } catch (e) { try { global.gc(); } catch (x) {} }
}

function median(xs) {
  const s = xs.slice().sort((a, b) => a - b);
  const n = s.length;
  return n === 0 ? NaN : n % 2 ? s[(n - 1) / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
}

async function main() {
  const job = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
  const deadline = job.deadline;
  const hr = process.hrtime.bigint;
  const notes = [];
  let strayRejections = 0;
  process.on('unhandledRejection', () => { strayRejections++; });

  // 1. load and locate
  const variants = [];
  for (const v of job.variants) {
    tell({ phase: 'load', variant: v.label });
    let mod;
    try { mod = await loadModule(v.file); }
    catch (e) { return send({ type: 'fail', variant: v.label, reason: 'cannot load ' + v.file + ': ' + message(e) }); }
    const found = locate(mod, v.qualifiedName);
    if (found.reason) return send({ type: 'fail', variant: v.label, reason: found.reason });
    variants.push({ label: v.label, fn: found.fn, thisArg: found.thisArg, async: false, batch: 1, samplesNs: [], warm: [], state: { sink: undefined, diverged: -1, error: undefined } });
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
  const shared = [];
  const argWeight = [];
  for (let i = 0; i < n; i++) {
    const a = revive(calls[i].args);
    shared.push(a.every((x) => x === null || (typeof x !== 'object' && typeof x !== 'function')) ? a : null);
    argWeight.push(shared[i] ? 0 : JSON.stringify(calls[i].args).length);
  }
  const weightPerPass = argWeight.reduce((s, w) => s + w, 0);
  // Bound the arguments rebuilt for one sample (memory): invocations, and characters of recorded JSON.
  const maxBatch = Math.max(1, Math.min(Math.floor(job.maxInvocationsPerSample / n), weightPerPass > 0 ? Math.floor(20e6 / weightPerPass) : Infinity));
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
  function sample(v) {
    const w0 = hr();
    minorGc();
    const sets = argSets(v.batch);
    if (objectArgs) { minorGc(); minorGc(); }
    const ns = v.run(v.fn, v.thisArg, sets, expect, n, v.state, hr);
    // Wall time of the whole sample per pass: rebuilding large arguments and the GCs can
    // cost far more than the timed calls, and the batch must not outgrow the budget for it.
    v.wallPerPass = Number(hr() - w0) / v.batch;
    return ns;
  }
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
  const wallCap = (v) => Math.max(1, Math.floor(wallPerSampleNs / Math.max(v.wallPerPass || 1, 1)));
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
`;
