/**
 * Client-side RPC methods answered by an HTTP endpoint (`platform.clientRpcHandlers`): the "configured handler" of
 * ThingsBoard's rule chain, without writing code. The device's request is POSTed as JSON; the endpoint's JSON answer
 * is the reply the device gets. Every failure becomes the `{"error": …}` reply ThingsBoard devices already handle,
 * never an exception: the device always hears back.
 */
import type { Logger } from 'pino';
import type { ClientRpcHandler, ClientRpcRegistry } from './client-rpc.js';
import type { JsonValue } from './model.js';

/** An answer larger than this is refused: it could not go back to the device in one MQTT packet anyway. */
const MAX_ANSWER_BYTES = 1_048_576;

export interface WebhookOptions {
  logger: Logger;
  /** Aborts the request after this long (the registry answers `{"error": "timeout"}` by then as well). */
  timeoutMs?: number | undefined;
}

export function webhookHandler(method: string, url: string, options: WebhookOptions): ClientRpcHandler {
  const timeoutMs = options.timeoutMs ?? 60_000;
  return async (device, params): Promise<JsonValue> => {
    const body = JSON.stringify({ method, params, device: { id: device.id, name: device.name, orgId: device.orgId } });
    let response: Response;
    try {
      response = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'application/json' },
        body,
        signal: AbortSignal.timeout(timeoutMs),
      });
    } catch (error) {
      options.logger.warn({ err: error, method, url }, 'client-side RPC handler unreachable');
      return { error: `the handler for ${method} is unreachable` };
    }
    const text = await readBounded(response);
    if (text === undefined) return { error: `the handler for ${method} answered more than 1 MiB` };
    if (!response.ok) {
      options.logger.warn({ status: response.status, method, url }, 'client-side RPC handler failed');
      return { error: `the handler for ${method} answered HTTP ${String(response.status)}` };
    }
    if (text.trim().length === 0) return {};
    try {
      return JSON.parse(text) as JsonValue;
    } catch {
      return { error: `the handler for ${method} answered something other than JSON` };
    }
  };
}

/** Registers every configured method (replacing a built-in of the same name). */
export function registerClientRpcHandlers(
  registry: ClientRpcRegistry,
  handlers: Readonly<Record<string, string>>,
  options: WebhookOptions,
): void {
  for (const [method, url] of Object.entries(handlers)) registry.register(method, webhookHandler(method, url, options));
}

async function readBounded(response: Response): Promise<string | undefined> {
  if (response.body === null) return '';
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of response.body as AsyncIterable<Uint8Array>) {
    size += chunk.byteLength;
    if (size > MAX_ANSWER_BYTES) {
      await response.body.cancel().catch(() => undefined);
      return undefined;
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}
