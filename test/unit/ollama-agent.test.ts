import * as assert from 'node:assert/strict';
import { createServer } from 'node:net';
import {
  answerSchema,
  buildPrompt,
  type FewShotExample,
  ollamaAgents,
  parseAnswer,
  stripFences,
  summariseShapes,
} from '../../server/src/optimize/ollamaAgent';
import { isCandidate, type Candidate, type Declined } from '../../server/src/agents/contract';
import { probeOllama } from '../../server/src/agents/ollama';
import type { OptimizeTarget } from '../../server/src/optimize/types';
import {
  answer,
  type ChatRequestBody,
  fencedAnswer,
  malformedAnswer,
  modelNotFound,
  type OllamaLoopbackDouble,
  scriptWrongAnswer,
  slowAnswer,
  startOllamaLoopbackDouble,
} from '../doubles/ollamaLoopbackDouble';

const model = 'qwen2.5-coder:7b';

const code = [
  'export function sumPrices(items: { price: number }[]): number {',
  '  let total = 0;',
  '  for (const i of items.map((x) => x)) total += i.price;',
  '  return total;',
  '}',
].join('\n');

const bigArray = [...Array.from({ length: 50 }, (_, i) => ({ price: i })), '…(truncated: 950 more)'];
const target: OptimizeTarget = {
  id: 'src/prices.ts#sumPrices',
  file: 'src/prices.ts',
  qualifiedName: 'sumPrices',
  name: 'sumPrices',
  kind: 'function',
  language: 'typescript',
  range: { start: { line: 1, character: 0 }, end: { line: 5, character: 1 } },
  code,
  fileText: `import { round } from './round';\n${code}\n`,
  hash: 'h1',
  medianNs: 12_345,
  samples: [
    { args: [bigArray], result: 1225, durationNs: 20_000, mutated: false },
    { args: [[{ price: 1 }, { price: 2 }]], result: 3, durationNs: 900, mutated: false },
    { args: [[]], result: 0, durationNs: 300, mutated: false },
  ],
  tests: ['prices › sums all items', 'prices › empty cart is 0'],
};

const faster = 'export function sumPrices(items: { price: number }[]): number {\n  let total = 0;\n  for (let i = 0; i < items.length; i++) total += items[i].price;\n  return total;\n}';

const examples: FewShotExample[] = [
  { before: 'function a(xs) { return xs.filter(Boolean).length }', after: 'function a(xs) { let n = 0; for (const x of xs) if (x) n++; return n }', speedup: 3.2 },
  { before: 'function b(s) { return s.split("").reverse().join("") }', after: 'function b(s) { let r = ""; for (let i = s.length - 1; i >= 0; i--) r += s[i]; return r }', speedup: 1.8 },
  { before: 'function c() { return 1 }', after: 'function c() { return 1 }', speedup: 1.1 },
  { before: 'function FOURTH_EXAMPLE() {}', after: 'function FOURTH_EXAMPLE() {}', speedup: 9 },
];

/** A port that was free a moment ago: nothing listens there. */
const closedPort = () =>
  new Promise<number>((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => resolve(p));
    });
  });

const chatRequests = (d: OllamaLoopbackDouble) => d.requests.filter((r) => r.path === '/api/chat').map((r) => r.body as ChatRequestBody);

function agent(host: string, strategy: 'direct' | 'evidence-few-shot', extra: { timeoutMs?: number; fewShot?: () => Promise<FewShotExample[]> } = {}) {
  const [a] = ollamaAgents({ host, models: [model], strategies: [strategy], ...extra });
  return a;
}

describe('Ollama micro-agents (against a loopback double of its HTTP API)', () => {
  let double: OllamaLoopbackDouble;
  beforeEach(async () => {
    double = await startOllamaLoopbackDouble({ [model]: 0, 'nomic-embed-text': 8 });
  });
  afterEach(async () => {
    await double.close();
  });

  it('makes one agent per (model × strategy), with ids ollama:<model>/<strategy>', () => {
    const agents = ollamaAgents({ host: double.host, models: [model, 'llama3.1'] });
    assert.deepEqual(
      agents.map((a) => a.id),
      [`ollama:${model}/direct`, `ollama:${model}/evidence-few-shot`, 'ollama:llama3.1/direct', 'ollama:llama3.1/evidence-few-shot'],
    );
    assert.ok(agents.every((a) => a.kind === 'ollama' && a.languages.includes('python') && a.description.length > 0));
    assert.deepEqual(ollamaAgents({ host: double.host, models: [] }), []);
  });

  describe('buildPrompt', () => {
    it('direct: the function and the instruction, no evidence, no examples', () => {
      const { system, user } = buildPrompt(target, 'direct', examples);
      assert.match(system, /JSON only/);
      assert.ok(user.includes(code), 'the function, verbatim');
      assert.match(user, /```ts\n/);
      assert.match(user, /keep the declaration as it is \(name `sumPrices`/);
      assert.doesNotMatch(user, /median|recorded calls|tests that run it|Example 1|import \{ round \}/);
    });

    it('evidence-few-shot: median, input shapes (sizes, not values), results, tests, imports and at most 3 examples', () => {
      const { user } = buildPrompt(target, 'evidence-few-shot', examples);
      assert.ok(user.includes(code));
      assert.match(user, /median time per call: 12\.3 µs/);
      assert.match(user, /recorded calls: 3/);
      // The 1000-item array (recorded as 50 items + a truncation marker) is a shape and a size range.
      assert.match(user, /\(\{price: int\}\[2–1000\]\) × 2 calls/);
      assert.match(user, /\(empty\[0\]\) × 1 call/);
      assert.doesNotMatch(user, /"price":|truncated/, 'no raw recorded values');
      assert.match(user, /results:\n\s+- int × 3 calls/);
      assert.match(user, /tests that run it \(they must keep passing\): prices › sums all items; prices › empty cart is 0/);
      assert.match(user, /import \{ round \} from '.\/round';/);
      assert.match(user, /Example 1 \(x3\.2 faster\)\nBefore:\n```ts\nfunction a\(xs\) \{ return xs\.filter\(Boolean\)\.length \}\n```\nAfter:\n```ts\nfunction a\(xs\) \{ let n = 0;/);
      assert.match(user, /Example 2 \(x1\.8 faster\)/);
      assert.match(user, /Example 3 /);
      assert.doesNotMatch(user, /Example 4|FOURTH_EXAMPLE/);
    });

    it('evidence-few-shot: hot paths, throws and mutations when known; a plain note when nothing was measured', () => {
      const { user } = buildPrompt(
        {
          ...target,
          hotPaths: ['line 3: for … of items.map (92% of samples)'],
          samples: [
            { args: [null], error: { __type: 'Error', name: 'TypeError', message: 'items is null' }, durationNs: 10, mutated: false },
            { args: [[{ price: 1 }]], result: 1, durationNs: 10, mutated: true },
          ],
        },
        'evidence-few-shot',
        [],
      );
      assert.match(user, /hot paths:\n\s+- line 3: for … of items\.map \(92% of samples\)/);
      assert.match(user, /1 of 2 calls threw \(TypeError: items is null\)/);
      assert.match(user, /1 of 2 calls changed their arguments/);
      assert.doesNotMatch(user, /Example 1/);
      const bare = buildPrompt({ ...target, samples: undefined, medianNs: undefined, tests: undefined }, 'evidence-few-shot', []).user;
      assert.match(bare, /No measurements were recorded for it yet\./);
    });

    it('summarises Map, Set, typed arrays and long strings by size', () => {
      const lines = summariseShapes(
        [
          [{ __type: 'Map', entries: [['a', 1], ['b', 2]] }, { __type: 'Float64Array', length: 4096, values: [1, 2] }, 'x'.repeat(1000) + '…(truncated: 24 more)'],
          [{ __type: 'Map', entries: [['c', 3]] }, { __type: 'Float64Array', length: 8, values: [] }, 'hi'],
          [{ __type: 'Set', values: [1, 2, '…(truncated: 8 more)'] }, null, 'x'],
        ],
        true,
      );
      assert.deepEqual(lines, ['(Map(1–2)<string, int>, Float64Array(8–4096), string(2–1024)) × 2 calls', '(Set(10)<int>, null, string(1)) × 1 call']);
    });
  });

  describe('answers', () => {
    it('sends the model, the JSON schema format, temperature 0.2 and stream:false; a good answer is a Candidate of that agent', async () => {
      double.chat = answer({ code: faster, summary: 'index loop instead of map + for-of: no intermediate array' });
      const a = agent(double.host, 'evidence-few-shot', { fewShot: async () => examples });
      const [p] = await a.propose(target);
      assert.ok(isCandidate(p), JSON.stringify(p));
      assert.deepEqual(p, { agent: `ollama:${model}/evidence-few-shot`, target: target.id, code: faster, summary: 'index loop instead of map + for-of: no intermediate array' } satisfies Candidate);
      const [req] = chatRequests(double);
      assert.equal(req.model, model);
      assert.equal(req.stream, false);
      assert.deepEqual(req.format, answerSchema);
      assert.deepEqual([...answerSchema.required], ['code', 'summary']);
      assert.deepEqual(answerSchema.properties.code.type, 'string');
      assert.equal(req.options?.temperature, 0.2);
      assert.equal(req.messages[0].role, 'system');
      const user = req.messages[1].content;
      assert.ok(user.includes(code));
      assert.match(user, /median time per call: 12\.3 µs/);
      assert.match(user, /prices › sums all items/);
      assert.match(user, /Example 1 \(x3\.2 faster\)/);
    });

    it('direct sends no evidence and does not ask for few-shot examples', async () => {
      double.chat = answer({ code: faster, summary: 'index loop' });
      let asked = 0;
      const a = agent(double.host, 'direct', {
        fewShot: async () => {
          asked++;
          return examples;
        },
      });
      const [p] = await a.propose(target);
      assert.ok(isCandidate(p));
      assert.equal(p.agent, `ollama:${model}/direct`);
      assert.equal(asked, 0);
      const user = chatRequests(double)[0].messages[1].content;
      assert.doesNotMatch(user, /median|Example 1|prices › sums/);
    });

    it('a failing few-shot lookup does not stop the agent', async () => {
      double.chat = answer({ code: faster, summary: 'index loop' });
      const [p] = await agent(double.host, 'evidence-few-shot', { fewShot: () => Promise.reject(new Error('index not ready')) }).propose(target);
      assert.ok(isCandidate(p));
      assert.doesNotMatch(chatRequests(double)[0].messages[1].content, /Example 1/);
    });

    it('unfences code wrapped in markdown, and a whole answer wrapped in a json fence', async () => {
      double.chat = fencedAnswer(faster, 'index loop');
      const [p] = await agent(double.host, 'direct').propose(target);
      assert.ok(isCandidate(p), JSON.stringify(p));
      assert.equal(p.code, faster);
      double.chat = { content: '```json\n' + JSON.stringify({ code: faster, summary: 's' }) + '\n```' };
      const [q] = await agent(double.host, 'direct').propose(target);
      assert.ok(isCandidate(q), JSON.stringify(q));
      assert.equal(q.code, faster);
      assert.equal(stripFences('```python\ndef f():\n    return 1\n```'), 'def f():\n    return 1');
      assert.equal(stripFences('const s = "```";'), 'const s = "```";');
    });

    it('malformed JSON, a missing "code", an unchanged function → Declined with the reason', async () => {
      const a = agent(double.host, 'direct');
      double.chat = malformedAnswer();
      const [p] = (await a.propose(target)) as Declined[];
      assert.ok(!isCandidate(p));
      assert.equal(p.agent, a.id);
      assert.equal(p.target, target.id);
      assert.match(p.reason, /^invalid JSON in the answer/);
      double.chat = answer({ summary: 'I made it faster' });
      assert.match(((await a.propose(target))[0] as Declined).reason, /missing "code"/);
      double.chat = answer({ code: 42, summary: 'x' });
      assert.match(((await a.propose(target))[0] as Declined).reason, /missing "code"/);
      double.chat = answer({ code: code.replace(/\n/g, '\n\n'), summary: 'already optimal' });
      assert.match(((await a.propose(target))[0] as Declined).reason, /unchanged \(already optimal\)/);
      double.chat = { rawBody: 'this is not json' };
      assert.match(((await a.propose(target))[0] as Declined).reason, /invalid response from Ollama .*not JSON/);
    });

    it('a WRONG answer (code that returns a different result) is still just a Candidate: verification is elsewhere', async () => {
      const reply = scriptWrongAnswer(double, code);
      const [p] = await agent(double.host, 'evidence-few-shot').propose(target);
      assert.ok(isCandidate(p), JSON.stringify(p));
      assert.match(p.code, /return \(total\) \+ 1;/);
      assert.equal(p.code, JSON.parse(reply.content!).code);
    });

    it('puts back the indentation of a method body the model dedented', () => {
      const method = 'def total(self):\n        s = 0\n        for x in self.xs:\n            s += x\n        return s';
      const t: OptimizeTarget = { ...target, language: 'python', kind: 'method', name: 'total', qualifiedName: 'Cart.total', code: method };
      const r = parseAnswer(JSON.stringify({ code: 'def total(self):\n    return sum(self.xs)', summary: 'builtin sum' }), t);
      assert.deepEqual(r, { code: 'def total(self):\n        return sum(self.xs)', summary: 'builtin sum' });
    });
  });

  describe('failures', () => {
    it('a slow answer → Declined "timed out after N ms" within the timeout + slack, and the request is aborted', async () => {
      double.chat = slowAnswer(5_000, answer({ code: faster, summary: 'late' }));
      const started = Date.now();
      const [p] = (await agent(double.host, 'direct', { timeoutMs: 300 }).propose(target)) as Declined[];
      const took = Date.now() - started;
      assert.equal(p.reason, 'timed out after 300 ms');
      assert.ok(took >= 290 && took < 1_300, `took ${took} ms`);
      const closed = await double.whenClosedBeforeReply(2_000);
      assert.equal(closed.path, '/api/chat');
    });

    it('the caller aborting → Declined "cancelled", and the request is aborted', async () => {
      double.chat = slowAnswer(5_000);
      const controller = new AbortController();
      setTimeout(() => controller.abort(), 150);
      const started = Date.now();
      const [p] = (await agent(double.host, 'direct', { timeoutMs: 10_000 }).propose(target, controller.signal)) as Declined[];
      assert.equal(p.reason, 'cancelled');
      assert.ok(Date.now() - started < 1_500);
      await double.whenClosedBeforeReply(2_000);
      // Already aborted: no request at all.
      const before = double.requests.length;
      const [q] = (await agent(double.host, 'direct').propose(target, AbortSignal.abort())) as Declined[];
      assert.equal(q.reason, 'cancelled');
      assert.equal(double.requests.length, before);
    });

    it('a model that is not pulled → Declined naming it (Ollama 404)', async () => {
      const [a] = ollamaAgents({ host: double.host, models: ['llama3.1:8b'], strategies: ['direct'] });
      const [p] = (await a.propose(target)) as Declined[];
      assert.equal(p.reason, `model "llama3.1:8b" not found at ${double.host} (run: ollama pull llama3.1:8b)`);
      double.chat = modelNotFound(model); // the same, scripted for a model the double lists
      assert.match(((await agent(double.host, 'direct').propose(target))[0] as Declined).reason, /not found/);
    });

    it('nothing listening → Declined "connection refused"; never throws', async () => {
      const host = `http://127.0.0.1:${await closedPort()}`;
      const [p] = (await agent(host, 'evidence-few-shot').propose(target)) as Declined[];
      assert.equal(p.reason, `connection refused: Ollama not reachable at ${host}`);
    });
  });

  describe('probeOllama', () => {
    it('lists the configured models the server has and the ones it lacks (x matches x:latest)', async () => {
      const d2 = await startOllamaLoopbackDouble({ [model]: 0, 'llama3.1:latest': 0 });
      try {
        const probe = await probeOllama(d2.host, [model, 'llama3.1', 'deepseek-coder-v2']);
        assert.equal(probe.reachable, true);
        assert.deepEqual(probe.available, [model, 'llama3.1']);
        assert.deepEqual(probe.missing, ['deepseek-coder-v2']);
        assert.match(probe.notice!, /does not have "deepseek-coder-v2" \(run: ollama pull deepseek-coder-v2\): using qwen2\.5-coder:7b, llama3\.1$/);
        assert.ok(!probe.notice!.includes('\n'));
        assert.equal((await probeOllama(d2.host, [model])).notice, undefined);
      } finally {
        await d2.close();
      }
    });

    it('an unreachable host (a closed port) → not reachable, with the one-line notice', async () => {
      const host = `http://127.0.0.1:${await closedPort()}`;
      const probe = await probeOllama(host, [model]);
      assert.deepEqual(
        { reachable: probe.reachable, available: probe.available, missing: probe.missing, notice: probe.notice },
        { reachable: false, available: [], missing: [], notice: `Ollama not reachable at ${host}: rule agents only` },
      );
      assert.match(probe.detail!, /ECONNREFUSED|connection refused/);
    });

    it('a host that does not answer in time → not reachable after the short timeout', async () => {
      double.tags = { delayMs: 5_000 };
      const started = Date.now();
      const probe = await probeOllama(double.host, [model], 200);
      assert.equal(probe.reachable, false);
      assert.equal(probe.detail, 'timed out after 200 ms');
      assert.ok(Date.now() - started < 1_200);
    });
  });
});
