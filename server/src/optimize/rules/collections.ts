/**
 * Rules that replace whole-collection copies:
 *
 *  - accumulate-in-place: `reduce` whose step copies the accumulator
 *    (`Object.assign({}, acc, {…})`, `({ ...acc, … })`, `[...acc, x]`, `acc.concat([x])`)
 *    → mutate the one fresh accumulator the reduce starts from.
 *  - sort-to-extreme: `[...arr].sort(cmp)[0]` (or `arr.slice().sort(cmp)`, `Array.from(arr)`,
 *    via a `const sorted = …` used once as `sorted[0]` / `sorted[sorted.length - 1]`)
 *    → one linear scan that picks the same element the stable sort would.
 */
import type { Node } from 'web-tree-sitter';
import {
  blockStatement,
  descendants,
  Edits,
  freshName,
  identifiers,
  indentAt,
  insertBefore,
  isArrayName,
  isDeclaration,
  isPath,
  methodCall,
  pathRoot,
  referencedNames,
  returnedExpression,
  ruleAgent,
  type RuleAgent,
  simpleParams,
  substitute,
  unparen,
  within,
} from './ast';

// ---- accumulate-in-place -------------------------------------------------------------------

const primitiveOps = new Set(['+', '-', '*', '/', '%', '**', '|', '&', '^', '<<', '>>', '>>>', '<', '>', '<=', '>=', '==', '===', '!=', '!==', 'in', 'instanceof']);

/** The expression always yields a primitive (so assigning it to `__proto__` is a no-op, as in the copy). */
function yieldsPrimitive(node: Node): boolean {
  const e = unparen(node);
  switch (e.type) {
    case 'number':
    case 'string':
    case 'template_string':
    case 'true':
    case 'false':
    case 'null':
    case 'undefined':
      return true;
    case 'binary_expression':
      return primitiveOps.has(e.childForFieldName('operator')?.type ?? '');
    case 'unary_expression':
      return e.child(0)?.type !== 'delete';
    default:
      return false;
  }
}

interface Prop {
  /** `acc.name` / `acc[expr]` target text, and whether the key is computed (dynamic). */
  key: string;
  computed: boolean;
  value: Node;
}

function objectProps(obj: Node, acc: string, skipFirst: boolean): Prop[] | string {
  const children = obj.namedChildren.filter((c) => c.type !== 'comment');
  const out: Prop[] = [];
  for (const c of skipFirst ? children.slice(1) : children) {
    if (c.type === 'shorthand_property_identifier') {
      out.push({ key: c.text, computed: false, value: c });
      continue;
    }
    if (c.type !== 'pair') return `the new object has a ${c.type.replace(/_/g, ' ')} besides the copied accumulator`;
    const key = c.childForFieldName('key')!;
    const value = c.childForFieldName('value')!;
    if (key.type === 'computed_property_name') {
      const k = key.namedChildren[0]!;
      if (referencedNames(k).includes(acc)) return 'a computed key reads the accumulator';
      out.push({ key: k.text, computed: true, value });
    } else {
      const name = key.type === 'string' ? key.text.slice(1, -1) : key.text;
      if (name === '__proto__') return 'the step sets __proto__';
      out.push({ key: /^[A-Za-z_$][\w$]*$/.test(name) ? name : JSON.stringify(name), computed: !/^[A-Za-z_$][\w$]*$/.test(name), value });
    }
  }
  return out;
}

/** The accumulator is read only as `acc.x` / `acc[k]` inside `node`. */
function accOnlyRead(id: Node, acc: string): boolean {
  {
    const up = id.parent!;
    if (id.text !== acc) return false;
    if (!((up.type === 'member_expression' || up.type === 'subscript_expression') && up.childForFieldName('object')?.id === id.id)) return false;
    if (up.parent?.type === 'call_expression' && up.parent.childForFieldName('function')?.id === up.id) return false;
    const top = up.parent;
    return !(top && (top.type === 'assignment_expression' || top.type === 'augmented_assignment_expression') && top.childForFieldName('left')?.id === up.id) && top?.type !== 'update_expression';
  }
}

export const accumulateInPlace: RuleAgent = ruleAgent({
  name: 'accumulate-in-place',
  description: '`reduce` steps that copy the accumulator (`Object.assign({}, acc, {…})`, `({ ...acc, [k]: v })`, `[...acc, x]`, `acc.concat([x])`) → mutate the one accumulator the reduce starts from.',
  conditions:
    "The reduce's initial value is a fresh `{}` or `[]` literal (nothing else can see the accumulator); the callback is an arrow whose body is only the copy; the accumulator is otherwise only read as acc.x/acc[k]; with several new properties, no value reads the accumulator. Object.assign (which assigns) with a computed key needs a value that is always a primitive (then `__proto__` is a no-op both ways); spread (which defines own properties) keeps `__proto__` exact with Object.defineProperty for that one key. Keys are strings, numbers or symbols, not objects with a custom toString; Object.prototype has no added setters.",
  apply(p) {
    const edits = new Edits(p);
    let reason = 'no reduce that copies its accumulator';
    let count = 0;
    for (const call of descendants(p.body, 'call_expression')) {
      const m = methodCall(call);
      if (!m || m.method !== 'reduce' || m.args.length !== 2) continue;
      const [cb, init] = m.args as [Node, Node];
      const initKind = init.type === 'object' && init.namedChildren.length === 0 ? 'object' : init.type === 'array' && init.namedChildren.length === 0 ? 'array' : undefined;
      if (cb.type !== 'arrow_function') continue;
      const params = cb.childForFieldName('parameters')?.namedChildren.filter((c) => c.type !== 'comment') ?? [];
      const accNode = params[0]?.type === 'identifier' ? params[0] : params[0]?.childForFieldName('pattern');
      if (accNode?.type !== 'identifier') continue;
      const acc = accNode.text;
      const body = returnedExpression(cb);
      if (!body) continue;
      let statements: string[] | string | undefined;
      let stepKind: 'object' | 'array' = 'object';
      const am = methodCall(body);
      const keyName = freshName(p, 'key');
      if (body.type === 'call_expression' && body.childForFieldName('function')?.text.replace(/\s/g, '') === 'Object.assign') {
        const args = body.childForFieldName('arguments')!.namedChildren.filter((c) => c.type !== 'comment');
        if (args.length !== 3 || args[0]!.type !== 'object' || args[0]!.namedChildren.length > 0 || args[1]!.text !== acc || args[2]!.type !== 'object') {
          reason = 'Object.assign is not `Object.assign({}, acc, { … })`';
          continue;
        }
        const props = objectProps(args[2]!, acc, false);
        if (typeof props === 'string') {
          reason = props;
          continue;
        }
        if (props.some((q) => q.computed && !yieldsPrimitive(q.value))) {
          reason = 'a computed key gets a value that may be an object: assigning it to a "__proto__" key would change the prototype';
          continue;
        }
        statements = assignments(props, acc, 'assign', keyName);
        if (typeof statements === 'string') {
          reason = statements;
          continue;
        }
      } else if (body.type === 'object') {
        const first = body.namedChildren[0];
        if (first?.type !== 'spread_element' || first.namedChildren[0]?.text !== acc) continue;
        const props = objectProps(body, acc, true);
        if (typeof props === 'string') {
          reason = props;
          continue;
        }
        statements = assignments(props, acc, 'define', keyName);
      } else if (body.type === 'array') {
        const first = body.namedChildren[0];
        if (first?.type !== 'spread_element' || first.namedChildren[0]?.text !== acc) continue;
        const rest = body.namedChildren.slice(1);
        if (rest.some((c) => c.type === 'spread_element' || c.type === 'comment') || /,\s*,/.test(body.text)) {
          reason = 'the new array spreads more or has holes';
          continue;
        }
        if (rest.some((c) => referencedNames(c).includes(acc))) {
          reason = 'an appended value reads the accumulator';
          continue;
        }
        statements = [`${acc}.push(${rest.map((c) => c.text).join(', ')});`];
        stepKind = 'array';
      } else if (am && am.method === 'concat' && am.object.text === acc && am.args.length === 1) {
        const arg = am.args[0]!;
        if (arg.type !== 'array' || arg.namedChildren.some((c) => c.type === 'spread_element') || /,\s*,/.test(arg.text)) {
          reason = 'acc.concat(x) with x not an array literal: concat flattens arrays, push would not';
          continue;
        }
        if (referencedNames(arg).includes(acc)) {
          reason = 'an appended value reads the accumulator';
          continue;
        }
        statements = [`${acc}.push(${arg.namedChildren.map((c) => c.text).join(', ')});`];
        stepKind = 'array';
      } else continue;
      if (typeof statements === 'string') {
        reason = statements;
        continue;
      }
      if (initKind !== stepKind) {
        reason = 'the initial value is not a fresh empty literal of the same kind';
        continue;
      }
      // The accumulator must not be used anywhere else in the callback (captured, returned, passed on).
      const cbBody = cb.childForFieldName('body')!;
      const misused = identifiers(cbBody, acc).some((id) => {
        const up = id.parent!;
        if (up.type === 'spread_element' && up.parent?.id === body.id) return false;
        if (up.type === 'arguments' && up.parent?.id === body.id) return false;
        if (up.type === 'member_expression' && up.parent?.id === body.id && stepKind === 'array') return false;
        return !accOnlyRead(id, acc);
      });
      if (misused || identifiers(cbBody, acc).some((id) => isDeclaration(id))) {
        reason = 'the accumulator is used other than read in the step';
        continue;
      }
      const base = indentAt(p, cbBody.startIndex);
      const inner = base + p.unit;
      const block = `{\n${statements.map((s) => s.replace(/\n/g, `\n${inner}`)).map((s) => inner + s).join('\n')}\n${inner}return ${acc};\n${base}}`;
      edits.replaceNode(cbBody, block);
      count++;
    }
    if (count === 0) return reason;
    return { code: edits.apply(), summary: 'Mutates one accumulator in reduce instead of copying it on every step (O(n²) → O(n)).' };
  },
});

function assignments(props: Prop[], acc: string, mode: 'assign' | 'define', keyName: string): string[] | string {
  if (props.length === 0) return 'the step adds no property';
  if (props.length > 1 && props.some((q) => referencedNames(q.value).includes(acc))) return 'several new properties and a value reads the accumulator (it would see the earlier ones)';
  const out: string[] = [];
  for (const q of props) {
    if (!q.computed) out.push(`${acc}.${q.key} = ${q.value.text};`);
    else if (mode === 'assign' || /^"[^"]*"$/.test(q.key)) out.push(`${acc}[${q.key}] = ${q.value.text};`);
    else {
      // Spread defines an own property even for "__proto__"; assignment would call the setter.
      out.push(`const ${keyName} = ${q.key};`);
      out.push(`if (${keyName} === '__proto__') Object.defineProperty(${acc}, ${keyName}, { value: ${q.value.text}, writable: true, enumerable: true, configurable: true });`);
      out.push(`else ${acc}[${keyName}] = ${q.value.text};`);
    }
  }
  return out;
}

// ---- sort-to-extreme -----------------------------------------------------------------------

/** `[...a]`, `a.slice()`, `Array.from(a)`: the array copied, as a name. */
function copiedArray(node: Node): string | undefined {
  const n = unparen(node);
  if (n.type === 'array' && n.namedChildren.length === 1 && n.namedChildren[0]!.type === 'spread_element') {
    const inner = n.namedChildren[0]!.namedChildren[0];
    return inner?.type === 'identifier' ? inner.text : undefined;
  }
  const m = methodCall(n);
  if (m && m.method === 'slice' && m.args.length === 0 && m.object.type === 'identifier') return m.object.text;
  if (m && m.object.text === 'Array' && m.method === 'from' && m.args.length === 1 && m.args[0]!.type === 'identifier') return m.args[0]!.text;
  return undefined;
}

/** `(a, b) => a.k - b.k` (or `b.k - a.k`, block body with one return): the parameter names and body. */
function keyDifference(cmp: Node): { a: string; b: string; body: Node } | string {
  if (cmp.type !== 'arrow_function' && cmp.type !== 'function_expression') return 'the comparator is not a function literal';
  const params = simpleParams(cmp);
  if (params?.length !== 2) return 'the comparator does not take two plain parameters';
  const body = returnedExpression(cmp);
  if (body?.type !== 'binary_expression' || body.childForFieldName('operator')?.type !== '-') return 'the comparator is not a simple key difference `a.k - b.k`';
  const left = unparen(body.childForFieldName('left')!);
  const right = unparen(body.childForFieldName('right')!);
  const [a, b] = params as [string, string];
  if (!isPath(left) || !isPath(right)) return 'the comparator is not a simple key difference `a.k - b.k`';
  const lr = pathRoot(left)?.text;
  const rr = pathRoot(right)?.text;
  const rest = (n: Node) => n.text.slice(pathRoot(n)!.text.length);
  if (!((lr === a && rr === b) || (lr === b && rr === a)) || rest(left) !== rest(right)) return 'the comparator is not a simple key difference `a.k - b.k`';
  return { a, b, body };
}

export const sortToExtreme: RuleAgent = ruleAgent({
  name: 'sort-to-extreme',
  description: '`[...arr].sort((a, b) => a.k - b.k)[0]` (or `.slice().sort(…)`, `[len - 1]`, via a `const sorted` used once) → one linear pass that keeps the element the stable sort would put there.',
  conditions:
    'The sort works on a copy (spread, slice(), Array.from) of an array name; the comparator is a key difference a.k - b.k or b.k - a.k on the same property path; the sorted copy is used once, as [0] or [length - 1]. Keys are numbers and never NaN (NaN makes sort order implementation-defined); the array has no holes or undefined elements (sort moves those to the end). The scan compares with the comparator itself: for [0] it replaces only on cmp < 0 (first of ties, as the stable sort), for [length - 1] on cmp >= 0 (last of ties); an empty array gives undefined.',
  apply(p) {
    const edits = new Edits(p);
    let reason = 'no `[...arr].sort(cmp)[0]`';
    let count = 0;
    const taken = new Set<string>();
    for (const call of descendants(p.body, 'call_expression')) {
      const m = methodCall(call);
      if (!m || m.method !== 'sort') continue;
      const arr = copiedArray(m.object);
      if (!arr) {
        if (m.object.type === 'identifier') reason = 'the sort works in place: the rewrite would drop the mutation';
        continue;
      }
      if (m.args.length !== 1) {
        reason = 'sort without a comparator compares strings';
        continue;
      }
      const cmp = keyDifference(m.args[0]!);
      if (typeof cmp === 'string') {
        reason = cmp;
        continue;
      }
      if (!isArrayName(p, arr)) {
        reason = `can't tell that ${arr} is an array`;
        continue;
      }
      // Which element is taken: inline `…sort(cmp)[i]`, or `const sorted = …; … sorted[i]`.
      let use: Node | undefined;
      let which: 'first' | 'last' | undefined;
      let declStmt: Node | undefined;
      const up = call.parent;
      if (up?.type === 'subscript_expression' && up.childForFieldName('object')?.id === call.id) {
        use = up;
        which = up.childForFieldName('index')?.text === '0' ? 'first' : undefined;
      } else if (up?.type === 'variable_declarator' && up.childForFieldName('name')?.type === 'identifier' && up.parent?.child(0)?.type === 'const') {
        const name = up.childForFieldName('name')!.text;
        const refs = identifiers(p.fn, name).filter((id) => !isDeclaration(id));
        declStmt = up.parent;
        if (declStmt.namedChildren.filter((c) => c.type === 'variable_declarator').length !== 1 || blockStatement(p, declStmt)?.id !== declStmt.id) {
          reason = 'the sorted copy is declared together with other variables';
          continue;
        }
        const sub = refs[0]?.parent;
        if (sub?.type === 'subscript_expression' && sub.childForFieldName('object')?.id === refs[0]!.id) {
          const index = sub.childForFieldName('index')!.text.replace(/\s/g, '');
          if (refs.length === 1 && index === '0') which = 'first';
          else if (refs.length === 2 && index === `${name}.length-1` && within(refs[1]!, sub)) which = 'last';
          use = sub;
        }
        if (!use || !which) {
          reason = `${name} is used other than once as ${name}[0] or ${name}[${name}.length - 1]`;
          continue;
        }
      }
      if (!use || !which) {
        reason = 'the sorted copy is not indexed by [0] or [length - 1]';
        continue;
      }
      const best = freshName(p, which === 'first' ? 'first' : 'last', taken);
      const i = freshName(p, 'i', taken);
      const test = `${substitute(cmp.body, { [cmp.a]: `${arr}[${i}]`, [cmp.b]: best })} ${which === 'first' ? '<' : '>='} 0`;
      const scan = [`let ${best} = ${arr}[0];`, `for (let ${i} = 1; ${i} < ${arr}.length; ${i}++) {`, `${p.unit}if (${test}) ${best} = ${arr}[${i}];`, `}`].join('\n');
      if (declStmt) {
        const indent = indentAt(p, declStmt.startIndex);
        edits.replaceNode(declStmt, scan.replace(/\n/g, `\n${indent}`));
      } else if (!insertBefore(p, edits, use, scan)) {
        reason = 'no place to put the scan';
        continue;
      }
      edits.replaceNode(use, best);
      count++;
    }
    if (count === 0) return reason;
    return { code: edits.apply(), summary: 'Finds the extreme element in one linear pass (ties resolved as the stable sort does) instead of copying and sorting (O(n log n) → O(n)).' };
  },
});

export const collectionRules: RuleAgent[] = [accumulateInPlace, sortToExtreme];

