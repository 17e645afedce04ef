import assert from 'node:assert/strict';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { get as httpsGet } from 'node:https';
import { describe, test } from 'node:test';
import { WebSocket } from 'ws';
import { basicRequestListener, WebSocketListener, type WebSocketListenerOptions } from '../../src/transport/index.js';
import { generateTestCertificate } from '../helpers/certificates.js';
import { closed, RecordingHandler } from './recording-handler.js';

async function start(
  handler: RecordingHandler,
  overrides: Partial<WebSocketListenerOptions> = {},
): Promise<{ listener: WebSocketListener; port: number }> {
  const listener = new WebSocketListener({
    handler,
    maxConnectionsPerSecond: 100,
    maxPacketSizeBytes: 1024,
    headersTimeoutMs: 5_000,
    requestListener: basicRequestListener,
    ...overrides,
  });
  const { port } = await listener.listen(0, '127.0.0.1');
  return { listener, port };
}

async function open(url: string, protocols: string[] = ['mqtt']): Promise<WebSocket> {
  const ws = new WebSocket(url, protocols);
  ws.on('error', () => undefined);
  await once(ws, 'open');
  return ws;
}

/** Collects `length` bytes of binary messages (the server's writes may arrive in any framing). */
function collectBinary(ws: WebSocket, length: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let total = 0;
    const onMessage = (data: Buffer, isBinary: boolean): void => {
      if (!isBinary) reject(new Error('the broker’s bytes must go out as binary frames'));
      chunks.push(data);
      total += data.length;
      if (total >= length) {
        ws.off('message', onMessage);
        resolve(Buffer.concat(chunks));
      }
    };
    ws.on('message', onMessage);
  });
}

describe('WebSocket listener', () => {
  test('the `mqtt` subprotocol is selected and the connection handed over as listener ws', async () => {
    const handler = new RecordingHandler();
    const { listener, port } = await start(handler);
    const ws = await open(`ws://127.0.0.1:${String(port)}/mqtt`, ['mqtt']);
    assert.equal(ws.protocol, 'mqtt');
    const [connection] = await handler.waitForConnections(1);
    assert.equal(connection?.info.listener, 'ws');
    assert.equal(connection?.info.remoteAddress, '127.0.0.1');
    ws.close();
    await listener.close();
  });

  test('`mqttv3.1` is accepted too, and `mqtt` preferred when both are offered', async () => {
    const { listener, port } = await start(new RecordingHandler());
    const legacy = await open(`ws://127.0.0.1:${String(port)}/mqtt`, ['mqttv3.1']);
    assert.equal(legacy.protocol, 'mqttv3.1');
    const both = await open(`ws://127.0.0.1:${String(port)}/mqtt`, ['mqttv3.1', 'mqtt']);
    assert.equal(both.protocol, 'mqtt');
    legacy.close();
    both.close();
    await listener.close();
  });

  test('a query string on /mqtt is allowed', async () => {
    const handler = new RecordingHandler();
    const { listener, port } = await start(handler);
    const ws = await open(`ws://127.0.0.1:${String(port)}/mqtt?client=1`);
    await handler.waitForConnections(1);
    ws.close();
    await listener.close();
  });

  test('bytes split across frames, or several packets in one frame, reach the broker as one byte stream', async () => {
    const handler = new RecordingHandler();
    const { listener, port } = await start(handler);
    const ws = await open(`ws://127.0.0.1:${String(port)}/mqtt`);
    const [connection] = await handler.waitForConnections(1);
    const pingreq = Buffer.from([0xc0, 0x00]);
    ws.send(Buffer.concat([pingreq, pingreq, Buffer.from([0x30])])); // two packets and a first byte
    ws.send(Buffer.from([0x03, 0x00, 0x01, 0x61])); // the rest of a PUBLISH to "a"
    const expected = Buffer.from([0xc0, 0x00, 0xc0, 0x00, 0x30, 0x03, 0x00, 0x01, 0x61]);
    const echoed = await collectBinary(ws, expected.length);
    assert.deepEqual(connection?.received(), expected);
    assert.deepEqual(echoed, expected);
    ws.close();
    await listener.close();
  });

  test('[MQTT-6.0.0-1] a text frame closes the connection', async () => {
    const handler = new RecordingHandler();
    const { listener, port } = await start(handler);
    const ws = await open(`ws://127.0.0.1:${String(port)}/mqtt`);
    const [connection] = await handler.waitForConnections(1);
    ws.send('not binary');
    await once(ws, 'close');
    assert.equal(connection?.received().length, 0, 'the text never reached the broker');
    await listener.close();
  });

  test('a message larger than maxPacketSizeBytes closes the connection (1009)', async () => {
    const { listener, port } = await start(new RecordingHandler(), { maxPacketSizeBytes: 100 });
    const ws = await open(`ws://127.0.0.1:${String(port)}/mqtt`);
    ws.send(Buffer.alloc(101));
    const [code] = (await once(ws, 'close')) as [number];
    assert.equal(code, 1009);
    await listener.close();
  });

  test('/api/mqtt/ and /api/mqtt (PlaceOS users’ path) are MQTT endpoints too, with the `mqtt` subprotocol', async () => {
    const handler = new RecordingHandler();
    const { listener, port } = await start(handler);
    for (const path of ['/api/mqtt/', '/api/mqtt', '/api/mqtt/?x=1']) {
      const ws = await open(`ws://127.0.0.1:${String(port)}${path}`);
      assert.equal(ws.protocol, 'mqtt', path);
      ws.close();
    }
    await handler.waitForConnections(3);
    await listener.close();
  });

  test('with TLS material the listener serves HTTPS and WSS, handing connections over as listener wss', async () => {
    const pki = generateTestCertificate();
    try {
      const handler = new RecordingHandler();
      const tls = { cert: readFileSync(pki.serverCertPath), key: readFileSync(pki.serverKeyPath) };
      const { listener, port } = await start(handler, { tls });
      assert.equal(listener.kind, 'wss');
      const ws = new WebSocket(`wss://localhost:${String(port)}/api/mqtt/`, ['mqtt'], { ca: pki.caCert });
      ws.on('error', () => undefined);
      await once(ws, 'open');
      const [connection] = await handler.waitForConnections(1);
      assert.equal(connection?.info.listener, 'wss');
      const health = await new Promise<number>((resolve, reject) => {
        const request = httpsGet(`https://localhost:${String(port)}/healthz`, { ca: pki.caCert }, (response) => {
          response.resume();
          resolve(response.statusCode ?? 0);
        });
        request.on('error', reject);
      });
      assert.equal(health, 200);
      ws.close();
      await listener.close();
    } finally {
      pki.cleanup();
    }
  });

  test('an upgrade on another path gets a 404', async () => {
    const handler = new RecordingHandler();
    const { listener, port } = await start(handler);
    const ws = new WebSocket(`ws://127.0.0.1:${String(port)}/other`, ['mqtt']);
    ws.on('error', () => undefined);
    const [, response] = (await once(ws, 'unexpected-response')) as [unknown, { statusCode: number }];
    assert.equal(response.statusCode, 404);
    assert.equal(handler.connections.length, 0);
    ws.terminate();
    await listener.close();
  });

  test('GET /healthz answers 200 {"status":"ok"}; other paths 404 JSON', async () => {
    const { listener, port } = await start(new RecordingHandler());
    const health = await fetch(`http://127.0.0.1:${String(port)}/healthz`);
    assert.equal(health.status, 200);
    assert.deepEqual(await health.json(), { status: 'ok' });
    const missing = await fetch(`http://127.0.0.1:${String(port)}/nope`);
    assert.equal(missing.status, 404);
    assert.equal(((await missing.json()) as { error: string }).error, 'not_found');
    await listener.close();
  });

  test('connections beyond maxConnectionsPerSecond are refused and counted', async () => {
    const handler = new RecordingHandler();
    const { listener, port } = await start(handler, { maxConnectionsPerSecond: 2 });
    const results = await Promise.allSettled(
      Array.from({ length: 4 }, () => open(`ws://127.0.0.1:${String(port)}/mqtt`)),
    );
    assert.equal(results.filter((result) => result.status === 'fulfilled').length, 2);
    assert.equal(listener.stats.refusedByRate, 2);
    for (const result of results) if (result.status === 'fulfilled') result.value.terminate();
    await listener.close();
  });

  test('a WebSocket closed by the client closes the stream the broker holds', async () => {
    const handler = new RecordingHandler();
    const { listener, port } = await start(handler);
    const ws = await open(`ws://127.0.0.1:${String(port)}/mqtt`);
    const [connection] = await handler.waitForConnections(1);
    ws.close();
    await closed(connection!.stream);
    await listener.close();
  });

  test('close ends open WebSockets', async () => {
    const handler = new RecordingHandler();
    const { listener, port } = await start(handler);
    const ws = await open(`ws://127.0.0.1:${String(port)}/mqtt`);
    const [connection] = await handler.waitForConnections(1);
    const wsClosed = once(ws, 'close');
    await listener.close();
    await wsClosed;
    await closed(connection!.stream);
  });
});
