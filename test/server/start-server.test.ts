/** `startServer` in-process through `startTestServer`: free ports, listeners, clients, errors and close. */
import assert from 'node:assert/strict';
import { existsSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { once } from 'node:events';
import { describe, test } from 'node:test';
import { ListenError } from '../../src/transport/index.js';
import { startTestServer } from '../helpers/in-process-server.js';
import { clientClosed, connectClient } from '../helpers/mqtt-js.js';

describe('startServer', () => {
  test('binds free ports for MQTT and HTTP, no TLS unless asked, and the SQLite store under dataDir', async () => {
    const server = await startTestServer();
    try {
      assert.ok(server.mqttPort > 0);
      assert.ok(server.httpPort > 0);
      assert.notEqual(server.mqttPort, server.httpPort);
      assert.equal(server.mqttsPort, undefined);
      assert.equal(server.server.addresses.mqtts, undefined);
      assert.ok(existsSync(`${server.dataDir}/broker.db`));
    } finally {
      await server.close();
    }
    assert.equal(existsSync(server.dataDir), false, 'the helper removes the data directory it made');
  });

  test('storage kind memory writes nothing to dataDir', async () => {
    const server = await startTestServer({ storage: { kind: 'memory' } });
    try {
      assert.equal(existsSync(`${server.dataDir}/broker.db`), false);
    } finally {
      await server.close();
    }
  });

  test('a client on each of TCP, TLS and WebSocket gets service from the one broker', async () => {
    const server = await startTestServer({}, { tls: true });
    assert.ok(server.mqttsUrl !== undefined && server.certificates !== undefined);
    const tcp = await connectClient(server.mqttUrl, { protocolVersion: 5 });
    const tls = await connectClient(server.mqttsUrl, { protocolVersion: 4, ca: server.certificates.caCert });
    const ws = await connectClient(server.wsUrl, { protocolVersion: 5 });
    try {
      await tls.client.subscribeAsync('in-process/+', { qos: 1 });
      await ws.client.subscribeAsync('in-process/+', { qos: 1 });
      await tcp.client.publishAsync('in-process/a', 'hello', { qos: 1 });
      for (const subscriber of [tls, ws]) {
        const [message] = await subscriber.waitForMessages(1, ({ topic }) => topic === 'in-process/a');
        assert.equal(message?.payload, 'hello');
      }
    } finally {
      await Promise.all([tcp, tls, ws].map(({ client }) => client.endAsync()));
      await server.close();
    }
  });

  test('a port in use rejects with a ListenError, and the store is closed so the data can be opened again', async () => {
    const first = await startTestServer();
    const dataDir = `${first.dataDir}-second`;
    await assert.rejects(startTestServer({ dataDir, mqtt: { port: first.mqttPort } }), (error: unknown) => {
      assert.ok(error instanceof ListenError);
      assert.equal(error.listener, 'tcp');
      assert.equal(error.port, first.mqttPort);
      return true;
    });
    try {
      const again = await startTestServer({ dataDir });
      await again.close();
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
      await first.close();
    }
  });

  test('close stops the listeners (connections refused afterwards) and can be called twice', async () => {
    const server = await startTestServer();
    const { client } = await connectClient(server.mqttUrl);
    const closedByServer = clientClosed(client);
    await Promise.all([server.close(), server.close()]);
    await closedByServer;
    const socket = connect({ port: server.mqttPort, host: '127.0.0.1' });
    const [error] = (await once(socket, 'error')) as [NodeJS.ErrnoException];
    assert.equal(error.code, 'ECONNREFUSED');
    client.end(true);
  });
});
