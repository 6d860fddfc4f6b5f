// @ts-check
/**
 * The differential worker: `differential.ts` forks it (through supervise.ts) in its own
 * process group with `--max-old-space-size`, tsx's loader for TypeScript, cwd = the
 * scratch copy of the workspace, and a job file (`argv[2]`, JSON):
 *
 *   { original: { file, qualifiedName }, candidate: { file, qualifiedName },
 *     inputs: [{ args (recorder encoding) }], recorded (how many inputs are recorded calls),
 *     softDeadline (epoch ms: generated inputs past it are dropped), maxDrain }
 *
 * Method:
 * 1. load both modules and find the function in each (the original module, then the
 *    candidate's copy of it, next to it so relative imports resolve alike);
 * 2. snapshot `globalThis`'s own properties and the files under cwd;
 * 3. the original twice over every input (arguments rebuilt fresh per call): results,
 *    arguments after the call and thrown errors must agree between the two passes,
 *    else `{type:'nondeterministic', input, detail}`;
 * 4. the candidate once over every input, compared with the original's first pass:
 *    the first difference → `{type:'differs', input, detail}`;
 * 5. what the candidate did to `globalThis` and to files under cwd beyond what the
 *    original did → `{type:'sideEffect', detail}`; else `{type:'done', compared, notes}`.
 * Promises are awaited, generators (sync and async) drained (up to maxDrain items).
 * `{type:'phase', variant, pass, input}` goes out before each call, so a kill at the
 * time limit or an out-of-memory crash can say on which input and in which variant.
 */
'use strict';
const fs = require('fs');
const path = require('path');
const util = require('util');
const { revive, locate, loadModule, message, send, tell } = require('./worker-common.cjs');

/**
 * @typedef {'original' | 'candidate'} Which
 * @typedef {{ file: string, qualifiedName: string }} Target
 * @typedef {{
 *   original: Target, candidate: Target, inputs: { args: any[] }[], recorded: number,
 *   softDeadline: number, maxDrain: number,
 * }} Job
 * @typedef {import('./worker-common.cjs').Located} Located
 * @typedef {{
 *   kind: 'return' | 'throw' | 'generator', value: any, error: any, async: boolean,
 *   items: any[] | undefined, args: any[], truncated?: boolean, threwWhileDraining?: boolean,
 * }} Outcome  what one call did: returned (a promise of) a value, threw, or yielded items
 * @typedef {Map<PropertyKey, { data: boolean, value?: unknown }>} GlobalsSnapshot
 * @typedef {Map<string, string> | null} FilesSnapshot  size and mtime per file; null: too many files
 */

/** @param {unknown} v */
function show(v) {
  let s;
  try { s = util.inspect(v, { depth: 3, breakLength: Infinity, maxArrayLength: 12, maxStringLength: 80 }); } catch (e) { s = '<unprintable>'; }
  return s.length > 200 ? s.slice(0, 200) + '…' : s;
}

/** @param {object} o */
function className(o) {
  const proto = Object.getPrototypeOf(o);
  if (proto === null) return 'null-prototype object';
  const d = Object.getOwnPropertyDescriptor(proto, 'constructor');
  return (d && typeof d.value === 'function' && d.value.name) || 'anonymous class';
}
const tag = (/** @type {unknown} */ o) => Object.prototype.toString.call(o);
/** @param {unknown} k */
function isPrimitiveKey(k) { return k === null || (typeof k !== 'object' && typeof k !== 'function'); }

// The first difference between a (the original's) and b (the candidate's), as text, or null.
// Distinguishes NaN from other numbers (equal to itself), -0 from 0, a missing property from
// one that is undefined, an array hole from undefined, the class of instances (by name: the
// two modules are separate copies), Map and Set contents (not their order), Dates by time.
/**
 * @param {any} a
 * @param {any} b
 * @param {string} at where in the value, as text
 * @param {Map<unknown, unknown>} [seen] pairs already compared (cycles)
 * @returns {string | null}
 */
function diff(a, b, at, seen) {
  if (Object.is(a, b)) return null;
  const ta = typeof a, tb = typeof b;
  if (ta !== tb || a === null || b === null || (ta !== 'object' && ta !== 'function')) {
    if (ta === 'symbol' && tb === 'symbol' && String(a) === String(b)) return null;
    return at + ': ' + show(a) + ' vs ' + show(b);
  }
  if (ta === 'function') return a.name === b.name && a.length === b.length ? null : at + ': function ' + (a.name || '(anonymous)') + ' vs function ' + (b.name || '(anonymous)');
  seen = seen || new Map();
  if (seen.get(a) === b) return null;
  seen.set(a, b);
  const ca = className(a), cb = className(b);
  if (ca !== cb || tag(a) !== tag(b)) return at + ': a ' + ca + ' vs a ' + cb;
  if (Array.isArray(a)) {
    if (a.length !== b.length) return at + ': length ' + a.length + ' vs ' + b.length + ' (' + show(a) + ' vs ' + show(b) + ')';
    for (let i = 0; i < a.length; i++) {
      const ia = i in a, ib = i in b;
      if (ia !== ib) return at + '[' + i + ']: ' + (ia ? show(a[i]) : 'a hole') + ' vs ' + (ib ? show(b[i]) : 'a hole');
      const d = diff(a[i], b[i], at + '[' + i + ']', seen);
      if (d) return d;
    }
    return extraKeys(a, b, at, seen, true);
  }
  if (a instanceof Date || tag(a) === '[object Date]') {
    return Object.is(a.getTime(), b.getTime()) ? null : at + ': ' + show(a) + ' vs ' + show(b);
  }
  if (tag(a) === '[object RegExp]') return String(a) === String(b) ? null : at + ': ' + String(a) + ' vs ' + String(b);
  if (a instanceof Error || tag(a) === '[object Error]') {
    if (a.name !== b.name || a.message !== b.message) return at + ': ' + message(a) + ' vs ' + message(b);
    return extraKeys(a, b, at, seen, false);
  }
  if (ArrayBuffer.isView(a) || tag(a) === '[object ArrayBuffer]') {
    /** @type {any} */
    const xa = ArrayBuffer.isView(a) ? a : new Uint8Array(a);
    /** @type {any} */
    const xb = ArrayBuffer.isView(b) ? b : new Uint8Array(b);
    const la = xa.length !== undefined ? xa.length : xa.byteLength, lb = xb.length !== undefined ? xb.length : xb.byteLength;
    if (la !== lb) return at + ': length ' + la + ' vs ' + lb;
    if (xa.length !== undefined) for (let i = 0; i < la; i++) if (!Object.is(xa[i], xb[i])) return at + '[' + i + ']: ' + show(xa[i]) + ' vs ' + show(xb[i]);
    return null;
  }
  if (tag(a) === '[object Map]') {
    if (a.size !== b.size) return at + ': a Map of ' + a.size + ' entries vs ' + b.size + ' (' + show(a) + ' vs ' + show(b) + ')';
    const objA = [], objB = [];
    for (const [k, v] of a) {
      if (isPrimitiveKey(k)) {
        if (!b.has(k)) return at + ': key ' + show(k) + ' is missing from the candidate\'s Map';
        const d = diff(v, b.get(k), at + '.get(' + show(k) + ')', seen);
        if (d) return d;
      } else objA.push([k, v]);
    }
    for (const [k, v] of b) if (!isPrimitiveKey(k)) objB.push([k, v]);
    return diff(objA, objB, at + ' (object keys)', seen);
  }
  if (tag(a) === '[object Set]') {
    if (a.size !== b.size) return at + ': a Set of ' + a.size + ' values vs ' + b.size + ' (' + show(a) + ' vs ' + show(b) + ')';
    const objA = [], objB = [];
    for (const v of a) {
      if (isPrimitiveKey(v)) { if (!b.has(v)) return at + ': ' + show(v) + ' is missing from the candidate\'s Set'; }
      else objA.push(v);
    }
    for (const v of b) if (!isPrimitiveKey(v)) objB.push(v);
    return diff(objA, objB, at + ' (object values)', seen);
  }
  if (tag(a) === '[object Promise]') return null; // nested promises are not awaited: nothing to compare
  if (tag(a) === '[object WeakMap]' || tag(a) === '[object WeakSet]') return null;
  if (tag(a) === '[object Number]' || tag(a) === '[object String]' || tag(a) === '[object Boolean]') {
    if (!Object.is(a.valueOf(), b.valueOf())) return at + ': ' + show(a) + ' vs ' + show(b);
  }
  return extraKeys(a, b, at, seen, false);
}

// Own enumerable string keys (array indices excluded for arrays): same set, same values.
/**
 * @param {any} a
 * @param {any} b
 * @param {string} at
 * @param {Map<unknown, unknown>} seen
 * @param {boolean} isArray
 * @returns {string | null}
 */
function extraKeys(a, b, at, seen, isArray) {
  const keys = (/** @type {object} */ o) => Object.keys(o).filter((k) => !(isArray && /^(0|[1-9][0-9]*)$/.test(k)));
  const ka = keys(a), kb = keys(b);
  const sb = new Set(kb);
  for (const k of ka) if (!sb.has(k)) return at + '.' + k + ': ' + show(a[k]) + ' vs missing';
  const sa = new Set(ka);
  for (const k of kb) if (!sa.has(k)) return at + '.' + k + ': missing vs ' + show(b[k]);
  for (const k of ka) {
    const da = Object.getOwnPropertyDescriptor(a, k), db = Object.getOwnPropertyDescriptor(b, k);
    if (!da || !db) continue;
    if (('value' in da) !== ('value' in db)) return at + '.' + k + ': ' + ('value' in da ? 'a value' : 'a getter') + ' vs ' + ('value' in db ? 'a value' : 'a getter');
    if (!('value' in da)) continue; // getters are not invoked
    const d = diff(da.value, db.value, at + '.' + k, seen);
    if (d) return d;
  }
  return null;
}

/** @param {any} r */
function isThenable(r) { return r !== null && (typeof r === 'object' || typeof r === 'function') && typeof r.then === 'function'; }

/**
 * Calls the function once; awaits a promise, drains a generator (up to maxDrain items).
 * @param {Located} v
 * @param {any[]} args
 * @param {number} maxDrain
 * @returns {Promise<Outcome>}
 */
async function invoke(v, args, maxDrain) {
  /** @type {Outcome} */
  const out = { kind: 'return', value: undefined, error: undefined, async: false, items: undefined, args };
  let r;
  try { r = Reflect.apply(/** @type {Function} */ (v.fn), v.thisArg, args); }
  catch (e) { out.kind = 'throw'; out.error = e; return out; }
  const t = r !== null && typeof r === 'object' ? tag(r) : '';
  if (t === '[object Generator]' || t === '[object AsyncGenerator]') {
    out.kind = 'generator';
    out.items = [];
    const isAsync = t === '[object AsyncGenerator]';
    try {
      for (;;) {
        let step = r.next();
        if (isAsync) step = await step;
        if (step.done) { out.value = step.value; break; }
        out.items.push(step.value);
        if (out.items.length >= maxDrain) { out.truncated = true; try { const c = r.return(undefined); if (isAsync) await c; } catch (e) {} break; }
      }
    } catch (e) { out.error = e; out.threwWhileDraining = true; }
    return out;
  }
  if (isThenable(r)) {
    out.async = true;
    try { out.value = await r; } catch (e) { out.kind = 'throw'; out.error = e; }
    return out;
  }
  out.value = r;
  return out;
}

/** @param {any} e */
function thrownText(e) {
  if (e instanceof Error || (e && typeof e === 'object' && typeof e.message === 'string')) {
    const ctor = e && e.constructor && e.constructor.name;
    return (ctor || 'Error') + ' ' + JSON.stringify(String(e.message));
  }
  return show(e);
}

/**
 * @param {any} a
 * @param {any} b
 */
function errorDiff(a, b) {
  const ea = a instanceof Error || (a && typeof a === 'object' && typeof a.message === 'string');
  const eb = b instanceof Error || (b && typeof b === 'object' && typeof b.message === 'string');
  if (ea && eb) {
    const na = (a.constructor && a.constructor.name) || 'Error', nb = (b.constructor && b.constructor.name) || 'Error';
    if (na !== nb || String(a.message) !== String(b.message) || a.name !== b.name) return thrownText(a) + ' vs ' + thrownText(b);
    return null;
  }
  return diff(a, b, 'the thrown value');
}

/** @param {Outcome} o */
function describe(o) {
  if (o.kind === 'throw') return 'threw ' + thrownText(o.error);
  if (o.kind === 'generator') return 'yielded ' + show(o.items) + (o.error !== undefined ? ' then threw ' + thrownText(o.error) : '');
  return 'returned ' + (o.async ? 'a promise of ' : '') + show(o.value);
}

// The first difference between two outcomes of the same input, as a sentence, or null.
/**
 * @param {Outcome} a the original's first run
 * @param {Outcome} b the original's second run, or the candidate's
 * @param {Which} who whose b is
 */
function compareOutcomes(a, b, who) {
  const other = who === 'candidate' ? 'the candidate' : 'the second run';
  if (a.kind !== b.kind) return 'the original ' + describe(a) + ', ' + other + ' ' + describe(b);
  if (a.kind === 'throw') {
    if (a.async !== b.async) return 'the original ' + (a.async ? 'returned a rejected promise' : 'threw synchronously') + ', ' + other + ' ' + (b.async ? 'returned a rejected promise' : 'threw synchronously') + ' (' + thrownText(b.error) + ')';
    const d = errorDiff(a.error, b.error);
    if (d) return 'both threw, but different errors: ' + d;
  } else if (a.kind === 'generator') {
    let d = diff(a.items, b.items, 'the yielded values');
    if (!d && (a.error !== undefined || b.error !== undefined)) d = (a.error === undefined || b.error === undefined) ? 'the original ' + describe(a) + ', ' + other + ' ' + describe(b) : errorDiff(a.error, b.error);
    if (!d) d = diff(a.value, b.value, 'the generator\'s return value');
    if (d) return d;
  } else {
    if (a.async !== b.async) return 'the original ' + describe(a) + ', ' + other + ' ' + describe(b);
    const d = diff(a.value, b.value, 'the result');
    if (d) return d;
  }
  for (let i = 0; i < Math.max(a.args.length, b.args.length); i++) {
    const d = diff(a.args[i], b.args[i], 'argument ' + i + ' after the call');
    if (d) return d + (who === 'candidate' ? ' (the candidate changes its arguments differently)' : '');
  }
  return null;
}

function globalsSnapshot() {
  const m = new Map();
  for (const k of Reflect.ownKeys(globalThis)) {
    const d = Object.getOwnPropertyDescriptor(globalThis, k);
    m.set(k, d && 'value' in d ? { data: true, value: d.value } : { data: false });
  }
  return m;
}
/**
 * @param {GlobalsSnapshot} before
 * @param {GlobalsSnapshot} after
 */
function globalChanges(before, after) {
  /** @type {string[]} */
  const out = [];
  for (const [k, v] of after) {
    const p = before.get(k);
    if (!p) out.push('adds globalThis.' + String(k));
    else if (p.data && v.data && !Object.is(p.value, v.value)) out.push('replaces globalThis.' + String(k));
  }
  for (const k of before.keys()) if (!after.has(k)) out.push('deletes globalThis.' + String(k));
  return out;
}

const skippedDirs = new Set(['node_modules', '.git', '.crucible']);
/**
 * @param {string} root
 * @param {number} limit
 * @returns {FilesSnapshot}
 */
function filesSnapshot(root, limit) {
  /** @type {Map<string, string>} */
  const files = new Map();
  const stack = [''];
  while (stack.length > 0) {
    const rel = /** @type {string} */ (stack.pop());
    let entries;
    try { entries = fs.readdirSync(path.join(root, rel), { withFileTypes: true }); } catch (e) { continue; }
    for (const e of entries) {
      const child = rel ? rel + '/' + e.name : e.name;
      if (e.isDirectory()) { if (!skippedDirs.has(e.name)) stack.push(child); continue; }
      if (files.size >= limit) return null;
      try { const st = fs.lstatSync(path.join(root, child)); files.set(child, st.size + ':' + st.mtimeMs); } catch (e) {}
    }
  }
  return files;
}
/**
 * @param {FilesSnapshot} before
 * @param {FilesSnapshot} after
 */
function fileChanges(before, after) {
  if (!before || !after) return [];
  /** @type {string[]} */
  const out = [];
  for (const [k, v] of after) {
    if (!before.has(k)) out.push('creates ' + k);
    else if (before.get(k) !== v) out.push('modifies ' + k);
  }
  for (const k of before.keys()) if (!after.has(k)) out.push('deletes ' + k);
  return out;
}

async function main() {
  /** @type {Job} */
  const job = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
  /** @type {string[]} */
  const notes = [];
  /** @type {Which} */
  let current = 'original';
  const strays = { original: 0, candidate: 0 };
  let strayText = '';
  process.on('unhandledRejection', (e) => { strays[current]++; strayText = strayText || message(e); });
  process.on('uncaughtException', (e) => { strays[current]++; strayText = strayText || message(e); });

  /** @type {Record<Which, Located>} */
  const variants = /** @type {any} */ ({});
  for (const which of /** @type {Which[]} */ (['original', 'candidate'])) {
    tell({ phase: 'load', variant: which });
    current = which;
    let mod;
    try { mod = await loadModule(job[which].file); }
    catch (e) { return send({ type: 'fail', variant: which, reason: 'cannot load the ' + which + '\'s module: ' + message(e) }); }
    const found = locate(mod, job[which].qualifiedName);
    if (found.reason) return send({ type: 'fail', variant: which, reason: found.reason });
    variants[which] = found;
  }

  const root = process.cwd();
  const g0 = globalsSnapshot();
  const f0 = filesSnapshot(root, 20000);
  if (!f0) notes.push('more than 20000 files in the scratch copy: file writes were not checked');

  // The original, twice. Generated inputs past the soft deadline are dropped (first pass only).
  let n = job.inputs.length;
  /** @type {Outcome[]} */
  const first = [];
  current = 'original';
  for (let pass = 0; pass < 2; pass++) {
    for (let i = 0; i < n; i++) {
      if (pass === 0 && i >= job.recorded && Date.now() > job.softDeadline) {
        notes.push('only ' + (i - job.recorded) + ' of ' + (n - job.recorded) + ' generated inputs were compared: the rest would not fit the time limit');
        n = i;
        break;
      }
      tell({ phase: 'call', variant: 'original', pass, input: i });
      let args;
      try { args = revive(job.inputs[i].args); }
      catch (e) { return send({ type: 'fail', reason: 'cannot rebuild the arguments of input #' + i + ': ' + message(e) }); }
      const out = await invoke(variants.original, args, job.maxDrain);
      if (pass === 0) first.push(out);
      else {
        const d = compareOutcomes(first[i], out, 'original');
        if (d) return send({ type: 'nondeterministic', input: i, detail: d });
      }
    }
  }
  const g1 = globalsSnapshot();
  const f1 = filesSnapshot(root, 20000);
  const originalGlobals = globalChanges(g0, g1);
  const originalFiles = fileChanges(f0, f1);
  if (originalGlobals.length > 0) notes.push('the original itself ' + originalGlobals.slice(0, 3).join(', '));
  if (originalFiles.length > 0) notes.push('the original itself ' + originalFiles.slice(0, 3).join(', ') + ' (in the scratch copy)');

  current = 'candidate';
  for (let i = 0; i < n; i++) {
    tell({ phase: 'call', variant: 'candidate', pass: 0, input: i });
    const args = revive(job.inputs[i].args);
    const out = await invoke(variants.candidate, args, job.maxDrain);
    const d = compareOutcomes(first[i], out, 'candidate');
    if (d) return send({ type: 'differs', input: i, detail: d });
  }
  // Give stray timers and promise callbacks a moment to show up.
  await new Promise((r) => setTimeout(r, 20));
  const g2 = globalsSnapshot();
  const f2 = filesSnapshot(root, 20000);
  const extraGlobals = globalChanges(g1, g2).filter((c) => !originalGlobals.includes(c));
  if (extraGlobals.length > 0) return send({ type: 'sideEffect', what: 'globals', detail: 'the candidate ' + extraGlobals.slice(0, 5).join(', ') + ' (the original does not)' });
  const extraFiles = fileChanges(f1, f2).filter((c) => !originalFiles.includes(c));
  if (extraFiles.length > 0) return send({ type: 'sideEffect', what: 'files', detail: 'the candidate writes files: it ' + extraFiles.slice(0, 5).join(', ') + ' (the original does not)' });
  if (strays.candidate > strays.original) return send({ type: 'sideEffect', what: 'stray', detail: 'the candidate caused ' + strays.candidate + ' uncaught error(s) or unhandled rejection(s) outside its calls (the original ' + strays.original + '): ' + strayText });
  if (first.some((o) => o.truncated)) notes.push('a generator yielded more than ' + job.maxDrain + ' values: the first ' + job.maxDrain + ' were compared');
  const threw = [];
  for (let i = 0; i < n; i++) if (first[i].kind === 'throw') threw.push(i);
  return send({ type: 'done', compared: n, notes, threw });
}

// Keeps the process alive while a call awaits a promise that never settles (the parent's time limit ends it).
const keepAlive = setInterval(() => {}, 1 << 30);
main().then(
  () => { clearInterval(keepAlive); process.exit(0); },
  async (e) => { await send({ type: 'fail', reason: 'differential worker failed: ' + message(e) }); process.exit(0); },
);
