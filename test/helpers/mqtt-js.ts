/**
 * MQTT.js helpers for end-to-end tests: connect without auto-reconnect, collect messages, wait on them, and close
 * everything a test opened (clients, raw clients, servers, child processes) in one `afterEach`.
 */
import mqtt from 'mqtt';
import type { IClientOptions, IConnackPacket, IPublishPacket, MqttClient } from 'mqtt';
import { withTimeout } from './raw-client.js';

/** How long a wait lasts before it fails the test. */
export const WAIT_MS = 5_000;

/** MQTT.js protocol versions the broker speaks: 4 = 3.1.1, 5 = 5.0. */
export const PROTOCOL_VERSIONS = [4, 5] as const;
export type TestProtocolVersion = (typeof PROTOCOL_VERSIONS)[number];

/** A message as a subscriber saw it. */
export interface CollectedMessage {
  topic: string;
  payload: string;
  packet: IPublishPacket;
}

/** A connected MQTT.js client with every message it received. */
export interface TestClient {
  client: MqttClient;
  connack: IConnackPacket;
  messages: CollectedMessage[];
  /** Resolves when `messages` holds at least `count` entries (optionally only those matching `predicate`). */
  waitForMessages(count: number, predicate?: (message: CollectedMessage) => boolean): Promise<CollectedMessage[]>;
}

/**
 * Connects with MQTT.js (no reconnect, short connect timeout) and resolves on CONNACK; rejects on a refusal or error.
 * Messages are collected from the start, so nothing sent right after CONNACK is missed.
 */
export async function connectClient(url: string, options: IClientOptions = {}): Promise<TestClient> {
  const client = mqtt.connect(url, { reconnectPeriod: 0, connectTimeout: WAIT_MS, ...options });
  const messages: CollectedMessage[] = [];
  const listeners = new Set<() => void>();
  client.on('message', (topic, payload, packet) => {
    messages.push({ topic, payload: payload.toString(), packet });
    for (const listener of listeners) listener();
  });
  const connack = await withTimeout(
    new Promise<IConnackPacket>((resolve, reject) => {
      client.once('connect', resolve);
      client.once('error', reject);
      client.once('close', () => {
        reject(new Error('connection closed before CONNACK'));
      });
    }),
    WAIT_MS,
    'CONNACK',
  ).catch((error: unknown) => {
    client.end(true);
    throw error;
  });
  client.on('error', () => undefined);
  const waitForMessages = (
    count: number,
    predicate: (message: CollectedMessage) => boolean = () => true,
  ): Promise<CollectedMessage[]> => {
    const matching = (): CollectedMessage[] => messages.filter(predicate);
    if (matching().length >= count) return Promise.resolve(matching());
    let listener: (() => void) | undefined;
    const done = new Promise<CollectedMessage[]>((resolve) => {
      listener = () => {
        const found = matching();
        if (found.length >= count) resolve(found);
      };
      listeners.add(listener);
    });
    return withTimeout(done, WAIT_MS, `${String(count)} messages (have ${String(matching().length)})`).finally(() => {
      if (listener !== undefined) listeners.delete(listener);
    });
  };
  return { client, connack, messages, waitForMessages };
}

/** Polls `condition` every 10 ms until it holds; fails after `timeoutMs` naming `what`. */
export async function waitFor(condition: () => boolean, what: string, timeoutMs = WAIT_MS): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${String(timeoutMs)} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** Resolves when `client` emits 'close' (the broker or the network closed it). */
export function clientClosed(client: MqttClient, timeoutMs = WAIT_MS): Promise<void> {
  // 'close' may already have been emitted (the broker closed the socket while the test awaited something else).
  if ((!client.connected && client.disconnected) || client.stream.destroyed) return Promise.resolve();
  return withTimeout(
    new Promise<void>((resolve) => client.once('close', () => resolve())),
    timeoutMs,
    'the client to be closed',
  );
}

/** Sleeps: only for tests where elapsed time IS the behaviour (keepalive, expiry). */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Things a test opened, closed in reverse order by `closeAll()` (call it from `afterEach`). */
export class Resources {
  readonly #closers: (() => Promise<unknown>)[] = [];

  /** Registers an MQTT.js client (ended forcefully), a raw client, a server, or anything with a `close()`. */
  add<T extends MqttClient | TestClient | { close(): Promise<unknown> }>(resource: T): T {
    if ('waitForMessages' in resource) this.#closers.push(() => resource.client.endAsync(true));
    else if (resource instanceof mqtt.MqttClient) this.#closers.push(() => resource.endAsync(true));
    else this.#closers.push(() => resource.close());
    return resource;
  }

  async closeAll(): Promise<void> {
    const closers = this.#closers.splice(0).reverse();
    for (const close of closers) {
      try {
        await close();
      } catch {
        // already closed
      }
    }
  }
}

/** The CONNACK's code whether accepted or refused (MQTT.js reports a refusal as an error carrying the code). */
export async function connackCode(url: string, options: IClientOptions): Promise<number> {
  const client = mqtt.connect(url, { reconnectPeriod: 0, connectTimeout: WAIT_MS, ...options });
  try {
    return await withTimeout(
      new Promise<number>((resolve, reject) => {
        client.once('connect', (packet: IConnackPacket) => resolve(packet.returnCode ?? packet.reasonCode ?? 0));
        client.once('error', (error: Error & { code?: number }) => {
          if (typeof error.code === 'number') resolve(error.code);
          else reject(error);
        });
      }),
      WAIT_MS,
      'CONNACK',
    );
  } finally {
    client.end(true);
  }
}
