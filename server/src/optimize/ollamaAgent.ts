/**
 * Ollama micro-agents: a local model proposes a faster version of a function.
 *
 * One agent per (model × prompt strategy), id `ollama:<model>/<strategy>`:
 *  - `direct`: the function and the instruction;
 *  - `evidence-few-shot`: the function, what Crucible measured about it (median time per
 *    call, the shapes of its recorded inputs, hot paths when given, the tests that run it)
 *    and up to 3 similar optimizations that were verified, as few-shot examples (from the
 *    `fewShot` callback, which the orchestrator backs with the vector index).
 *
 * The request is a non-streamed `/api/chat` (`../agents/ollama.ts`: the transport, its
 * timeout and cancellation, and the model probe), with a JSON schema as `format`
 * (structured output `{ code, summary }`) and temperature 0.2.
 *
 * An agent never throws: every failure (timeout, cancellation, model not pulled, nothing
 * listening, an answer that is not the JSON asked for) is a `Declined` with the reason.
 * A Candidate here is only a proposal: whether it is right and faster is for `verify/`.
 */
import { formatNs } from '../format';
import { chatForJson, describeFailure } from '../agents/ollama';
import type { ArtifactLanguage } from '../protocol';
import type { CallSample, JsonValue } from '../evidence/model';
import type { Candidate, Declined, Proposal } from '../agents/contract';
import type { OptimizeAgent, OptimizeTarget } from './types';

export type PromptStrategy = 'direct' | 'evidence-few-shot';
export const promptStrategies: readonly PromptStrategy[] = ['direct', 'evidence-few-shot'];

/** A verified optimization of a similar function, shown to the model as an example. */
export interface FewShotExample {
  before: string;
  after: string;
  /** Original median / optimized median (> 1: faster). */
  speedup: number;
}

/** What the prompt may use beyond `OptimizeTarget`: hot paths, when a profile named some. */
export type PromptTarget = OptimizeTarget & { hotPaths?: readonly string[] };

export interface OllamaAgentOptions {
  host: string;
  models: string[];
  /** Default: both (`direct`, `evidence-few-shot`). */
  strategies?: PromptStrategy[];
  /** Per request; default 120 000 ms (a local 7B model on a CPU takes tens of seconds). */
  timeoutMs?: number;
  /** Similar verified optimizations for a target (only the first 3 are used). */
  fewShot?: (target: OptimizeTarget) => Promise<FewShotExample[]>;
}

export const defaultOllamaTimeoutMs = 120_000;
export const maxFewShotExamples = 3;
const allLanguages: readonly ArtifactLanguage[] = ['typescript', 'tsx', 'javascript', 'python'];

/** The structured output asked of the model (Ollama's `format`). */
export const answerSchema = {
  type: 'object',
  properties: {
    code: { type: 'string', description: 'The complete replacement text of the function, declaration included.' },
    summary: { type: 'string', description: 'One line: what changed and why it is faster.' },
  },
  required: ['code', 'summary'],
  additionalProperties: false,
} as const;

export const agentTemperature = 0.2;

// ---------------------------------------------------------------------------------------
// Prompt
// ---------------------------------------------------------------------------------------

const languageNames: Record<ArtifactLanguage, string> = { typescript: 'TypeScript', tsx: 'TypeScript (TSX)', javascript: 'JavaScript', python: 'Python' };
const fenceTags: Record<ArtifactLanguage, string> = { typescript: 'ts', tsx: 'tsx', javascript: 'js', python: 'python' };

/** A markdown fence that the code itself cannot close. */
function fenced(code: string, tag: string): string {
  let ticks = '```';
  while (code.includes(ticks)) ticks += '`';
  return `${ticks}${tag}\n${code}\n${ticks}`;
}

const system = [
  'You are a performance engineer. You rewrite one function so that it runs faster while behaving exactly the same.',
  'Same behaviour means: the same return value for every input, the same errors thrown, the same changes to its arguments and to anything else it touches, in the same order.',
  'You answer with JSON only: {"code": "<the complete new function>", "summary": "<one line: what changed and why it is faster>"}.',
].join('\n');

const instructions = (t: OptimizeTarget) =>
  [
    'Rules for "code":',
    `- It replaces the text above exactly: keep the declaration as it is (name \`${t.name}\`, parameters, types, export/async/static modifiers), and give only this ${t.kind}, nothing else from the file.`,
    '- Keep the behaviour identical for every input, including edge cases (empty inputs, duplicates, NaN, negative numbers, argument order, mutation of arguments).',
    '- Do not add imports or dependencies; put any helper inside the function.',
    '- No markdown fences, no comments about the change inside the code.',
    '- If you see no faster version that behaves the same, return the original code unchanged and say why in "summary".',
  ].join('\n');

/**
 * The chat messages for `target` under `strategy`. Pure: the same inputs give the same text.
 * `examples` are used by `evidence-few-shot` only (at most 3).
 */
export function buildPrompt(target: PromptTarget, strategy: PromptStrategy, examples: readonly FewShotExample[] = []): { system: string; user: string } {
  const lang = languageNames[target.language];
  const tag = fenceTags[target.language];
  const parts: string[] = [];
  parts.push(`Make this ${lang} ${target.kind} \`${target.qualifiedName}\` (from \`${target.file}\`) faster.`);
  parts.push(fenced(target.code, tag));
  if (strategy === 'evidence-few-shot') {
    const evidence = evidenceLines(target);
    if (evidence.length) parts.push('What was measured when it ran:\n' + evidence.join('\n'));
    else parts.push('No measurements were recorded for it yet.');
    const imports = importLines(target);
    if (imports.length) parts.push('Its file imports (available, do not add others):\n' + imports.join('\n'));
    const shown = examples.slice(0, maxFewShotExamples);
    if (shown.length) {
      parts.push(
        'Optimizations of similar functions that were verified (same results on recorded and generated inputs, tests passing, measured faster):\n\n' +
          shown
            .map(
              (e, i) =>
                `Example ${i + 1} (x${e.speedup.toFixed(1)} faster)\nBefore:\n${fenced(clip(e.before, 3000), tag)}\nAfter:\n${fenced(clip(e.after, 3000), tag)}`,
            )
            .join('\n\n'),
      );
    }
  }
  parts.push(instructions(target));
  return { system, user: parts.join('\n\n') };
}

function clip(text: string, max: number): string {
  return text.length <= max ? text : text.slice(0, max) + `\n… (${text.length - max} more characters)`;
}

function evidenceLines(t: PromptTarget): string[] {
  const out: string[] = [];
  if (t.medianNs !== undefined && Number.isFinite(t.medianNs)) out.push(`- median time per call: ${formatNs(t.medianNs)}`);
  const samples = t.samples ?? [];
  if (samples.length) {
    out.push(`- recorded calls: ${samples.length}; argument shapes (lengths seen, min–max):`);
    for (const l of summariseShapes(samples.map((s) => s.args), true)) out.push(`  - ${l}`);
    const returned = samples.filter((s) => !('error' in s && s.error !== undefined));
    if (returned.length) {
      out.push('- results:');
      for (const l of summariseShapes(returned.map((s) => (s.result === undefined ? { __type: 'undefined' } : s.result)), false)) out.push(`  - ${l}`);
    }
    const threw = samples.filter((s) => s.error !== undefined);
    if (threw.length) out.push(`- ${threw.length} of ${samples.length} calls threw (${clip(errorText(threw[0].error!), 160)}); a rewrite must throw the same way`);
    const mutated = samples.filter((s) => s.mutated).length;
    if (mutated) out.push(`- ${mutated} of ${samples.length} calls changed their arguments; a rewrite must make the same changes`);
  }
  if (t.hotPaths?.length) {
    out.push('- hot paths:');
    for (const h of t.hotPaths.slice(0, 5)) out.push(`  - ${clip(h, 200)}`);
  }
  if (t.tests?.length) {
    const shown = t.tests.slice(0, 10);
    out.push(`- tests that run it (they must keep passing): ${shown.join('; ')}${t.tests.length > shown.length ? `; and ${t.tests.length - shown.length} more` : ''}`);
  }
  return out;
}

function errorText(e: JsonValue): string {
  if (e && typeof e === 'object' && !Array.isArray(e)) {
    const o = e as Record<string, JsonValue>;
    if (typeof o.message === 'string') return `${typeof o.name === 'string' ? o.name : 'Error'}: ${o.message}`;
  }
  return JSON.stringify(e);
}

function importLines(t: OptimizeTarget): string[] {
  const re = t.language === 'python' ? /^\s*(import\s+\S|from\s+\S+\s+import\b)/ : /^\s*import\s|^\s*(const|let|var)\s+[^=]+=\s*require\(/;
  const lines = t.fileText.split('\n').filter((l) => re.test(l)).map((l) => clip(l.trimEnd(), 200));
  return lines.length > 15 ? [...lines.slice(0, 15), `… and ${lines.length - 15} more`] : lines;
}

// ---------------------------------------------------------------------------------------
// Input shapes: types and sizes of recorded values, never the values themselves
// ---------------------------------------------------------------------------------------

const truncatedMarker = /…\(truncated: (\d+) more\)$/;

/**
 * Shape of a value as the recorder serialised it (`evidence/runtime/record-preload.cjs`: arrays cut at
 * 50 items with a `…(truncated: N more)` marker, strings at 1000 characters, `{__type}` for
 * Map, Set, typed arrays, bigint, undefined, …). Sizes go to `sizes`, a `#` marks their place.
 */
function shapeOf(v: JsonValue, depth: number, sizes: number[]): string {
  if (v === null) return 'null';
  if (typeof v === 'boolean') return 'boolean';
  if (typeof v === 'number') return Number.isInteger(v) ? 'int' : 'number';
  if (typeof v === 'string') {
    const m = truncatedMarker.exec(v);
    sizes.push(m ? v.length - m[0].length + Number(m[1]) : v.length);
    return 'string(#)';
  }
  if (depth >= 3) return '…';
  if (Array.isArray(v)) {
    let items = v;
    let extra = 0;
    const last = v[v.length - 1];
    if (typeof last === 'string') {
      const m = truncatedMarker.exec(last);
      if (m && last === m[0]) {
        items = v.slice(0, -1);
        extra = Number(m[1]);
      }
    }
    sizes.push(items.length + extra);
    return `${elementShape(items, depth)}[#]`;
  }
  const o = v as Record<string, JsonValue>;
  const type = o.__type;
  if (typeof type === 'string') {
    if (type === 'Map' && Array.isArray(o.entries)) {
      const entries = o.entries.filter((e): e is JsonValue[] => Array.isArray(e));
      sizes.push(entries.length + trailingMore(o.entries));
      return `Map(#)<${elementShape(entries.map((e) => e[0]), depth)}, ${elementShape(entries.map((e) => e[1]), depth)}>`;
    }
    if (type === 'Set' && Array.isArray(o.values)) {
      const values = trailingMore(o.values) ? o.values.slice(0, -1) : o.values;
      sizes.push(values.length + trailingMore(o.values));
      return `Set(#)<${elementShape(values, depth)}>`;
    }
    if (typeof o.length === 'number') {
      sizes.push(o.length);
      return `${type}(#)`;
    }
    if (type === 'kwargs' && o.values && typeof o.values === 'object') return `kwargs ${shapeOf(o.values, depth, sizes)}`;
    if (type === 'number' || type === 'float') return 'number';
    return type;
  }
  const keys = Object.keys(o).filter((k) => k !== '__class' && k !== '…');
  const shown = keys.slice(0, 6).map((k) => `${k}: ${shapeOf(o[k], depth + 1, sizes)}`);
  const more = keys.length > 6 || '…' in o ? ', …' : '';
  return `${typeof o.__class === 'string' ? o.__class + ' ' : ''}{${shown.join(', ')}${more}}`;
}

function trailingMore(list: JsonValue[]): number {
  const last = list[list.length - 1];
  if (typeof last !== 'string') return 0;
  const m = truncatedMarker.exec(last);
  return m && m[0] === last ? Number(m[1]) : 0;
}

/** The element type of a list: one shape, or a union of up to 3; sizes inside are not tracked. */
function elementShape(items: JsonValue[], depth: number): string {
  if (!items.length) return 'empty';
  const shapes = [...new Set(items.slice(0, 20).map((i) => shapeOf(i, depth + 1, []).replace(/\(#\)|\[#\]/g, (m) => (m === '[#]' ? '[]' : ''))))];
  return shapes.length === 1 ? shapes[0] : `(${shapes.slice(0, 3).join(' | ')}${shapes.length > 3 ? ' | …' : ''})`;
}

/**
 * Groups values (argument lists, or results) by shape: `(int[#], int) x 30, # 10–1000, 3`
 * renders as `(int[10–1000], 3) × 30 calls`. Most frequent first, at most `max` lines.
 */
export function summariseShapes(values: readonly JsonValue[], asArguments: boolean, max = 5): string[] {
  const groups = new Map<string, { count: number; min: number[]; max: number[] }>();
  for (const v of values) {
    const sizes: number[] = [];
    const shape =
      asArguments && Array.isArray(v) ? `(${v.map((a) => shapeOf(a, 0, sizes)).join(', ')})` : shapeOf(v, 0, sizes);
    const key = shape + '\u0000' + sizes.length;
    const g = groups.get(key);
    if (!g) groups.set(key, { count: 1, min: [...sizes], max: [...sizes] });
    else {
      g.count++;
      sizes.forEach((s, i) => {
        g.min[i] = Math.min(g.min[i], s);
        g.max[i] = Math.max(g.max[i], s);
      });
    }
  }
  const sorted = [...groups].sort((a, b) => b[1].count - a[1].count);
  const lines = sorted.slice(0, max).map(([key, g]) => {
    let i = 0;
    const shape = key.slice(0, key.indexOf('\u0000')).replace(/#/g, () => {
      const lo = g.min[i];
      const hi = g.max[i++];
      return lo === hi ? String(lo) : `${lo}–${hi}`;
    });
    return `${clip(shape, 300)} × ${g.count} ${g.count === 1 ? 'call' : 'calls'}`;
  });
  if (sorted.length > max) lines.push(`and ${sorted.length - max} other shapes (${sorted.slice(max).reduce((s, [, g]) => s + g.count, 0)} calls)`);
  return lines;
}

// ---------------------------------------------------------------------------------------
// Answer
// ---------------------------------------------------------------------------------------

/** The inside of a markdown fence around the whole text (```lang … ```), else the text. */
export function stripFences(text: string): string {
  const t = text.trim();
  const m = /^(`{3,})[\w+#.-]*[^\S\n]*\n([\s\S]*?)\n?[^\S\n]*\1[^\S\n]*$/.exec(t);
  return m ? m[2] : t;
}

/**
 * When the model dropped the indentation of a method's body (the first line starts at the
 * range's column in the file, the later lines are indented relative to the file), puts it back.
 */
function reindent(code: string, original: string): string {
  const indentOf = (text: string) => {
    const rest = text.split('\n').slice(1).filter((l) => l.trim());
    if (!rest.length) return undefined;
    return rest.map((l) => /^[ \t]*/.exec(l)![0]).reduce((a, b) => (b.length < a.length ? b : a));
  };
  const want = indentOf(original);
  const have = indentOf(code);
  if (want === undefined || have === undefined || want.length <= have.length || !want.startsWith(have)) return code;
  const add = want.slice(have.length);
  if (/[^ ]/.test(add) && /[^\t]/.test(add)) return code;
  return code
    .split('\n')
    .map((l, i) => (i === 0 || !l.trim() ? l : add + l))
    .join('\n');
}

/** Validates the model's `message.content` into `{ code, summary }`, or the reason it is not usable. */
export function parseAnswer(content: string, target: OptimizeTarget): { code: string; summary: string } | { reason: string } {
  const text = stripFences(content);
  if (!text) return { reason: 'invalid answer: empty reply' };
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    // Some models wrap the object in a sentence despite `format`: take the outermost braces.
    const a = text.indexOf('{');
    const b = text.lastIndexOf('}');
    try {
      if (a < 0 || b <= a) throw new Error();
      value = JSON.parse(text.slice(a, b + 1));
    } catch {
      return { reason: `invalid JSON in the answer: ${clip(text.replace(/\s+/g, ' '), 80)}` };
    }
  }
  if (!value || typeof value !== 'object' || Array.isArray(value)) return { reason: 'invalid answer: not a JSON object with "code" and "summary"' };
  const o = value as Record<string, unknown>;
  if (typeof o.code !== 'string' || !o.code.trim()) return { reason: 'invalid answer: missing "code"' };
  let code = stripFences(o.code).replace(/\r\n/g, '\n').trim();
  if (!code) return { reason: 'invalid answer: "code" is empty' };
  code = reindent(code, target.code);
  const summary = typeof o.summary === 'string' && o.summary.trim() ? clip(o.summary.replace(/\s+/g, ' ').trim(), 200) : '(no summary given)';
  const squash = (s: string) => s.replace(/\s+/g, '');
  if (squash(code) === squash(target.code)) return { reason: `no rewrite: the model returned the function unchanged (${summary})` };
  if (target.name && target.code.includes(target.name) && !code.includes(target.name)) return { reason: `invalid answer: the code does not declare \`${target.name}\`` };
  return { code, summary };
}

// ---------------------------------------------------------------------------------------
// Agents
// ---------------------------------------------------------------------------------------

class OllamaAgent implements OptimizeAgent {
  readonly kind = 'ollama' as const;
  readonly languages = allLanguages;
  readonly id: string;
  readonly description: string;
  constructor(
    private readonly host: string,
    private readonly model: string,
    private readonly strategy: PromptStrategy,
    private readonly timeoutMs: number,
    private readonly fewShot: OllamaAgentOptions['fewShot'],
  ) {
    this.id = `ollama:${model}/${strategy}`;
    this.description =
      strategy === 'direct'
        ? `${model} (Ollama): the function and an instruction`
        : `${model} (Ollama): the function, its measurements, and similar verified optimizations as examples`;
  }

  async propose(target: OptimizeTarget, signal?: AbortSignal): Promise<Proposal[]> {
    const declined = (reason: string): Declined[] => [{ agent: this.id, target: target.id, reason }];
    try {
      if (signal?.aborted) return declined('cancelled');
      let examples: FewShotExample[] = [];
      if (this.strategy === 'evidence-few-shot' && this.fewShot) {
        try {
          examples = (await this.fewShot(target)).slice(0, maxFewShotExamples);
        } catch {
          examples = []; // retrieval is a help, not a condition
        }
      }
      const prompt = buildPrompt(target, this.strategy, examples);
      const reply = await chatForJson({ host: this.host, model: this.model, ...prompt, format: answerSchema, temperature: agentTemperature, timeoutMs: this.timeoutMs, signal });
      if (!reply.ok) return declined(reply.reason);
      const parsed = parseAnswer(reply.content, target);
      if ('reason' in parsed) return declined(parsed.reason + (reply.truncated ? ' (the answer hit the length limit)' : ''));
      const c: Candidate = { agent: this.id, target: target.id, code: parsed.code, summary: parsed.summary };
      return [c];
    } catch (err) {
      return declined(`unexpected failure: ${describeFailure(err, { host: this.host, model: this.model, why: undefined, timeoutMs: this.timeoutMs })}`);
    }
  }
}

/** One agent per (model × strategy), in that order. */
export function ollamaAgents(opts: OllamaAgentOptions): OptimizeAgent[] {
  const strategies = opts.strategies?.length ? [...new Set(opts.strategies)] : [...promptStrategies];
  const timeoutMs = opts.timeoutMs && opts.timeoutMs > 0 ? opts.timeoutMs : defaultOllamaTimeoutMs;
  const models = [...new Set(opts.models.map((m) => m.trim()).filter(Boolean))];
  return models.flatMap((m) => strategies.map((s) => new OllamaAgent(opts.host, m, s, timeoutMs, opts.fewShot)));
}
