/**
 * Which recorded calls can be replayed faithfully.
 *
 * The recorder (../runtime/record-preload.cjs) serialises arguments to JSON-safe values. Most
 * of that encoding is reversible (`__type`: Map, Set, Date, RegExp, Error, typed
 * arrays, Buffer, bigint, undefined, NaN/±Infinity/-0); some of it is not:
 * - `"[Function name]"`: the function itself is gone;
 * - `"[Circular]"`: the cycle's target is gone;
 * - `"[Truncated]"`, `"…(truncated: N more)"`, the `"…"` key: part of the value is gone;
 * - `{"__class": "Name", …}`: a class instance; rebuilt it would be a plain object
 *   without its prototype (its methods, getters, `instanceof`), so not the same call;
 * - `"[Getter]"`, `"[Unserialisable]"`, `"[Promise]"`, `__type: symbol`: no value recorded;
 * - a `DataView` (or a typed array whose values were not all recorded).
 * A call with any of these in its arguments is skipped, counted under its reason.
 *
 * A plain string argument that happens to read `"[Circular]"` or `"[Function x]"` is
 * indistinguishable from the marker and is skipped too (conservative).
 */
import type { CallSample, JsonValue } from '../model';

export type SkipReason =
  | 'function'
  | 'circular'
  | 'truncated'
  | 'class-instance'
  | 'no-value'
  | 'symbol'
  | 'binary'
  | 'unknown-type'
  | 'not-an-argument-list'
  // Python only (pythonUnreplayableReason here, and the Python worker):
  | 'class-or-module'
  | 'unknown-class'
  | 'self';

export const skipReasonText: Record<SkipReason, string> = {
  function: 'a function argument (recorded only by name)',
  circular: 'a circular reference (recorded as "[Circular]")',
  truncated: 'a value cut by the recorder (depth, size or length limit)',
  'class-instance': 'a class instance (would replay as a plain object without its prototype)',
  'no-value': 'a getter, promise or unserialisable value (no value recorded)',
  symbol: 'a symbol (its identity cannot be recreated)',
  binary: 'a DataView or incompletely recorded binary data',
  'unknown-type': 'a value of a type Crucible cannot rebuild',
  'not-an-argument-list': 'arguments that were not recorded as a list',
  'class-or-module': 'a class or module argument (recorded only by name)',
  'unknown-class': 'an instance of a class that cannot be imported (or an Enum member that cannot be found)',
  self: "a recorded self that does not rebuild as an instance of the method's class",
};

/** Typed-array constructors the worker can rebuild (`__type` is the constructor's name). */
export const typedArrayTypes = new Set([
  'Int8Array',
  'Uint8Array',
  'Uint8ClampedArray',
  'Int16Array',
  'Uint16Array',
  'Int32Array',
  'Uint32Array',
  'Float32Array',
  'Float64Array',
  'BigInt64Array',
  'BigUint64Array',
  'Buffer',
]);

const revivableTypes = new Set(['undefined', 'number', 'bigint', 'Date', 'RegExp', 'Map', 'Set', 'Error']);
const truncatedSuffix = /…\(truncated: \d+ more\)$/;

/** Why a recorded call cannot be replayed, or undefined when it can. */
export function unreplayableReason(sample: Pick<CallSample, 'args'>): SkipReason | undefined {
  if (!Array.isArray(sample.args)) return 'not-an-argument-list';
  return reasonIn(sample.args);
}

function reasonIn(v: JsonValue): SkipReason | undefined {
  if (v === null || typeof v === 'boolean' || typeof v === 'number') return undefined;
  if (typeof v === 'string') {
    if (v === '[Circular]') return 'circular';
    if (v === '[Truncated]' || truncatedSuffix.test(v)) return 'truncated';
    if (/^\[Function .*\]$/s.test(v)) return 'function';
    if (v === '[Getter]' || v === '[Unserialisable]' || v === '[Promise]') return 'no-value';
    return undefined;
  }
  if (Array.isArray(v)) {
    for (const x of v) {
      const r = reasonIn(x);
      if (r) return r;
    }
    return undefined;
  }
  if ('__class' in v) return 'class-instance';
  if ('…' in v) return 'truncated';
  const type = v.__type;
  if (typeof type === 'string') {
    if (type === 'symbol') return 'symbol';
    if (type === 'DataView') return 'binary';
    if (typedArrayTypes.has(type)) {
      const values = v.values;
      if (!Array.isArray(values)) return 'binary';
      if (values.some((x) => typeof x === 'string' && truncatedSuffix.test(x))) return 'truncated';
      if (typeof v.length === 'number' && values.length !== v.length) return 'binary';
      return undefined;
    }
    if (!revivableTypes.has(type)) return 'unknown-type';
    if (type === 'Map') return Array.isArray(v.entries) ? reasonIn(v.entries) : 'unknown-type';
    if (type === 'Set') return Array.isArray(v.values) ? reasonIn(v.values) : 'unknown-type';
    if (type === 'Date' && typeof v.value !== 'string') return 'unknown-type';
    if (type === 'Error') {
      for (const [k, x] of Object.entries(v)) {
        if (k === '__type') continue;
        const r = reasonIn(x);
        if (r) return r;
      }
    }
    return undefined;
  }
  for (const x of Object.values(v)) {
    const r = reasonIn(x);
    if (r) return r;
  }
  return undefined;
}

/**
 * The same for a call recorded by the pytest recorder (../runtime/crucible_pytest_recorder.py),
 * whose encoding has Python's own tags (`tuple`, `set`, `dict` entries, `bytes`,
 * `float`, `int`, `datetime`, `Decimal`, `Enum`, `Path`, `kwargs`…) and instances as
 * `{__class, __module, …fields}`, which `decode` rebuilds by importing the class: they
 * are not skipped here (the worker skips those whose class cannot be imported,
 * `unknown-class`, and a method's `self` that is not an instance of its class, `self`).
 * Lossy: `"[Function f]"`, `"[Circular]"`, cut values (`"[Truncated]"`, the
 * `…(truncated: N more)` suffix, the `"…"` key, `bytes` with a `length`),
 * `"[Unserialisable]"` and generator/coroutine markers, `"[Class C]"`/`"[Module m]"`
 * (by name only; the first argument may be a classmethod's `cls`, which the worker
 * replaces by the class, so it is left to the worker there).
 */
export function pythonUnreplayableReason(sample: Pick<CallSample, 'args'>): SkipReason | undefined {
  if (!Array.isArray(sample.args)) return 'not-an-argument-list';
  for (let i = 0; i < sample.args.length; i++) {
    const a = sample.args[i];
    if (i === 0 && typeof a === 'string' && /^\[Class .*\]$/s.test(a)) continue;
    if (i === sample.args.length - 1 && a !== null && typeof a === 'object' && !Array.isArray(a) && a.__type === 'kwargs') {
      const values = a.values;
      if (values === null || typeof values !== 'object' || Array.isArray(values)) return 'unknown-type';
      const r = pyReasonIn(values, true);
      if (r) return r;
      continue;
    }
    const r = pyReasonIn(a);
    if (r) return r;
  }
  return undefined;
}

const pyTypes = new Set(['float', 'int', 'complex', 'bytes', 'bytearray', 'range', 'list', 'tuple', 'set', 'frozenset', 'dict', 'datetime', 'date', 'time', 'timedelta', 'Decimal', 'Fraction', 'UUID', 'Path', 'Enum', 'Error']);

function pyReasonIn(v: JsonValue, plainObject = false): SkipReason | undefined {
  if (v === null || typeof v === 'boolean' || typeof v === 'number') return undefined;
  if (typeof v === 'string') {
    if (v === '[Circular]') return 'circular';
    if (v === '[Truncated]' || truncatedSuffix.test(v)) return 'truncated';
    if (/^\[Function .*\]$/s.test(v)) return 'function';
    if (/^\[(Class|Module) .*\]$/s.test(v)) return 'class-or-module';
    if (v === '[Unserialisable]' || v === '[Generator]' || v === '[Coroutine]' || v === '[AsyncGenerator]') return 'no-value';
    return undefined;
  }
  if (Array.isArray(v)) {
    for (const x of v) {
      const r = pyReasonIn(x);
      if (r) return r;
    }
    return undefined;
  }
  if ('…' in v) return 'truncated';
  const type = plainObject ? undefined : v.__type;
  if (typeof type === 'string') {
    if (!pyTypes.has(type)) return 'unknown-type';
    if ((type === 'bytes' || type === 'bytearray') && v.length !== undefined) return 'truncated';
    if (type === 'dict') {
      if (!Array.isArray(v.entries)) return 'unknown-type';
      for (const e of v.entries) {
        if (!Array.isArray(e)) return typeof e === 'string' && truncatedSuffix.test(e) ? 'truncated' : 'unknown-type';
        const r = pyReasonIn(e);
        if (r) return r;
      }
      return undefined;
    }
    if (type === 'list' || type === 'tuple' || type === 'set' || type === 'frozenset') return Array.isArray(v.values) ? pyReasonIn(v.values) : 'unknown-type';
    return undefined;
  }
  // A dict with string keys, or an instance ({__class, __module, …fields}).
  for (const [k, x] of Object.entries(v)) {
    if (!plainObject && (k === '__class' || k === '__module')) continue;
    const r = pyReasonIn(x);
    if (r) return r;
  }
  return undefined;
}

export interface SkipSummary {
  /** Calls not replayed. */
  count: number;
  /** Per reason (see `skipReasonText`). */
  reasons: Partial<Record<SkipReason, number>>;
}

/** Splits recorded calls into the replayable ones and a count of the others by reason (`reasonOf`: `pythonUnreplayableReason` for Python). */
export function partitionSamples(samples: readonly CallSample[], reasonOf: (s: CallSample) => SkipReason | undefined = unreplayableReason): { replayable: CallSample[]; skipped: SkipSummary } {
  const replayable: CallSample[] = [];
  const skipped: SkipSummary = { count: 0, reasons: {} };
  for (const s of samples) {
    const reason = reasonOf(s);
    if (reason) {
      skipped.count++;
      skipped.reasons[reason] = (skipped.reasons[reason] ?? 0) + 1;
    } else replayable.push(s);
  }
  return { replayable, skipped };
}

/** "3 calls skipped: 2 with a function argument (…), 1 with …". */
export function describeSkipped(skipped: SkipSummary): string {
  const parts = Object.entries(skipped.reasons).map(([r, n]) => `${n} with ${skipReasonText[r as SkipReason]}`);
  return `${skipped.count} recorded call${skipped.count === 1 ? '' : 's'} skipped: ${parts.join('; ')}`;
}
