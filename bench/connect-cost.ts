/**
 * Broker CPU per accepted connection, against Node's own floor: `node dist/bench/connect-cost.js [count] [rounds]`.
 * Runs the same connection burst (from a child process) against (1) a bare `net.Server` that only answers CONNACK and
 * (2) Switchboard in this process (memory store), and prints the best of `rounds` for each. What separates the two
 * is the broker's own cost per connection; the floor is what any Node.js broker pays. Raise `ulimit -n` first.
 */
import { fork } from 'node:child_process';
import { createServer, type Server } from 'node:net';
import { parseConfig } from '../src/config/index.js';
import { createLogger } from '../src/observability/index.js';
import { startServer } from '../src/server.js';

const CLIENT = new URL('./connect-cost-client.js', import.meta.url);
const CONNACK = Buffer.from([0x20, 0x02, 0x00, 0x00]);

/** Server CPU microseconds per connection for one burst of `count` connections to `port`. */
async function burstCost(port: number, count: number): Promise<number> {
  const child = fork(CLIENT, [String(port), String(count)]);
  const cpuBefore = process.cpuUsage();
  await new Promise<void>((resolve, reject) => {
    child.once('message', () => {
      resolve();
    });
    child.once('exit', (code) => {
      reject(new Error(`client exited early (${String(code)})`));
    });
  });
  const cpu = process.cpuUsage(cpuBefore);
  child.removeAllListeners('exit');
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.disconnect();
  await exited;
  return (cpu.user + cpu.system) / count;
}

async function bareServer(): Promise<{ port: number; server: Server }> {
  const server = createServer({ noDelay: true }, (socket) => {
    socket.on('error', () => undefined);
    socket.once('data', () => socket.write(CONNACK));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (address === null || typeof address !== 'object') throw new Error('no address');
  return { port: address.port, server };
}

async function best(rounds: number, measure: () => Promise<number>): Promise<number> {
  let lowest = Number.POSITIVE_INFINITY;
  for (let i = 0; i < rounds; i++) lowest = Math.min(lowest, await measure());
  return lowest;
}

const count = Number(process.argv[2] ?? 10_000);
const rounds = Number(process.argv[3] ?? 4);

const bare = await bareServer();
const floor = await best(rounds, () => burstCost(bare.port, count));
await new Promise((resolve) => bare.server.close(resolve));

const config = parseConfig({
  host: '127.0.0.1',
  logLevel: 'silent',
  storage: { kind: 'memory' },
  allowAnonymous: true,
  mqtt: { port: 0 },
  http: { port: 0 },
});
const switchboard = await startServer(config, createLogger('silent'));
const broker = await best(rounds, () => burstCost(switchboard.mqttPort, count));
await switchboard.close();

console.log(`connections per burst: ${String(count)}, best of ${String(rounds)}`);
console.log(`bare Node net.Server : ${floor.toFixed(1)} µs CPU per connection`);
console.log(`Switchboard          : ${broker.toFixed(1)} µs CPU per connection (+${(broker - floor).toFixed(1)})`);
