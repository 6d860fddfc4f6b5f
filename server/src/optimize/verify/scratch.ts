/**
 * A scratch copy of a workspace folder, where candidates are loaded, tested and
 * benchmarked: the user's files are never written.
 *
 * Sources are copied (not hard-linked: a test that rewrites a fixture in place would
 * then rewrite the user's file through the shared inode); every `node_modules` folder
 * is a symlink to the workspace's own, so the project's runners, tsx and its
 * dependencies resolve as they do at home. `.git`, `.crucible` and tool caches are
 * left out. One copy serves every candidate of an optimize session: `swap` puts a
 * candidate's file text in place, `restore` puts the copied original back.
 */
import { copyFileSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

export interface ScratchWorkspace {
  /** Absolute path of the copy (a fresh directory under the OS temp dir). */
  dir: string;
  /** The workspace folder it copies. */
  root: string;
  /** Writes `text` as the workspace-relative `file` in the copy (the original is kept to restore). */
  swap(file: string, text: string): void;
  /** Puts the copied original of `file` back (no-op when it was not swapped). */
  restore(file: string): void;
  /** Removes the copy. */
  dispose(): void;
}

/** Folders not copied (dependency folders are symlinked instead, see above). */
const skippedDirs = new Set(['.git', '.hg', '.svn', '.crucible', '.cache', '__pycache__', '.pytest_cache', '.nyc_output', 'coverage', '.vite', '.turbo', '.next']);

export interface ScratchOptions {
  /** Stop with an error past this many files (default 20,000): a huge tree is not worth a copy per session. */
  maxFiles?: number;
  /** Stop with an error past this many bytes copied (default 200 MB). */
  maxBytes?: number;
}

export async function createScratchWorkspace(root: string, options: ScratchOptions = {}): Promise<ScratchWorkspace> {
  const source = realpathSync(path.resolve(root));
  const dir = realpathSync(mkdtempSync(path.join(os.tmpdir(), 'crucible-scratch-')));
  const maxFiles = options.maxFiles ?? 20_000;
  const maxBytes = options.maxBytes ?? 200 * 1024 * 1024;
  let files = 0;
  let bytes = 0;
  try {
    const stack = [''];
    while (stack.length > 0) {
      const rel = stack.pop()!;
      const from = path.join(source, rel);
      const to = path.join(dir, rel);
      mkdirSync(to, { recursive: true });
      for (const e of readdirSync(from, { withFileTypes: true })) {
        const childRel = rel ? path.join(rel, e.name) : e.name;
        const src = path.join(source, childRel);
        const dst = path.join(dir, childRel);
        if (e.name === 'node_modules') {
          // The workspace's own dependencies, shared read-only by intent (never copied).
          symlinkSync(realpathSync(src), dst, 'dir');
          continue;
        }
        if (e.isDirectory()) {
          if (!skippedDirs.has(e.name)) stack.push(childRel);
        } else if (e.isFile()) {
          if (++files > maxFiles) throw new Error(`the workspace has more than ${maxFiles} files: too large for a scratch copy`);
          bytes += lstatSync(src).size;
          if (bytes > maxBytes) throw new Error(`the workspace has more than ${Math.round(maxBytes / 1048576)} MB of files outside node_modules: too large for a scratch copy`);
          copyFileSync(src, dst);
        } else if (e.isSymbolicLink()) {
          // Kept as a link to the same target (a relative link keeps pointing inside the copy).
          try {
            symlinkSync(readlinkSync(src), dst);
          } catch {
            // an unreadable link: left out
          }
        }
      }
    }
    // Dependencies installed above the folder (a monorepo's root, an example inside a repository)
    // resolve from the original's ancestors: the nearest such node_modules is linked at the copy's root.
    if (!existsSync(path.join(dir, 'node_modules'))) {
      for (let up = path.dirname(source); ; up = path.dirname(up)) {
        if (existsSync(path.join(up, 'node_modules'))) {
          symlinkSync(realpathSync(path.join(up, 'node_modules')), path.join(dir, 'node_modules'), 'dir');
          break;
        }
        if (path.dirname(up) === up) break;
      }
    }
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }

  const originals = new Map<string, Buffer>();
  const inside = (file: string) => {
    const abs = path.resolve(dir, file);
    if (abs !== dir && !abs.startsWith(dir + path.sep)) throw new Error(`${file} is outside the workspace`);
    return abs;
  };
  let disposed = false;
  return {
    dir,
    root: source,
    swap(file, text) {
      const abs = inside(file);
      if (!originals.has(abs)) originals.set(abs, readFileSync(abs));
      writeFileSync(abs, text);
    },
    restore(file) {
      const abs = inside(file);
      const original = originals.get(abs);
      if (original === undefined) return;
      writeFileSync(abs, original);
      originals.delete(abs);
    },
    dispose() {
      if (disposed) return;
      disposed = true;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
