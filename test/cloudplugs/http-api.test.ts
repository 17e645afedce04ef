/**
 * CloudPlugs' HTTP API under /iot (device-apis.md §2.5): enrolment, devices, properties, location, data publish and
 * read, channels, with its headers and status codes; and HTTP ↔ MQTT live both ways.
 */
import assert from 'node:assert/strict';
import { after, afterEach, before, describe, it } from 'node:test';
import { Resources } from '../helpers/index.js';
import { record, startPlugServer, thingEnrollPass, type PlugServer, type Template, type Thing } from './helpers.js';

const as = (thing: Thing): Record<string, string> => ({ 'x-plug-id': thing.plugId, 'x-plug-auth': thing.auth });

describe('CloudPlugs HTTP API', () => {
  let server: PlugServer;
  let template: Template;
  let account: { email: string; password: string; token: string; orgId: string };
  let accountTemplate: Template;
  const resources = new Resources();

  before(async () => {
    server = await startPlugServer();
    template = await server.createTemplate();
    account = await server.createOrganization();
    accountTemplate = await server.createTemplate('account-template', account.token);
  });
  afterEach(() => resources.closeAll());
  after(() => server.close());

  const master = (): Record<string, string> => ({ 'x-plug-email': account.email, 'x-plug-master': account.password });

  it('POST /iot/device enrols a production thing: 200 {"id","auth"}; a wrong pass is 403 with err, twice is 409', async () => {
    const body = {
      model: template.plugId,
      hwid: 'HTTP-1',
      pass: thingEnrollPass(template.secret, 'HTTP-1'),
      props: { room: 'hall' },
      prop_links: { lastTemp: 'temp' },
    };
    const enrolled = await server.iot('POST', '/iot/device', body, {});
    assert.equal(enrolled.status, 200, enrolled.text);
    const { id, auth } = enrolled.body as { id: string; auth: string };
    assert.match(id, /^dev-[0-9a-f]{24}$/);
    const again = await server.iot('POST', '/iot/device', body, {});
    assert.equal(again.status, 409);
    assert.equal((again.body as { err: number }).err, 409);
    const wrong = await server.iot('POST', '/iot/device', { ...body, hwid: 'HTTP-2' }, {});
    assert.equal(wrong.status, 403);
    assert.deepEqual(Object.keys(wrong.body as object).sort(), ['err', 'error', 'message']);
    const mine = await server.iot('GET', `/iot/device/${id}`, undefined, { 'x-plug-id': id, 'x-plug-auth': auth });
    assert.equal(mine.status, 200);
    assert.equal((mine.body as { hwid: string; model: string }).model, template.plugId);
    // A property linked to a channel reads as its last value: null until something is published there.
    assert.deepEqual((mine.body as { props: unknown }).props, { lastTemp: null, room: 'hall' });
    await server.iot('PUT', '/iot/data/temp', { data: 19 }, { 'x-plug-id': id, 'x-plug-auth': auth });
    const linked = await server.iot('GET', `/iot/device/${id}/lastTemp`, undefined, {
      'x-plug-id': id,
      'x-plug-auth': auth,
    });
    assert.equal(linked.body, 19);
  });

  it('a prototype is enrolled with the master password (201); without credentials or with a wrong one it is 401', async () => {
    const created = await server.iot(
      'POST',
      '/iot/device',
      { name: 'proto', hwid: 'P-1', props: { room: 'lab' } },
      master(),
    );
    assert.equal(created.status, 201, created.text);
    const { id } = created.body as { id: string };
    const basic = `Basic ${Buffer.from(`${account.email}:${account.password}`).toString('base64')}`;
    const read = await server.iot('GET', `/iot/device/${id}`, undefined, { authorization: basic });
    assert.equal(read.status, 200);
    assert.deepEqual((read.body as { props: unknown }).props, { room: 'lab' });
    const noAuth = await server.iot('GET', `/iot/device/${id}`, undefined, {});
    assert.equal(noAuth.status, 401);
    const wrongMaster = await server.iot('GET', `/iot/device/${id}`, undefined, {
      ...master(),
      'x-plug-master': 'nope-nope',
    });
    assert.equal(wrongMaster.status, 401);
    // Another organization's account does not see it.
    const admin = await server.iot('GET', `/iot/device/${id}`, undefined, {
      'x-plug-email': 'nobody@example.com',
      'x-plug-master': 'x',
    });
    assert.equal(admin.status, 401);
  });

  it('PUT /iot/data/<channel> stores and delivers live to an MQTT subscriber; GET /iot/data reads it back', async () => {
    const thing = await server.createThing(accountTemplate, 'HTTP-DATA', account.token);
    const reader = await server.createThing(accountTemplate, 'HTTP-READER', account.token);
    const subscriber = resources.add(await server.connectThing(reader));
    await subscriber.client.subscribeAsync(`+/data/house/#`);
    const put = await server.iot(
      'PUT',
      '/iot/data/house/temp',
      [
        { data: 20, at: 1_000 },
        { data: 21, at: 2_000 },
      ],
      as(thing),
    );
    assert.equal(put.status, 200, put.text);
    const ids = put.body as string[];
    assert.equal(ids.length, 2);
    const messages = await subscriber.waitForMessages(2);
    assert.deepEqual(
      messages.map((m) => record(m.payload).data),
      [20, 21],
    );
    assert.deepEqual(
      messages.map((m) => record(m.payload).id),
      ids,
    );
    const read = await server.iot('GET', '/iot/data/house/%23', undefined, as(reader));
    assert.equal(read.status, 200, read.text);
    const rows = read.body as { id: string; channel: string; of: string; data: unknown; at: number }[];
    assert.deepEqual(
      rows.map((r) => [r.data, r.channel, r.of]),
      [
        [21, 'house/temp', thing.plugId],
        [20, 'house/temp', thing.plugId],
      ],
    );
    const after = await server.iot('GET', `/iot/data/house/temp?after=1000&of=${thing.plugId}`, undefined, as(reader));
    assert.deepEqual(
      (after.body as { data: unknown }[]).map((r) => r.data),
      [21],
    );
    const exact = await server.iot('GET', '/iot/data/house/temp?at=1000,1500', undefined, as(reader));
    assert.deepEqual(
      (exact.body as { data: unknown }[]).map((r) => r.data),
      [20],
    );
    const before = await server.iot('GET', '/iot/data/house/temp?before=2000', undefined, as(reader));
    assert.deepEqual(
      (before.body as { data: unknown }[]).map((r) => r.data),
      [20],
    );
    const limited = await server.iot('GET', '/iot/data/house/temp?limit=1&offset=1', undefined, as(reader));
    assert.deepEqual(
      (limited.body as { data: unknown }[]).map((r) => r.data),
      [20],
    );
    const channels = await server.iot('GET', '/iot/channel/house/%23', undefined, as(thing));
    assert.deepEqual(channels.body, [{ channel: 'house/temp' }]);
  });

  it('an MQTT record is read over HTTP at once; bad bodies and queries are 400 with err', async () => {
    const thing = await server.createThing(template, 'MQTT-TO-HTTP');
    const device = resources.add(await server.connectThing(thing));
    await device.client.publishAsync(`${thing.plugId}/data/power`, '{"data": 42}', { qos: 1 });
    const read = await server.iot('GET', '/iot/data/power', undefined, as(thing));
    assert.deepEqual(
      (read.body as { data: unknown }[]).map((r) => r.data),
      [42],
    );
    for (const [body, status] of [
      ['not json', 400],
      [{ nodata: 1 }, 400],
      [{ data: 1, of: 'dev-000000000000000000000000' }, 403],
    ] as const) {
      const answer = await server.iot('PUT', '/iot/data/power', body, as(thing));
      assert.equal(answer.status, status, JSON.stringify(body));
      assert.equal((answer.body as { err: number }).err, status);
    }
    const badLimit = await server.iot('GET', '/iot/data/power?limit=0', undefined, as(thing));
    assert.equal(badLimit.status, 400);
  });

  it('DELETE /iot/data/<mask> removes the records a thing may write, narrowed by id and time; others stay', async () => {
    const thing = await server.createThing(template, 'DELETER');
    const other = await server.createThing(template, 'BYSTANDER');
    const put = async (who: typeof thing, channel: string, body: unknown) => {
      const answer = await server.iot('PUT', `/iot/data/${channel}`, body, as(who));
      assert.equal(answer.status, 200, answer.text);
      return answer.body as string;
    };
    const first = await put(thing, 'meter/a', { data: 1, at: 1_700_000_000_000 });
    await put(thing, 'meter/a', { data: 2, at: 1_700_000_001_000 });
    await put(thing, 'meter/b', { data: 3, at: 1_700_000_002_000 });
    await put(other, 'meter/a', { data: 9, at: 1_700_000_000_500 });
    const values = async (who: typeof thing) =>
      ((await server.iot('GET', `/iot/data/meter/%23?of=${who.plugId}`, undefined, as(who))).body as { data: number }[])
        .map((r) => r.data)
        .sort();

    const byId = await server.iot('DELETE', '/iot/data/meter/%23', { id: first }, as(thing));
    assert.equal(byId.status, 200, byId.text);
    assert.deepEqual(byId.body, { deleted: 1 });
    assert.deepEqual(await values(thing), [2, 3]);
    const byTime = await server.iot('DELETE', '/iot/data/meter/a', { before: 1_700_000_001_500 }, as(thing));
    assert.deepEqual(byTime.body, { deleted: 1 });
    const all = await server.iot('DELETE', '/iot/data/meter/%23', undefined, as(thing));
    assert.deepEqual(all.body, { deleted: 1 });
    assert.deepEqual(await values(thing), []);
    // The other thing's record is not the deleter's to remove, and is still there.
    assert.deepEqual(await values(other), [9]);
    const foreign = await server.iot('DELETE', '/iot/data/meter/a', { of: other.plugId }, as(thing));
    assert.equal(foreign.status, 403);
    assert.equal((await server.iot('DELETE', '/iot/data/meter/a', { id: { no: 1 } }, as(thing))).status, 400);
  });

  it('a private record (is_priv) is read back only by its device and accounts, and not delivered to a peer', async () => {
    const owner = await server.createThing(accountTemplate, 'PRIV-OWNER', account.token);
    const peer = await server.createThing(accountTemplate, 'PRIV-PEER', account.token);
    const subscriber = resources.add(await server.connectThing(peer));
    await subscriber.client.subscribeAsync(`${owner.plugId}/data/#`);
    const hidden = await server.iot('PUT', '/iot/data/diary', { data: 'secret', is_priv: true }, as(owner));
    assert.equal(hidden.status, 200, hidden.text);
    const shown = await server.iot('PUT', '/iot/data/diary', { data: 'public' }, as(owner));
    assert.equal(shown.status, 200);
    // Live deliveries keep commit order: once the public record arrived, a delivered private one would be first.
    const messages = await subscriber.waitForMessages(1);
    assert.deepEqual(
      messages.map((m) => record(m.payload).data),
      ['public'],
    );
    const dataOf = async (headers: Record<string, string>) =>
      (
        (await server.iot('GET', `/iot/data/diary?of=${owner.plugId}`, undefined, headers)).body as { data: unknown }[]
      ).map((r) => r.data);
    assert.deepEqual(await dataOf(as(peer)), ['public']);
    assert.deepEqual(await dataOf(as(owner)), ['public', 'secret']);
    assert.deepEqual(await dataOf(master()), ['public', 'secret']);
  });

  it('properties and location over HTTP; a device may not change its own status or permissions (403)', async () => {
    const thing = await server.createThing(template, 'PROPS-HTTP');
    assert.equal((await server.iot('PATCH', `/iot/device/${thing.plugId}/colour`, '"blue"', as(thing))).status, 200);
    const colour = await server.iot('GET', `/iot/device/${thing.plugId}/colour`, undefined, as(thing));
    assert.equal(colour.body, 'blue');
    assert.equal((await server.iot('GET', `/iot/device/${thing.plugId}/missing`, undefined, as(thing))).status, 404);
    const located = await server.iot(
      'PATCH',
      `/iot/device/${thing.plugId}/location`,
      { x: 12.5, y: 41.9, t: 1_700_000_000_000 },
      as(thing),
    );
    assert.equal(located.status, 200, located.text);
    const location = await server.iot('GET', `/iot/device/${thing.plugId}/location`, undefined, as(thing));
    assert.deepEqual(location.body, { x: 12.5, y: 41.9, t: 1_700_000_000_000 });
    const offMap = await server.iot('PATCH', `/iot/device/${thing.plugId}/location`, { x: 200, y: 0 }, as(thing));
    assert.equal(offMap.status, 400);
    const escalate = await server.iot('PATCH', `/iot/device/${thing.plugId}`, { status: 'ok' }, as(thing));
    assert.equal(escalate.status, 403);
  });

  it('PUT /iot/device enrols a controller (201), and the enrolled controller adds a second thing (200)', async () => {
    const first = await server.createThing(template, 'CTL-T1');
    const second = await server.createThing(template, 'CTL-T2');
    const { controlPass } = await import('./helpers.js');
    const enrolled = await server.iot(
      'PUT',
      '/iot/device',
      { model: template.plugId, ctrl: first.hwid, pass: controlPass(template.secret, first.hwid), hwid: 'CTL-1' },
      {},
    );
    assert.equal(enrolled.status, 201, enrolled.text);
    const controller = enrolled.body as { id: string; auth: string };
    const headers = { 'x-plug-id': controller.id, 'x-plug-auth': controller.auth };
    const more = await server.iot(
      'PUT',
      '/iot/device',
      { model: template.plugId, ctrl: second.hwid, pass: controlPass(template.secret, second.hwid) },
      headers,
    );
    assert.equal(more.status, 200);
    assert.equal(more.text, '');
    const seen = await server.iot('GET', `/iot/device/${controller.id}`, undefined, headers);
    assert.deepEqual((seen.body as { ctrl: string[] }).ctrl, [first.plugId, second.plugId]);
  });
});
