/**
 * Ranking of micro-agents: each agent's record of "proposed a variant that was accepted"
 * as a Beta posterior, Thompson sampling to choose which agents get an artifact's budget,
 * and the rules that retire an agent (level 2) and tune the optimizer (level 3).
 *
 * Why Thompson sampling: it spends attempts on agents in proportion to the probability
 * that each is the best one, so a new agent (flat prior) is tried, a proven one is used
 * most, and a bad one fades out without a hand-tuned exploration rate. The posterior is
 * kept per context (language × artifact kind), falling back to the agent's overall record
 * where a context has none, because a rule that works on TypeScript functions says little
 * about Python methods.
 *
 * Pure and deterministic given its PRNG (tests and the CLI pass a seeded one).
 */
import { seededRandom } from '../evidence/stats';
import type { AgentInfo } from '../protocol';

/** Attempts and acceptances in one context. */
export interface Tally {
  attempts: number;
  accepted: number;
}

export interface AgentRecord {
  id: string;
  kind: 'rule' | 'ollama';
  description: string;
  attempts: number;
  accepted: number;
  /** Sum of the speedups of accepted variants (mean = sum / accepted). */
  speedupSum: number;
  /** Sum of the time spent proposing (ms), over attempts. */
  latencyMsSum: number;
  /** Sum of the cost units spent (model tokens for Ollama agents; 0 for rules). */
  costSum: number;
  /** Per context key (`typescript/function`, …). */
  contexts: Record<string, Tally>;
  /** Set when level 2 retired it: it is no longer chosen, and this says why. */
  retired?: { at: string; reason: string };
}

export const contextKey = (language: string, kind: string) => `${language}/${kind}`;

/** Prior Beta(1, 1): no opinion before the first attempt. */
const PRIOR = { alpha: 1, beta: 1 };
/** Below this many attempts an agent's numbers are shown as provisional. */
export const PROVISIONAL_ATTEMPTS = 10;
/** Level 2: an agent is retired after at least this many attempts … */
export const RETIRE_MIN_ATTEMPTS = 20;
/** … when the upper end of its 95% posterior interval is below this acceptance rate. */
export const RETIRE_MAX_RATE = 0.1;

export function newAgentRecord(id: string, kind: 'rule' | 'ollama', description: string): AgentRecord {
  return { id, kind, description, attempts: 0, accepted: 0, speedupSum: 0, latencyMsSum: 0, costSum: 0, contexts: {} };
}

/** Records one attempt (a candidate verified, or a proposal that failed) of an agent. */
export function recordAttempt(rec: AgentRecord, context: string, outcome: { accepted: boolean; speedup?: number; latencyMs: number; cost?: number }): void {
  rec.attempts++;
  rec.latencyMsSum += outcome.latencyMs;
  rec.costSum += outcome.cost ?? 0;
  const t = (rec.contexts[context] ??= { attempts: 0, accepted: 0 });
  t.attempts++;
  if (outcome.accepted) {
    rec.accepted++;
    t.accepted++;
    rec.speedupSum += outcome.speedup ?? 0;
  }
}

// ---- Beta distribution: sampling (Marsaglia–Tsang gamma) and quantiles by seeded sampling ----

function normal(random: () => number): number {
  const u1 = Math.max(random(), 1e-300);
  return Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * random());
}

function gamma(shape: number, random: () => number): number {
  if (shape < 1) return gamma(shape + 1, random) * Math.pow(Math.max(random(), 1e-300), 1 / shape);
  const d = shape - 1 / 3;
  const c = 1 / Math.sqrt(9 * d);
  for (;;) {
    let x: number;
    let v: number;
    do {
      x = normal(random);
      v = 1 + c * x;
    } while (v <= 0);
    v = v * v * v;
    const u = random();
    if (u < 1 - 0.0331 * x * x * x * x || Math.log(u) < 0.5 * x * x + d * (1 - v + Math.log(v))) return d * v;
  }
}

export function sampleBeta(alpha: number, beta: number, random: () => number): number {
  const x = gamma(alpha, random);
  const y = gamma(beta, random);
  return x / (x + y);
}

export interface Posterior {
  alpha: number;
  beta: number;
  /** Posterior mean acceptance rate. */
  mean: number;
  /** Equal-tailed 95% credible interval. */
  low: number;
  high: number;
}

/**
 * The Beta posterior of an agent's acceptance rate. The interval comes from 4,000 draws
 * with a fixed seed per (alpha, beta): deterministic, and within about ±0.01 of the exact
 * quantiles, which is finer than the view shows.
 */
export function posterior(t: Tally): Posterior {
  const alpha = PRIOR.alpha + t.accepted;
  const beta = PRIOR.beta + (t.attempts - t.accepted);
  const random = seededRandom(alpha * 7919 + beta * 104729);
  const draws = new Float64Array(4000);
  for (let i = 0; i < draws.length; i++) draws[i] = sampleBeta(alpha, beta, random);
  draws.sort();
  return { alpha, beta, mean: alpha / (alpha + beta), low: draws[Math.floor(0.025 * draws.length)], high: draws[Math.ceil(0.975 * draws.length) - 1] };
}

/** The tally to judge an agent by in a context: the context's own once it has attempts, else the agent's overall record. */
function tallyFor(rec: AgentRecord, context: string): Tally {
  const t = rec.contexts[context];
  return t && t.attempts > 0 ? t : { attempts: rec.attempts, accepted: rec.accepted };
}

/**
 * Thompson sampling: draws one acceptance rate per eligible agent from its posterior in
 * this context and returns the `k` best draws, best first. Retired agents are never chosen.
 */
export function chooseAgents(records: readonly AgentRecord[], context: string, k: number, random: () => number = Math.random): AgentRecord[] {
  const draws = records.filter((r) => !r.retired).map((r) => {
    const t = tallyFor(r, context);
    return { r, theta: sampleBeta(PRIOR.alpha + t.accepted, PRIOR.beta + t.attempts - t.accepted, random) };
  });
  draws.sort((a, b) => b.theta - a.theta);
  return draws.slice(0, Math.max(0, k)).map((d) => d.r);
}

/** One row of the ranking: the protocol's `AgentInfo` (the Micro-agents view shows it as is). */
export type RankedAgent = AgentInfo;

/** The Micro-agents view's order: active agents by posterior mean (then attempts), retired ones last. */
export function rankAgents(records: readonly AgentRecord[]): RankedAgent[] {
  const rows = records.map((r) => {
    const p = posterior(r);
    return {
      id: r.id,
      kind: r.kind,
      description: r.description,
      attempts: r.attempts,
      accepted: r.accepted,
      mean: p.mean,
      low: p.low,
      high: p.high,
      ...(r.accepted > 0 ? { meanSpeedup: r.speedupSum / r.accepted } : {}),
      ...(r.attempts > 0 ? { meanLatencyMs: r.latencyMsSum / r.attempts, meanCost: r.costSum / r.attempts } : {}),
      provisional: r.attempts < PROVISIONAL_ATTEMPTS,
      ...(r.retired ? { retired: r.retired } : {}),
    };
  });
  rows.sort((a, b) => Number(!!a.retired) - Number(!!b.retired) || b.mean - a.mean || b.attempts - a.attempts || a.id.localeCompare(b.id));
  return rows.map((r, i) => ({ rank: i + 1, ...r }));
}

/**
 * Level 2: retires agents whose posterior stays low after enough attempts, and says why.
 * Returns the ids retired now. A retired agent comes back only if its record is reset.
 */
export function retireAgents(records: AgentRecord[], now = new Date()): string[] {
  const retired: string[] = [];
  for (const r of records) {
    if (r.retired || r.attempts < RETIRE_MIN_ATTEMPTS) continue;
    const p = posterior(r);
    if (p.high < RETIRE_MAX_RATE) {
      r.retired = {
        at: now.toISOString(),
        reason: `accepted ${r.accepted} of ${r.attempts} attempts; the 95% interval of its acceptance rate (${pct(p.low)}–${pct(p.high)}) lies below ${pct(RETIRE_MAX_RATE)}`,
      };
      retired.push(r.id);
    }
  }
  return retired;
}

const pct = (x: number) => `${(x * 100).toFixed(1)}%`;

/** Level 3: the optimizer's own settings, adapted from its acceptance history. */
export interface OptimizerSettings {
  /** Agents chosen (Thompson sampling) per artifact. */
  agentsPerArtifact: number;
  /** Candidates verified per artifact at most (a verification costs seconds). */
  candidatesPerArtifact: number;
}

export interface SettingsChange {
  at: string;
  from: OptimizerSettings;
  to: OptimizerSettings;
  why: string;
}

export const defaultOptimizerSettings: OptimizerSettings = { agentsPerArtifact: 4, candidatesPerArtifact: 4 };

/**
 * Level 3: after a run, widens or narrows the search from what it achieved. If most
 * verified candidates were rejected and none accepted over at least 10 artifacts, fewer
 * candidates per artifact (verification is the cost); if acceptances came from agents
 * ranked below the chosen count, more agents per artifact; within [1, 8]. Returns the
 * change, or undefined when the history gives no reason to change.
 */
export function adaptSettings(
  current: OptimizerSettings,
  history: { artifacts: number; candidates: number; accepted: number; acceptedFromRank: number[] },
  now = new Date(),
): SettingsChange | undefined {
  const next = { ...current };
  const reasons: string[] = [];
  if (history.artifacts >= 10 && history.candidates >= 10 && history.accepted === 0 && current.candidatesPerArtifact > 1) {
    next.candidatesPerArtifact = current.candidatesPerArtifact - 1;
    reasons.push(`no candidate of ${history.candidates} over ${history.artifacts} artifacts was accepted: fewer verifications per artifact`);
  }
  const late = history.acceptedFromRank.filter((r) => r >= current.agentsPerArtifact - 1).length;
  if (history.accepted >= 3 && late / history.accepted >= 0.5 && current.agentsPerArtifact < 8) {
    next.agentsPerArtifact = current.agentsPerArtifact + 1;
    next.candidatesPerArtifact = Math.min(8, Math.max(next.candidatesPerArtifact, next.agentsPerArtifact));
    reasons.push(`${late} of ${history.accepted} accepted variants came from the last-chosen agent: one more agent per artifact`);
  }
  if (reasons.length === 0) return undefined;
  return { at: now.toISOString(), from: current, to: next, why: reasons.join('; ') };
}

export { seededRandom };
