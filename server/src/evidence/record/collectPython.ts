/**
 * The Python part of collecting a recording: reads the `py-*.ndjson` files the
 * pytest recorder (runtime/crucible_pytest_recorder.py) wrote, one per process, and adds to the
 * result what they show per artifact: the tests that executed it, its calls, its
 * sampled calls and its line coverage, with the same meaning as for Node code.
 *
 * A code object is mapped to the smallest artifact whose line range contains its
 * first line (for a decorated function, the first decorator's line, which is
 * where the artifact's range starts too). Every code mapped to an artifact (its
 * own, a lambda, a comprehension, a nested function that is not an artifact)
 * adds the test that ran it; only the artifact's own code object (a function
 * code of the artifact's name) counts calls and gives samples. A class is
 * executed by constructing it: its `__init__`'s tests and calls are the class's
 * too. Coverable lines are the lines of the function code objects in the file
 * (compiled by the recorder), each function's first line included (entered when
 * it is called); what ran at import (module and class bodies) is not counted.
 */
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import * as path from 'node:path';
import type { JsonValue } from '../model';
import { testArtifactId } from '../runners/types';
// A cycle with collect.ts (which calls collectPython at its end): only functions cross it, used at call time.
import { addSample, type FileLineCoverage, type RecordArtifact, type RecordedArtifact, type RecordingResult } from './collect';

interface PyTest {
  file: string;
  titlePath: string[];
}

type PyLine =
  | { type: 'py-start'; pid: number; python: string }
  | { type: 'py-off'; reason: string }
  | { type: 'py-file'; f: number; file: string; coverable: number[] | null }
  | { type: 'py-code'; f: number; c: number; line: number; name: string; lines?: number[] }
  | { type: 'py-run'; test: PyTest | null; calls: [number, number][] }
  | { type: 'py-lines'; f: number; lines: number[] }
  | { type: 'py-call'; c: number; sample: { args: JsonValue; result?: JsonValue; error?: JsonValue; durationNs: number; mutated: boolean } };

/** Where a code object of one process belongs. */
interface CodeTarget {
  /** The artifact the code is mapped to. */
  artifact?: RecordArtifact;
  /** Whether it is the artifact's own function (counts calls, gives samples). */
  own: boolean;
  /** For an own `__init__`: the class it constructs. */
  constructs?: string;
}

/** The recorder's NDJSON files in `dir`. */
function pythonFiles(dir: string): string[] {
  return existsSync(dir) ? readdirSync(dir).filter((f) => /^py-.*\.ndjson$/.test(f)).sort() : [];
}

function linesOf(file: string): string[] {
  return readFileSync(file, 'utf8').split('\n');
}

/** The artifact's own name: the last segment of its qualified name, without the `~2` of a redefinition. */
function shortName(a: RecordArtifact): string {
  const qualified = a.id.slice(a.file.length + 1).replace(/~\d+$/, '');
  return qualified.split(/\.| > /).pop() ?? qualified;
}

/** Why Python recording stayed out or stopped in some process of the run (the recorder's `py-off` lines). */
export function pythonRecordingNotes(dir: string): string[] {
  const notes = new Set<string>();
  for (const name of pythonFiles(dir)) {
    for (const line of linesOf(path.join(dir, name))) {
      if (!line.includes('"py-off"')) continue;
      try {
        const rec = JSON.parse(line) as PyLine;
        if (rec.type === 'py-off') notes.add(rec.reason);
      } catch {
        // counted by collectPython
      }
    }
  }
  return [...notes];
}

/**
 * Adds what the pytest recorder wrote in `dir` to `result` (artifacts, files,
 * unmatched calls, bad lines). `root` and `artifacts` as for `collectRecording`.
 */
export function collectPython(dir: string, root: string, artifacts: RecordArtifact[], result: RecordingResult, maxSamples: number): void {
  const names = pythonFiles(dir);
  if (names.length === 0) return;
  const byFile = new Map<string, RecordArtifact[]>();
  const byId = new Map<string, RecordArtifact>();
  for (const a of artifacts) {
    const list = byFile.get(a.file) ?? [];
    list.push(a);
    byFile.set(a.file, list);
    byId.set(a.id, a);
  }
  const rel = (abs: string) => path.relative(root, abs).split(path.sep).join('/');
  const get = (id: string): RecordedArtifact => {
    let r = result.artifacts.get(id);
    if (!r) result.artifacts.set(id, (r = { tests: new Set(), fileScoped: new Set(), calls: 0, samples: [], sampledErrors: 0, coveredLines: 0, coverableLines: 0 }));
    return r;
  };
  /** 0-based line → the smallest artifact of the file whose lines contain it. */
  const artifactAt = (file: string, line: number): RecordArtifact | undefined => {
    let best: RecordArtifact | undefined;
    for (const a of byFile.get(file) ?? []) {
      if (a.range.start.line > line || a.range.end.line < line) continue;
      if (!best || a.range.end.line - a.range.start.line < best.range.end.line - best.range.start.line) best = a;
    }
    return best;
  };
  /** Per workspace-relative file, 1-based lines: coverable (static) and executed, over every process. */
  const coverable = new Map<string, Set<number>>();
  const runtimeCoverable = new Map<string, Set<number>>();
  const executed = new Map<string, Set<number>>();
  const addAll = (map: Map<string, Set<number>>, file: string, lines: number[]) => {
    const set = map.get(file) ?? new Set<number>();
    for (const l of lines) set.add(l);
    map.set(file, set);
  };

  for (const name of names) {
    const files = new Map<number, string>();
    const codes = new Map<number, CodeTarget>();
    for (const line of linesOf(path.join(dir, name))) {
      if (!line.trim()) continue;
      let rec: PyLine;
      try {
        rec = JSON.parse(line) as PyLine;
      } catch {
        result.badLines++;
        continue;
      }
      if (rec.type === 'py-file') {
        const file = rel(rec.file);
        files.set(rec.f, file);
        if (rec.coverable) addAll(coverable, file, rec.coverable);
      } else if (rec.type === 'py-code') {
        const file = files.get(rec.f);
        if (file === undefined) continue;
        if (rec.lines) addAll(runtimeCoverable, file, rec.lines);
        const artifact = artifactAt(file, rec.line - 1);
        const own = artifact !== undefined && shortName(artifact) === rec.name;
        const target: CodeTarget = { artifact, own };
        if (own && rec.name === '__init__' && artifact.id.endsWith('.__init__')) {
          const cls = artifact.id.slice(0, -'.__init__'.length);
          if (byId.has(cls)) target.constructs = cls;
        }
        codes.set(rec.c, target);
      } else if (rec.type === 'py-lines') {
        const file = files.get(rec.f);
        if (file !== undefined) addAll(executed, file, rec.lines);
      } else if (rec.type === 'py-run') {
        const testId = rec.test?.file ? testArtifactId({ file: rel(rec.test.file), titlePath: rec.test.titlePath ?? [] }) : undefined;
        for (const [c, n] of rec.calls) {
          const target = codes.get(c);
          if (!target?.artifact) continue;
          for (const id of [target.artifact.id, ...(target.constructs ? [target.constructs] : [])]) {
            const r = get(id);
            if (testId) r.tests.add(testId);
            if (target.own) r.calls += n;
          }
        }
      } else if (rec.type === 'py-call') {
        const target = codes.get(rec.c);
        if (!target?.artifact || !target.own) {
          result.unmatchedCalls++;
          continue;
        }
        addSample(get(target.artifact.id), rec.sample, maxSamples);
      }
    }
  }

  for (const [file, lines] of runtimeCoverable) if (!coverable.has(file)) coverable.set(file, lines);
  for (const [file, lines] of coverable) {
    const inArtifacts = [...lines].map((l) => l - 1).filter((l) => (byFile.get(file) ?? []).some((a) => a.range.start.line <= l && l <= a.range.end.line));
    if (inArtifacts.length === 0) continue;
    const ran = executed.get(file) ?? new Set<number>();
    const sorted = inArtifacts.sort((x, y) => x - y);
    const cov: FileLineCoverage = { covered: sorted.filter((l) => ran.has(l + 1)), uncovered: sorted.filter((l) => !ran.has(l + 1)) };
    result.files.set(file, cov);
  }
  for (const [id, r] of result.artifacts) {
    const a = byId.get(id);
    const lines = a && coverable.get(a.file);
    if (!a || !lines) continue;
    const ran = executed.get(a.file) ?? new Set<number>();
    const own = [...lines].filter((l) => a.range.start.line <= l - 1 && l - 1 <= a.range.end.line);
    r.coverableLines = own.length;
    r.coveredLines = own.filter((l) => ran.has(l)).length;
  }
}
