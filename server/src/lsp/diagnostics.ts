/**
 * Crucible's diagnostics for one file: where the index stops parsing it, and its drift
 * events. Information, not Error, for parsing: the editor's own language service owns
 * syntax errors.
 */
import { type Diagnostic, DiagnosticSeverity } from 'vscode-languageserver';
import { type DriftEvent, isRegression } from '../drift/detect';
import type { FolderEngine } from '../folder';

export const driftTitles: Record<DriftEvent['kind'], string> = {
  'test-failure': 'Test failing since a code change',
  slowdown: 'Slower than before',
  'unverified-change': 'Changed since its tests last passed',
  'coverage-drop': 'Coverage dropped',
  'error-rate': 'More calls throw',
  flaky: 'Flaky test (outcome changed without a code change)',
};

export function fileDiagnostics(engine: FolderEngine, rel: string): Diagnostic[] {
  const parse = parseDiagnostic(engine, rel);
  return [...(parse ? [parse] : []), ...driftDiagnostics(engine, rel)];
}

/** Where a file stops parsing, Crucible's index of it is partial: say so on that line. */
function parseDiagnostic(engine: FolderEngine, rel: string): Diagnostic | undefined {
  const rec = engine.index.fileRecord(rel);
  if (!engine.settings.diagnostics.parseErrors || !rec || rec.parseErrors === 0) return undefined;
  const start = rec.firstError?.start ?? { line: 0, character: 0 };
  const end = rec.firstError && rec.firstError.end.line === start.line ? rec.firstError.end : { line: start.line + 1, character: 0 };
  const n = rec.parseErrors;
  return {
    range: { start, end },
    severity: DiagnosticSeverity.Information,
    source: 'crucible',
    code: 'partial-parse',
    message: `Crucible indexed this file only partly: it cannot parse the code here (${n} syntax error${n === 1 ? '' : 's'} in the file). Functions in the unparsed part may be missing from the index until it parses.`,
  };
}

/** Drift events as diagnostics on the artifact's name: Warning for regressions, Information otherwise. */
function driftDiagnostics(engine: FolderEngine, rel: string): Diagnostic[] {
  if (!engine.settings.diagnostics.drift) return [];
  const out: Diagnostic[] = [];
  for (const e of engine.drift.get(rel) ?? []) {
    const a = engine.index.get(e.artifact);
    if (!a) continue;
    out.push({
      range: a.selectionRange,
      severity: isRegression(e) ? DiagnosticSeverity.Warning : DiagnosticSeverity.Information,
      source: 'crucible',
      code: e.kind,
      message: `${driftTitles[e.kind]}: ${e.detail}`,
    });
  }
  return out;
}

/** Files that may carry a diagnostic now: parse errors and drift (plus those published before, to clear them). */
export function filesWithDiagnostics(engine: FolderEngine, published: Iterable<string>): Set<string> {
  const files = new Set(published);
  for (const rec of engine.index.store.all()) if (rec.parseErrors > 0) files.add(rec.file);
  for (const rel of engine.drift.keys()) files.add(rel);
  return files;
}
