/**
 * Client-side RPC: a device asks the server (ThingsBoard `v1/devices/me/rpc/request/<id>` and the HTTP equivalent).
 * Handlers are registered by method name; `getTime` is built in, dialects add their own (ThingsBoard's
 * `getSessionLimits`), and embedders may register more. An unknown method, a handler that throws and one that takes
 * longer than the timeout all answer `{"error": …}`, as ThingsBoard's rule engine does.
 */
import type { Device, JsonValue } from './model.js';

export type ClientRpcHandler = (device: Device, params: JsonValue) => JsonValue | Promise<JsonValue>;

/** ThingsBoard's `CLIENT_SIDE_RPC_TIMEOUT`. */
export const DEFAULT_CLIENT_RPC_TIMEOUT_MS = 60_000;

export class ClientRpcRegistry {
  readonly #handlers = new Map<string, ClientRpcHandler>();
  readonly #timeoutMs: number;

  constructor(timeoutMs = DEFAULT_CLIENT_RPC_TIMEOUT_MS) {
    this.#timeoutMs = timeoutMs;
    this.register('getTime', () => ({ time: Date.now() }));
  }

  /** Adds or replaces the handler for `method`. */
  register(method: string, handler: ClientRpcHandler): void {
    this.#handlers.set(method, handler);
  }

  has(method: string): boolean {
    return this.#handlers.has(method);
  }

  /** The reply to send to the device; never rejects. */
  async call(device: Device, method: string, params: JsonValue): Promise<JsonValue> {
    const handler = this.#handlers.get(method);
    if (handler === undefined) return { error: `Unsupported method: ${method}` };
    let timer: NodeJS.Timeout | undefined;
    try {
      return await Promise.race([
        Promise.resolve().then(() => handler(device, params)),
        new Promise<JsonValue>((resolve) => {
          timer = setTimeout(() => {
            resolve({ error: 'timeout' });
          }, this.#timeoutMs);
        }),
      ]);
    } catch (error) {
      return { error: error instanceof Error ? error.message : String(error) };
    } finally {
      clearTimeout(timer);
    }
  }
}
