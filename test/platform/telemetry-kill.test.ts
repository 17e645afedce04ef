/**
 * A QoS 1 telemetry message is acknowledged only once its points are committed, so killing the server with SIGKILL
 * in the middle of ingestion loses nothing any device was told was stored. Runs the built server as a child process
 * on each platform store (SQLite always; PostgreSQL when reachable, else skipped with the reason), streams ThingsBoard
 * telemetry into it with MQTT.js, kills it mid-stream, and reads the store afterwards.
 */
import { PG_TEST_URL, postgresSkipReason } from '../helpers/postgres.js';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import mqtt from 'mqtt';
import pg from 'pg';
import { PostgresPlatformStore, SqlitePlatformStore, type PlatformStore } from '../../src/storage/index.js';
import { spawnSwitchboard, type SwitchboardProcess } from '../helpers/process.js';

const pgUrl = PG_TEST_URL;
const workDir = mkdtempSync(join(tmpdir(), 'switchboard-kill-'));
after(() => {
  rmSync(workDir, { recursive: true, force: true });
});

/** Messages published before the kill; at most `window` unacknowledged at a time. */
const ACKED_BEFORE_KILL = 400;
const WINDOW = 40;
const BASE_TS = 1_700_000_000_000;

async function startServer(
  env: Record<string, string>,
): Promise<{ child: SwitchboardProcess; mqttUrl: string; httpUrl: string }> {
  const child = spawnSwitchboard({ env, cwd: workDir });
  after(() => {
    child.kill();
  });
  await child.waitForLine(/^HTTP on /);
  const lines = child.outputLines();
  const find = (pattern: RegExp): string => {
    for (const line of lines) {
      const match = pattern.exec(line);
      if (match !== null) return match[1]!;
    }
    throw new Error(`no line matching ${String(pattern)}: ${lines.join('\n')}`);
  };
  return {
    child,
    mqttUrl: find(/^MQTT listening on (mqtt:\/\/\S+)$/),
    httpUrl: find(/^HTTP on (http:\/\/\S+)$/),
  };
}

async function createDevice(httpUrl: string, password: string): Promise<{ id: string; token: string }> {
  const login = await fetch(`${httpUrl}/api/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username: 'admin', password }),
  });
  const { token } = (await login.json()) as { token: string };
  const created = await fetch(`${httpUrl}/api/devices`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify({ name: 'meter' }),
  });
  assert.equal(created.status, 201);
  const device = (await created.json()) as { id: string; credentials: { accessToken: string } };
  return { id: device.id, token: device.credentials.accessToken };
}

/**
 * Publishes `{"ts", "values": {"seq"}}` at QoS 1 until `ACKED_BEFORE_KILL` are acknowledged, then kills the server
 * while `WINDOW` are still in flight; returns the sequence numbers whose PUBACK arrived.
 */
async function ingestAndKill(child: SwitchboardProcess, mqttUrl: string, token: string): Promise<Set<number>> {
  const client = await mqtt.connectAsync(mqttUrl, { username: token, protocolVersion: 4, reconnectPeriod: 0 });
  client.on('error', () => undefined); // the connection dies with the server
  const acked = new Set<number>();
  let next = 0;
  let killed = false;
  await new Promise<void>((resolve) => {
    const publish = (): void => {
      const seq = next++;
      const payload = JSON.stringify({ ts: BASE_TS + seq, values: { seq } });
      client.publish('v1/devices/me/telemetry', payload, { qos: 1 }, (error) => {
        // MQTT.js passes null, not undefined, for success.
        if (error instanceof Error || killed) return;
        acked.add(seq);
        if (acked.size >= ACKED_BEFORE_KILL) {
          killed = true;
          child.child.kill('SIGKILL');
          resolve();
          return;
        }
        publish();
      });
    };
    for (let i = 0; i < WINDOW; i++) publish();
  });
  await child.exited;
  client.end(true);
  return acked;
}

async function assertAllStored(store: PlatformStore, deviceId: string, acked: Set<number>): Promise<void> {
  const range = await store.telemetryRange({
    deviceId,
    keys: ['seq'],
    startTs: BASE_TS,
    endTs: BASE_TS + 1_000_000,
    limit: 1_000_000,
    order: 'ASC',
  });
  const stored = new Map((range.get('seq') ?? []).map((point) => [point.ts - BASE_TS, point.value]));
  const missing = [...acked].filter((seq) => stored.get(seq) !== seq);
  assert.deepEqual(missing, [], 'every acknowledged point is stored with its value');
  assert.ok(stored.size >= acked.size);
}

const skip = await postgresSkipReason();

describe('kill -9 during telemetry ingestion', () => {
  test('SQLite: every point acknowledged before SIGKILL is in the store afterwards', async () => {
    const dataDir = mkdtempSync(join(workDir, 'sqlite-'));
    const password = randomBytes(9).toString('hex');
    const { child, mqttUrl, httpUrl } = await startServer({
      SWITCHBOARD_HOST: '127.0.0.1',
      SWITCHBOARD_MQTT_PORT: '0',
      SWITCHBOARD_HTTP_PORT: '0',
      SWITCHBOARD_DATA_DIR: dataDir,
      SWITCHBOARD_LOG_LEVEL: 'warn',
      SWITCHBOARD_ADMIN_PASSWORD: password,
    });
    const device = await createDevice(httpUrl, password);
    const acked = await ingestAndKill(child, mqttUrl, device.token);
    const store = await SqlitePlatformStore.open(join(dataDir, 'platform.db'));
    try {
      await assertAllStored(store, device.id, acked);
    } finally {
      await store.close();
    }
  });

  test(
    'PostgreSQL: every point acknowledged before SIGKILL is in the store afterwards',
    { skip: skip ?? false },
    async () => {
      const schema = `sb_kill_${randomBytes(6).toString('hex')}`;
      const admin = new pg.Client({ connectionString: pgUrl });
      await admin.connect();
      after(async () => {
        await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
        await admin.end();
      });
      const password = randomBytes(9).toString('hex');
      const { child, mqttUrl, httpUrl } = await startServer({
        SWITCHBOARD_HOST: '127.0.0.1',
        SWITCHBOARD_MQTT_PORT: '0',
        SWITCHBOARD_HTTP_PORT: '0',
        SWITCHBOARD_DATA_DIR: mkdtempSync(join(workDir, 'pg-')),
        SWITCHBOARD_LOG_LEVEL: 'warn',
        SWITCHBOARD_ADMIN_PASSWORD: password,
        SWITCHBOARD_DATABASE_URL: pgUrl,
        SWITCHBOARD_DATABASE_SCHEMA: schema,
      });
      const device = await createDevice(httpUrl, password);
      const acked = await ingestAndKill(child, mqttUrl, device.token);
      const store = await PostgresPlatformStore.open(pgUrl, { schema });
      try {
        await assertAllStored(store, device.id, acked);
      } finally {
        await store.close();
      }
    },
  );
});
