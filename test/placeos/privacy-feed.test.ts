/**
 * The local feed's privacy filters over the real API and broker (issue 5 "Privacy filters"): rules set with
 * `PUT /api/organizations/{id}/feed` apply to what subscribers receive; a bad rule is a 400 naming it, and nothing
 * changes; the API never shows the hash secret.
 */
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { Resources } from '../helpers/index.js';
import { FeedHarness, parsePayload } from './feed-harness.js';

const TS = 1_760_000_000_000;

describe('PlaceOS local feed privacy filters', () => {
  const resources = new Resources();
  let h: FeedHarness;
  let device: string;
  beforeEach(async () => {
    h = await FeedHarness.start(resources);
    const system = await h.system('Room 24.1', []);
    device = await h.device('Room booking', { system });
  });
  afterEach(() => resources.closeAll());

  const booking = {
    organizer: 'jane.doe@example.com',
    attendees: ['j.smith+vc@corp.example.co.uk', 'visitor'],
    subject: 'Quarterly review',
  };

  async function received(filters: unknown[], values: Record<string, unknown>): Promise<Map<string, unknown>> {
    await h.feed({ enabled: true, valueEncoding: 'raw', filters });
    const all = await h.subscriber(`placeos/${h.orgId}/state/#`);
    all.clear();
    await h.telemetry(device, values, TS);
    await all.barrier();
    return new Map(all.feed.map((m) => [m.topic.split('/').pop()!, parsePayload(m).value]));
  }

  it('hash replaces each e-mail address with HMAC-SHA256 hex under the feed’s own secret', async () => {
    const values = await received([{ pattern: 'builtin:email', action: 'hash' }], { booking });
    const hashed = values.get('booking') as typeof booking;
    assert.match(hashed.organizer, /^[0-9a-f]{64}$/);
    assert.notEqual(hashed.organizer, createHmac('sha256', '').update(booking.organizer).digest('hex'));
    assert.equal(hashed.attendees.length, 2);
    assert.match(hashed.attendees[0]!, /^[0-9a-f]{64}$/);
    assert.equal(hashed.attendees[1], 'visitor');
    assert.equal(hashed.subject, 'Quarterly review');
    // The same address hashes the same on every change, so consumers can still count distinct people.
    const again = await received([{ pattern: 'builtin:email', action: 'hash' }], { owner: booking.organizer });
    assert.equal(again.get('owner'), hashed.organizer);
  });

  it('mask keeps the last N characters, or puts a fixed string instead', async () => {
    const values = await received(
      [
        { pattern: '\\bops@[a-z.]+', action: 'mask', replacement: '<ops>' },
        { pattern: 'builtin:email', action: 'mask', keepLast: 12 },
      ],
      { organizer: booking.organizer, cc: 'ops@corp.example.org' },
    );
    assert.equal(values.get('organizer'), '********@example.com');
    assert.equal(values.get('cc'), '<ops>');
  });

  it('drop withholds a change that contains a match; other keys still go out', async () => {
    const values = await received([{ pattern: 'builtin:email', action: 'drop' }], { booking, occupancy: 3 });
    assert.deepEqual([...values], [['occupancy', 3]]);
  });

  it('string-encoded values are filtered inside the string and stay valid JSON', async () => {
    await h.feed({
      enabled: true,
      valueEncoding: 'string',
      filters: [{ pattern: '"', action: 'mask', replacement: '\\"}' }],
    });
    const all = await h.subscriber(`placeos/${h.orgId}/state/#`);
    await h.telemetry(device, { note: 'say "hi" to a@b.io' }, TS);
    await all.barrier();
    const value = parsePayload(all.feed[0]!).value as string;
    assert.equal(JSON.parse(value), 'say \\"}hi\\"} to a@b.io');
  });

  it('a rule with a bad regular expression is a 400 naming the rule, and the settings stay as they were', async () => {
    await h.feed({ enabled: true, filters: [{ pattern: 'builtin:email', action: 'hash' }] });
    const answer = await h.api('PUT', `/api/organizations/${h.orgId}/feed`, {
      enabled: true,
      filters: [
        { pattern: 'builtin:user-id', action: 'hash' },
        { pattern: '(unclosed', action: 'drop' },
      ],
    });
    assert.equal(answer.status, 400);
    assert.equal(get(answer.json, 'error'), 'INVALID_REQUEST');
    assert.match(get(answer.json, 'message') as string, /^filters\[1\]: invalid regular expression: /);
    const settings = await h.ok('GET', `/api/organizations/${h.orgId}/feed`);
    assert.deepEqual(get(settings, 'filters'), [{ pattern: 'builtin:email', action: 'hash' }]);
    assert.equal(get(settings, 'secret'), undefined);
  });

  it('bad settings shapes are 400 with the API’s error body', async () => {
    for (const body of [
      { enabled: 'yes' },
      { enabled: true, timeUnit: 'us' },
      { enabled: true, filters: [{ pattern: 'x', action: 'encrypt' }] },
      { enabled: true, hierarchy: ['building', 'org'] },
      { enabled: true, hierarchy: ['level', 'level'] },
      { enabled: true, filters: [{ pattern: 'builtin:phone', action: 'hash' }] },
    ]) {
      const answer = await h.api('PUT', `/api/organizations/${h.orgId}/feed`, body);
      assert.equal(answer.status, 400, JSON.stringify(body));
      assert.equal(get(answer.json, 'error'), 'INVALID_REQUEST');
    }
    const unknownOrg = await h.api('PUT', '/api/organizations/no-such-org/feed', { enabled: true });
    assert.equal(unknownOrg.status, 404);
  });
});

function get(json: unknown, key: string): unknown {
  return (json as Record<string, unknown>)[key];
}
