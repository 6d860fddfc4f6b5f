/**
 * Shared tree-sitter helpers for the rule agents: parse a target's text (wrapped so a
 * method or a `name = () => …` declarator parses on its own), look at syntax nodes,
 * and splice text edits back into the artifact's text.
 *
 * Every rule works on `OptimizeTarget.code` only; the output of `Edits.apply` is the
 * whole replacement text for the artifact's range (the wrapper is cut off again).
 */
import type { Node, Tree } from 'web-tree-sitter';
import { loadParsers } from '../../index/languages';
import type { ArtifactLanguage } from '../../protocol';
import type { Candidate, Declined, Proposal } from '../../agents/contract';
import type { OptimizeAgent, OptimizeTarget } from '../types';

export const jsLanguages: readonly ArtifactLanguage[] = ['typescript', 'tsx', 'javascript'];

const functionTypes = new Set(['function_declaration', 'generator_function_declaration', 'function_expression', 'function', 'arrow_function', 'method_definition', 'generator_function']);
const loopTypes = new Set(['for_statement', 'for_in_statement', 'while_statement', 'do_statement']);
/** Array methods whose callback runs once per element: its body is a loop body. */
export const iterationMethods = new Set(['map', 'filter', 'some', 'every', 'find', 'findIndex', 'findLast', 'findLastIndex', 'forEach', 'reduce', 'reduceRight', 'flatMap', 'sort']);
/** Array methods that change the array they are called on. */
export const mutatingArrayMethods = new Set(['push', 'pop', 'shift', 'unshift', 'splice', 'sort', 'reverse', 'fill', 'copyWithin']);
/** Methods of strings (and non-mutating array methods) that neither mutate nor depend on outside state. */
export const pureMethods = new Set([
  'trim', 'trimStart', 'trimEnd', 'toLowerCase', 'toUpperCase', 'normalize', 'replace', 'replaceAll', 'slice', 'substring', 'padStart', 'padEnd',
  'repeat', 'charAt', 'charCodeAt', 'codePointAt', 'startsWith', 'endsWith', 'includes', 'indexOf', 'lastIndexOf', 'at', 'split', 'concat', 'join', 'toString', 'toFixed',
]);
const pureGlobals = new Set(['Math', 'Number', 'String', 'Boolean', 'parseInt', 'parseFloat', 'isNaN', 'isFinite', 'BigInt']);

export interface Parsed {
  tree: Tree;
  /** The wrapped text; node indices refer to it. */
  text: string;
  /** Where the artifact's text starts and ends in `text`. */
  start: number;
  end: number;
  fn: Node;
  /** The name the function is called by (declaration, declarator, assignment or method name). */
  name?: string;
  params: Node;
  /** `statement_block`, or the expression of an expression-bodied arrow. */
  body: Node;
  ts: boolean;
  /** Leading whitespace of the artifact's first line in the file. */
  firstIndent: string;
  /** One indentation step as the function uses it. */
  unit: string;
  target: OptimizeTarget;
  /** The file's top-level helpers, for purity checks of calls. */
  helpers: HelperIndex;
}

const wrappers: [string, string][] = [
  ['', ''],
  ['let ', ';'],
  ['class __Wrap {\n', '\n}'],
  ['({\n', '\n})'],
];

/** Parses the target's code; a string is the reason it can't be worked on. */
export async function parseTarget(target: OptimizeTarget): Promise<Parsed | string> {
  if (!jsLanguages.includes(target.language)) return `${target.language} is not supported by the rule agents`;
  const parser = (await loadParsers()).parserFor(target.language);
  for (const [prefix, suffix] of wrappers) {
    const text = prefix + target.code + suffix;
    const tree = parser.parse(text);
    if (!tree) continue;
    if (tree.rootNode.hasError) {
      tree.delete();
      continue;
    }
    const fn = outermostFunction(tree.rootNode, prefix.length, prefix.length + target.code.length);
    const params = fn?.childForFieldName('parameters') ?? (fn?.childForFieldName('parameter') ? fn : undefined);
    const body = fn?.childForFieldName('body');
    if (!fn || !body || !params) {
      tree.delete();
      continue;
    }
    const line = target.fileText.split('\n')[target.range.start.line] ?? '';
    const firstIndent = /^[ \t]*/.exec(line)![0];
    const parsed: Parsed = {
      tree,
      text,
      start: prefix.length,
      end: prefix.length + target.code.length,
      fn,
      name: functionName(fn),
      params: fn.childForFieldName('parameters') ?? fn.childForFieldName('parameter')!,
      body,
      ts: target.language !== 'javascript',
      firstIndent,
      unit: '  ',
      target,
      helpers: HelperIndex.build(target.fileText, parser),
    };
    if (body.type === 'statement_block') {
      const first = body.namedChildren.find((c) => c.type !== 'comment');
      if (first) {
        const inner = indentAt(parsed, first.startIndex);
        const outer = indentAt(parsed, fn.startIndex);
        if (inner.startsWith(outer) && inner.length > outer.length) parsed.unit = inner.slice(outer.length);
      }
    }
    return parsed;
  }
  return 'the function does not parse on its own';
}

function outermostFunction(root: Node, start: number, end: number): Node | undefined {
  let found: Node | undefined;
  const visit = (n: Node): void => {
    if (found || n.endIndex <= start || n.startIndex >= end) return;
    if (functionTypes.has(n.type)) {
      found = n;
      return;
    }
    for (const c of n.namedChildren) visit(c);
  };
  visit(root);
  return found;
}

function functionName(fn: Node): string | undefined {
  const own = fn.childForFieldName('name');
  if (own && (own.type === 'identifier' || own.type === 'property_identifier')) return own.text;
  const parent = fn.parent;
  if (parent?.type === 'variable_declarator') return parent.childForFieldName('name')?.text;
  if (parent?.type === 'assignment_expression') {
    const left = parent.childForFieldName('left');
    if (left?.type === 'identifier') return left.text;
  }
  return undefined;
}

/** Runs `work` on the parsed target and frees the tree. */
export async function withParsed(target: OptimizeTarget, agent: string, work: (p: Parsed) => string | { code: string; summary: string }): Promise<Proposal[]> {
  const parsed = await parseTarget(target);
  if (typeof parsed === 'string') return [declined(agent, target, parsed)];
  try {
    const out = work(parsed);
    if (typeof out === 'string') return [declined(agent, target, out)];
    const candidate: Candidate = { agent, target: target.id, code: out.code, summary: out.summary };
    return [candidate];
  } finally {
    parsed.tree.delete();
    parsed.helpers.dispose();
  }
}

export function declined(agent: string, target: OptimizeTarget, reason: string): Declined {
  return { agent, target: target.id, reason };
}

/** A rule agent: `apply` returns the rewrite or the reason it declines. */
export interface RuleSpec {
  name: string;
  description: string;
  /** The semantic conditions under which the rewrite is equivalent. */
  conditions: string;
  apply(p: Parsed): string | { code: string; summary: string };
}

export interface RuleAgent extends OptimizeAgent {
  conditions: string;
}

export function ruleAgent(spec: RuleSpec): RuleAgent {
  const id = `rule:${spec.name}`;
  return {
    id,
    kind: 'rule',
    description: spec.description,
    conditions: spec.conditions,
    languages: jsLanguages,
    async propose(target, signal) {
      if (signal?.aborted) return [declined(id, target, 'aborted')];
      try {
        return await withParsed(target, id, (p) => spec.apply(p));
      } catch (err) {
        return [declined(id, target, `internal error: ${(err as Error).message}`)];
      }
    },
  };
}

// ---- text edits ----------------------------------------------------------------------

interface Edit {
  start: number;
  end: number;
  text: string;
  seq: number;
}

/** Non-overlapping replacements and insertions on the wrapped text. */
export class Edits {
  private readonly list: Edit[] = [];
  constructor(private readonly p: Parsed) {}

  replace(start: number, end: number, text: string): void {
    this.list.push({ start, end, text, seq: this.list.length });
  }
  replaceNode(node: Node, text: string): void {
    this.replace(node.startIndex, node.endIndex, text);
  }
  insert(at: number, text: string): void {
    this.replace(at, at, text);
  }
  get size(): number {
    return this.list.length;
  }

  /** The artifact's new text. Throws on overlapping edits (a rule bug). */
  apply(): string {
    return this.applyRange(this.p.start, this.p.end);
  }

  /** The new text of `[start, end)` of the wrapped text, with the edits inside it applied. */
  applyRange(start: number, end: number): string {
    const inside = this.list.filter((e) => e.start >= start && e.end <= end);
    const sorted = inside.sort((a, b) => a.start - b.start || (a.end - a.start) - (b.end - b.start) || a.seq - b.seq);
    let out = '';
    let pos = start;
    for (const e of sorted) {
      if (e.start < pos) throw new Error('overlapping edits');
      out += this.p.text.slice(pos, e.start) + e.text;
      pos = e.end;
    }
    return out + this.p.text.slice(pos, end);
  }
}

// ---- layout ----------------------------------------------------------------------------

/** Leading whitespace of the line holding `index` (the file's indentation on the artifact's first line). */
export function indentAt(p: Parsed, index: number): string {
  const lineStart = p.text.lastIndexOf('\n', index - 1) + 1;
  if (lineStart <= p.start) return p.firstIndent;
  return /^[ \t]*/.exec(p.text.slice(lineStart))![0];
}

/** Adds `extra` after every newline of `text` (for text moved one level deeper). */
export function reindent(text: string, extra: string): string {
  return text.replace(/\n(?=[^\n])/g, `\n${extra}`);
}

/** A name that appears nowhere in the function's text, so it can't shadow or be shadowed. */
export function freshName(p: Parsed, base: string, taken: Set<string> = new Set()): string {
  const clean = base.replace(/[^A-Za-z0-9_$]/g, '') || 'tmp';
  for (let i = 0; ; i++) {
    const name = i === 0 ? clean : `${clean}${i + 1}`;
    if (!taken.has(name) && !new RegExp(`(^|[^A-Za-z0-9_$])${name.replace(/\$/g, '\\$')}($|[^A-Za-z0-9_$])`).test(p.target.code)) {
      taken.add(name);
      return name;
    }
  }
}

// ---- syntax queries --------------------------------------------------------------------

export function descendants(node: Node, types: string | string[]): Node[] {
  return node.descendantsOfType(types);
}

export function isLoop(node: Node): boolean {
  return loopTypes.has(node.type);
}

export function isFunction(node: Node): boolean {
  return functionTypes.has(node.type);
}

/** The callback of `xs.map(cb)`, `xs.filter(cb)`, …: a function argument of an iteration method. */
export function iterationCall(fn: Node): Node | undefined {
  if (fn.type !== 'arrow_function' && fn.type !== 'function_expression' && fn.type !== 'function') return undefined;
  const call = fn.parent?.parent;
  if (fn.parent?.type !== 'arguments' || call?.type !== 'call_expression') return undefined;
  const callee = call.childForFieldName('function');
  const prop = callee?.type === 'member_expression' ? callee.childForFieldName('property')?.text : undefined;
  return prop && iterationMethods.has(prop) ? call : undefined;
}

/** Loops and iteration callbacks between `node` and the target function, innermost first. */
export function enclosingLoops(p: Parsed, node: Node, callbacks = true): Node[] {
  const out: Node[] = [];
  for (let n = node.parent; n && n.id !== p.fn.id; n = n.parent) {
    if (isLoop(n)) {
      // The right-hand side of `for (x of xs)` and a for's initializer run once, not per iteration.
      const once = n.type === 'for_in_statement' ? n.childForFieldName('right') : n.type === 'for_statement' ? n.childForFieldName('initializer') : null;
      if (once && within(node, once)) continue;
      out.push(n);
    } else if (isFunction(n)) {
      if (callbacks && iterationCall(n)) out.push(n);
      else return out; // a nested function of another kind: stop, it runs who knows when
    }
  }
  return out;
}

export function within(node: Node, outer: Node): boolean {
  return node.startIndex >= outer.startIndex && node.endIndex <= outer.endIndex;
}

/** Identifier nodes (references and declarations) named `name` inside `scope`. */
export function identifiers(scope: Node, name: string): Node[] {
  return descendants(scope, ['identifier', 'shorthand_property_identifier', 'shorthand_property_identifier_pattern']).filter((n) => n.text === name);
}

/** Whether an identifier node declares (rather than uses) its name. */
export function isDeclaration(id: Node): boolean {
  if (id.type === 'shorthand_property_identifier_pattern') return true;
  const parent = id.parent;
  if (!parent) return false;
  switch (parent.type) {
    case 'variable_declarator':
      return parent.childForFieldName('name')?.id === id.id;
    case 'required_parameter':
    case 'optional_parameter':
      return parent.childForFieldName('pattern')?.id === id.id;
    case 'formal_parameters':
    case 'rest_pattern':
    case 'array_pattern':
      return true;
    case 'pair_pattern':
      return parent.childForFieldName('value')?.id === id.id;
    case 'assignment_pattern':
      return parent.childForFieldName('left')?.id === id.id && parent.parent?.type !== 'assignment_expression';
    case 'arrow_function':
      return parent.childForFieldName('parameter')?.id === id.id;
    case 'function_declaration':
    case 'function_expression':
    case 'function':
    case 'class_declaration':
    case 'catch_clause':
      return true;
    case 'for_in_statement':
      return parent.childForFieldName('left')?.id === id.id && parent.children.some((c) => c.type === 'const' || c.type === 'let' || c.type === 'var');
    default:
      return false;
  }
}

export function declaredIn(scope: Node, name: string): boolean {
  return identifiers(scope, name).some(isDeclaration);
}

/** Whether `name` is assigned (`=`, `+=`, `++`, for-in/of target) anywhere in `scope`. */
export function assignedIn(scope: Node, name: string): boolean {
  for (const id of identifiers(scope, name)) {
    const parent = id.parent!;
    if ((parent.type === 'assignment_expression' || parent.type === 'augmented_assignment_expression') && parent.childForFieldName('left')?.id === id.id) return true;
    if (parent.type === 'update_expression') return true;
    if (parent.type === 'for_in_statement' && parent.childForFieldName('left')?.id === id.id && !isDeclaration(id)) return true;
    // Destructuring assignment: `[a, b] = …`, `({ a } = …)`.
    if (!isDeclaration(id) && /pattern/.test(parent.type) && parent.type !== 'assignment_pattern') {
      let n: Node | null = parent;
      while (n && /pattern|array|object/.test(n.type)) n = n.parent;
      if (n?.type === 'assignment_expression') return true;
    }
  }
  return false;
}

/** The declaration of `name` visible at `node` (searched from the function's parameters and body). */
export function findDeclarator(p: Parsed, name: string): Node | undefined {
  for (const id of identifiers(p.fn, name)) {
    if (!isDeclaration(id)) continue;
    return id.parent ?? undefined;
  }
  return undefined;
}

/** Type annotation text of a parameter or declarator named `name`, if any. */
export function declaredType(p: Parsed, name: string): string | undefined {
  const decl = findDeclarator(p, name);
  const type = decl?.childForFieldName('type');
  return type ? type.text.replace(/^:\s*/, '') : undefined;
}

/** Whether `name` holds an array: by annotation, or by how its declaration creates it. */
export function isArrayName(p: Parsed, name: string): boolean {
  const type = declaredType(p, name);
  if (type !== undefined) return isArrayType(type);
  const decl = findDeclarator(p, name);
  if (decl?.type !== 'variable_declarator') return false;
  const value = decl.childForFieldName('value');
  return value !== null && isArrayExpression(value);
}

/** `T[]`, `readonly T[]`, `Array<T>`, `ReadonlyArray<T>`, and not a union at the top level. */
export function isArrayType(type: string): boolean {
  const t = type.trim();
  let depth = 0;
  for (const ch of t) {
    if ('<([{'.includes(ch)) depth++;
    else if ('>)]}'.includes(ch)) depth--;
    else if ((ch === '|' || ch === '&') && depth === 0) return false;
  }
  return /\[\]$/.test(t) || /^(Readonly)?Array<.*>$/.test(t);
}

/** Element type text of an array type (`string` of `readonly string[]`, `Array<string>`). */
export function elementType(type: string): string | undefined {
  const t = type.trim().replace(/^readonly\s+/, '');
  if (!isArrayType(t)) return undefined;
  const m = /^(?:Readonly)?Array<(.*)>$/.exec(t);
  return (m ? m[1]! : t.slice(0, -2)).trim();
}

export function isArrayExpression(value: Node): boolean {
  if (value.type === 'array') return true;
  if (value.type === 'call_expression') {
    const callee = value.childForFieldName('function');
    if (callee?.type !== 'member_expression') return false;
    const prop = callee.childForFieldName('property')?.text ?? '';
    const obj = callee.childForFieldName('object')?.text ?? '';
    if (['Object.keys', 'Object.values', 'Object.entries', 'Array.from', 'Array.of'].includes(`${obj}.${prop}`)) return true;
    return ['map', 'filter', 'slice', 'concat', 'flatMap', 'flat'].includes(prop) && callee.childForFieldName('object')?.type !== 'string';
  }
  return false;
}

/**
 * Every use of `name` inside `scope` leaves the array it holds unchanged: it is only read
 * (`a.length`, `a[i]`, `a.includes(…)`, other non-mutating methods), never assigned,
 * never passed to a function that might change it.
 */
export function readOnlyIn(scope: Node, name: string): boolean {
  for (const id of identifiers(scope, name)) {
    if (isDeclaration(id)) return false;
    if (!readOnlyUse(id)) return false;
  }
  return true;
}

export function readOnlyUse(id: Node): boolean {
  const parent = id.parent!;
  if (parent.type === 'member_expression' && parent.childForFieldName('object')?.id === id.id) {
    const prop = parent.childForFieldName('property')?.text ?? '';
    const up = parent.parent;
    if (up?.type === 'call_expression' && up.childForFieldName('function')?.id === parent.id) return !mutatingArrayMethods.has(prop);
    if (isAssigned(parent)) return false;
    return prop === 'length' || !mutatingArrayMethods.has(prop);
  }
  if (parent.type === 'subscript_expression' && parent.childForFieldName('object')?.id === id.id) return !isAssigned(parent);
  if (parent.type === 'binary_expression') return true;
  if (parent.type === 'for_in_statement' && parent.childForFieldName('right')?.id === id.id) return true;
  if (parent.type === 'spread_element' && parent.parent?.type === 'array') return true;
  return false;
}

/** Whether an expression node is the target of an assignment, an update or `delete`. */
export function isAssigned(node: Node): boolean {
  const parent = node.parent;
  if (!parent) return false;
  if ((parent.type === 'assignment_expression' || parent.type === 'augmented_assignment_expression') && parent.childForFieldName('left')?.id === node.id) return true;
  if (parent.type === 'update_expression') return true;
  if (parent.type === 'unary_expression' && parent.child(0)?.type === 'delete') return true;
  return false;
}

/** `a.b.c` built only from identifiers and property names (no calls, no computed parts). */
export function isPath(node: Node): boolean {
  if (node.type === 'identifier' || node.type === 'this') return true;
  if (node.type === 'member_expression') {
    const obj = node.childForFieldName('object');
    return node.childForFieldName('property')?.type === 'property_identifier' && !node.text.includes('?.') && obj !== null && isPath(obj);
  }
  return false;
}

/** The identifier a path starts from (`a` of `a.b.c`). */
export function pathRoot(node: Node): Node | undefined {
  let n: Node | null = node;
  while (n?.type === 'member_expression') n = n.childForFieldName('object');
  return n?.type === 'identifier' ? n : undefined;
}

/** The statement holding `node` that sits directly in a block of the function (where a declaration can go before it). */
export function blockStatement(p: Parsed, node: Node): Node | undefined {
  for (let n: Node | null = node; n && n.id !== p.fn.id; n = n.parent) {
    if (n.id !== node.id && isFunction(n)) return undefined; // never move code out of a nested function
    const parent = n.parent;
    if (parent && (parent.type === 'statement_block' || parent.type === 'program') && within(parent, p.body) && /statement|declaration/.test(n.type)) return n;
  }
  return undefined;
}

/**
 * Adds `decl` (one or more lines, no trailing newline) before the statement holding
 * `node`; in an expression-bodied arrow, the body becomes a block that returns the expression.
 */
export function insertBefore(p: Parsed, edits: Edits, node: Node, decl: string): boolean {
  const stmt = blockStatement(p, node);
  if (stmt) {
    const indent = indentAt(p, stmt.startIndex);
    edits.insert(stmt.startIndex, `${reindent(decl, indent)}\n${indent}`);
    return true;
  }
  if (p.body.type !== 'statement_block' && within(node, p.body) && enclosingLoops(p, node, false).length === 0) {
    let fnFree = true;
    for (let n = node.parent; n && n.id !== p.fn.id; n = n.parent) if (isFunction(n) && !iterationCall(n)) fnFree = false;
    if (!fnFree) return false;
    const base = indentAt(p, p.fn.startIndex);
    const inner = base + p.unit;
    const expr = p.body.type === 'parenthesized_expression' ? p.body.namedChildren[0] : p.body;
    if (!expr) return false;
    edits.replace(p.body.startIndex, expr.startIndex, `{\n${inner}${reindent(decl, inner)}\n${inner}return `);
    edits.replace(expr.endIndex, p.body.endIndex, `;\n${base}}`);
    return true;
  }
  return false;
}

/**
 * Side-effect-free expression: names, literals, operators, property reads, pure string
 * methods, `Math.*`/`Number.*`, and calls of helpers in the same file that are themselves
 * pure (a body of `return` and `const` of pure expressions).
 */
export function isPure(node: Node, helpers?: HelperIndex, depth = 0): boolean {
  switch (node.type) {
    case 'identifier':
    case 'number':
    case 'string':
    case 'true':
    case 'false':
    case 'null':
    case 'undefined':
    case 'this':
    case 'property_identifier':
    case 'shorthand_property_identifier':
    case 'regex':
    case 'template_string':
    case 'template_substitution':
    case 'parenthesized_expression':
    case 'binary_expression':
    case 'ternary_expression':
    case 'member_expression':
    case 'subscript_expression':
    case 'arguments':
    case 'string_fragment':
    case 'escape_sequence':
    case 'regex_pattern':
    case 'regex_flags':
    case 'comment':
    case 'as_expression':
    case 'non_null_expression':
    case 'type_identifier':
    case 'predefined_type':
      return node.namedChildren.every((c) => isPure(c, helpers, depth));
    case 'unary_expression':
      return node.child(0)?.type !== 'delete' && node.namedChildren.every((c) => isPure(c, helpers, depth));
    case 'call_expression': {
      const callee = node.childForFieldName('function')!;
      const args = node.childForFieldName('arguments');
      if (!args || !args.namedChildren.every((c) => isPure(c, helpers, depth))) return false;
      if (callee.type === 'member_expression') {
        const obj = callee.childForFieldName('object')!;
        const prop = callee.childForFieldName('property')?.text ?? '';
        if (obj.type === 'identifier' && pureGlobals.has(obj.text)) return true;
        return pureMethods.has(prop) && isPure(obj, helpers, depth);
      }
      if (callee.type === 'identifier') {
        if (pureGlobals.has(callee.text)) return true;
        return helpers !== undefined && depth < 4 && helpers.isPureHelper(callee.text, depth + 1);
      }
      return false;
    }
    case 'new_expression': {
      const ctor = node.childForFieldName('constructor')?.text;
      const args = node.childForFieldName('arguments');
      return ctor === 'RegExp' && (!args || args.namedChildren.every((c) => isPure(c, helpers, depth)));
    }
    default:
      return false;
  }
}

/** Top-level helper functions of the target's file, parsed once, for purity checks of calls. */
export class HelperIndex {
  private tree: Tree | undefined;
  private readonly fns = new Map<string, Node>();
  private readonly memo = new Map<string, boolean>();

  static build(fileText: string, parser: { parse(text: string): Tree | null }): HelperIndex {
    const index = new HelperIndex();
    index.tree = parser.parse(fileText) ?? undefined;
    if (index.tree) index.collect(index.tree.rootNode);
    return index;
  }

  private collect(root: Node): void {
    for (let stmt of root.namedChildren) {
      if (stmt.type === 'export_statement') stmt = stmt.namedChildren.find((c) => c.type !== 'comment') ?? stmt;
      if (stmt.type === 'function_declaration') {
        const name = stmt.childForFieldName('name')?.text;
        if (name) this.fns.set(name, stmt);
      } else if (stmt.type === 'lexical_declaration' && stmt.child(0)?.type === 'const') {
        for (const d of stmt.namedChildren) {
          const value = d.childForFieldName('value');
          const name = d.childForFieldName('name');
          if (d.type === 'variable_declarator' && name?.type === 'identifier' && value && (value.type === 'arrow_function' || value.type === 'function_expression' || value.type === 'function')) this.fns.set(name.text, value);
        }
      }
    }
  }

  /** The declared return type of a same-file helper (`string` of `function f(): string`). */
  returnType(name: string): string | undefined {
    const t = this.fns.get(name)?.childForFieldName('return_type');
    return t ? t.text.replace(/^:\s*/, '').trim() : undefined;
  }

  isPureHelper(name: string, depth: number): boolean {
    const known = this.memo.get(name);
    if (known !== undefined) return known;
    this.memo.set(name, false); // recursion: not proven pure
    const fn = this.fns.get(name);
    let pure = false;
    const body = fn?.childForFieldName('body');
    if (body) {
      if (body.type !== 'statement_block') pure = isPure(body, this, depth);
      else
        pure = body.namedChildren.every((s) => {
          if (s.type === 'comment') return true;
          if (s.type === 'return_statement') return s.namedChildren.every((c) => isPure(c, this, depth));
          if (s.type === 'lexical_declaration' && s.child(0)?.type === 'const')
            return s.namedChildren.every((d) => d.type !== 'variable_declarator' || (d.childForFieldName('value') ? isPure(d.childForFieldName('value')!, this, depth) : true));
          return false;
        });
    }
    this.memo.set(name, pure);
    return pure;
  }

  dispose(): void {
    this.tree?.delete();
    this.tree = undefined;
  }
}

/** Identifiers an expression reads (not property names). */
export function referencedNames(node: Node): string[] {
  const out = new Set<string>();
  for (const id of descendants(node, ['identifier', 'shorthand_property_identifier'])) out.add(id.text);
  if (node.type === 'identifier') out.add(node.text);
  return [...out];
}

/**
 * `expr` has the same value on every iteration of `loop`: each name it reads is declared
 * outside the loop and never assigned inside it, and it is pure.
 */
export function invariantIn(expr: Node, loop: Node, helpers?: HelperIndex): boolean {
  if (!isPure(expr, helpers)) return false;
  for (const name of referencedNames(expr)) {
    if (declaredIn(loop, name)) return false;
    if (assignedIn(loop, name)) return false;
  }
  // A property read (`cfg.query`) is invariant only if no property of that object is written in the loop.
  const roots = new Set<string>();
  for (const m of [expr, ...descendants(expr, ['member_expression', 'subscript_expression'])]) {
    if (m.type !== 'member_expression' && m.type !== 'subscript_expression') continue;
    let r: Node | null = m;
    while (r && (r.type === 'member_expression' || r.type === 'subscript_expression')) r = r.childForFieldName('object');
    if (r?.type === 'this') return false;
    if (r?.type === 'identifier') roots.add(r.text);
  }
  for (const a of descendants(loop, ['assignment_expression', 'augmented_assignment_expression', 'update_expression'])) {
    let r: Node | null = a.type === 'update_expression' ? a.namedChildren[0] ?? null : a.childForFieldName('left');
    if (r?.type !== 'member_expression' && r?.type !== 'subscript_expression') continue;
    while (r && (r.type === 'member_expression' || r.type === 'subscript_expression')) r = r.childForFieldName('object');
    if (!r || r.type !== 'identifier' || roots.has(r.text)) return false;
  }
  return true;
}

/** Removes a statement, with its line when it stands alone on it. */
export function removeStatement(p: Parsed, edits: Edits, stmt: Node): void {
  const lineStart = p.text.lastIndexOf('\n', stmt.startIndex - 1) + 1;
  const nl = p.text.indexOf('\n', stmt.endIndex);
  const lineEnd = nl === -1 ? p.text.length : nl;
  if (/^[ \t]*$/.test(p.text.slice(lineStart, stmt.startIndex)) && /^[ \t]*$/.test(p.text.slice(stmt.endIndex, lineEnd)) && nl !== -1) edits.replace(lineStart, nl + 1, '');
  else edits.replace(stmt.startIndex, stmt.endIndex, '');
}

export function capitalize(s: string): string {
  return s.charAt(0).toUpperCase() + s.slice(1);
}

/** The callee's property name of `x.m(…)`, and its object. */
export function methodCall(call: Node): { object: Node; method: string; args: Node[] } | undefined {
  if (call.type !== 'call_expression') return undefined;
  const callee = call.childForFieldName('function');
  const args = call.childForFieldName('arguments');
  if (callee?.type !== 'member_expression' || !args || args.type !== 'arguments') return undefined;
  const prop = callee.childForFieldName('property');
  const object = callee.childForFieldName('object');
  if (!prop || !object || prop.type !== 'property_identifier' || callee.text.includes('?.')) return undefined;
  return { object, method: prop.text, args: args.namedChildren.filter((c) => c.type !== 'comment') };
}

/** Strips parentheses. */
export function unparen(node: Node): Node {
  let n = node;
  while (n.type === 'parenthesized_expression' && n.namedChildren.length === 1) n = n.namedChildren[0]!;
  return n;
}

/** The expression a callback returns: its expression body, or the one `return` of its block. */
export function returnedExpression(fn: Node): Node | undefined {
  const body = fn.childForFieldName('body');
  if (!body) return undefined;
  if (body.type !== 'statement_block') return unparen(body);
  const stmts = body.namedChildren.filter((c) => c.type !== 'comment');
  if (stmts.length !== 1 || stmts[0]!.type !== 'return_statement') return undefined;
  const e = stmts[0]!.namedChildren[0];
  return e ? unparen(e) : undefined;
}

/** Parameter names of a function node, or undefined when one is not a plain identifier. */
export function simpleParams(fn: Node): string[] | undefined {
  const single = fn.childForFieldName('parameter');
  if (single) return single.type === 'identifier' ? [single.text] : undefined;
  const params = fn.childForFieldName('parameters');
  if (!params) return undefined;
  const out: string[] = [];
  for (const c of params.namedChildren) {
    if (c.type === 'comment') continue;
    const id = c.type === 'identifier' ? c : c.type === 'required_parameter' ? c.childForFieldName('pattern') : null;
    if (!id || id.type !== 'identifier') return undefined;
    out.push(id.text);
  }
  return out;
}

/** Text of `node` with the identifiers named in `map` replaced (for substituting parameters). */
export function substitute(node: Node, map: Record<string, string>): string {
  const ids = descendants(node, 'identifier').filter((id) => Object.hasOwn(map, id.text));
  if (node.type === 'identifier' && Object.hasOwn(map, node.text)) return map[node.text]!;
  let out = '';
  let pos = node.startIndex;
  const base = node.startIndex;
  const text = node.text;
  for (const id of ids.sort((a, b) => a.startIndex - b.startIndex)) {
    out += text.slice(pos - base, id.startIndex - base) + map[id.text];
    pos = id.endIndex;
  }
  return out + text.slice(pos - base);
}

/** Loop text for `p`'s language: `const x: T = …` in TS, `const x = …` in JS. */
export function typed(p: Parsed, annotation: string): string {
  return p.ts ? annotation : '';
}
