/**
 * Crucible's extensions to LSP, declared once and imported by both the server
 * and the client (as vscode-eslint does). Every method string lives here;
 * docs/protocol.md lists them with their shapes. Settings are not messages: settings.ts.
 *
 * Positions and ranges are LSP's: 0-based lines, UTF-16 characters.
 */
import { NotificationType, RequestType, type Range } from 'vscode-languageserver-protocol';

/** What an artifact is. `scenario` and `variant` arrive with later capabilities. */
export type ArtifactKind = 'function' | 'method' | 'class' | 'test' | 'suite';
export type ArtifactLanguage = 'typescript' | 'tsx' | 'javascript' | 'python';

/** A call made from an artifact's body; `target` is set when the callee resolves to exactly one workspace artifact. */
export interface CallRef {
  name: string;
  target?: string;
}

/** The wire form of an artifact (the engine's record plus the folder-relative file). */
export interface ArtifactInfo {
  /** `relative/path.ts#Qualified.name`, stable across edits that keep the path and name. */
  id: string;
  name: string;
  qualifiedName: string;
  kind: ArtifactKind;
  language: ArtifactLanguage;
  /** Workspace-folder-relative path with forward slashes. */
  file: string;
  /** Absolute file URI, for the client to open. */
  uri: string;
  range: Range;
  /** Range of the name only (for selection and code lenses). */
  selectionRange: Range;
  /** Parameter names in order. */
  signature: string[];
  doc?: string;
  /** Normalized content hash: whitespace and comments don't change it. */
  hash: string;
  calls: CallRef[];
  /** Test framework for `test`/`suite` artifacts. */
  framework?: string;
  /** Id of the enclosing artifact (class for a method, suite for a test). */
  parent?: string;
  /** What the recorded test runs say about it, once the folder has evidence. */
  evidence?: EvidenceSummary;
}

export type EvidenceStatus = 'verified' | 'failing' | 'unverified' | 'untested';
/** The editor's view of an artifact's evidence (tree badge, hover). */
export interface EvidenceSummary {
  /** failing: a test that ran it fails now; verified: its tests passed on this very code; unverified: changed since, or never green; untested: no test ran it. */
  status: EvidenceStatus;
  /** In its latest test run (skipped tests not counted). */
  testsPassed: number;
  testsTotal: number;
  lastRunAt?: string;
  lastVerifiedAt?: string;
  /** Covered / coverable lines in the latest run that measured it, 0–1. */
  coverage?: number;
  /** Executions in the latest run that counted them. */
  calls?: number;
  /** Real calls recorded (arguments and results kept). */
  samples: number;
  /** Latest benchmark median, ns per call. */
  medianNs?: number;
  /** Quality score 0–1 (README: Quality score), when any dimension has evidence. */
  score?: number;
}

export interface FolderSummary {
  folderUri: string;
  files: number;
  artifacts: number;
  byKind: Partial<Record<ArtifactKind, number>>;
  byLanguage: Partial<Record<ArtifactLanguage, number>>;
  skipped: number;
  parseErrors: number;
  /** Wall time of the last full index of the folder. */
  ms: number;
  embedder: string;
}

/**
 * Server → client, once per workspace folder each time its full index completes
 * (startup, reindex, settings change). Tests wait for this instead of sleeping.
 */
export namespace IndexedNotification {
  export const method = 'crucible/indexed';
  export const type = new NotificationType<FolderSummary>(method);
}

/** Server → client, after an incremental update changed the artifacts of some files (tree refresh). */
export interface IndexChangedParams {
  folderUri: string;
  /** Folder-relative paths whose artifacts changed, were added, or were removed. */
  files: string[];
}
export namespace IndexChangedNotification {
  export const method = 'crucible/indexChanged';
  export const type = new NotificationType<IndexChangedParams>(method);
}

export type IndexState = 'starting' | 'indexing' | 'ready' | 'error';
/** Server → client, whenever the overall index state or counts change (status bar). */
export interface StatusParams {
  state: IndexState;
  files: number;
  artifacts: number;
  /** Percentage while indexing. */
  percent?: number;
  message?: string;
}
export namespace StatusNotification {
  export const method = 'crucible/status';
  export const type = new NotificationType<StatusParams>(method);
}

/** Client → server: list or filter artifacts (the Artifacts tree view, quick picks). */
export interface ArtifactsParams {
  /** Limit to one workspace folder. */
  folderUri?: string;
  /** Limit to one file (absolute URI). */
  uri?: string;
  kinds?: ArtifactKind[];
  /** Case-insensitive substring of the qualified name or file. */
  query?: string;
  limit?: number;
}
export interface ArtifactsResult {
  artifacts: ArtifactInfo[];
  /** Total matching before `limit`. */
  total: number;
}
export namespace ArtifactsRequest {
  export const method = 'crucible/artifacts';
  export const type = new RequestType<ArtifactsParams, ArtifactsResult, void>(method);
}

/** Client → server: artifacts most similar to one given by id, or by the artifact at a position. */
export interface SimilarParams {
  id?: string;
  textDocument?: { uri: string };
  position?: { line: number; character: number };
  /** How many results (default 10). */
  k?: number;
}
export interface SimilarItem {
  artifact: ArtifactInfo;
  /** Cosine similarity in [-1, 1]. */
  score: number;
}
export interface SimilarResult {
  /** The artifact the search started from, if one was found. */
  source?: ArtifactInfo;
  items: SimilarItem[];
  embedder: string;
}
export namespace SimilarRequest {
  export const method = 'crucible/similar';
  export const type = new RequestType<SimilarParams, SimilarResult, void>(method);
}

/** Client → server: drop nothing, re-walk every folder and re-index what changed (command "Reindex Workspace"). */
export interface ReindexParams {
  /** Ignore content hashes and re-extract every file. */
  force?: boolean;
}
export namespace ReindexRequest {
  export const method = 'crucible/reindex';
  export const type = new RequestType<ReindexParams, FolderSummary[], void>(method);
}

// ---- tests (Test Explorer) ---------------------------------------------------------
// The tests themselves are the index's `test` and `suite` artifacts (ArtifactsRequest
// with kinds ['suite', 'test']; `parent` nests them). The server runs them with the
// workspace's own runner and owns the results; the client maps them onto a TestController.

export type TestStatus = 'passed' | 'failed' | 'skipped';

/** One test's outcome in a run. */
export interface TestResultInfo {
  /** The test artifact's id (`file#suite > test`) when it matches an indexed test, else the same form built from the runner's titles. */
  id: string;
  /** Whether `id` names an indexed test artifact. */
  indexed: boolean;
  /** Folder-relative file. */
  file: string;
  titlePath: string[];
  status: TestStatus;
  durationMs: number;
  /** Failure message (and stack, when the runner gave one). */
  message?: string;
}

/** Client → server: run tests. Needs a trusted workspace (see WorkspaceTrustNotification). Cancel with $/cancelRequest. */
export interface RunTestsParams {
  /** Client-chosen id, echoed in TestRunEventNotification. */
  runId: string;
  /** Test or suite artifact ids to run; absent or empty: every test of every folder (or of `folderUri`). */
  ids?: string[];
  folderUri?: string;
  /** Also return line coverage per file (the Test Explorer's Coverage profile). */
  coverage?: boolean;
}
/** Which lines of a file's functions, methods and classes ran (0-based lines). */
export interface FileCoverageInfo {
  /** Folder-relative file. */
  file: string;
  uri: string;
  covered: number[];
  uncovered: number[];
}
export interface FolderTestRun {
  folderUri: string;
  runner: string;
  /** The command as a user could re-run it. */
  command: string;
  exitCode: number | null;
  timedOut: boolean;
  cancelled: boolean;
  /** Why the run could not report results (runner missing, file failing to load, no runner found). */
  problem?: string;
  results: TestResultInfo[];
  durationMs: number;
  /** With `coverage: true`: every file whose code ran. */
  coverage?: FileCoverageInfo[];
  /** Files of the workspace the run created, modified or deleted (tests that write next to the sources), and that sentence. */
  workspaceChanges?: { created: string[]; modified: string[]; deleted: string[]; message: string };
}
export interface RunTestsResult {
  runId: string;
  folders: FolderTestRun[];
}
export namespace RunTestsRequest {
  export const method = 'crucible/runTests';
  export const type = new RequestType<RunTestsParams, RunTestsResult, void>(method);
}

/** Server → client while a run goes: the runner's output lines as they come (for the Test Results terminal and the output channel). */
export interface TestRunEventParams {
  runId: string;
  folderUri: string;
  kind: 'started' | 'output';
  /** For `started`: the command; for `output`: one line. */
  text: string;
}
export namespace TestRunEventNotification {
  export const method = 'crucible/testRunEvent';
  export const type = new NotificationType<TestRunEventParams>(method);
}

/** Client → server: benchmark artifacts on their recorded calls (all that have some, or `ids`). Trusted workspaces only; cancellable; shows work-done progress. */
export interface BenchmarkParams {
  runId: string;
  ids?: string[];
}
export interface BenchmarkOutcome {
  id: string;
  ok: boolean;
  /** Median ns per call, with the 95% interval of the median. */
  medianNs?: number;
  ciLowNs?: number;
  ciHighNs?: number;
  /** Why it could not be benchmarked (no recorded calls, an instance method, replay diverged, …). */
  reason?: string;
}
export namespace BenchmarkRequest {
  export const method = 'crucible/benchmark';
  export const type = new RequestType<BenchmarkParams, { outcomes: BenchmarkOutcome[] }, void>(method);
}

/**
 * Client → server: whether the workspace is trusted (VS Code's Workspace Trust). The
 * server runs no workspace code until told `trusted: true`; `initializationOptions.trusted`
 * gives the initial state. Other clients (the CLI) decide themselves.
 */
export interface WorkspaceTrustParams {
  trusted: boolean;
}
export namespace WorkspaceTrustNotification {
  export const method = 'crucible/workspaceTrust';
  export const type = new NotificationType<WorkspaceTrustParams>(method);
}

// ---- drift --------------------------------------------------------------------------

export type DriftKind = 'test-failure' | 'slowdown' | 'unverified-change' | 'coverage-drop' | 'error-rate' | 'flaky';
export interface DriftEventInfo {
  artifact: string;
  kind: DriftKind;
  /** The evidence, in words (tests, numbers, run dates). */
  detail: string;
  ratio?: number;
  /** Fails `crucible drift --ci`: test-failure, slowdown, coverage-drop, error-rate. */
  regression: boolean;
  uri: string;
  /** The artifact's name (where its diagnostic is shown). */
  range: Range;
}
/** Client → server: the drift found in the recorded evidence (the Drift view). */
export interface DriftParams {
  folderUri?: string;
}
export interface DriftResult {
  events: DriftEventInfo[];
}
export namespace DriftRequest {
  export const method = 'crucible/drift';
  export const type = new RequestType<DriftParams, DriftResult, void>(method);
}
/** Server → client: the drift of a folder changed (after a test run, or an edit that changed verified code). */
export namespace DriftChangedNotification {
  export const method = 'crucible/driftChanged';
  export const type = new NotificationType<{ folderUri: string }>(method);
}

/** Client → server: run the optimizer (all functions with evidence, or `ids`). Trusted workspaces only; cancellable; work-done progress. */
export interface OptimizeParams {
  runId: string;
  ids?: string[];
  folderUri?: string;
  /** Candidates verified at most (default `crucible.optimize.budget`). */
  budget?: number;
}
export interface OptimizeResult {
  folders: {
    folderUri: string;
    variants: { id: string; artifact: string; agent: string; speedup: number; summary: string }[];
    rejected: { artifact: string; agent: string; reason: string }[];
    skipped: { artifact: string; reason: string }[];
    verified: number;
    /** One-line notices (Ollama not reachable: rule agents only, agents retired, settings changed). */
    notices: string[];
  }[];
}
export namespace OptimizeRequest {
  export const method = 'crucible/optimize';
  export const type = new RequestType<OptimizeParams, OptimizeResult, void>(method);
}

/** One micro-agent as the Micro-agents view shows it (server/src/agents/bandit.ts `RankedAgent`). */
export interface AgentInfo {
  rank: number;
  id: string;
  kind: 'rule' | 'ollama';
  description: string;
  attempts: number;
  accepted: number;
  /** Posterior mean acceptance rate and its 95% interval. */
  mean: number;
  low: number;
  high: number;
  meanSpeedup?: number;
  meanLatencyMs?: number;
  meanCost?: number;
  provisional: boolean;
  retired?: { at: string; reason: string };
}
/** Client → server: the micro-agents ranked, with the optimizer's settings and their history. */
export interface AgentsResult {
  folders: { folderUri: string; agents: AgentInfo[]; settings: { agentsPerArtifact: number; candidatesPerArtifact: number }; settingsHistory: { at: string; why: string }[] }[];
}
export namespace AgentsRequest {
  export const method = 'crucible/agents';
  export const type = new RequestType<{ folderUri?: string }, AgentsResult, void>(method);
}

/**
 * Client → server: act on a verified variant (the code lens commands).
 * - `apply`: the edit that replaces the function by the variant (the client applies it as a
 *   WorkspaceEdit, so it is undoable), or `problem` when the function changed since the variant
 *   was verified (the variant is not offered then; optimize again);
 * - `diff`: the original and the variant text, for `vscode.diff`;
 * - `dismiss`: remembered; the same code is not offered again;
 * - `applied`: the client applied the edit (the variant is then no longer offered).
 */
export interface VariantActionParams {
  id: string;
  action: 'apply' | 'diff' | 'dismiss' | 'applied';
}
export interface VariantActionResult {
  uri?: string;
  edit?: { range: Range; newText: string };
  original?: string;
  variant?: string;
  title?: string;
  problem?: string;
}
export namespace VariantActionRequest {
  export const method = 'crucible/variantAction';
  export const type = new RequestType<VariantActionParams, VariantActionResult, void>(method);
}

/** Server → client: a folder's variants or agent rankings changed (the client refreshes the Micro-agents view; lenses refresh through workspace/codeLens/refresh). */
export namespace OptimizeChangedNotification {
  export const method = 'crucible/optimizeChanged';
  export const type = new NotificationType<{ folderUri: string }>(method);
}

/** Settings (their shape, defaults and normalisation) are in settings.ts: not a message. */
