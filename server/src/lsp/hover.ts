/** The hover on an artifact's name: its evidence, where its time goes, an offered variant. */
import type { ArtifactRecord } from '../index/extract';
import type { FolderEngine } from '../folder';
import { formatNs, formatRatio } from '../format';

const when = (iso: string) => iso.slice(0, 16).replace('T', ' ');

export function evidenceMarkdown(engine: FolderEngine, a: ArtifactRecord): string {
  const lines = [`**Crucible** · \`${a.qualifiedName}\` (${a.kind})`, ''];
  const e = engine.evidenceSummary(a);
  if (!e || (e.status === 'untested' && e.calls === undefined)) {
    lines.push(a.kind === 'test' || a.kind === 'suite' ? 'Not run through Crucible yet: run it from the Testing view.' : 'No evidence yet: no test run through Crucible has executed it. Run the tests from the Testing view.');
    return lines.join('\n');
  }
  const status = { verified: '✓ verified', failing: '✗ failing', unverified: '△ changed since its tests last passed', untested: 'no test ran it' }[e.status];
  const facts = [`${status}`];
  if (e.testsTotal > 0) facts.push(`tests ${e.testsPassed}/${e.testsTotal} passing${e.lastRunAt ? ` (run ${when(e.lastRunAt)})` : ''}`);
  if (e.coverage !== undefined) facts.push(`coverage ${Math.round(e.coverage * 100)}%`);
  if (e.medianNs !== undefined) facts.push(`median ${formatNs(e.medianNs)} per call`);
  if (e.calls !== undefined) facts.push(`${e.calls} call${e.calls === 1 ? '' : 's'} in the last run, ${e.samples} recorded`);
  lines.push(facts.join(' · '));
  if (e.lastVerifiedAt) lines.push('', `Last verified ${when(e.lastVerifiedAt)}${e.status === 'verified' ? ', on this code' : ', on earlier code'}.`);
  if (e.score !== undefined) lines.push('', `Quality score ${e.score.toFixed(2)}`);
  // Where its time goes (recorded call durations): the callees the optimizer would target first.
  if (a.kind === 'function' || a.kind === 'method') {
    const shares = engine.timeInCallees(a).filter((c) => c.share >= 0.05).slice(0, 3);
    if (shares.length) lines.push('', `Time in callees: ${shares.map((c) => `\`${engine.index.get(c.callee)?.qualifiedName ?? c.callee}\` ~${Math.round(c.share * 100)}%`).join(', ')}${shares[0].share >= 0.5 ? ' (the bottleneck: optimized first)' : ''}`);
  }
  const offer = engine.offeredVariant(a);
  if (offer) lines.push('', `⚡ A verified variant is ${formatRatio(offer.best.verification.speedup ?? 1)} faster (${offer.best.agent}): see the code lens.`);
  return lines.join('\n');
}
