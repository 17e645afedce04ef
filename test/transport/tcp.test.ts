import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect, createServer, type Socket } from 'node:net';
import { describe, test } from 'node:test';
import { ListenError, ListenErrorCode, TcpListener } from '../../src/transport/index.js';
import { closed, RecordingHandler } from './recording-handler.js';

async function dial(port: number): Promise<Socket> {
  const socket = connect({ port, host: '127.0.0.1' });
  socket.on('error', () => undefined);
  await once(socket, 'connect');
  return socket;
}

async function readExactly(socket: Socket, length: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let total = 0;
  while (total < length) {
    const [chunk] = (await once(socket, 'data')) as [Buffer];
    chunks.push(chunk);
    total += chunk.length;
  }
  return Buffer.concat(chunks);
}

describe('TCP listener', () => {
  test('port 0 binds a free port and reports the bound address', async () => {
    const listener = new TcpListener({ handler: new RecordingHandler(), maxConnectionsPerSecond: 100 });
    const bound = await listener.listen(0, '127.0.0.1');
    assert.equal(bound.address, '127.0.0.1');
    assert.ok(bound.port > 0);
    await listener.close();
  });

  test('each connection is handed over with its address, and bytes flow both ways', async () => {
    const handler = new RecordingHandler();
    const listener = new TcpListener({ handler, maxConnectionsPerSecond: 100 });
    const { port } = await listener.listen(0, '127.0.0.1');
    const socket = await dial(port);
    const [connection] = await handler.waitForConnections(1);
    const info = connection?.info;
    assert.equal(info?.remoteAddress, '127.0.0.1');
    assert.equal(info.remotePort, socket.localPort);
    assert.equal(info.listener, 'tcp');
    socket.write(Buffer.from([0x10, 0x00]));
    assert.deepEqual(await readExactly(socket, 2), Buffer.from([0x10, 0x00]));
    assert.equal(listener.stats.accepted, 1);
    socket.destroy();
    await listener.close();
  });

  test('a port in use rejects with PORT_IN_USE naming the port', async () => {
    const blocker = createServer();
    blocker.listen(0, '127.0.0.1');
    await once(blocker, 'listening');
    const port = (blocker.address() as { port: number }).port;
    const listener = new TcpListener({ handler: new RecordingHandler(), maxConnectionsPerSecond: 100 });
    await assert.rejects(listener.listen(port, '127.0.0.1'), (error: unknown) => {
      assert.ok(error instanceof ListenError);
      assert.equal(error.code, ListenErrorCode.PortInUse);
      assert.equal(error.port, port);
      assert.equal(error.listener, 'tcp');
      assert.match(error.message, new RegExp(`port ${String(port)}`));
      return true;
    });
    await listener.close();
    blocker.close();
  });

  test('connections beyond maxConnectionsPerSecond are closed at once and counted', async () => {
    const handler = new RecordingHandler();
    const listener = new TcpListener({ handler, maxConnectionsPerSecond: 3 });
    const { port } = await listener.listen(0, '127.0.0.1');
    const sockets = await Promise.all(Array.from({ length: 6 }, () => dial(port)));
    await Promise.all(sockets.slice(3).map((socket) => closed(socket)));
    assert.equal(handler.connections.length, 3);
    assert.equal(listener.stats.accepted, 3);
    assert.equal(listener.stats.refusedByRate, 3);
    for (const socket of sockets) socket.destroy();
    await listener.close();
  });

  test('stopAccepting refuses new connections and keeps open ones; close destroys them', async () => {
    const handler = new RecordingHandler();
    const listener = new TcpListener({ handler, maxConnectionsPerSecond: 100 });
    const { port } = await listener.listen(0, '127.0.0.1');
    const socket = await dial(port);
    await handler.waitForConnections(1);
    listener.stopAccepting();
    await assert.rejects(dial(port), { code: 'ECONNREFUSED' });
    socket.write('still open');
    assert.equal((await readExactly(socket, 10)).toString(), 'still open');
    await listener.close();
    await closed(socket);
  });

  test('a handler that throws costs that connection only', async () => {
    const handler = new RecordingHandler();
    const listener = new TcpListener({ handler, maxConnectionsPerSecond: 100 });
    const { port } = await listener.listen(0, '127.0.0.1');
    handler.isThrowing = true;
    await closed(await dial(port));
    handler.isThrowing = false;
    const socket = await dial(port);
    await handler.waitForConnections(1);
    socket.destroy();
    await listener.close();
  });
});
