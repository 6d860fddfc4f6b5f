/**
 * Artifact extraction: one TreeCursor pass over a file's syntax tree collects
 * artifacts (functions, methods, classes, tests, suites), the file's tokens
 * (for a normalized content hash), comments (for doc comments) and call sites.
 *
 * One pass, not per-kind queries: node objects cost a WASM round trip each, so
 * the cursor stays on cheap properties and materialises a Node only for the
 * few node types that can define an artifact.
 *
 * Editing an open file is the hot path (the target is a 1,000-line file re-indexed
 * in under 20 ms at p95). An `ExtractionCache` makes it incremental in two ways:
 *  - the previous syntax tree is edited and re-parsed (tree-sitter reuses every
 *    subtree the edit didn't touch);
 *  - the walk goes top-level statement by statement ("chunks"), and a chunk whose
 *    text (and the text just above it, where its doc comment lives) is unchanged
 *    reuses its previous artifacts, shifted to its new position, without a walk.
 * The result is the same as a cold extraction; a unit test checks that on edits.
 */
import { createHash } from 'node:crypto';
import { Edit, type Node, type Tree, type TreeCursor } from 'web-tree-sitter';
import type { ArtifactKind, ArtifactLanguage } from '../protocol';
import type { Parsers } from './languages';

export interface Position {
  line: number;
  character: number;
}
export interface Range {
  start: Position;
  end: Position;
}

/** An artifact as the engine stores it: everything but workspace-specific resolution. */
export interface ArtifactRecord {
  id: string;
  name: string;
  qualifiedName: string;
  kind: ArtifactKind;
  language: ArtifactLanguage;
  file: string;
  range: Range;
  selectionRange: Range;
  signature: string[];
  doc?: string;
  hash: string;
  /** Callee names as written (unique, in order of first call). Resolved against the workspace at query time. */
  calls: string[];
  framework?: string;
  parent?: string;
}

/** What an embedder may look at for one artifact; transient, never stored. */
export interface EmbedInput {
  name: string;
  /** Identifiers appearing in the artifact (names, properties, parameters). */
  identifiers: string[];
  /** Named syntax node types in preorder. */
  syntax: string[];
  /** Source text, truncated, for model embedders. */
  text: string;
}

export interface FileExtraction {
  artifacts: ArtifactRecord[];
  /** Parallel to `artifacts`. */
  embedInputs: EmbedInput[];
  /** Number of ERROR and MISSING nodes: the file was indexed as far as it parsed. */
  parseErrors: number;
  /** Where the first ERROR or MISSING node is (for a diagnostic). */
  firstError?: Range;
}

/** What one top-level statement produced, kept to be reused when it is unchanged. */
interface ChunkResult {
  artifacts: ArtifactRecord[];
  embedInputs: EmbedInput[];
  parseErrors: number;
  firstError?: Range;
  comments: Comment[];
  /** Qualified names the chunk opened, with the count seen before each (for `~N` ids). */
  usedNames: [string, number][];
  /** Start of the text region the chunk's key covers: positions shift relative to it. */
  originRow: number;
  originColumn: number;
  originIndex: number;
}

interface Comment {
  start: number;
  end: number;
  text: string;
}

/**
 * Per-file state for incremental re-extraction of an editor buffer. Owns a WASM
 * tree: call `dispose()` when the file is closed or evicted.
 */
export class ExtractionCache {
  text: string | undefined;
  tree: Tree | undefined;
  language: ArtifactLanguage | undefined;
  /** Chunk results keyed by file-level flags + the chunk's region text. */
  chunks = new Map<string, ChunkResult>();

  dispose(): void {
    this.tree?.delete();
    this.tree = undefined;
    this.text = undefined;
    this.chunks = new Map();
  }
}

const maxEmbedText = 2000;

/** Tokens left out of the normalized hash: formatters add and remove them freely. */
const formattingTokens = new Set([';', ',']);

const testCallees = new Set(['it', 'test', 'specify', 'describe', 'suite', 'context']);
const suiteCallees = new Set(['describe', 'suite', 'context']);
/** Calls that are plumbing, not dependencies worth an edge. */
const ignoredCallees = new Set(['require', 'super', ...testCallees, 'before', 'after', 'beforeEach', 'afterEach', 'beforeAll', 'afterAll']);

const frameworkImport = /(?:from\s*|require\(\s*|import\s*)['"](node:test|vitest|@jest\/globals|mocha)['"]/;
const frameworkNames: Record<string, string> = { 'node:test': 'node:test', vitest: 'vitest', '@jest/globals': 'jest', mocha: 'mocha' };
const testPathPattern = /(^|\/)(__tests__|tests?|spec)\/|\.(test|spec)\.[cm]?[jt]sx?$|(^|\/)test[-_][^/]*\.[cm]?[jt]sx?$/;
const pytestFilePattern = /(^|\/)(test_[^/]*|[^/]*_test)\.py$/;

const jsFunctionValues = new Set(['arrow_function', 'function_expression', 'function', 'generator_function']);
const jsArtifactTypes = new Set([
  'function_declaration',
  'generator_function_declaration',
  'class_declaration',
  'abstract_class_declaration',
  'method_definition',
  'variable_declarator',
  'public_field_definition',
  'field_definition',
  'assignment_expression',
  'pair',
  'call_expression',
  'new_expression',
]);
const pyArtifactTypes = new Set(['function_definition', 'class_definition', 'call']);

interface Scope {
  /** Cursor depth of the node that opened this scope; the scope closes when the cursor leaves it. */
  depth: number;
  qualifiedName: string;
  /** Separator for children: '.' in code, ' > ' under tests and suites. */
  childSeparator: string;
  artifact?: PendingArtifact;
}

interface PendingArtifact {
  record: ArtifactRecord;
  tokenStart: number;
  syntaxStart: number;
  identStart: number;
  callStart: number;
  startIndex: number;
  endIndex: number;
  tokenEnd?: number;
  syntaxEnd?: number;
  identEnd?: number;
}

function toRange(node: Node): Range {
  return {
    start: { line: node.startPosition.row, character: node.startPosition.column },
    end: { line: node.endPosition.row, character: node.endPosition.column },
  };
}

/**
 * Parses `text` and extracts its artifacts; `file` is the folder-relative path used in ids.
 * With a `cache` (one per file), the previous tree and chunk results are reused.
 */
export function extractFile(parsers: Parsers, file: string, language: ArtifactLanguage, text: string, cache?: ExtractionCache): FileExtraction {
  const parser = parsers.parserFor(language);
  let tree: Tree | null;
  /** Where the syntax changed (not just the text): chunks there are walked again. */
  let changed: { startIndex: number; endIndex: number }[] | undefined;
  if (cache?.tree && cache.text !== undefined && cache.language === language) {
    cache.tree.edit(textEdit(cache.text, text));
    tree = parser.parse(text, cache.tree);
    if (tree?.rootNode.hasError) {
      // Error recovery depends on the edit history: a tree re-parsed from the old one
      // can differ from a fresh parse where the code is broken. The index must not
      // depend on how the text was typed, so broken text is parsed from scratch.
      tree.delete();
      tree = parser.parse(text);
    }
    if (tree) changed = cache.tree.getChangedRanges(tree);
  } else {
    tree = parser.parse(text);
  }
  if (!tree) {
    cache?.dispose();
    return { artifacts: [], embedInputs: [], parseErrors: 1 };
  }
  const walk = new FileWalk(file, language, text, changed ? cache?.chunks : undefined, cache !== undefined, changed);
  try {
    const result = walk.run(tree);
    if (cache) {
      cache.tree?.delete();
      cache.tree = tree;
      cache.text = text;
      cache.language = language;
      cache.chunks = walk.newChunks!;
      tree = null;
    }
    return result;
  } catch (err) {
    cache?.dispose();
    throw err;
  } finally {
    tree?.delete(); // WASM memory is not garbage-collected
  }
}

/**
 * The single edit that turns `before` into `after` (common prefix and suffix), in
 * UTF-16 code units as web-tree-sitter counts them for string input.
 */
export function textEdit(before: string, after: string): Edit {
  const max = Math.min(before.length, after.length);
  let start = 0;
  while (start < max && before.charCodeAt(start) === after.charCodeAt(start)) start++;
  let tail = 0;
  while (tail < max - start && before.charCodeAt(before.length - 1 - tail) === after.charCodeAt(after.length - 1 - tail)) tail++;
  const oldEnd = before.length - tail;
  const newEnd = after.length - tail;
  return new Edit({
    startIndex: start,
    oldEndIndex: oldEnd,
    newEndIndex: newEnd,
    startPosition: pointAt(before, start),
    oldEndPosition: pointAt(before, oldEnd),
    newEndPosition: pointAt(after, newEnd),
  });
}

function pointAt(text: string, index: number): { row: number; column: number } {
  let row = 0;
  let lineStart = 0;
  for (let i = text.indexOf('\n'); i !== -1 && i < index; i = text.indexOf('\n', i + 1)) {
    row++;
    lineStart = i + 1;
  }
  return { row, column: index - lineStart };
}

/**
 * A chunk's results moved to a new origin: positions on the origin's row shift by the
 * column change, all by the row change; comment offsets by the index change. Unmoved
 * parts are the same objects.
 */
function moveChunk(old: ChunkResult, origin: { index: number; row: number; column: number }): ChunkResult {
  const dRow = origin.row - old.originRow;
  const dColumn = origin.column - old.originColumn;
  const dIndex = origin.index - old.originIndex;
  if (dRow === 0 && dColumn === 0 && dIndex === 0) return old;
  const moved = dRow !== 0 || dColumn !== 0;
  const shift = (r: Range) => shiftRange(r, old.originRow, dRow, dColumn);
  return {
    ...old,
    artifacts: moved ? old.artifacts.map((a) => ({ ...a, range: shift(a.range), selectionRange: shift(a.selectionRange) })) : old.artifacts,
    comments: dIndex === 0 ? old.comments : old.comments.map((c) => ({ start: c.start + dIndex, end: c.end + dIndex, text: c.text })),
    firstError: moved && old.firstError ? shift(old.firstError) : old.firstError,
    originRow: origin.row,
    originColumn: origin.column,
    originIndex: origin.index,
  };
}

function shiftPosition(p: Position, fromRow: number, dRow: number, dColumn: number): Position {
  return { line: p.line + dRow, character: p.line === fromRow ? p.character + dColumn : p.character };
}

function shiftRange(r: Range, fromRow: number, dRow: number, dColumn: number): Range {
  return { start: shiftPosition(r.start, fromRow, dRow, dColumn), end: shiftPosition(r.end, fromRow, dRow, dColumn) };
}

class FileWalk {
  // Per-chunk buffers, reset after each top-level statement.
  private tokens: string[] = [];
  private syntax: string[] = [];
  private identifiers: string[] = [];
  private calls: { index: number; name: string }[] = [];
  private done: PendingArtifact[] = [];
  private chunkUsed: [string, number][] = [];
  private chunkComments: Comment[] = [];
  private chunkErrors = 0;
  private chunkFirstError: Range | undefined;
  // File-wide state.
  private readonly comments: Comment[] = [];
  private readonly scopes: Scope[] = [];
  private readonly usedIds = new Map<string, number>();
  private readonly artifacts: ArtifactRecord[] = [];
  private readonly embedInputs: EmbedInput[] = [];
  private parseErrors = 0;
  private firstError: Range | undefined;
  private readonly python: boolean;
  private readonly framework: string | undefined;
  private readonly isTestFile: boolean;
  /** Chunk results of this pass, keyed for the next one (only when a cache is in use). */
  readonly newChunks: Map<string, ChunkResult> | undefined;
  private readonly flagsKey: string;

  constructor(
    private readonly file: string,
    private readonly language: ArtifactLanguage,
    private readonly text: string,
    private readonly oldChunks: Map<string, ChunkResult> | undefined,
    keepChunks: boolean,
    private readonly changed: { startIndex: number; endIndex: number }[] = [],
  ) {
    this.python = language === 'python';
    if (this.python) {
      this.isTestFile = pytestFilePattern.test(file);
      this.framework = this.isTestFile ? 'pytest' : undefined;
    } else {
      const imported = frameworkImport.exec(text)?.[1];
      this.framework = imported ? frameworkNames[imported] : undefined;
      this.isTestFile = this.framework !== undefined || testPathPattern.test(file);
    }
    this.flagsKey = `${language}\u0000${this.framework ?? ''}\u0000${this.isTestFile}\u0000`;
    if (keepChunks) this.newChunks = new Map();
  }

  /**
   * Walks the root's children one by one. A chunk's key is the text from the start
   * of the previous non-comment statement to its own end: that covers everything
   * its artifacts depend on (their text, the doc comments above them).
   */
  run(tree: Tree): FileExtraction {
    const cursor = tree.walk();
    try {
      if (cursor.nodeType === 'ERROR') {
        const { startPosition: a, endPosition: b } = cursor;
        this.parseErrors++;
        this.firstError = { start: { line: a.row, character: a.column }, end: { line: b.row, character: b.column } };
      }
      if (cursor.gotoFirstChild()) {
        let origin = { index: 0, row: 0, column: 0 };
        do {
          const type = cursor.nodeType;
          const start = cursor.startIndex;
          const end = cursor.endIndex;
          if (type === 'comment') {
            this.comments.push({ start, end, text: this.text.slice(start, end) });
            continue;
          }
          let key: string | undefined;
          let reused = false;
          // A chunk with errors is always walked again: a MISSING node is zero-width, so
          // the same text can hold a different tree.
          if (this.newChunks && !cursor.currentNode.hasError) {
            // The same text can parse differently in another context (error recovery,
            // a chunk boundary that moved), so the key has the node's type and offset
            // in the region, and a chunk whose syntax tree-sitter reports changed is
            // never reused.
            key = `${this.flagsKey}${type}\u0000${start - origin.index}\u0000${this.text.slice(origin.index, end)}`;
            const old = this.oldChunks?.get(key);
            const chunk = old && !this.changed.some((r) => r.startIndex <= end && r.endIndex >= start) ? this.reuse(old, origin) : undefined;
            if (chunk) {
              this.newChunks.set(key, chunk);
              reused = true;
            }
          }
          if (!reused) {
            this.walkChunk(cursor);
            const chunk = this.finishChunk(origin);
            if (key !== undefined) this.newChunks!.set(key, chunk);
          }
          const p = cursor.startPosition;
          origin = { index: start, row: p.row, column: p.column };
        } while (cursor.gotoNextSibling());
      }
    } finally {
      cursor.delete();
    }
    return { artifacts: this.artifacts, embedInputs: this.embedInputs, parseErrors: this.parseErrors, firstError: this.firstError };
  }

  /**
   * Takes an unchanged chunk's results, moved to where it now stands, if the `~N`
   * numbering before it is the same; returns them (for the next pass) or undefined.
   */
  private reuse(old: ChunkResult, origin: { index: number; row: number; column: number }): ChunkResult | undefined {
    const counts = new Map<string, number>();
    for (const [name, seen] of old.usedNames) {
      const now = counts.get(name) ?? this.usedIds.get(name) ?? 0;
      if (now !== seen) return undefined;
      counts.set(name, now + 1);
    }
    for (const [name, n] of counts) this.usedIds.set(name, n);
    const chunk = moveChunk(old, origin);
    this.comments.push(...chunk.comments); // a walked chunk's comments were pushed by the walk
    this.adopt(chunk);
    return chunk;
  }

  /** Adds a chunk's artifacts and errors to the file's. */
  private adopt(chunk: ChunkResult): void {
    this.artifacts.push(...chunk.artifacts);
    this.embedInputs.push(...chunk.embedInputs);
    this.parseErrors += chunk.parseErrors;
    this.firstError ??= chunk.firstError;
  }

  /** Preorder walk of the subtree under the cursor; leaves the cursor where it started. */
  private walkChunk(cursor: TreeCursor): void {
    const candidateTypes = this.python ? pyArtifactTypes : jsArtifactTypes;
    let depth = 1;
    outer: for (;;) {
      const type = cursor.nodeType;
      const named = cursor.nodeIsNamed;
      let descend = true;
      if (type === 'comment') {
        const start = cursor.startIndex;
        const end = cursor.endIndex;
        const comment = { start, end, text: this.text.slice(start, end) };
        this.comments.push(comment);
        this.chunkComments.push(comment);
        descend = false;
      } else {
        if (named) {
          this.syntax.push(type);
          this.tokens.push(type + '(');
          if (type === 'ERROR') this.noteError(cursor.startPosition, cursor.endPosition);
        }
        if (candidateTypes.has(type)) this.visitCandidate(cursor.currentNode, type, depth);
      }
      if (descend && cursor.gotoFirstChild()) {
        depth++;
        continue;
      }
      if (descend) this.leaf(cursor);
      // Leave nodes upward until one has a next sibling, never above the chunk's node.
      for (;;) {
        if (cursor.nodeIsNamed && cursor.nodeType !== 'comment') this.tokens.push(')');
        this.closeScopes(depth);
        if (depth === 1) break outer;
        if (cursor.gotoNextSibling()) continue outer;
        cursor.gotoParent();
        depth--;
      }
    }
  }

  private noteError(start: { row: number; column: number }, end: { row: number; column: number }): void {
    this.chunkErrors++;
    this.chunkFirstError ??= { start: { line: start.row, character: start.column }, end: { line: end.row, character: end.column } };
  }

  private leaf(cursor: TreeCursor): void {
    const type = cursor.nodeType;
    const start = cursor.startIndex;
    const end = cursor.endIndex;
    // Only zero-width leaves can be MISSING (inserted by error recovery): ask only them.
    if (start === end && cursor.nodeIsMissing) {
      const p = cursor.startPosition;
      this.noteError(p, p);
      return;
    }
    if (formattingTokens.has(type)) return;
    const text = this.text.slice(start, end);
    this.tokens.push(text);
    if (type === 'identifier' || type === 'property_identifier' || type === 'type_identifier' || type === 'shorthand_property_identifier') {
      this.identifiers.push(text);
    }
  }

  private closeScopes(depth: number): void {
    while (this.scopes.length > 0 && this.scopes[this.scopes.length - 1].depth === depth) {
      const scope = this.scopes.pop()!;
      if (scope.artifact) this.close(scope.artifact);
    }
  }

  private close(p: PendingArtifact): void {
    p.tokenEnd = this.tokens.length;
    p.syntaxEnd = this.syntax.length;
    p.identEnd = this.identifiers.length;
    this.done.push(p);
  }

  private get enclosing(): Scope | undefined {
    return this.scopes[this.scopes.length - 1];
  }

  private enclosingArtifact(): PendingArtifact | undefined {
    for (let i = this.scopes.length - 1; i >= 0; i--) if (this.scopes[i].artifact) return this.scopes[i].artifact;
    return undefined;
  }

  private visitCandidate(node: Node, type: string, depth: number): void {
    if (this.python) this.visitPython(node, type, depth);
    else this.visitJs(node, type, depth);
  }

  // ---- TypeScript / JavaScript -------------------------------------------------

  private visitJs(node: Node, type: string, depth: number): void {
    switch (type) {
      case 'function_declaration':
      case 'generator_function_declaration': {
        const name = node.childForFieldName('name');
        if (name) this.open(node, depth, 'function', name.text, name, this.jsParams(node), this.docTarget(node));
        return;
      }
      case 'class_declaration':
      case 'abstract_class_declaration': {
        const name = node.childForFieldName('name');
        if (name) this.open(node, depth, 'class', name.text, name, [], this.docTarget(node));
        return;
      }
      case 'method_definition': {
        const name = node.childForFieldName('name');
        if (!name) return;
        const inClass = node.parent?.type === 'class_body';
        const inObject = node.parent?.type === 'object';
        if (!inClass && !inObject) return;
        this.open(node, depth, 'method', this.memberName(node, name), name, this.jsParams(node), node);
        return;
      }
      case 'public_field_definition':
      case 'field_definition': {
        const value = node.childForFieldName('value');
        const name = node.childForFieldName('name') ?? node.childForFieldName('property');
        if (value && name && jsFunctionValues.has(value.type)) {
          this.open(node, depth, 'method', name.text, name, this.jsParams(value), node);
        }
        return;
      }
      case 'variable_declarator': {
        const name = node.childForFieldName('name');
        const value = node.childForFieldName('value');
        if (!name || !value || name.type !== 'identifier') return;
        if (jsFunctionValues.has(value.type)) {
          this.open(node, depth, 'function', name.text, name, this.jsParams(value), this.docTarget(node));
        } else if (value.type === 'class') {
          this.open(node, depth, 'class', name.text, name, [], this.docTarget(node));
        } else if (value.type === 'object') {
          // `const api = { get() {}, put: () => {} }`: methods are named api.get, api.put.
          this.openNamespace(depth, name.text);
        }
        return;
      }
      case 'assignment_expression': {
        const left = node.childForFieldName('left');
        const right = node.childForFieldName('right');
        if (!left || !right || left.type !== 'member_expression') return;
        if (left.childForFieldName('object')?.type === 'this') {
          if (jsFunctionValues.has(right.type)) this.openThisMember(node, depth, left, right);
          return;
        }
        const target = this.assignmentName(left);
        if (!target) return;
        if (jsFunctionValues.has(right.type)) {
          const property = left.childForFieldName('property') ?? left;
          this.open(node, depth, target.kind, target.name, property, this.jsParams(right), this.docTarget(node));
        } else if (right.type === 'object' && target.kind === 'function' && !target.name.includes('.')) {
          this.openNamespace(depth, target.name);
        }
        return;
      }
      case 'pair': {
        const key = node.childForFieldName('key');
        const value = node.childForFieldName('value');
        if (!key || !value || !jsFunctionValues.has(value.type)) return;
        if (node.parent?.type !== 'object') return;
        const keyText = key.type === 'string' ? key.text.slice(1, -1) : key.text;
        this.open(node, depth, 'method', keyText, key, this.jsParams(value), node);
        return;
      }
      case 'call_expression': {
        const fn = node.childForFieldName('function');
        if (!fn) return;
        const callee = this.calleeName(fn);
        if (callee) this.calls.push({ index: node.startIndex, name: callee });
        if (this.isTestFile) this.maybeTest(node, fn, depth);
        return;
      }
      case 'new_expression': {
        const ctor = node.childForFieldName('constructor');
        if (ctor?.type === 'identifier') this.calls.push({ index: node.startIndex, name: ctor.text });
        return;
      }
    }
  }

  /**
   * `this.render = function () {}` in a constructor: a method of the class (or of the
   * constructor function), named as if declared in the class body.
   */
  private openThisMember(node: Node, depth: number, left: Node, right: Node): void {
    const property = left.childForFieldName('property');
    const owner = this.enclosingArtifact();
    if (!property || !owner) return;
    const inConstructor = owner.record.kind === 'method' && owner.record.name === 'constructor';
    if (!inConstructor && owner.record.kind !== 'function') return; // `this` of a plain method or arrow: not a definition site
    const ownerScope = inConstructor ? this.scopeOf(owner.record.parent) : this.scopes.find((s) => s.artifact === owner);
    if (!ownerScope) return;
    this.open(node, depth, 'method', property.text, property, this.jsParams(right), this.docTarget(node), undefined, node, ownerScope);
  }

  private scopeOf(artifactId: string | undefined): Scope | undefined {
    for (let i = this.scopes.length - 1; i >= 0; i--) if (this.scopes[i].artifact?.record.id === artifactId) return this.scopes[i];
    return undefined;
  }

  /** `it('does x', fn)`, `describe.only('x', fn)`, `test.skip(...)`, `test.each(rows)('x %s', fn)`. */
  private maybeTest(node: Node, fn: Node, depth: number): void {
    let base = fn;
    if (fn.type === 'call_expression') {
      // `test.each(table)(title, fn)` and `it.each\`table\`(title, fn)`: one artifact for the parameterised test.
      const inner = fn.childForFieldName('function');
      if (inner?.type !== 'member_expression' || inner.childForFieldName('property')?.text !== 'each') return;
      base = inner.childForFieldName('object') ?? inner;
      if (base.type === 'member_expression') base = base.childForFieldName('object') ?? base; // test.only.each
    } else if (fn.type === 'member_expression') base = fn.childForFieldName('object') ?? fn;
    if (base.type !== 'identifier' || !testCallees.has(base.text)) return;
    const args = node.childForFieldName('arguments');
    const title = args?.namedChildren.find((c) => c !== null && c.type !== 'comment');
    if (!title || (title.type !== 'string' && title.type !== 'template_string')) return;
    const hasCallback = args!.namedChildren.some((c) => c !== null && jsFunctionValues.has(c.type));
    if (!hasCallback) return; // `it.todo('x')` and title-only calls are not runnable tests
    const kind: ArtifactKind = suiteCallees.has(base.text) ? 'suite' : 'test';
    this.open(node, depth, kind, title.text.slice(1, -1), title, [], node);
  }

  private memberName(node: Node, name: Node): string {
    // Getters and setters share a name; the accessor keeps their ids apart.
    const accessor = node.children.find((c) => c !== null && (c.type === 'get' || c.type === 'set'))?.type;
    return (accessor ? `${accessor} ` : '') + name.text;
  }

  /** `exports.f = …` → f; `module.exports.f = …` → f; `A.prototype.m = …` → method A.m; `obj.f = …` → obj.f. */
  private assignmentName(left: Node): { name: string; kind: ArtifactKind } | undefined {
    const parts: string[] = [];
    let cur: Node | null = left;
    while (cur && cur.type === 'member_expression') {
      const prop = cur.childForFieldName('property');
      if (!prop) return undefined;
      parts.unshift(prop.text);
      cur = cur.childForFieldName('object');
    }
    if (!cur || cur.type !== 'identifier') return undefined;
    parts.unshift(cur.text);
    if (parts[0] === 'module' && parts[1] === 'exports') parts.splice(0, 2);
    else if (parts[0] === 'exports') parts.splice(0, 1);
    if (parts.length === 0) return undefined;
    const proto = parts.indexOf('prototype');
    if (proto > 0 && proto === parts.length - 2) return { name: `${parts.slice(0, proto).join('.')}.${parts[parts.length - 1]}`, kind: 'method' };
    return { name: parts.join('.'), kind: 'function' };
  }

  private calleeName(fn: Node): string | undefined {
    let name: string | undefined;
    if (fn.type === 'identifier') name = fn.text;
    else if (fn.type === 'member_expression') {
      const object = fn.childForFieldName('object');
      if (object?.type === 'identifier' && testCallees.has(object.text)) return undefined; // it.only, describe.skip
      name = fn.childForFieldName('property')?.text;
    }
    if (!name || ignoredCallees.has(name)) return undefined;
    return name;
  }

  private jsParams(fnNode: Node): string[] {
    const single = fnNode.childForFieldName('parameter');
    if (single) return [single.text];
    const params = fnNode.childForFieldName('parameters');
    if (!params) return [];
    const names: string[] = [];
    for (const p of params.namedChildren) {
      if (!p || p.type === 'comment') continue;
      let target: Node = p;
      if (p.type === 'required_parameter' || p.type === 'optional_parameter') target = p.childForFieldName('pattern') ?? p;
      if (target.type === 'assignment_pattern') target = target.childForFieldName('left') ?? target;
      if (target.type === 'this') continue;
      names.push(compact(target.text));
    }
    return names;
  }

  /** The node whose leading comment documents `node` (the declaration statement, through `export`). */
  private docTarget(node: Node): Node {
    let cur = node;
    if (cur.type === 'variable_declarator' && cur.parent && /declaration$/.test(cur.parent.type)) cur = cur.parent;
    if (cur.type === 'assignment_expression' && cur.parent?.type === 'expression_statement') cur = cur.parent;
    if (cur.parent?.type === 'export_statement') cur = cur.parent;
    return cur;
  }

  // ---- Python --------------------------------------------------------------------

  private visitPython(node: Node, type: string, depth: number): void {
    if (type === 'call') {
      const fn = node.childForFieldName('function');
      let name: string | undefined;
      if (fn?.type === 'identifier') name = fn.text;
      else if (fn?.type === 'attribute') name = fn.childForFieldName('attribute')?.text;
      if (name && name !== 'super') this.calls.push({ index: node.startIndex, name });
      return;
    }
    const name = node.childForFieldName('name');
    if (!name) return;
    const outer = node.parent?.type === 'decorated_definition' ? node.parent : node;
    const container = outer.parent?.type === 'block' ? outer.parent.parent : undefined;
    const inClass = container?.type === 'class_definition';
    const parentArtifact = this.enclosingArtifact();
    if (type === 'class_definition') {
      const isSuite = this.isTestFile && /^Test/.test(name.text);
      this.open(node, depth, isSuite ? 'suite' : 'class', name.text, name, [], outer, this.pyDoc(node), outer);
      return;
    }
    let kind: ArtifactKind = inClass ? 'method' : 'function';
    if (this.isTestFile && /^test/.test(name.text) && (!inClass || parentArtifact?.record.kind === 'suite')) kind = 'test';
    let params = this.pyParams(node);
    if (inClass && (params[0] === 'self' || params[0] === 'cls')) params = params.slice(1);
    this.open(node, depth, kind, name.text, name, params, outer, this.pyDoc(node), outer);
  }

  private pyParams(node: Node): string[] {
    const params = node.childForFieldName('parameters');
    if (!params) return [];
    const names: string[] = [];
    for (const p of params.namedChildren) {
      if (!p || p.type === 'comment') continue;
      switch (p.type) {
        case 'identifier':
          names.push(p.text);
          break;
        case 'default_parameter':
        case 'typed_default_parameter':
          names.push(p.childForFieldName('name')?.text ?? compact(p.text));
          break;
        case 'typed_parameter': {
          const inner = p.namedChildren[0];
          names.push(inner ? compact(inner.text) : compact(p.text));
          break;
        }
        case 'list_splat_pattern':
        case 'dictionary_splat_pattern':
          names.push(compact(p.text));
          break;
        default:
          if (p.type !== 'keyword_separator' && p.type !== 'positional_separator') names.push(compact(p.text));
      }
    }
    return names;
  }

  private pyDoc(node: Node): string | undefined {
    const body = node.childForFieldName('body');
    const first = body?.namedChildren[0];
    if (first?.type !== 'expression_statement') return undefined;
    const str = first.namedChildren[0];
    if (str?.type !== 'string') return undefined;
    const content = str.namedChildren.filter((c) => c?.type === 'string_content').map((c) => c!.text).join('');
    return cleanDoc(content);
  }

  // ---- shared ----------------------------------------------------------------------

  private openNamespace(depth: number, name: string): void {
    const parent = this.enclosing;
    const qualifiedName = parent ? parent.qualifiedName + parent.childSeparator + name : name;
    this.scopes.push({ depth, qualifiedName, childSeparator: '.' });
  }

  private open(
    node: Node,
    depth: number,
    kind: ArtifactKind,
    name: string,
    nameNode: Node,
    signature: string[],
    docNode: Node,
    pyDoc?: string,
    rangeNode: Node = node,
    parentScope: Scope | undefined = this.enclosing,
  ): void {
    const parent = this.enclosingArtifact();
    let qualifiedName = parentScope ? parentScope.qualifiedName + parentScope.childSeparator + name : name;
    const seen = this.usedIds.get(qualifiedName) ?? 0;
    this.usedIds.set(qualifiedName, seen + 1);
    this.chunkUsed.push([qualifiedName, seen]);
    if (seen > 0) qualifiedName = `${qualifiedName}~${seen + 1}`; // duplicate names in one file (overloads, redefinitions)
    const isTest = kind === 'test' || kind === 'suite';
    const record: ArtifactRecord = {
      id: `${this.file}#${qualifiedName}`,
      name,
      qualifiedName,
      kind,
      language: this.language,
      file: this.file,
      range: toRange(rangeNode),
      selectionRange: toRange(nameNode),
      signature,
      hash: '',
      calls: [],
    };
    const doc = pyDoc ?? (this.python ? undefined : this.leadingDoc(docNode.startIndex));
    if (doc) record.doc = doc;
    if (isTest && this.framework) record.framework = this.framework;
    if (parent) record.parent = parent.record.id;
    const pending: PendingArtifact = {
      record,
      // The node's own '(' token was pushed before this visit: include it.
      tokenStart: this.tokens.length - 1,
      syntaxStart: this.syntax.length - 1,
      identStart: this.identifiers.length,
      callStart: this.calls.length,
      startIndex: rangeNode.startIndex,
      endIndex: rangeNode.endIndex,
    };
    this.scopes.push({ depth, qualifiedName, childSeparator: isTest ? ' > ' : '.', artifact: pending });
  }

  /** A `/** … *\/` block or a run of `//` lines that ends right above `start`. */
  private leadingDoc(start: number): string | undefined {
    let i = this.comments.length - 1;
    while (i >= 0 && this.comments[i].start >= start) i--;
    if (i < 0) return undefined;
    const lines: string[] = [];
    let boundary = start;
    while (i >= 0) {
      const c = this.comments[i];
      const between = this.text.slice(c.end, boundary);
      if (!/^\s*$/.test(between) || (between.match(/\n/g)?.length ?? 0) > 1) break;
      if (c.text.startsWith('/**')) {
        if (lines.length === 0) return cleanDoc(c.text.slice(3, -2));
        break;
      }
      if (!c.text.startsWith('//')) break;
      lines.unshift(c.text.slice(2));
      boundary = c.start;
      i--;
    }
    return lines.length > 0 ? cleanDoc(lines.join('\n')) : undefined;
  }

  /** Closes the chunk: hashes, calls and embed inputs of its artifacts, in source order. */
  private finishChunk(origin: { index: number; row: number; column: number }): ChunkResult {
    while (this.scopes.length > 0) {
      const s = this.scopes.pop()!;
      if (s.artifact) this.close(s.artifact);
    }
    // Emit in source order (the walk closes inner artifacts first).
    this.done.sort((a, b) => a.startIndex - b.startIndex || b.endIndex - a.endIndex);
    const artifacts: ArtifactRecord[] = [];
    const embedInputs: EmbedInput[] = [];
    for (const p of this.done) {
      p.record.hash = createHash('sha256').update(this.tokens.slice(p.tokenStart, p.tokenEnd).join('\u0001')).digest('hex').slice(0, 16);
      const callNames = new Set<string>();
      for (let i = p.callStart; i < this.calls.length && this.calls[i].index < p.endIndex; i++) callNames.add(this.calls[i].name);
      p.record.calls = [...callNames];
      embedInputs.push({
        name: p.record.name,
        identifiers: this.identifiers.slice(p.identStart, p.identEnd),
        syntax: this.syntax.slice(p.syntaxStart, p.syntaxEnd),
        text: this.text.slice(p.startIndex, Math.min(p.endIndex, p.startIndex + maxEmbedText)),
      });
      artifacts.push(p.record);
    }
    const chunk: ChunkResult = {
      artifacts,
      embedInputs,
      parseErrors: this.chunkErrors,
      firstError: this.chunkFirstError,
      comments: this.chunkComments,
      usedNames: this.chunkUsed,
      originRow: origin.row,
      originColumn: origin.column,
      originIndex: origin.index,
    };
    this.adopt(chunk);
    this.tokens = [];
    this.syntax = [];
    this.identifiers = [];
    this.calls = [];
    this.done = [];
    this.chunkUsed = [];
    this.chunkComments = [];
    this.chunkErrors = 0;
    this.chunkFirstError = undefined;
    return chunk;
  }
}

function compact(text: string): string {
  return text.replace(/\s+/g, ' ').trim();
}

function cleanDoc(raw: string): string | undefined {
  const text = raw
    .split('\n')
    .map((l) => l.replace(/^\s*\*? ?/, '').trimEnd())
    .join('\n')
    .trim();
  return text.length > 0 ? text : undefined;
}
