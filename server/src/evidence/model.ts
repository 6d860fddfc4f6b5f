/**
 * What Crucible records about running a workspace's code: runs, and per artifact
 * what each run showed about it. Written by the test-runner / benchmark adapters
 * through `EvidenceStore.addRun`; read by drift detection and the quality score.
 * Every value here is JSON-safe (stored as JSON as is).
 */

export type RunKind = 'test' | 'bench' | 'coverage';
export type TestStatus = 'passed' | 'failed' | 'skipped';

/** A JSON-safe value: recorded arguments and results are serialised before they get here. */
export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

export interface TestOutcome {
  testId: string;
  status: TestStatus;
  durationMs: number;
  /** The failure message, when the test failed. */
  error?: string;
}

/** One test, benchmark or coverage run over the workspace. */
export interface Run {
  /** Unique per run (the adapter chooses: a timestamp plus a counter, a UUID). */
  id: string;
  /** ISO 8601 time the run started. */
  at: string;
  kind: RunKind;
  /** The command that was run, as a user could re-run it. */
  command: string;
  outcomes: TestOutcome[];
}

/** A test that executed the artifact in a run. */
export interface ArtifactTestResult {
  testId: string;
  status: TestStatus;
  durationMs: number;
  /** Content hash of the test's own code at that run, when the test is an indexed artifact: a changed test is a code change too. */
  testHash?: string;
  /**
   * On a test's own evidence: a hash of the code the test executed in that run (the
   * hashes of the artifacts the recorder saw it run), so a test that fails after a
   * function it calls changed is told apart from a flaky one.
   */
  codeHash?: string;
}

/** One recorded real call of the artifact (arguments and outcome already serialised). */
export interface CallSample {
  args: JsonValue;
  result?: JsonValue;
  /** What was thrown (e.g. `{ name, message }`), when the call threw. */
  error?: JsonValue;
  durationNs: number;
  /** Whether the call changed its arguments. */
  mutated: boolean;
}

export interface BenchEvidence {
  /** Every timed sample of the run (after warm-up), in nanoseconds. */
  samplesNs: number[];
  medianNs: number;
  /** 95% confidence interval for the median (order-statistic interval, see stats.ts). */
  ciLowNs: number;
  ciHighNs: number;
  /**
   * When the samples came from several worker processes: how many each gave, in the order of
   * `samplesNs`. The interval is then a two-stage bootstrap over processes and samples.
   */
  groups?: number[];
}

/**
 * What one run showed about one artifact. A field left out was not measured by
 * that run (a benchmark run has no coverage): absence is not zero.
 */
export interface ArtifactRunEvidence {
  runId: string;
  at: string;
  /** Content hash of the artifact's code at that run (same normalisation as the index). */
  hash: string;
  tests: ArtifactTestResult[];
  coveredLines?: number;
  coverableLines?: number;
  /** How many times the artifact was executed in the run. */
  calls?: number;
  /** How many of those calls threw. */
  errors?: number;
  callSamples?: CallSample[];
  bench?: BenchEvidence;
}

/** What an adapter hands to `addRun` per artifact: the run id and time come from the run. */
export type ArtifactRunInput = Omit<ArtifactRunEvidence, 'runId' | 'at'>;

/** Everything stored about one artifact. */
export interface ArtifactEvidence {
  artifact: string;
  /** Content hash at the last run where every test of the artifact that ran passed. */
  lastVerifiedHash?: string;
  lastVerifiedAt?: string;
  /** Oldest first, capped (see `EvidenceStoreOptions.maxHistory`). */
  history: ArtifactRunEvidence[];
}

/** True when a run verified the artifact: at least one test ran and none failed. */
export function verifies(entry: Pick<ArtifactRunEvidence, 'tests'>): boolean {
  let ran = false;
  for (const t of entry.tests) {
    if (t.status === 'failed') return false;
    if (t.status === 'passed') ran = true;
  }
  return ran;
}
