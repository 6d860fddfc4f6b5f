/**
 * Verified optimization: the shapes shared by the micro-agents that propose variants
 * (rule agents in `rules/`, Ollama agents in `ollamaAgent.ts`), the verification
 * pipeline (`verify/`), the agent ranking (`../agents/bandit.ts`) and the variant store.
 *
 * A candidate is always the whole text of the function as it would stand in its file
 * (declaration included: `export function f(…) {…}`, `const f = (…) => …;` as the
 * artifact's range covers it), so applying it is one replacement of the artifact's
 * range and nothing else in the file changes.
 */
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

/** One proposal of an agent. */
export interface Candidate {
  /** The agent's id (`rule:set-lookup`, `ollama:qwen2.5-coder:7b/evidence-few-shot`, …). */
  agent: string;
  target: string;
  /** The full replacement text for `OptimizeTarget.range`. */
  code: string;
  /** One line: what changed and why it should be faster. */
  summary: string;
}

/** An agent declines with a reason (nothing to rewrite, a semantic condition not met, …). */
export interface Declined {
  agent: string;
  target: string;
  reason: string;
}

export type Proposal = Candidate | Declined;
export const isCandidate = (p: Proposal): p is Candidate => 'code' in p;

export interface MicroAgent {
  /** Stable id, used for ranking: `rule:<name>` or `ollama:<model>/<strategy>`. */
  id: string;
  kind: 'rule' | 'ollama';
  /** One line for the Micro-agents view. */
  description: string;
  /** Languages it can work on. */
  languages: readonly ArtifactLanguage[];
  propose(target: OptimizeTarget, signal?: AbortSignal): Promise<Proposal[]>;
}

/** The verification steps, in order; a rejection names the step it failed. */
export type VerifyStep = 'parse' | 'typecheck' | 'differential' | 'determinism' | 'tests' | 'benchmark';

export interface Rejection {
  step: VerifyStep;
  reason: string;
  /**
   * The failure is the environment's, not the candidate's (the original itself cannot be
   * loaded or run, a tool is missing): it does not count against the agent that proposed it.
   */
  environment?: boolean;
  /** The input that showed the difference (recorded or generated), serialised as the recorder does. */
  counterexample?: unknown;
}

export interface VerificationRecord {
  accepted: boolean;
  rejection?: Rejection;
  /** Recorded calls compared with the original, and generated (property-based) inputs. */
  inputsCompared: { recorded: number; generated: number };
  /** Workspace tests run with the variant swapped in (in a scratch copy), and how many passed. */
  testsRun: number;
  testsPassed: number;
  /** Original median / candidate median (> 1: faster), with its 95% interval. */
  speedup?: number;
  speedupLow?: number;
  speedupHigh?: number;
  /** Milliseconds per step, for bench:optimize and the optimizer's own tuning. */
  stepMs: Partial<Record<VerifyStep, number>>;
  /** Anything a reader of the numbers should know (no recorded calls: generated inputs only, …). */
  notes: string[];
}
