/**
 * Finds how a workspace runs its own tests: package.json scripts first (their
 * text, resolved through `npm run x` indirection without running npm), then the
 * runners' config files and devDependencies, then pytest's markers. The plan
 * keeps the project's own options (`mocha --require @babel/register`,
 * `node --import tsx --test`) so a run through Crucible behaves like `npm test`.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import type { RunnerKind, RunnerPlan } from './types';

/** One shell word, and whether it held an unquoted glob character the shell would expand. */
interface Word {
  text: string;
  glob: boolean;
}

const operators = new Set(['&&', '||', ';', '|', '&']);

/** Splits a shell command into `&&`/`||`/`;`/`|` segments of words (quotes and backslashes as `sh` reads them). */
export function splitShellCommand(command: string): Word[][] {
  const segments: Word[][] = [[]];
  let cur: Word | undefined;
  const push = (ch: string, quoted: boolean) => {
    cur ??= { text: '', glob: false };
    cur.text += ch;
    if (!quoted && (ch === '*' || ch === '?' || ch === '[')) cur.glob = true;
  };
  const end = () => {
    if (cur) segments[segments.length - 1].push(cur);
    cur = undefined;
  };
  for (let i = 0; i < command.length; i++) {
    const ch = command[i];
    if (ch === "'") {
      cur ??= { text: '', glob: false };
      const close = command.indexOf("'", i + 1);
      const stop = close < 0 ? command.length : close;
      cur.text += command.slice(i + 1, stop);
      i = stop;
    } else if (ch === '"') {
      cur ??= { text: '', glob: false };
      for (i++; i < command.length && command[i] !== '"'; i++) {
        if (command[i] === '\\' && i + 1 < command.length && '"\\$`\n'.includes(command[i + 1])) i++;
        cur.text += command[i];
      }
    } else if (ch === '\\' && i + 1 < command.length) {
      push(command[++i], true);
    } else if (/\s/.test(ch)) {
      end();
    } else if ('&|;'.includes(ch)) {
      end();
      const two = command.slice(i, i + 2);
      if (two === '&&' || two === '||') i++;
      segments.push([]);
    } else if (ch === '#' && !cur) {
      break; // comment
    } else push(ch, false);
  }
  end();
  return segments.filter((s) => s.length > 0 && !(s.length === 1 && operators.has(s[0].text)));
}

interface Resolved {
  runner: RunnerKind;
  words: Word[];
  env: Record<string, string>;
  /** The chain of scripts that led here, for the reason text. */
  via: string[];
}

const envAssignment = /^[A-Za-z_][A-Za-z0-9_]*=/;
const pythonExe = /^python(\d(\.\d+)?)?$/;

function runnerOf(words: Word[]): RunnerKind | undefined {
  const exe = path.basename(words[0].text).replace(/\.(cmd|js|cjs|mjs)$/, '');
  const args = words.slice(1).map((w) => w.text);
  if (exe === 'mocha' || exe === '_mocha') return 'mocha';
  if (exe === 'jest') return 'jest';
  if (exe === 'vitest') return 'vitest';
  if (exe === 'pytest' || exe === 'py.test') return 'pytest';
  if (pythonExe.test(exe)) {
    const m = args.indexOf('-m');
    return m >= 0 && (args[m + 1] === 'pytest' || args[m + 1] === 'py.test') ? 'pytest' : undefined;
  }
  if (exe === 'node' || exe === 'tsx') {
    if (args.includes('--test')) return 'node-test';
    // `node --inspect node_modules/.bin/mocha …`: the first non-option word is the script.
    const script = args.find((a) => !a.startsWith('-'));
    if (script) {
      const inner = runnerOf([{ text: script, glob: false }]);
      if (inner && inner !== 'node-test' && inner !== 'pytest') return inner;
    }
  }
  return undefined;
}

/** Resolves one command segment to a runner, following `npm run x`/`npm test` through the scripts' text. */
function resolveSegment(words: Word[], scripts: Record<string, string>, via: string[], depth: number): Resolved[] {
  const env: Record<string, string> = {};
  let i = 0;
  for (;;) {
    while (i < words.length && envAssignment.test(words[i].text)) {
      const t = words[i++].text;
      const eq = t.indexOf('=');
      env[t.slice(0, eq)] = t.slice(eq + 1);
    }
    const w = words[i]?.text;
    if (w === 'cross-env' || w === 'env') i++;
    else if (w === 'npx' || w === 'bunx') {
      i++;
      while (i < words.length && words[i].text.startsWith('-')) i++;
    } else if ((w === 'pnpm' || w === 'yarn') && words[i + 1]?.text === 'exec') i += 2;
    else break;
    if (i >= words.length) return [];
  }
  const rest = words.slice(i);
  if (rest.length === 0) return [];
  const exe = rest[0].text;
  if ((exe === 'npm' || exe === 'pnpm' || exe === 'yarn') && depth < 5) {
    // npm test | npm t | npm run x | npm run-script x | yarn x | pnpm x | pnpm run x
    let name: string | undefined;
    let at = 1;
    const sub = rest[1]?.text;
    if (sub === 'test' || sub === 't' || sub === 'tst') name = 'test';
    else if (sub === 'run' || sub === 'run-script') {
      at = 2;
      while (rest[at]?.text.startsWith('-')) at++;
      name = rest[at]?.text;
    } else if (exe !== 'npm' && sub && !sub.startsWith('-')) name = sub;
    if (!name || scripts[name] === undefined) return [];
    const dashdash = rest.findIndex((x, k) => k > at && x.text === '--');
    const extra = dashdash >= 0 ? rest.slice(dashdash + 1) : [];
    return resolveScript(name, scripts, [...via, name], depth + 1, extra).map((r) => ({ ...r, env: { ...env, ...r.env } }));
  }
  const runner = runnerOf(rest);
  return runner ? [{ runner, words: rest, env, via }] : [];
}

function resolveScript(name: string, scripts: Record<string, string>, via: string[], depth: number, extra: Word[] = []): Resolved[] {
  const segments = splitShellCommand(scripts[name] ?? '');
  const out: Resolved[] = [];
  for (const [k, seg] of segments.entries()) {
    // Extra args after `--` go to the script's last command, as npm appends them.
    const words = k === segments.length - 1 ? [...seg, ...extra] : seg;
    out.push(...resolveSegment(words, scripts, via, depth));
  }
  return out;
}

function planOf(r: Resolved, cwd: string, reason: string): RunnerPlan {
  const plan: RunnerPlan = { runner: r.runner, argv: r.words.map((w) => w.text), cwd, reason };
  if (Object.keys(r.env).length > 0) plan.env = r.env;
  const globs = r.words.flatMap((w, k) => (w.glob ? [k] : []));
  if (globs.length > 0) plan.globs = globs;
  return plan;
}

/** A plan for the `crucible.test.command` setting: the runner is read from the command itself. */
export function planFromCommand(command: string, cwd: string, scripts: Record<string, string> = readScripts(cwd)): RunnerPlan | undefined {
  for (const seg of splitShellCommand(command)) {
    const [r] = resolveSegment(seg, scripts, [], 0);
    if (r) {
      const via = r.via.length > 0 ? ` (through scripts.${r.via.join(' → scripts.')})` : '';
      return planOf(r, cwd, `crucible.test.command: ${command}${via}`);
    }
  }
  return undefined;
}

function readJson(file: string): Record<string, unknown> | undefined {
  try {
    const v: unknown = JSON.parse(readFileSync(file, 'utf8'));
    return v && typeof v === 'object' ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

function readScripts(cwd: string): Record<string, string> {
  const scripts = readJson(path.join(cwd, 'package.json'))?.scripts;
  return scripts && typeof scripts === 'object' ? (scripts as Record<string, string>) : {};
}

function readText(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
}

function firstExisting(cwd: string, names: string[]): string | undefined {
  return names.find((n) => existsSync(path.join(cwd, n)));
}

const configExts = ['js', 'cjs', 'mjs', 'ts', 'cts', 'mts', 'json'];
const testScriptName = /^(test|tests|unit|spec)([:_-].*)?$/;

/** Scripts worth reading, `test` first: test, test:unit, test-e2e, unit, spec… */
function testScripts(scripts: Record<string, string>): string[] {
  const names = Object.keys(scripts).filter((n) => testScriptName.test(n) && !/(watch|cov|coverage|lint|types?check|debug)/.test(n));
  return names.sort((a, b) => (a === 'test' ? -1 : b === 'test' ? 1 : 0));
}

/** Python files whose names pytest collects by default. */
function hasPytestFiles(cwd: string): boolean {
  for (const dir of ['.', 'test', 'tests']) {
    let entries: string[];
    try {
      entries = readdirSync(path.join(cwd, dir));
    } catch {
      continue;
    }
    if (entries.some((e) => /^test_.*\.py$|_test\.py$/.test(e) || e === 'conftest.py')) return true;
  }
  return false;
}

/** The reason pytest applies here, if it does. */
function pytestMarker(cwd: string): string | undefined {
  if (existsSync(path.join(cwd, 'pytest.ini'))) return 'pytest.ini';
  if (/^\[tool\.pytest\.ini_options\]/m.test(readText(path.join(cwd, 'pyproject.toml')) ?? '')) return 'pyproject.toml [tool.pytest.ini_options]';
  if (/^\[tool:pytest\]/m.test(readText(path.join(cwd, 'setup.cfg')) ?? '')) return 'setup.cfg [tool:pytest]';
  if (/^\[pytest\]/m.test(readText(path.join(cwd, 'tox.ini')) ?? '')) return 'tox.ini [pytest]';
  if (existsSync(path.join(cwd, 'conftest.py'))) return 'conftest.py';
  if (hasPytestFiles(cwd)) return 'test_*.py files';
  return undefined;
}

/**
 * The test commands of the project at `root`, most specific first. Reads files
 * only: nothing is run. Empty when no runner is recognised.
 */
export async function detectRunners(root: string): Promise<RunnerPlan[]> {
  const cwd = path.resolve(root);
  const pkg = readJson(path.join(cwd, 'package.json'));
  const scripts = readScripts(cwd);
  const plans: RunnerPlan[] = [];
  const add = (plan: RunnerPlan) => {
    if (!plans.some((p) => p.runner === plan.runner && p.argv.join('\u0000') === plan.argv.join('\u0000'))) plans.push(plan);
  };

  for (const name of testScripts(scripts)) {
    for (const r of resolveScript(name, scripts, [name], 0)) {
      const chain = r.via.map((s) => `scripts.${s}`).join(' → ');
      add(planOf(r, cwd, `package.json ${chain}: ${r.words.map((w) => w.text).join(' ')}`));
    }
  }

  // No script names a runner: fall back to the runners' own config files, then devDependencies.
  const deps = { ...(pkg?.dependencies as object | undefined), ...(pkg?.devDependencies as object | undefined) } as Record<string, string>;
  const has = (runner: RunnerKind) => plans.some((p) => p.runner === runner);
  if (pkg && !has('mocha')) {
    const rc = firstExisting(cwd, ['.mocharc.js', '.mocharc.cjs', '.mocharc.mjs', '.mocharc.yaml', '.mocharc.yml', '.mocharc.jsonc', '.mocharc.json']);
    const why = rc ?? (pkg.mocha ? 'package.json "mocha"' : deps.mocha ? 'devDependencies.mocha' : undefined);
    if (why) add({ runner: 'mocha', argv: ['mocha'], cwd, reason: `${why}: mocha` });
  }
  if (pkg && !has('jest')) {
    const config = firstExisting(cwd, configExts.map((e) => `jest.config.${e}`));
    const why = config ?? (pkg.jest ? 'package.json "jest"' : deps.jest ? 'devDependencies.jest' : undefined);
    if (why) add({ runner: 'jest', argv: ['jest'], cwd, reason: `${why}: jest` });
  }
  if (pkg && !has('vitest')) {
    const config = firstExisting(cwd, configExts.flatMap((e) => [`vitest.config.${e}`, `vitest.workspace.${e}`]));
    const vite = firstExisting(cwd, configExts.map((e) => `vite.config.${e}`));
    const viteHasTest = vite !== undefined && /\btest\s*:/.test(readText(path.join(cwd, vite)) ?? '');
    const why = config ?? (viteHasTest ? `${vite} (test options)` : deps.vitest ? 'devDependencies.vitest' : undefined);
    if (why) add({ runner: 'vitest', argv: ['vitest', 'run'], cwd, reason: `${why}: vitest run` });
  }
  if (!has('pytest')) {
    const why = pytestMarker(cwd);
    if (why) add({ runner: 'pytest', argv: ['python3', '-m', 'pytest'], cwd, reason: `${why}: python3 -m pytest` });
  }
  return plans;
}
