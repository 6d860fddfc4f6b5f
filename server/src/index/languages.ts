/**
 * Loads web-tree-sitter and the grammar WASM files once per process (or worker).
 * WASM, not the native addon: the VSIX must not carry a binary that crashes on some CPUs.
 */
import { existsSync } from 'node:fs';
import * as path from 'node:path';
import { Language, Parser } from 'web-tree-sitter';
import type { ArtifactLanguage } from '../protocol';

const grammarFiles: Record<ArtifactLanguage, string> = {
  typescript: 'tree-sitter-typescript.wasm',
  tsx: 'tree-sitter-tsx.wasm',
  javascript: 'tree-sitter-javascript.wasm',
  python: 'tree-sitter-python.wasm',
};

/** Where the grammar came from in a source checkout (tests run from source, the bundle from dist/wasm). */
const sourceLocations: Record<string, string> = {
  'web-tree-sitter.wasm': 'web-tree-sitter/web-tree-sitter.wasm',
  'tree-sitter-typescript.wasm': 'tree-sitter-typescript/tree-sitter-typescript.wasm',
  'tree-sitter-tsx.wasm': 'tree-sitter-typescript/tree-sitter-tsx.wasm',
  'tree-sitter-javascript.wasm': 'tree-sitter-javascript/tree-sitter-javascript.wasm',
  'tree-sitter-python.wasm': 'tree-sitter-python/tree-sitter-python.wasm',
};

const extensionLanguages: Record<string, ArtifactLanguage> = {
  '.ts': 'typescript',
  '.mts': 'typescript',
  '.cts': 'typescript',
  '.tsx': 'tsx',
  '.js': 'javascript',
  '.mjs': 'javascript',
  '.cjs': 'javascript',
  '.jsx': 'javascript',
  '.py': 'python',
};

export function languageForPath(file: string): ArtifactLanguage | undefined {
  if (file.endsWith('.d.ts') || file.endsWith('.d.mts') || file.endsWith('.d.cts')) return undefined; // declarations only: no bodies to evidence
  return extensionLanguages[path.extname(file).toLowerCase()];
}

export const supportedExtensions = Object.keys(extensionLanguages);

function locateWasm(name: string): string {
  const candidates = [
    path.join(__dirname, 'wasm', name), // bundled: dist/wasm next to dist/*.js
    path.join(__dirname, '..', 'wasm', name),
  ];
  for (const c of candidates) if (existsSync(c)) return c;
  return require.resolve(sourceLocations[name]);
}

export interface Parsers {
  parserFor(language: ArtifactLanguage): Parser;
}

let loading: Promise<Parsers> | undefined;

/** One parser per language, created once; web-tree-sitter's init is process-wide. */
export function loadParsers(): Promise<Parsers> {
  loading ??= (async () => {
    await Parser.init({ locateFile: () => locateWasm('web-tree-sitter.wasm') });
    const parsers = new Map<ArtifactLanguage, Parser>();
    for (const [lang, file] of Object.entries(grammarFiles) as [ArtifactLanguage, string][]) {
      const language = await Language.load(locateWasm(file));
      const parser = new Parser();
      parser.setLanguage(language);
      parsers.set(lang, parser);
    }
    return { parserFor: (language) => parsers.get(language)! };
  })();
  return loading;
}
