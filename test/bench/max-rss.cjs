// Preloaded by index-bench into `node dist/cli.js index`: reports the process's peak RSS at exit.
'use strict';
process.on('exit', () => {
  const maxRssMB = Math.round((process.resourceUsage().maxRSS / 1024) * 10) / 10;
  const heapUsedMB = Math.round((process.memoryUsage().heapUsed / 1024 / 1024) * 10) / 10;
  process.stderr.write(`CRUCIBLE_BENCH_USAGE ${JSON.stringify({ maxRssMB, heapUsedMB })}\n`);
});
