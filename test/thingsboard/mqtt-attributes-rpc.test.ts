/**
 * ThingsBoard attributes and RPC over MQTT with MQTT.js (device-apis.md §3.2, §3.3, §3.5, §3.7): attribute requests
 * and responses on v1 and v2, shared-attribute updates with `deleted` on the form subscribed, server-side RPC both
 * ways end to end, client-side RPC (getTime, getSessionLimits, unknown methods), claiming; and the source
 * document's three MQTT.js scripts run as written (host and token substituted).
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { CLAIMING_DATA_KEY } from '../../src/dialects/thingsboard/index.js';
import type { Device } from '../../src/platform/model.js';
import { connectClient, Resources, waitFor } from '../helpers/index.js';
import { startTbServer, type TbServer } from './helpers.js';
import { pubackCode, subackCodes } from './tb-clients.js';

const run = promisify(execFile);

describe('ThingsBoard attributes and RPC over MQTT', () => {
  let tb: TbServer;
  let device: Device;
  let token: string;
  const resources = new Resources();

  before(async () => {
    tb = await startTbServer({ limits: { rateLimits: { messages: '200:1,6000:60' } } });
    const created = await tb.createDevice('attr-device');
    device = created.device;
    token = tb.tokenOf(created);
    await tb.platform.committed((done) =>
      tb.platform.postAttributes(device, 'client', { attribute1: 'a1', attribute2: 2 }, done),
    );
    await tb.platform.committed((done) => tb.platform.postAttributes(device, 'shared', { shared1: 's1' }, done));
  });
  afterEach(() => resources.closeAll());
  after(() => tb.close());

  it('an attribute request gets {"client","shared"} on the response topic of its id; {} = everything', async () => {
    const tc = resources.add(await connectClient(tb.mqttUrl, { username: token }));
    const { client } = tc;
    await client.subscribeAsync('v1/devices/me/attributes/response/+', { qos: 1 });
    client.publish(
      'v1/devices/me/attributes/request/1',
      '{"clientKeys":"attribute1,attribute2", "sharedKeys":"shared1,shared2"}',
    );
    client.publish('v1/devices/me/attributes/request/2', '{}');
    client.publish('v1/devices/me/attributes/request/3', '{"sharedKeys":"missing"}');
    const messages = await tc.waitForMessages(3);
    const byTopic = Object.fromEntries(messages.map((m) => [m.topic, JSON.parse(m.payload) as unknown]));
    const both = { client: { attribute1: 'a1', attribute2: 2 }, shared: { shared1: 's1' } };
    assert.deepEqual(byTopic['v1/devices/me/attributes/response/1'], both);
    assert.deepEqual(byTopic['v1/devices/me/attributes/response/2'], both);
    assert.deepEqual(byTopic['v1/devices/me/attributes/response/3'], {}); // empty sections omitted
    assert.equal(messages[0]?.packet.qos, 1); // the QoS the device subscribed to responses with
  });

  it('a v2 request (v2/a/req/<id>) is answered on v2/a/res/<id>', async () => {
    const tc = resources.add(await connectClient(tb.mqttUrl, { username: token }));
    const { client } = tc;
    await client.subscribeAsync('v2/a/res/+');
    client.publish('v2/a/req/42', '{"clientKeys":"attribute2"}');
    const [message] = await tc.waitForMessages(1);
    assert.equal(message?.topic, 'v2/a/res/42');
    assert.deepEqual(JSON.parse(message.payload), { client: { attribute2: 2 } });
  });

  it('a shared attribute update reaches the subscribed device on its topic form, with "deleted"', async () => {
    const v1 = resources.add(await connectClient(tb.mqttUrl, { username: token, clientId: 'v1-sub' }));
    await v1.client.subscribeAsync('v1/devices/me/attributes', { qos: 1 });
    await tb.platform.committed((done) => tb.platform.postAttributes(device, 'shared', { targetTemp: 21 }, done));
    await tb.platform.committed((done) => tb.platform.deleteAttributes(device, 'shared', ['shared1'], done));
    const messages = await v1.waitForMessages(2);
    assert.deepEqual(
      messages.map((m) => [m.topic, JSON.parse(m.payload) as unknown, m.packet.qos]),
      [
        ['v1/devices/me/attributes', { targetTemp: 21 }, 1],
        ['v1/devices/me/attributes', { deleted: ['shared1'] }, 1],
      ],
    );
  });

  it('a v2 subscriber gets updates on v2/a', async () => {
    const v2 = resources.add(await connectClient(tb.mqttUrl, { username: token }));
    await v2.client.subscribeAsync('v2/a');
    await tb.platform.committed((done) => tb.platform.postAttributes(device, 'shared', { mode: 'x' }, done));
    const [message] = await v2.waitForMessages(1);
    assert.equal(message?.topic, 'v2/a');
    assert.deepEqual(JSON.parse(message.payload), { mode: 'x' });
  });

  it('server-side RPC: platform.rpc.call reaches the device on …/rpc/request/<id>, its reply completes the call', async () => {
    const { client } = resources.add(await connectClient(tb.mqttUrl, { username: token }));
    await client.subscribeAsync('v1/devices/me/rpc/request/+', { qos: 1 });
    client.on('message', (topic, payload) => {
      if (!topic.startsWith('v1/devices/me/rpc/request/')) return;
      const request = JSON.parse(payload.toString()) as { method: string; params: unknown };
      const id = topic.slice('v1/devices/me/rpc/request/'.length);
      client.publish(`v1/devices/me/rpc/response/${id}`, JSON.stringify({ echo: request }));
    });
    const outcome = await tb.platform.rpc.call(device, {
      method: 'setGpio',
      params: { pin: 4, value: 1 },
      isOneway: false,
      isPersistent: false,
    });
    assert.equal(outcome.kind, 'done');
    assert.equal(outcome.rpc.status, 'SUCCESSFUL');
    assert.deepEqual(outcome.rpc.response, { echo: { method: 'setGpio', params: { pin: 4, value: 1 } } });
  });

  it('a one-way RPC to a QoS 1 subscriber is done when the device acknowledges it', async () => {
    const tc = resources.add(await connectClient(tb.mqttUrl, { username: token }));
    const { client } = tc;
    await client.subscribeAsync('v2/r/req/+', { qos: 1 });
    const outcome = await tb.platform.rpc.call(device, {
      method: 'blink',
      params: {},
      isOneway: true,
      isPersistent: false,
    });
    assert.equal(outcome.kind, 'done');
    const [message] = await tc.waitForMessages(1);
    assert.match(message!.topic, /^v2\/r\/req\/\d+$/);
    assert.equal(message?.packet.qos, 1);
  });

  it('a persistent RPC queued while offline is delivered when the device subscribes', async () => {
    // The previous test's connection must be gone, or it would be offered the request.
    await waitFor(() => !tb.platform.links.isConnected(device.id), 'the device to be offline');
    const queued = await tb.platform.rpc.call(device, {
      method: 'later',
      params: 1,
      isOneway: true,
      isPersistent: true,
      timeoutMs: 30_000,
    });
    assert.equal(queued.kind, 'queued');
    const tc = resources.add(await connectClient(tb.mqttUrl, { username: token }));
    const { client } = tc;
    await client.subscribeAsync('v1/devices/me/rpc/request/+', { qos: 1 });
    const [message] = await tc.waitForMessages(1);
    assert.deepEqual(JSON.parse(message!.payload), { method: 'later', params: 1 });
    const deadline = Date.now() + 5_000;
    while ((await tb.platform.rpc.get(queued.rpc.id))?.status !== 'SUCCESSFUL' && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 20));
    }
    assert.equal((await tb.platform.rpc.get(queued.rpc.id))?.status, 'SUCCESSFUL');
  });

  it('client-side RPC: getTime, getSessionLimits (from the real limits) and an unknown method', async () => {
    const tc = resources.add(await connectClient(tb.mqttUrl, { username: token }));
    const { client } = tc;
    await client.subscribeAsync('v1/devices/me/rpc/response/+');
    const before = Date.now();
    client.publish('v1/devices/me/rpc/request/1', JSON.stringify({ method: 'getTime', params: {} }));
    client.publish('v1/devices/me/rpc/request/2', JSON.stringify({ method: 'getSessionLimits', params: {} }));
    client.publish('v1/devices/me/rpc/request/3', JSON.stringify({ method: 'noSuchMethod', params: {} }));
    const messages = await tc.waitForMessages(3);
    const byTopic = Object.fromEntries(
      messages.map((m) => [m.topic, JSON.parse(m.payload) as Record<string, unknown>]),
    );
    const time = byTopic['v1/devices/me/rpc/response/1']?.['time'];
    assert.ok(typeof time === 'number' && time >= before);
    assert.deepEqual(byTopic['v1/devices/me/rpc/response/2'], {
      maxPayloadSize: tb.broker.limits.maxPacketSizeBytes,
      maxInflightMessages: tb.broker.limits.receiveMaximum,
      rateLimits: { messages: '200:1,6000:60' },
    });
    assert.ok(typeof byTopic['v1/devices/me/rpc/response/3']?.['error'] === 'string');
  });

  it('client-side RPC without "params" is a payload error (MQTT 5 PUBACK 0x99)', async () => {
    const { client } = resources.add(await connectClient(tb.mqttUrl, { username: token, protocolVersion: 5 }));
    assert.equal(await pubackCode(client, 'v1/devices/me/rpc/request/9', '{"method":"getTime"}'), 0x99);
  });

  it('a claim request stores claimingData (secret and expiry) as a server attribute; an empty payload is allowed', async () => {
    const { client } = resources.add(await connectClient(tb.mqttUrl, { username: token, protocolVersion: 5 }));
    const before = Date.now();
    assert.equal(await pubackCode(client, 'v1/devices/me/claim', '{"secretKey":"value", "durationMs":60000}'), 0);
    const [stored] = await tb.platform.store.getAttributes(device.id, 'server', [CLAIMING_DATA_KEY]);
    const data = stored?.value as { secretKey: string; expirationTime: number };
    assert.equal(data.secretKey, 'value');
    assert.ok(data.expirationTime >= before + 60_000 && data.expirationTime <= Date.now() + 60_000);
    assert.equal(await pubackCode(client, 'v1/devices/me/claim', ''), 0);
  });

  it('the response filters of every form are granted', async () => {
    const { client } = resources.add(await connectClient(tb.mqttUrl, { username: token, protocolVersion: 5 }));
    assert.deepEqual(
      await subackCodes(client, ['v2/a/res/j/+', 'v2/r/res/+', 'v2/r/req/j/+', 'v1/devices/me/rpc/response/+'], 1),
      [1, 1, 1, 1],
    );
  });
});

describe('the source document’s MQTT.js scripts, run as written', () => {
  let tb: TbServer;
  let device: Device;
  let token: string;
  let workDir: string;

  before(async () => {
    tb = await startTbServer();
    const created = await tb.createDevice('script-device');
    device = created.device;
    token = tb.tokenOf(created);
    workDir = mkdtempSync(join(tmpdir(), 'tb-scripts-'));
  });
  after(async () => {
    rmSync(workDir, { recursive: true, force: true });
    await tb.close();
  });

  /** Writes the script with the document's host replaced by ours and starts it with TOKEN set, as documented. */
  const startScript = (name: string, source: string): ReturnType<typeof run> => {
    const path = join(workDir, name);
    const url = `mqtt://${tb.host}:${String(tb.mqttPort)}`;
    writeFileSync(path, source.replace(/'mqtt:\/\/(thingsboard\.cloud|127\.0\.0\.1)'/, `'${url}'`));
    return run('node', [path], {
      cwd: workDir,
      env: { ...process.env, TOKEN: token, NODE_PATH: join(process.cwd(), 'node_modules') },
      timeout: 10_000,
    });
  };

  it('mqtt-js-attributes-request.js prints the response topic and body, then ends', async () => {
    await tb.platform.committed((done) => tb.platform.postAttributes(device, 'client', { attribute1: 'v1' }, done));
    const { stdout } = await startScript('mqtt-js-attributes-request.cjs', readDocScript('attributes'));
    assert.match(String(stdout), /response\.topic: v1\/devices\/me\/attributes\/response\/1/);
    assert.match(String(stdout), /response\.body: \{"client":\{"attribute1":"v1"\}\}/);
  });

  it('mqtt-js-rpc-from-server.js echoes a server-side RPC back', async () => {
    const script = startScript('mqtt-js-rpc-from-server.cjs', readDocScript('rpc-from-server'));
    script.child.stdout?.setEncoding('utf8');
    let output = '';
    script.child.stdout?.on('data', (chunk: string) => (output += chunk));
    await waitFor(() => output.includes('connected'), 'the script to connect');
    await waitFor(() => tb.platform.links.isConnected(device.id), 'the device link');
    let outcome = await tb.platform.rpc.call(device, {
      method: 'ping',
      params: { n: 1 },
      isOneway: false,
      isPersistent: false,
    });
    for (let i = 0; i < 20 && outcome.kind === 'offline'; i++) {
      await new Promise((r) => setTimeout(r, 50)); // subscribed a moment after CONNACK
      outcome = await tb.platform.rpc.call(device, {
        method: 'ping',
        params: { n: 1 },
        isOneway: false,
        isPersistent: false,
      });
    }
    assert.equal(outcome.kind, 'done');
    assert.deepEqual(outcome.rpc.response, { method: 'ping', params: { n: 1 } });
    script.child.kill();
    await script.catch(() => undefined);
  });

  it('mqtt-js-rpc-from-client.js gets the server time', async () => {
    const script = startScript('mqtt-js-rpc-from-client.cjs', readDocScript('rpc-from-client'));
    script.child.stdout?.setEncoding('utf8');
    let output = '';
    script.child.stdout?.on('data', (chunk: string) => (output += chunk));
    await waitFor(() => output.includes('response.body'), 'the RPC response');
    assert.match(output, /response\.topic: v1\/devices\/me\/rpc\/response\/1/);
    assert.match(output, /response\.body: \{"time":\d+\}/);
    script.child.kill();
    await script.catch(() => undefined);
  });
});

/** The three scripts as the source document prints them (../shared/seeds/003_f1908c5303b057c0.txt). */
function readDocScript(which: 'attributes' | 'rpc-from-server' | 'rpc-from-client'): string {
  const scripts: Record<typeof which, string> = {
    attributes: `var mqtt = require('mqtt')
var client  = mqtt.connect('mqtt://thingsboard.cloud',{
    username: process.env.TOKEN
})

client.on('connect', function () {
    console.log('connected')
    client.subscribe('v1/devices/me/attributes/response/+')
    client.publish('v1/devices/me/attributes/request/1', '{"clientKeys":"attribute1,attribute2", "sharedKeys":"shared1,shared2"}')
})

client.on('message', function (topic, message) {
    console.log('response.topic: ' + topic)
    console.log('response.body: ' + message.toString())
    client.end()
})
`,
    'rpc-from-server': `var mqtt = require('mqtt');
var client  = mqtt.connect('mqtt://thingsboard.cloud',{
    username: process.env.TOKEN
});

client.on('connect', function () {
    console.log('connected');
    client.subscribe('v1/devices/me/rpc/request/+')
});

client.on('message', function (topic, message) {
    console.log('request.topic: ' + topic);
    console.log('request.body: ' + message.toString());
    var requestId = topic.slice('v1/devices/me/rpc/request/'.length);
    //client acts as an echo service
    client.publish('v1/devices/me/rpc/response/' + requestId, message);
});
`,
    'rpc-from-client': `var mqtt = require('mqtt');
var client = mqtt.connect('mqtt://127.0.0.1', {
    username: process.env.TOKEN
});

client.on('connect', function () {
    console.log('connected');
    client.subscribe('v1/devices/me/rpc/response/+');
    var requestId = 1;
    var request = {
        "method": "getTime",
        "params": {}
    };
    client.publish('v1/devices/me/rpc/request/' + requestId, JSON.stringify(request));
});

client.on('message', function (topic, message) {
    console.log('response.topic: ' + topic);
    console.log('response.body: ' + message.toString());
});
`,
  };
  return scripts[which];
}

describe('ThingsBoard provisioning over MQTT through the core dialect', () => {
  let tb: TbServer;
  const resources = new Resources();
  before(async () => {
    tb = await startTbServer({ limits: { provisionSessionCloseMs: 200 } });
    await tb.platform.entities.createProfile(tb.org.id, {
      name: 'provisioned',
      provisioning: {
        strategy: 'ALLOW_CREATE_NEW_DEVICES',
        key: 'u7piawkboq8v32dmcmpp',
        secret: 'jpmwdn8ptlswmf4m29bw',
      },
    });
  });
  afterEach(() => resources.closeAll());
  after(() => tb.close());

  it('a "provision" session gets SUCCESS with a token on /provision/response, is closed after it, and the token connects', async () => {
    const session = resources.add(await connectClient(tb.mqttUrl, { username: 'provision', protocolVersion: 5 }));
    await session.client.subscribeAsync('/provision/response');
    const closed = new Promise<void>((resolve) => session.client.once('close', () => resolve()));
    session.client.publish(
      '/provision/request',
      JSON.stringify({
        deviceName: 'DEVICE_NAME',
        provisionDeviceKey: 'u7piawkboq8v32dmcmpp',
        provisionDeviceSecret: 'jpmwdn8ptlswmf4m29bw',
      }),
      { qos: 1 },
    );
    const [reply] = await session.waitForMessages(1);
    const body = JSON.parse(reply!.payload) as { status: string; credentialsType: string; credentialsValue: string };
    assert.equal(body.status, 'SUCCESS');
    assert.equal(body.credentialsType, 'ACCESS_TOKEN');
    await closed; // ThingsBoard closes the provisioning session after its reply (60 s there, 200 ms here)
    const device = resources.add(await connectClient(tb.mqttUrl, { username: body.credentialsValue }));
    assert.equal(device.client.connected, true);
  });
});
