/**
 * Child process of `connect-cost.ts`: opens `count` MQTT 3.1.1 connections to `port` (200 handshakes at a time), keeps
 * them open, and reports when every CONNACK arrived. Run only by the parent (it needs the IPC channel).
 */
import { connect, type Socket } from 'node:net';

const IN_PROGRESS = 200;

function connectPacket(index: number): Buffer {
  const clientId = Buffer.from(`cost-${String(index)}`);
  // Protocol "MQTT" level 4, clean session, keepalive 3,600 s, then the client id.
  const body = Buffer.concat([
    Buffer.from([0, 4, 0x4d, 0x51, 0x54, 0x54, 4, 2, 0x0e, 0x10, 0, clientId.length]),
    clientId,
  ]);
  return Buffer.concat([Buffer.from([0x10, body.length]), body]);
}

async function openAll(port: number, count: number): Promise<Socket[]> {
  const sockets: Socket[] = [];
  let started = 0;
  let answered = 0;
  await new Promise<void>((resolve) => {
    const startMore = (): void => {
      while (started < count && started - answered < IN_PROGRESS) {
        const socket = connect(port, '127.0.0.1');
        socket.once('data', () => {
          answered++;
          if (answered === count) resolve();
          else startMore();
        });
        socket.write(connectPacket(started++));
        sockets.push(socket);
      }
    };
    startMore();
  });
  return sockets;
}

const [port, count] = process.argv.slice(2).map(Number);
if (process.send !== undefined && port !== undefined && count !== undefined) {
  const sockets = await openAll(port, count);
  process.send('connected');
  process.on('disconnect', () => {
    for (const socket of sockets) socket.destroy();
    process.exit(0);
  });
}
