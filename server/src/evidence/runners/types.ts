/**
 * What the test-runner adapters hand to the rest of the engine: a plan (how the
 * workspace runs its own tests) and a report (what happened, per test).
 */

export type RunnerKind = 'node-test' | 'mocha' | 'jest' | 'vitest' | 'pytest';

/** How to run one of the workspace's test commands, as the project itself would. */
export interface RunnerPlan {
  runner: RunnerKind;
  /** Executable and arguments: the base command with the project's own options. */
  argv: string[];
  /** Absolute directory the command runs in. */
  cwd: string;
  /** Why this plan: where the command came from, for logs and the UI. */
  reason: string;
  /** Variables the project's script sets before the command (`NODE_ENV=test mocha`). */
  env?: Record<string, string>;
  /**
   * Indices in `argv` of unquoted glob words that the shell would have expanded
   * (npm runs scripts through `sh -c`); expanded against `cwd` at run time.
   */
  globs?: number[];
}

export interface TestCaseError {
  message: string;
  stack?: string;
}

export interface TestCaseResult {
  /** Workspace-relative, forward slashes. */
  file: string;
  /** Enclosing suites, then the test title. */
  titlePath: string[];
  status: 'passed' | 'failed' | 'skipped';
  durationMs: number;
  error?: TestCaseError;
}

export interface TestRunReport {
  runner: RunnerKind;
  argv: string[];
  cwd: string;
  exitCode: number | null;
  signal: string | null;
  timedOut: boolean;
  cancelled: boolean;
  durationMs: number;
  results: TestCaseResult[];
  /** The last lines of stdout and stderr, interleaved as they arrived. */
  outputTail: string;
  /** Why the results may be incomplete: "runner not installed: jest", "reporter output missing", … */
  problem?: string;
}

export interface RunTestsOptions {
  timeoutMs: number;
  signal?: AbortSignal;
  onOutput?: (line: string, stream: 'stdout' | 'stderr') => void;
  /** Run only these files (workspace- or cwd-relative, or absolute). */
  files?: string[];
  /** Run only tests whose title or a suite title contains this text. */
  grep?: string;
  /** Workspace root that result files are made relative to; defaults to the plan's cwd. */
  root?: string;
  /** Called with the pid (also the process-group id) of the spawned runner. */
  onSpawn?: (pid: number) => void;
  /** Time between SIGTERM and SIGKILL when a run is stopped; default 2000 ms. */
  killGraceMs?: number;
}

/** The artifact id the extractor gives the same test: `file#suite > sub > title`. */
export function testArtifactId(r: Pick<TestCaseResult, 'file' | 'titlePath'>): string {
  return `${r.file}#${r.titlePath.join(' > ')}`;
}
