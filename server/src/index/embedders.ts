/**
 * Embedders turn an artifact into a vector for similarity search.
 *
 * The default is local and deterministic: feature hashing (the "hashing trick")
 * of identifier sub-tokens, the artifact's own name, and syntax-node bigrams and
 * trigrams, signed to keep collisions unbiased, then L2-normalised. It needs no
 * model, no network and gives the same vector for the same code on every machine.
 *
 * The Ollama embedder is used only when `crucible.ollama.embedModel` is set and the
 * server answers; each embedder has its own id, and the vector store keeps one
 * index per id so vectors from different embedders never mix.
 */
import { Ollama } from 'ollama';
import type { EmbedInput } from './extract';

export interface Embedder {
  /** Stable id: names the vector index folder; changing it means a different space. */
  readonly id: string;
  readonly dims: number;
  embed(inputs: EmbedInput[]): Promise<Float32Array[]>;
}

export const localDims = 256;

/** FNV-1a 32-bit: fast, stable across platforms and Node versions. */
function fnv1a(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** `parseHTTPResponse2` → parse, http, response, 2; `snake_case_name` → snake, case, name. */
export function subTokens(identifier: string): string[] {
  return identifier
    .replace(/([a-z0-9])([A-Z])/g, '$1 $2')
    .replace(/([A-Z]+)([A-Z][a-z])/g, '$1 $2')
    .split(/[^A-Za-z0-9]+|(?<=[A-Za-z])(?=[0-9])/)
    .filter((t) => t.length > 1 || /[0-9]/.test(t))
    .map((t) => t.toLowerCase());
}

// Caches for the local embedder: the same identifiers and syntax n-grams recur across
// a workspace, and building and hashing their strings was most of its time. Bounded:
// cleared when they grow past a size that a large workspace reaches.
const subTokenCache = new Map<string, string[]>();
const featureHashCache = new Map<string, number>();
const gramHashCache = new Map<number, number>();
const syntaxTypeIds = new Map<string, number>();
const syntaxTypeNames: string[] = [];
/** n-gram keys are packed into one integer: (a * K + b) * K + c stays below 2^53. */
const K = 4096;

function cachedSubTokens(identifier: string): string[] {
  let t = subTokenCache.get(identifier);
  if (t === undefined) {
    if (subTokenCache.size >= 100_000) subTokenCache.clear();
    subTokenCache.set(identifier, (t = subTokens(identifier)));
  }
  return t;
}

function featureHash(feature: string): number {
  let h = featureHashCache.get(feature);
  if (h === undefined) {
    if (featureHashCache.size >= 200_000) featureHashCache.clear();
    featureHashCache.set(feature, (h = fnv1a(feature)));
  }
  return h;
}

function syntaxTypeId(type: string): number {
  let id = syntaxTypeIds.get(type);
  if (id === undefined) {
    id = syntaxTypeNames.length + 1; // 0 is never used, so a bigram key never equals a trigram key
    syntaxTypeNames.push(type);
    syntaxTypeIds.set(type, id);
  }
  return id;
}

/** Hash of the feature string `s:a>b` or `s:a>b>c` named by a packed key (same as hashing the string). */
function gramHash(key: number): number {
  let h = gramHashCache.get(key);
  if (h === undefined) {
    const parts: string[] = [];
    for (let k = key; k > 0; k = Math.floor(k / K)) parts.unshift(syntaxTypeNames[(k % K) - 1]);
    if (gramHashCache.size >= 200_000) gramHashCache.clear();
    gramHashCache.set(key, (h = fnv1a('s:' + parts.join('>'))));
  }
  return h;
}

export function localEmbed(input: EmbedInput, dims = localDims): Float32Array {
  const v = new Float32Array(dims);
  const add = (h: number, weight: number) => {
    v[h % dims] += h & 0x80000000 ? -weight : weight;
  };
  for (const t of cachedSubTokens(input.name)) add(featureHash('n:' + t), 3);
  // Identifier sub-tokens, damped so a long body doesn't drown the name.
  const counts = new Map<string, number>();
  for (const id of input.identifiers) for (const t of cachedSubTokens(id)) counts.set(t, (counts.get(t) ?? 0) + 1);
  for (const [t, c] of counts) add(featureHash('i:' + t), 1 + Math.log(c));
  // Syntax bigrams and trigrams, counted under packed integer keys (insertion order,
  // and so the float sums, are the same as with string keys).
  const s = input.syntax;
  const ids = s.map(syntaxTypeId);
  const grams = new Map<number, number>();
  if (syntaxTypeNames.length < K) {
    for (let i = 0; i + 1 < s.length; i++) {
      const bi = ids[i] * K + ids[i + 1];
      grams.set(bi, (grams.get(bi) ?? 0) + 1);
      if (i + 2 < s.length) {
        const tri = bi * K + ids[i + 2];
        grams.set(tri, (grams.get(tri) ?? 0) + 1);
      }
    }
    for (const [g, c] of grams) add(gramHash(g), 0.5 * (1 + Math.log(c)));
  } else {
    // More syntax types than keys can pack (never seen with the bundled grammars): strings.
    const named = new Map<string, number>();
    for (let i = 0; i + 1 < s.length; i++) {
      const bi = s[i] + '>' + s[i + 1];
      named.set(bi, (named.get(bi) ?? 0) + 1);
      if (i + 2 < s.length) {
        const tri = bi + '>' + s[i + 2];
        named.set(tri, (named.get(tri) ?? 0) + 1);
      }
    }
    for (const [g, c] of named) add(fnv1a('s:' + g), 0.5 * (1 + Math.log(c)));
  }
  normalize(v);
  return v;
}

export function normalize(v: Float32Array): Float32Array {
  let sum = 0;
  for (let i = 0; i < v.length; i++) sum += v[i] * v[i];
  const norm = Math.sqrt(sum);
  if (norm > 0) for (let i = 0; i < v.length; i++) v[i] /= norm;
  return v;
}

export class LocalEmbedder implements Embedder {
  readonly id = `local-hash-v1-${localDims}`;
  readonly dims = localDims;
  async embed(inputs: EmbedInput[]): Promise<Float32Array[]> {
    return inputs.map((i) => localEmbed(i));
  }
}

/** Text an LLM embedder sees: name, then the code (which includes its signature). */
function embedText(input: EmbedInput): string {
  return `${input.name}\n${input.text}`;
}

export class OllamaEmbedder implements Embedder {
  readonly id: string;
  private readonly client: Ollama;
  constructor(
    readonly host: string,
    readonly model: string,
    readonly dims: number,
  ) {
    this.client = new Ollama({ host });
    this.id = `ollama-${model.replace(/[^A-Za-z0-9._-]+/g, '_')}-${dims}`;
  }

  /** Asks the server for one embedding to learn the model's dimension; throws when unreachable. */
  static async connect(host: string, model: string): Promise<OllamaEmbedder> {
    const probe = await new Ollama({ host }).embed({ model, input: 'crucible' });
    const dims = probe.embeddings[0]?.length ?? 0;
    if (dims === 0) throw new Error(`model ${model} returned an empty embedding`);
    return new OllamaEmbedder(host, model, dims);
  }

  async embed(inputs: EmbedInput[]): Promise<Float32Array[]> {
    const out: Float32Array[] = [];
    const batch = 64;
    for (let i = 0; i < inputs.length; i += batch) {
      const res = await this.client.embed({ model: this.model, input: inputs.slice(i, i + batch).map(embedText), truncate: true });
      for (const e of res.embeddings) {
        if (e.length !== this.dims) throw new Error(`Ollama model ${this.model} returned ${e.length} dimensions, expected ${this.dims}`);
        out.push(normalize(Float32Array.from(e)));
      }
    }
    return out;
  }
}

export interface EmbedderChoice {
  embedder: Embedder;
  /** Why this one: logged, so a user sees when the fallback was taken. */
  reason: string;
}

/** The configured Ollama embedder when it answers, otherwise the local one, with the reason. */
export async function chooseEmbedder(ollama: { host: string; embedModel: string }): Promise<EmbedderChoice> {
  if (!ollama.embedModel) return { embedder: new LocalEmbedder(), reason: 'local embedder (crucible.ollama.embedModel is not set)' };
  try {
    const e = await OllamaEmbedder.connect(ollama.host, ollama.embedModel);
    return { embedder: e, reason: `Ollama embedder ${ollama.embedModel} at ${ollama.host} (${e.dims} dimensions)` };
  } catch (err) {
    return {
      embedder: new LocalEmbedder(),
      reason: `falling back to the local embedder: Ollama model ${ollama.embedModel} at ${ollama.host} is not usable (${describeOllamaError(err)})`,
    };
  }
}

export function describeOllamaError(err: unknown): string {
  const e = err as { name?: string; message?: string; cause?: { code?: string } };
  if (e?.cause?.code) return `${e.cause.code}: is Ollama running?`;
  if (e?.name === 'ResponseError') return `server said: ${e.message}`;
  return e?.message ?? String(err);
}
