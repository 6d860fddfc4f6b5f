/**
 * Steps `determinism` and `differential`: the original and the candidate called on the
 * same inputs in an isolated worker process (runtime/differential-worker.cjs) under the
 * supervisor (runtime/supervise.ts): its own process group, killed at a time limit, with a
 * heap limit. The worker runs in the scratch copy (cwd), so a write by the candidate lands
 * there and is seen, never in the user's workspace.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import type { JsonValue } from '../../evidence/model';
import { resolveFrom, tsExtensions, workerEnv } from '../../evidence/bench/replay';
import { runtimeFile } from '../../evidence/runtime/files';
import { describeWorkerEnd, superviseWorker } from '../../evidence/runtime/supervise';

export interface DifferentialJob {
  /** Scratch copy: the worker's cwd, where tsx is resolved. */
  dir: string;
  /** Absolute paths of the original module (in the scratch copy) and of the candidate's copy of it. */
  originalFile: string;
  candidateFile: string;
  qualifiedName: string;
  /** Recorded inputs first, then generated ones. */
  inputs: JsonValue[][];
  recorded: number;
  /** Hard limit: the worker is killed after this long. */
  timeLimitMs: number;
  /** `--max-old-space-size` of the worker (MB). */
  memoryMb: number;
  signal?: AbortSignal;
  /** Filled in by runDifferential: time until the candidate's first call (start, loading, the original's two passes), and the candidate's part. */
  timings?: { originalMs: number; candidateMs: number };
}

export type DifferentialOutcome =
  | { kind: 'done'; compared: number; notes: string[]; threw: number[] }
  | { kind: 'nondeterministic'; input: number; detail: string }
  | { kind: 'differs'; input: number; detail: string }
  | { kind: 'sideEffect'; what: 'globals' | 'files' | 'stray'; detail: string }
  /** The worker could not finish: `variant`/`input` say where it was (time limit, out of memory, process exit, load failure). */
  | { kind: 'failed'; reason: string; cause: 'timeout' | 'memory' | 'exit' | 'load' | 'cancelled' | 'other'; variant?: string; input?: number };

interface Phase {
  type: 'phase';
  phase: 'load' | 'call';
  variant?: string;
  pass?: number;
  input?: number;
}

type WorkerMessage =
  | Phase
  | { type: 'done'; compared: number; notes: string[]; threw: number[] }
  | { type: 'nondeterministic' | 'differs'; input: number; detail: string }
  | { type: 'sideEffect'; what: 'globals' | 'files' | 'stray'; detail: string }
  | { type: 'fail'; reason: string; variant?: string };

export async function runDifferential(job: DifferentialJob): Promise<DifferentialOutcome> {
  const execArgv: string[] = [];
  if (tsExtensions.has(path.extname(job.originalFile).toLowerCase())) {
    const tsx = resolveFrom(job.dir, 'tsx');
    if (!tsx) return { kind: 'failed', cause: 'load', reason: 'cannot load TypeScript without tsx in the workspace (a dev dependency)' };
    execArgv.push('--import', pathToFileURL(tsx).href);
  }
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'crucible-verify-'));
  try {
    const jobFile = path.join(tmp, 'job.json');
    const started = Date.now();
    writeFileSync(
      jobFile,
      JSON.stringify({
        original: { file: job.originalFile, qualifiedName: job.qualifiedName },
        candidate: { file: job.candidateFile, qualifiedName: job.qualifiedName },
        inputs: job.inputs.map((args) => ({ args })),
        recorded: job.recorded,
        // Generated inputs may use up to about 40% of the limit in the original's first pass
        // (two more passes follow); recorded ones are always all compared.
        softDeadline: started + job.timeLimitMs * 0.4,
        maxDrain: 10_000,
      }),
    );
    let last: Phase | undefined;
    let answer: DifferentialOutcome | undefined;
    const startedAt = performance.now();
    let candidateAt: number | undefined;
    let answeredAt: number | undefined;
    const end = await superviseWorker<WorkerMessage>({
      program: { node: runtimeFile('differential-worker.cjs'), execArgv },
      args: [jobFile],
      cwd: job.dir,
      env: workerEnv(),
      messages: 'ipc',
      timeLimitMs: job.timeLimitMs,
      memoryLimitMb: job.memoryMb,
      ...(job.signal ? { signal: job.signal } : {}),
      onMessage: (m, stop) => {
        if (m.type === 'phase') {
          last = m;
          if (m.variant === 'candidate' && m.phase === 'call' && candidateAt === undefined) candidateAt = performance.now();
          return;
        }
        if (m.type === 'done') answer = { kind: 'done', compared: m.compared, notes: m.notes, threw: m.threw };
        else if (m.type === 'nondeterministic' || m.type === 'differs') answer = { kind: m.type, input: m.input, detail: m.detail };
        else if (m.type === 'sideEffect') answer = { kind: 'sideEffect', what: m.what, detail: m.detail };
        else if (m.type === 'fail') answer = { kind: 'failed', cause: 'load', reason: m.reason, ...(m.variant ? { variant: m.variant } : {}) };
        answeredAt = performance.now();
        stop();
      },
    });
    // Timings end at the answer (or at the end of the worker), not when its group is gone.
    const endAt = answeredAt ?? performance.now();
    job.timings = { originalMs: Math.round((candidateAt ?? endAt) - startedAt), candidateMs: Math.round(candidateAt === undefined ? 0 : endAt - candidateAt) };
    if (answer) return answer;
    const where = last ? { ...(last.variant ? { variant: last.variant } : {}), ...(last.input !== undefined ? { input: last.input } : {}) } : {};
    const reason = describeWorkerEnd(end, { name: 'the verification worker', exitHint: '(does it call process.exit?)' });
    switch (end.how) {
      case 'cancelled':
        return { kind: 'failed', cause: 'cancelled', reason };
      case 'timedOut':
        return { kind: 'failed', cause: 'timeout', reason, ...where };
      case 'exited':
        return { kind: 'failed', cause: end.outOfMemory ? 'memory' : 'exit', reason, ...where };
      default:
        return { kind: 'failed', cause: 'other', reason };
    }
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}
