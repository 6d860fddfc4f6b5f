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
  // The score's input already holds the latest tests, coverage and call count.
  const input = scoreInputFromHistory(history, callers);
  const summary: EvidenceSummary = { status: 'untested', testsPassed: 0, testsTotal: 0, samples: store.callSamples(id).length };
  if (input.tests) {
    const tested = lastTwo(history, (e) => e.tests.some((t) => t.status !== 'skipped')).latest!;
    summary.testsPassed = input.tests.passed;
    summary.testsTotal = input.tests.passed + input.tests.failed;
    summary.lastRunAt = tested.at;
    if (input.tests.failed > 0 && tested.hash === currentHash) summary.status = 'failing';
    else if (rec?.lastVerifiedHash === currentHash) summary.status = 'verified';
    else summary.status = 'unverified';
  }
  if (rec?.lastVerifiedAt) summary.lastVerifiedAt = rec.lastVerifiedAt;
  if (input.coverage) summary.coverage = input.coverage.covered / input.coverage.coverable;
  if (input.usage?.calls !== undefined) summary.calls = input.usage.calls;
  const benched = lastTwo(history, (e) => e.bench !== undefined).latest;
  if (benched?.bench) summary.medianNs = benched.bench.medianNs;
  const score = scoreArtifact(input);
  if (score.score !== undefined) summary.score = Math.round(score.score * 100) / 100;
  return summary;
}
