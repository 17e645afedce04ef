import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { backoffBaseMs, backoffDelayMs } from '../../src/dialects/placeos/bridges/backoff.js';
import { formatPayload, targetTopic } from '../../src/dialects/placeos/bridges/bridge-payload.js';
import {
  BridgeSettingsError,
  checkBridgeSettings,
  needsReconnect,
  newBridgeSecret,
  type BridgeSettings,
} from '../../src/dialects/placeos/bridges/bridge-settings.js';
import { PendingEntries } from '../../src/dialects/placeos/bridges/pending-entries.js';
import type { FeedEntry, PrivacyFilter } from '../../src/dialects/placeos/feed-types.js';
import { generateTestCertificate } from '../helpers/index.js';
import { compilePrivacyRules } from '../../src/dialects/placeos/privacy.js';

const PASS: PrivacyFilter = { apply: (valueJson) => valueJson };
const state = (topic: string, valueJson: string | null, timeMs = 1_760_000_000_123): FeedEntry => ({
  orgId: 'org',
  kind: 'state',
  topic,
  timeMs,
  valueJson,
});

describe('bridge back-off', () => {
  const policy = { initialMs: 250, maxMs: 30_000 };

  test('retries start at 250 ms and double up to the cap, with no attempt limit', () => {
    const bases = [1, 2, 3, 4, 5, 6, 7, 8, 9, 1_000_000].map((attempt) => backoffBaseMs(policy, attempt));
    assert.deepEqual(bases, [250, 500, 1_000, 2_000, 4_000, 8_000, 16_000, 30_000, 30_000, 30_000]);
  });

  test('the delay is drawn from the upper half of the base (jitter), never above the cap', () => {
    assert.equal(
      backoffDelayMs(policy, 1, () => 0),
      125,
    );
    assert.equal(
      backoffDelayMs(policy, 1, () => 0.999_999),
      250,
    );
    assert.equal(
      backoffDelayMs(policy, 20, () => 0.5),
      22_500,
    );
    for (let attempt = 1; attempt < 40; attempt++) {
      const delay = backoffDelayMs(policy, attempt);
      assert.ok(
        delay >= backoffBaseMs(policy, attempt) / 2 && delay <= 30_000,
        `attempt ${String(attempt)}: ${String(delay)}`,
      );
    }
  });
});

describe('bridge buffer', () => {
  test('the newest entry of a topic replaces the queued one and moves to the back', () => {
    const pending = new PendingEntries(10);
    pending.push(state('a', '1'));
    pending.push(state('b', '1'));
    pending.push(state('a', '2'));
    assert.equal(pending.size, 2);
    assert.deepEqual(
      [...pending.takeAll().values()].map((entry) => [entry.topic, entry.valueJson]),
      [
        ['b', '1'],
        ['a', '2'],
      ],
    );
    assert.equal(pending.size, 0);
  });

  test('when full, a new topic drops the oldest entry and counts it', () => {
    const pending = new PendingEntries(2);
    for (const topic of ['a', 'b', 'c', 'd']) pending.push(state(topic, '1'));
    pending.push(state('d', '2'));
    assert.equal(pending.size, 2);
    assert.equal(pending.dropped, 2);
    assert.deepEqual([pending.shift()?.topic, pending.shift()?.topic, pending.shift()], ['c', 'd', undefined]);
  });

  test('an unacknowledged entry put back never replaces a newer one of its topic', () => {
    const pending = new PendingEntries(5);
    pending.push(state('a', '"new"'));
    pending.pushIfAbsent(state('a', '"old"'));
    pending.pushIfAbsent(state('b', '"old"'));
    assert.deepEqual(
      [...pending.takeAll().values()].map((entry) => entry.valueJson),
      ['"new"', '"old"'],
    );
  });
});

describe('bridge payloads', () => {
  test('the prefix goes in front of the feed topic with one slash', () => {
    assert.equal(targetTopic('', 'placeos/o/state/x'), 'placeos/o/state/x');
    assert.equal(targetTopic('site-1', 'placeos/o/state/x'), 'site-1/placeos/o/state/x');
    assert.equal(targetTopic('a/b/', 'placeos/o/state/x'), 'a/b/placeos/o/state/x');
  });

  test('by default time is in milliseconds and value a serialized JSON string (the source document)', () => {
    const payload = formatPayload(state('t', '{"on":true}'), { timeUnit: 'ms', valueEncoding: 'string' }, PASS);
    assert.deepEqual(JSON.parse(payload!.toString()), { time: 1_760_000_000_123, value: '{"on":true}' });
  });

  test("PlaceOS's own publisher format: time in seconds, value raw JSON", () => {
    const payload = formatPayload(state('t', '{"on":true}'), { timeUnit: 's', valueEncoding: 'raw' }, PASS);
    assert.deepEqual(JSON.parse(payload!.toString()), { time: 1_760_000_000, value: { on: true } });
  });

  test('a state removal is an empty payload; a metadata removal is value null', () => {
    const format = { timeUnit: 'ms', valueEncoding: 'string' } as const;
    assert.equal(formatPayload(state('t', null), format, PASS)!.length, 0);
    const metadata: FeedEntry = { ...state('placeos/o/metadata/z1', null), kind: 'metadata' };
    assert.deepEqual(JSON.parse(formatPayload(metadata, format, PASS)!.toString()), {
      time: 1_760_000_000_123,
      value: null,
    });
  });

  test("the bridge's filter runs on the value before it leaves; a drop publishes nothing", () => {
    const filter = compilePrivacyRules([{ pattern: 'secret', action: 'drop' }], 'k');
    const format = { timeUnit: 'ms', valueEncoding: 'raw' } as const;
    assert.equal(formatPayload(state('t', '"top secret"'), format, filter), undefined);
    assert.ok(formatPayload(state('t', '"public"'), format, filter) !== undefined);
  });
});

describe('bridge settings', () => {
  const valid: BridgeSettings = {
    name: 'cloud',
    host: 'broker.example.com',
    port: 8883,
    tls: true,
    ca: null,
    cert: null,
    key: null,
    rejectUnauthorized: true,
    username: null,
    password: null,
    clientId: null,
    topicPrefix: 'site-1',
    qos: 0,
    filters: [],
  };
  const check = (changes: Partial<BridgeSettings>): BridgeSettingsError | undefined => {
    try {
      checkBridgeSettings({ ...valid, ...changes }, newBridgeSecret(), compilePrivacyRules);
      return undefined;
    } catch (error) {
      if (error instanceof BridgeSettingsError) return error;
      throw error;
    }
  };

  test('a valid bridge passes; its secret is 32 random bytes in hex', () => {
    assert.equal(check({}), undefined);
    assert.equal(check({ host: '10.0.0.7', tls: false, port: 1883 }), undefined);
    assert.equal(check({ host: '::1' }), undefined);
    assert.match(newBridgeSecret(), /^[0-9a-f]{64}$/);
    assert.notEqual(newBridgeSecret(), newBridgeSecret());
  });

  test('bad hosts, ports and QoS are refused naming the field', () => {
    assert.equal(check({ host: 'bad host' })?.field, 'host');
    assert.equal(check({ host: '-x.example.com' })?.field, 'host');
    assert.equal(check({ port: 0 })?.field, 'port');
    assert.equal(check({ port: 70_000 })?.field, 'port');
    assert.equal(check({ qos: 2 as 0 })?.field, 'qos');
  });

  test('a topic prefix with wildcards, U+0000 or a leading $ is refused [MQTT-4.7.1-1] [MQTT-4.7.3-2]', () => {
    for (const topicPrefix of ['a/+', 'a/#', 'a\u0000b', '$aws/things']) {
      assert.equal(check({ topicPrefix })?.field, 'topicPrefix', topicPrefix);
    }
  });

  test('a password without a user name is refused [MQTT-3.1.2-22]', () => {
    assert.equal(check({ password: 'p' })?.field, 'password');
    assert.equal(check({ username: 'u', password: 'p' }), undefined);
  });

  test('PEM material is parsed: a CA, a client certificate with its own key, and nothing without TLS', () => {
    const pki = generateTestCertificate();
    try {
      const ca = pki.caCert.toString();
      const cert = pki.clientCert.toString();
      const key = pki.clientKey.toString();
      assert.equal(check({ ca, cert, key }), undefined);
      assert.equal(check({ ca: 'not a certificate' })?.field, 'ca');
      assert.equal(check({ cert })?.field, 'key');
      assert.equal(check({ cert, key: 'not a key' })?.field, 'key');
      const other = generateTestCertificate();
      try {
        assert.equal(check({ cert, key: other.clientKey.toString() })?.field, 'key');
      } finally {
        other.cleanup();
      }
      assert.equal(check({ tls: false, ca })?.field, 'ca');
    } finally {
      pki.cleanup();
    }
  });

  test('a bad privacy rule is refused with its index', () => {
    const error = check({
      filters: [
        { pattern: '[a-z]+@example\\.com', action: 'hash' },
        { pattern: '(unclosed', action: 'mask' },
      ],
    });
    assert.equal(error?.field, 'filters');
    assert.equal(error?.ruleIndex, 1);
  });

  test('name and filters change live; anything else needs a new connection', () => {
    assert.equal(
      needsReconnect(valid, { ...valid, name: 'other', filters: [{ pattern: 'x', action: 'drop' }] }),
      false,
    );
    assert.equal(needsReconnect(valid, { ...valid, port: 1883 }), true);
    assert.equal(needsReconnect(valid, { ...valid, password: 'x' }), true);
    assert.equal(needsReconnect(valid, { ...valid, topicPrefix: 'other' }), true);
  });
});
