/**
 * The status bar item: the server's index state (from `crucible/status`), or the
 * language client's own state when the server is starting, restarting or gone.
 */
import * as vscode from 'vscode';
import { State, type LanguageClient } from 'vscode-languageclient/node';
import type { StatusParams } from '../../server/src/protocol';
import type { ServerEvents } from './client';

export class IndexStatusItem implements vscode.Disposable {
  private readonly item = vscode.window.createStatusBarItem('crucible.status', vscode.StatusBarAlignment.Left, 0);
  private readonly disposables: vscode.Disposable[] = [this.item];

  constructor(client: LanguageClient, events: ServerEvents) {
    this.item.name = 'Crucible';
    this.item.command = 'crucible.showOutput';
    this.showStarting();
    this.item.show();
    // Tells a restart after a crash apart from the first start.
    let hasRun = false;
    this.disposables.push(
      events.onStatus((status) => this.showStatus(status)),
      client.onDidChangeState(({ newState }) => {
        if (newState === State.Running) hasRun = true;
        else if (newState === State.Starting) this.showStarting(hasRun);
        else if (newState === State.Stopped) this.showError('The Crucible language server stopped. After a crash it is restarted unless it keeps crashing; see the output for the reason.');
        else if (newState === State.StartFailed) this.showError('The Crucible language server could not start. See the output for the reason, then reload the window.');
        // On Running the text stays "starting" until the server's first status notification.
      }),
    );
  }

  dispose(): void {
    for (const d of this.disposables) d.dispose();
  }

  private showStatus(status: StatusParams): void {
    switch (status.state) {
      case 'starting':
        this.showStarting();
        return;
      case 'indexing': {
        setIndexState('indexing');
        const percent = status.percent === undefined ? '' : ` ${Math.round(status.percent)}%`;
        this.set('$(sync~spin) Crucible: indexing' + percent, `Indexing the workspace${status.message ? `: ${status.message}` : ''}. Click to show the output.`);
        return;
      }
      case 'ready':
        setIndexState('ready');
        this.set(
          `$(check) Crucible: ${status.artifacts} artifacts · ${status.files} files`,
          `${status.message ?? 'Index is up to date.'} Click to show the output.`,
        );
        return;
      case 'error':
        this.showError(status.message ?? 'Indexing failed. See the output for details.');
        return;
    }
  }

  private showStarting(restarting = false): void {
    setIndexState('indexing');
    this.set(`$(sync~spin) Crucible: ${restarting ? 'restarting' : 'starting'}`, 'Starting the Crucible language server.');
  }

  private showError(message: string): void {
    setIndexState('error');
    this.set('$(error) Crucible', `${message}\n\nClick to show the output.`);
    this.item.backgroundColor = new vscode.ThemeColor('statusBarItem.errorBackground');
  }

  private set(text: string, tooltip: string): void {
    this.item.text = text;
    this.item.tooltip = tooltip;
    this.item.backgroundColor = undefined;
  }
}

/** Context key `crucible.indexState` (indexing | ready | error): picks the Artifacts view's empty-state text. */
function setIndexState(state: 'indexing' | 'ready' | 'error'): void {
  void vscode.commands.executeCommand('setContext', 'crucible.indexState', state);
}
