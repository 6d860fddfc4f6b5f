/**
 * The micro-agent contract: what an agent is, what it proposes, and how a proposal's
 * verification is recorded. Optimization uses it today (agents rewrite a function to run
 * faster); scenario generation and training will use it next, each with its own target,
 * which is why `MicroAgent` is generic over what it works on.
 *
 * A candidate is always the whole text of what it replaces as it would stand in its file
 * (for optimization: the function with its declaration), so applying it is one
 * replacement and nothing else in the file changes.
 */
import type { ArtifactLanguage } from '../protocol';

/** One proposal of an agent. */
export interface Candidate {
  /** The agent's id (`rule:set-lookup`, `ollama:qwen2.5-coder:7b/evidence-few-shot`, …). */
  agent: string;
  /** Id of the target it was proposed for (an artifact id, `file#Qualified.name`). */
  target: string;
  /** The full replacement text for the target's range. */
  code: string;
  /** One line: what changed and why it should be better. */
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

/** An agent working on targets of type `Target`. */
export interface MicroAgent<Target> {
  /** Stable id, used for ranking: `rule:<name>` or `ollama:<model>/<strategy>`. */
  id: string;
  kind: 'rule' | 'ollama';
  /** One line for the Micro-agents view. */
  description: string;
  /** Languages it can work on. */
  languages: readonly ArtifactLanguage[];
  propose(target: Target, signal?: AbortSignal): Promise<Proposal[]>;
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
