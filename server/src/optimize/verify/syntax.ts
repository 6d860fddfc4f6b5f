/**
 * Step 1 of verification (`parse`): the candidate, spliced into its file, parses
 * without ERROR or MISSING nodes, and its text is still exactly one function or method
 * with the original's qualified name, kind and exportedness. Also reads the
 * parameters of a function (names, TypeScript annotations, defaults) for input
 * generation when no call was recorded.
 */
import type { Node } from 'web-tree-sitter';
import type { ArtifactLanguage } from '../../protocol';
import { extractFile, type ArtifactRecord, type Range } from '../../index/extract';
import { loadParsers } from '../../index/languages';
import type { OptimizeTarget } from '../types';
import type { ParamInfo } from '../../evidence/inputs';

/** The file's text with `range` replaced by `code`. */
export function splice(fileText: string, range: Range, code: string): string {
  const start = offsetAt(fileText, range.start.line, range.start.character);
  const end = offsetAt(fileText, range.end.line, range.end.character);
  return fileText.slice(0, start) + code + fileText.slice(end);
}

/** UTF-16 offset of a 0-based line/character position (characters in UTF-16 code units, as the extractor's ranges count them). */
export function offsetAt(text: string, line: number, character: number): number {
  let offset = 0;
  for (let l = 0; l < line; l++) {
    const nl = text.indexOf('\n', offset);
    if (nl < 0) return text.length;
    offset = nl + 1;
  }
  return Math.min(text.length, offset + character);
}

export interface ParseCheck {
  ok: boolean;
  reason?: string;
  /** The candidate function's parameters (when ok). */
  params?: ParamInfo[];
  /** Whether the function is a generator / async (from its syntax). */
  generator?: boolean;
  async?: boolean;
}

const functionTypes = new Set(['function_declaration', 'generator_function_declaration', 'function_expression', 'function', 'generator_function', 'arrow_function', 'method_definition']);

/** Parses the file with the candidate spliced in and checks it is the same one function. */
export async function checkParse(target: OptimizeTarget, code: string): Promise<ParseCheck> {
  const parsers = await loadParsers();
  const language: ArtifactLanguage = target.language;
  const text = splice(target.fileText, target.range, code);
  const start = offsetAt(target.fileText, target.range.start.line, target.range.start.character);
  const end = start + code.length;

  const tree = parsers.parserFor(language).parse(text);
  if (!tree) return { ok: false, reason: 'the candidate could not be parsed' };
  try {
    const problem = firstError(tree.rootNode, start, end, text);
    if (problem) return { ok: false, reason: `syntax error in the candidate at ${problem}` };
    const originalTree = parsers.parserFor(language).parse(target.fileText);
    const originalExported = originalTree ? exportedAt(originalTree.rootNode, offsetAt(target.fileText, target.range.start.line, target.range.start.character), target.name, target.fileText) : false;
    originalTree?.delete();

    // Same artifact: extraction of the new file must find the target's qualified name
    // exactly at the candidate's place, and nothing else defined at the candidate's top level.
    const extraction = extractFile(parsers, target.file, language, text);
    const startPos = target.range.start;
    const inRange = extraction.artifacts.filter((a) => within(text, a.range, start, end));
    const top = inRange.filter((a) => !inRange.some((b) => b !== a && contains(text, b.range, a.range)));
    const defs = top.filter((a) => a.kind === 'function' || a.kind === 'method' || a.kind === 'class');
    if (defs.length === 0) return { ok: false, reason: `the candidate does not define a function (expected ${target.kind} ${target.qualifiedName})` };
    if (defs.length > 1) return { ok: false, reason: `the candidate defines ${defs.length} functions or classes (${defs.map((d) => d.qualifiedName).join(', ')}): it must be the one ${target.kind} ${target.qualifiedName} (put helpers inside it)` };
    const def = defs[0];
    if (def.qualifiedName !== target.qualifiedName) return { ok: false, reason: `the candidate defines ${def.qualifiedName}, not ${target.qualifiedName}: the name must stay the same` };
    if (def.kind !== target.kind) return { ok: false, reason: `the candidate is a ${def.kind}, the original a ${target.kind}` };
    if (def.range.start.line !== startPos.line || def.range.start.character !== startPos.character) {
      return { ok: false, reason: 'the candidate has text before its declaration: it must be the declaration itself, as the original range covers it' };
    }
    const nowExported = exportedAt(tree.rootNode, start, target.name, text);
    if (nowExported !== originalExported) return { ok: false, reason: nowExported ? `the candidate exports ${target.name}, the original does not` : `the candidate no longer exports ${target.name}` };

    const fnNode = functionNodeAt(tree.rootNode, start, end);
    return {
      ok: true,
      params: fnNode ? paramsOf(fnNode) : [],
      generator: fnNode ? /generator/.test(fnNode.type) || fnNode.children.some((c) => c?.type === '*') : false,
      async: fnNode ? fnNode.children.some((c) => c?.type === 'async') : false,
    };
  } finally {
    tree.delete();
  }
}

/** The parameters of the function artifact in `text` at `range` (for the original, when there is nothing else to go on). */
export async function paramsAt(target: OptimizeTarget): Promise<ParamInfo[]> {
  const parsers = await loadParsers();
  const tree = parsers.parserFor(target.language).parse(target.fileText);
  if (!tree) return [];
  try {
    const start = offsetAt(target.fileText, target.range.start.line, target.range.start.character);
    const fn = functionNodeAt(tree.rootNode, start, start + target.code.length);
    return fn ? paramsOf(fn) : [];
  } finally {
    tree.delete();
  }
}

function within(text: string, r: Range, start: number, end: number): boolean {
  const a = offsetAt(text, r.start.line, r.start.character);
  const b = offsetAt(text, r.end.line, r.end.character);
  return a >= start && b <= end;
}

function contains(text: string, outer: Range, inner: Range): boolean {
  const a = offsetAt(text, outer.start.line, outer.start.character);
  const b = offsetAt(text, outer.end.line, outer.end.character);
  const c = offsetAt(text, inner.start.line, inner.start.character);
  const d = offsetAt(text, inner.end.line, inner.end.character);
  return a <= c && d <= b && (a < c || d < b);
}

/** `line:col` (1-based) of the first ERROR or MISSING node overlapping [start, end), or of one anywhere the original had none. */
function firstError(root: Node, start: number, end: number, text: string): string | undefined {
  if (!root.hasError) return undefined;
  let found: Node | undefined;
  const visit = (n: Node) => {
    if (found) return;
    if (n.endIndex < start || n.startIndex > end) return;
    if (n.isError || n.isMissing) {
      found = n;
      return;
    }
    if (!n.hasError) return;
    for (const c of n.children) if (c) visit(c);
  };
  visit(root);
  if (!found) return undefined;
  const line = found.startPosition.row + 1;
  const col = found.startPosition.column + 1;
  const near = text.slice(found.startIndex, Math.min(found.endIndex, found.startIndex + 40)).split('\n')[0];
  return `line ${line}, column ${col}${found.isMissing ? ` (missing ${found.type})` : near ? ` near \`${near}\`` : ''}`;
}

/** Smallest function-like node covering [start, end) (the declaration itself or its value). */
function functionNodeAt(root: Node, start: number, end: number): Node | undefined {
  let node: Node | null = root.descendantForIndex(start, Math.max(start, end - 1));
  // Walk down from the declaration to the function value when the range is a declarator/pair/assignment.
  const down = (n: Node): Node | undefined => {
    if (functionTypes.has(n.type)) return n;
    for (const field of ['value', 'right']) {
      const v = n.childForFieldName(field);
      if (v && functionTypes.has(v.type)) return v;
    }
    for (const c of n.namedChildren) {
      if (c && c.startIndex >= start && c.endIndex <= end && functionTypes.has(c.type)) return c;
    }
    return undefined;
  };
  while (node) {
    if (node.startIndex <= start && node.endIndex >= end) {
      const f = down(node);
      if (f) return f;
    }
    node = node.parent;
  }
  return undefined;
}

function paramsOf(fn: Node): ParamInfo[] {
  const single = fn.childForFieldName('parameter');
  if (single) return [{ name: single.text, rest: false, optional: false }];
  const params = fn.childForFieldName('parameters');
  if (!params) return [];
  const out: ParamInfo[] = [];
  for (const p of params.namedChildren) {
    if (!p || p.type === 'comment') continue;
    let target: Node = p;
    let type: string | undefined;
    let defaultText: string | undefined;
    const optional = p.type === 'optional_parameter';
    if (p.type === 'required_parameter' || p.type === 'optional_parameter') {
      target = p.childForFieldName('pattern') ?? p;
      type = p.childForFieldName('type')?.text.replace(/^:\s*/, '');
      defaultText = p.childForFieldName('value')?.text;
    }
    if (target.type === 'assignment_pattern') {
      defaultText = target.childForFieldName('right')?.text;
      target = target.childForFieldName('left') ?? target;
    }
    if (target.type === 'this') continue;
    const rest = target.type === 'rest_pattern';
    const name = rest ? target.text.replace(/^\.\.\./, '') : target.text;
    out.push({ name, ...(type ? { type } : {}), ...(defaultText !== undefined ? { defaultText } : {}), rest, optional: optional || defaultText !== undefined });
  }
  return out;
}

/**
 * Whether the declaration starting at `offset` is exported: inside an `export` statement,
 * or its name is assigned to `exports.x`/`module.exports`(`.x`, `= { x }`, `= x`) or
 * listed in an `export { … }` clause of the file.
 */
function exportedAt(root: Node, offset: number, name: string, text: string): boolean {
  let node: Node | null = root.descendantForIndex(offset);
  while (node) {
    if (node.type === 'export_statement') return true;
    node = node.parent;
  }
  const id = name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  return new RegExp(`\\bexport\\s*\\{[^}]*\\b${id}\\b`).test(text) || new RegExp(`\\b(module\\.)?exports\\.${id}\\s*=|\\bmodule\\.exports\\s*=\\s*(\\{[^}]*\\b${id}\\b|${id}\\b)`).test(text);
}

export type { ArtifactRecord };
