/**
 * A user session connected with a JWT ends when the JWT expires (issue 5: "the session is closed when it expires"):
 * MQTT 5 clients get a server DISCONNECT 0xA0 Maximum connect time with a reason string; 3.1.1 clients, which have no
 * server DISCONNECT, are closed. Tokens here live three seconds: elapsed time is the behaviour under test.
 */
import assert from 'node:assert/strict';
import { after, afterEach, before, describe, it } from 'node:test';
import { clientClosed, connectClient, Resources } from '../helpers/index.js';
import { serverDisconnect } from '../thingsboard/tb-clients.js';
import { EXPIRED_REASON_STRING } from '../../src/dialects/users/index.js';
import { asUser, startUsersServer, type TestUser, type UsersServer } from './helpers.js';

/** Short enough for a test, long enough to connect and subscribe first (exp is whole seconds: 2–3 s from now). */
const LIFETIME_SECONDS = 3;

describe('JWT expiry closes the session', () => {
  let users: UsersServer;
  let viewer: TestUser;
  const resources = new Resources();

  before(async () => {
    users = await startUsersServer();
    viewer = await users.createUser('viewer');
  });
  afterEach(() => resources.closeAll());
  after(() => users.close());

  it('MQTT 5 over WebSocket at /api/mqtt/: DISCONNECT 0xA0 with a reason string when the JWT expires', async () => {
    const token = await users.signToken(viewer, LIFETIME_SECONDS);
    const session = resources.add(await connectClient(users.apiMqttUrl, asUser(token, 5)));
    const disconnected = serverDisconnect(session.client);
    // The session works until then.
    await session.client.subscribeAsync(`placeos/${users.orgId}/state/#`, { qos: 1 });
    const packet = await disconnected;
    assert.equal(packet.reasonCode, 0xa0);
    assert.equal(packet.properties?.reasonString, EXPIRED_REASON_STRING);
    await clientClosed(session.client);
  });

  it('MQTT 3.1.1 over TCP: the connection is closed when the JWT expires', async () => {
    const token = await users.signToken(viewer, LIFETIME_SECONDS);
    const session = resources.add(await connectClient(users.server.mqttUrl, asUser(token, 4)));
    await clientClosed(session.client, 10_000);
    assert.equal(session.client.connected, false);
  });

  it('a login token with the configured lifetime keeps its session open past a short token’s expiry', async () => {
    const short = resources.add(
      await connectClient(users.server.mqttUrl, asUser(await users.signToken(viewer, LIFETIME_SECONDS))),
    );
    const long = resources.add(await connectClient(users.server.mqttUrl, asUser(viewer.token)));
    const closed = serverDisconnect(short.client);
    await closed;
    // The long session answers a round trip after the short one was closed.
    await long.client.subscribeAsync('lobby/display', { qos: 1 });
    assert.equal(long.client.connected, true);
  });
});
