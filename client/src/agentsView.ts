/**
 * The Micro-agents view: the optimizer's agents as the server ranks them
 * (`crucible/agents`), best first, each with its acceptance record — accepted/attempts,
 * the posterior acceptance rate with its 95% interval, mean speedup of its accepted
 * variants, mean latency — and, under "Optimizer settings", the settings the optimizer
 * adapted for itself with the history of each change. The server owns all of it; this
 * view renders its last answer and refreshes when the server says a folder's variants or
 * rankings changed (`crucible/optimizeChanged`) and after an optimize run.
 */
import * as vscode from 'vscode';
import type { LanguageClient } from 'vscode-languageclient/node';
import { formatMs, formatRateInterval, formatRatio } from '../../server/src/format';
import { AgentsRequest, OptimizeChangedNotification, type AgentInfo, type AgentsResult } from '../../server/src/protocol';

type FolderAgents = AgentsResult['folders'][number];

export type AgentsTreeNode =
  | { readonly type: 'folder'; readonly folderKey: string; readonly name: string; readonly data: FolderAgents }
  | { readonly type: 'agent'; readonly folderKey: string; readonly agent: AgentInfo }
  | { readonly type: 'settings'; readonly folderKey: string; readonly data: FolderAgents }
  | { readonly type: 'setting'; readonly folderKey: string; readonly key: string; readonly label: string; readonly value: string }
  | { readonly type: 'history'; readonly folderKey: string; readonly index: number; readonly at: string; readonly why: string };

/** Shown in the view when no folder has agents yet. */
export const noAgentsMessage = 'No micro-agents have worked on this workspace yet. Run "Crucible: Optimize Functions with Evidence" (it needs recorded test runs).';

/** The agent row's description: `accepted/attempts · 62% [41–80%] · 2.4× · 35 ms (provisional)`. */
export function describeAgent(a: AgentInfo): string {
  const parts = [`${a.accepted}/${a.attempts}`, formatRateInterval(a.mean, a.low, a.high)];
  if (a.meanSpeedup !== undefined) parts.push(formatRatio(a.meanSpeedup));
  if (a.meanLatencyMs !== undefined) parts.push(formatMs(a.meanLatencyMs));
  let text = parts.join(' · ');
  if (a.retired) text = `retired · ${text}`;
  else if (a.provisional) text += ' (provisional)';
  return text;
}

function formatWhen(at: string): string {
  const d = new Date(at);
  return Number.isNaN(d.getTime()) ? at : d.toLocaleString();
}

export class AgentsTreeProvider implements vscode.TreeDataProvider<AgentsTreeNode>, vscode.Disposable {
  private readonly changed = new vscode.EventEmitter<AgentsTreeNode | undefined>();
  readonly onDidChangeTreeData = this.changed.event;
  readonly view: vscode.TreeView<AgentsTreeNode>;
  private result: Promise<AgentsResult> | undefined;
  private readonly disposables: vscode.Disposable[] = [];

  constructor(private readonly client: LanguageClient) {
    this.view = vscode.window.createTreeView('crucible.agents', { treeDataProvider: this, showCollapseAll: false });
    // languageclient keeps one handler per method; only this view listens to optimizeChanged
    // (code lenses refresh through workspace/codeLens/refresh, which languageclient handles).
    this.disposables.push(this.view, this.changed, client.onNotification(OptimizeChangedNotification.type, () => this.refresh()));
  }

  /** Forgets the last answer and redraws the view (which asks the server again). */
  refresh(): void {
    this.result = undefined;
    this.changed.fire(undefined);
  }

  /** The server's answer as last fetched (fetched now if there is none). */
  current(): Promise<AgentsResult> {
    if (!this.result) {
      // By method name: a RequestType object from another copy of vscode-jsonrpc is rejected.
      const pending = this.client.sendRequest(AgentsRequest.type, {}).then((result) => {
        const agents = result.folders.reduce((n, f) => n + f.agents.length, 0);
        this.view.message = agents === 0 ? noAgentsMessage : undefined;
        return result;
      });
      // A failure is not cached: the next refresh or expansion asks again.
      pending.catch(() => {
        if (this.result === pending) this.result = undefined;
      });
      this.result = pending;
    }
    return this.result;
  }

  async getChildren(node?: AgentsTreeNode): Promise<AgentsTreeNode[]> {
    if (!node) {
      let result: AgentsResult;
      try {
        result = await this.current();
      } catch (error) {
        this.client.warn('Micro-agents view: could not list the agents', error, false);
        this.view.message = 'The Crucible language server did not answer; see the Crucible output.';
        return [];
      }
      const withAgents = result.folders.filter((f) => f.agents.length > 0);
      if (withAgents.length === 0) return [];
      if (result.folders.length === 1) return this.folderChildren(withAgents[0]);
      return withAgents.map((data) => {
        const folderKey = vscode.Uri.parse(data.folderUri).toString();
        const name = vscode.workspace.getWorkspaceFolder(vscode.Uri.parse(data.folderUri))?.name ?? folderKey;
        return { type: 'folder', folderKey, name, data };
      });
    }
    switch (node.type) {
      case 'folder':
        return this.folderChildren(node.data);
      case 'settings': {
        const { folderKey, data } = node;
        const rows: AgentsTreeNode[] = [
          { type: 'setting', folderKey, key: 'agentsPerArtifact', label: 'Agents per function', value: String(data.settings.agentsPerArtifact) },
          { type: 'setting', folderKey, key: 'candidatesPerArtifact', label: 'Candidates verified per function', value: String(data.settings.candidatesPerArtifact) },
        ];
        // Newest change first.
        const history = data.settingsHistory.map((h, index) => ({ type: 'history' as const, folderKey, index, at: h.at, why: h.why }));
        return [...rows, ...history.reverse()];
      }
      default:
        return [];
    }
  }

  private folderChildren(data: FolderAgents): AgentsTreeNode[] {
    const folderKey = vscode.Uri.parse(data.folderUri).toString();
    const agents = [...data.agents].sort((a, b) => a.rank - b.rank);
    return [...agents.map((agent): AgentsTreeNode => ({ type: 'agent', folderKey, agent })), { type: 'settings', folderKey, data }];
  }

  getTreeItem(node: AgentsTreeNode): vscode.TreeItem {
    switch (node.type) {
      case 'folder': {
        const item = new vscode.TreeItem(node.name, vscode.TreeItemCollapsibleState.Expanded);
        item.id = `folder:${node.folderKey}`;
        item.iconPath = vscode.ThemeIcon.Folder;
        item.resourceUri = vscode.Uri.parse(node.folderKey);
        return item;
      }
      case 'agent': {
        const a = node.agent;
        const item = new vscode.TreeItem(`#${a.rank} ${a.id}`, vscode.TreeItemCollapsibleState.None);
        item.id = `agent:${node.folderKey}|${a.id}`;
        item.description = describeAgent(a);
        item.tooltip = agentTooltip(a);
        // Retired agents are greyed (VS Code colours icons, not labels); the reason is in the tooltip.
        item.iconPath = a.retired
          ? new vscode.ThemeIcon('circle-slash', new vscode.ThemeColor('disabledForeground'))
          : new vscode.ThemeIcon(a.kind === 'ollama' ? 'hubot' : 'symbol-ruler', a.provisional ? new vscode.ThemeColor('disabledForeground') : undefined);
        item.contextValue = a.retired ? 'crucible.agent.retired' : 'crucible.agent';
        return item;
      }
      case 'settings': {
        const item = new vscode.TreeItem('Optimizer settings', vscode.TreeItemCollapsibleState.Collapsed);
        item.id = `settings:${node.folderKey}`;
        const s = node.data.settings;
        const changes = node.data.settingsHistory.length;
        item.description = `${s.agentsPerArtifact} agents · ${s.candidatesPerArtifact} candidates per function${changes ? ` · ${changes} change${changes === 1 ? '' : 's'}` : ''}`;
        item.tooltip = 'What the optimizer adapts for itself from its acceptance history, with each change and its reason.';
        item.iconPath = new vscode.ThemeIcon('settings-gear');
        return item;
      }
      case 'setting': {
        const item = new vscode.TreeItem(node.label, vscode.TreeItemCollapsibleState.None);
        item.id = `setting:${node.folderKey}|${node.key}`;
        item.description = node.value;
        item.iconPath = new vscode.ThemeIcon('symbol-number');
        return item;
      }
      case 'history': {
        const item = new vscode.TreeItem(formatWhen(node.at), vscode.TreeItemCollapsibleState.None);
        item.id = `history:${node.folderKey}|${node.index}`;
        item.description = node.why;
        item.tooltip = `${node.at}: ${node.why}`;
        item.iconPath = new vscode.ThemeIcon('history');
        return item;
      }
    }
  }

  dispose(): void {
    for (const d of this.disposables) d.dispose();
  }
}

function agentTooltip(a: AgentInfo): vscode.MarkdownString {
  const md = new vscode.MarkdownString();
  md.appendMarkdown('**');
  md.appendText(a.id);
  md.appendMarkdown('**');
  md.appendText(` (${a.kind === 'ollama' ? 'Ollama model' : 'rule'})`);
  md.appendMarkdown('\n\n');
  md.appendText(a.description);
  md.appendMarkdown('\n\n');
  const lines = [
    `Rank ${a.rank}: ${a.accepted} of ${a.attempts} candidates accepted; acceptance rate ${formatRateInterval(a.mean, a.low, a.high)} (posterior mean, 95% interval)${a.provisional ? ', provisional: too few attempts to rank it firmly' : ''}.`,
  ];
  if (a.meanSpeedup !== undefined) lines.push(`Mean speedup of its accepted variants: ${formatRatio(a.meanSpeedup)}.`);
  if (a.meanLatencyMs !== undefined) lines.push(`Mean time to propose: ${formatMs(a.meanLatencyMs)}.`);
  if (a.meanCost !== undefined && a.meanCost > 0) lines.push(`Mean model tokens per proposal: ${Math.round(a.meanCost)}.`);
  if (a.retired) lines.push(`Retired ${formatWhen(a.retired.at)}: ${a.retired.reason}`);
  md.appendText(lines.join('\n\n'));
  return md;
}
