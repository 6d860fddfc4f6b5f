/**
 * The Drift view: what the server found drifting in the recorded evidence
 * (`crucible/drift`), regressions first, each event under its artifact. The server
 * computes drift; this view only renders its last answer and refreshes when the
 * server says a folder's drift changed (`crucible/driftChanged`).
 */
import * as vscode from 'vscode';
import type { LanguageClient } from 'vscode-languageclient/node';
import { formatRatio } from '../../server/src/format';
import { DriftChangedNotification, DriftRequest, type DriftEventInfo, type DriftKind } from '../../server/src/protocol';

const kindLabels: Record<DriftKind, string> = {
  'test-failure': 'test failing since a code change',
  slowdown: 'slower',
  'unverified-change': 'changed since its tests passed',
  'coverage-drop': 'coverage dropped',
  'error-rate': 'more calls throw',
  flaky: 'flaky test',
};

export class DriftTreeProvider implements vscode.TreeDataProvider<DriftEventInfo>, vscode.Disposable {
  private readonly changed = new vscode.EventEmitter<DriftEventInfo | undefined>();
  readonly onDidChangeTreeData = this.changed.event;
  readonly view: vscode.TreeView<DriftEventInfo>;
  private events: DriftEventInfo[] | undefined;
  private readonly disposables: vscode.Disposable[] = [];

  constructor(private readonly client: LanguageClient) {
    this.view = vscode.window.createTreeView('crucible.drift', { treeDataProvider: this, showCollapseAll: false });
    // languageclient keeps one handler per method; only this view listens to driftChanged.
    this.disposables.push(this.view, this.changed, client.onNotification(DriftChangedNotification.type, () => this.refresh()));
  }

  refresh(): void {
    this.events = undefined;
    this.changed.fire(undefined);
  }

  /** The events as last fetched (for tests and the badge). */
  async current(): Promise<DriftEventInfo[]> {
    if (!this.events) {
      // By method name: a RequestType object from another copy of vscode-jsonrpc is rejected.
      const result = await this.client.sendRequest(DriftRequest.type, {});
      this.events = [...result.events].sort((a, b) => Number(b.regression) - Number(a.regression) || a.artifact.localeCompare(b.artifact) || a.kind.localeCompare(b.kind));
      const regressions = this.events.filter((e) => e.regression).length;
      this.view.badge = regressions > 0 ? { value: regressions, tooltip: `${regressions} regression${regressions === 1 ? '' : 's'}` } : undefined;
    }
    return this.events;
  }

  async getChildren(element?: DriftEventInfo): Promise<DriftEventInfo[]> {
    if (element) return [];
    try {
      return await this.current();
    } catch {
      return []; // server not running: the view's welcome text says what to do
    }
  }

  getTreeItem(e: DriftEventInfo): vscode.TreeItem {
    const name = e.artifact.slice(e.artifact.indexOf('#') + 1);
    const item = new vscode.TreeItem(name, vscode.TreeItemCollapsibleState.None);
    item.id = `${e.artifact}|${e.kind}`;
    item.description = e.ratio !== undefined ? `${kindLabels[e.kind]} ${formatRatio(e.ratio)}` : kindLabels[e.kind];
    item.tooltip = new vscode.MarkdownString(`**${e.artifact}**\n\n${e.detail}`);
    item.iconPath = new vscode.ThemeIcon(e.regression ? 'warning' : 'info', new vscode.ThemeColor(e.regression ? 'problemsWarningIcon.foreground' : 'problemsInfoIcon.foreground'));
    const uri = vscode.Uri.parse(e.uri);
    const range = new vscode.Range(e.range.start.line, e.range.start.character, e.range.end.line, e.range.end.character);
    item.command = { command: 'vscode.open', title: 'Open', arguments: [uri, { selection: range }] };
    item.resourceUri = uri;
    return item;
  }

  dispose(): void {
    for (const d of this.disposables) d.dispose();
  }
}
