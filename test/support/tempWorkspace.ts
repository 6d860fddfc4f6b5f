import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';

/** A throw-away workspace folder with the given files (path → content). */
export function tempWorkspace(files: Record<string, string | Uint8Array>): { root: string; write(rel: string, content: string | Uint8Array): void; remove(): void } {
  const root = mkdtempSync(path.join(tmpdir(), 'crucible-ws-'));
  const write = (rel: string, content: string | Uint8Array) => {
    const abs = path.join(root, rel);
    mkdirSync(path.dirname(abs), { recursive: true });
    writeFileSync(abs, content);
  };
  for (const [rel, content] of Object.entries(files)) write(rel, content);
  return { root, write, remove: () => rmSync(root, { recursive: true, force: true }) };
}
