/**
 * Property-based inputs, shared by verification (the differential step) and, next,
 * scenario generation: generated with fast-check from the
 * shapes of the recorded arguments (or, with no recorded call, from the parameters'
 * TypeScript annotations, defaults and names). Generated values are handed to the
 * worker in the recorder's JSON-safe encoding (`__type` tags), like recorded calls.
 *
 * Shapes, per argument position, merged over every replayable recorded call:
 * integers (range widened around the recorded one), floats (with NaN, ±0 and ±Infinity:
 * a recorded non-integer number means the type is `number`, which allows them), strings,
 * booleans, null/undefined, bigint, Date, arrays, Sets and Maps of those, plain objects
 * with the recorded keys (keys missing from some calls are optional). Leaves mix the
 * recorded values themselves with random ones, so values collide across arguments
 * (`includes(xs, x)` gets an `x` that is in `xs`). A position whose recorded values are
 * not of these kinds (class instances, functions…) turns generation off, with a reason.
 * The seed is fixed: the same target gives the same inputs, so a verdict is reproducible.
 */
import fc from 'fast-check';
import type { CallSample, JsonValue } from './model';
import { unreplayableReason } from './bench/replayable';

/** A function parameter as its source declares it: what generation falls back on without recorded calls. */
export interface ParamInfo {
  name: string;
  /** TypeScript annotation text, without the colon. */
  type?: string;
  /** Default value text. */
  defaultText?: string;
  rest: boolean;
  optional: boolean;
}

type Shape =
  | { k: 'null' }
  | { k: 'undefined' }
  | { k: 'bool' }
  | { k: 'int'; min: number; max: number; values: number[] }
  | { k: 'float'; values: number[] }
  | { k: 'string'; maxLen: number; values: string[] }
  | { k: 'bigint' }
  | { k: 'date' }
  | { k: 'array'; of: Union; maxLen: number }
  | { k: 'set'; of: Union; maxLen: number }
  | { k: 'map'; key: Union; value: Union; maxLen: number }
  | { k: 'object'; keys: Map<string, { shape: Union; seen: number }>; seen: number };

/** Shapes by kind (one per kind, merged). */
type Union = Map<Shape['k'], Shape>;

class Unsupported extends Error {}

const maxConstants = 20;

function addConstant<T>(list: T[], v: T): void {
  if (list.length < maxConstants && !list.some((x) => Object.is(x, v))) list.push(v);
}

function shapeOf(v: JsonValue): Shape {
  if (v === null) return { k: 'null' };
  if (typeof v === 'boolean') return { k: 'bool' };
  if (typeof v === 'number') return Number.isInteger(v) ? { k: 'int', min: v, max: v, values: [v] } : { k: 'float', values: [v] };
  if (typeof v === 'string') return { k: 'string', maxLen: v.length, values: [v] };
  if (Array.isArray(v)) {
    const of: Union = new Map();
    for (const x of v) addTo(of, shapeOf(x));
    return { k: 'array', of, maxLen: v.length };
  }
  if ('__class' in v) throw new Unsupported('a class instance');
  const t = v.__type;
  if (typeof t === 'string') {
    switch (t) {
      case 'undefined':
        return { k: 'undefined' };
      case 'number': {
        const n = v.value === '-0' ? -0 : Number(v.value);
        return { k: 'float', values: [n] };
      }
      case 'bigint':
        return { k: 'bigint' };
      case 'Date':
        return { k: 'date' };
      case 'Set': {
        const of: Union = new Map();
        const values = Array.isArray(v.values) ? v.values : [];
        for (const x of values) addTo(of, shapeOf(x));
        return { k: 'set', of, maxLen: values.length };
      }
      case 'Map': {
        const key: Union = new Map();
        const value: Union = new Map();
        const entries = Array.isArray(v.entries) ? v.entries : [];
        for (const e of entries) {
          if (!Array.isArray(e) || e.length !== 2) throw new Unsupported('a Map entry that was cut');
          addTo(key, shapeOf(e[0]));
          addTo(value, shapeOf(e[1]));
        }
        return { k: 'map', key, value, maxLen: entries.length };
      }
      default:
        throw new Unsupported(`a ${t}`);
    }
  }
  const keys = new Map<string, { shape: Union; seen: number }>();
  for (const [k, x] of Object.entries(v)) {
    const shape: Union = new Map();
    addTo(shape, shapeOf(x));
    keys.set(k, { shape, seen: 1 });
  }
  return { k: 'object', keys, seen: 1 };
}

function addTo(u: Union, s: Shape): void {
  // An integer next to a float is a float.
  if (s.k === 'int' && u.has('float')) {
    const f = u.get('float') as Extract<Shape, { k: 'float' }>;
    for (const x of s.values) addConstant(f.values, x);
    return;
  }
  if (s.k === 'float' && u.has('int')) {
    const i = u.get('int') as Extract<Shape, { k: 'int' }>;
    u.delete('int');
    for (const x of i.values) addConstant(s.values, x);
  }
  const prev = u.get(s.k);
  if (!prev) {
    u.set(s.k, s);
    return;
  }
  merge(prev, s);
}

function mergeUnion(into: Union, from: Union): void {
  for (const s of from.values()) addTo(into, s);
}

function merge(a: Shape, b: Shape): void {
  switch (a.k) {
    case 'int': {
      const bb = b as typeof a;
      a.min = Math.min(a.min, bb.min);
      a.max = Math.max(a.max, bb.max);
      for (const x of bb.values) addConstant(a.values, x);
      return;
    }
    case 'float':
      for (const x of (b as typeof a).values) addConstant(a.values, x);
      return;
    case 'string': {
      const bb = b as typeof a;
      a.maxLen = Math.max(a.maxLen, bb.maxLen);
      for (const x of bb.values) addConstant(a.values, x);
      return;
    }
    case 'array':
    case 'set': {
      const bb = b as typeof a;
      mergeUnion(a.of, bb.of);
      a.maxLen = Math.max(a.maxLen, bb.maxLen);
      return;
    }
    case 'map': {
      const bb = b as typeof a;
      mergeUnion(a.key, bb.key);
      mergeUnion(a.value, bb.value);
      a.maxLen = Math.max(a.maxLen, bb.maxLen);
      return;
    }
    case 'object': {
      const bb = b as typeof a;
      a.seen += bb.seen;
      for (const [k, v] of bb.keys) {
        const prev = a.keys.get(k);
        if (prev) {
          mergeUnion(prev.shape, v.shape);
          prev.seen += v.seen;
        } else a.keys.set(k, { shape: v.shape, seen: v.seen });
      }
      return;
    }
    default:
      return;
  }
}

const specialFloats = [Number.NaN, -0, 0, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY];

function withConstants<T>(random: fc.Arbitrary<T>, values: T[]): fc.Arbitrary<T> {
  if (values.length === 0) return random;
  return fc.oneof({ arbitrary: fc.constantFrom(...values), weight: 1 }, { arbitrary: random, weight: 2 });
}

function arbOfUnion(u: Union): fc.Arbitrary<unknown> {
  const arbs = [...u.values()].map(arbOf);
  if (arbs.length === 0) return fc.integer({ min: -10, max: 10 }); // an empty recorded container: small ints as elements
  return arbs.length === 1 ? arbs[0] : fc.oneof(...arbs);
}

function arbOf(s: Shape): fc.Arbitrary<unknown> {
  switch (s.k) {
    case 'null':
      return fc.constant(null);
    case 'undefined':
      return fc.constant(undefined);
    case 'bool':
      return fc.boolean();
    case 'int': {
      const span = Math.max(10, s.max - s.min);
      const min = Math.max(Number.MIN_SAFE_INTEGER, s.min - span);
      const max = Math.min(Number.MAX_SAFE_INTEGER, s.max + span);
      return withConstants(fc.integer({ min: Math.max(min, -(2 ** 31)), max: Math.min(max, 2 ** 31 - 1) }), s.values);
    }
    case 'float':
      return withConstants(fc.oneof(fc.constantFrom(...specialFloats), fc.double(), fc.integer({ min: -100, max: 100 })), s.values);
    case 'string':
      return withConstants(fc.string({ maxLength: Math.max(8, Math.min(64, s.maxLen * 2)) }), s.values);
    case 'bigint':
      return fc.bigInt({ min: -(2n ** 70n), max: 2n ** 70n });
    case 'date':
      return fc.date({ min: new Date('1970-01-01T00:00:00Z'), max: new Date('2100-01-01T00:00:00Z'), noInvalidDate: true });
    case 'array':
      return fc.array(arbOfUnion(s.of), { maxLength: Math.max(8, Math.min(50, s.maxLen)) });
    case 'set':
      return fc.array(arbOfUnion(s.of), { maxLength: Math.max(8, Math.min(50, s.maxLen)) }).map((xs) => new Set(xs));
    case 'map':
      return fc.array(fc.tuple(arbOfUnion(s.key), arbOfUnion(s.value)), { maxLength: Math.max(8, Math.min(50, s.maxLen)) }).map((es) => new Map(es));
    case 'object': {
      const model: Record<string, fc.Arbitrary<unknown>> = {};
      const required: string[] = [];
      for (const [k, v] of s.keys) {
        if (k === '__proto__' || k === '__type' || k === '__class') throw new Unsupported(`an object with a "${k}" key`);
        model[k] = arbOfUnion(v.shape);
        if (v.seen === s.seen) required.push(k);
      }
      return fc.record(model, { requiredKeys: required });
    }
  }
}

/** The recorder's JSON-safe encoding of a generated value (only the kinds generated here). */
export function encode(v: unknown): JsonValue {
  if (v === null) return null;
  switch (typeof v) {
    case 'boolean':
    case 'string':
      return v;
    case 'number':
      return Number.isFinite(v) && !Object.is(v, -0) ? v : { __type: 'number', value: Object.is(v, -0) ? '-0' : String(v) };
    case 'undefined':
      return { __type: 'undefined' };
    case 'bigint':
      return { __type: 'bigint', value: v.toString() };
    default:
      break;
  }
  if (Array.isArray(v)) return v.map(encode);
  if (v instanceof Date) return { __type: 'Date', value: Number.isNaN(v.getTime()) ? 'Invalid Date' : v.toISOString() };
  if (v instanceof Set) return { __type: 'Set', values: [...v].map(encode) };
  if (v instanceof Map) return { __type: 'Map', entries: [...v].map(([k, x]) => [encode(k), encode(x)]) };
  const o: Record<string, JsonValue> = {};
  for (const [k, x] of Object.entries(v as object)) o[k] = encode(x);
  return o;
}

export interface Generated {
  /** Argument lists, encoded as the recorder encodes them. */
  inputs: JsonValue[][];
  /** Why nothing (or less) was generated, or where the shapes came from. */
  note?: string;
}

/** Argument shapes from recorded calls: one union per position; argument counts seen. */
function shapesFromSamples(samples: readonly CallSample[]): { positions: Union[]; lengths: number[] } {
  const positions: Union[] = [];
  const lengths = new Set<number>();
  for (const s of samples) {
    const args = s.args as JsonValue[];
    lengths.add(args.length);
    args.forEach((a, i) => {
      positions[i] ??= new Map();
      addTo(positions[i], shapeOf(a));
    });
  }
  return { positions, lengths: [...lengths].sort((a, b) => a - b) };
}

const intNames = /^(n|i|j|k|m|count|len|length|size|index|idx|limit|max|min|num|times|depth|level|width|height|offset|start|end|from|to|step|days|qty|quantity)$/i;
const floatNames = /^(x|y|z|a|b|value|amount|price|total|rate|ratio|weight|score|factor|percent|cost)$/i;
const stringNames = /^(s|str|string|text|name|title|key|id|word|prefix|suffix|label|slug|code|sku|email|path|url|query|sep|separator|pattern)$/i;
const intArrayNames = /^(xs|ns|arr|array|items|list|values|nums|numbers|ids|scores|counts|a|b)$/i;
const stringArrayNames = /^(strs|strings|words|names|keys|labels|lines|tags|skus|parts)$/i;
const boolNames = /^(flag|enabled|disabled|strict|force|verbose|(is|has|should|can|allow)[A-Z_].*)$/;

function shapeFromType(t: string): Union | undefined {
  const type = t.trim().replace(/^readonly\s+/, '');
  const u: Union = new Map();
  const parts = splitTopLevel(type, '|');
  if (parts.length > 1) {
    for (const p of parts) {
      const s = shapeFromType(p);
      if (!s) return undefined;
      mergeUnion(u, s);
    }
    return u;
  }
  const arr = /^(.*)\[\]$/.exec(type) ?? /^(?:Readonly)?Array<(.*)>$/.exec(type) ?? /^ReadonlyArray<(.*)>$/.exec(type);
  if (arr) {
    const inner = shapeFromType(arr[1].replace(/^\((.*)\)$/, '$1'));
    if (!inner) return undefined;
    u.set('array', { k: 'array', of: inner, maxLen: 8 });
    return u;
  }
  const set = /^(?:Readonly)?Set<(.*)>$/.exec(type);
  if (set) {
    const inner = shapeFromType(set[1]);
    if (!inner) return undefined;
    u.set('set', { k: 'set', of: inner, maxLen: 8 });
    return u;
  }
  switch (type) {
    case 'number':
      u.set('float', { k: 'float', values: [0, 1, -1, 2] });
      return u;
    case 'string':
      u.set('string', { k: 'string', maxLen: 8, values: ['', 'a'] });
      return u;
    case 'boolean':
      u.set('bool', { k: 'bool' });
      return u;
    case 'bigint':
      u.set('bigint', { k: 'bigint' });
      return u;
    case 'Date':
      u.set('date', { k: 'date' });
      return u;
    case 'null':
      u.set('null', { k: 'null' });
      return u;
    case 'undefined':
      u.set('undefined', { k: 'undefined' });
      return u;
    default:
      return undefined;
  }
}

function splitTopLevel(text: string, sep: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let cur = '';
  for (const ch of text) {
    if ('<([{'.includes(ch)) depth++;
    else if ('>)]}'.includes(ch)) depth--;
    if (ch === sep && depth === 0) {
      out.push(cur);
      cur = '';
    } else cur += ch;
  }
  out.push(cur);
  return out.map((s) => s.trim()).filter(Boolean);
}

function shapeFromParam(p: ParamInfo): Union | undefined {
  if (p.type) {
    const t = shapeFromType(p.type);
    if (t && p.optional && !p.defaultText) t.set('undefined', { k: 'undefined' });
    return t;
  }
  const u: Union = new Map();
  const d = p.defaultText?.trim();
  if (d !== undefined) {
    if (/^-?\d+$/.test(d)) u.set('int', { k: 'int', min: Number(d), max: Number(d), values: [Number(d)] });
    else if (/^-?\d*\.\d+$/.test(d)) u.set('float', { k: 'float', values: [Number(d)] });
    else if (/^(['"`]).*\1$/s.test(d)) u.set('string', { k: 'string', maxLen: Math.max(8, d.length), values: [d.slice(1, -1)] });
    else if (d === 'true' || d === 'false') u.set('bool', { k: 'bool' });
    else return undefined;
    u.set('undefined', { k: 'undefined' });
    return u;
  }
  const name = p.name;
  if (intNames.test(name)) u.set('int', { k: 'int', min: 0, max: 10, values: [0, 1] });
  else if (floatNames.test(name)) u.set('float', { k: 'float', values: [0, 1, -1] });
  else if (stringNames.test(name)) u.set('string', { k: 'string', maxLen: 8, values: ['', 'a'] });
  else if (boolNames.test(name)) u.set('bool', { k: 'bool' });
  else if (stringArrayNames.test(name)) u.set('array', { k: 'array', of: new Map([['string', { k: 'string', maxLen: 6, values: ['a', 'b'] }]]), maxLen: 8 });
  else if (intArrayNames.test(name)) u.set('array', { k: 'array', of: new Map([['int', { k: 'int', min: -10, max: 10, values: [0, 1] }]]), maxLen: 8 });
  else return undefined;
  return u;
}

/**
 * Up to `count` argument lists (fewer when duplicates collapse), from the recorded calls'
 * shapes, else from the parameters. `count` 0, or shapes that cannot be generated:
 * none, with a note saying why.
 */
export function generateInputs(samples: readonly CallSample[], params: readonly ParamInfo[], count: number, seed = 0x5eed): Generated {
  if (count <= 0) return { inputs: [] };
  let tuple: fc.Arbitrary<unknown[]>;
  let source: string;
  try {
    if (samples.length > 0) {
      const { positions, lengths } = shapesFromSamples(samples);
      const byLength = lengths.map((n) => fc.tuple(...positions.slice(0, n).map(arbOfUnion)) as fc.Arbitrary<unknown[]>);
      tuple = byLength.length === 1 ? byLength[0] : fc.oneof(...byLength);
      source = 'the recorded arguments’ shapes';
    } else {
      if (params.length === 0) return { inputs: [[]], note: 'no parameters: called once without arguments' };
      const arbs: fc.Arbitrary<unknown>[] = [];
      for (const p of params) {
        const s = shapeFromParam(p);
        if (!s) return { inputs: [], note: `no recorded calls, and the type of parameter \`${p.name}\` could not be inferred from its annotation, default or name: no inputs generated` };
        const arb = arbOfUnion(s);
        arbs.push(p.rest ? fc.array(arb, { maxLength: 3 }) : arb);
      }
      const fixed = fc.tuple(...arbs) as fc.Arbitrary<unknown[]>;
      tuple = params.some((p) => p.rest) ? fixed.map((xs) => [...xs.slice(0, -1), ...(xs[xs.length - 1] as unknown[])]) : fixed;
      source = 'parameter annotations, defaults and names';
    }
  } catch (err) {
    if (err instanceof Unsupported) return { inputs: [], note: `inputs not generated: a recorded argument is ${err.message}, which Crucible does not generate` };
    throw err;
  }
  const seen = new Set<string>();
  const inputs: JsonValue[][] = [];
  for (const v of fc.sample(tuple, { numRuns: count, seed })) {
    const encoded = (v as unknown[]).map(encode);
    const key = JSON.stringify(encoded);
    if (seen.has(key)) continue;
    if (unreplayableReason({ args: encoded })) continue; // a generated string that reads like a marker ("[Circular]")
    seen.add(key);
    inputs.push(encoded);
  }
  return { inputs, note: `generated inputs from ${source} (fast-check, fixed seed)` };
}
