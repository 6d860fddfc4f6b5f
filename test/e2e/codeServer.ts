/**
 * A real VS Code for the end-to-end tests: code-server from npm, installed once into
 * `.cache/code-server-<version>/` and started on 127.0.0.1 in its own process group with
 * throw-away HOME, user data and extensions folders.
 *
 * The install is trusted only after it was verified (native modules built, `--version`
 * answers); a marker file records that. A folder without the marker, or whose files no
 * longer check out, is a broken or interrupted install and is redone from scratch.
 */
import { execFile, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { accessSync, constants, cpSync, createWriteStream, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';

export const repoRoot = path.resolve(__dirname, '..', '..');
/** The newest code-server that runs on Node 20 (later ones need Node 24). */
export const codeServerVersion = '4.100.3';
export const defaultInstallDir = path.join(repoRoot, '.cache', `code-server-${codeServerVersion}`);
export const resultsDir = path.join(repoRoot, 'test-results', 'e2e');
export const logsDir = path.join(resultsDir, 'logs');

let resultsReady = false;
/** Empties test-results/e2e once per test process, so what is there belongs to this run. */
export function prepareResultsDir(): string {
  if (!resultsReady) {
    resultsReady = true;
    rmSync(resultsDir, { recursive: true, force: true });
  }
  mkdirSync(logsDir, { recursive: true });
  return resultsDir;
}

const markerName = '.crucible-verified-install.json';
/** Relative to the package folder: files that exist only when code-server's postinstall really ran. */
const postinstallProducts = [
  'out/node/entry.js',
  'lib/vscode/node_modules.asar', // symlink made by postinstall.sh
  'lib/vscode/node_modules/node-pty/build/Release/pty.node',
  'lib/vscode/node_modules/@vscode/spdlog/build/Release/spdlog.node',
  'lib/vscode/node_modules/kerberos/build/Release/kerberos.node',
  'lib/vscode/node_modules/@vscode/ripgrep/bin/rg',
  'lib/vscode/extensions/node_modules',
];

export interface CodeServerInstall {
  dir: string;
  /** `out/node/entry.js`, started with this Node. */
  entry: string;
}

const packageDir = (dir: string) => path.join(dir, 'node_modules', 'code-server');

/**
 * What is wrong with the install in `dir`, or undefined when it can be used as it is.
 * Cheap (file checks only): the expensive `--version` check ran before the marker was written.
 */
export function installProblem(dir: string, version = codeServerVersion): string | undefined {
  const marker = path.join(dir, markerName);
  if (!existsSync(dir)) return 'not installed';
  if (!existsSync(marker)) return `no verified-install marker (${marker}): the last install did not finish`;
  let recorded: { version?: string; nodeAbi?: string };
  try {
    recorded = JSON.parse(readFileSync(marker, 'utf8'));
  } catch (error) {
    return `unreadable marker ${marker}: ${(error as Error).message}`;
  }
  if (recorded.version !== version) return `marker records code-server ${recorded.version}, wanted ${version}`;
  // Native modules are built for one Node ABI; another Node needs a rebuild.
  if (recorded.nodeAbi !== process.versions.modules) return `built for Node ABI ${recorded.nodeAbi}, this Node is ${process.versions.modules}`;
  for (const rel of postinstallProducts) {
    if (!existsSync(path.join(packageDir(dir), rel))) return `${path.join(packageDir(dir), rel)} is missing`;
  }
  return undefined;
}

/**
 * Returns a verified install in `dir`, installing (or re-installing) when needed.
 * `log` receives one line per step; npm's full output goes to `logs/code-server-install.log`.
 */
export async function ensureCodeServer(options: { dir?: string; log?: (line: string) => void } = {}): Promise<CodeServerInstall> {
  const dir = options.dir ?? defaultInstallDir;
  const log = options.log ?? (() => undefined);
  const install = { dir, entry: path.join(packageDir(dir), 'out', 'node', 'entry.js') };
  const problem = installProblem(dir);
  if (!problem) {
    log(`code-server ${codeServerVersion}: cached in ${path.relative(repoRoot, dir) || dir}`);
    return install;
  }
  log(`code-server ${codeServerVersion}: installing into ${path.relative(repoRoot, dir) || dir} (${problem}); this takes about 2 minutes`);
  await ensureDebianPackages([
    { pkg: 'libkrb5-dev', present: () => existsSync('/usr/include/krb5.h') || existsSync('/usr/include/gssapi/gssapi.h') },
    { pkg: 'ripgrep', present: () => onPath('rg') !== undefined },
  ]);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  provideRipgrepDownload();
  // A package.json of its own keeps the install out of the repo's dependency tree and records
  // that code-server's install script is wanted (npm 11's allowScripts policy).
  writeFileSync(
    path.join(dir, 'package.json'),
    JSON.stringify({ name: 'crucible-e2e-code-server', private: true, allowScripts: { 'code-server': true, argon2: true } }, null, 2),
  );
  prepareResultsDir();
  const logFile = path.join(logsDir, 'code-server-install.log');
  const started = Date.now();
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    // node-pty's install script runs `npx node-gyp`, which must not stop to ask.
    npm_config_yes: 'true',
    // --unsafe-perm: code-server's postinstall refuses to run as root without it (it reads this
    // variable; npm 11 no longer knows the flag and only warns about it).
    npm_config_unsafe_perm: 'true',
    // Whatever a user's npmrc says, this install is pointless without its scripts.
    npm_config_ignore_scripts: 'false',
    npm_config_foreground_scripts: 'true',
    npm_config_audit: 'false',
    npm_config_fund: 'false',
    npm_config_update_notifier: 'false',
  };
  // node-gyp downloads Node's headers unless it finds them locally (the machine's npmrc may say
  // where, but not when HOME differs); the CI machines can't download them.
  const nodePrefix = path.dirname(path.dirname(process.execPath));
  if (!env.npm_config_nodedir && existsSync(path.join(nodePrefix, 'include', 'node', 'node.h'))) env.npm_config_nodedir = nodePrefix;
  const code = await spawnLogged('npm', ['install', `code-server@${codeServerVersion}`], { cwd: dir, env, logFile, timeoutMs: 20 * 60_000 });
  if (code !== 0) throw new Error(`npm install code-server@${codeServerVersion} failed (exit code ${code}); see ${logFile}`);

  const missing = postinstallProducts.filter((rel) => !existsSync(path.join(packageDir(dir), rel)));
  if (missing.length > 0) {
    throw new Error(`code-server's postinstall did not finish: missing ${missing.join(', ')} in ${packageDir(dir)}; see ${logFile}`);
  }
  const version = await codeServerVersionOf(install);
  if (!version.startsWith(codeServerVersion)) throw new Error(`${install.entry} --version printed "${version}", expected ${codeServerVersion}; see ${logFile}`);
  writeFileSync(
    path.join(dir, markerName),
    JSON.stringify({ version: codeServerVersion, nodeAbi: process.versions.modules, node: process.version, verified: new Date().toISOString(), reported: version }, null, 2),
  );
  log(`code-server ${codeServerVersion}: installed and verified in ${((Date.now() - started) / 1000).toFixed(0)} s`);
  return install;
}

/** `code-server --version`, run with a throw-away HOME: it writes a config file into HOME on every start. */
async function codeServerVersionOf(install: CodeServerInstall): Promise<string> {
  const home = mkdtempSync(path.join(os.tmpdir(), 'crucible-e2e-version-'));
  try {
    const { stdout } = await promisify(execFile)(process.execPath, [install.entry, '--version'], { env: isolatedEnv(home), timeout: 60_000 });
    return stdout.trim().split('\n').pop() ?? '';
  } finally {
    rmSync(home, { recursive: true, force: true });
  }
}

/**
 * `@vscode/ripgrep` (inside code-server) downloads ripgrep from GitHub unless it finds the
 * archive in its cache in os.tmpdir(); Debian's `rg` packed under that name satisfies it.
 */
function provideRipgrepDownload(): void {
  if (process.platform !== 'linux' || process.arch !== 'x64') return;
  const archive = path.join(os.tmpdir(), 'vscode-ripgrep-cache-1.15.11', 'ripgrep-v13.0.0-10-x86_64-unknown-linux-musl.tar.gz');
  if (existsSync(archive)) return;
  const rg = onPath('rg');
  if (!rg) return;
  mkdirSync(path.dirname(archive), { recursive: true });
  const staging = mkdtempSync(path.join(os.tmpdir(), 'crucible-e2e-rg-'));
  try {
    cpSync(rg, path.join(staging, 'rg'));
    const tar = spawnSync('tar', ['-czf', archive, '-C', staging, 'rg'], { encoding: 'utf8' });
    if (tar.status !== 0) throw new Error(`could not pack ${rg} as ${archive}: ${tar.error?.message ?? tar.stderr}`);
  } finally {
    rmSync(staging, { recursive: true, force: true });
  }
}

export function onPath(bin: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    const candidate = path.join(dir, bin);
    try {
      accessSync(candidate, constants.X_OK);
      if (statSync(candidate).isFile()) return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

export interface DebianPackage {
  pkg: string;
  present(): boolean;
}

/**
 * Installs the Debian packages that are missing, when running as root with apt-get (CI);
 * otherwise fails with the command a person should run.
 */
export async function ensureDebianPackages(packages: DebianPackage[]): Promise<void> {
  const missing = packages.filter((p) => !p.present()).map((p) => p.pkg);
  if (missing.length === 0) return;
  const command = `apt-get install -y ${missing.join(' ')}`;
  if (process.getuid?.() !== 0 || !onPath('apt-get')) {
    throw new Error(`The end-to-end tests need the Debian packages ${missing.join(', ')}. Install them with: sudo ${command}`);
  }
  prepareResultsDir();
  const logFile = path.join(logsDir, 'apt-get.log');
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const updated = await spawnLogged('apt-get', ['update', '-qq'], { env, logFile, timeoutMs: 10 * 60_000 });
  const installed = updated === 0 ? await spawnLogged('apt-get', ['install', '-y', '-qq', ...missing], { env, logFile, timeoutMs: 15 * 60_000 }) : updated;
  const still = packages.filter((p) => !p.present()).map((p) => p.pkg);
  if (installed !== 0 || still.length > 0) throw new Error(`\`${command}\` failed (exit code ${installed}); see ${logFile}`);
}

/**
 * Runs a command in its own process group with its output appended to `logFile`; resolves
 * with the exit code. The group is killed on timeout and when the test process ends.
 */
export function spawnLogged(cmd: string, args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv; logFile: string; timeoutMs: number }): Promise<number> {
  return new Promise((resolve, reject) => {
    const out = createWriteStream(options.logFile, { flags: 'a' });
    out.write(`\n$ ${cmd} ${args.join(' ')}  (${new Date().toISOString()}, cwd ${options.cwd ?? process.cwd()})\n`);
    const child = spawn(cmd, args, { cwd: options.cwd, env: options.env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    const group = trackGroup(child);
    child.stdout!.pipe(out, { end: false });
    child.stderr!.pipe(out, { end: false });
    const timer = setTimeout(() => {
      out.write(`\n[killed after ${options.timeoutMs} ms]\n`);
      killGroupNow(group);
    }, options.timeoutMs);
    child.once('error', (error) => {
      clearTimeout(timer);
      untrackGroup(group);
      out.end();
      reject(new Error(`could not run ${cmd}: ${error.message}`));
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      untrackGroup(group);
      out.end(`[exit code ${code}${signal ? `, signal ${signal}` : ''}]\n`);
      resolve(code ?? 1);
    });
  });
}

// ---------------------------------------------------------------------------------------
// Process groups: every long-lived child runs detached (setsid) and is killed as a group,
// also when the test process is interrupted or exits, so no watcher or server survives.

const liveGroups = new Set<number>();
/** Temp folders to remove if the process ends before their owner could. */
const liveTempDirs = new Set<string>();
let exitHooksInstalled = false;

function installExitHooks(): void {
  if (exitHooksInstalled) return;
  exitHooksInstalled = true;
  process.on('exit', () => {
    liveGroups.forEach(killGroupNow);
    liveTempDirs.forEach((dir) => rmSync(dir, { recursive: true, force: true }));
  });
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.on(signal, () => {
      liveGroups.forEach(killGroupNow);
      // Ours was the only handler, which suppressed Node's default: exit as the signal would have.
      if (process.listenerCount(signal) === 1) process.exit(128 + os.constants.signals[signal]);
    });
  }
}

/** A temp folder that is removed with `remove()`, or when the test process ends, whichever comes first. */
export function tempDirUntilExit(prefix: string): { dir: string; remove(): void } {
  installExitHooks();
  const dir = mkdtempSync(path.join(os.tmpdir(), prefix));
  liveTempDirs.add(dir);
  return {
    dir,
    remove() {
      liveTempDirs.delete(dir);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

function trackGroup(child: ChildProcess): number {
  installExitHooks();
  const pgid = child.pid!;
  liveGroups.add(pgid);
  return pgid;
}

function untrackGroup(pgid: number): void {
  liveGroups.delete(pgid);
}

function killGroupNow(pgid: number): void {
  try {
    process.kill(-pgid, 'SIGKILL');
  } catch {
    // already gone
  }
}

/** True while any process of the group is alive. */
export function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** SIGTERM to the group, SIGKILL after `graceMs`, then waits until no process of it is left. */
export async function stopGroup(pgid: number, graceMs = 3000): Promise<void> {
  try {
    process.kill(-pgid, 'SIGTERM');
  } catch {
    untrackGroup(pgid);
    return;
  }
  const deadline = Date.now() + graceMs;
  while (groupAlive(pgid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  if (groupAlive(pgid)) killGroupNow(pgid);
  const killDeadline = Date.now() + 5000;
  while (groupAlive(pgid) && Date.now() < killDeadline) await new Promise((r) => setTimeout(r, 50));
  untrackGroup(pgid);
  if (groupAlive(pgid)) throw new Error(`process group ${pgid} is still alive after SIGKILL`);
}

// ---------------------------------------------------------------------------------------

/** An environment whose HOME and XDG folders are inside `home`, without VS Code's own variables. */
function isolatedEnv(home: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    // A VS Code terminal's variables would make code-server talk to that VS Code.
    if (key.startsWith('VSCODE_') || key === 'ELECTRON_RUN_AS_NODE' || key.startsWith('npm_')) continue;
    env[key] = value;
  }
  return {
    ...env,
    HOME: home,
    XDG_CONFIG_HOME: path.join(home, '.config'),
    XDG_DATA_HOME: path.join(home, '.local', 'share'),
    XDG_CACHE_HOME: path.join(home, '.cache'),
    XDG_STATE_HOME: path.join(home, '.local', 'state'),
    XDG_RUNTIME_DIR: path.join(home, '.run'),
  };
}

/** Settings that keep a test window quiet and typing predictable. */
const userSettings = {
  'workbench.startupEditor': 'none',
  'workbench.tips.enabled': false,
  'workbench.enableExperiments': false,
  'telemetry.telemetryLevel': 'off',
  'update.mode': 'none',
  'extensions.autoUpdate': false,
  'extensions.autoCheckUpdates': false,
  'extensions.ignoreRecommendations': true,
  // Automatic type acquisition would try the network.
  'typescript.disableAutomaticTypeAcquisition': true,
  'typescript.tsserver.web.typeAcquisition.enabled': false,
  // Typed text lands exactly as typed: no auto-closing, auto-indent or accepted suggestions.
  'editor.autoClosingBrackets': 'never',
  'editor.autoClosingQuotes': 'never',
  'editor.autoClosingComments': 'never',
  'editor.autoIndent': 'none',
  'editor.formatOnType': false,
  'editor.quickSuggestions': { other: false, comments: false, strings: false },
  'editor.suggestOnTriggerCharacters': false,
  'editor.acceptSuggestionOnEnter': 'off',
  'editor.parameterHints.enabled': false,
  'git.enabled': false,
  // VS Code for the web saves after a delay by default; off, an edit stays an unsaved buffer
  // (what the language server sees through didChange) until a test saves or reverts it.
  'files.autoSave': 'off',
};

export interface StartOptions {
  install: CodeServerInstall;
  /** VSIX files installed into the throw-away extensions folder before the start. */
  vsixes?: string[];
  /** Defaults to a free port. */
  port?: number;
  /** code-server's stdout and stderr; defaults to `logs/code-server.log`. */
  logFile?: string;
  /** How long to wait for "HTTP server listening". */
  readyTimeoutMs?: number;
}

export interface CodeServer {
  readonly url: string;
  readonly port: number;
  /** Process group id (= pid of the code-server process). */
  readonly pgid: number;
  readonly logFile: string;
  readonly userDataDir: string;
  /** A URI the workbench opens as a file of the server machine (extensionDevelopmentPath etc.). */
  remoteUri(absolutePath: string): string;
  /** A temp copy of `folder` that this server removes when it stops. */
  copyWorkspace(folder: string, name?: string): string;
  /** The workbench URL for a folder, with an optional `payload` (name/value pairs). */
  workbenchUrl(folder: string, payload?: [string, string][]): string;
  /** Stops the whole process group and removes the temp folders. Idempotent. */
  stop(): Promise<void>;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/**
 * Starts code-server and resolves once it listens. Fails fast, naming the cause and the log,
 * when it exits during start-up (port taken, broken install) or does not get ready in time;
 * no process of its group is left behind either way.
 */
export async function startCodeServer(options: StartOptions): Promise<CodeServer> {
  const port = options.port ?? (await freePort());
  prepareResultsDir();
  const logFile = options.logFile ?? path.join(logsDir, 'code-server.log');
  mkdirSync(path.dirname(logFile), { recursive: true });
  const temp = tempDirUntilExit('crucible-e2e-');
  const root = temp.dir;
  const home = path.join(root, 'home');
  const userDataDir = path.join(root, 'user-data');
  const extensionsDir = path.join(root, 'extensions');
  for (const dir of [home, path.join(home, '.run'), path.join(userDataDir, 'User'), extensionsDir]) mkdirSync(dir, { recursive: true });
  writeFileSync(path.join(userDataDir, 'User', 'settings.json'), JSON.stringify(userSettings, null, 2));
  const env = isolatedEnv(home);
  const common = ['--user-data-dir', userDataDir, '--extensions-dir', extensionsDir];
  const cleanup = () => temp.remove();

  try {
    for (const vsix of options.vsixes ?? []) {
      const code = await spawnLogged(process.execPath, [options.install.entry, ...common, '--install-extension', vsix, '--force'], { env, logFile, timeoutMs: 120_000 });
      if (code !== 0) throw new Error(`code-server --install-extension ${vsix} failed (exit code ${code}); see ${logFile}`);
    }
  } catch (error) {
    cleanup();
    throw error;
  }

  const out = createWriteStream(logFile, { flags: 'a' });
  out.write(`\n$ code-server on 127.0.0.1:${port} (${new Date().toISOString()})\n`);
  const child = spawn(
    process.execPath,
    [
      options.install.entry,
      '--bind-addr', `127.0.0.1:${port}`,
      '--auth', 'none',
      '--disable-telemetry',
      '--disable-update-check',
      '--disable-workspace-trust',
      '--disable-getting-started-override',
      ...common,
    ],
    { env, cwd: root, stdio: ['ignore', 'pipe', 'pipe'], detached: true },
  );
  if (child.pid === undefined) {
    cleanup();
    throw new Error(`could not start ${process.execPath} ${options.install.entry}`);
  }
  const pgid = trackGroup(child);
  child.stdout!.pipe(out, { end: false });
  child.stderr!.pipe(out, { end: false });

  let recent = '';
  const ready = new Promise<void>((resolve, reject) => {
    const timeoutMs = options.readyTimeoutMs ?? 60_000;
    const timer = setTimeout(
      () => reject(new Error(`code-server did not report "HTTP server listening" within ${timeoutMs / 1000} s; its output is in ${logFile}`)),
      timeoutMs,
    );
    const watch = (chunk: Buffer) => {
      recent = (recent + chunk.toString('utf8')).slice(-8000);
      if (/HTTP server listening on/.test(recent)) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout!.on('data', watch);
    child.stderr!.on('data', watch);
    child.once('error', (error) => {
      clearTimeout(timer);
      reject(new Error(`could not start code-server: ${error.message}; see ${logFile}`));
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      const inUse = /EADDRINUSE/.test(recent) ? ` because port 127.0.0.1:${port} is already in use` : '';
      const tail = recent.trim().split('\n').slice(-5).join('\n');
      reject(new Error(`code-server exited during start-up (exit code ${code}${signal ? `, signal ${signal}` : ''})${inUse}; its output is in ${logFile}:\n${tail}`));
    });
  });

  let stopped: Promise<void> | undefined;
  const stop = () =>
    (stopped ??= (async () => {
      try {
        await stopGroup(pgid);
      } finally {
        out.end();
        // The workbench and extension host logs (the Crucible output channel among them) outlive the temp folder.
        try {
          cpSync(path.join(userDataDir, 'logs'), path.join(path.dirname(logFile), `vscode-logs-${port}`), { recursive: true });
        } catch {
          // no logs written (it never got that far)
        }
        cleanup();
      }
    })());

  try {
    await ready;
  } catch (error) {
    await stop();
    throw error;
  }

  const url = `http://127.0.0.1:${port}`;
  const remoteUri = (absolutePath: string) => `vscode-remote://127.0.0.1:${port}${absolutePath.split(path.sep).join('/')}`;
  let copies = 0;
  return {
    url,
    port,
    pgid,
    logFile,
    userDataDir,
    remoteUri,
    copyWorkspace(folder, name = path.basename(folder)) {
      const target = path.join(root, 'workspaces', String(++copies), name);
      // An index left in the source by a manual run must not leak into the test.
      cpSync(folder, target, { recursive: true, filter: (src) => !/[\\/](\.crucible|node_modules)$/.test(src) });
      return target;
    },
    workbenchUrl(folder, payload) {
      let query = `folder=${encodeURIComponent(folder)}`;
      if (payload) query += `&payload=${encodeURIComponent(JSON.stringify(payload))}`;
      return `${url}/?${query}`;
    },
    stop,
  };
}

/** Every file under the server's log folder whose path ends with `suffix`, newest first. */
export function findLogs(userDataDir: string, suffix: string): string[] {
  const found: { file: string; mtime: number }[] = [];
  const walk = (dir: string) => {
    let entries: import('node:fs').Dirent[];
    try {
      entries = readdirSync(dir, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (p.endsWith(suffix)) found.push({ file: p, mtime: statSync(p).mtimeMs });
    }
  };
  walk(path.join(userDataDir, 'logs'));
  return found.sort((a, b) => b.mtime - a.mtime).map((f) => f.file);
}
