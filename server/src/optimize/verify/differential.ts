/**
 * Steps `determinism` and `differential`: the original and the candidate called on the
 * same inputs in an isolated worker process (differentialWorker.ts), which is killed
 * at a time limit and has a heap limit. The worker runs in the scratch copy (cwd), so
 * a write by the candidate lands there and is seen, never in the user's workspace.
 */
import { fork } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import type { JsonValue } from '../../evidence/model';
import { resolveFrom, tsExtensions, workerEnv } from '../../evidence/bench/replay';
import { benchWorkerSource } from '../../evidence/bench/worker';
import { differentialWorkerSource } from './differentialWorker';

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

export async function runDifferential(job: DifferentialJob): Promise<DifferentialOutcome> {
  const execArgv = [`--max-old-space-size=${job.memoryMb}`];
  if (tsExtensions.has(path.extname(job.originalFile).toLowerCase())) {
    const tsx = resolveFrom(job.dir, 'tsx');
    if (!tsx) return { kind: 'failed', cause: 'load', reason: 'cannot load TypeScript without tsx in the workspace (a dev dependency)' };
    execArgv.push('--import', pathToFileURL(tsx).href);
  }
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'crucible-verify-'));
  try {
    const workerFile = path.join(tmp, 'crucible-differential-worker.cjs');
    const benchFile = path.join(tmp, 'crucible-bench-worker.cjs');
    const jobFile = path.join(tmp, 'job.json');
    writeFileSync(workerFile, differentialWorkerSource);
    writeFileSync(benchFile, benchWorkerSource);
    const started = Date.now();
    writeFileSync(
      jobFile,
      JSON.stringify({
        benchWorker: benchFile,
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
    return await new Promise<DifferentialOutcome>((resolve) => {
      const group = process.platform !== 'win32';
      let child: ReturnType<typeof fork>;
      try {
        child = fork(workerFile, [jobFile], { cwd: job.dir, env: workerEnv(), execArgv, stdio: ['ignore', 'pipe', 'pipe', 'ipc'], detached: group, serialization: 'json' });
      } catch (err) {
        resolve({ kind: 'failed', cause: 'other', reason: `cannot start the verification worker: ${(err as Error).message}` });
        return;
      }
      let stderr = '';
      child.stdout?.resume();
      child.stderr?.setEncoding('utf8');
      child.stderr?.on('data', (chunk: string) => {
        stderr += chunk;
        if (stderr.length > 8000) stderr = stderr.slice(-4000);
      });
      let last: Phase | undefined;
      let settled = false;
      const startedAt = performance.now();
      let candidateAt: number | undefined;
      const kill = () => {
        if (child.pid === undefined) return;
        try {
          if (group) process.kill(-child.pid, 'SIGKILL');
          else child.kill('SIGKILL');
        } catch {
          // gone
        }
      };
      const finish = (o: DifferentialOutcome) => {
        if (settled) return;
        settled = true;
        const end = performance.now();
        job.timings = { originalMs: Math.round((candidateAt ?? end) - startedAt), candidateMs: Math.round(candidateAt === undefined ? 0 : end - candidateAt) };
        clearTimeout(timer);
        job.signal?.removeEventListener('abort', onAbort);
        kill();
        resolve(o);
      };
      const where = (): { variant?: string; input?: number } => (last ? { ...(last.variant ? { variant: last.variant } : {}), ...(last.input !== undefined ? { input: last.input } : {}) } : {});
      const timer = setTimeout(() => {
        finish({ kind: 'failed', cause: 'timeout', reason: `still running after ${(job.timeLimitMs / 1000).toFixed(1)} s: the worker was killed`, ...where() });
      }, job.timeLimitMs);
      const onAbort = () => finish({ kind: 'failed', cause: 'cancelled', reason: 'cancelled' });
      if (job.signal?.aborted) onAbort();
      else job.signal?.addEventListener('abort', onAbort, { once: true });
      child.on('message', (m: { type: string } & Record<string, unknown>) => {
        if (m.type === 'phase') {
          last = m as unknown as Phase;
          if (last.variant === 'candidate' && last.phase === 'call' && candidateAt === undefined) candidateAt = performance.now();
        } else if (m.type === 'done') finish({ kind: 'done', compared: m.compared as number, notes: m.notes as string[], threw: m.threw as number[] });
        else if (m.type === 'nondeterministic' || m.type === 'differs') finish({ kind: m.type, input: m.input as number, detail: m.detail as string });
        else if (m.type === 'sideEffect') finish({ kind: 'sideEffect', what: m.what as 'globals' | 'files' | 'stray', detail: m.detail as string });
        else if (m.type === 'fail') finish({ kind: 'failed', cause: 'load', reason: m.reason as string, ...(m.variant ? { variant: m.variant as string } : {}) });
      });
      child.on('error', (err) => finish({ kind: 'failed', cause: 'other', reason: `cannot start the verification worker: ${err.message}` }));
      child.on('exit', (code, signal) => {
        setTimeout(() => {
          const oom = /heap out of memory|Allocation failed|Reached heap limit/i.test(stderr);
          const tail = stderr.trim().split('\n').filter((l) => l.trim() && !/^\s*(at |\d+: 0x|<--- |\[\d+:0x)/.test(l)).slice(-3).join(' | ');
          if (oom) finish({ kind: 'failed', cause: 'memory', reason: `ran out of memory (heap limit ${job.memoryMb} MB)`, ...where() });
          else finish({ kind: 'failed', cause: 'exit', reason: `the process ended ${signal ? `by ${signal}` : `with code ${code}`} before reporting (does it call process.exit?)${tail ? `: ${tail.slice(0, 300)}` : ''}`, ...where() });
        }, 100);
      });
    });
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}
