/**
 * One organization's ThingsBoard devices never see another's, over MQTT: two organizations each have a device named
 * `thermostat`; what one publishes is stored for it alone, its attribute requests answer its own attributes, and a
 * shared-attribute update for one reaches only that device's connection.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Device } from '../../src/platform/model.js';
import { connectClient, Resources, type TestClient } from '../helpers/index.js';
import { startTbServer, type TbServer } from './helpers.js';
import { pubackCode } from './tb-clients.js';

describe('ThingsBoard devices of two organizations', () => {
  let tb: TbServer;
  const resources = new Resources();
  let mine: { device: Device; client: TestClient };
  let theirs: { device: Device; client: TestClient };

  before(async () => {
    tb = await startTbServer();
    const otherOrg = await tb.platform.entities.createOrganization({ name: 'Other' });
    const connect = async (orgId: string) => {
      const created = await tb.createDevice('thermostat', undefined, orgId);
      const client = resources.add(
        await connectClient(tb.mqttUrl, { username: tb.tokenOf(created), protocolVersion: 5 }),
      );
      return { device: created.device, client };
    };
    mine = await connect(tb.org.id);
    theirs = await connect(otherOrg.id);
  });
  after(async () => {
    await resources.closeAll();
    await tb.close();
  });

  it("telemetry of one organization's device is stored for it alone, though the names are the same", async () => {
    assert.equal(await pubackCode(mine.client.client, 'v1/devices/me/telemetry', '{"temperature":21.5}'), 0);
    assert.equal(await pubackCode(theirs.client.client, 'v1/devices/me/telemetry', '{"temperature":-4}'), 0);
    const [ours] = await tb.platform.store.latestTelemetry(mine.device.id, ['temperature']);
    const [other] = await tb.platform.store.latestTelemetry(theirs.device.id, ['temperature']);
    assert.equal(ours?.value, 21.5);
    assert.equal(other?.value, -4);
  });

  it("an attribute request answers the device's own client attributes, never the namesake's", async () => {
    assert.equal(await pubackCode(theirs.client.client, 'v1/devices/me/attributes', '{"secret":"theirs"}'), 0);
    const { client } = mine.client;
    await client.subscribeAsync('v1/devices/me/attributes/response/+', { qos: 1 });
    await client.publishAsync('v1/devices/me/attributes/request/7', '{"clientKeys":"secret"}', { qos: 1 });
    const [response] = await mine.client.waitForMessages(1, (m) => m.topic.endsWith('/response/7'));
    assert.deepEqual(JSON.parse(response!.payload), {});
  });

  it("a shared-attribute update reaches only its device's connection", async () => {
    await mine.client.client.subscribeAsync('v1/devices/me/attributes', { qos: 1 });
    await theirs.client.client.subscribeAsync('v1/devices/me/attributes', { qos: 1 });
    await tb.platform.committed((done) => tb.platform.postAttributes(theirs.device, 'shared', { mode: 'eco' }, done));
    const [update] = await theirs.client.waitForMessages(1, (m) => m.topic === 'v1/devices/me/attributes');
    assert.deepEqual(JSON.parse(update!.payload), { mode: 'eco' });
    // Barrier: a round trip on the other device's connection after the update was sent.
    assert.equal(await pubackCode(mine.client.client, 'v1/devices/me/telemetry', '{"barrier":1}'), 0);
    assert.equal(mine.client.messages.filter((m) => m.topic === 'v1/devices/me/attributes').length, 0);
  });
});
