/**
 * One optimize session over a workspace folder, shared by the language server and the CLI:
 * the micro-agents (built-in rules, plus Ollama models when configured and reachable), the
 * verification pipeline bound to one scratch copy of the folder (created on first use and
 * reused by every candidate of the session, removed at the end), and few-shot examples for
 * the Ollama agents from verified variants of similar artifacts (the vector index).
 */
import type { CrucibleSettings } from '../settings';
import type { WorkspaceIndex } from '../index/workspace';
import type { Candidate, VerificationRecord } from '../agents/contract';
import { probeOllama } from '../agents/ollama';
import type { TrackRecord } from '../agents/trackRecord';
import { ollamaAgents } from './ollamaAgent';
import { ruleAgents } from './rules';
import type { OptimizeAgent, OptimizeTarget } from './types';
import { createScratchWorkspace, verifyCandidate, type ScratchWorkspace } from './verify';

export interface OptimizeSession {
  agents: OptimizeAgent[];
  /** One-line notices for the user (Ollama not reachable: rule agents only, models not pulled). */
  notices: string[];
  verify(target: OptimizeTarget, candidate: Candidate, signal?: AbortSignal): Promise<VerificationRecord>;
  dispose(): Promise<void>;
}


/**
 * `verifyOnly`: no agents (a re-verification before Apply needs the pipeline, not the
 * agents, and must not wait on an Ollama probe).
 */
export async function openOptimizeSession(
  index: WorkspaceIndex,
  store: TrackRecord,
  settings: Pick<CrucibleSettings, 'ollama' | 'optimize' | 'test'>,
  log: (m: string) => void = () => {},
  options: { verifyOnly?: boolean } = {},
): Promise<OptimizeSession> {
  const notices: string[] = [];
  const agents: OptimizeAgent[] = options.verifyOnly ? [] : [...ruleAgents()];
  if (!options.verifyOnly && settings.ollama.models.length > 0) {
    const probe = await probeOllama(settings.ollama.host, settings.ollama.models);
    if (probe.notice) notices.push(probe.notice);
    if (probe.detail) log(probe.detail);
    if (probe.reachable && probe.available.length > 0) {
      agents.push(
        ...ollamaAgents({
          host: settings.ollama.host,
          models: probe.available,
          timeoutMs: settings.ollama.timeoutSeconds * 1000,
          // Few-shot examples: verified variants of the artifacts most similar to the target (vector index).
          fewShot: async (target) => {
            const out: { before: string; after: string; speedup: number }[] = [];
            for (const { artifact } of index.similar(target.id, 20)) {
              const best = store
                .variants({ artifact: artifact.id })
                .filter((v) => v.status !== 'dismissed' && v.verification.speedup !== undefined)
                .sort((x, y) => (y.verification.speedup ?? 0) - (x.verification.speedup ?? 0))[0];
              if (best) out.push({ before: best.original, after: best.code, speedup: best.verification.speedup! });
              if (out.length === 3) break;
            }
            return out;
          },
        }),
      );
    }
  }
  let scratch: Promise<ScratchWorkspace> | undefined;
  return {
    agents,
    notices,
    verify: async (target, candidate, signal) => {
      scratch ??= createScratchWorkspace(index.root);
      return verifyCandidate({
        root: index.root,
        target,
        candidate,
        minSpeedup: settings.optimize.minSpeedup,
        scratch: await scratch,
        testCommand: settings.test.command,
        ...(target.tests ? { testIds: [...target.tests] } : {}),
        signal,
      });
    },
    dispose: async () => {
      if (scratch) await (await scratch.catch(() => undefined))?.dispose();
    },
  };
}
