/**
 * A bridge's link against real second brokers: this machine's Mosquitto on 127.0.0.1:1883 (unique prefixes per
 * test), Mosquitto brokers the tests start (restartable, TLS with a required client certificate, a self-signed server
 * certificate), a pass-through gate that takes the target "down", and a front that refuses MQTT 5.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, test } from 'node:test';
import mqttPacket from 'mqtt-packet';
import { pino } from 'pino';
import { BridgeLink, type BridgeLinkOptions } from '../../src/dialects/placeos/bridges/bridge-link.js';
import type { BridgeTarget } from '../../src/dialects/placeos/bridges/bridge-target.js';
import type { PrivacyFilter } from '../../src/dialects/placeos/feed-types.js';
import { connectClient, generateTestCertificate, Resources, startTestServer, waitFor } from '../helpers/index.js';
import { compilePrivacyRules } from '../../src/dialects/placeos/privacy.js';
import {
  cleaningSubscriber,
  freePort,
  MemoryFeed,
  mosquittoSubscribe,
  startGate,
  startHoldingBroker,
  startMosquitto,
  startV5RefusingFront,
  SYSTEM_MOSQUITTO,
  uniquePrefix,
} from './bridge-helpers.js';

const ORG = 'org-1';
const PASS: PrivacyFilter = { apply: (valueJson) => valueJson };
const logger = pino({ level: 'silent' });
const resources = new Resources();

/** A link on `feed`'s entries of ORG, closed after the test. */
function startLink(
  feed: MemoryFeed,
  target: Partial<BridgeTarget> & { port: number; topicPrefix: string },
  options: Partial<BridgeLinkOptions> = {},
  filter: PrivacyFilter = PASS,
): BridgeLink {
  const link = new BridgeLink(
    ORG,
    {
      host: '127.0.0.1',
      tls: false,
      ca: null,
      cert: null,
      key: null,
      rejectUnauthorized: true,
      username: null,
      password: null,
      clientId: `switchboard-test-${String(process.pid)}-${Math.random().toString(36).slice(2, 10)}`,
      qos: 0,
      ...target,
    },
    filter,
    feed,
    { maxQueuedEntries: 10_000, maxBackoffMs: 30_000, connectTimeoutMs: 5_000, ...options },
    logger,
  );
  const unsubscribe = feed.subscribe((entry) => {
    if (entry.orgId === ORG) link.offer(entry);
  });
  resources.add({
    close: async () => {
      unsubscribe();
      await link.close();
    },
  });
  link.start();
  return link;
}

const stateTopic = (key: string): string => `placeos/${ORG}/state/bld-1/lvl-2/_/sys-1/dep-123/Display/1/${key}`;

afterEach(async () => {
  await resources.closeAll();
});

describe('bridge to a cloud broker', () => {
  test('republishes the feed retained under its prefix: current state on connect, then every change', async () => {
    const feed = new MemoryFeed();
    const prefix = uniquePrefix('republish');
    feed.set(ORG, stateTopic('power'), true, 1_760_000_000_000);
    feed.set('org-2', 'placeos/org-2/state/_/_/_/s/d/M/1/other', 1); // another organization: never sent
    const link = startLink(feed, { port: SYSTEM_MOSQUITTO, topicPrefix: prefix });
    await waitFor(() => link.status().sent === 1, 'the resync to be sent');
    const status = link.status();
    assert.equal(status.connected, true);
    assert.equal(status.protocolVersion, '5.0');
    assert.ok(status.connectedAt !== null);
    feed.set(ORG, stateTopic('volume'), 42, 1_760_000_000_500);
    feed.set(ORG, `placeos/${ORG}/metadata/sys-1`, { name: 'Room 1' }, 1_760_000_000_600);
    await waitFor(() => link.status().sent === 3, 'the live changes to be sent');

    // QoS 0 "sent" means written to the socket: the MQTT.js subscriber's three messages show the target has them.
    const cleaner = await cleaningSubscriber(resources, SYSTEM_MOSQUITTO, prefix);
    await cleaner.waitForMessages(3);
    // A late subscriber gets everything as retained messages (device-apis.md §1.6), in the local feed's format:
    // metadata embedded as an object (value.name), state values as serialized JSON strings by default.
    const lines = await mosquittoSubscribe(SYSTEM_MOSQUITTO, `${prefix}/#`, 3);
    assert.deepEqual(
      lines.map((line) => JSON.stringify([line.isRetained, line.topic, JSON.parse(line.payload)])).sort(),
      [
        [true, `${prefix}/${stateTopic('power')}`, { time: 1_760_000_000_000, value: 'true' }],
        [true, `${prefix}/${stateTopic('volume')}`, { time: 1_760_000_000_500, value: '42' }],
        [true, `${prefix}/placeos/${ORG}/metadata/sys-1`, { time: 1_760_000_000_600, value: { name: 'Room 1' } }],
      ]
        .map((line) => JSON.stringify(line))
        .sort(),
    );
  });

  test("follows the organization's format (seconds, raw JSON) and its own privacy filter", async () => {
    const feed = new MemoryFeed();
    feed.setSettings(ORG, { timeUnit: 's', valueEncoding: 'raw' });
    const prefix = uniquePrefix('format');
    const filter = compilePrivacyRules([{ pattern: '[a-z.]+@example\\.com', action: 'hash' }], 'bridge-secret');
    const link = startLink(feed, { port: SYSTEM_MOSQUITTO, topicPrefix: prefix }, {}, filter);
    const client = await cleaningSubscriber(resources, SYSTEM_MOSQUITTO, prefix);
    await waitFor(() => link.status().connected, 'the bridge to connect');
    feed.set(ORG, stateTopic('booked_by'), { email: 'jane.doe@example.com', seats: 4 }, 1_760_000_123_456);
    const [message] = await client.waitForMessages(1);
    const payload = JSON.parse(message!.payload) as { time: number; value: { email: string; seats: number } };
    assert.equal(payload.time, 1_760_000_123);
    assert.equal(payload.value.seats, 4);
    assert.match(payload.value.email, /^[0-9a-f]{64}$/);
    assert.ok(!message!.payload.includes('jane.doe'));
  });

  test('new rules apply live and republish the current state through them, replacing what the target retained', async () => {
    const feed = new MemoryFeed();
    const prefix = uniquePrefix('refilter');
    const client = await cleaningSubscriber(resources, SYSTEM_MOSQUITTO, prefix);
    const link = startLink(feed, { port: SYSTEM_MOSQUITTO, topicPrefix: prefix });
    feed.set(ORG, stateTopic('organizer'), 'ada@example.com');
    const [plain] = await client.waitForMessages(1);
    assert.equal((JSON.parse(plain!.payload) as { value: string }).value, '"ada@example.com"');
    const connectedAt = link.status().connectedAt;

    link.setFilter(compilePrivacyRules([{ pattern: 'builtin:email', action: 'mask', keepLast: 11 }], 'k'));
    const [, masked] = await client.waitForMessages(2);
    assert.equal((JSON.parse(masked!.payload) as { value: string }).value, '"****example.com"');
    assert.equal(link.status().connectedAt, connectedAt, 'the same connection');
    const lines = await mosquittoSubscribe(SYSTEM_MOSQUITTO, `${prefix}/#`, 1);
    assert.equal((JSON.parse(lines[0]!.payload) as { value: string }).value, '"****example.com"');
  });

  test('QoS 1 publishes count as sent once the target acknowledged them', async () => {
    const feed = new MemoryFeed();
    const prefix = uniquePrefix('qos1');
    const client = await cleaningSubscriber(resources, SYSTEM_MOSQUITTO, prefix, 1);
    const link = startLink(feed, { port: SYSTEM_MOSQUITTO, topicPrefix: prefix, qos: 1 });
    await waitFor(() => link.status().connected, 'the bridge to connect');
    for (let index = 0; index < 200; index++) feed.set(ORG, stateTopic(`key-${String(index)}`), index);
    const messages = await client.waitForMessages(200);
    assert.ok(messages.every((message) => message.packet.qos === 1));
    await waitFor(() => link.status().sent === 200, 'every PUBACK');
    assert.equal(link.status().queued, 0);
  });

  test('after the target restarts empty, the bridge reconnects and republishes all current state', async () => {
    const feed = new MemoryFeed();
    const target = await startMosquitto();
    resources.add(target);
    const prefix = 'bridged';
    const link = startLink(feed, { port: target.port, topicPrefix: prefix });
    feed.set(ORG, stateTopic('power'), true);
    feed.set(ORG, stateTopic('volume'), 10);
    await waitFor(() => link.status().sent === 2, 'the first values');

    await target.stop();
    await waitFor(() => !link.status().connected, 'the bridge to notice');
    feed.set(ORG, stateTopic('volume'), 11); // changed while the target is down
    feed.set(ORG, stateTopic('input'), 'hdmi'); // new while the target is down
    assert.equal(link.status().queued, 2);
    await target.start();
    await waitFor(() => link.status().connected && link.status().queued === 0, 'the reconnect and resync');

    const lines = await mosquittoSubscribe(target.port, `${prefix}/#`, 3);
    const values = Object.fromEntries(
      lines.map((line) => [line.topic.split('/').at(-1)!, (JSON.parse(line.payload) as { value: string }).value]),
    );
    assert.deepEqual(values, { power: 'true', volume: '11', input: '"hdmi"' });
    assert.ok(lines.every((line) => line.isRetained));
  });

  test("a target's DISCONNECT shows its reason code and string; the bridge comes back and resyncs", async () => {
    const target = await startHoldingBroker(10);
    resources.add(target);
    const feed = new MemoryFeed();
    const link = startLink(feed, { port: target.port, topicPrefix: 'kicked' });
    feed.set(ORG, stateTopic('power'), true);
    await waitFor(() => target.publishes.length === 1, 'the first entry');
    // [MQTT-3.14.2-1] a server may end the session with a reason: 0x98 Administrative action.
    target.disconnectAll(0x98, 'maintenance');
    await waitFor(() => target.connects.length === 2 && target.publishes.length === 2, 'the reconnect and resync');
    assert.match(link.status().lastError ?? '', /DISCONNECT with reason 0x98: maintenance/);
    assert.equal(target.publishes[1]?.topic, `kicked/${stateTopic('power')}`);
    await waitFor(() => link.status().connected, 'connected again');
  });

  test('while the target is down it retries with doubling, capped, jittered delays, then connects', async () => {
    const feed = new MemoryFeed();
    const port = await freePort(); // nothing listens here yet
    const delays: [number, number][] = [];
    const link = startLink(
      feed,
      { port, topicPrefix: 'down' },
      { maxBackoffMs: 1_000, random: () => 0.5, onRetryScheduled: (attempt, delay) => delays.push([attempt, delay]) },
    );
    await waitFor(() => delays.length >= 5, 'five retries', 10_000);
    // Base 250, 500, 1000 (cap), 1000, 1000; with the jitter pinned at 0.5 the delay is 3/4 of the base.
    assert.deepEqual(delays.slice(0, 5), [
      [1, 188],
      [2, 375],
      [3, 750],
      [4, 750],
      [5, 750],
    ]);
    const status = link.status();
    assert.equal(status.connected, false);
    assert.match(status.lastError ?? '', /ECONNREFUSED/);
    assert.ok(status.attempts >= 5 && status.nextAttemptAt !== null);

    const target = await startMosquitto({ port });
    resources.add(target);
    await waitFor(() => link.status().connected, 'the next attempt to connect', 5_000);
    assert.equal(link.status().attempts, 0);
  });

  test('the buffer while disconnected is bounded: newest value per topic, oldest dropped and counted', async () => {
    const feed = new MemoryFeed();
    const gate = await startGate(SYSTEM_MOSQUITTO);
    resources.add(gate);
    const prefix = uniquePrefix('buffer');
    const client = await cleaningSubscriber(resources, SYSTEM_MOSQUITTO, prefix);
    const link = startLink(feed, { port: gate.port, topicPrefix: prefix }, { maxQueuedEntries: 3, maxBackoffMs: 500 });
    feed.set(ORG, stateTopic('gone'), 'removed while down, removal dropped');
    feed.set(ORG, stateTopic('cleared'), 'removed while down, removal kept');
    await client.waitForMessages(2);

    await gate.close();
    await waitFor(() => !link.status().connected, 'the bridge to notice');
    feed.remove(ORG, stateTopic('gone'));
    feed.remove(ORG, stateTopic('cleared'));
    feed.set(ORG, stateTopic('a'), 1);
    feed.set(ORG, stateTopic('c'), 1); // capacity 3: the oldest entry (the removal of "gone") is dropped
    feed.set(ORG, stateTopic('c'), 2); // the same topic again: replaces, no drop
    assert.deepEqual([link.status().queued, link.status().dropped], [3, 1]);

    await gate.open();
    await waitFor(() => link.status().connected && link.status().queued === 0, 'the reconnect');
    const fresh = await connectClient(`mqtt://127.0.0.1:${String(SYSTEM_MOSQUITTO)}`);
    resources.add(fresh);
    await fresh.client.subscribeAsync(`${prefix}/#`);
    const marker = `${prefix}/zz-marker`;
    await fresh.client.publishAsync(marker, 'barrier', { qos: 1 });
    await fresh.waitForMessages(1, (message) => message.topic === marker);
    const retained: Record<string, unknown> = Object.fromEntries(
      fresh.messages
        .filter((message) => message.topic !== marker)
        .map((message): [string, unknown] => [
          message.topic.split('/').at(-1)!,
          (JSON.parse(message.payload) as { value: string }).value,
        ]),
    );
    // The kept removal cleared "cleared"; the newest "c" won; "gone"'s removal was dropped on overflow, so the target
    // keeps its old value (docs/placeos.md says so); live values come back with the resync even when dropped.
    assert.deepEqual(retained, { a: '1', c: '2', gone: '"removed while down, removal dropped"' });
    await fresh.client.publishAsync(marker, '', { retain: false });
  });

  test('a target that does not acknowledge holds only its Receive Maximum in flight; the rest waits, bounded [MQTT-3.3.4-7]', async () => {
    const target = await startHoldingBroker(5);
    resources.add(target);
    const feed = new MemoryFeed();
    const link = startLink(feed, { port: target.port, topicPrefix: 'held', qos: 1 }, { maxQueuedEntries: 10 });
    await waitFor(() => link.status().connected, 'the bridge to connect');
    for (let index = 0; index < 20; index++) feed.set(ORG, stateTopic(`key-${String(index)}`), index);
    await waitFor(() => target.publishes.length === 5, 'five publishes');
    // Five in flight, ten waiting (the buffer's bound), five dropped: nothing grows while the target is stuck.
    assert.deepEqual([link.status().queued, link.status().dropped, link.status().sent], [10, 5, 0]);

    target.ackAll();
    await waitFor(() => target.publishes.length === 10 && link.status().sent === 5, 'the next five');
    assert.equal(link.status().queued, 5);
    // From here the target acknowledges at once: 15 entries, then the 20 current values once more (see below).
    target.autoAck();
    await waitFor(() => link.status().sent === 35 && link.status().queued === 0, 'everything acknowledged');
    const keys = target.publishes.map((packet) => packet.topic.split('/').at(-1));
    // The first five went at once, then the ten the buffer kept (the oldest five were dropped)...
    assert.deepEqual(
      keys.slice(0, 15),
      [0, 1, 2, 3, 4, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19].map((index) => `key-${String(index)}`),
    );
    // ...and because entries were dropped, the current state went out once more: the dropped keys are not stale.
    assert.deepEqual(
      [...new Set(keys.slice(15))].sort(),
      Array.from({ length: 20 }, (_, index) => `key-${String(index)}`).sort(),
    );
    assert.equal(link.status().dropped, 5);
  });

  test("an entry larger than the target's Maximum Packet Size is dropped and counted, the others go [MQTT-3.2.2-15]", async () => {
    const target = await startHoldingBroker(10, 512);
    resources.add(target);
    const feed = new MemoryFeed();
    const link = startLink(feed, { port: target.port, topicPrefix: 'small' });
    await waitFor(() => link.status().connected, 'the bridge to connect');
    feed.set(ORG, stateTopic('big'), 'x'.repeat(1_000));
    feed.set(ORG, stateTopic('small'), 'fits');
    await waitFor(() => target.publishes.length === 1, 'the small entry');
    assert.equal(target.publishes[0]?.topic, `small/${stateTopic('small')}`);
    assert.equal(link.status().dropped, 1);
    assert.match(link.status().lastError ?? '', /Maximum Packet Size/);
  });

  test('another Switchboard can be the target; its own placeos/ namespace refuses bridged publishes, so a prefix is needed', async () => {
    const central = await startTestServer();
    resources.add(central);
    const feed = new MemoryFeed();
    feed.set(ORG, stateTopic('power'), true);
    const watcher = await connectClient(central.mqttUrl, { protocolVersion: 5 });
    resources.add(watcher);
    await watcher.client.subscribeAsync('edge-1/#', { qos: 1 });
    const prefixed = startLink(feed, { port: central.mqttPort, topicPrefix: 'edge-1', qos: 1 });
    const [message] = await watcher.waitForMessages(1);
    assert.equal(message!.topic, `edge-1/${stateTopic('power')}`);
    await waitFor(() => prefixed.status().sent === 1, 'the PUBACK');

    // Without a prefix the topic is in the target's feed namespace: PUBACK 0x87, shown, not counted as sent.
    const bare = startLink(feed, { port: central.mqttPort, topicPrefix: '', qos: 1 });
    await waitFor(() => bare.status().lastError !== null, 'the refusal');
    assert.match(bare.status().lastError ?? '', /not authorized/i);
    assert.equal(bare.status().sent, 0);
    assert.equal(bare.status().connected, true, 'a refused publish does not end the connection');
  });

  test('user name and password reach the target; wrong ones are refused, shown, and retried without a fallback', async () => {
    const target = await startMosquitto({ users: { 'bridge-user': 'bridge-password' } });
    resources.add(target);
    const feed = new MemoryFeed();
    feed.set(ORG, stateTopic('power'), true);
    const good = startLink(feed, {
      port: target.port,
      topicPrefix: 'auth',
      username: 'bridge-user',
      password: 'bridge-password',
    });
    await waitFor(() => good.status().sent === 1, 'the entry');
    const wrong: number[] = [];
    const bad = startLink(
      feed,
      { port: target.port, topicPrefix: 'auth', username: 'bridge-user', password: 'wrong' },
      { onRetryScheduled: (attempt) => wrong.push(attempt) },
    );
    await waitFor(() => wrong.length >= 2, 'two retries');
    const status = bad.status();
    assert.equal(status.connected, false);
    // [MQTT-3.2.2-8] v5 CONNACK 0x86 / 0x87: a refusal of the credentials, not of the protocol version.
    assert.match(status.lastError ?? '', /Bad User Name or Password|Not authorized/i);
    assert.equal(status.protocolVersion, '5.0');
    const lines = await mosquittoSubscribe(target.port, 'auth/#', 1, ['-u', 'bridge-user', '-P', 'bridge-password']);
    assert.equal(lines[0]?.topic, `auth/${stateTopic('power')}`);
  });

  const refusals = { '3.1.1': 'CONNACK 0x01', '5.0': 'CONNACK 0x84', close: 'closing without a CONNACK' } as const;
  for (const refusal of ['3.1.1', '5.0', 'close'] as const) {
    test(`a target that refuses MQTT 5 (${refusals[refusal]}) gets 3.1.1 at once`, async () => {
      const feed = new MemoryFeed();
      const front = await startV5RefusingFront(SYSTEM_MOSQUITTO, refusal);
      resources.add(front);
      const prefix = uniquePrefix('fallback');
      const client = await cleaningSubscriber(resources, SYSTEM_MOSQUITTO, prefix);
      const delays: number[] = [];
      const clientId = `switchboard-fallback-${String(process.pid)}`;
      const link = startLink(
        feed,
        { port: front.port, topicPrefix: prefix, clientId },
        { onRetryScheduled: (_attempt, delay) => delays.push(delay) },
      );
      feed.set(ORG, stateTopic('power'), false);
      await client.waitForMessages(1);
      assert.equal(link.status().protocolVersion, '3.1.1');
      assert.deepEqual(front.versions, [5, 4]);
      // Both CONNECTs as PlaceOS's publisher sends them: keep-alive 60 s, clean start, the bridge's client id.
      const connects = front.connects.map((bytes, index) => {
        const parser = mqttPacket.parser({ protocolVersion: index === 0 ? 5 : 4 });
        let packet: mqttPacket.IConnectPacket | undefined;
        parser.on('packet', (parsed) => (packet = parsed as mqttPacket.IConnectPacket));
        parser.parse(bytes);
        return packet;
      });
      assert.deepEqual(
        connects.map((packet) => [packet?.protocolVersion, packet?.keepalive, packet?.clean, packet?.clientId]),
        [
          [5, 60, true, clientId],
          [4, 60, true, clientId],
        ],
      );
      assert.deepEqual(delays, [], 'the fallback is not a failed attempt');
      assert.match(link.status().lastError ?? '', refusal === 'close' ? /before CONNACK/ : /protocol version/i);
    });
  }
});

describe('bridge over TLS', () => {
  test('connects with a client certificate to a broker that requires one (AWS IoT Core style)', async () => {
    const pki = generateTestCertificate();
    resources.add({ close: () => Promise.resolve(pki.cleanup()) });
    const target = await startMosquitto({
      tls: { certPath: pki.serverCertPath, keyPath: pki.serverKeyPath, requireCertificateCaPath: pki.caCertPath },
    });
    resources.add(target);
    const feed = new MemoryFeed();
    const link = startLink(feed, {
      port: target.port,
      topicPrefix: 'mtls',
      tls: true,
      ca: pki.caCert.toString(),
      cert: pki.clientCert.toString(),
      key: pki.clientKey.toString(),
    });
    feed.set(ORG, stateTopic('power'), true);
    await waitFor(() => link.status().sent === 1, 'the entry over TLS');
    const tlsArgs = ['--cafile', pki.caCertPath, '--cert', pki.clientCertPath, '--key', pki.clientKeyPath];
    const [line] = await mosquittoSubscribe(target.port, 'mtls/#', 1, tlsArgs);
    assert.equal(line?.topic, `mtls/${stateTopic('power')}`);
    assert.equal(line?.isRetained, true);

    // Without the client certificate the broker refuses the handshake: not connected, the reason shown.
    const without = startLink(feed, { port: target.port, topicPrefix: 'mtls', tls: true, ca: pki.caCert.toString() });
    await waitFor(() => without.status().attempts >= 1, 'a failed attempt');
    assert.equal(without.status().connected, false);
    assert.ok(without.status().lastError !== null);
  });

  test('verification is on by default: a self-signed server certificate is refused unless trusted', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'switchboard-selfsigned-'));
    resources.add({ close: () => Promise.resolve(rmSync(dir, { recursive: true, force: true })) });
    const certPath = join(dir, 'server.crt');
    const keyPath = join(dir, 'server.key');
    execFileSync('openssl', [
      'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '2',
      '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1',
      '-keyout', keyPath, '-out', certPath,
    ], { stdio: 'ignore' }); // prettier-ignore
    const target = await startMosquitto({ tls: { certPath, keyPath } });
    resources.add(target);
    const feed = new MemoryFeed();
    const refused = startLink(feed, { port: target.port, topicPrefix: 'selfsigned', tls: true });
    await waitFor(() => refused.status().attempts >= 1, 'a failed attempt');
    assert.equal(refused.status().connected, false);
    assert.match(refused.status().lastError ?? '', /self[- ]signed/i);

    // Trusting exactly that certificate works; so does turning verification off (PlaceOS's behaviour, opt-in here).
    const { readFileSync } = await import('node:fs');
    const trusted = startLink(feed, {
      port: target.port,
      topicPrefix: 'selfsigned',
      tls: true,
      ca: readFileSync(certPath, 'utf8'),
    });
    const unverified = startLink(feed, {
      port: target.port,
      topicPrefix: 'selfsigned',
      tls: true,
      rejectUnauthorized: false,
    });
    await waitFor(() => trusted.status().connected && unverified.status().connected, 'both to connect');
  });
});
