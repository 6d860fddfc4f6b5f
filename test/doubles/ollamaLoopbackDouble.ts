/**
 * TEST DOUBLE of Ollama's HTTP API on 127.0.0.1, for tests only; the product
 * never uses it. Serves `POST /api/embed` (deterministic vectors derived from
 * the input text), `GET /api/tags` and `POST /api/chat` (non-streamed only),
 * answers 404 for unknown models the way Ollama does, and records requests so
 * tests can assert what was asked.
 *
 * Chat answers are scripted (`double.chat = …`, or `options.chat`): a fixed JSON
 * answer, raw content (malformed JSON, fenced code), an HTTP error, a body that is
 * not JSON at all, each optionally after a delay. A request whose connection the
 * client closes before the reply was sent is marked `closedBeforeReply` (what an
 * aborted request looks like from the server's side).
 *
 * `models` maps each model the double "has pulled" to its embedding dimension; chat
 * models can map to 0 (they are listed by /api/tags and answer /api/chat, and
 * /api/embed treats them as not found).
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** One scripted reply of `/api/chat` (or `/api/tags`). */
export interface ScriptedReply {
  /** `message.content` of a normal answer (already a string: JSON, malformed JSON, fenced code…). */
  content?: string;
  /** HTTP status of an error reply, with Ollama's `{ error }` body. */
  status?: number;
  error?: string;
  /** A raw HTTP body sent as is with status 200 (e.g. not JSON at all). */
  rawBody?: string;
  /** Wait this long before replying (a slow model: timeouts, cancellation). */
  delayMs?: number;
}

export interface ChatRequestBody {
  model: string;
  messages: { role: string; content: string }[];
  stream?: boolean;
  format?: unknown;
  options?: Record<string, unknown>;
}

export type ChatScript = ScriptedReply | ((body: ChatRequestBody) => ScriptedReply);

export interface RecordedRequest {
  method: string;
  path: string;
  body: unknown;
  /** The client closed the connection before the double replied (an aborted request). */
  closedBeforeReply: boolean;
}

export interface OllamaLoopbackDouble {
  host: string;
  requests: RecordedRequest[];
  /** What `/api/chat` answers for models the double has (unset: a 500 'no chat answer scripted'). */
  chat: ChatScript | undefined;
  /** Overrides `/api/tags` (e.g. a delay); default: lists `models`. */
  tags: ScriptedReply | undefined;
  /** Resolves with the next (or an already seen) request closed by the client before the reply. */
  whenClosedBeforeReply(timeoutMs?: number): Promise<RecordedRequest>;
  close(): Promise<void>;
}

/** A well-formed structured answer: `message.content` is the JSON text of `{ code, summary }`. */
export function answer(value: { code?: unknown; summary?: unknown } & Record<string, unknown>, delayMs?: number): ScriptedReply {
  return { content: JSON.stringify(value), delayMs };
}

/** A structured answer whose `code` is wrapped in a markdown fence (models do this despite the schema). */
export function fencedAnswer(code: string, summary: string, lang = 'ts'): ScriptedReply {
  return answer({ code: '```' + lang + '\n' + code + '\n```', summary });
}

/** Content that is not JSON (a model that ignored `format`). */
export function malformedAnswer(content = '{"code": "function f() {", "summary": '): ScriptedReply {
  return { content };
}

/** A reply that comes after `delayMs` (for timeouts and cancellation). */
export function slowAnswer(delayMs: number, reply: ScriptedReply = answer({ code: 'function slow() {}', summary: 'late' })): ScriptedReply {
  return { ...reply, delayMs };
}

/** Ollama's 404 for a model that was not pulled. */
export function modelNotFound(model: string): ScriptedReply {
  return { status: 404, error: `model "${model}" not found, try pulling it first` };
}

/**
 * A WRONG answer: a well-formed candidate whose code returns a different result than
 * the original. With `code` given, that code is the answer; otherwise the original's first
 * `return <expr>;` becomes `return (<expr>) + 1;` (a different value for numbers, strings,
 * arrays and objects; the original must have such a return). For the orchestrator's tests:
 * the agent hands it on as a Candidate, verification must reject it.
 */
export function wrongAnswer(original: string, opts: { code?: string; summary?: string } = {}): ScriptedReply {
  const code = opts.code ?? offByOne(original);
  return answer({ code, summary: opts.summary ?? 'Faster loop (and, unknown to the model, a wrong result)' });
}

/** Sets the double to answer every chat request with a wrong rewrite of `original` (see `wrongAnswer`). */
export function scriptWrongAnswer(double: OllamaLoopbackDouble, original: string, opts: { code?: string; summary?: string } = {}): ScriptedReply {
  const reply = wrongAnswer(original, opts);
  double.chat = reply;
  return reply;
}

function offByOne(original: string): string {
  const m = /\breturn\s+([^;\n]+);?/.exec(original);
  if (!m) throw new Error('wrongAnswer: the original has no single-line `return <expr>` to alter; pass opts.code');
  return original.slice(0, m.index) + `return (${m[1].trim()}) + 1;` + original.slice(m.index + m[0].length);
}

export async function startOllamaLoopbackDouble(models: Record<string, number>, options: { chat?: ChatScript; tags?: ScriptedReply } = {}): Promise<OllamaLoopbackDouble> {
  const requests: RecordedRequest[] = [];
  const closeWaiters: ((r: RecordedRequest) => void)[] = [];
  const double: OllamaLoopbackDouble = {
    host: '',
    requests,
    chat: options.chat,
    tags: options.tags,
    whenClosedBeforeReply: (timeoutMs = 2000) =>
      new Promise((resolve, reject) => {
        const seen = requests.find((r) => r.closedBeforeReply);
        if (seen) return resolve(seen);
        const timer = setTimeout(() => reject(new Error(`no request was closed by the client within ${timeoutMs} ms`)), timeoutMs);
        closeWaiters.push((r) => {
          clearTimeout(timer);
          resolve(r);
        });
      }),
    close: () => Promise.resolve(),
  };

  /** Sends `reply` (after its delay), unless the client goes away first. */
  function send(res: import('node:http').ServerResponse, record: RecordedRequest, reply: ScriptedReply, ok: () => string) {
    let timer: NodeJS.Timeout | undefined;
    res.on('close', () => {
      if (!res.writableEnded) {
        if (timer) clearTimeout(timer);
        record.closedBeforeReply = true;
        for (const w of closeWaiters.splice(0)) w(record);
      }
    });
    const write = () => {
      if (res.destroyed) return;
      if (reply.status && reply.status !== 200) {
        res.statusCode = reply.status;
        res.end(JSON.stringify({ error: reply.error ?? `status ${reply.status}` }));
      } else if (reply.rawBody !== undefined) {
        res.end(reply.rawBody);
      } else {
        res.end(ok());
      }
    };
    if (reply.delayMs) timer = setTimeout(write, reply.delayMs);
    else write();
  }

  const server: Server = createServer((req, res) => {
    let raw = '';
    req.on('data', (c) => (raw += c));
    req.on('end', () => {
      let body: any;
      try {
        body = raw ? JSON.parse(raw) : undefined;
      } catch {
        body = raw;
      }
      const record: RecordedRequest = { method: req.method ?? '', path: req.url ?? '', body, closedBeforeReply: false };
      requests.push(record);
      res.setHeader('content-type', 'application/json');
      if (req.method === 'GET' && req.url === '/api/tags') {
        send(res, record, double.tags ?? {}, () =>
          JSON.stringify({ models: Object.keys(models).map((name) => ({ name, model: name, size: 1, digest: 'double', details: {} })) }),
        );
        return;
      }
      if (req.method === 'POST' && req.url === '/api/chat') {
        const b = body as ChatRequestBody;
        if (!(b?.model in models)) {
          send(res, record, modelNotFound(b?.model), () => '');
          return;
        }
        if (b.stream !== false) {
          send(res, record, { status: 400, error: 'the loopback double serves non-streamed chat only (stream: false)' }, () => '');
          return;
        }
        const script = double.chat;
        const reply: ScriptedReply = typeof script === 'function' ? script(b) : (script ?? { status: 500, error: 'loopback double: no chat answer scripted' });
        send(res, record, reply, () =>
          JSON.stringify({
            model: b.model,
            created_at: new Date().toISOString(),
            message: { role: 'assistant', content: reply.content ?? '' },
            done: true,
            done_reason: 'stop',
          }),
        );
        return;
      }
      if (req.method === 'POST' && req.url === '/api/embed') {
        const dims = models[body.model];
        if (!dims) {
          res.statusCode = 404;
          res.end(JSON.stringify({ error: `model "${body.model}" not found, try pulling it first` }));
          return;
        }
        const inputs: string[] = Array.isArray(body.input) ? body.input : [body.input];
        const embeddings = inputs.map((text) => Array.from({ length: dims }, (_, i) => Math.sin((text.length + 1) * (i + 1) + text.charCodeAt(i % text.length || 0))));
        res.end(JSON.stringify({ model: body.model, embeddings }));
        return;
      }
      res.statusCode = 404;
      res.end(JSON.stringify({ error: 'not found' }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  double.host = `http://127.0.0.1:${port}`;
  double.close = () =>
    new Promise((resolve) => {
      server.close(() => resolve());
      // Delayed replies and keep-alive sockets would keep close() waiting.
      server.closeAllConnections();
    });
  return double;
}
