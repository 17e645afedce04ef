/**
 * End to end through a whole Switchboard: a ThingsBoard device's telemetry goes through the platform, the PlaceOS
 * feed and a bridge created with `POST /api/bridges`, and reaches mosquitto_sub on this machine's Mosquitto, with
 * the bridge's own privacy filter applied and the local feed left as its own filters say.
 */
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { afterEach, test } from 'node:test';
import { Resources } from '../helpers/index.js';
import { cleaningSubscriber, mosquittoSubscribe, SYSTEM_MOSQUITTO, uniquePrefix } from './bridge-helpers.js';
import { FeedHarness, get, idOf, parsePayload } from './feed-harness.js';

const resources = new Resources();

afterEach(async () => {
  await resources.closeAll();
});

test("a device's telemetry goes through the feed and a bridge to mosquitto_sub on the target broker", async () => {
  const h = await FeedHarness.start(resources);
  await h.feed({ enabled: true });
  const building = await h.zone('HQ', 'building');
  const level = await h.zone('L2', 'level', building);
  const system = await h.system('Room 1', [building, level]);
  const profile = await h.profile('Display', 'dep-123');
  const device = await h.device('display-1', { system, profile });

  const prefix = uniquePrefix('feed-e2e');
  const seen = await cleaningSubscriber(resources, SYSTEM_MOSQUITTO, prefix);
  const created = await h.api('POST', '/api/bridges', {
    name: 'cloud',
    host: '127.0.0.1',
    port: SYSTEM_MOSQUITTO,
    topicPrefix: prefix,
    qos: 1,
    filters: [{ pattern: 'builtin:email', action: 'hash' }],
  });
  assert.equal(created.status, 201);
  const bridgeId = idOf(created.json);
  const secret = get(created.json, 'secret') as string;

  const local = await h.subscriber(`placeos/+/state/#`);
  await h.telemetry(device, { temperature: 21.5, organizer: 'ada@example.com' });
  const [localOrganizer] = await local.client.waitForMessages(1, (m) => m.topic.endsWith('/organizer'));

  const lines = await mosquittoSubscribe(SYSTEM_MOSQUITTO, `${prefix}/placeos/+/state/#`, 2);
  const byKey = new Map(lines.map((line) => [line.topic.split('/').at(-1), line]));
  const temperature = byKey.get('temperature');
  const organizer = byKey.get('organizer');
  assert.ok(temperature !== undefined && organizer !== undefined, JSON.stringify(lines));
  // Same topic as on Switchboard's own broker, under the bridge's prefix; retained on the target.
  assert.equal(organizer.topic, `${prefix}/${localOrganizer!.topic}`);
  assert.equal(
    temperature.topic,
    `${prefix}/placeos/${h.orgId}/state/${building}/${level}/_/${system}/dep-123/display-1/1/temperature`,
  );
  assert.ok(temperature.isRetained && organizer.isRetained);
  assert.equal((JSON.parse(temperature.payload) as { value: unknown }).value, '21.5');
  // The bridge's rule hashed the e-mail with the bridge's secret; the local feed has no rule, so it is in clear there.
  const hashed = createHmac('sha256', secret).update('ada@example.com').digest('hex');
  assert.equal((JSON.parse(organizer.payload) as { value: unknown }).value, JSON.stringify(hashed));
  assert.equal(parsePayload(localOrganizer!).value, '"ada@example.com"');

  // Metadata goes over too (device-apis.md §1.1): the system's name on placeos/<org>/metadata/<id>.
  const [metadata] = await seen.waitForMessages(1, (m) => m.topic.endsWith(`/metadata/${system}`));
  assert.deepEqual(get((JSON.parse(metadata!.payload) as { value: unknown }).value, 'name'), 'Room 1');

  const status = get(await h.ok('GET', `/api/bridges/${bridgeId}`), 'status');
  assert.equal(get(status, 'connected'), true);
  assert.ok((get(status, 'sent') as number) >= 3);

  // The same numbers, summed over the server's bridges, on /metrics.
  const metrics = await (await fetch(`${h.srv.httpUrl}/metrics`)).text();
  assert.match(metrics, /^switchboard_bridges\{state="connected"\} 1$/m);
  const published = /^switchboard_bridge_publishes_total (\d+)$/m.exec(metrics);
  assert.ok(published !== null && Number(published[1]) >= 3, metrics);
});
