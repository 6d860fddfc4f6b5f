/**
 * Verified optimization: what an optimizing micro-agent works on. The agent contract
 * (candidates, proposals, verification records) is `../agents/contract.ts`.
 *
 * A candidate is always the whole text of the function as it would stand in its file
 * (declaration included: `export function f(…) {…}`, `const f = (…) => …;` as the
 * artifact's range covers it), so applying it is one replacement of the artifact's
 * range and nothing else in the file changes.
 */
import type { MicroAgent } from '../agents/contract';
import type { ArtifactLanguage } from '../protocol';
import type { CallSample } from '../evidence/model';
import type { Range } from '../index/extract';

/** What an agent sees of the function it is asked to improve. */
export interface OptimizeTarget {
  /** Artifact id, `file#Qualified.name`. */
  id: string;
  /** Workspace-relative file, forward slashes. */
  file: string;
  qualifiedName: string;
  name: string;
  kind: 'function' | 'method';
  language: ArtifactLanguage;
  /** 0-based range of the artifact's whole text in the file (what `code` replaces). */
  range: Range;
  /** The artifact's current text (exactly the file's text at `range`). */
  code: string;
  /** The whole file's current text (context: imports, helpers, types). */
  fileText: string;
  /** Content hash of the artifact when the target was taken (re-checked before apply). */
  hash: string;
  /** Evidence, when there is some: recorded calls, median ns per call, tests that ran it. */
  samples?: readonly CallSample[];
  medianNs?: number;
  tests?: readonly string[];
  /** Where its time goes: callees with their share of its recorded time (`format ~83%`). */
  hotPaths?: readonly string[];
}

/** A micro-agent that proposes faster versions of a function (the contract is `../agents/contract.ts`). */
export type OptimizeAgent = MicroAgent<OptimizeTarget>;
