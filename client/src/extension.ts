/**
 * Activation: wires the language client to the Artifacts, Drift and Micro-agents views,
 * the Test Explorer, the status bar and the commands, then starts the server. The
 * returned API is what integration tests use.
 */
import * as vscode from 'vscode';
import { State, type LanguageClient } from 'vscode-languageclient/node';
import { ArtifactsTreeProvider } from './artifactsView';
import { createClient, type ServerEvents } from './client';
import { registerCommands } from './commands';
import { IndexStatusItem } from './statusBar';
import { CrucibleTests } from './testing';
import { DriftTreeProvider } from './driftView';
import { AgentsTreeProvider } from './agentsView';
import { registerOptimizeCommands, type OptimizeRequestOptions } from './optimize';
import type { OptimizeResult } from '../../server/src/protocol';

export interface CrucibleApi {
  client: LanguageClient;
  artifacts: ArtifactsTreeProvider;
  /** The Test Explorer: its controller, `refresh()` (resolves once the items are loaded) and `run(request, token)`. */
  tests: CrucibleTests;
  /** The Drift view: `current()` fetches what the server reports as drifting. */
  drift: DriftTreeProvider;
  /** The Micro-agents view: `current()` fetches the server's ranking (`crucible/agents`); `getChildren`/`getTreeItem` are what the view shows. */
  agents: AgentsTreeProvider;
  /**
   * Runs the optimizer as "Crucible: Optimize Functions with Evidence" does (progress, summary,
   * Micro-agents refresh): `ids` limits it to those artifacts. Undefined when it did not run (untrusted, server down) or was cancelled.
   */
  optimize(options?: OptimizeRequestOptions): Promise<OptimizeResult | undefined>;
  /**
   * Resolves once every open workspace folder has reported a completed full index
   * (`crucible/indexed`) since the server last started. Rejects if the server fails
   * to start. Tests await this instead of sleeping.
   */
  whenIndexed(): Promise<void>;
}

let stopClient: (() => Promise<void>) | undefined;

export async function activate(context: vscode.ExtensionContext): Promise<CrucibleApi> {
  const { client, events } = createClient(context);
  const artifacts = new ArtifactsTreeProvider(client, events);
  const indexed = trackIndexedFolders(client, events);
  const tests = new CrucibleTests(client, events);
  const drift = new DriftTreeProvider(client);
  const agents = new AgentsTreeProvider(client);
  // A finished full index (start, restart, reindex) may come with drift (and a store of variants) read anew.
  context.subscriptions.push(artifacts, tests, drift, agents, events.onIndexed(() => drift.refresh()), events.onIndexed(() => agents.refresh()), new IndexStatusItem(client, events), indexed);
  registerCommands(context, client, artifacts);
  const optimizer = registerOptimizeCommands(context, client, agents);

  // stop() throws unless the client is running (e.g. after a failed start); nothing to stop then.
  stopClient = () => (client.state === State.Running ? client.stop() : Promise.resolve());
  context.subscriptions.push({ dispose: () => void stopClient?.().catch(() => undefined) });

  // languageclient already reports a failed start (output and notification); activation still
  // succeeds so the status bar and the commands can say what went wrong.
  await client.start().catch(() => undefined);

  return { client, artifacts, tests, drift, agents, optimize: optimizer.optimize, whenIndexed: indexed.whenIndexed };
}

export function deactivate(): Promise<void> | undefined {
  return stopClient?.();
}

/** Remembers which folders the server has finished indexing, for `whenIndexed`. */
function trackIndexedFolders(client: LanguageClient, events: ServerEvents): vscode.Disposable & { whenIndexed(): Promise<void> } {
  const done = new Set<string>();
  let waiters: { resolve(): void; reject(error: Error): void }[] = [];
  let startFailed = false;

  const allIndexed = () => (vscode.workspace.workspaceFolders ?? []).every((f) => done.has(f.uri.toString()));
  const settle = () => {
    if (startFailed) {
      for (const w of waiters) w.reject(new Error('The Crucible language server failed to start; see the Crucible output.'));
      waiters = [];
    } else if (allIndexed()) {
      for (const w of waiters) w.resolve();
      waiters = [];
    }
  };

  const subscriptions = [
    events.onIndexed(({ folderUri }) => {
      done.add(vscode.Uri.parse(folderUri).toString());
      settle();
    }),
    // A removed folder may have been the one still being waited for.
    vscode.workspace.onDidChangeWorkspaceFolders(settle),
    client.onDidChangeState(({ newState }) => {
      // A restarted server indexes again; wait for that rather than trust the old run.
      if (newState === State.Starting) done.clear();
      startFailed = newState === State.StartFailed;
      settle();
    }),
  ];

  return {
    whenIndexed: () =>
      new Promise<void>((resolve, reject) => {
        waiters.push({ resolve, reject });
        settle();
      }),
    dispose: () => subscriptions.forEach((s) => s.dispose()),
  };
}
