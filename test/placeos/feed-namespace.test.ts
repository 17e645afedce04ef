/**
 * Who may use `placeos/…` (docs/placeos.md "The namespace"): only the server's feed publishes there, so a device
 * cannot forge retained state; users read their own organization only; devices cannot subscribe. Over MQTT with real
 * clients where this branch has the credentials (ThingsBoard devices, anonymous clients); the user rules on the
 * dialect itself, with the identity the users' auth step attaches.
 */
import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import type { ClientInfo } from '../../src/broker/index.js';
import { createPlaceosDialect } from '../../src/dialects/placeos/index.js';
import type { UserIdentity } from '../../src/platform/identity.js';
import { connectClient, Resources } from '../helpers/index.js';
import { FeedHarness } from './feed-harness.js';

describe('the placeos/ namespace over MQTT', () => {
  const resources = new Resources();
  afterEach(() => resources.closeAll());

  it('a device’s PUBLISH to a feed topic is refused with 0x87 and not retained; its SUBSCRIBE too', async () => {
    const h = await FeedHarness.start(resources);
    const system = await h.system('Room', []);
    const created = await h.ok('POST', '/api/devices', { name: 'Forger', system });
    const token = (created as { credentials: { accessToken: string } }).credentials.accessToken;
    const forger = resources.add(await connectClient(h.srv.mqttUrl, { username: token, protocolVersion: 5 }));
    const topic = `placeos/${h.orgId}/state/_/_/_/${system}/x/Display/1/power`;
    // [MQTT-3.3.4-1]-style refusal in v5: the PUBACK carries the reason code 0x87 Not authorized.
    const puback = await new Promise<number | undefined>((resolve, reject) => {
      forger.client.publish(topic, '{"time":0,"value":"true"}', { qos: 1, retain: true }, (error, packet) => {
        if (error !== undefined && (error as { code?: number }).code === undefined) reject(error);
        else resolve((packet as { reasonCode?: number } | undefined)?.reasonCode ?? (error as { code?: number }).code);
      });
    });
    assert.equal(puback, 0x87);
    const refused: unknown = await forger.client.subscribeAsync(`placeos/${h.orgId}/#`, { qos: 0 }).then(
      () => undefined,
      (error: unknown) => error,
    );
    // [MQTT-3.9.3-1] the SUBACK's reason code for the filter: 0x87.
    assert.deepEqual((refused as { packet?: { granted?: number[] } }).packet?.granted, [0x87]);
    // An anonymous reader (the server allows anonymous clients here) sees no retained forgery.
    const reader = await h.subscriber(`placeos/${h.orgId}/#`);
    assert.deepEqual(
      reader.feed.filter((m) => m.topic === topic),
      [],
    );
  });
});

describe('placeos/ for users', () => {
  const dialect = createPlaceosDialect();
  const user = (orgId: string): ClientInfo =>
    ({
      clientId: 'u',
      username: 'jwt',
      protocolVersion: 5,
      identity: {
        kind: 'user',
        orgId,
        role: 'viewer',
        subject: 'user-1',
        expiresAtMs: undefined,
      } satisfies UserIdentity,
    }) as unknown as ClientInfo;

  it('a user may subscribe within its organization and is refused another’s', () => {
    assert.equal(dialect.authorizeSubscribe!(user('org-a'), 'placeos/org-a/state/#', 1), 1);
    assert.equal(dialect.authorizeSubscribe!(user('org-a'), 'placeos/org-a/metadata/+', 0), 0);
    assert.equal(dialect.authorizeSubscribe!(user('org-a'), 'placeos/org-b/state/#', 1), 0x87);
  });

  it('a wildcard at the organization level only delivers the user’s organization', () => {
    const grant = dialect.authorizeSubscribe!(user('org-a'), 'placeos/+/state/#', 1);
    assert.ok(typeof grant === 'object');
    assert.equal(grant.qos, 1);
    const deliver = (topicName: string): boolean =>
      dialect.canDeliver!(grant.guard, { topicName, publisherClientId: '', payload: Buffer.alloc(0) });
    assert.equal(deliver('placeos/org-a/state/_/_/_/s/d/m/1/k'), true);
    assert.equal(deliver('placeos/org-ab/state/_/_/_/s/d/m/1/k'), false);
    assert.equal(deliver('placeos/org-b/metadata/x'), false);
  });

  it('nobody publishes on the feed, users included', () => {
    assert.equal(dialect.authorizePublish!(user('org-a'), 'placeos/org-a/state/x', 0, true), 0x87);
  });
});
