/**
 * Indexing benchmark: `npm run bench:index`.
 *
 * Measures the engine (server/src/index) on a ~100k-line corpus of real JS/TS from
 * npm devDependencies pinned to exact versions (rxjs 7.8.2 `src/`, TypeScript; most
 * of three 0.187.0 `src/`, JavaScript), copied into a temp folder:
 *   1. corpus size;  2. cold and warm `indexAll`;  3. Universal Ctags on the same files;
 *   4. single-file re-index latency;  5. similarity query at 50k vectors;  6. memory.
 * Prints human-readable lines and one final JSON line. Asserts nothing.
 *
 * Options: `--only=cold` runs the corpus copy and the cold index only (for
 * `node --cpu-prof --import tsx test/bench/index-bench.ts --only=cold`); `--only=query`
 * runs what the similarity query needs (corpus, cold index, 2c) and section 5 only;
 * `--only=reindex` runs the corpus, the cold index and section 4 only;
 * `--keep` leaves the temp folder in place.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, promises as fs, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { localEmbed } from '../../server/src/index/embedders';
import { type ArtifactRecord, type EmbedInput, extractFile } from '../../server/src/index/extract';
import { languageForPath, loadParsers } from '../../server/src/index/languages';
import { VectorStore } from '../../server/src/index/vectors';
import { WorkspaceIndex } from '../../server/src/index/workspace';
import { seededRandom as rng } from '../../server/src/evidence/stats';

const repoRoot = path.resolve(__dirname, '..', '..');
const nodeModules = path.join(repoRoot, 'node_modules');
const args = new Set(process.argv.slice(2));
const onlyCold = args.has('--only=cold');
const onlyQuery = args.has('--only=query');
const onlyReindex = args.has('--only=reindex');
const keep = args.has('--keep');
const gc = (globalThis as { gc?: () => void }).gc;

/** The corpus: package folder, the part of it taken, and what to leave out. */
const corpusParts = [
  { pkg: 'rxjs', dir: 'src', exclude: [] as string[] },
  // three's src/ is 187k lines; leave out the node-material system and the WebGPU/common renderers.
  { pkg: 'three', dir: 'src', exclude: ['nodes/', 'renderers/common/', 'renderers/webgpu/', 'renderers/webgl-fallback/', 'renderers/shaders/'] },
];
const maxFileSizeBytes = 1 << 20;

const targets = {
  initialIndexMs: 5000,
  ctagsRatio: 0.7,
  reindexP95Ms: 20,
  similarP95Ms: 50,
  rssMB: 200,
};

const results: Record<string, unknown> = {};
const MB = 1024 * 1024;

// ---- helpers -------------------------------------------------------------------------

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i];
}

function summarize(samples: number[]): { p50: number; p95: number; max: number; mean: number } {
  const s = [...samples].sort((a, b) => a - b);
  return { p50: round(percentile(s, 50)), p95: round(percentile(s, 95)), max: round(s[s.length - 1]), mean: round(s.reduce((a, b) => a + b, 0) / s.length) };
}

function round(x: number, digits = 2): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

function fmt(x: number, digits = 1): string {
  return x.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

function mb(bytes: number): number {
  return round(bytes / MB, 1);
}

function verdict(ok: boolean): string {
  return ok ? 'MET' : 'MISSED';
}

function line(label: string, value: string): void {
  console.log(`  ${label.padEnd(34)} ${value}`);
}

function section(title: string): void {
  console.log(`\n== ${title}`);
}


async function listFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await fs.readdir(dir, { withFileTypes: true })) {
    const abs = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...(await listFiles(abs)));
    else if (e.isFile()) out.push(abs);
  }
  return out;
}

function countLines(text: string): number {
  if (text.length === 0) return 0;
  let n = 0;
  for (let i = text.indexOf('\n'); i !== -1; i = text.indexOf('\n', i + 1)) n++;
  return text.endsWith('\n') ? n : n + 1;
}

function run(cmd: string, argv: string[], maxBuffer = 256 * MB): Promise<{ stdout: string; stderr: string; ms: number }> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    execFile(cmd, argv, { maxBuffer, encoding: 'utf8' }, (err, stdout, stderr) => {
      if (err) reject(err);
      else resolve({ stdout, stderr, ms: performance.now() - started });
    });
  });
}

/** Samples RSS every 20 ms until stopped; returns the peak. */
/** Also compared with the kernel's maxRSS afterwards (nothing ran before the cold index that used more). */
function rssSampler(): { stop: () => number } {
  let peak = process.memoryUsage.rss();
  const timer = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage.rss());
  }, 20);
  return {
    stop: () => {
      clearInterval(timer);
      return Math.max(peak, process.memoryUsage.rss());
    },
  };
}

interface CorpusFile {
  rel: string;
  abs: string;
  text: string;
  lines: number;
  bytes: number;
}

// ---- 1. corpus -----------------------------------------------------------------------

async function prepareCorpus(root: string): Promise<CorpusFile[]> {
  section('1. Corpus');
  const files: CorpusFile[] = [];
  const versions: string[] = [];
  for (const part of corpusParts) {
    const pkgDir = path.join(nodeModules, part.pkg);
    const version = (JSON.parse(await fs.readFile(path.join(pkgDir, 'package.json'), 'utf8')) as { version: string }).version;
    versions.push(`${part.pkg}@${version}/${part.dir}`);
    const base = path.join(pkgDir, part.dir);
    for (const abs of (await listFiles(base)).sort()) {
      const inPart = path.relative(base, abs).split(path.sep).join('/');
      if (part.exclude.some((x) => inPart.startsWith(x))) continue;
      if (!languageForPath(abs)) continue; // only what the engine indexes (no .d.ts, no JSON)
      const buf = await fs.readFile(abs);
      if (buf.length > maxFileSizeBytes) continue;
      const rel = `${part.pkg}/${inPart}`;
      const dest = path.join(root, rel);
      await fs.mkdir(path.dirname(dest), { recursive: true });
      await fs.writeFile(dest, buf);
      const text = buf.toString('utf8');
      files.push({ rel, abs: dest, text, lines: countLines(text), bytes: buf.length });
    }
  }
  const lines = files.reduce((a, f) => a + f.lines, 0);
  const bytes = files.reduce((a, f) => a + f.bytes, 0);
  const byLang: Record<string, { files: number; lines: number }> = {};
  for (const f of files) {
    const l = languageForPath(f.rel)!;
    byLang[l] ??= { files: 0, lines: 0 };
    byLang[l].files++;
    byLang[l].lines += f.lines;
  }
  line('source', versions.join(' + '));
  line('copied to', root);
  line('files', String(files.length));
  line('lines', lines.toLocaleString('en-US'));
  line('size', `${fmt(bytes / MB, 2)} MB`);
  line('by language', Object.entries(byLang).map(([l, v]) => `${l} ${v.files} files / ${v.lines.toLocaleString('en-US')} lines`).join(', '));
  line('largest file', `${fmt(Math.max(...files.map((f) => f.bytes)) / 1024, 0)} KiB`);
  results.corpus = { source: versions, files: files.length, lines, mb: round(bytes / MB, 2), byLanguage: byLang };
  return files;
}

// ---- 2. cold and warm index ----------------------------------------------------------

interface ColdResult {
  index: WorkspaceIndex;
  ms: number;
  peakRss: number;
  finalWriteMs: number;
}

async function coldIndex(root: string, corpus: CorpusFile[]): Promise<ColdResult> {
  section('2. Initial index (cold: fresh .crucible)');
  const lines = corpus.reduce((a, f) => a + f.lines, 0);
  const bytes = corpus.reduce((a, f) => a + f.bytes, 0);
  gc?.();
  const rssBefore = process.memoryUsage.rss();
  const heapBefore = process.memoryUsage().heapUsed;
  const sampler = rssSampler();
  const started = performance.now();
  const index = new WorkspaceIndex(root, { settings: { exclude: [], maxFileSizeBytes }, owner: 'bench' });
  await index.open();
  const opened = performance.now();
  // Time the final write separately: indexAll awaits flushNow at its end.
  let flushMs = 0;
  let storeFlushMs = 0;
  let vectorFlushMs = 0;
  const inner = index as unknown as { vectors: { flush: () => Promise<void> } };
  const origFlush = index.flushNow.bind(index);
  const origStoreFlush = index.store.flush.bind(index.store);
  index.store.flush = async () => {
    const t = performance.now();
    await origStoreFlush();
    storeFlushMs += performance.now() - t;
  };
  const vectors = inner.vectors;
  const origVectorFlush = vectors.flush.bind(vectors);
  vectors.flush = async () => {
    const t = performance.now();
    await origVectorFlush();
    vectorFlushMs += performance.now() - t;
  };
  index.flushNow = async () => {
    const t = performance.now();
    await origFlush();
    flushMs += performance.now() - t;
  };
  const summary = await index.indexAll();
  const ms = performance.now() - started;
  const peakRss = Math.max(sampler.stop(), process.resourceUsage().maxRSS * 1024);
  gc?.();
  const rssAfterGc = process.memoryUsage.rss();
  const mem = process.memoryUsage();
  const s = summary!;
  const secs = ms / 1000;
  line('open() (parsers + empty store)', `${fmt(opened - started, 0)} ms`);
  line('indexAll() incl. final write', `${fmt(ms - (opened - started), 0)} ms`);
  line('  of which final write', `${fmt(flushMs, 0)} ms (records ${fmt(storeFlushMs, 0)} ms, vectors ${fmt(vectorFlushMs, 0)} ms)`);
  line('total cold time', `${fmt(ms, 0)} ms   [target < ${targets.initialIndexMs} ms for ~100k lines: ${verdict(ms < targets.initialIndexMs)}]`);
  line('files / artifacts', `${s.files} / ${s.artifacts} (${Object.entries(s.byKind).map(([k, v]) => `${k} ${v}`).join(', ')})`);
  line('files with parse errors / skipped', `${s.parseErrors} / ${s.skipped}`);
  line('throughput', `${fmt(s.files / secs, 0)} files/s, ${fmt(bytes / MB / secs, 2)} MB/s, ${fmt(s.artifacts / secs, 0)} artifacts/s, ${fmt(lines / secs, 0)} lines/s`);
  line('work counters', `filesRead ${index.stats.filesRead}, filesExtracted ${index.stats.filesExtracted}, artifactsEmbedded ${index.stats.artifactsEmbedded}`);
  section('2a. Memory during the cold index (item 6)');
  line('RSS before', `${mb(rssBefore)} MB`);
  line('peak RSS during cold index', `${mb(peakRss)} MB   [target < ${targets.rssMB} MB (server RSS on this corpus): ${verdict(peakRss < targets.rssMB * MB)}]`);
  line('RSS after index + gc()', `${mb(rssAfterGc)} MB`);
  line('heap used after index + gc()', `${mb(mem.heapUsed)} MB (before index ${mb(heapBefore)} MB; external ${mb(mem.external)} MB, arrayBuffers ${mb(mem.arrayBuffers)} MB)`);
  const storeFiles = (await listFiles(path.join(root, '.crucible'))).length;
  const storeSize = await dirSize(path.join(root, '.crucible'));
  line('.crucible on disk', `${fmt(storeSize / MB, 1)} MB in ${storeFiles} files`);
  results.cold = {
    ms: round(ms, 0),
    openMs: round(opened - started, 0),
    finalWriteMs: round(flushMs, 0),
    recordWriteMs: round(storeFlushMs, 0),
    vectorWriteMs: round(vectorFlushMs, 0),
    files: s.files,
    artifacts: s.artifacts,
    byKind: s.byKind,
    parseErrorFiles: s.parseErrors,
    filesPerSec: round(s.files / secs, 0),
    mbPerSec: round(bytes / MB / secs, 2),
    artifactsPerSec: round(s.artifacts / secs, 0),
    linesPerSec: round(lines / secs, 0),
    storeMB: round(storeSize / MB, 1),
  };
  results.memory = {
    rssBeforeMB: mb(rssBefore),
    peakRssMB: mb(peakRss),
    rssAfterGcMB: mb(rssAfterGc),
    heapUsedAfterGcMB: mb(mem.heapUsed),
    heapUsedBeforeMB: mb(heapBefore),
    externalMB: mb(mem.external),
  };
  // Leave the instance as the engine wrote it.
  index.flushNow = origFlush;
  index.store.flush = origStoreFlush;
  vectors.flush = origVectorFlush;
  return { index, ms, peakRss, finalWriteMs: flushMs };
}

async function dirSize(dir: string): Promise<number> {
  let total = 0;
  for (const f of await listFiles(dir)) total += (await fs.stat(f)).size;
  return total;
}

async function warmIndex(root: string, index: WorkspaceIndex): Promise<void> {
  section('2b. Warm re-runs (nothing changed)');
  const before = { ...index.stats };
  let t = performance.now();
  await index.indexAll();
  const sameMs = performance.now() - t;
  line('2nd indexAll, same instance', `${fmt(sameMs, 0)} ms, filesExtracted ${index.stats.filesExtracted - before.filesExtracted}, artifactsEmbedded ${index.stats.artifactsEmbedded - before.artifactsEmbedded}`);
  t = performance.now();
  const fresh = new WorkspaceIndex(root, { settings: { exclude: [], maxFileSizeBytes }, owner: 'bench' });
  await fresh.open();
  const openMs = performance.now() - t;
  const t2 = performance.now();
  const summary = await fresh.indexAll();
  const freshIndexMs = performance.now() - t2;
  line('fresh instance: open() existing', `${fmt(openMs, 0)} ms (loads ${summary?.files} file records, ${summary?.artifacts} artifacts + vectors)`);
  line('fresh instance: indexAll()', `${fmt(freshIndexMs, 0)} ms, filesExtracted ${fresh.stats.filesExtracted}, artifactsEmbedded ${fresh.stats.artifactsEmbedded}`);
  results.warm = {
    sameInstanceMs: round(sameMs, 0),
    sameInstanceFilesExtracted: index.stats.filesExtracted - before.filesExtracted,
    freshOpenMs: round(openMs, 0),
    freshIndexAllMs: round(freshIndexMs, 0),
    freshFilesExtracted: fresh.stats.filesExtracted,
    freshArtifacts: summary?.artifacts,
  };
  await fresh.close();
}

// ---- 3. ctags ------------------------------------------------------------------------

async function ctagsComparison(root: string, corpus: CorpusFile[], index: WorkspaceIndex, coldMs: number, parseMs: number): Promise<void> {
  section('3. Universal Ctags comparison');
  let version = '';
  try {
    version = (await run('ctags', ['--version'])).stdout.split('\n')[0];
  } catch {
    // not installed
  }
  if (!/Universal Ctags/.test(version)) {
    line('ctags', `Universal Ctags not found (${version || 'no ctags on PATH'}); skipped`);
    results.ctags = { skipped: true };
    return;
  }
  const bytes = corpus.reduce((a, f) => a + f.bytes, 0);
  // Function-like and class kinds: JS f=function c=class m=method g=generator G=getter S=setter;
  // TS f=function c=class m=method G=generator.
  const argv = ['-R', '--languages=JavaScript,TypeScript', '--kinds-JavaScript=fcmgGS', '--kinds-TypeScript=fcmG', '--fields=+Kl', '--excmd=number', '--exclude=.crucible', '-f', '-', '.'];
  const cwd = process.cwd();
  process.chdir(root);
  const runs: number[] = [];
  let out = '';
  try {
    for (let i = 0; i < 3; i++) {
      const r = await run('ctags', argv);
      runs.push(r.ms);
      out = r.stdout;
    }
  } finally {
    process.chdir(cwd);
  }
  const ms = [...runs].sort((a, b) => a - b)[1];
  const ctagsCounts: Record<string, number> = {};
  const ctagsAt = new Set<string>();
  const ctagsTags: { file: string; line: number; name: string; kind: string }[] = [];
  for (const l of out.split('\n')) {
    if (!l || l.startsWith('!_')) continue;
    const [head, fields] = l.split(';"\t');
    if (!fields) continue;
    const [name, file, lineNo] = head.split('\t');
    const kind = fields.split('\t')[0];
    ctagsCounts[kind] = (ctagsCounts[kind] ?? 0) + 1;
    const rel = file.replace(/^\.\//, '');
    ctagsAt.add(`${rel}:${lineNo}`);
    ctagsTags.push({ file: rel, line: Number(lineNo), name, kind });
  }
  const total = Object.values(ctagsCounts).reduce((a, b) => a + b, 0);
  const crucible = index.artifacts({ kinds: ['function', 'method', 'class'] });
  const crucibleCounts: Record<string, number> = {};
  for (const a of crucible) crucibleCounts[a.kind] = (crucibleCounts[a.kind] ?? 0) + 1;
  // Which definitions one finds and the other does not, matched on file + line of the name.
  const crucibleAt = new Set(crucible.map((a) => `${a.file}:${a.selectionRange.start.line + 1}`));
  const missedByCtags = crucible.filter((a) => !ctagsAt.has(`${a.file}:${a.selectionRange.start.line + 1}`) && !ctagsAt.has(`${a.file}:${a.range.start.line + 1}`));
  const missedByCrucible = ctagsTags.filter((t) => !crucibleAt.has(`${t.file}:${t.line}`) && !crucible.some((a) => a.file === t.file && a.range.start.line + 1 === t.line));
  const ctagsMBps = bytes / MB / (ms / 1000);
  const crucibleMBps = bytes / MB / (coldMs / 1000);
  const ratio = crucibleMBps / ctagsMBps;
  line('version', version);
  line('command', `ctags ${argv.join(' ')}`);
  line('wall time (median of 3)', `${fmt(ms, 0)} ms (runs: ${runs.map((r) => fmt(r, 0)).join(', ')} ms)`);
  line('ctags throughput', `${fmt(ctagsMBps, 2)} MB/s, ${fmt(corpus.length / (ms / 1000), 0)} files/s`);
  line('Crucible cold throughput', `${fmt(crucibleMBps, 2)} MB/s`);
  line('ratio Crucible / ctags', `${fmt(ratio, 2)}x   [target >= ${targets.ctagsRatio}x: ${verdict(ratio >= targets.ctagsRatio)}]`);
  const parseRatio = bytes / MB / (parseMs / 1000) / ctagsMBps;
  line('tree-sitter parse alone / ctags', `${fmt(parseRatio, 2)}x (ceiling for any design that parses every file with web-tree-sitter on one core)`);
  line('ctags tags (function-like+class)', `${total} (${Object.entries(ctagsCounts).map(([k, v]) => `${k} ${v}`).join(', ')})`);
  line('Crucible function+method+class', `${crucible.length} (${Object.entries(crucibleCounts).map(([k, v]) => `${k} ${v}`).join(', ')})`);
  line('Crucible defs ctags lacks', `${missedByCtags.length}, e.g.`);
  for (const a of sample(missedByCtags, 6)) console.log(`      ${a.kind.padEnd(8)} ${a.qualifiedName}  (${a.file}:${a.selectionRange.start.line + 1})`);
  const methodsByFile = (files: string[]) => files.reduce((m, f) => m.set(f, (m.get(f) ?? 0) + 1), new Map<string, number>());
  const ctagsMethods = methodsByFile(ctagsTags.filter((t) => t.kind === 'method').map((t) => t.file));
  const crucibleMethods = methodsByFile(crucible.filter((a) => a.kind === 'method').map((a) => a.file));
  const noMethods = [...crucibleMethods.keys()].filter((f) => !ctagsMethods.has(f));
  line('files where ctags finds no method', `${noMethods.length} (Crucible finds ${noMethods.reduce((a, f) => a + crucibleMethods.get(f)!, 0)} methods there), e.g. ${noMethods.slice(0, 4).join(', ')}`);
  line('ctags tags Crucible lacks', `${missedByCrucible.length}:`);
  const categories = new Map<string, { kind: string; name: string; file: string; line: number }[]>();
  for (const t of missedByCrucible) {
    const text = (corpus.find((f) => f.rel === t.file)?.text.split('\n')[t.line - 1] ?? '').trim();
    const c = classifyCtagsOnly(t.name, text);
    if (!categories.has(c)) categories.set(c, []);
    categories.get(c)!.push(t);
  }
  for (const [c, tags] of [...categories].sort((a, b) => b[1].length - a[1].length)) {
    const t = tags[0];
    console.log(`      ${String(tags.length).padStart(4)}  ${c.padEnd(52)} e.g. ${t.kind} ${t.name} (${t.file}:${t.line})`);
  }
  results.ctags = {
    version,
    ms: round(ms, 0),
    mbPerSec: round(ctagsMBps, 2),
    crucibleMbPerSec: round(crucibleMBps, 2),
    ratio: round(ratio, 2),
    ctagsTags: ctagsCounts,
    crucibleDefs: crucibleCounts,
    crucibleDefsCtagsLacks: missedByCtags.length,
    ctagsTagsCrucibleLacks: missedByCrucible.length,
  };
}

/** Why ctags has a tag that Crucible has not, judged from the tag's source line. */
function classifyCtagsOnly(name: string, text: string): string {
  if (name.startsWith('AnonymousFunction')) return 'anonymous callback (ctags names it)';
  if (/^this\.[\w$]+\s*=\s*(async\s+)?(function\b|\(|[\w$]+\s*=>)/.test(text)) return '`this.x = function` in a constructor (Crucible misses)';
  if (/^(export\s+)?(declare\s+)?function\b[^{]*$/.test(text)) return 'TS overload signature, maybe multi-line (no body)';
  if (/^(readonly\s+)?(new\s*)?[\w$]*\??\s*(<[^>]*>)?\(.*\)\s*(:[^{]*)?;$/.test(text)) return 'TS interface / abstract member signature (no body)';
  if (/function\b|=>/.test(text)) return 'function value in another position';
  return 'not a function or class (ctags mislabel)';
}

/** Evenly spaced picks, so examples come from across the corpus. */
function sample<T>(items: T[], n: number): T[] {
  if (items.length <= n) return items;
  return Array.from({ length: n }, (_, i) => items[Math.floor((i * items.length) / n)]);
}

// ---- 4. single-file re-index ---------------------------------------------------------

async function singleFileReindex(index: WorkspaceIndex, corpus: CorpusFile[]): Promise<void> {
  section('4. Single-file re-index (updateFile with editor text)');
  // A real file near 1,000 lines with plenty of functions to edit.
  const candidates = corpus
    .map((f) => ({ f, defs: (index.fileRecord(f.rel)?.artifacts ?? []).filter((a) => a.kind === 'method' || a.kind === 'function') }))
    .filter((c) => c.defs.length >= 20);
  candidates.sort((a, b) => Math.abs(a.f.lines - 1000) - Math.abs(b.f.lines - 1000));
  const { f, defs } = candidates[0];
  // Edit the body of the function in the middle of the file: text before its closing brace.
  const target = defs.filter((a) => a.range.end.line > a.range.start.line)[Math.floor(defs.length / 2)];
  const lines = f.text.split('\n');
  const endLine = lines[target.range.end.line];
  const closeAt = target.range.end.character - 1;
  if (endLine[closeAt] !== '}') throw new Error(`unexpected end of ${target.id}: ${JSON.stringify(endLine)}`);
  const variant = (v: number) => {
    const copy = [...lines];
    copy[target.range.end.line] = `${endLine.slice(0, closeAt)}\tvoid ${v};${endLine.slice(closeAt)}`;
    return copy.join('\n');
  };
  const variants = [variant(0), variant(1)];
  line('file', `${f.rel} (${f.lines} lines, ${fmt(f.bytes / 1024, 1)} KiB, ${index.fileRecord(f.rel)?.artifacts.length} artifacts)`);
  line('edited', `${target.qualifiedName} (lines ${target.range.start.line + 1}-${target.range.end.line + 1})`);
  const before = index.stats.filesExtracted;
  const embeddedBefore = index.stats.artifactsEmbedded;
  // Warm-up (JIT, and the file's first edit, which parses it from scratch) outside the measurement.
  for (let i = 0; i < 5; i++) await index.updateFile(f.rel, variants[i % 2]);
  const times: number[] = [];
  for (let i = 0; i < 200; i++) {
    const t = performance.now();
    await index.updateFile(f.rel, variants[i % 2]);
    times.push(performance.now() - t);
  }
  const extracted = index.stats.filesExtracted - before;
  const embedded = index.stats.artifactsEmbedded - embeddedBefore;
  const s = summarize(times);
  line('200 edits: p50 / p95 / max', `${fmt(s.p50, 2)} / ${fmt(s.p95, 2)} / ${fmt(s.max, 2)} ms   [target p95 < ${targets.reindexP95Ms} ms: ${verdict(s.p95 < targets.reindexP95Ms)}]`);
  line('files extracted (incl. 5 warm-up)', `${extracted}, artifacts embedded ${embedded} (only the edited one is)`);
  // Harder edits: a line added at the top moves every artifact below it; a new
  // function at the top adds an artifact and shifts the rest.
  const topVariants = [`// edit 0\n${f.text}`, `// edit 1\n\n${f.text}`];
  for (let i = 0; i < 5; i++) await index.updateFile(f.rel, topVariants[i % 2]);
  const topTimes: number[] = [];
  for (let i = 0; i < 100; i++) {
    const t = performance.now();
    await index.updateFile(f.rel, topVariants[i % 2]);
    topTimes.push(performance.now() - t);
  }
  const top = summarize(topTimes);
  line('100 edits at line 1: p50 / p95', `${fmt(top.p50, 2)} / ${fmt(top.p95, 2)} ms (every artifact moves)`);
  // A file just opened: the server primes its tree off the typing path, then the first edit is incremental.
  const fresh = new WorkspaceIndex(index.root, { settings: { exclude: [], maxFileSizeBytes }, owner: 'bench (open)' });
  await fresh.open();
  const primeTimes: number[] = [];
  const firstTimes: number[] = [];
  for (let i = 0; i < 30; i++) {
    await fresh.updateFile(f.rel, variants[i % 2]);
    fresh.releaseEditorState(f.rel);
    let t = performance.now();
    fresh.primeEditorState(f.rel, variants[i % 2]);
    primeTimes.push(performance.now() - t);
    t = performance.now();
    await fresh.updateFile(f.rel, variants[(i + 1) % 2]);
    firstTimes.push(performance.now() - t);
  }
  await fresh.close();
  const prime = summarize(primeTimes);
  const first = summarize(firstTimes);
  line('on open: priming (not on typing path)', `p50 ${fmt(prime.p50, 2)} ms, p95 ${fmt(prime.p95, 2)} ms (full parse + walk; 30 samples)`);
  line('first edit after open: p50 / p95', `${fmt(first.p50, 2)} / ${fmt(first.p95, 2)} ms`);
  // The same steps outside updateFile, to show where an edit's time goes.
  const parsers = await loadParsers();
  const language = languageForPath(f.rel)!;
  const steps = { parse: [] as number[], extract: [] as number[], embed: [] as number[] };
  for (let i = 0; i < 50; i++) {
    const text = variants[i % 2];
    let t = performance.now();
    parsers.parserFor(language).parse(text)?.delete();
    steps.parse.push(performance.now() - t);
    t = performance.now();
    const ex = extractFile(parsers, f.rel, language, text);
    steps.extract.push(performance.now() - t);
    t = performance.now();
    for (const input of ex.embedInputs) localEmbed(input);
    steps.embed.push(performance.now() - t);
  }
  const parseP50 = summarize(steps.parse).p50;
  const extractP50 = summarize(steps.extract).p50;
  const embedP50 = summarize(steps.embed).p50;
  line('steps alone (p50 of 50)', `parse ${fmt(parseP50, 2)} ms + walk ${fmt(extractP50 - parseP50, 2)} ms (extractFile ${fmt(extractP50, 2)}) + localEmbed ${fmt(embedP50, 2)} ms`);
  // The debounced write that follows an edit (one record shard + one vector shard).
  const flushes: number[] = [];
  for (let i = 0; i < 5; i++) {
    await index.updateFile(f.rel, variants[i % 2]);
    const t = performance.now();
    await index.flushNow();
    flushes.push(performance.now() - t);
  }
  const fl = summarize(flushes);
  line('write after an edit (debounced)', `p50 ${fmt(fl.p50, 1)} ms, max ${fmt(fl.max, 1)} ms (5 samples; off the edit path, 500 ms later)`);
  await index.updateFile(f.rel, f.text);
  await index.flushNow();
  results.reindex = { file: f.rel, lines: f.lines, ...s, topEditP50: top.p50, topEditP95: top.p95, primeP50: prime.p50, primeP95: prime.p95, firstEditP50: first.p50, firstEditP95: first.p95, filesExtracted: extracted, artifactsEmbedded: embedded, parseP50Ms: parseP50, extractFileP50Ms: extractP50, embedP50Ms: embedP50, flushAfterEditP50Ms: fl.p50, flushAfterEditMaxMs: fl.max };
}

// ---- 5. similarity --------------------------------------------------------------------

interface Phases {
  parseMs: number;
  extractMs: number;
  embedMs: number;
  inputs: { file: string; input: EmbedInput }[];
}

/** Where the cold time goes: the same corpus through the engine's steps one at a time (outside WorkspaceIndex). */
async function phases(corpus: CorpusFile[], coldMs: number, finalWriteMs: number): Promise<Phases> {
  section('2c. Where the cold time goes (engine steps re-run one by one, in memory)');
  const parsers = await loadParsers();
  const inputs: { file: string; input: EmbedInput }[] = [];
  let parseMs = 0;
  let extractMs = 0;
  let embedMs = 0;
  for (const f of corpus) {
    const language = languageForPath(f.rel)!;
    let t = performance.now();
    const tree = parsers.parserFor(language).parse(f.text);
    parseMs += performance.now() - t;
    tree?.delete();
    t = performance.now();
    const ex = extractFile(parsers, f.rel, language, f.text);
    extractMs += performance.now() - t;
    t = performance.now();
    for (const input of ex.embedInputs) localEmbed(input);
    embedMs += performance.now() - t;
    for (const input of ex.embedInputs) inputs.push({ file: f.rel, input });
  }
  const bytes = corpus.reduce((a, f) => a + f.bytes, 0);
  const walkMs = extractMs - parseMs;
  // Shares of these four steps: measured in a warm process, so they need not add up to the cold time.
  const stepsMs = extractMs + embedMs + finalWriteMs;
  const share = (x: number) => `${fmt((100 * x) / stepsMs, 0)}% of the steps`;
  line('tree-sitter parse (WASM)', `${fmt(parseMs, 0)} ms (${fmt(bytes / MB / (parseMs / 1000), 2)} MB/s; ${share(parseMs)})`);
  line('cursor walk (extractFile - parse)', `${fmt(walkMs, 0)} ms (${share(walkMs)})`);
  line('localEmbed', `${fmt(embedMs, 0)} ms for ${inputs.length} artifacts (${share(embedMs)})`);
  line('final write (.crucible)', `${fmt(finalWriteMs, 0)} ms (${share(finalWriteMs)})`);
  line('sum of the steps (warm) vs cold', `${fmt(stepsMs, 0)} ms vs ${fmt(coldMs, 0)} ms (cold adds JIT warm-up, GC, folder walk, reads)`);
  results.phases = { parseMs: round(parseMs, 0), parseMbPerSec: round(bytes / MB / (parseMs / 1000), 2), walkMs: round(walkMs, 0), embedMs: round(embedMs, 0), finalWriteMs: round(finalWriteMs, 0), artifacts: inputs.length };
  return { parseMs, extractMs, embedMs, inputs };
}

async function similarity(index: WorkspaceIndex, inputs: { file: string; input: EmbedInput }[]): Promise<void> {
  section('5. Similarity query');
  const n = 50_000;
  const dims = 256;
  const store = new VectorStore(path.join(os.tmpdir(), 'crucible-bench-unused'), 'bench-local', dims);
  // The same vectors on the scalar JS loop: what the store falls back to without WebAssembly SIMD.
  const jsStore = new VectorStore(path.join(os.tmpdir(), 'crucible-bench-unused'), 'bench-local', dims, { simd: false });
  const rand = rng(42);
  const perturb = (input: EmbedInput, copy: number): EmbedInput => {
    if (copy === 0) return input;
    const identifiers = input.identifiers.filter(() => rand() > 0.2);
    // Borrow a few identifiers from another artifact, as a near-copy with edits would.
    const other = inputs[Math.floor(rand() * inputs.length)].input.identifiers;
    for (let i = 0; i < 3 && other.length > 0; i++) identifiers.push(other[Math.floor(rand() * other.length)]);
    return { ...input, name: `${input.name}${copy}`, identifiers };
  };
  let t = performance.now();
  let count = 0;
  let embedOnlyMs = 0;
  for (let copy = 0; count < n; copy++) {
    const byFile = new Map<string, { id: string; vector: Float32Array }[]>();
    for (let i = 0; i < inputs.length && count < n; i++, count++) {
      const { file, input } = inputs[i];
      const fake = copy === 0 ? file : `copy${copy}/${file}`;
      const te = performance.now();
      const vector = localEmbed(perturb(input, copy), dims);
      embedOnlyMs += performance.now() - te;
      let list = byFile.get(fake);
      if (!list) byFile.set(fake, (list = []));
      list.push({ id: `${fake}#${input.name}~${list.length}`, vector });
    }
    for (const [file, items] of byFile) {
      store.setFile(file, items);
      jsStore.setFile(file, items);
    }
  }
  const buildMs = performance.now() - t;
  line('VectorStore built', `${store.size} vectors x ${dims} dims from ${inputs.length} real artifacts (perturbed copies), ${fmt(buildMs, 0)} ms (embedding ${fmt(embedOnlyMs, 0)} ms)`);
  const qrand = rng(7);
  const queryVectors: Float32Array[] = [];
  for (let i = 0; i < 200; i++) {
    const { file, input } = inputs[Math.floor(qrand() * inputs.length)];
    queryVectors.push(localEmbed({ ...input, name: input.name + file.length }, dims));
  }
  const timeQueries = (s: VectorStore): ReturnType<typeof summarize> => {
    for (let i = 0; i < 10; i++) s.query(queryVectors[i], 10); // warm-up
    const qt: number[] = [];
    for (const v of queryVectors) {
      t = performance.now();
      s.query(v, 10);
      qt.push(performance.now() - t);
    }
    return summarize(qt);
  };
  const q = timeQueries(store);
  line(`VectorStore.query(vec, 10) x200`, `p50 ${fmt(q.p50, 2)} ms, p95 ${fmt(q.p95, 2)} ms, max ${fmt(q.max, 2)} ms (${store.kernel})   [target p95 < ${targets.similarP95Ms} ms at 50k: ${verdict(q.p95 < targets.similarP95Ms)}]`);
  const qjs = timeQueries(jsStore);
  line('  same, JS fallback loop', `p50 ${fmt(qjs.p50, 2)} ms, p95 ${fmt(qjs.p95, 2)} ms, max ${fmt(qjs.max, 2)} ms`);

  // The engine's own entry point on the real index.
  const all: ArtifactRecord[] = index.artifacts();
  const srand = rng(11);
  const ids = Array.from({ length: 200 }, () => all[Math.floor(srand() * all.length)].id);
  for (let i = 0; i < 10; i++) index.similar(ids[i], 10);
  const st: number[] = [];
  let hits = 0;
  for (const id of ids) {
    t = performance.now();
    hits += index.similar(id, 10).length;
    st.push(performance.now() - t);
  }
  const s = summarize(st);
  line(`WorkspaceIndex.similar(id,10) x200`, `p50 ${fmt(s.p50, 2)} ms, p95 ${fmt(s.p95, 2)} ms on the real index (${all.length} artifacts; ${fmt(hits / 200, 1)} results each)`);
  results.similarity = { vectors: store.size, buildMs: round(buildMs, 0), kernel: store.kernel, queryP50: q.p50, queryP95: q.p95, queryMax: q.max, jsQueryP50: qjs.p50, jsQueryP95: qjs.p95, jsQueryMax: qjs.max, realArtifacts: all.length, similarP50: s.p50, similarP95: s.p95 };
}

// ---- 6b. the bundled engine in its own process ------------------------------------------

/** `dist/cli.js index` on the same corpus with a fresh store: the RSS of an engine process without tsx or this benchmark. */
async function bundledCli(root: string): Promise<void> {
  section('6. Bundled engine in its own process (node dist/cli.js index, fresh .crucible)');
  const cli = path.join(repoRoot, 'dist', 'cli.js');
  try {
    await fs.access(cli);
  } catch {
    line('dist/cli.js', 'missing (run npm run build:fast); skipped');
    return;
  }
  rmSync(path.join(root, '.crucible'), { recursive: true, force: true });
  let r: { stdout: string; stderr: string; ms: number };
  try {
    // The table, not --json: the CLI calls process.exit() right after writing, which cuts a large piped --json short.
    r = await run(process.execPath, ['--require', path.join(__dirname, 'max-rss.cjs'), cli, 'index', root]);
  } catch (err) {
    line('dist/cli.js', `failed: ${(err as Error).message.split('\n')[0]}`);
    return;
  }
  const usage = JSON.parse(/CRUCIBLE_BENCH_USAGE (.*)/.exec(r.stderr)?.[1] ?? '{}') as { maxRssMB?: number; heapUsedMB?: number };
  const cell = (label: string) => Number(new RegExp(`${label}\\s*\\S\\s*(\\d+)`).exec(r.stdout)?.[1] ?? NaN);
  const out = { files: cell('files indexed'), artifacts: cell('artifacts'), ms: cell('time') };
  line('process wall time', `${fmt(r.ms, 0)} ms (indexAll ${out.ms} ms; ${out.files} files, ${out.artifacts} artifacts)`);
  line('peak RSS (kernel maxRSS)', `${fmt(usage.maxRssMB ?? NaN, 1)} MB   [target < ${targets.rssMB} MB: ${verdict((usage.maxRssMB ?? Infinity) < targets.rssMB)}]`);
  line('heap used at exit', `${fmt(usage.heapUsedMB ?? NaN, 1)} MB`);
  results.bundledCli = { wallMs: round(r.ms, 0), indexAllMs: out.ms, files: out.files, artifacts: out.artifacts, maxRssMB: usage.maxRssMB, heapUsedAtExitMB: usage.heapUsedMB };
}

// ---- main ------------------------------------------------------------------------------

async function main(): Promise<void> {
  const benchStart = performance.now();
  console.log(`Crucible indexing benchmark — Node ${process.version}, ${os.cpus().length} cores (${os.cpus()[0]?.model ?? '?'}), ${fmt(os.totalmem() / 1024 ** 3, 0)} GiB${gc ? '' : ' (run with --expose-gc for the after-gc numbers)'}`);
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'crucible-bench-'));
  const root = path.join(tmp, 'corpus');
  try {
    const corpus = await prepareCorpus(root);
    const cold = await coldIndex(root, corpus);
    if (onlyQuery) {
      const ph = await phases(corpus, cold.ms, cold.finalWriteMs);
      await similarity(cold.index, ph.inputs);
    } else if (onlyReindex) {
      await singleFileReindex(cold.index, corpus);
    } else if (!onlyCold) {
      await warmIndex(root, cold.index);
      const ph = await phases(corpus, cold.ms, cold.finalWriteMs);
      await ctagsComparison(root, corpus, cold.index, cold.ms, ph.parseMs);
      await singleFileReindex(cold.index, corpus);
      await similarity(cold.index, ph.inputs);
    }
    await cold.index.close();
    if (!onlyCold && !onlyQuery && !onlyReindex) await bundledCli(root);
    const totalS = (performance.now() - benchStart) / 1000;
    section('Targets');
    const r = results as {
      cold: { ms: number };
      ctags?: { ratio?: number; skipped?: boolean };
      reindex?: { p95: number };
      similarity?: { queryP95: number };
      memory: { peakRssMB: number };
      bundledCli?: { maxRssMB?: number };
    };
    const rows: [string, string, string, boolean | undefined][] = [
      ['initial index (cold)', `< ${targets.initialIndexMs} ms`, `${fmt(r.cold.ms, 0)} ms`, r.cold.ms < targets.initialIndexMs],
      ['throughput vs ctags', `>= ${targets.ctagsRatio}x`, r.ctags?.ratio !== undefined ? `${fmt(r.ctags.ratio, 2)}x` : 'n/a', r.ctags?.ratio !== undefined ? r.ctags.ratio >= targets.ctagsRatio : undefined],
      ['single-file re-index p95', `< ${targets.reindexP95Ms} ms`, r.reindex ? `${fmt(r.reindex.p95, 2)} ms` : 'n/a', r.reindex ? r.reindex.p95 < targets.reindexP95Ms : undefined],
      ['similar p95 at 50k', `< ${targets.similarP95Ms} ms`, r.similarity ? `${fmt(r.similarity.queryP95, 2)} ms` : 'n/a', r.similarity ? r.similarity.queryP95 < targets.similarP95Ms : undefined],
      ['peak RSS, bench process', `< ${targets.rssMB} MB`, `${fmt(r.memory.peakRssMB, 1)} MB`, r.memory.peakRssMB < targets.rssMB],
      ['peak RSS, bundled CLI', `< ${targets.rssMB} MB`, r.bundledCli?.maxRssMB !== undefined ? `${fmt(r.bundledCli.maxRssMB, 1)} MB` : 'n/a', r.bundledCli?.maxRssMB !== undefined ? r.bundledCli.maxRssMB < targets.rssMB : undefined],
    ];
    for (const [what, target, got, ok] of rows) console.log(`  ${what.padEnd(28)} target ${target.padEnd(10)} got ${got.padEnd(12)} ${ok === undefined ? 'not measured' : verdict(ok)}`);
    console.log(`  (bench took ${fmt(totalS, 1)} s; the bench-process RSS includes tsx and the corpus text held by the benchmark)`);
    results.targets = Object.fromEntries(rows.map(([what, target, got, ok]) => [what, { target, got, met: ok ?? null }]));
    results.benchSeconds = round(totalS, 1);
    results.node = process.version;
    results.cores = os.cpus().length;
    console.log(JSON.stringify({ bench: 'index', ...results }));
  } finally {
    if (keep) console.error(`kept ${tmp}`);
    else rmSync(tmp, { recursive: true, force: true });
  }
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
