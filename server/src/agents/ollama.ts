/**
 * Talking to a local Ollama server, for every capability that runs model agents: a chat
 * request with structured JSON output, a timeout and cancellation that close the
 * connection, the model probe, and one-line descriptions of failures. What to ask and how
 * to read the answer belong to the capability (optimization: `../optimize/ollamaAgent.ts`).
 *
 * The `ollama` npm client passes no abort signal on non-streamed requests (its `abort()`
 * only reaches streamed ones), so each request gets its own client whose `fetch` carries an
 * AbortController's signal: the timeout and the caller's signal both abort the HTTP
 * request itself, and the connection is closed.
 *
 * Nothing here throws: every failure (timeout, cancellation, model not pulled, nothing
 * listening, an answer without content) comes back as a reason.
 */
import { Ollama } from 'ollama';

/** A client whose every request carries `signal` (the `ollama` client passes none on non-streamed calls). */
function clientWithSignal(host: string, signal: AbortSignal): Ollama {
  const f: typeof fetch = (input, init) => fetch(input, { ...init, signal });
  return new Ollama({ host, fetch: f });
}

function clip(text: string, max: number): string {
  return text.length <= max ? text : text.slice(0, max) + `\n… (${text.length - max} more characters)`;
}

/** Why a request was aborted, when it was. */
export type AbortCause = 'timeout' | 'cancelled' | undefined;

/** One line for a failed Ollama request. */
export function describeFailure(err: unknown, ctx: { host: string; model?: string; why: AbortCause; timeoutMs: number }): string {
  if (ctx.why === 'timeout') return `timed out after ${ctx.timeoutMs} ms`;
  if (ctx.why === 'cancelled') return 'cancelled';
  const e = err as { name?: string; message?: string; status_code?: number; cause?: { code?: string; errors?: { code?: string }[] } };
  const message = e?.message ?? String(err);
  if ((e?.name === 'ResponseError' && e.status_code === 404) || /model ".*" not found/.test(message)) {
    return ctx.model ? `model "${ctx.model}" not found at ${ctx.host} (run: ollama pull ${ctx.model})` : `not found at ${ctx.host}: ${message}`;
  }
  const code = e?.cause?.code ?? e?.cause?.errors?.find((x) => x.code)?.code;
  if (code === 'ECONNREFUSED') return `connection refused: Ollama not reachable at ${ctx.host}`;
  if (code) return `${code}: Ollama not reachable at ${ctx.host}`;
  if (e?.name === 'ResponseError') return `Ollama at ${ctx.host} answered ${e.status_code ?? 'an error'}: ${clip(message, 160)}`;
  if (e?.name === 'SyntaxError') return `invalid response from Ollama at ${ctx.host} (not JSON): ${clip(message, 120)}`;
  return clip(message.replace(/\s+/g, ' '), 200);
}

/** Runs `work` with a signal that aborts after `timeoutMs` or when `outer` aborts; says which. */
async function withDeadline<T>(timeoutMs: number, outer: AbortSignal | undefined, work: (signal: AbortSignal) => Promise<T>): Promise<{ ok: true; value: T } | { ok: false; error: unknown; why: AbortCause }> {
  const controller = new AbortController();
  let why: AbortCause;
  const timer = setTimeout(() => {
    why ??= 'timeout';
    controller.abort();
  }, timeoutMs);
  const onAbort = () => {
    why ??= 'cancelled';
    controller.abort();
  };
  outer?.addEventListener('abort', onAbort, { once: true });
  try {
    if (outer?.aborted) onAbort();
    if (why) return { ok: false, error: undefined, why };
    return { ok: true, value: await work(controller.signal) };
  } catch (error) {
    return { ok: false, error, why };
  } finally {
    clearTimeout(timer);
    outer?.removeEventListener('abort', onAbort);
  }
}

export interface JsonChatRequest {
  host: string;
  model: string;
  system: string;
  user: string;
  /** JSON schema of the answer, sent as Ollama's `format` (structured output). */
  format: object;
  temperature: number;
  timeoutMs: number;
  signal?: AbortSignal;
}

export type JsonChatReply =
  /** `content` is the model's text, meant to be the JSON asked for (the caller parses it); `truncated` when it hit the length limit. */
  | { ok: true; content: string; truncated: boolean }
  | { ok: false; reason: string };

/** One non-streamed `/api/chat` asking for JSON; aborted (connection closed) on timeout or when `signal` aborts. */
export async function chatForJson(req: JsonChatRequest): Promise<JsonChatReply> {
  const res = await withDeadline(req.timeoutMs, req.signal, (s) =>
    clientWithSignal(req.host, s).chat({
      model: req.model,
      messages: [
        { role: 'system', content: req.system },
        { role: 'user', content: req.user },
      ],
      stream: false,
      format: req.format,
      options: { temperature: req.temperature },
    }),
  );
  if (!res.ok) return { ok: false, reason: describeFailure(res.error, { host: req.host, model: req.model, why: res.why, timeoutMs: req.timeoutMs }) };
  const content = res.value?.message?.content;
  if (typeof content !== 'string') return { ok: false, reason: `invalid response from Ollama at ${req.host}: no message content` };
  return { ok: true, content, truncated: res.value.done_reason === 'length' };
}

// ---------------------------------------------------------------------------------------
// Probe
// ---------------------------------------------------------------------------------------

export interface OllamaProbe {
  reachable: boolean;
  /** Configured models the server has (as configured; `x` matches a pulled `x:latest`). */
  available: string[];
  /** Configured models the server does not have (empty when it is not reachable: unknown). */
  missing: string[];
  /** One line for the log / the Micro-agents view, when something is off. */
  notice?: string;
  /** Why the probe failed (for the log), when it did. */
  detail?: string;
}

/** Asks `/api/tags` which of `models` the server has; never throws. */
export async function probeOllama(host: string, models: string[], timeoutMs = 2000): Promise<OllamaProbe> {
  const res = await withDeadline(timeoutMs, undefined, (s) => clientWithSignal(host, s).list());
  if (!res.ok || !Array.isArray(res.value?.models)) {
    const detail = res.ok ? 'not an Ollama /api/tags answer' : describeFailure(res.error, { host, why: res.why, timeoutMs });
    return { reachable: false, available: [], missing: [], notice: `Ollama not reachable at ${host}: rule agents only`, detail };
  }
  const names = new Set<string>();
  for (const m of res.value.models) for (const n of [m?.name, m?.model]) if (typeof n === 'string') names.add(n);
  const has = (m: string) => names.has(m) || (!m.includes(':') && names.has(`${m}:latest`)) || (m.endsWith(':latest') && names.has(m.slice(0, -7)));
  const wanted = [...new Set(models.map((m) => m.trim()).filter(Boolean))];
  const available = wanted.filter(has);
  const missing = wanted.filter((m) => !has(m));
  let notice: string | undefined;
  if (missing.length) {
    notice =
      `Ollama at ${host} does not have ${missing.map((m) => `"${m}"`).join(', ')} (run: ${missing.map((m) => `ollama pull ${m}`).join('; ')})` +
      (available.length ? `: using ${available.join(', ')}` : ': rule agents only');
  } else if (!wanted.length) notice = `Ollama reachable at ${host}, but no models are configured (crucible.ollama.models): rule agents only`;
  return { reachable: true, available, missing, notice };
}
