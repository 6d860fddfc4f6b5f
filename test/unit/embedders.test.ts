import * as assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import * as path from 'node:path';
import { chooseEmbedder, LocalEmbedder, localEmbed, subTokens } from '../../server/src/index/embedders';
import { extractFile } from '../../server/src/index/extract';
import { languageForPath, loadParsers } from '../../server/src/index/languages';
import { startOllamaLoopbackDouble } from '../doubles/ollamaLoopbackDouble';

const cosine = (a: Float32Array, b: Float32Array) => a.reduce((s, x, i) => s + x * b[i], 0);

describe('embedders', () => {
  it('splits identifiers into sub-tokens', () => {
    assert.deepEqual(subTokens('parseHTTPResponse2'), ['parse', 'http', 'response', '2']);
    assert.deepEqual(subTokens('snake_case_name'), ['snake', 'case', 'name']);
  });

  it('local embedder is deterministic, unit-length, and ranks look-alike code closest', async () => {
    const parsers = await loadParsers();
    const src = `
      function sumPrices(items) { let total = 0; for (const item of items) total += item.price; return total; }
      function sumCosts(rows) { let total = 0; for (const row of rows) total += row.price; return total; }
      class HttpClient { async request(url) { const res = await fetch(url); return res.json(); } }`;
    const { embedInputs } = extractFile(parsers, 'x.js', 'javascript', src);
    const [a, b, c] = await new LocalEmbedder().embed(embedInputs);
    const again = await new LocalEmbedder().embed(embedInputs);
    assert.deepEqual(Array.from(again[0]), Array.from(a), 'same input, same vector');
    assert.ok(Math.abs(cosine(a, a) - 1) < 1e-5);
    assert.ok(cosine(a, b) > cosine(a, c) + 0.2, `near-duplicates ${cosine(a, b)} vs unrelated ${cosine(a, c)}`);
    assert.equal(localEmbed(embedInputs[0]).length, 256);
  });

  it('local embedder matches the plain definition of local-hash-v1 bit for bit (stored vectors stay valid)', async () => {
    // The definition, written the slow obvious way: FNV-1a of feature strings, signed buckets.
    const fnv1a = (t: string) => {
      let h = 0x811c9dc5;
      for (let i = 0; i < t.length; i++) h = Math.imul(h ^ t.charCodeAt(i), 0x01000193);
      return h >>> 0;
    };
    const reference = (input: { name: string; identifiers: string[]; syntax: string[] }) => {
      const v = new Float32Array(256);
      const add = (f: string, w: number) => {
        const h = fnv1a(f);
        v[h % 256] += h & 0x80000000 ? -w : w;
      };
      for (const t of subTokens(input.name)) add('n:' + t, 3);
      const counts = new Map<string, number>();
      for (const id of input.identifiers) for (const t of subTokens(id)) counts.set(t, (counts.get(t) ?? 0) + 1);
      for (const [t, c] of counts) add('i:' + t, 1 + Math.log(c));
      const grams = new Map<string, number>();
      const s = input.syntax;
      for (let i = 0; i + 1 < s.length; i++) {
        grams.set(s[i] + '>' + s[i + 1], (grams.get(s[i] + '>' + s[i + 1]) ?? 0) + 1);
        if (i + 2 < s.length) grams.set(`${s[i]}>${s[i + 1]}>${s[i + 2]}`, (grams.get(`${s[i]}>${s[i + 1]}>${s[i + 2]}`) ?? 0) + 1);
      }
      for (const [g, c] of grams) add('s:' + g, 0.5 * (1 + Math.log(c)));
      const norm = Math.sqrt(v.reduce((a, x) => a + x * x, 0));
      return v.map((x) => x / norm);
    };
    const parsers = await loadParsers();
    const fixtures = path.join(__dirname, '..', 'fixtures', 'extract');
    let compared = 0;
    for (const file of readdirSync(fixtures)) {
      const language = languageForPath(file)!;
      for (const input of extractFile(parsers, file, language, readFileSync(path.join(fixtures, file), 'utf8')).embedInputs) {
        assert.deepEqual(Array.from(localEmbed(input)), Array.from(reference(input)), `${file}: ${input.name}`);
        compared++;
      }
    }
    assert.ok(compared > 30, `compared ${compared} artifacts`);
  });

  describe('Ollama embedder (against a loopback double of its HTTP API)', () => {
    it('is chosen when configured and reachable, and embeds in batches', async () => {
      const double = await startOllamaLoopbackDouble({ 'nomic-embed-text': 16 });
      try {
        const choice = await chooseEmbedder({ host: double.host, embedModel: 'nomic-embed-text' });
        assert.equal(choice.embedder.id, 'ollama-nomic-embed-text-16');
        assert.match(choice.reason, /Ollama embedder nomic-embed-text/);
        const vs = await choice.embedder.embed([
          { name: 'a', identifiers: [], syntax: [], text: 'function a() {}' },
          { name: 'b', identifiers: [], syntax: [], text: 'function b() { return 1 }' },
        ]);
        assert.equal(vs.length, 2);
        assert.equal(vs[0].length, 16);
        assert.ok(Math.abs(cosine(vs[0], vs[0]) - 1) < 1e-5, 'normalised');
        const embedCalls = double.requests.filter((r) => r.path === '/api/embed');
        assert.equal(embedCalls.length, 2, 'one probe, one batch');
        assert.deepEqual((embedCalls[1].body as { input: string[] }).input.length, 2);
      } finally {
        await double.close();
      }
    });

    it('falls back to the local embedder, with the reason, when the model is missing', async () => {
      const double = await startOllamaLoopbackDouble({ other: 8 });
      try {
        const choice = await chooseEmbedder({ host: double.host, embedModel: 'nomic-embed-text' });
        assert.ok(choice.embedder instanceof LocalEmbedder);
        assert.match(choice.reason, /falling back to the local embedder.*not found/);
      } finally {
        await double.close();
      }
    });

    it('falls back when nothing listens on the host', async () => {
      // a port that was free a moment ago
      const port = await new Promise<number>((resolve) => {
        const s = createServer().listen(0, '127.0.0.1', () => {
          const p = (s.address() as { port: number }).port;
          s.close(() => resolve(p));
        });
      });
      const choice = await chooseEmbedder({ host: `http://127.0.0.1:${port}`, embedModel: 'nomic-embed-text' });
      assert.ok(choice.embedder instanceof LocalEmbedder);
      assert.match(choice.reason, /ECONNREFUSED: is Ollama running\?/);
    });

    it('uses the local embedder without asking anyone when no model is configured', async () => {
      const choice = await chooseEmbedder({ host: 'http://127.0.0.1:9', embedModel: '' });
      assert.ok(choice.embedder instanceof LocalEmbedder);
      assert.match(choice.reason, /not set/);
    });
  });
});
