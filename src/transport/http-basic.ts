/**
 * The HTTP answers served until the platform's HTTP API lands (it will replace this listener): a health check and a
 * JSON 404 for everything else.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';

function sendJson(response: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  response.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
  });
  response.end(text);
}

/** `GET /healthz` → 200 `{"status":"ok"}`; anything else → 404 `{"error":"not_found","message":…}`. */
export function basicRequestListener(request: IncomingMessage, response: ServerResponse): void {
  const path = (request.url ?? '/').split('?', 1)[0];
  if (path === '/healthz' && (request.method === 'GET' || request.method === 'HEAD')) {
    sendJson(response, 200, { status: 'ok' });
    return;
  }
  sendJson(response, 404, { error: 'not_found', message: `no route for ${request.method ?? 'GET'} ${path ?? '/'}` });
}
