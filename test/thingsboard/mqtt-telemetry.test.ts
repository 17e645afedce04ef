/**
 * ThingsBoard telemetry and client attributes over MQTT with real clients (device-apis.md §3.2–3.4): every v1/v2
 * topic, the four JSON shapes, QoS 1 acknowledged only after the commit, bad payloads (v5 0x99 and kept; 3.1.1
 * disconnected unless the profile says otherwise), unknown topics (0x90), the namespace closed to others, and the
 * source document's mosquitto_pub commands run as written.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import type { Device } from '../../src/platform/model.js';
import { clientClosed, connectClient, Resources, runMosquitto } from '../helpers/index.js';
import { startTbServer, type TbServer } from './helpers.js';
import { pubackCode, serverDisconnect, subackCodes } from './tb-clients.js';

const run = promisify(execFile);

describe('ThingsBoard telemetry over MQTT', () => {
  let tb: TbServer;
  let device: Device;
  let token: string;
  const resources = new Resources();

  before(async () => {
    tb = await startTbServer();
    const created = await tb.createDevice('thermo');
    device = created.device;
    token = tb.tokenOf(created);
  });
  afterEach(() => resources.closeAll());
  after(() => tb.close());

  const latest = async (key: string): Promise<unknown> =>
    (await tb.platform.store.latestTelemetry(device.id, [key]))[0]?.value;

  // [MQTT-4.3.2-2] the PUBACK is the receiver taking ownership: here that means the point is stored.
  it('a QoS 1 PUBACK arrives only once the point is committed: it is readable when the PUBACK arrives', async () => {
    const { client } = resources.add(await connectClient(tb.mqttUrl, { username: token, protocolVersion: 5 }));
    const code = await pubackCode(client, 'v1/devices/me/telemetry', '{"committed":7}');
    assert.equal(code, 0);
    assert.equal(await latest('committed'), 7);
  });

  it('all four shapes and every telemetry topic (v1, v2/t, v2/t/j) are stored with the typing rules', async () => {
    const { client } = resources.add(await connectClient(tb.mqttUrl, { username: token }));
    await client.publishAsync('v1/devices/me/telemetry', '{"s1":"25","b1":true,"n1":null}', { qos: 1 });
    await client.publishAsync('v2/t', '[{"s2":1},{"s3":{"deep":[1]}}]', { qos: 1 });
    await client.publishAsync('v2/t/j', '{"ts":1451649600512,"values":{"s4":4.5}}', { qos: 1 });
    await client.publishAsync('v1/devices/me/telemetry', '[{"ts":1451649600000,"values":{"s5":5}}]', { qos: 1 });
    assert.equal(await latest('s1'), 25); // numeric string cast
    assert.equal(await latest('b1'), true);
    assert.equal(await latest('n1'), undefined); // null dropped
    assert.equal(await latest('s2'), 1);
    assert.deepEqual(await latest('s3'), { deep: [1] });
    const [s4] = await tb.platform.store.latestTelemetry(device.id, ['s4']);
    assert.deepEqual(s4, { key: 's4', ts: 1451649600512, value: 4.5 });
    assert.equal(await latest('s5'), 5);
  });

  it('client attributes on v1/devices/me/attributes and v2/a are stored in the client scope', async () => {
    const { client } = resources.add(await connectClient(tb.mqttUrl, { username: token }));
    await client.publishAsync('v1/devices/me/attributes', '{"firmware":"1.2","count":"3"}', { qos: 1 });
    await client.publishAsync('v2/a', '{"mode":"eco"}', { qos: 1 });
    const attributes = await tb.platform.store.getAttributes(device.id, 'client');
    const byKey = Object.fromEntries(attributes.map((a) => [a.key, a.value]));
    assert.deepEqual(byKey, { firmware: 1.2, count: 3, mode: 'eco' });
  });

  it('MQTT 5: a bad payload gets PUBACK 0x99 and the session stays (an attribute array too)', async () => {
    const { client } = resources.add(await connectClient(tb.mqttUrl, { username: token, protocolVersion: 5 }));
    assert.equal(await pubackCode(client, 'v1/devices/me/telemetry', '{"broken":'), 0x99);
    assert.equal(await pubackCode(client, 'v1/devices/me/attributes', '[{"a":1}]'), 0x99);
    assert.equal(await pubackCode(client, 'v1/devices/me/telemetry', '{"after":1}'), 0);
    assert.equal(client.connected, true);
  });

  it('MQTT 3.1.1: a bad payload closes the connection, as ThingsBoard does', async () => {
    const { client } = resources.add(await connectClient(tb.mqttUrl, { username: token, protocolVersion: 4 }));
    const closed = clientClosed(client);
    client.publish('v1/devices/me/telemetry', 'not json at all {', { qos: 1 });
    await closed;
  });

  it('MQTT 3.1.1 with the profile’s "send PUBACK on validation failure": acknowledged and kept', async () => {
    const profile = await tb.platform.entities.createProfile(tb.org.id, {
      name: 'lenient',
      sendAckOnValidationFailure: true,
    });
    const created = await tb.platform.entities.createDevice(tb.org.id, { name: 'lenient-dev', profileId: profile.id });
    const { client } = resources.add(await connectClient(tb.mqttUrl, { username: tb.tokenOf(created) }));
    assert.equal(await pubackCode(client, 'v1/devices/me/telemetry', '{"broken":'), 0);
    assert.equal(client.connected, true);
  });

  it('an unknown topic in the namespace: MQTT 5 PUBACK 0x90; MQTT 3.1.1 a plain PUBACK', async () => {
    const v5 = resources.add(await connectClient(tb.mqttUrl, { username: token, protocolVersion: 5 }));
    assert.equal(await pubackCode(v5.client, 'v1/devices/me/unknown', '{}'), 0x90);
    const v4 = resources.add(await connectClient(tb.mqttUrl, { username: token, protocolVersion: 4 }));
    assert.equal(await pubackCode(v4.client, 'v2/zzz', '{}'), 0);
    assert.equal(v4.client.connected, true);
  });

  // [MQTT-3.9.3-2] the SUBACK carries one code per filter; 3.1.1 has only 0x80 for a failure.
  it('namespace subscriptions: §3.2 filters granted at the requested QoS, others 0x8F (v5) / 0x80 (3.1.1)', async () => {
    const v5 = resources.add(await connectClient(tb.mqttUrl, { username: token, protocolVersion: 5 }));
    assert.deepEqual(
      await subackCodes(v5.client, ['v1/devices/me/attributes', 'v1/devices/me/#', 'v2/r/req/+', 'plain/x'], 2),
      [2, 0x8f, 2, 2],
    );
    const v4 = resources.add(await connectClient(tb.mqttUrl, { username: token, protocolVersion: 4 }));
    assert.deepEqual(await subackCodes(v4.client, ['v1/devices/me/#', 'v2/a/res/+'], 1), [0x80, 1]);
  });

  it('a device may not subscribe with a wildcard at the first level (other organizations’ traffic)', async () => {
    const { client } = resources.add(await connectClient(tb.mqttUrl, { username: token, protocolVersion: 5 }));
    assert.deepEqual(await subackCodes(client, ['#', '+/devices/me/telemetry', 'site/+/temp'], 1), [0x87, 0x87, 1]);
  });

  it('a QoS 0 message from a device on a plain topic is routed as plain MQTT', async () => {
    const tc = resources.add(await connectClient(tb.mqttUrl, { username: token }));
    const { client } = tc;
    await client.subscribeAsync('site/a/temp');
    client.publish('site/a/temp', '21');
    const [message] = await tc.waitForMessages(1);
    assert.equal(message?.payload, '21');
  });

  it('a storage overload answers MQTT 5 PUBACK 0x97 and keeps the session', async () => {
    const small = await startTbServer({ maxPendingWrites: 1 });
    try {
      const token2 = small.tokenOf(await small.createDevice('burst'));
      const { client } = resources.add(await connectClient(small.mqttUrl, { username: token2, protocolVersion: 5 }));
      const codes = await pubackCode(client, 'v1/devices/me/telemetry', '{"a":1,"b":2,"c":3}');
      assert.equal(codes, 0x97);
      assert.equal(client.connected, true);
    } finally {
      await resources.closeAll();
      await small.close();
    }
  });

  it('MQTT 5: a payload of the wrong shape (a bare number) is refused on the PUBACK, never by disconnecting', async () => {
    // MQTT 5 is never disconnected for a payload: the refusal is on the PUBACK (choices.md).
    const { client } = resources.add(await connectClient(tb.mqttUrl, { username: token, protocolVersion: 5 }));
    const disconnect = serverDisconnect(client).then(
      () => 'disconnected',
      () => 'kept',
    );
    assert.equal(await pubackCode(client, 'v2/t', '42'), 0x99);
    client.end(true);
    assert.equal(await disconnect, 'kept');
  });
});

describe('the source document’s mosquitto_pub commands, run as written', () => {
  let tb: TbServer;
  let device: Device;
  let token: string;
  let workDir: string;

  before(async () => {
    tb = await startTbServer();
    const created = await tb.createDevice('doc-device');
    device = created.device;
    token = tb.tokenOf(created);
    workDir = mkdtempSync(join(tmpdir(), 'tb-doc-'));
    // The document's example files, verbatim.
    writeFileSync(
      join(workDir, 'telemetry-data-as-object.json'),
      '{\n  "stringKey": "value1",\n  "booleanKey": true,\n  "doubleKey": 42.0,\n  "longKey": 73,\n  "jsonKey": {\n    "someNumber": 42,\n    "someArray": [1,2,3],\n    "someNestedObject": {"key": "value"}\n  }\n}\n',
    );
    writeFileSync(join(workDir, 'telemetry-data-as-array.json'), '[{"key1":"value1"}, {"key2":true}]\n');
    writeFileSync(
      join(workDir, 'telemetry-data-with-ts.json'),
      '{\n  "ts": 1451649600512,\n  "values": {\n    "stringKey": "value1",\n    "booleanKey": true,\n    "doubleKey": 42.0,\n    "longKey": 73,\n    "jsonKey": {\n      "someNumber": 42,\n      "someArray": [1, 2, 3],\n      "someNestedObject": {\n        "key": "value"\n      }\n    }\n  }\n}\n',
    );
    writeFileSync(
      join(workDir, 'new-attributes-values.json'),
      '{\n  "attribute1": "value1",\n  "attribute2": true,\n  "attribute3": 42.0,\n  "attribute4": 73,\n  "attribute5": {\n    "someNumber": 42,\n    "someArray": [1,2,3],\n    "someNestedObject": {"key": "value"}\n  }\n}\n',
    );
  });
  after(async () => {
    rmSync(workDir, { recursive: true, force: true });
    await tb.close();
  });

  /** Runs one documented command line through bash, with the local host and our port put in. */
  const sh = async (line: string): Promise<{ stdout: string; stderr: string }> => {
    const command = line.replace('-h "127.0.0.1"', '-h "$HOST" -p "$PORT"');
    return run('bash', ['-c', command], {
      cwd: workDir,
      env: {
        ...process.env,
        HOST: tb.host,
        PORT: String(tb.mqttPort),
        ACCESS_TOKEN: token,
        PATH: `${join(process.cwd(), 'node_modules', '.bin')}:${process.env['PATH'] ?? ''}`,
      },
      timeout: 10_000,
    });
  };
  const latest = async (key: string): Promise<unknown> =>
    (await tb.platform.store.latestTelemetry(device.id, [key]))[0]?.value;

  it('-m "{"temperature":42}" (the shell strips the inner quotes; lenient JSON as in ThingsBoard) stores temperature = 42', async () => {
    const { stdout, stderr } = await sh(
      'mosquitto_pub -d -q 1 -h "127.0.0.1" -t "v1/devices/me/telemetry" -u "$ACCESS_TOKEN" -m "{"temperature":42}"',
    );
    assert.match(stdout + stderr, /PUBACK/);
    assert.equal(await latest('temperature'), 42);
  });

  it('-f telemetry-data-as-object.json, -as-array.json and -with-ts.json are stored', async () => {
    await sh(
      'mosquitto_pub -d -q 1 -h "127.0.0.1" -t "v1/devices/me/telemetry" -u "$ACCESS_TOKEN" -f "telemetry-data-as-object.json"',
    );
    assert.equal(await latest('longKey'), 73);
    assert.deepEqual(await latest('jsonKey'), {
      someNumber: 42,
      someArray: [1, 2, 3],
      someNestedObject: { key: 'value' },
    });
    await sh(
      'mosquitto_pub -d -q 1 -h "127.0.0.1" -t "v1/devices/me/telemetry" -u "$ACCESS_TOKEN" -f "telemetry-data-as-array.json"',
    );
    assert.equal(await latest('key2'), true);
    await sh(
      'mosquitto_pub -d -q 1 -h "127.0.0.1" -t "v1/devices/me/telemetry" -u "$ACCESS_TOKEN" -f "telemetry-data-with-ts.json"',
    );
    const [point] = await tb.platform.store.latestTelemetry(device.id, ['stringKey']);
    assert.equal(point?.value, 'value1');
  });

  /** Polls the store until the client attribute `key` has a value (QoS 0 publishers get no acknowledgement). */
  const eventuallyClientAttribute = async (key: string): Promise<unknown> => {
    const deadline = Date.now() + 5_000;
    for (;;) {
      const [attribute] = await tb.platform.store.getAttributes(device.id, 'client', [key]);
      if (attribute !== undefined || Date.now() > deadline) return attribute?.value;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  };

  it('client attributes with -m "{"attribute1": "value1", "attribute2": true}" and -f new-attributes-values.json', async () => {
    await sh(
      'mosquitto_pub -d -h "127.0.0.1" -t "v1/devices/me/attributes" -u "$ACCESS_TOKEN" -m "{"attribute1": "value1", "attribute2": true}"',
    );
    // QoS 0: mosquitto_pub exits once the bytes are sent, so the store is polled rather than read once.
    assert.equal(await eventuallyClientAttribute('attribute1'), 'value1');
    assert.equal(await eventuallyClientAttribute('attribute2'), true);
    await sh(
      'mosquitto_pub -d -h "127.0.0.1" -t "v1/devices/me/attributes" -u "$ACCESS_TOKEN" -f "new-attributes-values.json"',
    );
    assert.equal(await eventuallyClientAttribute('attribute4'), 73);
  });

  /** Polls the store until `key` has a value (QoS 0 publishers get no acknowledgement to wait for). */
  const eventually = async (key: string): Promise<unknown> => {
    const deadline = Date.now() + 5_000;
    for (;;) {
      const value = await latest(key);
      if (value !== undefined || Date.now() > deadline) return value;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  };

  it("MQTT.js's CLI: cat telemetry-data-as-array.json | mqtt pub … -u '$ACCESS_TOKEN' -s (token substituted)", async () => {
    const line =
      'cat telemetry-data-as-array.json | mqtt pub -v -h "127.0.0.1" -t "v1/devices/me/telemetry" -u \'$ACCESS_TOKEN\' -s';
    await sh(line.replace("'$ACCESS_TOKEN'", '"$ACCESS_TOKEN"'));
    assert.equal(await eventually('key1'), 'value1');
  });

  it("MQTT.js's CLI: cat new-attributes-values.json | mqtt pub -d … -s stores client attributes", async () => {
    const line =
      'cat new-attributes-values.json | mqtt pub -d -h "127.0.0.1" -t "v1/devices/me/attributes" -u \'$ACCESS_TOKEN\' -s';
    await tb.platform.committed((done) => tb.platform.deleteAttributes(device, 'client', ['attribute5'], done));
    await sh(line.replace("'$ACCESS_TOKEN'", '"$ACCESS_TOKEN"'));
    const deadline = Date.now() + 5_000;
    let stored: unknown;
    while (stored === undefined && Date.now() < deadline) {
      stored = (await tb.platform.store.getAttributes(device.id, 'client', ['attribute5']))[0]?.value;
      if (stored === undefined) await new Promise((resolve) => setTimeout(resolve, 20));
    }
    assert.deepEqual(stored, { someNumber: 42, someArray: [1, 2, 3], someNestedObject: { key: 'value' } });
  });

  it('mosquitto_sub -t "v1/devices/me/attributes" receives a shared attribute update', async () => {
    const sub = runMosquitto('mosquitto_sub', tb.mqttPort, [
      '-t',
      'v1/devices/me/attributes',
      '-u',
      token,
      '-C',
      '1',
      '-v',
    ]);
    // Wait until the device's session has subscribed (its link takes attribute updates from then on).
    const deadline = Date.now() + 5_000;
    for (;;) {
      await tb.platform.committed((done) => tb.platform.postAttributes(device, 'shared', { shared1: 'x' }, done));
      const finished = await Promise.race([sub.result, new Promise((r) => setTimeout(() => r(undefined), 100))]);
      if (finished !== undefined || Date.now() > deadline) break;
    }
    const result = await sub.result;
    assert.equal(result.stdout.trim(), 'v1/devices/me/attributes {"shared1":"x"}');
  });
});
