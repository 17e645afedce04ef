/**
 * A whole Switchboard (startServer, as `switchboard` runs it) for the PlaceOS feed tests: the management API as an
 * admin, ThingsBoard devices that publish telemetry over MQTT (QoS 1: acknowledged once stored, so the feed has
 * published the change by the time the PUBACK arrives), and MQTT.js subscribers with a delivery barrier.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import type { Config } from '../../src/config/index.js';
import {
  connectClient,
  startTestServer,
  type CollectedMessage,
  type DeepPartial,
  type Resources,
  type TestClient,
  type TestServer,
} from '../helpers/index.js';

export const ADMIN_PASSWORD = 'feed-admin-password';

export interface ApiAnswer {
  status: number;
  json: unknown;
}

/** A field of a JSON object answer. */
export function get(json: unknown, key: string): unknown {
  assert.ok(typeof json === 'object' && json !== null, `expected an object, got ${JSON.stringify(json)}`);
  return (json as Record<string, unknown>)[key];
}

export function idOf(json: unknown): string {
  const id = get(json, 'id');
  assert.equal(typeof id, 'string');
  return id as string;
}

export class FeedHarness {
  readonly srv: TestServer;
  readonly token: string;
  readonly orgId: string;
  readonly #resources: Resources;
  readonly #devices = new Map<string, TestClient>();
  #markerSeq = 0;

  private constructor(srv: TestServer, token: string, orgId: string, resources: Resources) {
    this.srv = srv;
    this.token = token;
    this.orgId = orgId;
    this.#resources = resources;
  }

  static async start(resources: Resources, overrides: DeepPartial<Config> = {}): Promise<FeedHarness> {
    // Subscribers connect anonymously: the users' MQTT login (JWT or API key) is another branch's.
    const srv = resources.add(
      await startTestServer({ adminPassword: ADMIN_PASSWORD, allowAnonymous: true, ...overrides }),
    );
    return FeedHarness.connect(srv, resources);
  }

  /** Logs into a running server as its admin (or another admin with ADMIN_PASSWORD). */
  static async connect(srv: TestServer, resources: Resources, username = 'admin'): Promise<FeedHarness> {
    const login = await fetch(`${srv.httpUrl}/api/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username, password: ADMIN_PASSWORD }),
    });
    const token = get(await login.json(), 'token') as string;
    const orgs = await fetch(`${srv.httpUrl}/api/organizations`, { headers: { authorization: `Bearer ${token}` } });
    const orgId = idOf(((await orgs.json()) as unknown[])[0]);
    return new FeedHarness(srv, token, orgId, resources);
  }

  async api(method: string, path: string, body?: unknown): Promise<ApiAnswer> {
    const response = await fetch(`${this.srv.httpUrl}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${this.token}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await response.text();
    return { status: response.status, json: text === '' ? undefined : (JSON.parse(text) as unknown) };
  }

  /** A request that must succeed; answers its JSON. */
  async ok(method: string, path: string, body?: unknown): Promise<unknown> {
    const answer = await this.api(method, path, body);
    assert.ok(answer.status < 300, `${method} ${path}: ${String(answer.status)} ${JSON.stringify(answer.json)}`);
    return answer.json;
  }

  async feed(body: Record<string, unknown>): Promise<unknown> {
    return this.ok('PUT', `/api/organizations/${this.orgId}/feed`, body);
  }

  async zone(name: string, tier: string, parent?: string): Promise<string> {
    return idOf(await this.ok('POST', '/api/zones', { name, tier, ...(parent === undefined ? {} : { parent }) }));
  }

  async system(name: string, zones: string[]): Promise<string> {
    return idOf(await this.ok('POST', '/api/systems', { name, zones }));
  }

  async profile(name: string, driverId?: string): Promise<string> {
    return idOf(await this.ok('POST', '/api/profiles', { name, ...(driverId === undefined ? {} : { driverId }) }));
  }

  /** Creates a device and connects it over MQTT with its access token. */
  async device(name: string, placement: { system?: string; profile?: string; index?: number } = {}): Promise<string> {
    const created = await this.ok('POST', '/api/devices', { name, ...placement });
    const id = idOf(created);
    const credentials = get(created, 'credentials');
    const token = get(credentials, 'accessToken') as string;
    const client = this.#resources.add(await connectClient(this.srv.mqttUrl, { username: token, protocolVersion: 5 }));
    this.#devices.set(id, client);
    return id;
  }

  /** Connects an existing device (after a restart) with its access token. */
  async reconnectDevice(deviceId: string): Promise<void> {
    const credentials = await this.ok('GET', `/api/devices/${deviceId}/credentials`);
    const token = get(credentials, 'accessToken') as string;
    const client = this.#resources.add(await connectClient(this.srv.mqttUrl, { username: token, protocolVersion: 5 }));
    this.#devices.set(deviceId, client);
  }

  /** Publishes ThingsBoard telemetry (`{"ts", "values"}`) at QoS 1 and waits for the PUBACK: stored, on the feed. */
  async telemetry(deviceId: string, values: Record<string, unknown>, ts?: number): Promise<void> {
    const client = this.#devices.get(deviceId);
    assert.ok(client !== undefined, 'device not connected');
    const payload = JSON.stringify(ts === undefined ? values : { ts, values });
    await client.client.publishAsync('v1/devices/me/telemetry', payload, { qos: 1 });
  }

  /** A client attribute update, acknowledged once stored. */
  async attributes(deviceId: string, values: Record<string, unknown>): Promise<void> {
    const client = this.#devices.get(deviceId)!;
    await client.client.publishAsync('v1/devices/me/attributes', JSON.stringify(values), { qos: 1 });
  }

  /** An MQTT.js subscriber on `filters`, connected anonymously, with its retained messages received. */
  async subscriber(...filters: string[]): Promise<Subscriber> {
    const client = this.#resources.add(
      await connectClient(this.srv.mqttUrl, { protocolVersion: 5, clientId: `feed-${randomBytes(4).toString('hex')}` }),
    );
    const subscriber = new Subscriber(client, this);
    await client.client.subscribeAsync([...filters, subscriber.markerTopic], { qos: 1 });
    await subscriber.barrier();
    return subscriber;
  }

  /** A marker topic message: once a subscriber has it, it has everything the broker routed to it before. */
  nextMarker(): string {
    return String(++this.#markerSeq);
  }

  publishMarker(topic: string, marker: string): void {
    this.srv.broker.publish({
      topicName: topic,
      payload: Buffer.from(marker),
      qos: 1,
      isRetained: false,
      properties: undefined,
    });
  }
}

export class Subscriber {
  readonly client: TestClient;
  readonly markerTopic = `test/marker/${randomBytes(6).toString('hex')}`;
  readonly #harness: FeedHarness;

  constructor(client: TestClient, harness: FeedHarness) {
    this.client = client;
    this.#harness = harness;
  }

  /**
   * Waits until everything routed to this subscriber so far has arrived: the server publishes a marker after it, on
   * the same connection, so deliveries before it are in order ([MQTT-4.6.0-6]).
   */
  async barrier(): Promise<void> {
    const marker = this.#harness.nextMarker();
    this.#harness.publishMarker(this.markerTopic, marker);
    await this.client.waitForMessages(1, (m) => m.topic === this.markerTopic && m.payload === marker);
  }

  /** Feed messages (not markers) received so far. */
  get feed(): CollectedMessage[] {
    return this.client.messages.filter((m) => !m.topic.startsWith('test/marker/'));
  }

  /** Waits for `count` feed messages on `topic`. */
  async waitFor(topic: string, count = 1): Promise<CollectedMessage[]> {
    return this.client.waitForMessages(count, (m) => m.topic === topic);
  }

  clear(): void {
    this.client.messages.length = 0;
  }
}

/** `{"time", "value"}` of a feed message. */
export function parsePayload(message: CollectedMessage): { time: number; value: unknown } {
  return JSON.parse(message.payload) as { time: number; value: unknown };
}
