/**
 * What a user session may do (issue 5, choices.md "Who connects" step 2, docs/users.md): read and subscribe within its
 * organization only (another organization's feed refused with SUBACK 0x87; filters that could span organizations,
 * such as `#`, granted with a delivery guard that lets only the user's own organization's feed through);
 * publishing needs the operator or admin role (a viewer's QoS 1 PUBLISH gets PUBACK 0x87 on MQTT 5; on 3.1.1, which has
 * no refusal, it is acknowledged and dropped); nobody publishes into `placeos/`.
 */
import assert from 'node:assert/strict';
import { after, afterEach, before, describe, it } from 'node:test';
import { connectClient, Resources, type TestClient } from '../helpers/index.js';
import { pubackCode, subackCodes } from '../thingsboard/tb-clients.js';
import { asUser, startUsersServer, type TestApiKey, type TestUser, type UsersServer } from './helpers.js';

describe('user rights', () => {
  let users: UsersServer;
  let viewer: TestUser;
  let operator: TestUser;
  let viewerKey: TestApiKey;
  /** A second organization and one of its viewers. */
  let otherOrgId: string;
  let otherViewer: TestUser;
  const resources = new Resources();

  before(async () => {
    users = await startUsersServer();
    viewer = await users.createUser('viewer');
    operator = await users.createUser('operator');
    viewerKey = await users.createApiKey('viewer');
    const other = await users.createOrganization('acme');
    otherOrgId = other.orgId;
    otherViewer = await users.createUser('viewer', other.adminToken);
  });
  afterEach(() => resources.closeAll());
  after(() => users.close());

  const connect = async (secret: string, protocolVersion: 4 | 5 = 5): Promise<TestClient> =>
    resources.add(await connectClient(users.server.mqttUrl, asUser(secret, protocolVersion)));

  it('a user subscribes to its own organization’s feed and to plain topics', async () => {
    const session = await connect(viewer.token);
    const filters = [
      `placeos/${users.orgId}/state/#`,
      `placeos/${users.orgId}/state/+/+/+/+/+/+/+/connected`,
      `placeos/${users.orgId}/metadata/+`,
      `$share/dashboards/placeos/${users.orgId}/state/#`,
      'lobby/display',
      'lobby/+/status',
    ];
    assert.deepEqual(await subackCodes(session.client, filters, 1), [1, 1, 1, 1, 1, 1]);
  });

  it('a filter naming another organization’s feed is refused with 0x87 (MQTT 5)', async () => {
    const session = await connect(viewer.token);
    const filters = [
      `placeos/${otherOrgId}/state/#`,
      `placeos/${otherOrgId}/metadata/+`,
      `placeos/${otherOrgId}`,
      `$share/g/placeos/${otherOrgId}/#`,
    ];
    assert.deepEqual(
      await subackCodes(session.client, filters),
      filters.map(() => 0x87),
    );
  });

  it('the same refusal on 3.1.1 is SUBACK 0x80', async () => {
    const session = await connect(viewerKey.key, 4);
    assert.deepEqual(await subackCodes(session.client, [`placeos/${otherOrgId}/state/#`], 1), [0x80]);
  });

  it('filters that could span organizations (#, +/…, placeos/+/…) are granted but deliver only the user’s own organization’s feed and plain topics', async () => {
    const filters = ['#', `+/${otherOrgId}/state/#`, '+/+/state/#', 'placeos/+/state/#', 'placeos/#', '$share/g/#'];
    const sessions: TestClient[] = [];
    for (const [index, filter] of filters.entries()) {
      const session = await connect(index % 2 === 0 ? viewer.token : viewerKey.key, index === 1 ? 4 : 5);
      // [MQTT-3.9.3-1] one SUBACK code per filter; the grant is the requested QoS.
      assert.deepEqual(await subackCodes(session.client, [filter, `barrier/${String(index)}`], 1), [1, 1], filter);
      sessions.push(session);
    }
    const feedTopic = (orgId: string): string => `placeos/${orgId}/state/hq/1/lobby/sys-1/dep-1/Display/1/power`;
    const publish = (topicName: string, payload: string): void => {
      users.server.broker.publish({
        topicName,
        payload: Buffer.from(payload),
        qos: 1,
        isRetained: false,
        properties: undefined,
      });
    };
    publish(feedTopic(otherOrgId), 'theirs');
    publish(feedTopic(users.orgId), 'ours');
    publish('lobby/notice', 'plain');
    publish(`placeos/${otherOrgId}/metadata/zone-1`, 'their metadata');
    for (const index of filters.keys()) publish(`barrier/${String(index)}`, 'barrier');
    // Each session's own barrier comes after everything published before it ([MQTT-4.6.0-6] per-session order).
    const expected: Record<string, string[]> = {
      '#': ['ours', 'plain', 'barrier'],
      [`+/${otherOrgId}/state/#`]: ['barrier'],
      '+/+/state/#': ['ours', 'barrier'],
      'placeos/+/state/#': ['ours', 'barrier'],
      'placeos/#': ['ours', 'barrier'],
      '$share/g/#': ['ours', 'plain', 'barrier'],
    };
    for (const [index, filter] of filters.entries()) {
      const session = sessions[index]!;
      await session.waitForMessages(1, (message) => message.topic === `barrier/${String(index)}`);
      const payloads = session.messages
        .filter((message) => !message.topic.startsWith('barrier/') || message.topic === `barrier/${String(index)}`)
        .map((message) => message.payload);
      assert.deepEqual(payloads, expected[filter], filter);
    }
  });

  it('a user never receives another organization’s feed: each subscriber gets only its own organization’s', async () => {
    const ours = await connect(viewer.token);
    const theirs = await connect(otherViewer.token);
    await ours.client.subscribeAsync(`placeos/${users.orgId}/state/#`, { qos: 1 });
    await theirs.client.subscribeAsync(`placeos/${otherOrgId}/state/#`, { qos: 1 });
    // The feed is the server's: published with Broker.publish, as the PlaceOS feed does.
    const publish = (orgId: string, value: string): void => {
      users.server.broker.publish({
        topicName: `placeos/${orgId}/state/hq/1/lobby/sys-1/dep-1/Display/1/power`,
        payload: Buffer.from(JSON.stringify({ time: Date.now(), value })),
        qos: 1,
        isRetained: false,
        properties: undefined,
      });
    };
    publish(otherOrgId, '"theirs"');
    publish(users.orgId, '"ours"');
    publish(otherOrgId, '"theirs again"');
    // Delivery to one session keeps routing order, so by the time each has its own last message it would already hold
    // any message of the other organization's.
    const [mine] = await ours.waitForMessages(1);
    const theirMessages = await theirs.waitForMessages(2);
    assert.equal(ours.messages.length, 1);
    assert.match(mine?.topic ?? '', new RegExp(`^placeos/${users.orgId}/`));
    assert.ok(theirMessages.every((message) => message.topic.startsWith(`placeos/${otherOrgId}/`)));
  });

  it('a viewer’s QoS 1 PUBLISH is refused with PUBACK 0x87 on MQTT 5 and not delivered', async () => {
    const listener = await connect(operator.token);
    await listener.client.subscribeAsync('lobby/#', { qos: 1 });
    const publisher = await connect(viewer.token, 5);
    assert.equal(await pubackCode(publisher.client, 'lobby/display', 'from a viewer'), 0x87);
    const byKey = await connect(viewerKey.key, 5);
    assert.equal(await pubackCode(byKey.client, 'lobby/display', 'from a viewer key'), 0x87);
    // Barrier: an operator's message after the refused ones arrives alone.
    const sender = await connect(operator.token);
    await sender.client.publishAsync('lobby/display', 'from an operator', { qos: 1 });
    const [message] = await listener.waitForMessages(1);
    assert.equal(message?.payload, 'from an operator');
    assert.equal(listener.messages.length, 1);
  });

  it('on 3.1.1 a viewer’s QoS 1 PUBLISH is acknowledged (no refusal exists) but dropped', async () => {
    const listener = await connect(operator.token);
    await listener.client.subscribeAsync('lobby/#', { qos: 1 });
    const publisher = await connect(viewer.token, 4);
    assert.equal(await pubackCode(publisher.client, 'lobby/display', 'dropped'), 0);
    await publisher.client.publishAsync('lobby/display', 'dropped too', { qos: 0 });
    // The viewer's session stays open and can still subscribe (a round trip after its publishes).
    assert.deepEqual(await subackCodes(publisher.client, ['lobby/other'], 1), [1]);
    const sender = await connect(operator.token, 4);
    await sender.client.publishAsync('lobby/display', 'delivered', { qos: 1 });
    const [message] = await listener.waitForMessages(1);
    assert.equal(message?.payload, 'delivered');
    assert.equal(listener.messages.length, 1);
  });

  it('an operator publishes to plain topics, retained too; a viewer of the organization reads them', async () => {
    const sender = await connect(operator.token, 5);
    assert.equal(await pubackCode(sender.client, 'lobby/welcome', 'hello'), 0);
    await sender.client.publishAsync('lobby/banner', 'retained banner', { qos: 1, retain: true });
    const reader = await connect(viewer.token);
    await reader.client.subscribeAsync('lobby/banner', { qos: 1 });
    const [banner] = await reader.waitForMessages(1);
    assert.equal(banner?.payload, 'retained banner');
    assert.equal(banner?.packet.retain, true);
  });

  it('nobody publishes into placeos/: an operator and an admin get 0x87 and the feed is untouched', async () => {
    const reader = await connect(viewer.token);
    await reader.client.subscribeAsync(`placeos/${users.orgId}/#`, { qos: 1 });
    const topic = `placeos/${users.orgId}/state/hq/1/lobby/sys-1/dep-1/Display/1/power`;
    const byOperator = await connect(operator.token);
    assert.equal(await pubackCode(byOperator.client, topic, '{"time":1,"value":"forged"}'), 0x87);
    const byAdmin = await connect(users.adminToken);
    assert.equal(await pubackCode(byAdmin.client, topic, '{"time":1,"value":"forged"}'), 0x87);
    assert.equal(await pubackCode(byAdmin.client, `placeos/${otherOrgId}/metadata/x`, '{}'), 0x87);
    users.server.broker.publish({
      topicName: topic,
      payload: Buffer.from('{"time":2,"value":"real"}'),
      qos: 1,
      isRetained: false,
      properties: undefined,
    });
    const [message] = await reader.waitForMessages(1);
    assert.equal(message?.payload, '{"time":2,"value":"real"}');
    assert.equal(reader.messages.length, 1);
  });

  it('a user does not reach into the ThingsBoard device namespace', async () => {
    const byAdmin = await connect(users.adminToken);
    assert.deepEqual(await subackCodes(byAdmin.client, ['v1/devices/me/attributes']), [0x87]);
    assert.equal(await pubackCode(byAdmin.client, 'v1/devices/me/telemetry', '{"t":1}'), 0x87);
  });
});
