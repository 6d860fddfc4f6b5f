/**
 * Verified optimization in the editor: the "Optimize Functions with Evidence" command
 * (palette: every function with evidence; the Artifacts tree's context menu: that one)
 * and the three commands behind the server's code lenses on a function with a verified
 * variant — Apply, Diff, Dismiss — each called with the variant id.
 *
 * The server verifies, stores and ranks; the client never computes a variant. The one
 * place the user's file changes is `applyVariant`: the server's edit applied as a
 * `vscode.WorkspaceEdit`, so it lands in the editor's undo stack (Ctrl+Z restores the
 * original) and is not saved. Lenses refresh through `workspace/codeLens/refresh`, which
 * languageclient handles; the Micro-agents view refreshes itself on `crucible/optimizeChanged`.
 */
import * as path from 'node:path';
import * as vscode from 'vscode';
import { WorkDoneProgress, type LanguageClient, type WorkDoneProgressParams } from 'vscode-languageclient/node';
import {
  OptimizeRequest,
  VariantActionRequest,
  type ArtifactInfo,
  type OptimizeParams,
  type OptimizeResult,
  type VariantActionParams,
  type VariantActionResult,
} from '../../server/src/protocol';
import { formatRatio } from '../../server/src/format';
import type { AgentsTreeProvider } from './agentsView';
import { errorMessage, serverAvailable, showErrorWithOutput } from './commands';

/** The scheme of the read-only documents the variant diff shows. */
export const variantScheme = 'crucible-variant';

export const optimizeCommand = 'crucible.optimize';
/** The Artifacts tree's context-menu entry ("Optimize This Function"); same handler. */
export const optimizeFunctionCommand = 'crucible.optimizeFunction';
export const applyVariantCommand = 'crucible.variant.apply';
export const diffVariantCommand = 'crucible.variant.diff';
export const dismissVariantCommand = 'crucible.variant.dismiss';

/** What to optimize: everything with evidence, or some artifacts (by id). */
export interface OptimizeRequestOptions {
  ids?: string[];
  folderUri?: string;
  budget?: number;
}

/**
 * The original and variant texts of the diffs opened so far, served read-only under
 * `crucible-variant:/<original|variant>/<file name>?<variant id>`. The file name keeps the
 * extension, so the documents get the file's language (and it is set explicitly too).
 */
export class VariantDocuments implements vscode.TextDocumentContentProvider, vscode.Disposable {
  private readonly texts = new Map<string, string>();
  private readonly changed = new vscode.EventEmitter<vscode.Uri>();
  readonly onDidChange = this.changed.event;

  uriFor(variantId: string, side: 'original' | 'variant', fileName: string): vscode.Uri {
    return vscode.Uri.from({ scheme: variantScheme, path: `/${side}/${fileName}`, query: variantId });
  }

  set(uri: vscode.Uri, text: string): void {
    const key = uri.toString();
    const before = this.texts.get(key);
    this.texts.set(key, text);
    if (before !== undefined && before !== text) this.changed.fire(uri);
  }

  provideTextDocumentContent(uri: vscode.Uri): string {
    return this.texts.get(uri.toString()) ?? '';
  }

  dispose(): void {
    this.changed.dispose();
  }
}

export interface OptimizeCommands {
  /** Runs the optimizer as the command does (progress, summary, view refresh); undefined when it did not run or was cancelled. */
  optimize(options?: OptimizeRequestOptions): Promise<OptimizeResult | undefined>;
  readonly documents: VariantDocuments;
}

export function registerOptimizeCommands(context: vscode.ExtensionContext, client: LanguageClient, agents: AgentsTreeProvider): OptimizeCommands {
  const documents = new VariantDocuments();
  context.subscriptions.push(documents, vscode.workspace.registerTextDocumentContentProvider(variantScheme, documents));

  // Handlers return their outcome (for executeCommand callers such as tests); a failure is
  // logged and shown, and resolves to undefined.
  const register = <T>(id: string, title: string, run: (...args: unknown[]) => Promise<T>) =>
    context.subscriptions.push(
      vscode.commands.registerCommand(id, async (...args: unknown[]): Promise<T | undefined> => {
        try {
          return await run(...args);
        } catch (error) {
          client.error(`${title} failed`, error, false);
          void showErrorWithOutput(client, `Crucible: ${title} failed: ${errorMessage(error)}`);
          return undefined;
        }
      }),
    );

  const optimize = (options: OptimizeRequestOptions = {}, label?: string) => runOptimize(client, agents, options, label);
  const fromArgument = (arg: unknown) => {
    const artifact = (arg as { artifact?: ArtifactInfo } | undefined)?.artifact;
    if (artifact) return optimize({ ids: [artifact.id] }, artifact.qualifiedName);
    if (typeof arg === 'string') return optimize({ ids: [arg] }, arg.slice(arg.indexOf('#') + 1));
    if (typeof arg === 'object' && arg !== null) return optimize(arg as OptimizeRequestOptions);
    return optimize();
  };
  register(optimizeCommand, 'Optimize Functions with Evidence', fromArgument);
  register(optimizeFunctionCommand, 'Optimize This Function', fromArgument);
  register(applyVariantCommand, 'Apply Variant', (id) => applyVariant(client, variantId(id)));
  register(diffVariantCommand, 'Diff Variant', (id) => diffVariant(client, documents, variantId(id)));
  register(dismissVariantCommand, 'Dismiss Variant', (id) => dismissVariant(client, variantId(id)));

  return { optimize: (options) => optimize(options), documents };
}

function variantId(arg: unknown): string {
  if (typeof arg === 'string' && arg.length > 0) return arg;
  throw new Error('no variant given: this command runs from the code lens above a function with a verified variant.');
}

function variantAction(client: LanguageClient, id: string, action: VariantActionParams['action']): Promise<VariantActionResult> {
  const params: VariantActionParams = { id, action };
  // By method name: a RequestType object from another copy of vscode-jsonrpc is rejected.
  return client.sendRequest(VariantActionRequest.type, params);
}

async function runOptimize(client: LanguageClient, agents: AgentsTreeProvider, options: OptimizeRequestOptions, label?: string): Promise<OptimizeResult | undefined> {
  if (!serverAvailable(client)) return undefined;
  if (!vscode.workspace.isTrusted) {
    void vscode.window.showWarningMessage('Crucible: optimizing runs workspace code (tests and benchmarks of each candidate), so it needs a trusted workspace.');
    return undefined;
  }
  const runId = `vscode-optimize-${Date.now().toString(36)}`;
  // A server that reports through the request's own work-done token shows in this notification.
  const workDoneToken = `${runId}-progress`;
  const params: OptimizeParams & WorkDoneProgressParams = {
    runId,
    workDoneToken,
    ...(options.ids && options.ids.length > 0 ? { ids: options.ids } : {}),
    ...(options.folderUri ? { folderUri: options.folderUri } : {}),
    ...(options.budget !== undefined ? { budget: options.budget } : {}),
  };
  const title = label ? `Crucible: optimizing ${label}` : 'Crucible: optimizing functions with evidence';
  let cancelled = false;
  try {
    const result = await vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title, cancellable: true }, async (progress, token) => {
      const listening = client.onProgress(WorkDoneProgress.type, workDoneToken, (value) => {
        if (value.kind !== 'end' && value.message) progress.report({ message: value.message });
      });
      try {
        // Cancelling the notification sends $/cancelRequest; the server stops and answers with what it has.
        return await client.sendRequest(OptimizeRequest.type, params, token);
      } catch (error) {
        if (token.isCancellationRequested) {
          cancelled = true;
          return undefined;
        }
        throw error;
      } finally {
        listening.dispose();
        cancelled ||= token.isCancellationRequested;
      }
    });
    if (!result) {
      if (cancelled) void vscode.window.showInformationMessage('Crucible: optimization cancelled.');
      return undefined;
    }
    logResult(client, result);
    showSummary(client, result, cancelled);
    return result;
  } finally {
    // Rankings change with every attempt, even a cancelled run's.
    agents.refresh();
  }
}

function logResult(client: LanguageClient, result: OptimizeResult): void {
  const out = client.outputChannel;
  for (const f of result.folders) {
    for (const v of f.variants) out.appendLine(`optimize ${v.artifact}: variant ${v.id} by ${v.agent}, ${formatRatio(v.speedup)} faster: ${v.summary}`);
    for (const r of f.rejected) out.appendLine(`optimize ${r.artifact}: ${r.agent} rejected: ${r.reason}`);
    for (const s of f.skipped) out.appendLine(`optimize ${s.artifact}: skipped: ${s.reason}`);
    for (const n of f.notices) out.appendLine(`optimize: ${n}`);
  }
}

const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;

/** One message: variants found, candidates rejected, functions skipped, and the run's notices. */
export function summarizeOptimize(result: OptimizeResult, cancelled = false): string {
  const variants = result.folders.flatMap((f) => f.variants);
  const rejected = result.folders.flatMap((f) => f.rejected);
  const skipped = result.folders.flatMap((f) => f.skipped);
  const verified = result.folders.reduce((n, f) => n + f.verified, 0);
  const notices = result.folders.flatMap((f) => f.notices);
  let text: string;
  if (variants.length === 0 && rejected.length === 0 && verified === 0) {
    text =
      skipped.length === 1
        ? `nothing optimized: ${skipped[0].artifact.slice(skipped[0].artifact.indexOf('#') + 1)} was skipped (${skipped[0].reason}).`
        : skipped.length > 0
          ? `nothing optimized: ${plural(skipped.length, 'function')} skipped (see the output for why).`
          : 'nothing to optimize yet: no function has recorded evidence. Run the tests from the Testing view first.';
  } else {
    const found = variants.length === 0 ? 'no faster variant found' : `${plural(variants.length, 'faster variant')} found (see the code lens above ${variants.length === 1 ? 'the function' : 'each function'})`;
    const best = variants.length > 0 ? Math.max(...variants.map((v) => v.speedup)) : undefined;
    text = `${found}${best !== undefined ? `, up to ${formatRatio(best)}` : ''}; ${plural(rejected.length, 'candidate')} rejected${skipped.length ? `; ${plural(skipped.length, 'function')} skipped` : ''}.`;
  }
  if (cancelled) text = `cancelled: ${text}`;
  if (notices.length > 0) text += ` ${notices.map((n) => (/[.!?]$/.test(n) ? n : `${n}.`)).join(' ')}`;
  return `Crucible: ${text}`;
}

function showSummary(client: LanguageClient, result: OptimizeResult, cancelled: boolean): void {
  const text = summarizeOptimize(result, cancelled);
  const details = result.folders.some((f) => f.rejected.length > 0 || f.skipped.length > 0);
  // Not awaited: the message stays until dismissed, and the command is done.
  void vscode.window.showInformationMessage(text, ...(details ? ['Show Output'] : [])).then((choice) => {
    if (choice === 'Show Output') client.outputChannel.show();
  });
}

/**
 * Asks the server for the edit and applies it as a normal (undoable, unsaved) edit; then
 * tells the server it was applied. Returns whether the file changed.
 */
export async function applyVariant(client: LanguageClient, id: string): Promise<boolean> {
  if (!serverAvailable(client)) return false;
  const result = await variantAction(client, id, 'apply');
  if (result.problem) {
    void vscode.window.showWarningMessage(`Crucible: ${result.problem}`);
    return false;
  }
  if (!result.uri || !result.edit) throw new Error('the server answered without an edit.');
  const uri = client.protocol2CodeConverter.asUri(result.uri);
  const range = client.protocol2CodeConverter.asRange(result.edit.range);
  const edit = new vscode.WorkspaceEdit();
  edit.replace(uri, range, result.edit.newText);
  if (!(await vscode.workspace.applyEdit(edit))) {
    void vscode.window.showWarningMessage(`Crucible: the variant could not be applied to ${vscode.workspace.asRelativePath(uri)} (the file may be read-only or was changed meanwhile).`);
    return false;
  }
  // The server stops offering it (and a lens on the new code would be stale anyway).
  await variantAction(client, id, 'applied');
  if (!vscode.window.visibleTextEditors.some((e) => e.document.uri.toString() === uri.toString())) {
    // Applied from elsewhere than the editor's lens: show where the file changed (Ctrl+Z undoes it there).
    await vscode.window.showTextDocument(uri, { selection: new vscode.Range(range.start, range.start) });
  }
  return true;
}

/** Opens `vscode.diff` between the original (as verified) and the variant, read-only. */
export async function diffVariant(client: LanguageClient, documents: VariantDocuments, id: string): Promise<boolean> {
  if (!serverAvailable(client)) return false;
  const result = await variantAction(client, id, 'diff');
  if (result.problem) {
    void vscode.window.showWarningMessage(`Crucible: ${result.problem}`);
    return false;
  }
  if (result.original === undefined || result.variant === undefined) throw new Error('the server answered without the texts to compare.');
  const fileUri = result.uri ? client.protocol2CodeConverter.asUri(result.uri) : undefined;
  const fileName = fileUri ? path.posix.basename(fileUri.path) : 'variant';
  const left = documents.uriFor(id, 'original', fileName);
  const right = documents.uriFor(id, 'variant', fileName);
  documents.set(left, result.original);
  documents.set(right, result.variant);
  const languageId = fileUri ? await languageOf(fileUri) : undefined;
  if (languageId) {
    for (const uri of [left, right]) {
      const doc = await vscode.workspace.openTextDocument(uri);
      if (doc.languageId !== languageId) await vscode.languages.setTextDocumentLanguage(doc, languageId);
    }
  }
  const title = result.title ?? `${id.slice(id.indexOf('#') + 1)}: original ↔ variant`;
  await vscode.commands.executeCommand('vscode.diff', left, right, title, { preview: true });
  return true;
}

async function languageOf(uri: vscode.Uri): Promise<string | undefined> {
  const open = vscode.workspace.textDocuments.find((d) => d.uri.toString() === uri.toString());
  if (open) return open.languageId;
  try {
    return (await vscode.workspace.openTextDocument(uri)).languageId;
  } catch {
    return undefined;
  }
}

/** Remembered by the server: the same code is not offered for this function again. */
export async function dismissVariant(client: LanguageClient, id: string): Promise<boolean> {
  if (!serverAvailable(client)) return false;
  const result = await variantAction(client, id, 'dismiss');
  if (result.problem) {
    void vscode.window.showWarningMessage(`Crucible: ${result.problem}`);
    return false;
  }
  vscode.window.setStatusBarMessage('Crucible: variant dismissed; it will not be offered again.', 5000);
  return true;
}
