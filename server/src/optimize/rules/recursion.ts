/**
 * memoize-recursion: a pure, directly recursive function gets a memo table.
 *
 * Parameters that every recursive call passes through unchanged (same name, same
 * position) are "invariant": the memo lives for one outer call, so they need not be
 * part of the key. The other ("varying") parameters must be primitives; they form the
 * key. The outer signature (defaults included) stays as it is; the body becomes
 *
 *   const memo = new Map<K, R>();
 *   const remember = (key, value) => { memo.set(key, value); return value; };
 *   const recur = (<varying params as written>): R => {
 *     const key = …; const cached = memo.get(key); if (cached !== undefined) return cached;
 *     <original body, recursive calls → recur(<varying args>), return E → return remember(key, E)>
 *   };
 *   return recur(<varying params>);
 *
 * One stack frame per level, as before (plus a leaf call to `remember`).
 */
import type { Node } from 'web-tree-sitter';
import {
  assignedIn,
  descendants,
  Edits,
  enclosingLoops,
  freshName,
  identifiers,
  indentAt,
  isDeclaration,
  isFunction,
  isPure,
  methodCall,
  type Parsed,
  ruleAgent,
  type RuleAgent,
} from './ast';

interface Param {
  name: string;
  text: string;
  type?: string;
  primitive: boolean;
}

const primitiveTypes = new Set(['number', 'string', 'boolean', 'bigint']);

function readParams(p: Parsed): Param[] | string {
  const out: Param[] = [];
  for (const c of p.params.type === 'formal_parameters' ? p.params.namedChildren : [p.params]) {
    if (c.type === 'comment') continue;
    let pattern: Node | null = c;
    let type: string | undefined;
    let value: Node | null = null;
    if (c.type === 'required_parameter' || c.type === 'optional_parameter') {
      pattern = c.childForFieldName('pattern');
      type = c.childForFieldName('type')?.text.replace(/^\??:\s*/, '').trim();
      value = c.childForFieldName('value');
    } else if (c.type === 'assignment_pattern') {
      pattern = c.childForFieldName('left');
      value = c.childForFieldName('right');
    }
    if (pattern?.type !== 'identifier') return `parameter ${c.text} is destructured or a rest parameter`;
    const fromDefault = value && (value.type === 'number' || value.type === 'string' || value.type === 'true' || value.type === 'false');
    out.push({ name: pattern.text, text: c.text, type, primitive: type !== undefined ? primitiveTypes.has(type) : !!fromDefault });
  }
  return out;
}

/** Recorded calls show a primitive at argument `i` every time. */
function samplesPrimitive(p: Parsed, i: number): boolean {
  const samples = p.target.samples;
  if (!samples || samples.length === 0) return false;
  return samples.every((s) => Array.isArray(s.args) && ['number', 'string', 'boolean'].includes(typeof s.args[i]));
}

const numericOps = new Set(['-', '*', '/', '%', '<', '<=', '>', '>=']);

/**
 * Untyped parameter used as a number: an operand of arithmetic or a comparison, and every
 * recursive call passes it unchanged or as arithmetic (so recursion only sees numbers).
 */
function usedAsNumber(p: Parsed, name: string, i: number, argLists: Node[][]): boolean {
  const operand = identifiers(p.body, name).some((id) => id.parent?.type === 'binary_expression' && numericOps.has(id.parent.childForFieldName('operator')?.type ?? ''));
  if (!operand) return false;
  return argLists.every((args) => {
    const a = args[i];
    if (!a) return true;
    if (a.type === 'identifier' && a.text === name) return true;
    if (a.type === 'number') return true;
    return a.type === 'binary_expression' && ['-', '+', '*', '/', '%'].includes(a.childForFieldName('operator')?.type ?? '') && (a.childForFieldName('operator')?.type !== '+' || [a.childForFieldName('left'), a.childForFieldName('right')].some((s) => s?.type === 'number'));
  });
}

/** Why the body might not be pure, or undefined. */
function impurity(p: Parsed, name: string): string | undefined {
  const body = p.body;
  for (const n of descendants(body, ['this', 'await_expression', 'yield_expression', 'new_expression'])) return `uses ${n.type.replace('_expression', '')}`;
  if (identifiers(body, 'arguments').length > 0) return 'uses arguments';
  for (const a of descendants(body, ['assignment_expression', 'augmented_assignment_expression', 'update_expression'])) {
    const target = a.type === 'update_expression' ? a.namedChildren[0] : a.childForFieldName('left');
    if (target?.type !== 'identifier') return `assigns ${target?.text ?? 'something'}, which may be visible outside`;
    const local = identifiers(body, target.text).some((id) => isDeclaration(id));
    if (!local) return `assigns ${target.text}, which is not local`;
  }
  for (const call of descendants(body, 'call_expression')) {
    const callee = call.childForFieldName('function')!;
    if (callee.type === 'identifier' && callee.text === name) continue;
    const m = methodCall(call);
    const pureCallee = callee.type === 'identifier' ? p.helpers.isPureHelper(callee.text, 0) || isPure(call) : m ? isPure(callee) && (m.object.type !== 'identifier' || ['Math', 'Number', 'String'].includes(m.object.text) || isPure(call)) : false;
    if (!pureCallee) return `calls ${callee.text}, which may have side effects or depend on state`;
  }
  return undefined;
}

export const memoizeRecursion: RuleAgent = ruleAgent({
  name: 'memoize-recursion',
  description: 'A pure, directly recursive function with overlapping subproblems → a Map memo keyed on the arguments that change between recursive calls.',
  conditions:
    'The function calls itself by name (not via this), at least twice or in a loop, and the name is not used as a value; parameters are plain names; those that change in recursive calls are primitives (number/string/boolean annotation, a literal default, recorded calls, or in JS used in arithmetic and passed as arithmetic) and never assigned; the others are passed through unchanged. The body is pure: no this/arguments/await/yield/new, assigns only its own locals, calls only itself, Math/Number/String and pure string/array methods or pure same-file helpers. Keys: one number is used as is (so -0 and 0 share an entry), several are joined as text (strings JSON-quoted). TypeScript needs a return type annotation.',
  apply(p) {
    const name = p.name;
    if (!name) return 'the function has no name to recurse through';
    if (p.fn.type === 'method_definition') return 'methods recurse through this: not handled';
    if (p.fn.type.startsWith('generator') || p.fn.children.some((c) => c.type === 'async' || c.type === '*')) return 'generator or async function';
    const params = readParams(p);
    if (typeof params === 'string') return params;
    const calls: Node[] = [];
    for (const id of identifiers(p.body, name)) {
      if (isDeclaration(id)) return `${name} is redeclared inside the function`;
      const up = id.parent!;
      if (up.type === 'call_expression' && up.childForFieldName('function')?.id === id.id) {
        // A call from a nested non-callback function could run after the outer call ended.
        for (let n = up.parent; n && n.id !== p.fn.id; n = n.parent) if (isFunction(n)) return `${name} is called from a nested function`;
        calls.push(up);
      } else return `${name} is used as a value, not only called`;
    }
    if (calls.length === 0) return 'not recursive';
    if (calls.length === 1 && enclosingLoops(p, calls[0]!).length === 0) return 'one recursive call outside a loop: no overlapping subproblems to memoise';
    const invariant = params.map(() => true);
    const argLists: Node[][] = [];
    for (const call of calls) {
      const args = call.childForFieldName('arguments')?.namedChildren.filter((c) => c.type !== 'comment') ?? [];
      if (args.some((a) => a.type === 'spread_element')) return 'a recursive call spreads its arguments';
      if (args.length > params.length) return 'a recursive call passes more arguments than there are parameters';
      argLists.push(args);
      params.forEach((param, i) => {
        if (args[i]?.type !== 'identifier' || args[i]!.text !== param.name) invariant[i] = false;
      });
    }
    const varying = params.filter((_, i) => !invariant[i]);
    for (const [i, param] of params.entries()) {
      if (assignedIn(p.body, param.name)) return `parameter ${param.name} is assigned in the body`;
      if (invariant[i]) continue;
      if (!param.primitive && !(param.type === undefined && (samplesPrimitive(p, i) || usedAsNumber(p, param.name, i, argLists)))) return `parameter ${param.name} changes between recursive calls and may not be a primitive${param.type ? ` (typed ${param.type})` : ''}`;
    }
    for (const args of argLists) {
      params.forEach((_, i) => {
        if (invariant[i] && args[i] === undefined) invariant[i] = false;
      });
    }
    if (params.some((param, i) => invariant[i] === false && !varying.includes(param))) return 'a recursive call leaves out a pass-through argument';
    const impure = impurity(p, name);
    if (impure) return `the body ${impure}`;
    const returnType = p.fn.childForFieldName('return_type')?.text.replace(/^:\s*/, '').trim();
    if (p.ts && !returnType) return 'no return type annotation to type the memo with';
    if (varying.length === 0) return 'every argument is passed through unchanged: the recursion never ends';

    const taken = new Set<string>();
    const memo = freshName(p, 'memo', taken);
    const remember = freshName(p, 'remember', taken);
    const recur = freshName(p, `${name}Memo`, taken);
    const keyName = freshName(p, 'key', taken);
    const cached = freshName(p, 'cached', taken);
    const isNumber = (q: Param) => q.type === 'number' || (q.type === undefined && /=\s*-?\d/.test(q.text));
    let keyExpr: string;
    let keyType: string;
    if (varying.length === 1) {
      keyExpr = varying[0]!.name;
      keyType = varying[0]!.type ?? (isNumber(varying[0]!) ? 'number' : 'unknown');
    } else {
      keyExpr = '`' + varying.map((q) => (q.type === 'string' ? `\${JSON.stringify(${q.name})}` : `\${${q.name}}`)).join(',') + '`';
      keyType = 'string';
    }
    const R = returnType ?? '';
    const t = (s: string) => (p.ts ? s : '');

    const edits = new Edits(p);
    for (const [ci, call] of calls.entries()) {
      const args = argLists[ci]!;
      const kept = params.flatMap((_, i) => (invariant[i] ? [] : args[i] ? [args[i]!.text] : []));
      edits.replaceNode(call, `${recur}(${kept.join(', ')})`);
    }
    const base = indentAt(p, p.fn.startIndex);
    const I = base + p.unit;
    const U = p.unit;
    let inner: string;
    if (p.body.type === 'statement_block') {
      for (const ret of descendants(p.body, 'return_statement')) {
        let owner: Node | null = ret.parent;
        while (owner && !isFunction(owner)) owner = owner.parent;
        if (owner?.id !== p.fn.id) continue;
        const e = ret.namedChildren.find((c) => c.type !== 'comment');
        if (e) {
          edits.insert(e.startIndex, `${remember}(${keyName}, `);
          edits.insert(e.endIndex, ')');
        } else edits.replaceNode(ret, `return ${remember}(${keyName}, undefined);`);
      }
      const open = p.body.startIndex + 1;
      const close = p.body.endIndex - 1;
      const text = edits.applyRange(open, close).replace(/^[ \t]*\n/, '').replace(/\s+$/, '');
      const multiLineTemplate = descendants(p.body, 'template_string').some((s) => s.text.includes('\n'));
      // One level deeper (left alone when a multi-line template literal would change).
      inner = multiLineTemplate ? text : text.split('\n').map((l) => (l.trim() === '' ? l : U + l)).join('\n');
    } else {
      inner = `${I}${U}return ${remember}(${keyName}, ${edits.applyRange(p.body.startIndex, p.body.endIndex)});`;
    }
    const recurParams = varying.map((q) => q.text).join(', ');
    const lines = [
      `{`,
      `${I}const ${memo} = new Map${t(`<${keyType}, ${R}>`)}();`,
      `${I}const ${remember} = (${keyName}${t(`: ${keyType}`)}, value${t(`: ${R}`)})${t(`: ${R}`)} => {`,
      `${I}${U}${memo}.set(${keyName}, value);`,
      `${I}${U}return value;`,
      `${I}};`,
      `${I}const ${recur} = (${recurParams})${t(`: ${R}`)} => {`,
      `${I}${U}const ${keyName} = ${keyExpr};`,
      `${I}${U}const ${cached} = ${memo}.get(${keyName});`,
      `${I}${U}if (${cached} !== undefined) return ${cached};`,
      inner,
      `${I}};`,
      `${I}return ${recur}(${varying.map((q) => q.name).join(', ')});`,
      `${base}}`,
    ];
    const head = p.text.slice(p.start, p.body.startIndex);
    const tail = p.text.slice(p.body.endIndex, p.end);
    return {
      code: head + lines.join('\n') + tail,
      summary: `Memoises ${name} on (${varying.map((q) => q.name).join(', ')}) for the duration of one call: each subproblem is computed once instead of exponentially often.`,
    };
  },
});
