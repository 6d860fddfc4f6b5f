/**
 * The Artifacts view: workspace folder → file → artifact, rendered from the server's
 * `crucible/artifacts` answers. The server owns the index; this module only caches
 * one answer per folder so that `getParent` and partial refreshes have something to
 * walk, and drops it when the server says the folder changed.
 */
import * as path from 'node:path';
import * as vscode from 'vscode';
import type { LanguageClient } from 'vscode-languageclient/node';
import { ArtifactsRequest, type ArtifactInfo, type ArtifactKind, type EvidenceStatus } from '../../server/src/protocol';
import type { ServerEvents } from './client';

/** Internal command run when an artifact is clicked; registered in commands.ts. */
export const openArtifactCommand = 'crucible.openArtifact';

/** The one-line summary shown next to an artifact (tree description, quick pick detail). */
export function describeArtifact(a: ArtifactInfo): string {
  if (a.kind === 'test' || a.kind === 'suite') return a.framework ?? '';
  if (a.kind === 'class' && a.signature.length === 0) return '';
  return `(${a.signature.join(', ')})`;
}

/** Per evidence status: the word shown and the colour of the kind icon. */
export const evidenceBadges: Record<EvidenceStatus, { label: string; color: string }> = {
  verified: { label: '✓ verified', color: 'testing.iconPassed' },
  failing: { label: '✗ failing', color: 'testing.iconFailed' },
  unverified: { label: '△ changed since verified', color: 'testing.iconQueued' },
  untested: { label: 'no tests', color: 'disabledForeground' },
};

const kindIcons: Record<ArtifactKind, string> = {
  function: 'symbol-function',
  method: 'symbol-method',
  class: 'symbol-class',
  test: 'beaker',
  suite: 'library',
};

interface FolderNode {
  readonly type: 'folder';
  readonly folder: vscode.WorkspaceFolder;
}
interface FileNode {
  readonly type: 'file';
  readonly folderKey: string;
  /** Folder-relative path, as the server reports it. */
  readonly file: string;
  readonly uri: vscode.Uri;
}
interface ArtifactNode {
  readonly type: 'artifact';
  readonly parent: FileNode;
  readonly artifact: ArtifactInfo;
  /** Tree id; unique even if the server reports two artifacts with one id (e.g. overloads). */
  readonly treeId: string;
}
export type ArtifactsTreeNode = FolderNode | FileNode | ArtifactNode;

/** What is known about one workspace folder: its files in display order, each with its artifacts. */
interface FolderContents {
  files: Map<string, { node: FileNode; artifacts: ArtifactNode[] }>;
}

export class ArtifactsTreeProvider implements vscode.TreeDataProvider<ArtifactsTreeNode>, vscode.Disposable {
  private readonly changed = new vscode.EventEmitter<ArtifactsTreeNode | undefined>();
  readonly onDidChangeTreeData = this.changed.event;
  readonly view: vscode.TreeView<ArtifactsTreeNode>;

  /** Keyed by `folder.uri.toString()`, which is also how the folder's URI reaches the server. */
  private readonly contents = new Map<string, Promise<FolderContents>>();
  /**
   * Node objects are kept across reloads: VS Code finds the element to refresh by
   * identity, and `getParent` must hand back the same objects it gave out.
   */
  private readonly folderNodes = new Map<string, FolderNode>();
  private readonly fileNodes = new Map<string, FileNode>();
  /** Per folder, files changed since the reload in flight started; present only while one runs. */
  private readonly pendingChanges = new Map<string, Set<string>>();
  /** Bumped by every full refresh so that partial reloads started before it give up. */
  private generation = 0;
  private readonly disposables: vscode.Disposable[] = [];

  constructor(
    private readonly client: LanguageClient,
    events: ServerEvents,
  ) {
    this.view = vscode.window.createTreeView('crucible.artifacts', { treeDataProvider: this, showCollapseAll: true });
    this.disposables.push(
      this.view,
      this.changed,
      events.onIndexed(() => this.refresh()),
      events.onIndexChanged(({ folderUri, files }) => this.onIndexChanged(folderUri, files)),
      vscode.workspace.onDidChangeWorkspaceFolders(() => this.refresh()),
    );
  }

  dispose(): void {
    for (const d of this.disposables) d.dispose();
  }

  /** Forgets everything and redraws the whole tree (expansion state survives through ids). */
  refresh(): void {
    this.generation++;
    this.contents.clear();
    this.changed.fire(undefined);
  }

  /** Shows an artifact in the view, loading its folder first if needed. */
  async reveal(artifact: ArtifactInfo, options?: { select?: boolean; focus?: boolean }): Promise<void> {
    const folder = vscode.workspace.getWorkspaceFolder(vscode.Uri.parse(artifact.uri));
    if (!folder) return;
    const entry = (await this.load(folder.uri.toString())).files.get(artifact.file);
    const node = entry?.artifacts.find((n) => n.artifact.id === artifact.id);
    if (node) await this.view.reveal(node, { select: options?.select ?? true, focus: options?.focus ?? false, expand: true });
  }

  getTreeItem(node: ArtifactsTreeNode): vscode.TreeItem {
    switch (node.type) {
      case 'folder': {
        const item = new vscode.TreeItem(node.folder.name, vscode.TreeItemCollapsibleState.Expanded);
        item.id = `folder:${node.folder.uri.toString()}`;
        item.resourceUri = node.folder.uri;
        item.iconPath = vscode.ThemeIcon.Folder;
        item.contextValue = 'crucible.folder';
        return item;
      }
      case 'file': {
        const item = new vscode.TreeItem(path.posix.basename(node.file), vscode.TreeItemCollapsibleState.Collapsed);
        item.id = `file:${node.folderKey}|${node.file}`;
        item.resourceUri = node.uri;
        item.iconPath = vscode.ThemeIcon.File;
        const dir = path.posix.dirname(node.file);
        item.description = dir === '.' ? '' : dir;
        item.tooltip = node.file;
        item.contextValue = 'crucible.file';
        return item;
      }
      case 'artifact': {
        const a = node.artifact;
        const item = new vscode.TreeItem(a.qualifiedName, vscode.TreeItemCollapsibleState.None);
        item.id = node.treeId;
        const badge = a.evidence ? evidenceBadges[a.evidence.status] : undefined;
        // The evidence badge colours the kind icon and leads the description line.
        item.iconPath = new vscode.ThemeIcon(kindIcons[a.kind] ?? 'symbol-misc', badge ? new vscode.ThemeColor(badge.color) : undefined);
        item.description = [badge?.label, describeArtifact(a)].filter(Boolean).join(' · ');
        item.tooltip = artifactTooltip(a);
        item.contextValue = `crucible.artifact.${a.kind}`;
        item.command = { command: openArtifactCommand, title: 'Open Artifact', arguments: [a] };
        return item;
      }
    }
  }

  async getChildren(node?: ArtifactsTreeNode): Promise<ArtifactsTreeNode[]> {
    if (!node) {
      const folders = vscode.workspace.workspaceFolders ?? [];
      if (folders.length === 1) return this.fileChildren(folders[0].uri.toString());
      return folders.map((f) => this.folderNode(f));
    }
    switch (node.type) {
      case 'folder':
        return this.fileChildren(node.folder.uri.toString());
      case 'file':
        return (await this.load(node.folderKey)).files.get(node.file)?.artifacts ?? [];
      case 'artifact':
        return [];
    }
  }

  getParent(node: ArtifactsTreeNode): ArtifactsTreeNode | undefined {
    switch (node.type) {
      case 'folder':
        return undefined;
      case 'file':
        return this.fileParent(node.folderKey);
      case 'artifact':
        return node.parent;
    }
  }

  /** Folder node for a multi-root workspace; files sit at the top level when there is one folder. */
  private fileParent(folderKey: string): FolderNode | undefined {
    const folders = vscode.workspace.workspaceFolders ?? [];
    if (folders.length <= 1) return undefined;
    const folder = folders.find((f) => f.uri.toString() === folderKey);
    return folder && this.folderNode(folder);
  }

  private folderNode(folder: vscode.WorkspaceFolder): FolderNode {
    const key = folder.uri.toString();
    let node = this.folderNodes.get(key);
    if (!node || node.folder !== folder) {
      node = { type: 'folder', folder };
      this.folderNodes.set(key, node);
    }
    return node;
  }

  private async fileChildren(folderKey: string): Promise<FileNode[]> {
    return [...(await this.load(folderKey)).files.values()].map((f) => f.node);
  }

  private load(folderKey: string): Promise<FolderContents> {
    const cached = this.contents.get(folderKey);
    if (cached) return cached;
    const pending: Promise<FolderContents> = this.fetch(folderKey).catch((error: unknown) => {
      // An empty view shows the welcome text with a Reindex link; the reason goes to the log.
      // Forgetting the failure lets the next expansion or refresh ask again.
      this.client.warn(`Artifacts view: could not list the artifacts of ${folderKey}`, error, false);
      if (this.contents.get(folderKey) === pending) this.contents.delete(folderKey);
      return { files: new Map() };
    });
    this.contents.set(folderKey, pending);
    return pending;
  }

  private async fetch(folderKey: string): Promise<FolderContents> {
    const { artifacts } = await this.client.sendRequest(ArtifactsRequest.type, { folderUri: folderKey });
    const byFile = new Map<string, ArtifactInfo[]>();
    for (const a of artifacts) {
      const list = byFile.get(a.file);
      if (list) list.push(a);
      else byFile.set(a.file, [a]);
    }
    const files: FolderContents['files'] = new Map();
    for (const file of [...byFile.keys()].sort((x, y) => x.localeCompare(y))) {
      const list = byFile.get(file)!;
      const node = this.fileNode(folderKey, file, list[0].uri);
      list.sort((x, y) => x.range.start.line - y.range.start.line || x.range.start.character - y.range.start.character);
      const seen = new Map<string, number>();
      const children = list.map((artifact): ArtifactNode => {
        const n = (seen.get(artifact.id) ?? 0) + 1;
        seen.set(artifact.id, n);
        const treeId = `artifact:${folderKey}|${artifact.id}${n > 1 ? `~${n}` : ''}`;
        return { type: 'artifact', parent: node, artifact, treeId };
      });
      files.set(file, { node, artifacts: children });
    }
    return { files };
  }

  private fileNode(folderKey: string, file: string, uri: string): FileNode {
    const key = `${folderKey}|${file}`;
    let node = this.fileNodes.get(key);
    if (!node) {
      node = { type: 'file', folderKey, file, uri: vscode.Uri.parse(uri) };
      this.fileNodes.set(key, node);
    }
    return node;
  }

  /**
   * Reloads a folder after the server changed some of its files, then redraws only
   * those files, or the folder's file list if files came or went. Changes that arrive
   * while a reload runs are folded into the next round, so none is lost or raced.
   */
  private onIndexChanged(folderUri: string, files: string[]): void {
    const folderKey = vscode.Uri.parse(folderUri).toString();
    // Never loaded (view not opened yet): nothing on screen to update.
    if (!this.contents.has(folderKey)) return;
    const running = this.pendingChanges.get(folderKey);
    if (running) {
      for (const f of files) running.add(f);
      return;
    }
    this.pendingChanges.set(folderKey, new Set(files));
    void this.reloadChanged(folderKey);
  }

  private async reloadChanged(folderKey: string): Promise<void> {
    const generation = this.generation;
    try {
      for (;;) {
        const changed = this.pendingChanges.get(folderKey);
        const current = this.contents.get(folderKey);
        if (!changed || changed.size === 0 || !current) return;
        this.pendingChanges.set(folderKey, new Set());
        const oldFiles = new Set((await current).files.keys());
        const after = await this.fetch(folderKey);
        // A full refresh happened meanwhile and redraws everything itself.
        if (this.generation !== generation) return;
        this.contents.set(folderKey, Promise.resolve(after));
        const sameFiles = oldFiles.size === after.files.size && [...oldFiles].every((f) => after.files.has(f));
        if (!sameFiles) {
          this.changed.fire(this.fileParent(folderKey));
          continue;
        }
        for (const file of changed) {
          const entry = after.files.get(file);
          if (entry) this.changed.fire(entry.node);
        }
      }
    } catch (error) {
      this.client.warn(`Artifacts view: could not reload the artifacts of ${folderKey}`, error, false);
    } finally {
      this.pendingChanges.delete(folderKey);
    }
  }
}

function artifactTooltip(a: ArtifactInfo): vscode.MarkdownString {
  const md = new vscode.MarkdownString();
  md.appendMarkdown('**');
  md.appendText(a.qualifiedName);
  md.appendMarkdown('**\n\n');
  md.appendText(`${a.kind} · ${a.language}${a.framework ? ` · ${a.framework}` : ''}`);
  md.appendMarkdown('\n\n');
  md.appendCodeblock(`${a.name}(${a.signature.join(', ')})`, a.language === 'python' ? 'python' : 'typescript');
  if (a.doc) {
    md.appendMarkdown('\n\n');
    md.appendText(a.doc);
  }
  return md;
}
