/**
 * Finds the files of a workspace folder worth indexing, and reads them safely.
 * Honours nested .gitignore files (the `ignore` package implements git's rules),
 * `crucible.exclude` globs (picomatch) and a size limit. Never follows a symlink
 * into a directory it has already seen, so symlink loops end.
 */
import { createHash } from 'node:crypto';
import { promises as fs, readFileSync } from 'node:fs';
import * as path from 'node:path';
import ignore, { type Ignore } from 'ignore';
import picomatch from 'picomatch';
import { languageForPath } from './languages';

export const storeDirName = '.crucible';

export interface WalkOptions {
  exclude: string[];
  maxFileSizeBytes: number;
  /** Checked between directories; a removed folder or a new reindex cancels the walk. */
  isCancelled?: () => boolean;
  /** The rules to apply (the index passes its own, so walk and single-file updates share one cache). */
  filter?: PathFilter;
}

export interface Candidate {
  /** Folder-relative, forward slashes. */
  rel: string;
  abs: string;
  size: number;
}

export interface SkippedFile {
  file: string;
  reason: string;
}

export interface WalkResult {
  files: Candidate[];
  skipped: SkippedFile[];
}

/** Directories never worth descending into, whatever .gitignore says. */
const alwaysSkippedDirs = new Set(['.git', '.hg', '.svn', storeDirName]);

export function toRel(root: string, abs: string): string {
  return path.relative(root, abs).split(path.sep).join('/');
}

export function makeExcludeMatcher(exclude: string[]): (rel: string) => boolean {
  if (exclude.length === 0) return () => false;
  const m = picomatch(exclude, { dot: true });
  return (rel) => m(rel);
}

export async function walkFolder(root: string, options: WalkOptions): Promise<WalkResult> {
  const files: Candidate[] = [];
  const skipped: SkippedFile[] = [];
  const filter = options.filter ?? new PathFilter(root, options.exclude);
  const seenDirs = new Set<string>();

  async function visit(dir: string): Promise<void> {
    if (options.isCancelled?.()) return;
    let real: string;
    try {
      real = await fs.realpath(dir);
    } catch {
      return; // removed while walking
    }
    if (seenDirs.has(real)) {
      skipped.push({ file: toRel(root, dir) || '.', reason: 'symlink loop (directory already visited)' });
      return;
    }
    seenDirs.add(real);
    let entries: import('node:fs').Dirent[];
    try {
      entries = await fs.readdir(dir, { withFileTypes: true });
    } catch (err) {
      skipped.push({ file: toRel(root, dir) || '.', reason: `unreadable directory (${(err as NodeJS.ErrnoException).code ?? err})` });
      return;
    }
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const entry of entries) {
      const abs = path.join(dir, entry.name);
      const rel = toRel(root, abs);
      let isDir = entry.isDirectory();
      let isFile = entry.isFile();
      if (entry.isSymbolicLink()) {
        try {
          const st = await fs.stat(abs);
          isDir = st.isDirectory();
          isFile = st.isFile();
        } catch {
          continue; // dangling link
        }
      }
      if (!isDir && !(isFile && languageForPath(entry.name))) continue; // cheap test first
      if (!filter.accepts(rel, isDir)) continue;
      if (isDir) {
        await visit(abs);
        continue;
      }
      let size: number;
      try {
        size = (await fs.stat(abs)).size;
      } catch {
        continue; // deleted mid-walk
      }
      if (size > options.maxFileSizeBytes) {
        skipped.push({ file: rel, reason: `larger than ${formatBytes(options.maxFileSizeBytes)} (${formatBytes(size)}; see crucible.maxFileSizeBytes)` });
        continue;
      }
      files.push({ rel, abs, size });
    }
  }

  await visit(root);
  return { files, skipped };
}

export function formatBytes(n: number): string {
  if (n >= 1024 * 1024) return `${(n / 1024 / 1024).toFixed(1)} MiB`;
  if (n >= 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${n} B`;
}

export type ReadResult = { ok: true; text: string; contentHash: string } | { ok: false; reason: string; vanished?: boolean };

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Reads a source file; binary and non-UTF-8 files are refused with a reason, never thrown. */
export async function readSource(abs: string, maxBytes: number): Promise<ReadResult> {
  let bytes: Buffer;
  try {
    bytes = await fs.readFile(abs);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return { ok: false, reason: 'deleted while indexing', vanished: true };
    return { ok: false, reason: `unreadable (${code ?? err})` };
  }
  return decodeSource(bytes, maxBytes);
}

export function decodeSource(bytes: Uint8Array, maxBytes: number): ReadResult {
  if (bytes.length > maxBytes) return { ok: false, reason: `larger than ${formatBytes(maxBytes)} (${formatBytes(bytes.length)}; see crucible.maxFileSizeBytes)` };
  const head = bytes.subarray(0, 8000);
  if (head.includes(0)) return { ok: false, reason: 'binary file (contains NUL bytes)' };
  let text: string;
  try {
    text = utf8.decode(bytes);
  } catch {
    return { ok: false, reason: 'not valid UTF-8 (Crucible indexes UTF-8 source; re-save the file as UTF-8 to index it)' };
  }
  return { ok: true, text, contentHash: hashText(text) };
}

export function hashText(text: string): string {
  return createHash('sha256').update(text).digest('hex').slice(0, 16);
}

/**
 * What to leave out of the index, for the walk and for single-file updates alike:
 * `.git`/`.crucible`, `crucible.exclude` on the path and its folders, and every
 * `.gitignore` from the root down (git's rules, via `ignore`). `.gitignore` files
 * are read once and cached until `clear()`.
 */
export class PathFilter {
  private readonly gitignores = new Map<string, Ignore | null>();
  private isExcluded: (rel: string) => boolean;

  constructor(
    private readonly root: string,
    exclude: string[],
  ) {
    this.isExcluded = makeExcludeMatcher(exclude);
  }

  setExclude(exclude: string[]): void {
    this.isExcluded = makeExcludeMatcher(exclude);
  }

  /** Forget cached `.gitignore` rules (one changed). */
  clear(): void {
    this.gitignores.clear();
  }

  /** `rel` is folder-relative with forward slashes; `isDir` when it names a directory. */
  accepts(rel: string, isDir = false): boolean {
    const parts = rel.split('/');
    const dirCount = isDir ? parts.length : parts.length - 1;
    for (let i = 0; i < dirCount; i++) if (alwaysSkippedDirs.has(parts[i])) return false;
    if (!isDir && this.isExcluded(rel)) return false;
    for (let i = 1; i <= dirCount; i++) {
      const dir = parts.slice(0, i).join('/');
      // `dir/x` too, so `src/gen/**` excludes the folder itself, not only its contents
      if (this.isExcluded(dir + '/') || this.isExcluded(dir + '/x')) return false;
    }
    for (let i = 0; i < parts.length; i++) {
      const ig = this.gitignoreOf(parts.slice(0, i).join('/'));
      if (!ig) continue;
      const below = parts.slice(i);
      for (let j = 1; j < below.length; j++) if (ig.ignores(below.slice(0, j).join('/') + '/')) return false;
      if (ig.ignores(below.join('/') + (isDir ? '/' : ''))) return false;
    }
    return true;
  }

  private gitignoreOf(dir: string): Ignore | null {
    let ig = this.gitignores.get(dir);
    if (ig === undefined) {
      try {
        ig = ignore().add(readFileSync(path.join(this.root, dir, '.gitignore'), 'utf8'));
      } catch {
        ig = null;
      }
      this.gitignores.set(dir, ig);
    }
    return ig;
  }
}
