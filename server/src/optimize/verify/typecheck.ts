/**
 * Step `typecheck` (TypeScript files): the file with the candidate spliced in is
 * type-checked in the project's context, and only errors the original file did not
 * already have count (diagnostics of the original and of the candidate's file are
 * compared by code and message, positions ignored, as a multiset).
 *
 * The compiler is the workspace's own `typescript` when it resolves from the workspace
 * folder, else the one Crucible was installed with. Options come from `tsconfig.json` at
 * the workspace root when there is one (its `.d.ts` files are roots too, for global
 * declarations), forced to `noEmit` and `skipLibCheck`. One program for the original,
 * then one for the candidate built from it (`oldProgram`: every other source file and
 * the lib files are reused), and only the target file is checked. Parsed lib and
 * dependency declaration files are cached per process across verifications.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import * as path from 'node:path';
import type * as TS from 'typescript';

export interface TypecheckResult {
  ok: boolean;
  /** The candidate's new errors, `line:col message` (1-based, in the candidate's file). */
  newErrors: string[];
  /** Which compiler ran (`typescript 5.9.3 from the workspace`). */
  compiler: string;
  /** Set when no check could be made (no compiler, unreadable tsconfig): not the candidate's fault. */
  skipped?: string;
}

const compilers = new Map<string, { ts: typeof TS; from: string }>();

function loadTypescript(root: string): { ts: typeof TS; from: string } | undefined {
  const tries: [string, string][] = [
    [path.join(root, 'noop.js'), 'the workspace'],
    [__filename, 'Crucible'],
  ];
  for (const [base, from] of tries) {
    let resolved: string;
    try {
      resolved = createRequire(base).resolve('typescript');
    } catch {
      continue;
    }
    let hit = compilers.get(resolved);
    if (!hit) {
      try {
        // A runtime require of a resolved path: the bundle does not carry its own typescript.
        hit = { ts: createRequire(base)(resolved) as typeof TS, from };
      } catch {
        continue;
      }
      compilers.set(resolved, hit);
    }
    return hit;
  }
  return undefined;
}

/** Source files that do not change between verifications (lib files, node_modules declarations), per compiler and options. */
const sharedFiles = new Map<string, Map<string, { text: string; sf: TS.SourceFile }>>();

export function typecheckCandidate(root: string, file: string, originalText: string, candidateText: string): TypecheckResult {
  const loaded = loadTypescript(root);
  if (!loaded) return { ok: true, newErrors: [], compiler: 'none', skipped: 'no typescript compiler found (neither in the workspace nor in Crucible)' };
  const { ts, from } = loaded;
  const compiler = `typescript ${ts.version} from ${from}`;
  const abs = path.resolve(root, file);

  let options: TS.CompilerOptions = { target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.CommonJS, moduleResolution: ts.ModuleResolutionKind.Node10, esModuleInterop: true, allowJs: false };
  let roots: string[] = [];
  const configFile = path.join(root, 'tsconfig.json');
  if (ts.sys.fileExists(configFile)) {
    const read = ts.readConfigFile(configFile, ts.sys.readFile);
    if (read.error) return { ok: true, newErrors: [], compiler, skipped: `tsconfig.json could not be read: ${ts.flattenDiagnosticMessageText(read.error.messageText, ' ')}` };
    const parsed = ts.parseJsonConfigFileContent(read.config, ts.sys, root, undefined, configFile);
    options = parsed.options;
    roots = parsed.fileNames.filter((f) => /\.d\.[cm]?ts$/.test(f));
  }
  options = { ...options, noEmit: true, skipLibCheck: true, incremental: false, composite: false, declaration: false, declarationMap: false, sourceMap: false, tsBuildInfoFile: undefined };
  roots = [abs, ...roots.filter((f) => path.resolve(f) !== abs)];

  const cacheKey = `${ts.version}\0${JSON.stringify(options)}`;
  let shared = sharedFiles.get(cacheKey);
  if (!shared) sharedFiles.set(cacheKey, (shared = new Map()));
  const base = ts.createCompilerHost(options, true);
  const makeHost = (targetText: string): TS.CompilerHost => ({
    ...base,
    getSourceFile(fileName, languageVersion, onError, shouldCreate) {
      const resolved = path.resolve(fileName);
      if (resolved === abs) return ts.createSourceFile(fileName, targetText, languageVersion, true);
      const cacheable = resolved.includes(`${path.sep}node_modules${path.sep}`) || resolved.startsWith(path.dirname(ts.getDefaultLibFilePath(options)));
      if (cacheable) {
        let text: string;
        try {
          text = readFileSync(resolved, 'utf8');
        } catch {
          return base.getSourceFile(fileName, languageVersion, onError, shouldCreate);
        }
        const hit = shared!.get(resolved);
        if (hit && hit.text === text) return hit.sf;
        const sf = ts.createSourceFile(fileName, text, languageVersion, false);
        shared!.set(resolved, { text, sf });
        return sf;
      }
      return base.getSourceFile(fileName, languageVersion, onError, shouldCreate);
    },
    fileExists: (f) => path.resolve(f) === abs || base.fileExists(f),
    readFile: (f) => (path.resolve(f) === abs ? targetText : base.readFile(f)),
    writeFile: () => undefined,
  });

  const errorsOf = (program: TS.Program): { key: string; text: string }[] => {
    const sf = program.getSourceFile(abs);
    if (!sf) return [{ key: 'missing', text: `${file} is not part of the program` }];
    const diags = [...program.getSyntacticDiagnostics(sf), ...program.getSemanticDiagnostics(sf)].filter((d) => d.category === ts.DiagnosticCategory.Error);
    return diags.map((d) => {
      const message = ts.flattenDiagnosticMessageText(d.messageText, ' ');
      const at = d.file && d.start !== undefined ? d.file.getLineAndCharacterOfPosition(d.start) : undefined;
      return { key: `TS${d.code} ${message}`, text: `${at ? `${at.line + 1}:${at.character + 1} ` : ''}TS${d.code}: ${message}` };
    });
  };

  const before = ts.createProgram({ rootNames: roots, options, host: makeHost(originalText) });
  const originalErrors = errorsOf(before);
  const after = ts.createProgram({ rootNames: roots, options, host: makeHost(candidateText), oldProgram: before });
  const candidateErrors = errorsOf(after);

  const remaining = new Map<string, number>();
  for (const e of originalErrors) remaining.set(e.key, (remaining.get(e.key) ?? 0) + 1);
  const newErrors: string[] = [];
  for (const e of candidateErrors) {
    const n = remaining.get(e.key) ?? 0;
    if (n > 0) remaining.set(e.key, n - 1);
    else newErrors.push(e.text);
  }
  return { ok: newErrors.length === 0, newErrors, compiler };
}
