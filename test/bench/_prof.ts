import * as path from 'node:path';
import { detectRunners } from '/work/main/server/src/evidence/runners/detect';
import { runTests } from '/work/main/server/src/evidence/runners/run';
import { runTestsRecorded } from '/work/main/server/src/evidence/record/record';
import { WorkspaceIndex } from '/work/main/server/src/index/workspace';
(async () => {
  const work = '/work/main/.cache/bench/demo-shop';
  const plan = (await detectRunners(work))[0];
  const index = new WorkspaceIndex(work, { settings: { exclude: ['**/node_modules/**'], maxFileSizeBytes: 1 << 20 }, owner: 'p' });
  await index.open(); await index.indexAll();
  const code = index.artifacts({ kinds: ['function', 'method', 'class'] });
  for (let i = 0; i < 3; i++) {
    let t = performance.now(); await runTests(plan, { timeoutMs: 60000, root: work }); const a = performance.now() - t;
    t = performance.now(); const r = await runTestsRecorded(plan, { timeoutMs: 60000, root: work }, code); const b = performance.now() - t;
    console.log(`reporter only ${a.toFixed(0)} ms, recorded ${b.toFixed(0)} ms`);
  }
  await index.close();
})();
