/**
 * Private records (`is_priv: true`, docs/cloudplugs.md "Private records") live and read back: the owner (the thing
 * the record is of), the thing that published it and the organization's accounts and users get it; another thing
 * does not, even with `of.r` allowing it to read the owner, and neither does a plain anonymous `#` subscriber. Every
 * "does not" is followed by a public record that the same subscriber does get: deliveries keep commit order, so a
 * private record delivered by mistake would have arrived first.
 */
import assert from 'node:assert/strict';
import { after, afterEach, before, describe, it } from 'node:test';
import { connectClient, PROTOCOL_VERSIONS, Resources, type TestClient } from '../helpers/index.js';
import { startPlugServer, type PlugServer, type Template, type Thing } from './helpers.js';

const as = (thing: Thing): Record<string, string> => ({ 'x-plug-id': thing.plugId, 'x-plug-auth': thing.auth });

interface Delivered {
  id: string;
  data: unknown;
  at: number;
  is_priv?: boolean;
}

const delivered = (client: TestClient): Delivered[] => client.messages.map((m) => JSON.parse(m.payload) as Delivered);

describe('CloudPlugs private records', () => {
  let server: PlugServer;
  let account: { email: string; password: string; token: string; orgId: string };
  let template: Template;
  const resources = new Resources();
  let counter = 0;

  before(async () => {
    server = await startPlugServer({ allowAnonymous: true });
    account = await server.createOrganization();
    template = await server.createTemplate('private-model', account.token);
  });
  afterEach(() => resources.closeAll());
  after(() => server.close());

  /** An owner, a peer that may read it (the default `of.r: null`), and a writer with `of.w` and `of.r` on the owner. */
  async function threeThings(): Promise<{ owner: Thing; peer: Thing; writer: Thing }> {
    const n = ++counter;
    const owner = await server.createThing(template, `PV-OWNER-${String(n)}`, account.token);
    const peer = await server.createThing(template, `PV-PEER-${String(n)}`, account.token);
    const writer = await server.createThing(template, `PV-WRITER-${String(n)}`, account.token);
    const patched = await server.api(
      'PATCH',
      `/api/devices/${writer.deviceId}`,
      { cloudplugs: { perm: { of: { r: [owner.plugId], w: [owner.plugId] } } } },
      account.token,
    );
    assert.equal(patched.status, 200, patched.text);
    return { owner, peer, writer };
  }

  for (const protocolVersion of PROTOCOL_VERSIONS) {
    it(`MQTT ${String(protocolVersion)}: the owner, the publisher and an account get a private record live; a permitted peer does not`, async () => {
      const { owner, peer, writer } = await threeThings();
      const connect = async (thing: Thing) => resources.add(await server.connectThing(thing, { protocolVersion }));
      const ownerClient = await connect(owner);
      const peerClient = await connect(peer);
      const writerClient = await connect(writer);
      const accountClient = resources.add(
        await connectClient(server.test.mqttUrl, {
          protocolVersion,
          clientId: `pv-account-${String(counter)}-${String(protocolVersion)}`,
          username: account.email,
          password: account.password,
        }),
      );
      await ownerClient.client.subscribeAsync(`${owner.plugId}/data/#`, { qos: 1 });
      await peerClient.client.subscribeAsync([`${owner.plugId}/data/#`, '+/data/diary'], { qos: 1 });
      await writerClient.client.subscribeAsync(`${owner.plugId}/data/#`, { qos: 1 });
      await accountClient.client.subscribeAsync('+/data/#', { qos: 1 });

      // The owner's own private record, then one the writer publishes of the owner, then a public one.
      await ownerClient.client.publishAsync(`${owner.plugId}/data/diary`, '{"data": "mine", "is_priv": true}', {
        qos: 1,
      });
      await writerClient.client.publishAsync(
        `${owner.plugId}/data/diary`,
        JSON.stringify({ data: 'written', of: owner.plugId, is_priv: true }),
        { qos: 1 },
      );
      await ownerClient.client.publishAsync(`${owner.plugId}/data/diary`, '{"data": "public"}', { qos: 1 });

      await ownerClient.waitForMessages(3);
      await accountClient.waitForMessages(3);
      await writerClient.waitForMessages(2);
      await peerClient.waitForMessages(1);
      const seen = (client: TestClient) => delivered(client).map((r) => [r.data, r.is_priv]);
      const all = [
        ['mine', true],
        ['written', true],
        ['public', undefined],
      ];
      assert.deepEqual(seen(ownerClient), all);
      assert.deepEqual(seen(accountClient), all);
      // The writer may read the owner: it gets the record it published, not the owner's own private one.
      assert.deepEqual(seen(writerClient), all.slice(1));
      // Two matching subscriptions, one delivery: the public record alone.
      assert.deepEqual(
        delivered(peerClient).map((r) => r.data),
        ['public'],
      );
    });
  }

  it('a private record published over HTTP reaches the owner’s and a user’s MQTT subscriptions, not a peer’s nor an anonymous #', async () => {
    const { owner, peer } = await threeThings();
    const ownerClient = resources.add(await server.connectThing(owner, { protocolVersion: 5 }));
    const peerClient = resources.add(await server.connectThing(peer));
    const user = resources.add(
      await connectClient(server.test.mqttUrl, {
        clientId: 'pv-user',
        username: account.token,
        password: account.token,
      }),
    );
    const anonymous = resources.add(await connectClient(server.test.mqttUrl, { clientId: 'pv-anonymous' }));
    await ownerClient.client.subscribeAsync(`${owner.plugId}/data/#`, { qos: 1 });
    await peerClient.client.subscribeAsync('+/data/#', { qos: 1 });
    await user.client.subscribeAsync('+/data/#', { qos: 1 });
    await anonymous.client.subscribeAsync('#', { qos: 1 });

    const hidden = await server.iot('PUT', '/iot/data/notes', { data: { pin: 1234 }, is_priv: true }, as(owner));
    assert.equal(hidden.status, 200, hidden.text);
    const shown = await server.iot('PUT', '/iot/data/notes', { data: 'hello' }, as(owner));
    assert.equal(shown.status, 200, shown.text);

    for (const client of [ownerClient, user]) {
      await client.waitForMessages(2);
      assert.deepEqual(
        delivered(client).map((r) => r.data),
        [{ pin: 1234 }, 'hello'],
      );
    }
    assert.equal(delivered(ownerClient)[0]?.id, hidden.body);
    for (const client of [peerClient, anonymous]) {
      await client.waitForMessages(1, (m) => m.topic.startsWith(owner.plugId));
      assert.deepEqual(
        client.messages
          .filter((m) => m.topic.startsWith(owner.plugId))
          .map((m) => (JSON.parse(m.payload) as Delivered).data),
        ['hello'],
      );
    }
  });

  it('GET /iot/data follows the same rule: owner, publisher and account read it, a permitted peer does not', async () => {
    const { owner, peer, writer } = await threeThings();
    assert.equal(
      (await server.iot('PUT', '/iot/data/log', { data: 'own secret', is_priv: true, at: 1000 }, as(owner))).status,
      200,
    );
    const byWriter = { data: 'writer secret', is_priv: true, of: owner.plugId, at: 2000 };
    assert.equal((await server.iot('PUT', '/iot/data/log', byWriter, as(writer))).status, 200);
    assert.equal((await server.iot('PUT', '/iot/data/log', { data: 'open', at: 3000 }, as(owner))).status, 200);
    const read = async (headers: Record<string, string>) => {
      const answer = await server.iot('GET', `/iot/data/log?of=${owner.plugId}`, undefined, headers);
      assert.equal(answer.status, 200, answer.text);
      return (answer.body as { data: unknown }[]).map((r) => r.data);
    };
    const master = { 'x-plug-email': account.email, 'x-plug-master': account.password };
    assert.deepEqual(await read(as(owner)), ['open', 'writer secret', 'own secret']);
    assert.deepEqual(await read(master), ['open', 'writer secret', 'own secret']);
    // The writer published one of them: that one it reads; the owner's own private record it does not.
    assert.deepEqual(await read(as(writer)), ['open', 'writer secret']);
    assert.deepEqual(await read(as(peer)), ['open']);
  });

  it('a private record has no telemetry copy (its channel’s readers would see it) but is an event of its device', async () => {
    const { owner } = await threeThings();
    await server.iot('PUT', '/iot/data/code', { data: 42, is_priv: true, at: 5000 }, as(owner));
    await server.iot('PUT', '/iot/data/code', { data: 7, at: 4000 }, as(owner));
    const telemetry = await server.api(
      'GET',
      `/api/devices/${owner.deviceId}/telemetry?keys=code&startTs=0`,
      undefined,
      account.token,
    );
    assert.deepEqual(
      (telemetry.body as Record<string, { value: unknown }[]>)['code']?.map((p) => p.value),
      [7],
    );
    const events = await server.api('GET', `/api/events?device=${owner.deviceId}`, undefined, account.token);
    assert.deepEqual(
      (events.body as { data: unknown }[]).map((e) => e.data),
      [42, 7],
    );
  });
  it('a modified private record stays private: its owner gets the new version live, a permitted peer does not, and it writes no telemetry copy', async () => {
    const { owner, peer } = await threeThings();
    const created = await server.iot('PUT', '/iot/data/memo', { data: 'draft', is_priv: true, at: 6000 }, as(owner));
    assert.equal(created.status, 200, created.text);
    const id = created.body as string;
    const ownerClient = resources.add(await server.connectThing(owner, { protocolVersion: 5 }));
    const peerClient = resources.add(await server.connectThing(peer, { protocolVersion: 5 }));
    await ownerClient.client.subscribeAsync(`${owner.plugId}/data/#`, { qos: 1 });
    await peerClient.client.subscribeAsync(`${owner.plugId}/data/#`, { qos: 1 });

    await ownerClient.client.publishAsync(`${owner.plugId}/data/memo`, JSON.stringify({ id, data: 'final' }), {
      qos: 1,
    });
    await ownerClient.client.publishAsync(`${owner.plugId}/data/memo`, '{"data": "public", "at": 7000}', { qos: 1 });

    await ownerClient.waitForMessages(2);
    assert.deepEqual(
      delivered(ownerClient).map((r) => [r.id === id, r.data, r.is_priv]),
      [
        [true, 'final', true],
        [false, 'public', undefined],
      ],
    );
    await peerClient.waitForMessages(1);
    assert.deepEqual(
      delivered(peerClient).map((r) => r.data),
      ['public'],
    );
    const read = await server.iot('GET', `/iot/data/memo?of=${owner.plugId}`, undefined, as(peer));
    assert.deepEqual(
      (read.body as { data: unknown }[]).map((r) => r.data),
      ['public'],
    );
    const telemetry = await server.api(
      'GET',
      `/api/devices/${owner.deviceId}/telemetry?keys=memo&startTs=0`,
      undefined,
      account.token,
    );
    assert.deepEqual(
      (telemetry.body as Record<string, { value: unknown }[]>)['memo']?.map((p) => p.value),
      ['public'],
    );
  });
});
