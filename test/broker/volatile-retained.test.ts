/**
 * Retained messages the platform publishes with `persistRetained: false` (the PlaceOS feed republishes its state at
 * every start): live and late subscribers get them like any retained message, but they are not written to the store,
 * and one that replaces a stored message removes the stored copy, so nothing stale comes back after a restart.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { SqliteBrokerStore } from '../../src/storage/index.js';
import { connectClient, Resources } from '../helpers/index.js';
import { startHookedBroker } from '../helpers/hooked-broker.js';

const dir = mkdtempSync(join(tmpdir(), 'switchboard-volatile-'));
after(() => {
  rmSync(dir, { recursive: true, force: true });
});

test('in-memory retained messages reach late subscribers, replace stored ones, and are gone after a restart', async () => {
  const file = join(dir, 'broker.db');
  const resources = new Resources();
  const message = (topicName: string, payload: string) => ({
    topicName,
    payload: Buffer.from(payload),
    qos: 0 as const,
    isRetained: true,
    properties: undefined,
  });

  const first = await startHookedBroker({}, {}, new SqliteBrokerStore(file));
  first.broker.publish(message('state/stored', 'durable'));
  first.broker.publish(message('state/replaced', 'durable'));
  first.broker.publish(message('state/volatile', 'memory'), { persistRetained: false });
  first.broker.publish(message('state/replaced', 'memory'), { persistRetained: false });
  const late = resources.add(await connectClient(`mqtt://127.0.0.1:${String(first.port)}`));
  await late.client.subscribeAsync('state/#');
  await late.waitForMessages(3);
  assert.deepEqual(late.messages.map((m) => [m.topic, m.payload, m.packet.retain]).sort(), [
    ['state/replaced', 'memory', true],
    ['state/stored', 'durable', true],
    ['state/volatile', 'memory', true],
  ]);
  await resources.closeAll();
  await first.close();

  const second = await startHookedBroker({}, {}, new SqliteBrokerStore(file));
  try {
    const afterRestart = resources.add(await connectClient(`mqtt://127.0.0.1:${String(second.port)}`));
    await afterRestart.client.subscribeAsync('state/#');
    await afterRestart.waitForMessages(1);
    // Barrier: a round trip after the SUBACK; retained messages are sent before it.
    await afterRestart.client.publishAsync('barrier', '', { qos: 1 });
    assert.deepEqual(
      afterRestart.messages.map((m) => [m.topic, m.payload]),
      [['state/stored', 'durable']],
    );
  } finally {
    await resources.closeAll();
    await second.close();
  }
});
