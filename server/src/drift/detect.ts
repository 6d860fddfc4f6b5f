/**
 * Drift detection: pure functions over an artifact's evidence history (no I/O).
 *
 * Each detector takes the artifact's view (history oldest first, current content hash,
 * last verified hash) and returns events whose `detail` carries the evidence (numbers,
 * test names, run dates), so a diagnostic or a CI log can be acted on without digging.
 * The thresholds are named constants below and listed in the README.
 */
import { benchPair, lastTwo } from '../evidence/history';
import type { ArtifactRunEvidence } from '../evidence/model';
import { ratioOfMediansCI, ratioOfMediansGroupedCI, splitGroups } from '../evidence/stats';

import { formatNs } from '../format';
import type { DriftKind } from '../protocol';
export type { DriftKind };

export interface DriftEvent {
  artifact: string;
  kind: DriftKind;
  /** Human text with the evidence. */
  detail: string;
  /** For `slowdown`: current median / baseline median. */
  ratio?: number;
}

/**
 * Kinds that fail `crucible drift --ci`: measured regressions. Not `flaky` (by
 * definition not caused by a change) and not `unverified-change` (the evidence is
 * stale, nothing was measured to be worse: re-run the tests to settle it).
 */
export const regressionKinds: ReadonlySet<DriftKind> = new Set<DriftKind>(['test-failure', 'slowdown', 'coverage-drop', 'error-rate']);
export const isRegression = (e: Pick<DriftEvent, 'kind'>) => regressionKinds.has(e.kind);

/** A slowdown needs the median at least this much slower (CodSpeed/Bencher-style noise floor)… */
export const SLOWDOWN_MIN_RATIO = 1.1;
/** …and the confidence interval of the ratio must exclude 1 at this level. */
export const SLOWDOWN_CONFIDENCE = 0.95;
/** Fewer timed samples than this per run: the ratio interval falls back to the runs' stored median intervals. */
export const SLOWDOWN_MIN_SAMPLES = 5;
/** Below SLOWDOWN_MIN_SAMPLES, the stored per-run intervals are used if both runs have at least this many samples; below it, no verdict. */
export const SLOWDOWN_FALLBACK_MIN_SAMPLES = 3;
/** Covered fraction must fall by at least this (5 percentage points). */
export const COVERAGE_DROP_MIN = 0.05;
/** Fraction of calls that threw must rise by at least this (10 percentage points)… */
export const ERROR_RATE_RISE_MIN = 0.1;
/** …with at least this many recorded calls in both runs compared. */
export const ERROR_RATE_MIN_CALLS = 20;
/** A test whose outcome alternates with identical code within this many latest runs is flaky. */
export const FLAKY_WINDOW = 10;

export interface ArtifactEvidenceView {
  artifact: string;
  /** Oldest first. */
  history: readonly ArtifactRunEvidence[];
  /** Content hash of the artifact's code now (from the index); undefined if unknown. */
  currentHash: string | undefined;
  lastVerifiedHash?: string;
}

type Entry = ArtifactRunEvidence;

const day = (iso: string) => iso.slice(0, 16).replace('T', ' ');
const pct = (x: number) => `${(x * 100).toFixed(1)}%`;
const shortHash = (h: string | undefined) => (h ? h.slice(0, 8) : 'none');

interface TestPoint {
  entry: Entry;
  status: 'passed' | 'failed';
  testHash?: string;
  codeHash?: string;
}

/** Each test's non-skipped outcomes across the history, oldest first. */
function testSeries(history: readonly Entry[]): Map<string, TestPoint[]> {
  const series = new Map<string, TestPoint[]>();
  for (const entry of history) {
    for (const t of entry.tests) {
      if (t.status === 'skipped') continue;
      let s = series.get(t.testId);
      if (!s) series.set(t.testId, (s = []));
      s.push({ entry, status: t.status, testHash: t.testHash, codeHash: t.codeHash });
    }
  }
  return series;
}

/** Equal where both runs know it: undefined (not recorded) never counts as a change. */
const same = (x: string | undefined, y: string | undefined) => x === undefined || y === undefined || x === y;
const sameCode = (a: TestPoint, b: TestPoint) => a.entry.hash === b.entry.hash && same(a.testHash, b.testHash) && same(a.codeHash, b.codeHash);

/**
 * `flaky`: within the last FLAKY_WINDOW runs that had the test, its outcome changed
 * between two consecutive runs with identical artifact (and test) code.
 * Returns the flips per test, used by `detectTestFailures` as well.
 */
function flakyFlips(history: readonly Entry[]): Map<string, TestPoint[][]> {
  const flips = new Map<string, TestPoint[][]>();
  for (const [testId, points] of testSeries(history)) {
    const recent = points.slice(-FLAKY_WINDOW);
    for (let i = 1; i < recent.length; i++) {
      const a = recent[i - 1];
      const b = recent[i];
      if (a.status !== b.status && sameCode(a, b)) {
        let f = flips.get(testId);
        if (!f) flips.set(testId, (f = []));
        f.push([a, b]);
      }
    }
  }
  return flips;
}

/**
 * `test-failure` and `flaky`. A test failing in its latest run is a test failure when it
 * passed before and the code changed (the artifact's hash, or the test's) between its
 * last pass and its first failure since; with no code change it is flaky. A test that
 * never passed is not drift. A test that flipped without a code change in the window is
 * flaky even if it passes now.
 */
export function detectTestFailures(view: ArtifactEvidenceView): DriftEvent[] {
  const events: DriftEvent[] = [];
  const flips = flakyFlips(view.history);
  const reported = new Set<string>();
  for (const [testId, points] of testSeries(view.history)) {
    const latest = points[points.length - 1];
    if (latest.status !== 'failed') continue;
    let lastPass = -1;
    for (let i = points.length - 1; i >= 0; i--) {
      if (points[i].status === 'passed') {
        lastPass = i;
        break;
      }
    }
    if (lastPass < 0) continue;
    const passed = points[lastPass];
    const firstFail = points[lastPass + 1];
    const since = firstFail === latest ? `in the run of ${day(latest.entry.at)}` : `since the run of ${day(firstFail.entry.at)} (still failing on ${day(latest.entry.at)})`;
    if (!sameCode(passed, firstFail)) {
      const what =
        passed.entry.hash !== firstFail.entry.hash
          ? `the code changed (${shortHash(passed.entry.hash)} → ${shortHash(firstFail.entry.hash)})`
          : !same(passed.testHash, firstFail.testHash)
            ? `the test changed (${shortHash(passed.testHash)} → ${shortHash(firstFail.testHash)})`
            : `the code it executed changed (${shortHash(passed.codeHash)} → ${shortHash(firstFail.codeHash)})`;
      const flaky = flips.get(testId);
      const note = flaky ? `; note: it also flipped without a code change on ${flaky.map(([, b]) => day(b.entry.at)).join(', ')}, so it may be flaky` : '';
      events.push({ artifact: view.artifact, kind: 'test-failure', detail: `test ${testId} fails ${since}; it passed on ${day(passed.entry.at)} and ${what}${note}` });
    } else {
      events.push({ artifact: view.artifact, kind: 'flaky', detail: `test ${testId} fails ${since} but passed on ${day(passed.entry.at)} with the same code (${shortHash(passed.entry.hash)}): flaky, not drift` });
    }
    reported.add(testId);
  }
  for (const [testId, pairs] of flips) {
    if (reported.has(testId)) continue;
    const when = pairs.map(([a, b]) => `${a.status} on ${day(a.entry.at)} → ${b.status} on ${day(b.entry.at)}`).join('; ');
    events.push({ artifact: view.artifact, kind: 'flaky', detail: `test ${testId} changed outcome with the same code (${shortHash(pairs[0][1].entry.hash)}): ${when}` });
  }
  return events;
}

/**
 * `slowdown`: latest benchmark against the baseline chosen by `benchPair` (the last
 * benchmark of the previous version of the code, or the oldest one kept if the code
 * never changed). Fires when median ratio >= SLOWDOWN_MIN_RATIO and the 95% interval of
 * the ratio (seeded bootstrap of the ratio of medians) lies entirely above 1.
 */
export function detectSlowdown(view: ArtifactEvidenceView): DriftEvent[] {
  const pair = benchPair(view.history);
  if (!pair) return [];
  const b = pair.baseline.bench;
  const c = pair.current.bench;
  let ratio: number;
  let low: number;
  let high: number;
  let method: string;
  // Both rules need the point ratio at or above the minimum: below it, no interval can make it fire.
  if (!(c.medianNs / b.medianNs >= SLOWDOWN_MIN_RATIO * 0.999)) return [];
  if ((b.groups?.length ?? 0) > 1 && (c.groups?.length ?? 0) > 1) {
    // Both runs measured in several processes: resample processes, then samples.
    const est = ratioOfMediansGroupedCI(splitGroups(b.samplesNs, b.groups), splitGroups(c.samplesNs, c.groups), { confidence: SLOWDOWN_CONFIDENCE });
    ({ ratio, low, high } = est);
    method = `bootstrap over ${b.groups!.length} and ${c.groups!.length} processes`;
  } else if (b.samplesNs.length >= SLOWDOWN_MIN_SAMPLES && c.samplesNs.length >= SLOWDOWN_MIN_SAMPLES) {
    const est = ratioOfMediansCI(b.samplesNs, c.samplesNs, { confidence: SLOWDOWN_CONFIDENCE });
    ({ ratio, low, high } = est);
    method = 'bootstrap';
  } else if (Math.min(b.samplesNs.length, c.samplesNs.length) >= SLOWDOWN_FALLBACK_MIN_SAMPLES) {
    // Too few samples to resample: the conservative interval from the stored per-run median intervals.
    ratio = c.medianNs / b.medianNs;
    low = c.ciLowNs / b.ciHighNs;
    high = c.ciHighNs / b.ciLowNs;
    method = 'from per-run intervals';
  } else {
    // One or two samples (a budget cut short, a slow function): their "interval" is a point
    // or the two values, which says nothing of the noise; no verdict either way.
    return [];
  }
  if (!(ratio >= SLOWDOWN_MIN_RATIO && low > 1)) return [];
  const cause = pair.codeChanged ? `after the code changed (${shortHash(pair.baseline.hash)} → ${shortHash(pair.current.hash)})` : `with no change to this code (${shortHash(pair.current.hash)}): a callee, a dependency or the machine`;
  return [
    {
      artifact: view.artifact,
      kind: 'slowdown',
      ratio,
      detail:
        `${ratio.toFixed(2)}× slower ${cause}: median ${formatNs(c.medianNs)} (${c.samplesNs.length} samples, ${day(pair.current.at)}) ` +
        `vs ${formatNs(b.medianNs)} (${b.samplesNs.length} samples, ${day(pair.baseline.at)}${pair.candidates > 1 ? `, the slowest of ${pair.candidates} runs of that code` : ''}); ${Math.round(SLOWDOWN_CONFIDENCE * 100)}% CI of the ratio ${low.toFixed(2)}–${high.toFixed(2)} (${method})`,
    },
  ];
}

/** `unverified-change`: the artifact has tests and its code now differs from the code its tests last all passed on. */
export function detectUnverifiedChange(view: ArtifactEvidenceView): DriftEvent[] {
  if (view.currentHash === undefined) return [];
  const tested = view.history.some((e) => e.tests.some((t) => t.status !== 'skipped'));
  if (!tested || view.currentHash === view.lastVerifiedHash) return [];
  const detail =
    view.lastVerifiedHash === undefined
      ? `has tests but they have never all passed; the code (${shortHash(view.currentHash)}) is unverified`
      : `code changed since its tests last all passed (verified ${shortHash(view.lastVerifiedHash)}, now ${shortHash(view.currentHash)}); run the tests to verify it`;
  return [{ artifact: view.artifact, kind: 'unverified-change', detail }];
}

/** `coverage-drop`: covered fraction fell by >= COVERAGE_DROP_MIN between the last two runs that measured it. */
export function detectCoverageDrop(view: ArtifactEvidenceView): DriftEvent[] {
  const { previous, latest } = lastTwo(view.history, (e) => (e.coverableLines ?? 0) > 0);
  if (!previous || !latest) return [];
  const before = (previous.coveredLines ?? 0) / previous.coverableLines!;
  const now = (latest.coveredLines ?? 0) / latest.coverableLines!;
  if (before - now < COVERAGE_DROP_MIN - 1e-12) return [];
  return [
    {
      artifact: view.artifact,
      kind: 'coverage-drop',
      detail: `line coverage fell from ${pct(before)} (${previous.coveredLines}/${previous.coverableLines}, ${day(previous.at)}) to ${pct(now)} (${latest.coveredLines ?? 0}/${latest.coverableLines}, ${day(latest.at)})`,
    },
  ];
}

/** `error-rate`: fraction of recorded calls that threw rose by >= ERROR_RATE_RISE_MIN, both runs with >= ERROR_RATE_MIN_CALLS calls. */
export function detectErrorRate(view: ArtifactEvidenceView): DriftEvent[] {
  const { previous, latest } = lastTwo(view.history, (e) => (e.calls ?? 0) >= ERROR_RATE_MIN_CALLS);
  if (!previous || !latest) return [];
  const before = (previous.errors ?? 0) / previous.calls!;
  const now = (latest.errors ?? 0) / latest.calls!;
  if (now - before < ERROR_RATE_RISE_MIN - 1e-12) return [];
  return [
    {
      artifact: view.artifact,
      kind: 'error-rate',
      detail: `${pct(now)} of calls threw (${latest.errors ?? 0}/${latest.calls}, ${day(latest.at)}), up from ${pct(before)} (${previous.errors ?? 0}/${previous.calls}, ${day(previous.at)})`,
    },
  ];
}

/** Every detector over one artifact. */
export function detectDrift(view: ArtifactEvidenceView): DriftEvent[] {
  if (view.history.length === 0) return [];
  return [...detectTestFailures(view), ...detectSlowdown(view), ...detectUnverifiedChange(view), ...detectCoverageDrop(view), ...detectErrorRate(view)];
}

/** What drift needs to know of an artifact's code now: its file and content hash (from the index). */
export type CurrentCode = (id: string) => { file: string; hash: string } | undefined;

/** The evidence a folder's drift is computed from (the evidence store satisfies it). */
export interface EvidenceHistories {
  artifacts(): string[];
  get(id: string): { history: readonly ArtifactRunEvidence[]; lastVerifiedHash?: string } | undefined;
}

/**
 * The drift loop, once for the editor and the CLI: every artifact with evidence (or only
 * those in `files`) against the code as indexed now. Artifacts with evidence that no longer
 * exist in the code are `gone`: their history says nothing about code that exists.
 */
export function detectFolderDrift(evidence: EvidenceHistories, current: CurrentCode, files?: ReadonlySet<string>): { byFile: Map<string, DriftEvent[]>; gone: string[] } {
  const byFile = new Map<string, DriftEvent[]>();
  const gone: string[] = [];
  for (const id of evidence.artifacts()) {
    const code = current(id);
    if (!code) {
      gone.push(id);
      continue;
    }
    if (files && !files.has(code.file)) continue;
    const rec = evidence.get(id)!;
    const events = detectDrift({ artifact: id, history: rec.history, currentHash: code.hash, lastVerifiedHash: rec.lastVerifiedHash });
    if (events.length > 0) byFile.set(code.file, [...(byFile.get(code.file) ?? []), ...events]);
  }
  return { byFile, gone };
}
