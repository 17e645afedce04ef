/**
 * The dialect router over a real broker and real MQTT.js clients: credential steps in order, namespace owners deciding
 * for every client, a client's own dialect deciding plain topics, guards sent to their dialect, `$share` judged by
 * its filter. The two dialects here are small inputs written for the test (a "fleet" namespace and an "ops" one).
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { ClientInfo } from '../../src/broker/index.js';
import type { Dialect } from '../../src/dialects/dialect.js';
import { composeDialects } from '../../src/dialects/router.js';
import { connectClient, Resources, waitFor, type TestClient } from '../helpers/index.js';
import { startHookedBroker, type HookedBroker } from '../helpers/hooked-broker.js';

interface FleetIdentity {
  kind: 'fleet';
  team: string;
}
interface OpsIdentity {
  kind: 'ops';
}
const isFleet = (identity: unknown): identity is FleetIdentity =>
  (identity as FleetIdentity | undefined)?.kind === 'fleet';

const connected: string[] = [];

/** Owns `fleet/<team>/…`: only fleet clients of that team publish or subscribe there; plain topics: no `#`. */
const fleet: Dialect = {
  name: 'fleet',
  ownsIdentity: isFleet,
  ownsTopic: (topic) => topic.startsWith('fleet/'),
  authorizePublish: (client, topicName) => {
    if (!topicName.startsWith('fleet/')) return true;
    return isFleet(client.identity) && topicName.startsWith(`fleet/${client.identity.team}/`) ? true : 0x87;
  },
  authorizeSubscribe: (client, topicFilter, qos) => {
    if (!topicFilter.startsWith('fleet/')) return topicFilter === '#' ? 0x87 : qos;
    if (!isFleet(client.identity)) return 0x87;
    // Wildcards across teams are granted with a guard: only the subscriber's team is delivered.
    return topicFilter.startsWith('fleet/+/') ? { qos, guard: `fleet:${client.identity.team}` } : qos;
  },
  canDeliver: (guard, message) => message.topicName.startsWith(`fleet/${guard.slice('fleet:'.length)}/`),
  onClientConnected: (client: ClientInfo) => {
    if (isFleet(client.identity)) connected.push(client.clientId);
  },
};

/** Owns nothing; its clients may not publish on plain topics at all. */
const ops: Dialect = {
  name: 'ops',
  ownsIdentity: (identity) => (identity as OpsIdentity | undefined)?.kind === 'ops',
  authorizePublish: () => 0x87,
};

describe('dialect router', () => {
  let server: HookedBroker;
  const resources = new Resources();
  const steps: string[] = [];

  before(async () => {
    const router = composeDialects({
      dialects: [fleet, ops],
      allowAnonymous: false,
      authSteps: [
        (request) => {
          steps.push('fleet');
          if (request.username?.startsWith('team-') !== true) return undefined;
          return request.password?.toString() === 'pw'
            ? { ok: true, identity: { kind: 'fleet', team: request.username.slice(5) } }
            : { ok: false, reasonCode: 0x86 };
        },
        (request) => {
          steps.push('ops');
          return request.username === 'ops' ? { ok: true, identity: { kind: 'ops' } } : undefined;
        },
      ],
    });
    server = await startHookedBroker(router.hooks);
    router.attach(server.broker);
  });
  after(async () => {
    await resources.closeAll();
    await server.close();
  });

  const connect = async (username: string | undefined, password?: string): Promise<TestClient> =>
    resources.add(
      await connectClient(`mqtt://127.0.0.1:${String(server.port)}`, {
        protocolVersion: 5,
        ...(username === undefined ? {} : { username }),
        ...(password === undefined ? {} : { password }),
      }),
    );

  test('the first step that recognises the credentials decides; a refusal stops the search', async () => {
    steps.length = 0;
    await connect('ops');
    assert.deepEqual(steps, ['fleet', 'ops']);
    steps.length = 0;
    await assert.rejects(connect('team-a', 'wrong'), /Bad User Name or Password|0x86|134/i);
    assert.deepEqual(steps, ['fleet']);
  });

  test('credentials no step recognises are refused when anonymous access is off (v5 0x87)', async () => {
    await assert.rejects(connect(undefined), /Not authorized|0x87|135/i);
  });

  test("every dialect hears of connections: the fleet dialect saw its client's id", async () => {
    const client = await connect('team-a', 'pw');
    await waitFor(() => connected.includes(client.client.options.clientId!), 'the connection event');
  });

  test("a namespace's owner decides for clients of other dialects: ops cannot subscribe to fleet topics", async () => {
    const opsClient = await connect('ops');
    await assert.rejects(opsClient.client.subscribeAsync('fleet/a/temp', { qos: 1 }), /Not authorized/);
  });

  test("a plain topic is decided by the client's own dialect: ops may not publish, fleet may", async () => {
    const opsClient = await connect('ops');
    await assert.rejects(opsClient.client.publishAsync('plain/topic', 'x', { qos: 1 }), /135|Not authorized/i);
    const fleetClient = await connect('team-a', 'pw');
    await fleetClient.client.publishAsync('plain/topic', 'x', { qos: 1 });
    await assert.rejects(fleetClient.client.subscribeAsync('#', { qos: 0 }), /Not authorized/);
  });

  test('a guarded wildcard delivers only what the guard allows; $share is judged by its filter', async () => {
    const teamA = await connect('team-a', 'pw');
    const teamB = await connect('team-b', 'pw');
    await teamA.client.subscribeAsync('fleet/+/temp', { qos: 1 });
    await teamA.client.subscribeAsync('$share/g/fleet/+/hum', { qos: 1 });
    const opsClient = await connect('ops');
    await assert.rejects(opsClient.client.subscribeAsync('$share/g/fleet/a/hum', { qos: 1 }), /Not authorized/);

    await teamB.client.publishAsync('fleet/b/temp', 'b', { qos: 1 });
    await teamA.client.publishAsync('fleet/a/temp', 'a', { qos: 1 });
    await teamB.client.publishAsync('fleet/b/hum', 'b', { qos: 1 });
    await teamA.client.publishAsync('fleet/a/hum', 'a', { qos: 1 });
    await waitFor(() => teamA.messages.length >= 2, 'team a to receive its own readings');
    // Barrier: a round trip after the last publish, so anything else would have arrived by now.
    await teamA.client.publishAsync('fleet/a/barrier', '', { qos: 1 });
    assert.deepEqual(
      teamA.messages.map((m) => m.topic),
      ['fleet/a/temp', 'fleet/a/hum'],
    );
  });
});
