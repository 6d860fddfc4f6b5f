/**
 * What a test run changed in the workspace's own files. Crucible never writes there
 * itself, but a test may (fixtures written next to the sources, snapshots, caches):
 * the run is compared before and after by size and modification time, and the
 * changes are reported so the user knows Crucible's run left them, not Crucible.
 *
 * Skipped: dependency and tool folders (node_modules, .git, .crucible, .cache,
 * __pycache__, coverage outputs of other tools); at most `limit` files are looked at,
 * past that the snapshot says it is partial and no change is reported (a huge tree
 * costs a walk per run otherwise).
 */
import { readdirSync, statSync } from 'node:fs';
import * as path from 'node:path';

export interface WorkspaceSnapshot {
  files: Map<string, { size: number; mtimeMs: number }>;
  complete: boolean;
}

export interface WorkspaceChanges {
  created: string[];
  modified: string[];
  deleted: string[];
}

const skipped = new Set(['node_modules', '.git', '.hg', '.svn', '.crucible', '.cache', '__pycache__', '.pytest_cache', '.vite', '.nyc_output']);

export function snapshotWorkspace(root: string, limit = 50_000): WorkspaceSnapshot {
  const files = new Map<string, { size: number; mtimeMs: number }>();
  const stack = [''];
  while (stack.length > 0) {
    const rel = stack.pop()!;
    let entries;
    try {
      entries = readdirSync(path.join(root, rel), { withFileTypes: true });
    } catch {
      continue;
    }
    for (const e of entries) {
      const child = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) {
        if (!skipped.has(e.name)) stack.push(child);
      } else if (e.isFile()) {
        if (files.size >= limit) return { files, complete: false };
        try {
          const st = statSync(path.join(root, child));
          files.set(child, { size: st.size, mtimeMs: st.mtimeMs });
        } catch {
          // gone between readdir and stat: not there
        }
      }
    }
  }
  return { files, complete: true };
}

/** Undefined when either snapshot is partial (nothing can be said) or nothing changed. */
export function workspaceChanges(before: WorkspaceSnapshot, after: WorkspaceSnapshot): WorkspaceChanges | undefined {
  if (!before.complete || !after.complete) return undefined;
  const created: string[] = [];
  const modified: string[] = [];
  const deleted: string[] = [];
  for (const [file, st] of after.files) {
    const was = before.files.get(file);
    if (!was) created.push(file);
    else if (was.size !== st.size || was.mtimeMs !== st.mtimeMs) modified.push(file);
  }
  for (const file of before.files.keys()) if (!after.files.has(file)) deleted.push(file);
  if (created.length + modified.length + deleted.length === 0) return undefined;
  return { created: created.sort(), modified: modified.sort(), deleted: deleted.sort() };
}

/** One line for the output channel, the CLI and the client. */
export function describeWorkspaceChanges(c: WorkspaceChanges): string {
  const list = (verb: string, files: string[]) => (files.length === 0 ? [] : [`${verb} ${files.slice(0, 5).join(', ')}${files.length > 5 ? ` and ${files.length - 5} more` : ''}`]);
  return `the tests changed files in the workspace (${[...list('created', c.created), ...list('modified', c.modified), ...list('deleted', c.deleted)].join('; ')}). Crucible itself writes only .crucible/; check where your tests write, or set crucible.exclude for generated files.`;
}
