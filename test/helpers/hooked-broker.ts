/**
 * A broker built directly with hooks (the server assembly wires only the platform's) behind a plain TCP server: the
 * same `handleConnection` path the listeners use, a memory store (or the one given) and a silent logger.
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:net';
import { Broker, type BrokerHooks } from '../../src/broker/index.js';
import { parseConfig, type Config } from '../../src/config/index.js';
import { createLogger } from '../../src/observability/index.js';
import { MemoryBrokerStore, type BrokerStore } from '../../src/storage/index.js';

export interface HookedBroker {
  port: number;
  broker: Broker;
  close(): Promise<void>;
}

export async function startHookedBroker(
  hooks: BrokerHooks,
  overrides: Partial<Config['mqtt']> = {},
  store: BrokerStore = new MemoryBrokerStore(),
): Promise<HookedBroker> {
  const config = parseConfig({ logLevel: 'silent', mqtt: { port: 0, ...overrides } });
  const broker = new Broker({
    limits: config.mqtt,
    acl: [],
    allowAnonymous: true,
    store,
    logger: createLogger('silent'),
    hooks,
  });
  broker.start();
  const tcp: Server = createServer((socket) => {
    broker.handleConnection(socket, {
      remoteAddress: socket.remoteAddress ?? '',
      remotePort: socket.remotePort ?? 0,
      listener: 'tcp',
    });
  });
  await new Promise<void>((resolve) => tcp.listen(0, '127.0.0.1', resolve));
  const address = tcp.address();
  assert.ok(address !== null && typeof address === 'object');
  return {
    port: address.port,
    broker,
    close: async () => {
      tcp.close();
      await broker.close();
    },
  };
}
