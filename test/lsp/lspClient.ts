/**
 * A minimal LSP client for driving the built language server (dist/server.js)
 * over stdio in tests: it plays the part VS Code plays, answers the requests the
 * server makes of its client, and records every notification so a test can wait
 * for one (`waitFor`) instead of sleeping.
 *
 * Everything the server sends is kept in `received` in arrival order; a test takes
 * a `mark()` before an action and waits for a message after that mark, so a
 * notification that raced ahead of the `waitFor` call is never missed.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import {
  createMessageConnection,
  ExitNotification,
  InitializedNotification,
  type InitializeParams,
  InitializeRequest,
  type InitializeResult,
  type NotificationType,
  type MessageConnection,
  ResponseError,
  ErrorCodes,
  ShutdownRequest,
  StreamMessageReader,
  StreamMessageWriter,
} from 'vscode-languageserver-protocol/node';

export const repoRoot = path.resolve(__dirname, '..', '..');
/** The bundle under test; CRUCIBLE_LSP_SERVER points the tests at another build (e.g. a patched copy). */
export const serverPath = process.env.CRUCIBLE_LSP_SERVER ? path.resolve(process.env.CRUCIBLE_LSP_SERVER) : path.join(repoRoot, 'dist', 'server.js');

/** One message from the server, request or notification, in arrival order. */
export interface Received {
  seq: number;
  kind: 'notification' | 'request';
  method: string;
  params: any;
}

export interface StartOptions {
  /** Workspace folder (absolute path). */
  root: string;
  /** What `workspace/configuration` answers for the `crucible` section; changeable later via `client.settings`. */
  settings?: unknown;
  /** Defaults to true: declare `window.workDoneProgress`. */
  workDoneProgress?: boolean;
}

/** Default time a test waits for the server to say something. */
export const defaultWaitMs = 15_000;

export class LspClient {
  readonly received: Received[] = [];
  /** Answered with `settings` for every `workspace/configuration` item. */
  settings: unknown;
  readonly rootUri: string;
  private readonly listeners = new Set<() => void>();
  private stderr = '';
  private exitInfo: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  private readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private seq = 0;

  private constructor(
    readonly child: ChildProcess,
    readonly connection: MessageConnection,
    readonly root: string,
    settings: unknown,
  ) {
    this.settings = settings;
    this.rootUri = pathToFileURL(root).toString();
    this.exited = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        this.exitInfo = { code, signal };
        resolve(this.exitInfo);
        this.wake();
      });
    });
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (d: string) => {
      this.stderr = (this.stderr + d).slice(-20_000);
    });

    connection.onNotification((method, params) => this.record('notification', method, params));
    connection.onUnhandledProgress((params) => this.record('notification', '$/progress', params));
    connection.onRequest((method, params) => {
      this.record('request', method, params);
      switch (method) {
        case 'workspace/configuration': {
          const items = (params as { items: unknown[] }).items;
          return items.map(() => this.settings ?? null);
        }
        case 'window/workDoneProgress/create':
        case 'client/registerCapability':
        case 'client/unregisterCapability':
        case 'window/showMessageRequest':
          return null;
        default:
          return new ResponseError(ErrorCodes.MethodNotFound, `test client does not handle ${method}`);
      }
    });
    connection.onError(() => undefined);
    connection.onClose(() => this.wake());
    connection.listen();
  }

  /** Spawns `node dist/server.js --stdio` and connects to it (not yet initialized). */
  static start(options: StartOptions): LspClient {
    if (!existsSync(serverPath)) throw new Error(`${serverPath} is missing: run \`npm run build:fast\` first`);
    const child = spawn(process.execPath, [serverPath, '--stdio'], { cwd: options.root, stdio: ['pipe', 'pipe', 'pipe'] });
    const connection = createMessageConnection(new StreamMessageReader(child.stdout!), new StreamMessageWriter(child.stdin!));
    return new LspClient(child, connection, options.root, options.settings);
  }

  /** `initialize` with the root as the only workspace folder, then `initialized`. */
  async initialize(overrides: Partial<InitializeParams> = {}): Promise<InitializeResult> {
    const params: InitializeParams = {
      processId: process.pid,
      clientInfo: { name: 'crucible-lsp-tests' },
      rootUri: this.rootUri,
      workspaceFolders: [{ uri: this.rootUri, name: path.basename(this.root) }],
      capabilities: {
        window: { workDoneProgress: true, showMessage: { messageActionItem: { additionalPropertiesSupport: false } } },
        workspace: {
          configuration: true,
          workspaceFolders: true,
          didChangeConfiguration: { dynamicRegistration: true },
          didChangeWatchedFiles: { dynamicRegistration: false },
          symbol: { dynamicRegistration: false },
        },
        textDocument: { synchronization: { dynamicRegistration: false, didSave: true } },
      },
      ...overrides,
    };
    const result = await this.within(this.connection.sendRequest(InitializeRequest.type, params), defaultWaitMs, 'the initialize response');
    await this.connection.sendNotification(InitializedNotification.type, {});
    return result;
  }

  /** Index of the next message to arrive: wait for messages `since` it. */
  mark(): number {
    return this.received.length;
  }

  /** All notifications of a method received so far (optionally since a mark). */
  notifications<P = any>(method: string | NotificationType<P>, since = 0): P[] {
    const m = typeof method === 'string' ? method : method.method;
    return this.received.slice(since).filter((r) => r.kind === 'notification' && r.method === m).map((r) => r.params as P);
  }

  /** All requests of a method the server made of this client. */
  requests(method: string, since = 0): any[] {
    return this.received.slice(since).filter((r) => r.kind === 'request' && r.method === method).map((r) => r.params);
  }

  /** Waits for a notification (at or after `since`) matching `predicate`; fails naming what did arrive. */
  waitFor<P>(
    method: string | NotificationType<P>,
    predicate: (params: P) => boolean = () => true,
    options: { timeoutMs?: number; since?: number; kind?: Received['kind'] } = {},
  ): Promise<P> {
    const m = typeof method === 'string' ? method : method.method;
    const kind = options.kind ?? 'notification';
    const since = options.since ?? 0;
    const timeoutMs = options.timeoutMs ?? defaultWaitMs;
    return new Promise<P>((resolve, reject) => {
      let next = since;
      const check = (): boolean => {
        for (; next < this.received.length; next++) {
          const r = this.received[next];
          if (r.kind === kind && r.method === m && predicate(r.params as P)) {
            done();
            resolve(r.params as P);
            return true;
          }
        }
        if (this.exitInfo) {
          done();
          reject(new Error(`server exited (code ${this.exitInfo.code}, signal ${this.exitInfo.signal}) while waiting for ${kind} ${m}\n${this.describe(m, since)}`));
          return true;
        }
        return false;
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${kind} ${m} matching the predicate\n${this.describe(m, since)}`));
      }, timeoutMs);
      const done = () => {
        clearTimeout(timer);
        this.listeners.delete(listener);
      };
      const listener = () => void check();
      if (!check()) this.listeners.add(listener);
    });
  }

  /** Waits for a request the server makes of the client (answered by the handlers above). */
  waitForRequest(method: string, predicate: (params: any) => boolean = () => true, options: { timeoutMs?: number; since?: number } = {}): Promise<any> {
    return this.waitFor(method, predicate, { ...options, kind: 'request' });
  }

  /** Sends `shutdown` then `exit`; resolves with the exit code, failing if the process doesn't exit in time. */
  async shutdownAndExit(timeoutMs = 10_000): Promise<number | null> {
    await this.within(this.connection.sendRequest(ShutdownRequest.type), timeoutMs, 'the shutdown response');
    await this.connection.sendNotification(ExitNotification.type);
    const { code, signal } = await this.within(this.exited, timeoutMs, 'the server process to exit after `exit`');
    if (signal) throw new Error(`server was killed by ${signal}\n${this.stderrTail()}`);
    return code;
  }

  get hasExited(): boolean {
    return this.exitInfo !== undefined;
  }

  /** Always safe: kills the process if it is still running and drops the connection. */
  async dispose(): Promise<void> {
    this.connection.dispose();
    if (!this.exitInfo) {
      this.child.kill('SIGKILL');
      await Promise.race([this.exited, new Promise((r) => setTimeout(r, 2000).unref())]);
    }
  }

  stderrTail(): string {
    return this.stderr ? `server stderr (tail):\n${this.stderr.slice(-3000)}` : 'server stderr: (empty)';
  }

  /** The server's `window/logMessage` lines, for failure messages. */
  logLines(since = 0): string[] {
    return this.notifications<{ type: number; message: string }>('window/logMessage', since).map((l) => l.message);
  }

  private describe(method: string, since: number): string {
    const same = this.received.slice(since).filter((r) => r.method === method);
    const methods = [...new Set(this.received.slice(since).map((r) => r.method))];
    return [
      `received ${same.length} ${method} message(s) since mark ${since}: ${JSON.stringify(same.slice(-3).map((r) => r.params)).slice(0, 1500)}`,
      `methods seen since mark: ${methods.join(', ') || '(none)'}`,
      `server log: ${JSON.stringify(this.logLines().slice(-10)).slice(0, 1500)}`,
      this.stderrTail(),
    ].join('\n');
  }

  private record(kind: Received['kind'], method: string, params: unknown): void {
    this.received.push({ seq: this.seq++, kind, method, params });
    this.wake();
  }

  private wake(): void {
    for (const l of [...this.listeners]) l();
  }

  private within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}\n${this.stderrTail()}`)), ms);
      p.then(
        (v) => {
          clearTimeout(timer);
          resolve(v);
        },
        (e) => {
          clearTimeout(timer);
          reject(e);
        },
      );
    });
  }
}

// ---- temp workspaces ------------------------------------------------------------------

/** A fresh empty folder under the OS temp dir (real path, so URIs match what the server computes). */
export function makeTempDir(prefix = 'crucible-lsp-'): string {
  return mkdtempSync(path.join(realpathSync(os.tmpdir()), prefix));
}

/** A temp workspace holding the given files (relative path → text or bytes). */
export function makeWorkspace(files: Record<string, string | Uint8Array>): string {
  const root = makeTempDir();
  for (const [rel, content] of Object.entries(files)) writeFile(root, rel, content);
  return root;
}

export function writeFile(root: string, rel: string, content: string | Uint8Array): string {
  const abs = path.join(root, ...rel.split('/'));
  mkdirSync(path.dirname(abs), { recursive: true });
  writeFileSync(abs, content);
  return abs;
}

/** A temp copy of examples/demo-shop's src/ and test/ (not its .crucible/). */
export function copyDemoShop(): string {
  const root = makeTempDir('crucible-lsp-demo-');
  const demo = path.join(repoRoot, 'examples', 'demo-shop');
  for (const dir of ['src', 'test']) cpSync(path.join(demo, dir), path.join(root, dir), { recursive: true });
  return root;
}

export function removeWorkspace(root: string | undefined): void {
  if (root) rmSync(root, { recursive: true, force: true, maxRetries: 3 });
}

export function fileUri(root: string, rel: string): string {
  return pathToFileURL(path.join(root, ...rel.split('/'))).toString();
}
