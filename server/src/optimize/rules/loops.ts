/**
 * Rules for work repeated inside loops (statement loops, and the callbacks of
 * `map`/`filter`/`some`/… which run once per element):
 *
 *  - set-membership: `arr.includes(x)` on a loop-invariant array → a `Set` built once.
 *  - indexof-to-set: dedupe by `out.indexOf(x) === -1` / `!out.includes(x)` then `out.push(x)`
 *    → a `Set` mirroring `out`, keeping `indexOf`'s NaN behaviour.
 *  - find-to-map: `arr.find((e) => e.k === key)` in a loop → a `Map` from `k` to the first
 *    element with it, kept in sync with `arr.push(…)`.
 *  - hoist-invariant: `new RegExp(…)`, string transforms, `Object.keys(o)` and pure
 *    same-file helper calls with loop-invariant operands → computed once before the loop.
 *  - split-once: `s.split(sep)` re-evaluated in a loop → split once before it.
 *  - own-key-check: `Object.keys(o).includes(k)` → `Object.hasOwn(o, k)`.
 *  - count-in-one-pass: `arr.filter((e) => e.k === key).length` in a loop → one counting pass.
 */
import type { Node } from 'web-tree-sitter';
import {
  assignedIn,
  blockStatement,
  capitalize,
  declaredIn,
  declaredType,
  elementType,
  descendants,
  Edits,
  enclosingLoops,
  findDeclarator,
  freshName,
  identifiers,
  indentAt,
  insertBefore,
  invariantIn,
  isArrayName,
  isAssigned,
  isDeclaration,
  isLoop,
  isPath,
  isPure,
  methodCall,
  mutatingArrayMethods,
  type Parsed,
  pathRoot,
  readOnlyIn,
  readOnlyUse,
  referencedNames,
  removeStatement,
  returnedExpression,
  ruleAgent,
  type RuleAgent,
  simpleParams,
  unparen,
  within,
} from './ast';

const literalTypes = new Set(['number', 'string', 'true', 'false', 'null', 'undefined']);
const isSimple = (n: Node): boolean => isPath(n) || literalTypes.has(n.type);

/** Outermost of `loops` (innermost first) for which `ok` holds of it and every loop inside it. */
function outermost(loops: Node[], ok: (loop: Node) => boolean): Node | undefined {
  let best: Node | undefined;
  for (const loop of loops) {
    if (!ok(loop)) break;
    best = loop;
  }
  return best;
}

// ---- set-membership ------------------------------------------------------------------------

export const setMembership: RuleAgent = ruleAgent({
  name: 'set-membership',
  description: '`arr.includes(x)` inside a loop or callback, on an array the loop never changes → `new Set(arr)` built once, `.has(x)`.',
  conditions:
    'arr is an array (by type annotation or how it is created), is never reassigned, and is only read inside the loop (no mutating method, no assignment, not passed to a call); includes has one argument. includes and Set#has both use SameValueZero, so NaN and ±0 behave the same.',
  apply(p) {
    const edits = new Edits(p);
    const sets = new Map<string, { name: string; uses: number }>();
    let reason = 'no `arr.includes(x)` inside a loop or callback';
    const taken = new Set<string>();
    for (const call of descendants(p.body, 'call_expression')) {
      const m = methodCall(call);
      if (!m || m.method !== 'includes' || m.object.type !== 'identifier') continue;
      const arr = m.object.text;
      const loops = enclosingLoops(p, call);
      if (loops.length === 0) continue;
      if (m.args.length !== 1 || m.args[0]!.type === 'spread_element') {
        reason = `${arr}.includes has a fromIndex or spread argument`;
        continue;
      }
      if (!isArrayName(p, arr)) {
        reason = `can't tell that ${arr} is an array (String#includes is a substring test)`;
        continue;
      }
      if (assignedIn(p.fn, arr)) {
        reason = `${arr} is reassigned in the function`;
        continue;
      }
      const loop = outermost(loops, (l) => !declaredIn(l, arr) && readOnlyIn(l, arr));
      if (!loop) {
        reason = `${arr} is declared or changed inside the loop`;
        continue;
      }
      const stmt = blockStatement(p, loop) ?? p.body;
      if (!readOnlyIn(stmt, arr)) {
        reason = `${arr} is changed in the statement holding the loop`;
        continue;
      }
      const key = `${arr}@${stmt.startIndex}`;
      let set = sets.get(key);
      if (!set) {
        set = { name: freshName(p, `${arr}Set`, taken), uses: 0 };
        if (!insertBefore(p, edits, loop, `const ${set.name} = new Set(${arr});`)) {
          reason = 'no place to put the Set before the loop';
          continue;
        }
        sets.set(key, set);
      }
      set.uses++;
      edits.replaceNode(call, `${set.name}.has(${m.args[0]!.text})`);
    }
    if (sets.size === 0) return reason;
    const names = [...new Set([...sets.keys()].map((k) => k.split('@')[0]))].join(', ');
    return { code: edits.apply(), summary: `Looks ${names} up in a Set built once instead of scanning the array with includes() on every iteration (O(n·m) → O(n+m)).` };
  },
});

// ---- indexof-to-set ------------------------------------------------------------------------

type Test = 'missing' | 'present';

/** `a.indexOf(x) === -1` and friends: which way the comparison asks, or undefined. */
function indexOfTest(call: Node): { node: Node; test: Test } | undefined {
  const parent = call.parent;
  if (parent?.type !== 'binary_expression') return undefined;
  const op = parent.childForFieldName('operator')?.type ?? '';
  const left = parent.childForFieldName('left');
  const right = parent.childForFieldName('right')?.text.replace(/\s/g, '');
  if (left?.id !== call.id) return undefined;
  if (right === '-1') {
    if (op === '===' || op === '==') return { node: parent, test: 'missing' };
    if (op === '!==' || op === '!=' || op === '>') return { node: parent, test: 'present' };
  }
  if (right === '0') {
    if (op === '<') return { node: parent, test: 'missing' };
    if (op === '>=') return { node: parent, test: 'present' };
  }
  return undefined;
}

export const indexOfToSet: RuleAgent = ruleAgent({
  name: 'indexof-to-set',
  description: 'Dedupe loops (`if (out.indexOf(x) === -1) out.push(x)`, or with `!out.includes(x)`) → a Set of seen values next to the array; NaN keeps indexOf semantics.',
  conditions:
    'out starts as an empty array literal, is never reassigned, and from its declaration to the end of the loop is only used as out.indexOf(x) compared with -1/0, out.includes(x), out.push(y) (one argument, as a statement) or out.length; x and y are names, property paths or literals. indexOf uses strict equality, so NaN is never found: the rewrite tests Number.isNaN(x) first.',
  apply(p) {
    const edits = new Edits(p);
    const taken = new Set<string>();
    const done = new Set<string>();
    let reason = 'no `out.indexOf(x)`/`out.includes(x)` dedupe pattern inside a loop';
    let count = 0;
    for (const call of descendants(p.body, 'call_expression')) {
      const m = methodCall(call);
      if (!m || (m.method !== 'indexOf' && m.method !== 'includes') || m.object.type !== 'identifier') continue;
      const arr = m.object.text;
      if (done.has(arr)) continue;
      const loops = enclosingLoops(p, call, false);
      if (loops.length === 0) continue;
      const decl = findDeclarator(p, arr);
      const value = decl?.childForFieldName('value');
      const declStmt = decl?.parent;
      if (decl?.type !== 'variable_declarator' || value?.type !== 'array' || value.namedChildren.length > 0 || !declStmt || declStmt.type !== 'lexical_declaration') {
        reason = `${arr} is not declared in the function as an empty array literal`;
        continue;
      }
      if (declStmt.namedChildren.filter((c) => c.type === 'variable_declarator').length !== 1 || blockStatement(p, declStmt)?.id !== declStmt.id) {
        reason = `${arr}'s declaration is not a single statement in a block`;
        continue;
      }
      if (assignedIn(p.fn, arr)) {
        reason = `${arr} is reassigned`;
        continue;
      }
      const loop = loops.filter((l) => l.startIndex > declStmt.endIndex).pop();
      if (!loop) {
        reason = `${arr} is declared inside the loop`;
        continue;
      }
      // Every use between the declaration and the end of the loop must be one we mirror.
      const uses = identifiers(p.fn, arr).filter((id) => id.startIndex > declStmt.endIndex && id.endIndex <= loop.endIndex);
      const rewrites: { node: Node; text: (seen: string) => string }[] = [];
      let bad: string | undefined;
      for (const id of uses) {
        if (!within(id, loop)) {
          bad = `${arr} is used between its declaration and the loop`;
          break;
        }
        const member = id.parent;
        const useCall = member?.parent;
        if (member?.type === 'member_expression' && member.childForFieldName('property')?.text === 'length' && !isAssigned(member) && useCall?.type !== 'call_expression') continue;
        const um = useCall ? methodCall(useCall) : undefined;
        if (!um || um.object.id !== id.id || um.args.length !== 1 || !isSimple(um.args[0]!)) {
          bad = `${arr} is used in the loop other than by indexOf/includes/push of a name or literal`;
          break;
        }
        const x = um.args[0]!.text;
        if (um.method === 'includes') {
          rewrites.push({ node: useCall!, text: (seen) => `${seen}.has(${x})` });
        } else if (um.method === 'indexOf') {
          const t = indexOfTest(useCall!);
          if (!t) {
            bad = `${arr}.indexOf(…) is used for its position, not compared with -1`;
            break;
          }
          rewrites.push({
            node: t.node,
            text: (seen) => {
              const e = t.test === 'missing' ? `Number.isNaN(${x}) || !${seen}.has(${x})` : `!Number.isNaN(${x}) && ${seen}.has(${x})`;
              return t.node.parent?.type === 'parenthesized_expression' ? e : `(${e})`;
            },
          });
        } else if (um.method === 'push' && useCall!.parent?.type === 'expression_statement') {
          const stmt = useCall!.parent;
          const inBlock = stmt.parent?.type === 'statement_block';
          const indent = indentAt(p, stmt.startIndex);
          rewrites.push({
            node: stmt,
            text: (seen) => (inBlock ? `${stmt.text}\n${indent}${seen}.add(${x});` : `{ ${stmt.text} ${seen}.add(${x}); }`),
          });
        } else {
          bad = `${arr}.${um.method}(…) in the loop is not mirrored by the rewrite`;
          break;
        }
      }
      if (bad) {
        reason = bad;
        continue;
      }
      if (!rewrites.some((r) => r.node.type !== 'expression_statement')) continue;
      const seen = freshName(p, `${arr}Seen`, taken);
      const indent = indentAt(p, declStmt.startIndex);
      edits.insert(declStmt.endIndex, `\n${indent}const ${seen} = new Set${p.ts ? '<unknown>' : ''}();`);
      for (const r of rewrites) edits.replaceNode(r.node, r.text(seen));
      done.add(arr);
      count++;
    }
    if (count === 0) return reason;
    return { code: edits.apply(), summary: `Tracks the values already in ${[...done].join(', ')} in a Set instead of scanning the array (O(n²) → O(n)); NaN is still never found, as with indexOf.` };
  },
});

// ---- find-to-map ---------------------------------------------------------------------------

/** `(e) => e.k === key` (either side): the element's property and the key expression. */
function keyMatch(cb: Node | undefined): { prop: string; key: Node } | undefined {
  if (!cb || (cb.type !== 'arrow_function' && cb.type !== 'function_expression')) return undefined;
  const params = simpleParams(cb);
  if (params?.length !== 1) return undefined;
  const e = params[0]!;
  const body = returnedExpression(cb);
  if (body?.type !== 'binary_expression' || body.childForFieldName('operator')?.type !== '===') return undefined;
  const sides = [body.childForFieldName('left')!, body.childForFieldName('right')!].map(unparen);
  for (const [mine, other] of [sides, [sides[1]!, sides[0]!]]) {
    if (mine!.type !== 'member_expression' || mine!.childForFieldName('object')?.text !== e) continue;
    const prop = mine!.childForFieldName('property');
    if (prop?.type !== 'property_identifier' || mine!.text.includes('?.')) continue;
    if (!isPath(other!) || referencedNames(other!).includes(e)) continue;
    return { prop: prop.text, key: other! };
  }
  return undefined;
}

/** Any assignment to a property named `prop` inside `scope` (on any object). */
function assignsProperty(scope: Node, prop: string): boolean {
  return descendants(scope, ['assignment_expression', 'augmented_assignment_expression', 'update_expression']).some((a) => {
    const target = a.type === 'update_expression' ? a.namedChildren[0] : a.childForFieldName('left');
    return target?.type === 'member_expression' && target.childForFieldName('property')?.text === prop;
  });
}

export const findToMap: RuleAgent = ruleAgent({
  name: 'find-to-map',
  description: '`arr.find((e) => e.k === key)` inside a loop → a Map from k to the first element with that k, built once and kept in sync with `arr.push(…)`.',
  conditions:
    'arr is never reassigned; inside the loop it is only read or extended by arr.push(one value) as a statement; no property named k is assigned inside the loop (elements keep their keys); key is a name or property path. Elements are objects. find compares with ===, so a NaN key never matches: NaN keys are not entered in the Map.',
  apply(p) {
    const edits = new Edits(p);
    const taken = new Set<string>();
    const built = new Map<string, { map: string; index: string; prop: string }>();
    let reason = 'no `arr.find((e) => e.k === key)` inside a loop';
    for (const call of descendants(p.body, 'call_expression')) {
      const m = methodCall(call);
      if (!m || m.method !== 'find' || m.object.type !== 'identifier') continue;
      const arr = m.object.text;
      const loops = enclosingLoops(p, call, false).filter(isLoop);
      if (loops.length === 0) continue;
      const match = m.args.length === 1 ? keyMatch(m.args[0]) : undefined;
      if (!match) {
        reason = `the find callback is not \`(e) => e.k === key\``;
        continue;
      }
      if (assignedIn(p.fn, arr)) {
        reason = `${arr} is reassigned`;
        continue;
      }
      if (!isArrayName(p, arr)) {
        reason = `can't tell that ${arr} is an array`;
        continue;
      }
      const pushes: Node[] = [];
      const loop = outermost(loops, (l) => {
        if (declaredIn(l, arr) || assignsProperty(l, match.prop)) return false;
        for (const id of identifiers(l, arr)) {
          if (readOnlyUse(id)) {
            const um = id.parent?.parent ? methodCall(id.parent.parent) : undefined;
            if (um?.method === 'find' && !(um.args.length === 1 && keyMatch(um.args[0])?.prop === match.prop)) return false;
            continue;
          }
          const um = id.parent?.parent ? methodCall(id.parent.parent) : undefined;
          if (um?.method !== 'push' || um.object.id !== id.id || um.args.length !== 1 || um.args[0]!.type === 'spread_element') return false;
          if (id.parent!.parent!.parent?.type !== 'expression_statement') return false;
        }
        return true;
      });
      if (!loop) {
        reason = `${arr} is changed inside the loop other than by push(one value), or the key property is assigned`;
        continue;
      }
      for (const id of identifiers(loop, arr)) {
        const um = methodCall(id.parent!.parent!);
        if (um?.method === 'push' && mutatingArrayMethods.has('push') && !readOnlyUse(id)) pushes.push(id.parent!.parent!.parent!);
      }
      const key = `${arr}.${match.prop}@${loop.startIndex}`;
      let entry = built.get(key);
      if (!entry) {
        const map = freshName(p, `${arr}By${capitalize(match.prop)}`, taken);
        const index = freshName(p, `index${capitalize(arr)}`, taken);
        const item = freshName(p, 'item', taken);
        const k = freshName(p, 'key', taken);
        const el = p.ts ? `(typeof ${arr})[number]` : '';
        const decl = [
          `const ${map} = new Map${p.ts ? `<unknown, ${el}>` : ''}();`,
          `const ${index} = (${item}${p.ts ? `: ${el}` : ''}) => {`,
          `${p.unit}const ${k} = ${item}.${match.prop};`,
          `${p.unit}if (${k} === ${k} && !${map}.has(${k})) ${map}.set(${k}, ${item}); // first one wins, like find; NaN never matches`,
          `};`,
          `for (const ${item} of ${arr}) ${index}(${item});`,
        ].join('\n');
        if (!insertBefore(p, edits, loop, decl)) {
          reason = 'no place to build the Map before the loop';
          continue;
        }
        entry = { map, index, prop: match.prop };
        built.set(key, entry);
        for (const stmt of pushes) {
          const pushCall = stmt.namedChildren[0]!;
          edits.replaceNode(stmt, `${entry.index}(${arr}[${pushCall.text} - 1]);`);
        }
      }
      edits.replaceNode(call, `${entry.map}.get(${match.key.text})`);
    }
    if (built.size === 0) return reason;
    return { code: edits.apply(), summary: `Finds elements by key in a Map built once (first occurrence wins, kept in sync on push) instead of find() on every iteration (O(n·m) → O(n+m)).` };
  },
});

// ---- hoist-invariant -----------------------------------------------------------------------

const stringTransforms = new Set(['trim', 'trimStart', 'trimEnd', 'toLowerCase', 'toUpperCase', 'normalize', 'toLocaleLowerCase', 'toLocaleUpperCase']);
const readOnlyArrayMethods = new Set(['includes', 'indexOf', 'lastIndexOf', 'some', 'every', 'find', 'findIndex', 'forEach', 'map', 'filter', 'join', 'slice', 'at', 'reduce']);

/** Why `node` is worth hoisting and how to name it, or undefined; a string is a refusal. */
function hoistable(p: Parsed, node: Node): { base: string } | string | undefined {
  if (node.type === 'new_expression') {
    if (node.childForFieldName('constructor')?.text !== 'RegExp') return undefined;
    const args = node.childForFieldName('arguments')?.namedChildren ?? [];
    if (args.length === 0 || args.length > 2) return undefined;
    if (args.length === 2) {
      const flags = args[1]!;
      if (flags.type !== 'string') return 'the RegExp flags are not a string literal';
      if (/[gy]/.test(flags.text.slice(1, -1))) return 'a RegExp with the g or y flag keeps lastIndex state between uses: not hoisted';
    }
    if (args[0]!.type === 'regex' && /[gy]/.test(args[0]!.childForFieldName('flags')?.text ?? '') && args.length === 1) return 'a RegExp copied from a g/y literal is stateful: not hoisted';
    return { base: 'pattern' };
  }
  if (node.type !== 'call_expression') return undefined;
  const callee = node.childForFieldName('function');
  if (callee?.type === 'identifier') {
    if (!p.helpers.isPureHelper(callee.text, 0)) return undefined;
    const call = node.childForFieldName('arguments');
    if (!call || call.namedChildren.length === 0) return undefined;
    return { base: `${callee.text}ed` };
  }
  const m = methodCall(node);
  if (!m) return undefined;
  if (stringTransforms.has(m.method) && isPath(m.object)) {
    const root = pathRoot(m.object);
    const type = root && m.object.type === 'identifier' ? declaredType(p, root.text) : undefined;
    if (type !== undefined && type !== 'string') return undefined;
    return { base: `${m.object.text.split('.').pop()}${capitalize(m.method)}` };
  }
  if (m.object.type === 'identifier' && m.object.text === 'Object' && ['keys', 'values', 'entries'].includes(m.method)) {
    const up = node.parent;
    const use = up?.type === 'member_expression' && up.childForFieldName('object')?.id === node.id ? up : undefined;
    const method = use?.childForFieldName('property')?.text ?? '';
    if (!use || !(method === 'length' || (readOnlyArrayMethods.has(method) && use.parent?.type === 'call_expression'))) return 'Object.keys(…) result is not used read-only';
    return { base: `${m.args[0]?.text.split('.').pop() ?? 'object'}${capitalize(m.method)}` };
  }
  return undefined;
}

export const hoistInvariant: RuleAgent = ruleAgent({
  name: 'hoist-invariant',
  description: 'Loop-invariant `new RegExp(…)`, string transforms (`trim`, `toLowerCase`, …), `Object.keys(o)` used read-only and calls of pure same-file helpers → computed once before the loop.',
  conditions:
    'Every name the expression reads is declared outside the loop and never assigned in it; calls are pure (string methods, Math, helpers of the same file made of return/const of pure expressions); a RegExp has literal flags without g or y (lastIndex state); for Object.keys/values/entries, the object is not changed in the loop and the array is only read. The hoisted expression must not throw: it now runs once even when the loop runs zero times.',
  apply(p) {
    const edits = new Edits(p);
    const taken = new Set<string>();
    const chosen: { node: Node; loop: Node; base: string }[] = [];
    let reason = 'nothing loop-invariant worth hoisting';
    const nodes = descendants(p.body, ['new_expression', 'call_expression']).sort((a, b) => a.startIndex - b.startIndex || b.endIndex - a.endIndex);
    for (const node of nodes) {
      if (chosen.some((c) => within(node, c.node))) continue;
      const h = hoistable(p, node);
      if (h === undefined) continue;
      if (typeof h === 'string') {
        reason = h;
        continue;
      }
      const loops = enclosingLoops(p, node);
      const loop = outermost(loops, (l) => invariantIn(node, l, p.helpers) && (node.type !== 'call_expression' || objectUnchanged(node, l)));
      if (!loop) continue;
      chosen.push({ node, loop, base: h.base });
    }
    if (chosen.length === 0) return reason;
    const moved: string[] = [];
    for (const c of chosen) {
      // `const v = <expr>` alone in the loop body: move the whole declaration.
      const decl = c.node.parent;
      const stmt = decl?.parent;
      const name = decl?.type === 'variable_declarator' ? decl.childForFieldName('name') : null;
      if (
        decl?.type === 'variable_declarator' &&
        name?.type === 'identifier' &&
        stmt?.type === 'lexical_declaration' &&
        stmt.child(0)?.type === 'const' &&
        stmt.namedChildren.filter((n) => n.type === 'variable_declarator').length === 1 &&
        stmt.parent?.type === 'statement_block' &&
        identifiers(p.fn, name.text).filter(isDeclaration).length === 1 &&
        identifiers(p.fn, name.text).every((id) => within(id, c.loop))
      ) {
        const hoisted = stmt.text;
        if (!insertBefore(p, edits, c.loop, hoisted)) continue;
        removeStatement(p, edits, stmt);
        moved.push(name.text);
        continue;
      }
      const v = freshName(p, c.base, taken);
      if (!insertBefore(p, edits, c.loop, `const ${v} = ${c.node.text};`)) continue;
      edits.replaceNode(c.node, v);
      moved.push(v);
    }
    if (moved.length === 0) return 'no place to put the hoisted value before the loop';
    return { code: edits.apply(), summary: `Computes ${moved.join(', ')} once before the loop instead of on every iteration.` };
  },
});

/** For `Object.keys(o)`: `o` is not changed in the loop (no property assignment, not passed to a call). */
function objectUnchanged(node: Node, loop: Node): boolean {
  const m = methodCall(node);
  if (!m || m.object.text !== 'Object') return true;
  const arg = m.args[0];
  const root = arg ? pathRoot(arg) : undefined;
  if (!root) return false;
  for (const id of identifiers(loop, root.text)) {
    let n: Node = id;
    while (n.parent && (n.parent.type === 'member_expression' || n.parent.type === 'subscript_expression') && n.parent.childForFieldName('object')?.id === n.id) n = n.parent;
    if (n.id !== id.id && isAssigned(n)) return false;
    const up = n.parent;
    if (up?.type === 'arguments' && up.parent?.id !== node.id) return false;
    if (up?.type === 'call_expression') {
      const mm = methodCall(up);
      if (mm && mutatingArrayMethods.has(mm.method)) return false;
    }
  }
  return true;
}

// ---- split-once ----------------------------------------------------------------------------

export const splitOnce: RuleAgent = ruleAgent({
  name: 'split-once',
  description: '`s.split(sep)` evaluated on every iteration (loop condition, body) with invariant `s` and `sep` → split once before the loop.',
  conditions:
    's is a string (annotation string or none), s and sep are declared outside the loop and never assigned in it, and every use of the split result only reads it (.length, [i], non-mutating methods). A split in a for condition runs at least once anyway; one only in the body now runs even when the loop body never does.',
  apply(p) {
    const edits = new Edits(p);
    const taken = new Set<string>();
    const groups = new Map<string, { name: string; loop: Node; calls: Node[] }>();
    let reason = 'no `s.split(sep)` re-evaluated inside a loop';
    for (const call of descendants(p.body, 'call_expression')) {
      const m = methodCall(call);
      if (!m || m.method !== 'split' || !isPath(m.object) || m.args.length === 0 || m.args.length > 2) continue;
      if (!m.args.every((a) => isPure(a) && a.type !== 'regex')) continue;
      const loops = enclosingLoops(p, call);
      if (loops.length === 0) continue;
      const root = pathRoot(m.object);
      const type = root && m.object.type === 'identifier' ? declaredType(p, root.text) : undefined;
      if (type !== undefined && type !== 'string') {
        reason = `${m.object.text} is typed ${type}, not string`;
        continue;
      }
      const loop = outermost(loops, (l) => invariantIn(call, l, p.helpers));
      if (!loop) continue;
      if (!resultReadOnly(call)) {
        reason = `the array from ${call.text} is changed or escapes`;
        continue;
      }
      const key = `${call.text}@${loop.startIndex}`;
      let g = groups.get(key);
      if (!g) {
        const sep = m.args[0]!.text;
        const base = /^['"]\\n['"]$/.test(sep) ? `${m.object.text.split('.').pop()}Lines` : `${m.object.text.split('.').pop()}Parts`;
        g = { name: freshName(p, base, taken), loop, calls: [] };
        groups.set(key, g);
      }
      g.calls.push(call);
    }
    if (groups.size === 0) return reason;
    for (const g of groups.values()) {
      if (!insertBefore(p, edits, g.loop, `const ${g.name} = ${g.calls[0]!.text};`)) return 'no place to put the split before the loop';
      for (const c of g.calls) edits.replaceNode(c, g.name);
    }
    return { code: edits.apply(), summary: `Splits once before the loop (${[...groups.values()].map((g) => g.name).join(', ')}) instead of on every iteration (O(n²) → O(n)).` };
  },
});

/** The value of `node` (an array) is only read where it is used. */
function resultReadOnly(node: Node): boolean {
  const up = node.parent;
  if (!up) return false;
  if (up.type === 'member_expression' && up.childForFieldName('object')?.id === node.id) {
    const prop = up.childForFieldName('property')?.text ?? '';
    if (isAssigned(up)) return false;
    if (up.parent?.type === 'call_expression' && up.parent.childForFieldName('function')?.id === up.id) return readOnlyArrayMethods.has(prop);
    return prop === 'length';
  }
  if (up.type === 'subscript_expression' && up.childForFieldName('object')?.id === node.id) return !isAssigned(up);
  return false;
}

// ---- own-key-check -------------------------------------------------------------------------

/** Whether `expr` is certainly a string: literal, template, annotated, or a helper / string method returning one. */
function isStringExpr(p: Parsed, expr: Node, depth = 0): boolean {
  const e = unparen(expr);
  if (e.type === 'string' || e.type === 'template_string') return true;
  if (depth > 3) return false;
  if (e.type === 'identifier') {
    const type = declaredType(p, e.text);
    if (type !== undefined) return type === 'string';
    const decl = findDeclarator(p, e.text);
    if (decl?.type === 'for_in_statement' && decl.children.some((c) => c.type === 'of')) {
      // `for (const d of days)` with `days: string[]`.
      const right = decl.childForFieldName('right');
      const t = right?.type === 'identifier' ? declaredType(p, right.text) : undefined;
      return t !== undefined && elementType(t) === 'string';
    }
    const value = decl?.type === 'variable_declarator' ? decl.childForFieldName('value') : null;
    return !!value && decl!.parent?.child(0)?.type === 'const' && isStringExpr(p, value, depth + 1);
  }
  if (e.type === 'call_expression') {
    const callee = e.childForFieldName('function');
    if (callee?.type === 'identifier') return p.helpers.returnType(callee.text) === 'string';
    const m = methodCall(e);
    return !!m && ['trim', 'toLowerCase', 'toUpperCase', 'slice', 'substring', 'padStart', 'padEnd', 'repeat', 'charAt', 'normalize', 'replace', 'replaceAll'].includes(m.method) && isStringExpr(p, m.object, depth + 1);
  }
  return false;
}

export const ownKeyCheck: RuleAgent = ruleAgent({
  name: 'own-key-check',
  description: '`Object.keys(o).includes(k)` (builds the key array on every test) → `Object.hasOwn(o, k)`.',
  conditions:
    'o is a local initialised with an object literal of plain properties and afterwards only read, written by property assignment or passed to Object.keys/values/entries (so every own key is an enumerable string key); k is certainly a string (literal, template, string annotation, a same-file helper declared to return string, or a string method of one). A number or symbol k would differ.',
  apply(p) {
    const edits = new Edits(p);
    const done: string[] = [];
    let reason = 'no `Object.keys(o).includes(k)`';
    for (const call of descendants(p.body, 'call_expression')) {
      const m = methodCall(call);
      if (!m || m.method !== 'includes' || m.args.length !== 1) continue;
      const keys = methodCall(m.object);
      if (!keys || keys.object.text !== 'Object' || keys.method !== 'keys' || keys.args.length !== 1 || keys.args[0]!.type !== 'identifier') continue;
      const o = keys.args[0]!.text;
      const decl = findDeclarator(p, o);
      const value = decl?.type === 'variable_declarator' ? decl.childForFieldName('value') : null;
      if (!value || value.type !== 'object' || !value.namedChildren.every((c) => c.type === 'pair' || c.type === 'shorthand_property_identifier' || c.type === 'comment')) {
        reason = `${o} is not a local initialised with a plain object literal`;
        continue;
      }
      if (value.namedChildren.some((c) => c.type === 'pair' && /__proto__/.test(c.childForFieldName('key')?.text ?? ''))) {
        reason = `${o}'s literal sets __proto__`;
        continue;
      }
      if (assignedIn(p.fn, o)) {
        reason = `${o} is reassigned`;
        continue;
      }
      const escapes = identifiers(p.fn, o).some((id) => {
        if (isDeclaration(id)) return false;
        const up = id.parent!;
        if ((up.type === 'member_expression' || up.type === 'subscript_expression') && up.childForFieldName('object')?.id === id.id) return false;
        if (up.type === 'arguments') {
          const km = methodCall(up.parent!);
          return !(km && km.object.text === 'Object' && ['keys', 'values', 'entries'].includes(km.method));
        }
        return !(up.type === 'return_statement');
      });
      if (escapes) {
        reason = `${o} is passed somewhere it could get non-enumerable or accessor properties`;
        continue;
      }
      if (!isStringExpr(p, m.args[0]!)) {
        reason = `can't tell that ${m.args[0]!.text} is a string (Object.hasOwn would also find a number key)`;
        continue;
      }
      edits.replaceNode(call, `Object.hasOwn(${o}, ${m.args[0]!.text})`);
      done.push(o);
    }
    if (done.length === 0) return reason;
    return { code: edits.apply(), summary: `Tests own keys of ${[...new Set(done)].join(', ')} with Object.hasOwn instead of building Object.keys() on every check (O(n·k) → O(n)).` };
  },
});

// ---- count-in-one-pass ---------------------------------------------------------------------

export const countInOnePass: RuleAgent = ruleAgent({
  name: 'count-in-one-pass',
  description: '`arr.filter((e) => e.k === key).length` inside a loop → a Map counting each k, built in one pass before the loop.',
  conditions:
    'arr is never reassigned and only read inside the loop; no property named k is assigned in the loop; key is a name or property path. filter compares with ===, so a NaN key counts 0: NaN keys are not counted in the Map.',
  apply(p) {
    const edits = new Edits(p);
    const taken = new Set<string>();
    const built = new Map<string, string>();
    let reason = 'no `arr.filter((e) => e.k === key).length` inside a loop';
    for (const call of descendants(p.body, 'call_expression')) {
      const m = methodCall(call);
      if (!m || m.method !== 'filter' || m.object.type !== 'identifier') continue;
      const up = call.parent;
      if (up?.type !== 'member_expression' || up.childForFieldName('property')?.text !== 'length' || isAssigned(up)) continue;
      const loops = enclosingLoops(p, call);
      if (loops.length === 0) continue;
      const arr = m.object.text;
      const match = m.args.length === 1 ? keyMatch(m.args[0]) : undefined;
      if (!match) {
        reason = 'the filter callback is not `(e) => e.k === key`';
        continue;
      }
      if (!isArrayName(p, arr) || assignedIn(p.fn, arr)) {
        reason = `can't tell that ${arr} is an array that stays the same`;
        continue;
      }
      const loop = outermost(loops, (l) => !declaredIn(l, arr) && readOnlyIn(l, arr) && !assignsProperty(l, match.prop));
      if (!loop) {
        reason = `${arr} or its elements' ${match.prop} change inside the loop`;
        continue;
      }
      const key = `${arr}.${match.prop}@${loop.startIndex}`;
      let counts = built.get(key);
      if (!counts) {
        counts = freshName(p, `${arr}CountBy${capitalize(match.prop)}`, taken);
        const item = freshName(p, 'item', taken);
        const k = freshName(p, 'key', taken);
        const decl = [
          `const ${counts} = new Map${p.ts ? '<unknown, number>' : ''}();`,
          `for (const ${item} of ${arr}) {`,
          `${p.unit}const ${k} = ${item}.${match.prop};`,
          `${p.unit}if (${k} === ${k}) ${counts}.set(${k}, (${counts}.get(${k}) ?? 0) + 1); // NaN never matches ===`,
          `}`,
        ].join('\n');
        if (!insertBefore(p, edits, loop, decl)) {
          reason = 'no place to count before the loop';
          continue;
        }
        built.set(key, counts);
      }
      edits.replaceNode(up, `(${counts}.get(${match.key.text}) ?? 0)`);
    }
    if (built.size === 0) return reason;
    return { code: edits.apply(), summary: `Counts matching elements once in a Map before the loop instead of filter().length on every iteration (O(n²) → O(n)).` };
  },
});

export const loopRules: RuleAgent[] = [setMembership, indexOfToSet, findToMap, hoistInvariant, splitOnce, ownKeyCheck, countInOnePass];
