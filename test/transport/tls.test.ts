import assert from 'node:assert/strict';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { connect, type ConnectionOptions, type TLSSocket } from 'node:tls';
import { after, before, describe, test } from 'node:test';
import { ListenError, TlsListener, type TlsListenerOptions } from '../../src/transport/index.js';
import { generateTestCertificate, type TestCertificates } from '../helpers/certificates.js';
import { closed, RecordingHandler } from './recording-handler.js';

let pki: TestCertificates;
let otherPki: TestCertificates;
before(() => {
  pki = generateTestCertificate();
  otherPki = generateTestCertificate();
});
after(() => {
  pki.cleanup();
  otherPki.cleanup();
});

function options(handler: RecordingHandler, overrides: Partial<TlsListenerOptions> = {}): TlsListenerOptions {
  return {
    handler,
    maxConnectionsPerSecond: 100,
    cert: readFileSync(pki.serverCertPath),
    key: readFileSync(pki.serverKeyPath),
    ca: pki.caCert,
    requestCert: false,
    handshakeTimeoutMs: 5_000,
    ...overrides,
  };
}

async function dial(port: number, extra: ConnectionOptions = {}): Promise<TLSSocket> {
  const socket = connect({ port, host: '127.0.0.1', servername: 'localhost', ca: pki.caCert, ...extra });
  socket.on('error', () => undefined);
  await once(socket, 'secureConnect');
  return socket;
}

describe('TLS listener', () => {
  test('a client that trusts the CA connects and exchanges bytes; no client certificate is passed on', async () => {
    const handler = new RecordingHandler();
    const listener = new TlsListener(options(handler));
    const { port } = await listener.listen(0, '127.0.0.1');
    const socket = await dial(port);
    assert.ok(socket.authorized, 'the server certificate verifies for localhost');
    const [connection] = await handler.waitForConnections(1);
    assert.equal(connection?.info.listener, 'tls');
    assert.equal(connection?.info.remoteAddress, '127.0.0.1');
    assert.equal(connection?.info.peerCertificate, undefined);
    socket.write('ping');
    const [echo] = (await once(socket, 'data')) as [Buffer];
    assert.equal(echo.toString(), 'ping');
    socket.destroy();
    await listener.close();
  });

  test('the server certificate also verifies for 127.0.0.1 (IP subjectAltName)', async () => {
    const listener = new TlsListener(options(new RecordingHandler()));
    const { port } = await listener.listen(0, '127.0.0.1');
    const socket = connect({ port, host: '127.0.0.1', ca: pki.caCert });
    await once(socket, 'secureConnect');
    assert.ok(socket.authorized);
    socket.destroy();
    await listener.close();
  });

  test('with requestCert, a client certificate signed by the CA is passed to the broker', async () => {
    const handler = new RecordingHandler();
    const listener = new TlsListener(options(handler, { requestCert: true }));
    const { port } = await listener.listen(0, '127.0.0.1');
    const socket = await dial(port, { cert: pki.clientCert, key: pki.clientKey });
    const [connection] = await handler.waitForConnections(1);
    assert.equal(connection?.info.peerCertificate?.subject.CN, pki.clientCommonName);
    socket.destroy();
    await listener.close();
  });

  test('with requestCert, a certificate from another CA is not passed on, and the client is still served', async () => {
    const handler = new RecordingHandler();
    const listener = new TlsListener(options(handler, { requestCert: true }));
    const { port } = await listener.listen(0, '127.0.0.1');
    const socket = await dial(port, { cert: otherPki.clientCert, key: otherPki.clientKey });
    const [connection] = await handler.waitForConnections(1);
    assert.equal(connection?.info.peerCertificate, undefined);
    socket.destroy();
    await listener.close();
  });

  test('with requestCert, a client without a certificate is served without one', async () => {
    const handler = new RecordingHandler();
    const listener = new TlsListener(options(handler, { requestCert: true }));
    const { port } = await listener.listen(0, '127.0.0.1');
    const socket = await dial(port);
    const [connection] = await handler.waitForConnections(1);
    assert.equal(connection?.info.peerCertificate, undefined);
    socket.destroy();
    await listener.close();
  });

  test('excess connections are refused before the handshake and counted', async () => {
    const handler = new RecordingHandler();
    const listener = new TlsListener(options(handler, { maxConnectionsPerSecond: 2 }));
    const { port } = await listener.listen(0, '127.0.0.1');
    const results = await Promise.allSettled(Array.from({ length: 4 }, () => dial(port)));
    assert.equal(results.filter((result) => result.status === 'fulfilled').length, 2);
    assert.equal(listener.stats.refusedByRate, 2);
    for (const result of results) if (result.status === 'fulfilled') result.value.destroy();
    await listener.close();
  });

  test('a port in use rejects with a ListenError naming the port', async () => {
    const first = new TlsListener(options(new RecordingHandler()));
    const { port } = await first.listen(0, '127.0.0.1');
    const second = new TlsListener(options(new RecordingHandler()));
    await assert.rejects(second.listen(port, '127.0.0.1'), (error: unknown) => {
      assert.ok(error instanceof ListenError);
      assert.equal(error.code, 'PORT_IN_USE');
      assert.equal(error.listener, 'tls');
      return true;
    });
    await second.close();
    await first.close();
  });

  test('close destroys connections still open', async () => {
    const handler = new RecordingHandler();
    const listener = new TlsListener(options(handler));
    const { port } = await listener.listen(0, '127.0.0.1');
    const socket = await dial(port);
    await handler.waitForConnections(1);
    await listener.close();
    await closed(socket);
  });
});
