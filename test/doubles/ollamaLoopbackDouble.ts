/**
 * TEST DOUBLE of Ollama's HTTP API on 127.0.0.1, for tests only; the product
 * never uses it. Serves `POST /api/embed` (deterministic vectors derived from
 * the input text) and `GET /api/tags`, answers 404 for unknown models the way
 * Ollama does, and counts requests so tests can assert what was asked.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface OllamaLoopbackDouble {
  host: string;
  requests: { path: string; body: unknown }[];
  close(): Promise<void>;
}

export async function startOllamaLoopbackDouble(models: Record<string, number>): Promise<OllamaLoopbackDouble> {
  const requests: { path: string; body: unknown }[] = [];
  const server: Server = createServer((req, res) => {
    let raw = '';
    req.on('data', (c) => (raw += c));
    req.on('end', () => {
      const body = raw ? JSON.parse(raw) : undefined;
      requests.push({ path: req.url ?? '', body });
      res.setHeader('content-type', 'application/json');
      if (req.method === 'GET' && req.url === '/api/tags') {
        res.end(JSON.stringify({ models: Object.keys(models).map((name) => ({ name, model: name })) }));
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
  return {
    host: `http://127.0.0.1:${port}`,
    requests,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
