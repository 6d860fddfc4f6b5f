/**
 * The optimizer: which functions to work on, which agents to ask, what to verify, and
 * what it learns from the outcome. No LSP here: the server and the CLI call it, only in a
 * trusted workspace (verification runs the workspace's code).
 *
 * Levels (README "Verified optimization"):
 *  0. functions, by expected return: their share of the time recorded in test runs
 *     (median ns per call × calls) × the room left (less for code that already had
 *     candidates rejected);
 *  1. for a slow caller whose time is dominated by a callee (recorded call durations),
 *     that bottleneck callee first, with the caller's breakdown;
 *  2. after a run, agents whose posterior stays low after enough attempts are retired;
 *  3. the optimizer's own settings (agents and candidates per artifact) adapt from its
 *     acceptance history, and each change is kept with its reason.
 *
 * Rule agents are cheap (milliseconds): every one proposes. Ollama agents cost seconds
 * and tokens: Thompson sampling picks which of them are asked. Verification is the real
 * cost, so candidates are verified in the order of their agents' Thompson draws, up to
 * the settings' candidates per artifact and the run's budget.
 */
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { type AgentRecord, adaptSettings, chooseAgents, contextKey, rankAgents, type RankedAgent, recordAttempt, retireAgents, type SettingsChange } from '../agents/bandit';
import { lastTwo } from '../evidence/history';
import type { EvidenceStore } from '../evidence/store';
import { median } from '../evidence/stats';
import type { ArtifactRecord } from '../index/extract';
import type { WorkspaceIndex } from '../index/workspace';
import { type Candidate, isCandidate, type VerificationRecord } from '../agents/contract';
import { fileHashOf, type TrackRecord, type VariantRecord } from '../agents/trackRecord';
import type { OptimizeAgent, OptimizeTarget } from './types';

/** Languages whose candidates the verification pipeline can check. */
const verifiable = new Set(['typescript', 'tsx', 'javascript']);

export interface CalleeShare {
  callee: string;
  /** Fraction of the caller's median time spent in this callee (recorded call durations). */
  share: number;
}

export interface TargetPlan {
  id: string;
  level: 0 | 1;
  /** Expected return (relative units): time share × calls × room. */
  priority: number;
  /** Why it is a target (level 1: the caller whose bottleneck it is). */
  why: string;
}

export interface OptimizeRunOptions {
  /** Candidates verified in this run at most. */
  budget: number;
  /** Only these artifacts (ids). */
  artifactIds?: string[];
  agents: readonly OptimizeAgent[];
  /** The verification pipeline (verify/): parse, typecheck, differential, tests, benchmark. */
  verify: (target: OptimizeTarget, candidate: Candidate, signal?: AbortSignal) => Promise<VerificationRecord>;
  random?: () => number;
  signal?: AbortSignal;
  onProgress?: (message: string) => void;
  /** A file's current text (an editor buffer with unsaved edits wins over the disk); default: the disk. */
  readFile?: (rel: string) => string | undefined;
}

export interface OptimizeRunReport {
  targets: TargetPlan[];
  variants: VariantRecord[];
  rejected: { artifact: string; agent: string; reason: string; step?: string }[];
  /** Targets not worked on, with the reason (no recorded evidence, not verifiable, changed on disk, …). */
  skipped: { artifact: string; reason: string }[];
  agents: RankedAgent[];
  retired: string[];
  settingsChange?: SettingsChange;
  verified: number;
}

/** Time spent in each resolved callee per call of `a`, from recorded call durations. */
export function calleeBreakdown(index: WorkspaceIndex, evidence: EvidenceStore, a: ArtifactRecord): CalleeShare[] {
  const own = evidence.callSamples(a.id).map((s) => s.durationNs);
  const callerCalls = latestCalls(evidence, a.id);
  if (own.length === 0 || !callerCalls) return [];
  const callerNs = median(own);
  if (!(callerNs > 0)) return [];
  const out: CalleeShare[] = [];
  for (const ref of index.resolveCalls(a)) {
    if (!ref.target || ref.target === a.id) continue;
    const samples = evidence.callSamples(ref.target).map((s) => s.durationNs);
    const calleeCalls = latestCalls(evidence, ref.target);
    if (samples.length === 0 || !calleeCalls) continue;
    // Calls of the callee per call of the caller: the counts of the latest test run (other callers inflate it: capped at 1 share).
    const share = Math.min(1, (median(samples) * (calleeCalls / callerCalls)) / callerNs);
    out.push({ callee: ref.target, share });
  }
  return out.sort((x, y) => y.share - x.share);
}

function latestCalls(evidence: EvidenceStore, id: string): number | undefined {
  return lastTwo(evidence.history(id), (e) => e.calls !== undefined).latest?.calls;
}

function latestBench(evidence: EvidenceStore, id: string) {
  return lastTwo(evidence.history(id), (e) => e.bench !== undefined).latest?.bench;
}

/** Level 0 and level 1: the functions worth working on, best first. */
export function planTargets(index: WorkspaceIndex, evidence: EvidenceStore, store: TrackRecord, ids?: readonly string[]): { plans: TargetPlan[]; skipped: { artifact: string; reason: string }[] } {
  const skipped: { artifact: string; reason: string }[] = [];
  const wanted = ids && ids.length > 0 ? ids : evidence.artifacts();
  const candidates: { a: ArtifactRecord; timeNs: number; calls: number }[] = [];
  for (const id of wanted) {
    const a = index.get(id);
    if (!a) {
      if (ids?.includes(id)) skipped.push({ artifact: id, reason: 'not in the index' });
      continue;
    }
    if (a.kind !== 'function' && a.kind !== 'method') {
      if (ids?.includes(id)) skipped.push({ artifact: id, reason: `a ${a.kind}, not a function or method` });
      continue;
    }
    if (!verifiable.has(a.language)) {
      skipped.push({ artifact: id, reason: `${a.language}: candidates can be verified for TypeScript and JavaScript only` });
      continue;
    }
    const samples = evidence.callSamples(id);
    const calls = latestCalls(evidence, id) ?? samples.length;
    const bench = latestBench(evidence, id);
    const perCall = bench?.medianNs ?? (samples.length > 0 ? median(samples.map((s) => s.durationNs)) : 0);
    if (ids?.includes(id) || perCall > 0) candidates.push({ a, timeNs: perCall * Math.max(calls, 1), calls });
    else skipped.push({ artifact: id, reason: 'no recorded calls or benchmark: run its tests through Crucible first' });
  }
  const total = candidates.reduce((s, c) => s + c.timeNs, 0) || 1;
  const plans = new Map<string, TargetPlan>();
  for (const c of candidates) {
    // Room: each earlier rejection of the current code halves what is left to expect.
    const rejectedBefore = store.rejections(c.a.id).length;
    const room = 1 / (1 + rejectedBefore);
    const priority = (c.timeNs / total) * Math.log2(2 + c.calls) * room;
    plans.set(c.a.id, { id: c.a.id, level: 0, priority, why: `${((c.timeNs / total) * 100).toFixed(1)}% of the recorded time, ${c.calls} calls${rejectedBefore ? `, ${rejectedBefore} earlier rejection(s)` : ''}` });
  }
  // Level 1: a callee that takes at least half of a slow caller's time goes first.
  for (const c of candidates) {
    const top = calleeBreakdown(index, evidence, c.a)[0];
    if (!top || top.share < 0.5) continue;
    const callee = index.get(top.callee);
    if (!callee || !verifiable.has(callee.language)) continue;
    const caller = plans.get(c.a.id)!;
    const existing = plans.get(top.callee);
    // Just ahead of its caller: speeding up the part that dominates speeds up the whole.
    const priority = Math.max(existing?.priority ?? 0, caller.priority) * 1.01;
    plans.set(top.callee, { id: top.callee, level: 1, priority, why: `bottleneck of ${c.a.id}: about ${(top.share * 100).toFixed(0)}% of its time` });
  }
  return { plans: [...plans.values()].sort((x, y) => y.priority - x.priority), skipped };
}

/** The artifact as agents see it now: from `readFile` (an open editor's buffer), else the disk. */
export function targetOf(index: WorkspaceIndex, evidence: EvidenceStore, a: ArtifactRecord, readFile?: (rel: string) => string | undefined): OptimizeTarget | undefined {
  let fileText: string;
  try {
    fileText = readFile?.(a.file) ?? readFileSync(path.join(index.root, a.file), 'utf8');
  } catch {
    return undefined;
  }
  const code = textAt(fileText, a.range);
  if (code === undefined) return undefined;
  const bench = latestBench(evidence, a.id);
  const tests = [...new Set(evidence.history(a.id).flatMap((e) => e.tests.map((t) => t.testId)))];
  const hotPaths = calleeBreakdown(index, evidence, a)
    .filter((c) => c.share >= 0.05)
    .map((c) => `${index.get(c.callee)?.qualifiedName ?? c.callee} ~${Math.round(c.share * 100)}% of its time`);
  return {
    id: a.id,
    file: a.file,
    qualifiedName: a.qualifiedName,
    name: a.name,
    kind: a.kind as 'function' | 'method',
    language: a.language,
    range: a.range,
    code,
    fileText,
    hash: a.hash,
    samples: evidence.callSamples(a.id),
    ...(bench ? { medianNs: bench.medianNs } : {}),
    ...(tests.length ? { tests } : {}),
    ...(hotPaths.length ? { hotPaths } : {}),
  };
}

/** The text of a 0-based (UTF-16 column) range. */
export function textAt(text: string, range: OptimizeTarget['range']): string | undefined {
  const lines = text.split('\n');
  if (range.end.line >= lines.length) return undefined;
  const offset = (p: { line: number; character: number }) => lines.slice(0, p.line).reduce((s, l) => s + l.length + 1, 0) + p.character;
  return text.slice(offset(range.start), offset(range.end));
}

/** One optimize run over a folder. Writes to `store` (call `store.flush()` after). */
export async function optimizeFolder(index: WorkspaceIndex, evidence: EvidenceStore, store: TrackRecord, options: OptimizeRunOptions): Promise<OptimizeRunReport> {
  const random = options.random ?? Math.random;
  const { plans, skipped } = planTargets(index, evidence, store, options.artifactIds);
  const records = store.agentRecords(options.agents);
  const byId = new Map(options.agents.map((a, i) => [a.id, { agent: a, record: records[i] }]));
  const report: OptimizeRunReport = { targets: plans, variants: [], rejected: [], skipped, agents: [], retired: [], verified: 0 };
  const history = { artifacts: 0, candidates: 0, accepted: 0, acceptedFromRank: [] as number[] };
  const settings = store.settings;

  for (const plan of plans) {
    if (options.signal?.aborted || report.verified >= options.budget) break;
    const a = index.get(plan.id)!;
    const target = targetOf(index, evidence, a, options.readFile);
    if (!target || textAt(target.fileText, a.range) === undefined) {
      report.skipped.push({ artifact: a.id, reason: 'its text could not be read from the file (changed or deleted since it was indexed)' });
      continue;
    }
    history.artifacts++;
    const context = contextKey(a.language, a.kind);
    const eligible = options.agents.filter((g) => g.languages.includes(a.language));
    const rules = eligible.filter((g) => g.kind === 'rule');
    const models = eligible.filter((g) => g.kind !== 'rule');
    const chosenModels = chooseAgents(models.map((g) => byId.get(g.id)!.record), context, settings.agentsPerArtifact, random).map((r) => byId.get(r.id)!.agent);
    options.onProgress?.(`${a.id} (level ${plan.level}: ${plan.why}): asking ${rules.length} rule agent(s)${chosenModels.length ? ` and ${chosenModels.map((m) => m.id).join(', ')}` : ''}`);
    // Proposals, with the time each agent took.
    const proposals: { candidate: Candidate; record: AgentRecord; latencyMs: number }[] = [];
    for (const agent of [...rules, ...chosenModels]) {
      if (options.signal?.aborted) break;
      const t0 = performance.now();
      let got;
      try {
        got = await agent.propose(target, options.signal);
      } catch (err) {
        got = [{ agent: agent.id, target: a.id, reason: `the agent failed: ${(err as Error).message}` }];
      }
      const latencyMs = performance.now() - t0;
      const record = byId.get(agent.id)!.record;
      for (const p of got) {
        if (isCandidate(p)) proposals.push({ candidate: p, record, latencyMs });
      }
      if (!got.some(isCandidate)) record.latencyMsSum += latencyMs; // a decline costs time, not an attempt
    }
    // Verification order: the agents' Thompson draws in this context, best first.
    const order = chooseAgents([...new Set(proposals.map((p) => p.record))], context, proposals.length, random).map((r) => r.id);
    proposals.sort((x, y) => order.indexOf(x.record.id) - order.indexOf(y.record.id));
    const seen = new Set<string>();
    let verifiedHere = 0;
    for (const p of proposals) {
      if (options.signal?.aborted || report.verified >= options.budget || verifiedHere >= settings.candidatesPerArtifact) break;
      const code = p.candidate.code;
      if (code.trim() === target.code.trim() || seen.has(code)) continue;
      seen.add(code);
      if (store.wasDismissed(a.id, code)) {
        report.skipped.push({ artifact: a.id, reason: `${p.candidate.agent}: this variant was dismissed before` });
        continue;
      }
      verifiedHere++;
      report.verified++;
      history.candidates++;
      options.onProgress?.(`  verifying ${p.candidate.agent}: ${p.candidate.summary}`);
      let v: VerificationRecord;
      try {
        v = await options.verify(target, p.candidate, options.signal);
      } catch (err) {
        v = { accepted: false, rejection: { step: 'parse', reason: `verification failed: ${(err as Error).message}` }, inputsCompared: { recorded: 0, generated: 0 }, testsRun: 0, testsPassed: 0, stepMs: {}, notes: [] };
      }
      // A failure of the environment (the original cannot even be loaded) is not the agent's.
      if (!v.rejection?.environment) recordAttempt(p.record, context, { accepted: v.accepted, speedup: v.speedup, latencyMs: p.latencyMs });
      else history.candidates--;
      store.touchAgents();
      if (v.accepted) {
        history.accepted++;
        history.acceptedFromRank.push(order.indexOf(p.record.id));
        const rec = store.addVariant({ artifact: a.id, file: a.file, range: a.range, originalHash: a.hash, original: target.code, fileHash: fileHashOf(target.fileText), agent: p.candidate.agent, code, summary: p.candidate.summary, verification: v });
        report.variants.push(rec);
        options.onProgress?.(`  accepted: ${v.speedup?.toFixed(2)}× faster (95% CI ${v.speedupLow?.toFixed(2)}–${v.speedupHigh?.toFixed(2)})`);
      } else {
        const rejection = v.rejection ?? { step: 'benchmark' as const, reason: 'not accepted' };
        store.addRejection({ artifact: a.id, agent: p.candidate.agent, at: new Date().toISOString(), rejection });
        report.rejected.push({ artifact: a.id, agent: p.candidate.agent, reason: `${rejection.step}: ${rejection.reason}`, step: rejection.step });
        options.onProgress?.(`  rejected at ${rejection.step}: ${rejection.reason}`);
      }
    }
  }
  // Level 2 and level 3: what this run teaches about the agents and the optimizer itself.
  report.retired = retireAgents(store.allAgents());
  if (report.retired.length) store.touchAgents();
  const change = adaptSettings(settings, history);
  if (change) {
    store.changeSettings(change);
    report.settingsChange = change;
  }
  report.agents = rankAgents(store.allAgents());
  return report;
}
