/**
 * The commands a user runs (palette, editor menu, view title) and the internal one
 * behind tree clicks. Each asks the server; none keeps state of its own.
 */
import * as vscode from 'vscode';
import { State, type LanguageClient } from 'vscode-languageclient/node';
import { formatNs } from '../../server/src/format';
import {
  ArtifactsRequest,
  BenchmarkRequest,
  type BenchmarkParams,
  ReindexRequest,
  SimilarRequest,
  type ArtifactInfo,
  type FolderSummary,
  type SimilarResult,
} from '../../server/src/protocol';
import { describeArtifact, openArtifactCommand, type ArtifactsTreeProvider } from './artifactsView';
import { indexedLanguages } from './client';

/** How many similar artifacts to ask for. */
const similarCount = 10;

export function registerCommands(context: vscode.ExtensionContext, client: LanguageClient, artifacts: ArtifactsTreeProvider): void {
  const register = (id: string, title: string, run: (...args: unknown[]) => Promise<void> | void) =>
    context.subscriptions.push(
      vscode.commands.registerCommand(id, async (...args: unknown[]) => {
        try {
          await run(...args);
        } catch (error) {
          client.error(`${title} failed`, error, false);
          void showErrorWithOutput(client, `Crucible: ${title} failed: ${errorMessage(error)}`);
        }
      }),
    );

  register('crucible.reindex', 'Reindex Workspace', (options) => reindex(client, options));
  register('crucible.findSimilar', 'Find Similar Artifacts', () => findSimilar(client));
  register('crucible.showOutput', 'Show Output', () => client.outputChannel.show());
  register('crucible.refreshArtifacts', 'Refresh Artifacts', () => artifacts.refresh());
  register(openArtifactCommand, 'Open Artifact', (artifact) => openArtifact(client, artifact as ArtifactInfo));
  register('crucible.benchmark', 'Benchmark Recorded Calls', (node) => benchmark(client, node));
}

/**
 * Replays recorded calls in isolated workers and reports the medians. From the
 * Artifacts tree's context menu: that artifact; from the palette: every artifact
 * with recorded calls. The server shows progress and records a `bench` run.
 */
async function benchmark(client: LanguageClient, node: unknown): Promise<void> {
  if (!serverAvailable(client)) return;
  if (!vscode.workspace.isTrusted) {
    void vscode.window.showWarningMessage('Crucible: benchmarking runs workspace code, so it needs a trusted workspace.');
    return;
  }
  const artifact = (node as { artifact?: ArtifactInfo } | undefined)?.artifact;
  const params: BenchmarkParams = { runId: `vscode-bench-${Date.now().toString(36)}`, ...(artifact ? { ids: [artifact.id] } : {}) };
  // By method name: a RequestType object from another copy of vscode-jsonrpc is rejected.
  const { outcomes } = await client.sendRequest(BenchmarkRequest.type, params);
  const ok = outcomes.filter((o) => o.ok);
  const failed = outcomes.filter((o) => !o.ok);
  for (const o of outcomes) client.outputChannel.appendLine(`benchmark ${o.id}: ${o.ok ? `median ${formatNs(o.medianNs!)} per call (95% CI ${formatNs(o.ciLowNs!)}–${formatNs(o.ciHighNs!)})` : o.reason}`);
  if (outcomes.length === 0) {
    void vscode.window.showInformationMessage('Crucible: nothing to benchmark yet. Run the tests from the Testing view first: benchmarks replay the calls recorded there.');
  } else if (artifact && outcomes.length === 1) {
    const o = outcomes[0];
    void (o.ok
      ? vscode.window.showInformationMessage(`Crucible: ${artifact.qualifiedName} takes ${formatNs(o.medianNs!)} per call (median, 95% CI ${formatNs(o.ciLowNs!)}–${formatNs(o.ciHighNs!)}).`)
      : vscode.window.showWarningMessage(`Crucible: ${artifact.qualifiedName} could not be benchmarked: ${o.reason}`));
  } else {
    void vscode.window.showInformationMessage(`Crucible: benchmarked ${ok.length} artifact${ok.length === 1 ? '' : 's'}${failed.length ? `; ${failed.length} could not be (see the output)` : ''}.`);
  }
}

/** Opens the artifact's file and selects its name. */
export async function openArtifact(client: LanguageClient, artifact: ArtifactInfo): Promise<void> {
  const uri = client.protocol2CodeConverter.asUri(artifact.uri);
  const selection = client.protocol2CodeConverter.asRange(artifact.selectionRange);
  try {
    const editor = await vscode.window.showTextDocument(uri, { selection });
    editor.revealRange(selection, vscode.TextEditorRevealType.InCenterIfOutsideViewport);
  } catch (error) {
    void vscode.window.showErrorMessage(
      `Crucible: could not open ${artifact.file} to show ${artifact.qualifiedName}: ${errorMessage(error)}. ` +
        'If the file moved or was deleted, run "Crucible: Reindex Workspace".',
    );
  }
}

async function reindex(client: LanguageClient, options: unknown): Promise<void> {
  if (!serverAvailable(client)) return;
  // Other callers (tests, later features) may ask to ignore content hashes.
  const force = typeof options === 'object' && options !== null && (options as { force?: unknown }).force === true;
  const summaries = await vscode.window.withProgress(
    { location: vscode.ProgressLocation.Notification, title: 'Crucible: reindexing the workspace', cancellable: true },
    async (_progress, token) => {
      try {
        return await client.sendRequest(ReindexRequest.type, { force }, token);
      } catch (error) {
        if (token.isCancellationRequested) return undefined;
        throw error;
      }
    },
  );
  if (summaries) void vscode.window.showInformationMessage(`Crucible: ${summarize(summaries)}`);
}

function summarize(summaries: FolderSummary[]): string {
  const total = (pick: (s: FolderSummary) => number) => summaries.reduce((sum, s) => sum + pick(s), 0);
  const seconds = (Math.max(0, ...summaries.map((s) => s.ms)) / 1000).toFixed(1);
  const folders = summaries.length > 1 ? ` in ${summaries.length} folders` : '';
  let text = `indexed ${total((s) => s.artifacts)} artifacts in ${total((s) => s.files)} files${folders} (${seconds} s).`;
  const parseErrors = total((s) => s.parseErrors);
  if (parseErrors > 0) text += ` ${parseErrors} file${parseErrors === 1 ? '' : 's'} had parse errors; see the output.`;
  return text;
}

async function findSimilar(client: LanguageClient): Promise<void> {
  if (!serverAvailable(client)) return;
  let result: SimilarResult | undefined;
  const editor = vscode.window.activeTextEditor;
  if (editor && editor.document.uri.scheme === 'file' && (indexedLanguages as readonly string[]).includes(editor.document.languageId)) {
    result = await client.sendRequest(SimilarRequest.type, {
      textDocument: { uri: client.code2ProtocolConverter.asUri(editor.document.uri) },
      position: client.code2ProtocolConverter.asPosition(editor.selection.active),
      k: similarCount,
    });
  }
  if (!result?.source) {
    const picked = await pickArtifact(client, result === undefined ? undefined : 'No artifact at the cursor: pick one to compare');
    if (!picked) {
      void vscode.window.showErrorMessage(
        'Crucible: Find Similar needs an artifact. Put the cursor inside a function, method, class or test, or pick one from the list.',
      );
      return;
    }
    result = await client.sendRequest(SimilarRequest.type, { id: picked.id, k: similarCount });
  }
  const source = result.source;
  if (!source) {
    void vscode.window.showErrorMessage('Crucible: that artifact is no longer in the index. Run "Crucible: Reindex Workspace" and try again.');
    return;
  }
  if (result.items.length === 0) {
    void vscode.window.showInformationMessage(`Crucible: no artifacts similar to ${source.qualifiedName} (${source.file}).`);
    return;
  }
  const choice = await vscode.window.showQuickPick(
    result.items.map(({ artifact, score }) => ({
      label: artifact.qualifiedName,
      description: `score ${score.toFixed(2)} · ${artifact.file}`,
      detail: `${artifact.kind} ${describeArtifact(artifact)}`.trimEnd(),
      artifact,
    })),
    {
      title: `Similar to ${source.qualifiedName} (${source.file})`,
      placeHolder: `Most similar first · embedder: ${result.embedder}`,
      matchOnDescription: true,
      matchOnDetail: true,
    },
  );
  if (choice) await openArtifact(client, choice.artifact);
}

/** Lets the user choose an artifact of the whole workspace; the list loads behind a busy picker. */
async function pickArtifact(client: LanguageClient, placeHolder = 'Pick an artifact to find similar ones'): Promise<ArtifactInfo | undefined> {
  const items = client.sendRequest(ArtifactsRequest.type, {}).then(({ artifacts }) =>
    artifacts.map((artifact) => ({
      label: artifact.qualifiedName,
      description: artifact.file,
      detail: `${artifact.kind} ${describeArtifact(artifact)}`.trimEnd(),
      artifact,
    })),
  );
  const choice = await vscode.window.showQuickPick(items, {
    title: 'Crucible: Find Similar Artifacts',
    placeHolder,
    matchOnDescription: true,
  });
  return choice?.artifact;
}

/** A request to a stopped client would only fail with "Client is not running"; say what to do instead. */
export function serverAvailable(client: LanguageClient): boolean {
  if (client.state === State.Running || client.state === State.Starting) return true;
  void showErrorWithOutput(
    client,
    'Crucible: the language server is not running. Check the output for the reason, then run "Developer: Reload Window".',
  );
  return false;
}

export async function showErrorWithOutput(client: LanguageClient, message: string): Promise<void> {
  if ((await vscode.window.showErrorMessage(message, 'Show Output')) === 'Show Output') client.outputChannel.show();
}

export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
