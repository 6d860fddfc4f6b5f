/**
 * What the editor shows of an artifact's evidence (hover, tree badges): a compact
 * summary computed from the evidence store and the artifact's current hash.
 */
import type { EvidenceSummary } from '../protocol';
import { lastTwo } from './history';
import { scoreArtifact, scoreInputFromHistory } from './score';
import type { EvidenceStore } from './store';

/**
 * `status`: failing — a test that ran it failed in its latest test run; verified — its
 * tests all passed on exactly the code there is now; unverified — it has tests but the
 * code changed since they last all passed (or they never did); untested — no test ran it.
 */
export function summarizeEvidence(store: EvidenceStore, id: string, currentHash: string, callers?: number): EvidenceSummary {
  const rec = store.get(id);
  const history = rec?.history ?? [];
  const tested = lastTwo(history, (e) => e.tests.some((t) => t.status !== 'skipped')).latest;
  const summary: EvidenceSummary = { status: 'untested', testsPassed: 0, testsTotal: 0, samples: store.callSamples(id).length };
  if (tested) {
    summary.testsTotal = tested.tests.filter((t) => t.status !== 'skipped').length;
    summary.testsPassed = tested.tests.filter((t) => t.status === 'passed').length;
    summary.lastRunAt = tested.at;
    if (summary.testsPassed < summary.testsTotal && tested.hash === currentHash) summary.status = 'failing';
    else if (rec?.lastVerifiedHash === currentHash) summary.status = 'verified';
    else summary.status = 'unverified';
  }
  if (rec?.lastVerifiedAt) summary.lastVerifiedAt = rec.lastVerifiedAt;
  const covered = lastTwo(history, (e) => (e.coverableLines ?? 0) > 0).latest;
  if (covered) summary.coverage = (covered.coveredLines ?? 0) / covered.coverableLines!;
  const counted = lastTwo(history, (e) => e.calls !== undefined).latest;
  if (counted) summary.calls = counted.calls;
  const benched = lastTwo(history, (e) => e.bench !== undefined).latest;
  if (benched?.bench) summary.medianNs = benched.bench.medianNs;
  const score = scoreArtifact(scoreInputFromHistory(history, callers));
  if (score.score !== undefined) summary.score = Math.round(score.score * 100) / 100;
  return summary;
}
