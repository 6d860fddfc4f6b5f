/** Artifacts as editors see them: `crucible/artifacts` entries and workspace symbols. */
import { pathToFileURL } from 'node:url';
import * as path from 'node:path';
import { SymbolKind, type SymbolInformation } from 'vscode-languageserver';
import type { ArtifactRecord } from '../index/extract';
import type { FolderEngine } from '../folder';
import type { ArtifactInfo } from '../protocol';

export function fileUri(engine: FolderEngine, rel: string): string {
  return pathToFileURL(path.join(engine.root, rel)).toString();
}

export function artifactInfo(engine: FolderEngine, a: ArtifactRecord): ArtifactInfo {
  const info: ArtifactInfo = { ...a, uri: fileUri(engine, a.file), calls: engine.index.resolveCalls(a) };
  const evidence = engine.evidenceSummary(a);
  if (evidence) info.evidence = evidence;
  return info;
}

const symbolKinds: Record<ArtifactRecord['kind'], SymbolKind> = {
  function: SymbolKind.Function,
  method: SymbolKind.Method,
  class: SymbolKind.Class,
  test: SymbolKind.Event,
  suite: SymbolKind.Module,
};

export function workspaceSymbols(engine: FolderEngine, query: string): SymbolInformation[] {
  return engine.index.symbols(query).map((a) => ({
    name: a.name,
    kind: symbolKinds[a.kind],
    containerName: a.parent ? engine.index.get(a.parent)?.qualifiedName : a.file,
    location: { uri: fileUri(engine, a.file), range: a.range },
  }));
}
