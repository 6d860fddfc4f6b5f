/**
 * The built-in rule agents: deterministic AST rewrites of TS/JS functions, each
 * applying only under the semantic conditions it documents (`conditions`) and
 * declining with a precise reason otherwise. Verification re-checks every candidate.
 */
import type { RuleAgent } from './ast';
import { collectionRules } from './collections';
import { loopRules } from './loops';
import { memoizeRecursion } from './recursion';

export type { RuleAgent } from './ast';

/** All rule agents, in a stable order. */
export function ruleAgents(): RuleAgent[] {
  return [memoizeRecursion, ...loopRules, ...collectionRules];
}
