/**
 * The connection to Crucible's language server: how it is started, which files it
 * sees, and one typed event per server notification.
 *
 * Settings flow: the server pulls `crucible.*` with `workspace/configuration`;
 * `synchronize.configurationSection` makes languageclient send
 * `workspace/didChangeConfiguration` whenever a `crucible.*` setting changes, which
 * is the server's cue to pull again. Nothing here reads the settings itself.
 */
import * as vscode from 'vscode';
import { LanguageClient, State, TransportKind, type LanguageClientOptions, type ServerOptions } from 'vscode-languageclient/node';
import {
  IndexChangedNotification,
  IndexedNotification,
  StatusNotification,
  TestRunEventNotification,
  WorkspaceTrustNotification,
  type FolderSummary,
  type IndexChangedParams,
  type StatusParams,
  type TestRunEventParams,
  type WorkspaceTrustParams,
} from '../../server/src/protocol';
import { configurationSection } from '../../server/src/settings';

/** VS Code language ids the server indexes; also used for the editor context menu. */
export const indexedLanguages = ['typescript', 'typescriptreact', 'javascript', 'javascriptreact', 'python'] as const;

/**
 * Server notifications as VS Code events. languageclient keeps a single handler per
 * method, so the tree, the status bar and `whenIndexed` subscribe here instead.
 */
export interface ServerEvents {
  readonly onIndexed: vscode.Event<FolderSummary>;
  readonly onIndexChanged: vscode.Event<IndexChangedParams>;
  readonly onStatus: vscode.Event<StatusParams>;
  /** A test run's output as the runner produces it (`crucible/testRunEvent`). */
  readonly onTestRunEvent: vscode.Event<TestRunEventParams>;
}

export interface CrucibleConnection {
  client: LanguageClient;
  events: ServerEvents;
}

/** Creates (but does not start) the client; everything it owns is disposed with the extension. */
export function createClient(context: vscode.ExtensionContext): CrucibleConnection {
  const serverModule = context.asAbsolutePath('dist/server.js');
  const serverOptions: ServerOptions = {
    run: { module: serverModule, transport: TransportKind.ipc },
    debug: { module: serverModule, transport: TransportKind.ipc, options: { execArgv: ['--nolazy', '--inspect=6009'] } },
  };

  const output = vscode.window.createOutputChannel('Crucible', { log: true });
  // Extension-less `.gitignore` is watched too: it changes which files the server indexes.
  const watcher = vscode.workspace.createFileSystemWatcher('**/*.{ts,tsx,mts,cts,js,jsx,mjs,cjs,py,gitignore}');
  context.subscriptions.push(output, watcher);

  const clientOptions: LanguageClientOptions = {
    documentSelector: indexedLanguages.map((language) => ({ scheme: 'file', language })),
    synchronize: { fileEvents: watcher, configurationSection },
    outputChannel: output,
    traceOutputChannel: output,
    // A function, so that a restarted server learns the trust state of that moment. The server
    // runs no workspace code (tests) until it is trusted.
    initializationOptions: () => ({ trusted: vscode.workspace.isTrusted }),
  };

  // The id must be `crucible` so that languageclient reads the `crucible.trace.server` setting.
  const client = new LanguageClient('crucible', 'Crucible', serverOptions, clientOptions);

  const indexed = new vscode.EventEmitter<FolderSummary>();
  const indexChanged = new vscode.EventEmitter<IndexChangedParams>();
  const status = new vscode.EventEmitter<StatusParams>();
  const testRunEvent = new vscode.EventEmitter<TestRunEventParams>();
  context.subscriptions.push(
    indexed,
    indexChanged,
    status,
    testRunEvent,
    // Registered before start(); languageclient re-attaches them after a restart.
    client.onNotification(IndexedNotification.type, (params) => indexed.fire(params)),
    client.onNotification(IndexChangedNotification.type, (params) => indexChanged.fire(params)),
    client.onNotification(StatusNotification.type, (params) => status.fire(params)),
    client.onNotification(TestRunEventNotification.type, (params) => testRunEvent.fire(params)),
    // Trust can only be granted during a session (revoking it reloads the window).
    vscode.workspace.onDidGrantWorkspaceTrust(() => {
      // A server still starting gets it once started (sendNotification waits); one started later reads initializationOptions.
      if (client.state === State.Stopped) return;
      const params: WorkspaceTrustParams = { trusted: true };
      void client.sendNotification(WorkspaceTrustNotification.type, params).catch((error: unknown) => client.warn('Could not tell the server the workspace is trusted', error, false));
    }),
  );

  return {
    client,
    events: { onIndexed: indexed.event, onIndexChanged: indexChanged.event, onStatus: status.event, onTestRunEvent: testRunEvent.event },
  };
}
