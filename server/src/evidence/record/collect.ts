/**
 * Turns what the recording preload wrote (one NDJSON file per process, see
 * runtime/record-preload.cjs) into evidence per artifact: which tests executed it, how often it
 * ran, which of its lines ran, and a bounded sample of its real calls.
 *
 * V8 reports positions in the code it ran (babel's or vite's output); they are
 * mapped back through the script's source map to the original file, then to
 * the artifact whose range contains the function's start, the smallest one
 * (a method before its class).
 */
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { GREATEST_LOWER_BOUND, LEAST_UPPER_BOUND, TraceMap, originalPositionFor } from '@jridgewell/trace-mapping';
import type { CallSample, JsonValue } from '../model';
import { testArtifactId } from '../runners/types';
import { collectPython } from './collectPython';

/** What collect needs to know of an artifact (an `ArtifactRecord` fits). */
export interface RecordArtifact {
  id: string;
  /** Workspace-relative, forward slashes. */
  file: string;
  range: { start: { line: number; character: number }; end: { line: number; character: number } };
}

export interface RecordedArtifact {
  /** Test ids (`file#suite > title`) that executed the artifact; or a node:test file (see `fileScoped`). */
  tests: Set<string>;
  /** Ids in `tests` that are whole test files (node:test: what ran outside any test, or once tests overlapped). */
  fileScoped: Set<string>;
  /** Executions counted by V8 (all calls, not only the sampled ones). */
  calls: number;
  /** The first recorded calls (at most `maxSamples`). */
  samples: CallSample[];
  /** Of the sampled calls, how many threw. */
  sampledErrors: number;
  coveredLines: number;
  coverableLines: number;
}

/** Line coverage of one file, over the lines inside its artifacts (0-based). */
export interface FileLineCoverage {
  covered: number[];
  uncovered: number[];
}

export interface RecordingResult {
  artifacts: Map<string, RecordedArtifact>;
  /** Per workspace-relative file that ran: which of its artifacts' lines ran. */
  files: Map<string, FileLineCoverage>;
  /** Recorded calls that matched no artifact (an export under another name, a generated function). */
  unmatchedCalls: number;
  /** Number of NDJSON lines that could not be read. */
  badLines: number;
}

interface ScriptLine {
  type: 'script';
  s: number;
  file: string;
  map: string | null;
}
interface TestRef {
  file?: string;
  titlePath?: string[];
}
interface CoverageLine {
  type: 'coverage';
  test: TestRef | null;
  scope: 'test' | 'file' | 'outside';
  scripts: { s: number; functions: { name: string; ranges: [number, number, number, number, number][] }[] }[];
}
interface CallLine {
  type: 'call';
  file: string;
  name: string;
  fnName: string;
  test: TestRef | null;
  sample: { args: JsonValue; result?: JsonValue; error?: JsonValue; durationNs: number; mutated: boolean };
}

interface Position {
  line: number;
  character: number;
}

interface Mapper {
  /** Original file (absolute) and position for a generated position, or undefined. */
  map(line: number, column: number): { file: string; pos: Position } | undefined;
}

function decodeDataUrl(ref: string): string | undefined {
  const comma = ref.indexOf(',');
  if (comma < 0) return undefined;
  const meta = ref.slice(5, comma);
  const body = ref.slice(comma + 1);
  return meta.endsWith(';base64') ? Buffer.from(body, 'base64').toString('utf8') : decodeURIComponent(body);
}

function toPath(source: string, base: string): string {
  if (source.startsWith('file://')) return fileURLToPath(source);
  return path.resolve(path.dirname(base), source);
}

function mapperFor(script: ScriptLine): Mapper {
  const identity: Mapper = { map: (line, column) => ({ file: script.file, pos: { line, character: column } }) };
  if (!script.map) return identity;
  let text: string | undefined;
  try {
    if (script.map.startsWith('data:')) text = decodeDataUrl(script.map);
    else {
      const mapFile = toPath(script.map, script.file);
      if (existsSync(mapFile)) text = readFileSync(mapFile, 'utf8');
    }
  } catch {
    text = undefined;
  }
  if (!text) return identity;
  let traced: TraceMap;
  try {
    traced = new TraceMap(text, script.map.startsWith('data:') ? script.file : toPath(script.map, script.file));
  } catch {
    return identity;
  }
  return {
    map(line, column) {
      for (const bias of [GREATEST_LOWER_BOUND, LEAST_UPPER_BOUND] as const) {
        const o = originalPositionFor(traced, { line: line + 1, column, bias });
        if (o.source !== null && o.line !== null && o.column !== null) return { file: toPath(o.source, script.file), pos: { line: o.line - 1, character: o.column } };
      }
      return undefined;
    },
  };
}

function before(a: Position, b: Position): boolean {
  return a.line < b.line || (a.line === b.line && a.character <= b.character);
}

function contains(r: RecordArtifact['range'], p: Position): boolean {
  return before(r.start, p) && before(p, r.end);
}

function size(r: RecordArtifact['range']): number {
  return (r.end.line - r.start.line) * 100_000 + (r.end.character - r.start.character);
}

function emptyRecord(): RecordedArtifact {
  return { tests: new Set(), fileScoped: new Set(), calls: 0, samples: [], sampledErrors: 0, coveredLines: 0, coverableLines: 0 };
}

/** Lines that can run: not blank, not only a comment or a lone brace. */
function coverableLinesOf(lines: string[], from: number, to: number): number[] {
  const out: number[] = [];
  let inBlock = false;
  for (let l = from; l <= to && l < lines.length; l++) {
    const t = lines[l].trim();
    if (inBlock) {
      if (t.includes('*/')) inBlock = false;
      continue;
    }
    if (t === '' || t.startsWith('//') || /^[\s})\];,]*$/.test(t)) continue;
    if (t.startsWith('/*')) {
      if (!t.includes('*/')) inBlock = true;
      continue;
    }
    out.push(l);
  }
  return out;
}

const declarationPrefix = /^\s*(export\s+)?(default\s+)?(async\s+)?(static\s+)?(get\s+|set\s+)?(function\s*\*?\s*)?$/;

/**
 * Reads every `rec-*.ndjson` in `dir`. `root` is the workspace root the
 * artifacts' files are relative to; `maxSamples` caps the samples kept per artifact.
 */
/** Adds one recorded call to an artifact's samples (up to `maxSamples`), counting it as an error when it threw. Node and Python recordings alike. */
export function addSample(r: RecordedArtifact, s: { args: JsonValue; result?: JsonValue; error?: JsonValue; durationNs: number; mutated: boolean }, maxSamples: number): void {
  if (r.samples.length >= maxSamples) return;
  const sample: CallSample = { args: s.args, durationNs: s.durationNs, mutated: s.mutated };
  if (s.error !== undefined) {
    sample.error = s.error;
    r.sampledErrors++;
  } else sample.result = s.result ?? null;
  r.samples.push(sample);
}

export function collectRecording(dir: string, root: string, artifacts: RecordArtifact[], maxSamples = 100): RecordingResult {
  const result: RecordingResult = { artifacts: new Map(), files: new Map(), unmatchedCalls: 0, badLines: 0 };
  const byFile = new Map<string, RecordArtifact[]>();
  const ids = new Set<string>();
  for (const a of artifacts) {
    const list = byFile.get(a.file) ?? [];
    list.push(a);
    byFile.set(a.file, list);
    ids.add(a.id);
  }
  const rel = (abs: string) => path.relative(root, abs).split(path.sep).join('/');
  const get = (id: string) => {
    let r = result.artifacts.get(id);
    if (!r) result.artifacts.set(id, (r = emptyRecord()));
    return r;
  };
  const sourceLines = new Map<string, string[]>();
  const linesOf = (file: string) => {
    let lines = sourceLines.get(file);
    if (!lines) {
      try {
        lines = readFileSync(path.join(root, file), 'utf8').split(/\r?\n/);
      } catch {
        lines = [];
      }
      sourceLines.set(file, lines);
    }
    return lines;
  };
  const artifactAt = (file: string, pos: Position): RecordArtifact | undefined => {
    let best: RecordArtifact | undefined;
    for (const a of byFile.get(file) ?? []) if (contains(a.range, pos) && (!best || size(a.range) < size(best.range))) best = a;
    return best;
  };
  /** Covered lines per workspace-relative file: union over every take. */
  const covered = new Map<string, Set<number>>();

  const files = existsSync(dir) ? readdirSync(dir).filter((f) => /^rec-.*\.ndjson$/.test(f)).sort() : [];
  for (const name of files) {
    const mappers = new Map<number, Mapper>();
    for (const line of readFileSync(path.join(dir, name), 'utf8').split('\n')) {
      if (!line.trim()) continue;
      let rec: ScriptLine | CoverageLine | CallLine;
      try {
        rec = JSON.parse(line) as ScriptLine | CoverageLine | CallLine;
      } catch {
        result.badLines++;
        continue;
      }
      if (rec.type === 'script') mappers.set(rec.s, mapperFor(rec));
      else if (rec.type === 'coverage') {
        const testId = rec.test?.file ? (rec.scope === 'file' ? rel(rec.test.file) : testArtifactId({ file: rel(rec.test.file), titlePath: rec.test.titlePath ?? [] })) : undefined;
        for (const script of rec.scripts) {
          const mapper = mappers.get(script.s);
          if (!mapper) continue;
          const marked = new Map<string, Set<number>>();
          const unmarked: { file: string; from: number; to: number; startLine: number; startCol: number }[] = [];
          const outermost = new Map<string, { extent: number; count: number }>();
          for (const fn of script.functions) {
            fn.ranges.forEach(([sl, sc, el, ec, count], i) => {
              const start = mapper.map(sl, sc);
              const end = mapper.map(el, Math.max(0, ec - 1));
              if (!start) return;
              const file = rel(start.file);
              if (file.startsWith('..')) return;
              if (i === 0) {
                const artifact = artifactAt(file, start.pos);
                // A function that ends past the artifact is not its own (the CommonJS module
                // wrapper starts where the file's first function does).
                const fits = artifact && end !== undefined && rel(end.file) === file && !(end.pos.line > artifact.range.end.line || (end.pos.line === artifact.range.end.line && end.pos.character > artifact.range.end.character));
                // The artifact's own function ends on the artifact's last line; the outermost such
                // one, run or not, gives its call count (V8 may leave out a function that did not
                // run in this take: a callback it made earlier, firing now, is not a call of it).
                if (artifact && fits && end!.pos.line === artifact.range.end.line) {
                  const extent = (el - sl) * 1_000_000 + (ec - sc);
                  const seen = outermost.get(artifact.id);
                  if (!seen || extent > seen.extent) outermost.set(artifact.id, { extent, count });
                }
                if (artifact && fits && count > 0) {
                  const r = get(artifact.id);
                  if (testId) {
                    r.tests.add(testId);
                    if (rec.scope === 'file') r.fileScoped.add(testId);
                  }
                }
              }
              if (!end || rel(end.file) !== file || end.pos.line < start.pos.line) return;
              if (count > 0) {
                const set = marked.get(file) ?? new Set<number>();
                for (let l = start.pos.line; l <= end.pos.line; l++) set.add(l);
                marked.set(file, set);
              } else unmarked.push({ file, from: start.pos.line + 1, to: end.pos.line, startLine: start.pos.line, startCol: start.pos.character });
            });
          }
          for (const [id, o] of outermost) if (o.count > 0) get(id).calls += o.count;
          for (const u of unmarked) {
            const set = marked.get(u.file);
            if (!set) continue;
            for (let l = u.from; l <= u.to; l++) set.delete(l);
            const text = linesOf(u.file)[u.startLine] ?? '';
            if (declarationPrefix.test(text.slice(0, u.startCol))) set.delete(u.startLine);
          }
          for (const [file, set] of marked) {
            const all = covered.get(file) ?? new Set<number>();
            for (const l of set) all.add(l);
            covered.set(file, all);
          }
        }
      } else if (rec.type === 'call') {
        const file = rel(rec.file);
        const id = [`${file}#${rec.name}`, `${file}#${rec.fnName}`].find((candidate) => ids.has(candidate));
        if (!id) {
          result.unmatchedCalls++;
          continue;
        }
        addSample(get(id), rec.sample, maxSamples);
      }
    }
  }
  for (const [file, set] of covered) {
    const coverable = new Set<number>();
    for (const a of byFile.get(file) ?? []) for (const l of coverableLinesOf(linesOf(file), a.range.start.line, a.range.end.line)) coverable.add(l);
    if (coverable.size === 0) continue;
    const lines = [...coverable].sort((x, y) => x - y);
    result.files.set(file, { covered: lines.filter((l) => set.has(l)), uncovered: lines.filter((l) => !set.has(l)) });
  }
  for (const [id, r] of result.artifacts) {
    const artifact = artifacts.find((a) => a.id === id);
    if (!artifact) continue;
    const coverable = coverableLinesOf(linesOf(artifact.file), artifact.range.start.line, artifact.range.end.line);
    const set = covered.get(artifact.file) ?? new Set<number>();
    r.coverableLines = coverable.length;
    r.coveredLines = coverable.filter((l) => set.has(l)).length;
  }
  collectPython(dir, root, artifacts, result, maxSamples);
  return result;
}
