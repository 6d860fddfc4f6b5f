/**
 * Runs one program that executes workspace code in a process of its own and keeps
 * it on a leash: the benchmark workers (Node and Python), the verification's
 * differential worker and test runs all go through `superviseWorker`.
 *
 * The process leads a new process group (POSIX), so whatever it starts is stopped
 * with it: at its time limit, on abort, when the caller has its answer, when the
 * parent exits, and after it ends (a stray server a test forgot, a grandchild).
 * Its output never reaches the parent's stdio (the LSP channel): lines go to the
 * caller or are dropped, and a bounded tail is kept for the report.
 * `describeWorkerEnd` gives every caller the same words for how a worker ended.
 */
import { type ChildProcess, fork, spawn } from 'node:child_process';

/** ANSI colour and cursor sequences: runners colour their output when they think a CI log or TTY reads it. */
export const ansiEscapes = /\u001b\[[0-9;]*[A-Za-z]/g;

export interface SuperviseOptions<M> {
  /** A Node program is forked (IPC channel, JSON serialization, `execArgv` for node); anything else is spawned as `command`. */
  program: { node: string; execArgv?: string[] } | { command: string };
  args: string[];
  cwd: string;
  env: NodeJS.ProcessEnv;
  /** How the program reports: over IPC (Node programs), or as JSON lines on file descriptor 3. Absent: it does not. */
  messages?: 'ipc' | 'fd3';
  /** Every message; `stop` ends the process group once the caller has its answer. */
  onMessage?: (message: M, stop: () => void) => void;
  /** Every line of stdout and stderr, colours removed; both streams then go into the tail. Without it stdout is dropped and the tail is stderr's. */
  onOutput?: (line: string, stream: 'stdout' | 'stderr') => void;
  onSpawn?: (pid: number) => void;
  /** The group is stopped this long after the start. */
  timeLimitMs: number;
  /** Node: `--max-old-space-size`; other programs get it as CRUCIBLE_WORKER_MEMORY_MB and apply it themselves (Python: RLIMIT_AS). */
  memoryLimitMb?: number;
  /** Stopping sends SIGTERM and SIGKILL this much later (a test runner may clean up); default: SIGKILL at once. */
  termGraceMs?: number;
  signal?: AbortSignal;
  /** Characters of output kept for the report (default 4000). */
  tailChars?: number;
}

export interface WorkerEnd {
  /** stopped: the caller had its answer; exited: on its own; timedOut, cancelled: stopped by the supervisor. */
  how: 'stopped' | 'exited' | 'timedOut' | 'cancelled' | 'spawnFailed';
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  /** Its output says it ran out of memory (V8's heap limit, Python's MemoryError). */
  outOfMemory: boolean;
  /** The last `tailChars` of its output (see `onOutput`), colours removed. */
  tail: string;
  spawnError?: NodeJS.ErrnoException;
  timeLimitMs: number;
  memoryLimitMb?: number;
  /** Whether it was forked as a Node program (the memory limit is then V8's heap limit). */
  node: boolean;
}

/** What the report adds to the common words. */
export interface EndContext {
  /** How the report names the process: "the benchmark worker". */
  name: string;
  /** Where it was, from its last message: "during recorded call #0 of lib.js#f". */
  where?: string;
  /** Where the time limit comes from, shown after it: "maxSeconds 1 + grace". */
  limitSource?: string;
  /** Why a worker might end before reporting: "(does the function call process.exit?)". */
  exitHint?: string;
}

const group = process.platform !== 'win32';
const outOfMemoryText = /heap out of memory|Allocation failed|Reached heap limit|MemoryError/i;
/** V8 stack frames and heap dumps: noise in a one-line report. */
const stackNoise = /^\s*(at |\d+: 0x|<--- |\[\d+:0x)/;
/** Pids of the groups alive now: killed if the parent exits first. */
const live = new Set<number>();
let exitHookInstalled = false;

function signalGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined) return;
  try {
    if (group) process.kill(-child.pid, signal);
    else child.kill(signal);
  } catch {
    // the group is already gone
  }
}

function groupExists(pid: number): boolean {
  try {
    process.kill(-pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** SIGKILLs what is left of the group and waits (up to 2 s) until the kernel has removed it. */
async function reapGroup(child: ChildProcess): Promise<void> {
  signalGroup(child, 'SIGKILL');
  if (!group || child.pid === undefined) return;
  for (let waited = 0; waited < 2000 && groupExists(child.pid); waited += 25) await new Promise((r) => setTimeout(r, 25));
}

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // A worker must not outlive the server or the CLI (detached groups would).
  process.on('exit', () => {
    for (const pid of live) {
      try {
        process.kill(group ? -pid : pid, 'SIGKILL');
      } catch {
        // gone
      }
    }
  });
}

/** Starts the program in its own process group and resolves when it has ended and its group is gone. */
export function superviseWorker<M>(options: SuperviseOptions<M>): Promise<WorkerEnd> {
  const tailChars = options.tailChars ?? 4000;
  const node = 'node' in options.program;
  const end = (how: WorkerEnd['how'], extra: Partial<WorkerEnd> = {}): WorkerEnd => ({
    how,
    exitCode: null,
    signal: null,
    outOfMemory: false,
    tail: '',
    timeLimitMs: options.timeLimitMs,
    ...(options.memoryLimitMb !== undefined ? { memoryLimitMb: options.memoryLimitMb } : {}),
    node,
    ...extra,
  });
  if (options.signal?.aborted) return Promise.resolve(end('cancelled'));
  return new Promise((resolve) => {
    let child: ChildProcess;
    try {
      child = start(options);
    } catch (err) {
      resolve(end('spawnFailed', { spawnError: err as NodeJS.ErrnoException }));
      return;
    }
    installExitHook();
    if (child.pid !== undefined) live.add(child.pid);

    let tail = '';
    const pending: Record<'stdout' | 'stderr', string> = { stdout: '', stderr: '' };
    const emit = (raw: string, stream: 'stdout' | 'stderr') => {
      const line = raw.replace(ansiEscapes, '');
      tail += `${line}\n`;
      if (tail.length > tailChars * 2) tail = tail.slice(-tailChars);
      options.onOutput?.(line, stream);
    };
    const streams = options.onOutput ? (['stdout', 'stderr'] as const) : (['stderr'] as const);
    if (!options.onOutput) child.stdout?.resume();
    for (const stream of streams) {
      child[stream]?.setEncoding('utf8');
      child[stream]?.on('data', (chunk: string) => {
        const lines = (pending[stream] + chunk).split(/\r?\n/);
        pending[stream] = lines.pop() ?? '';
        for (const line of lines) emit(line, stream);
      });
    }

    let how: WorkerEnd['how'] | undefined;
    let killTimer: NodeJS.Timeout | undefined;
    const stopGroup = (why: 'stopped' | 'timedOut' | 'cancelled') => {
      if (how !== undefined) return;
      how = why;
      if (options.termGraceMs === undefined) signalGroup(child, 'SIGKILL');
      else {
        signalGroup(child, 'SIGTERM');
        killTimer = setTimeout(() => signalGroup(child, 'SIGKILL'), options.termGraceMs);
      }
    };
    const timer = setTimeout(() => stopGroup('timedOut'), options.timeLimitMs);
    const onAbort = () => stopGroup('cancelled');
    options.signal?.addEventListener('abort', onAbort, { once: true });
    if (child.pid !== undefined) options.onSpawn?.(child.pid);

    const onMessage = (m: M) => {
      if (how === undefined) options.onMessage?.(m, () => stopGroup('stopped'));
    };
    if (options.messages === 'ipc') child.on('message', (m) => onMessage(m as M));
    else if (options.messages === 'fd3') readJsonLines(child.stdio[3] as NodeJS.ReadableStream | null | undefined, onMessage);

    let exitCode: number | null = null;
    let exitSignal: NodeJS.Signals | null = null;
    let spawnError: NodeJS.ErrnoException | undefined;
    let exitTimer: NodeJS.Timeout | undefined;
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      clearTimeout(killTimer);
      clearTimeout(exitTimer);
      options.signal?.removeEventListener('abort', onAbort);
      for (const stream of streams) if (pending[stream]) emit(pending[stream], stream);
      const text = tail.slice(-tailChars);
      const result = end(spawnError ? 'spawnFailed' : (how ?? 'exited'), {
        exitCode,
        signal: exitSignal,
        outOfMemory: outOfMemoryText.test(text),
        tail: text,
        ...(spawnError ? { spawnError } : {}),
      });
      // Nothing it started may outlive it.
      void reapGroup(child).then(() => {
        if (child.pid !== undefined) live.delete(child.pid);
        resolve(result);
      });
    };
    child.on('error', (err) => {
      // After a start, errors are about signals or the IPC channel: the exit still comes.
      if (child.pid !== undefined) return;
      spawnError = err;
      finish();
    });
    child.on('exit', (code, signal) => {
      exitCode = code;
      exitSignal = signal;
      clearTimeout(timer);
      // Its last messages and output come before 'close'; a grandchild still holding the pipes would keep 'close' away.
      exitTimer = setTimeout(finish, 1000);
    });
    child.on('close', () => setImmediate(finish));
  });
}

function start<M>(options: SuperviseOptions<M>): ChildProcess {
  const env = { ...options.env };
  if ('node' in options.program) {
    const execArgv = [...(options.memoryLimitMb !== undefined ? [`--max-old-space-size=${options.memoryLimitMb}`] : []), ...(options.program.execArgv ?? [])];
    return fork(options.program.node, options.args, { cwd: options.cwd, env, execArgv, stdio: ['ignore', 'pipe', 'pipe', 'ipc'], detached: group, serialization: 'json' });
  }
  if (options.memoryLimitMb !== undefined) env.CRUCIBLE_WORKER_MEMORY_MB = String(options.memoryLimitMb);
  const stdio: ('ignore' | 'pipe')[] = options.messages === 'fd3' ? ['ignore', 'pipe', 'pipe', 'pipe'] : ['ignore', 'pipe', 'pipe'];
  return spawn(options.program.command, options.args, { cwd: options.cwd, env, stdio, detached: group });
}

function readJsonLines<M>(pipe: NodeJS.ReadableStream | null | undefined, onMessage: (m: M) => void): void {
  let pending = '';
  pipe?.setEncoding('utf8');
  pipe?.on('data', (chunk: string) => {
    pending += chunk;
    let nl: number;
    while ((nl = pending.indexOf('\n')) >= 0) {
      const line = pending.slice(0, nl);
      pending = pending.slice(nl + 1);
      if (!line.trim()) continue;
      let message: M;
      try {
        message = JSON.parse(line) as M;
      } catch {
        continue; // not one of ours
      }
      onMessage(message);
    }
  });
  pipe?.on('error', () => undefined);
}

/** The last lines of the tail worth a one-line report: no stack frames or heap dumps, at most 300 characters. */
export function tailSummary(tail: string): string {
  const lines = tail
    .trim()
    .split('\n')
    .filter((l) => l.trim() && !stackNoise.test(l))
    .slice(-3)
    .join(' | ');
  return lines.slice(0, 300);
}

/** How a worker ended, in the words every report uses. */
export function describeWorkerEnd(end: WorkerEnd, context: EndContext): string {
  const where = context.where ? ` ${context.where}` : '';
  const tail = tailSummary(end.tail);
  const output = tail ? `: ${tail}` : '';
  const hint = context.exitHint ? ` ${context.exitHint}` : '';
  switch (end.how) {
    case 'cancelled':
      return 'cancelled';
    case 'spawnFailed':
      return `cannot start ${context.name}: ${end.spawnError?.message ?? 'unknown error'}`;
    case 'timedOut':
      return `timed out: still running${where} after ${Math.round(end.timeLimitMs / 100) / 10} s${context.limitSource ? ` (${context.limitSource})` : ''}: ${context.name} was killed`;
    case 'stopped':
      return `${context.name} was stopped`;
    case 'exited':
      if (end.outOfMemory) return `${context.name} ran out of memory (${memoryLimitText(end)})${where}${output}`;
      if (end.signal) return `${context.name} was killed by ${end.signal}${where} before reporting${hint}${output}`;
      return `${context.name} exited with code ${end.exitCode}${where} before reporting${hint}${output}`;
  }
}

function memoryLimitText(end: WorkerEnd): string {
  if (end.memoryLimitMb === undefined) return 'no limit set';
  return end.node ? `heap limit ${end.memoryLimitMb} MB` : `address-space limit ${end.memoryLimitMb} MB`;
}
