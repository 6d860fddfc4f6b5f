/**
 * Code lenses for verified variants, served from the track record (no computation on
 * request: fast on every keystroke). The titles say what was compared, as Codeflash does.
 */
import type { CodeLens } from 'vscode-languageserver';
import type { FolderEngine } from '../folder';
import { formatRatio } from '../format';

export function variantLenses(engine: FolderEngine, rel: string): CodeLens[] {
  if (!engine.openTrackRecord) return [];
  const lenses: CodeLens[] = [];
  for (const a of engine.index.artifacts({ file: rel, kinds: ['function', 'method'] })) {
    const offer = engine.offeredVariant(a);
    if (!offer) continue;
    const v = offer.best.verification;
    const agree = [
      v.inputsCompared.recorded > 0 ? `${v.inputsCompared.recorded} recorded call${v.inputsCompared.recorded === 1 ? '' : 's'}` : `generated inputs only (${v.inputsCompared.generated})`,
      v.testsRun > 0 ? `${v.testsPassed} test${v.testsPassed === 1 ? '' : 's'}` : '',
    ].filter(Boolean);
    const title = `⚡ ${formatRatio(v.speedup ?? 1)} faster variant · ${agree.join(' and ')} agree${offer.more ? ` · +${offer.more} more` : ''}`;
    const range = { start: a.range.start, end: a.range.start };
    const args = [offer.best.id];
    lenses.push(
      { range, command: { title, command: 'crucible.variant.diff', arguments: args } },
      { range, command: { title: 'Apply', command: 'crucible.variant.apply', arguments: args } },
      { range, command: { title: 'Diff', command: 'crucible.variant.diff', arguments: args } },
      { range, command: { title: 'Dismiss', command: 'crucible.variant.dismiss', arguments: args } },
    );
  }
  return lenses;
}
