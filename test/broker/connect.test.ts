/**
 * CONNECT end to end: every CONNACK code the broker can answer, client identifier rules, session takeover and
 * keepalive, for MQTT 3.1.1 and 5.0 over real sockets.
 */
import assert from 'node:assert/strict';
import { after, afterEach, before, describe, test } from 'node:test';
import { PacketType } from '../../src/mqtt/codec/index.js';
import {
  clientClosed,
  connectClient,
  PROTOCOL_VERSIONS,
  Resources,
  startTestServer,
  WireClient,
  type TestServer,
} from '../helpers/index.js';

const VERSION_NAME = { 4: 'MQTT 3.1.1', 5: 'MQTT 5' } as const;

/** A CONNECT with protocol name `MQTT` and the given level, clean start, empty client id. */
function connectWithLevel(level: number): Buffer {
  const body = [0x00, 0x04, 0x4d, 0x51, 0x54, 0x54, level, 0x02, 0x00, 0x00];
  if (level === 5) body.push(0x00); // empty property section
  body.push(0x00, 0x00); // empty client id
  return Buffer.from([0x10, body.length, ...body]);
}

describe('CONNECT', () => {
  let server: TestServer;
  const resources = new Resources();

  before(async () => {
    server = await startTestServer();
  });
  afterEach(() => resources.closeAll());
  after(() => server.close());

  for (const level of [2, 6, 255]) {
    test(`a CONNECT with protocol level ${String(level)} is answered with return code 0x01 and closed`, async () => {
      const client = resources.add(await WireClient.open(server.mqttPort, 4));
      client.sendBytes(connectWithLevel(level));
      await client.closed();
      // [MQTT-3.1.2-2] unacceptable protocol level: CONNACK 0x01, then disconnect.
      assert.deepEqual(client.receivedBytes, Buffer.from([0x20, 0x02, 0x00, 0x01]));
    });
  }

  test('a first packet other than CONNECT closes the connection without any answer', async () => {
    const client = resources.add(await WireClient.open(server.mqttPort, 4));
    client.send({ type: PacketType.Pingreq });
    await client.closed();
    // [MQTT-3.1.0-1] the first packet from the client must be CONNECT.
    assert.equal(client.receivedBytes.length, 0);
  });

  test('a PUBLISH before CONNECT is not delivered to anyone', async () => {
    const subscriber = resources.add(await connectClient(server.mqttUrl));
    await subscriber.client.subscribeAsync('early/publish');
    const client = resources.add(await WireClient.open(server.mqttPort, 4));
    client.publish('early/publish', 'too soon');
    await client.closed();
    await subscriber.client.publishAsync('early/publish', 'after', { qos: 1 });
    const [message] = await subscriber.waitForMessages(1);
    assert.equal(message?.payload, 'after');
    assert.equal(subscriber.messages.length, 1);
  });

  test('MQTT 3.1.1: an empty client id with clean session 0 is refused with 0x02', async () => {
    const { client, connack } = await WireClient.connect(server.mqttPort, 4, { clientId: '', cleanStart: false });
    resources.add(client);
    await client.closed();
    // [MQTT-3.1.3-8] zero-byte client id with CleanSession 0: CONNACK 0x02 (identifier rejected), then close.
    assert.equal(connack.reasonCode, 0x85);
    assert.deepEqual(client.receivedBytes, Buffer.from([0x20, 0x02, 0x00, 0x02]));
  });

  test('MQTT 3.1.1: an empty client id with clean session 1 is accepted', async () => {
    const { client, connack } = await WireClient.connect(server.mqttPort, 4, { clientId: '', cleanStart: true });
    resources.add(client);
    // [MQTT-3.1.3-6] the server assigns a unique id and processes the connection; 3.1.1 has no way to say which.
    assert.deepEqual(client.receivedBytes, Buffer.from([0x20, 0x02, 0x00, 0x00]));
    assert.equal(connack.sessionPresent, false);
    await client.sync();
  });

  for (const cleanStart of [true, false]) {
    test(`MQTT 5: an empty client id (clean start ${String(cleanStart)}) gets an Assigned Client Identifier`, async () => {
      const first = await WireClient.connect(server.mqttPort, 5, { clientId: '', cleanStart });
      const second = await WireClient.connect(server.mqttPort, 5, { clientId: '', cleanStart });
      resources.add(first.client);
      resources.add(second.client);
      // [MQTT-3.2.2-16] the CONNACK carries the identifier the server assigned; each one unique [MQTT-3.1.3-6].
      assert.equal(first.connack.reasonCode, 0x00);
      const firstId = first.connack.properties?.assignedClientIdentifier;
      const secondId = second.connack.properties?.assignedClientIdentifier;
      assert.ok(firstId !== undefined && firstId.length > 0);
      assert.ok(secondId !== undefined && secondId.length > 0);
      assert.notEqual(firstId, secondId);
      // Both are live: the second did not take the first over.
      await first.client.sync();
      await second.client.sync();
    });
  }

  test('MQTT 5: MQTT.js sees the assigned client identifier', async () => {
    const client = resources.add(await connectClient(server.mqttUrl, { protocolVersion: 5, clientId: '' }));
    assert.ok((client.connack.properties?.assignedClientIdentifier ?? '').length > 0);
  });

  test('MQTT 5: a client id given by the client is not echoed as assigned', async () => {
    const { client, connack } = await WireClient.connect(server.mqttPort, 5, { clientId: 'has-an-id' });
    resources.add(client);
    assert.equal(connack.properties?.assignedClientIdentifier, undefined);
  });

  test('MQTT 5: an Authentication Method is refused with 0x8C and the connection closed', async () => {
    const { client, connack } = await WireClient.connect(server.mqttPort, 5, {
      clientId: 'enhanced-auth',
      properties: { authenticationMethod: 'SCRAM-SHA-256' },
    });
    resources.add(client);
    // [MQTT-4.12.0-1] the server does not support the method: CONNACK 0x8C Bad authentication method, then close.
    assert.equal(connack.reasonCode, 0x8c);
    await client.closed();
  });

  for (const version of PROTOCOL_VERSIONS) {
    const name = VERSION_NAME[version];

    test(`${name}: a second CONNECT closes the connection${version === 5 ? ' with DISCONNECT 0x82' : ''}`, async () => {
      const { client, connack } = await WireClient.connect(server.mqttPort, version, { clientId: `twice-${name}` });
      resources.add(client);
      assert.equal(connack.reasonCode, 0x00);
      client.send({
        type: PacketType.Connect,
        protocolName: 'MQTT',
        protocolVersion: version,
        cleanStart: true,
        keepAliveSeconds: 0,
        clientId: `twice-${name}`,
        username: undefined,
        password: undefined,
        will: undefined,
        properties: undefined,
      });
      // [MQTT-3.1.0-2] a second CONNECT is a protocol violation: the server disconnects.
      if (version === 5) {
        const disconnect = await client.nextDisconnect();
        assert.equal(disconnect.reasonCode, 0x82);
      }
      await client.closed();
      assert.equal(client.unread(PacketType.Connack).length, 0);
    });

    test(`${name}: a client taken over by a new connection with its client id is closed`, async () => {
      const clientId = `takeover-${String(version)}`;
      const { client: old } = await WireClient.connect(server.mqttPort, version, { clientId });
      resources.add(old);
      const newer = resources.add(await connectClient(server.mqttUrl, { protocolVersion: version, clientId }));
      // [MQTT-3.1.4-3] the server disconnects the existing client with that id; v5 says why with 0x8E.
      if (version === 5) {
        const disconnect = await old.nextDisconnect();
        assert.equal(disconnect.reasonCode, 0x8e);
      }
      await old.closed();
      // The new connection works.
      await newer.client.subscribeAsync('takeover/check');
      await newer.client.publishAsync('takeover/check', 'ok', { qos: 1 });
      await newer.waitForMessages(1);
    });

    test(`${name}: MQTT.js sees its connection taken over`, async () => {
      const clientId = `takeover-js-${String(version)}`;
      const old = resources.add(await connectClient(server.mqttUrl, { protocolVersion: version, clientId }));
      const reasonCodes: number[] = [];
      old.client.on('disconnect', (packet) => reasonCodes.push(packet.reasonCode ?? 0));
      const closed = clientClosed(old.client);
      resources.add(await connectClient(server.mqttUrl, { protocolVersion: version, clientId }));
      await closed;
      assert.deepEqual(reasonCodes, version === 5 ? [0x8e] : []);
    });
  }
});

describe('CONNECT with allowAnonymous false', () => {
  let server: TestServer;
  const resources = new Resources();

  before(async () => {
    server = await startTestServer({ allowAnonymous: false });
  });
  afterEach(() => resources.closeAll());
  after(() => server.close());

  // The codes are the ThingsBoard dialect's (docs/thingsboard.md, "CONNACK codes"): 3.1.1 gets the documented 0x04 for
  // no credentials and 0x05 for credentials that match nothing; MQTT 5 gets 0x87 and 0x86.
  // choices.md "Who connects", step 5: empty username and password is a CloudPlugs enrolment session (CloudPlugs needs
  // a successful CONNACK before the enrolment SUBSCRIBE); without anonymous access it may use no plain topic.
  test('MQTT 3.1.1: a client without credentials is accepted as a CloudPlugs enrolment session (CONNACK 0)', async () => {
    const { client } = await WireClient.connect(server.mqttPort, 4, { clientId: 'anon-4' });
    resources.add(client);
    assert.deepEqual(client.receivedBytes.subarray(0, 4), Buffer.from([0x20, 0x02, 0x00, 0x00]));
  });

  test('MQTT 3.1.1: a client with a user name nobody can verify is refused with 0x05', async () => {
    const { client } = await WireClient.connect(server.mqttPort, 4, {
      clientId: 'user-4',
      username: 'alice',
      password: Buffer.from('secret'),
    });
    resources.add(client);
    await client.closed();
    assert.deepEqual(client.receivedBytes, Buffer.from([0x20, 0x02, 0x00, 0x05]));
  });

  test('MQTT 5: a client without credentials is accepted as a CloudPlugs enrolment session (CONNACK 0)', async () => {
    const { client, connack } = await WireClient.connect(server.mqttPort, 5, { clientId: 'anon-5' });
    resources.add(client);
    assert.equal(connack.reasonCode, 0x00);
  });

  test('MQTT 5: a client with a user name nobody can verify is refused with 0x86', async () => {
    const { client, connack } = await WireClient.connect(server.mqttPort, 5, {
      clientId: 'user-5',
      username: 'alice',
      password: Buffer.from('secret'),
    });
    resources.add(client);
    assert.equal(connack.reasonCode, 0x86);
    await client.closed();
  });

  for (const version of PROTOCOL_VERSIONS) {
    test(`${VERSION_NAME[version]}: MQTT.js without credentials may not subscribe to a plain topic`, async () => {
      const anonymous = await connectClient(server.mqttUrl, { protocolVersion: version, clientId: 'js-anon' });
      resources.add(anonymous);
      await assert.rejects(anonymous.client.subscribeAsync('plain/topic'));
    });
  }
});

describe('keepalive', () => {
  let server: TestServer;
  const resources = new Resources();

  before(async () => {
    server = await startTestServer();
  });
  afterEach(() => resources.closeAll());
  after(() => server.close());

  for (const version of PROTOCOL_VERSIONS) {
    const name = VERSION_NAME[version];

    test(`${name}: a client silent for 1.5 x its 1 s keepalive is disconnected`, async () => {
      const { client } = await WireClient.connect(server.mqttPort, version, {
        clientId: `silent-${String(version)}`,
        keepAliveSeconds: 1,
      });
      resources.add(client);
      const startedAt = Date.now();
      // [MQTT-3.1.2-24] no control packet within one and a half keepalive periods: the server disconnects.
      if (version === 5) {
        // [MQTT-4.13.1-1] v5: DISCONNECT 0x8D Keep Alive timeout first.
        const disconnect = await client.nextDisconnect(4_000);
        assert.equal(disconnect.reasonCode, 0x8d);
      }
      await client.closed(4_000);
      const elapsedMs = Date.now() - startedAt;
      assert.ok(elapsedMs >= 1_400, `closed after ${String(elapsedMs)} ms, before 1.5 x keepalive`);
      assert.ok(elapsedMs < 3_000, `closed after ${String(elapsedMs)} ms`);
    });

    test(`${name}: a client that pings within its 1 s keepalive stays connected`, async () => {
      const { client } = await WireClient.connect(server.mqttPort, version, {
        clientId: `pinging-${String(version)}`,
        keepAliveSeconds: 1,
      });
      resources.add(client);
      // Time is the behaviour here: 5 pings 600 ms apart span twice the 1.5 s limit.
      for (let i = 0; i < 5; i++) {
        await new Promise((resolve) => setTimeout(resolve, 600));
        await client.sync();
      }
      assert.equal(client.isClosed, false);
    });
  }

  test('MQTT 5: a keepalive above mqtt.maxKeepAliveSeconds is lowered with Server Keep Alive and enforced', async () => {
    const limited = resources.add(await startTestServer({ mqtt: { maxKeepAliveSeconds: 1 } }));
    const { client, connack } = await WireClient.connect(limited.mqttPort, 5, {
      clientId: 'server-keepalive',
      keepAliveSeconds: 60,
    });
    resources.add(client);
    // [MQTT-3.2.2-21] the client must use the Server Keep Alive the server returned.
    assert.equal(connack.properties?.serverKeepAlive, 1);
    const startedAt = Date.now();
    const disconnect = await client.nextDisconnect(4_000);
    assert.equal(disconnect.reasonCode, 0x8d);
    await client.closed();
    assert.ok(Date.now() - startedAt >= 1_400);
  });

  test('MQTT 3.1.1: a keepalive above mqtt.maxKeepAliveSeconds is refused with 0x02', async () => {
    const limited = resources.add(await startTestServer({ mqtt: { maxKeepAliveSeconds: 30 } }));
    const { client } = await WireClient.connect(limited.mqttPort, 4, {
      clientId: 'v3-keepalive',
      keepAliveSeconds: 31,
    });
    resources.add(client);
    await client.closed();
    // 3.1.1 has no Server Keep Alive: rather than cut the client off later, it is refused now (as Mosquitto does).
    assert.deepEqual(client.receivedBytes, Buffer.from([0x20, 0x02, 0x00, 0x02]));
  });

  test('MQTT 3.1.1: a keepalive of 0 turns keepalive off even when a maximum is configured', async () => {
    const limited = resources.add(await startTestServer({ mqtt: { maxKeepAliveSeconds: 1 } }));
    const { client } = await WireClient.connect(limited.mqttPort, 4, {
      clientId: 'v3-no-keepalive',
      keepAliveSeconds: 0,
    });
    resources.add(client);
    // 3.1.1 §3.1.2.10: a Keep Alive of 0 turns the mechanism off; the server need not disconnect for inactivity.
    assert.deepEqual(client.receivedBytes, Buffer.from([0x20, 0x02, 0x00, 0x00]));
    await new Promise((resolve) => setTimeout(resolve, 2_000)); // longer than 1.5 × the 1 s maximum
    await client.sync();
  });

  test('MQTT 3.1.1: a keepalive within mqtt.maxKeepAliveSeconds is accepted', async () => {
    const limited = resources.add(await startTestServer({ mqtt: { maxKeepAliveSeconds: 30 } }));
    const { client } = await WireClient.connect(limited.mqttPort, 4, {
      clientId: 'v3-keepalive-ok',
      keepAliveSeconds: 30,
    });
    resources.add(client);
    assert.deepEqual(client.receivedBytes, Buffer.from([0x20, 0x02, 0x00, 0x00]));
    await client.sync();
  });

  test('MQTT 5: a keepalive of 0 gets Server Keep Alive when a maximum is configured', async () => {
    const limited = resources.add(await startTestServer({ mqtt: { maxKeepAliveSeconds: 30 } }));
    const { client, connack } = await WireClient.connect(limited.mqttPort, 5, {
      clientId: 'no-keepalive',
      keepAliveSeconds: 0,
    });
    resources.add(client);
    assert.equal(connack.properties?.serverKeepAlive, 30);
  });

  test('MQTT 5: a keepalive within mqtt.maxKeepAliveSeconds gets no Server Keep Alive', async () => {
    const limited = resources.add(await startTestServer({ mqtt: { maxKeepAliveSeconds: 30 } }));
    const { client, connack } = await WireClient.connect(limited.mqttPort, 5, {
      clientId: 'fine-keepalive',
      keepAliveSeconds: 20,
    });
    resources.add(client);
    assert.equal(connack.properties?.serverKeepAlive, undefined);
  });

  test('MQTT 5: MQTT.js adopts the Server Keep Alive', async () => {
    const limited = resources.add(await startTestServer({ mqtt: { maxKeepAliveSeconds: 5 } }));
    const client = resources.add(await connectClient(limited.mqttUrl, { protocolVersion: 5, keepalive: 60 }));
    assert.equal(client.connack.properties?.serverKeepAlive, 5);
    assert.equal(client.client.keepalive, 5);
  });
});
