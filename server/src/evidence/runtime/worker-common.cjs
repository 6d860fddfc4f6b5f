// @ts-check
/**
 * What both workers need (the benchmark worker, bench-worker.cjs, and the verification's
 * differential worker, differential-worker.cjs): load a workspace module, find the
 * function an artifact names in it, rebuild recorded arguments, print a thrown value,
 * and report to the parent over IPC.
 */
'use strict';
const path = require('path');
const url = require('url');

/** @typedef {{ fn?: Function, thisArg?: unknown, reason?: string }} Located  the function, or why it cannot be replayed */

/** @type {Record<string, { from(values: ArrayLike<any>): ArrayBufferView }>} */
const TYPED = {
  Int8Array, Uint8Array, Uint8ClampedArray, Int16Array, Uint16Array, Int32Array, Uint32Array,
  Float32Array, Float64Array, BigInt64Array, BigUint64Array,
};

// Rebuilds a value from the recorder's JSON-safe encoding (record-preload.cjs). Every call
// returns new objects: this is the deep clone that keeps one invocation's mutations away
// from the next (used instead of structuredClone, which would turn a Buffer into a
// Uint8Array and drop an Error's own properties).
/**
 * @param {any} v a recorded value (JSON)
 * @returns {any}
 */
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
      case 'Map': return new Map(v.entries.map((/** @type {[unknown, unknown]} */ e) => [revive(e[0]), revive(e[1])]));
      case 'Set': return new Set(v.values.map(revive));
      case 'Error': {
        const e = /** @type {Error & Record<string, unknown>} */ (new Error(String(v.message)));
        if (v.name !== 'Error') Object.defineProperty(e, 'name', { value: String(v.name), writable: true, configurable: true, enumerable: false });
        for (const k of Object.keys(v)) if (k !== '__type' && k !== 'name' && k !== 'message') e[k] = revive(v[k]);
        return e;
      }
      case 'Buffer': return Buffer.from(v.values);
      default:
        if (TYPED[t]) return TYPED[t].from(t.startsWith('Big') ? v.values.map((/** @type {string} */ x) => BigInt(x)) : v.values);
        throw new Error('cannot rebuild a recorded ' + t);
    }
  }
  /** @type {Record<string, unknown>} */
  const o = {};
  for (const k of Object.keys(v)) {
    if (k === '__proto__') Object.defineProperty(o, k, { value: revive(v[k]), writable: true, enumerable: true, configurable: true });
    else o[k] = revive(v[k]);
  }
  return o;
}

const FnToString = Function.prototype.toString;
/** @param {Function} fn */
function isClass(fn) {
  try { return /^class[\s{]/.test(FnToString.call(fn)); } catch (e) { return false; }
}
/**
 * @param {unknown} v
 * @returns {v is Record<PropertyKey, any>}
 */
function isObj(v) { return v !== null && (typeof v === 'object' || typeof v === 'function'); }

// The function named by an artifact's qualified name in a module's exports:
// { fn, thisArg } or { reason }.
/**
 * @param {any} mod the module's exports (or namespace)
 * @param {string} qualifiedName
 * @returns {Located}
 */
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
      if (typeof value === 'function' && p in value && value[p] !== /** @type {Record<string, unknown>} */ (/** @type {unknown} */ (Function.prototype))[p]) { holder = value; value = value[p]; }
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

/**
 * A workspace module: CommonJS `require`, else `import()` (ESM).
 * @param {string} file absolute path
 * @returns {Promise<any>}
 */
async function loadModule(file) {
  const ext = path.extname(file).toLowerCase();
  if (ext !== '.mjs' && ext !== '.mts') {
    try { return require(file); }
    catch (/** @type {any} */ e) { if (!e || (e.code !== 'ERR_REQUIRE_ESM' && e.code !== 'ERR_REQUIRE_ASYNC_MODULE')) throw e; }
  }
  return await import(url.pathToFileURL(file).href);
}

/**
 * A thrown value as one line: `Name: message`.
 * @param {any} e
 * @returns {string}
 */
function message(e) {
  if (e && typeof e === 'object' && 'message' in e) return (e.name ? e.name + ': ' : '') + e.message;
  try { return String(e); } catch (x) { return 'a value that cannot be printed'; }
}

// Resolves once the message is on its way, so a last message is not lost to process.exit.
/**
 * @param {object} msg
 * @returns {Promise<void>}
 */
function send(msg) {
  return new Promise((resolve) => {
    try { /** @type {NonNullable<typeof process.send>} */ (process.send)(msg, () => resolve()); } catch (e) { resolve(); }
  });
}
// Where the worker is, so a kill at the time limit or a crash can say where it was.
/** @param {object} p the phase: `{ phase, variant?, … }` */
function tell(p) { try { /** @type {NonNullable<typeof process.send>} */ (process.send)(Object.assign({ type: 'phase' }, p)); } catch (e) {} }

module.exports = { revive, locate, loadModule, message, send, tell };
