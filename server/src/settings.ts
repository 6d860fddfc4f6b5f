/**
 * Crucible's settings: their shape, defaults and normalisation, in one place. The
 * language server (through `workspace/configuration`, section `crucible`) and the CLI
 * (from its flags) both end in `normalizeSettings`, so a value the editor would refuse
 * is refused the same way on the command line.
 *
 * No JSON-RPC here: the CLI bundles this module and must not pull the LSP libraries in.
 * Recipe for a new setting: docs/settings.md.
 */

/** Settings section the server reads through `workspace/configuration`. */
export const configurationSection = 'crucible';

export interface CrucibleSettings {
  exclude: string[];
  maxFileSizeBytes: number;
  /** `crucible.ollama.*`: the server, the embedding model (empty: local embedder), the models micro-agents use (empty: rule agents only), and their timeout. */
  ollama: { host: string; embedModel: string; models: string[]; timeoutSeconds: number };
  /**
   * `crucible.diagnostics.parseErrors`: an Information diagnostic where a file stops parsing;
   * `crucible.diagnostics.drift`: a diagnostic per drift event on the artifact's name.
   */
  diagnostics: { parseErrors: boolean; drift: boolean };
  /** `crucible.test.command` (empty: detect the runner) and `crucible.test.timeoutSeconds`. */
  test: { command: string; timeoutSeconds: number };
  /** `crucible.bench.maxSecondsPerArtifact`. */
  bench: { maxSecondsPerArtifact: number };
  /** `crucible.optimize.minSpeedup` (a variant must be at least this much faster, and its interval's low end above 1) and `crucible.optimize.budget` (candidates verified per run). */
  optimize: { minSpeedup: number; budget: number };
}

export const defaultSettings: CrucibleSettings = {
  exclude: ['**/node_modules/**', '**/*.min.js'],
  maxFileSizeBytes: 1024 * 1024,
  ollama: { host: 'http://127.0.0.1:11434', embedModel: '', models: [], timeoutSeconds: 60 },
  diagnostics: { parseErrors: true, drift: true },
  test: { command: '', timeoutSeconds: 300 },
  bench: { maxSecondsPerArtifact: 5 },
  optimize: { minSpeedup: 1.1, budget: 20 },
};

/** A settings layer as it arrives: anything (user JSON), shaped like the settings or not. */
export type SettingsLayer = DeepPartial<CrucibleSettings> | null | undefined;
type DeepPartial<T> = { [K in keyof T]?: T[K] extends readonly unknown[] ? T[K] : T[K] extends object ? DeepPartial<T[K]> : T[K] };

type Loose = Record<string, unknown>;
const obj = (v: unknown): Loose => (typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Loose) : {});
const positive = (v: unknown, fallback: number, min = Number.MIN_VALUE): number => (typeof v === 'number' && Number.isFinite(v) && v >= min ? v : fallback);
const text = (v: unknown, fallback: string): string => (typeof v === 'string' ? v.trim() : fallback);
const strings = (v: unknown): string[] | undefined => (Array.isArray(v) ? v.filter((s): s is string => typeof s === 'string' && s.trim() !== '') : undefined);

/**
 * Merges layers (later wins, key by key within each group) over the defaults and
 * replaces every value of the wrong type or out of range by its default.
 */
export function normalizeSettings(...layers: SettingsLayer[]): CrucibleSettings {
  const d = defaultSettings;
  const merged: Loose = {};
  for (const layer of layers) {
    for (const [k, v] of Object.entries(obj(layer))) {
      const group = obj(v);
      merged[k] = Object.keys(group).length > 0 && typeof merged[k] === 'object' && !Array.isArray(merged[k]) ? { ...obj(merged[k]), ...group } : v;
    }
  }
  const ollama = obj(merged.ollama);
  const diagnostics = obj(merged.diagnostics);
  const test = obj(merged.test);
  const bench = obj(merged.bench);
  const optimize = obj(merged.optimize);
  return {
    exclude: Array.isArray(merged.exclude) ? merged.exclude.filter((g): g is string => typeof g === 'string') : d.exclude,
    maxFileSizeBytes: positive(merged.maxFileSizeBytes, d.maxFileSizeBytes),
    ollama: {
      host: text(ollama.host, d.ollama.host) || d.ollama.host,
      embedModel: text(ollama.embedModel, d.ollama.embedModel),
      models: strings(ollama.models) ?? d.ollama.models,
      timeoutSeconds: positive(ollama.timeoutSeconds, d.ollama.timeoutSeconds),
    },
    diagnostics: { parseErrors: diagnostics.parseErrors !== false, drift: diagnostics.drift !== false },
    test: { command: text(test.command, d.test.command), timeoutSeconds: positive(test.timeoutSeconds, d.test.timeoutSeconds) },
    bench: { maxSecondsPerArtifact: positive(bench.maxSecondsPerArtifact, d.bench.maxSecondsPerArtifact, 1) },
    optimize: {
      minSpeedup: positive(optimize.minSpeedup, d.optimize.minSpeedup, 1),
      budget: typeof optimize.budget === 'number' && optimize.budget >= 1 ? Math.floor(optimize.budget) : d.optimize.budget,
    },
  };
}

/** What a settings change asks of a folder: re-walk, re-choose the embedder, re-publish diagnostics. */
export function settingsChanges(before: CrucibleSettings, after: CrucibleSettings): { walk: boolean; embedder: boolean; diagnostics: boolean } {
  const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);
  return {
    walk: !same(before.exclude, after.exclude) || before.maxFileSizeBytes !== after.maxFileSizeBytes,
    embedder: !same(before.ollama, after.ollama),
    diagnostics: !same(before.diagnostics, after.diagnostics),
  };
}
