/** CloudPlugs topics, data records, permission filters, enrolment passwords and Plug-IDs, without a server. */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import { controlPass, derivedPassMatches, thingEnrollPass } from '../../src/dialects/cloudplugs/enroll-pass.js';
import { parsePermFilter, PermFilterError } from '../../src/dialects/cloudplugs/perm.js';
import { isDevicePlugId, newOid, newPlugId, oidTimeMs } from '../../src/dialects/cloudplugs/plug-id.js';
import { deliveredPayload, parseRecords, RecordError } from '../../src/dialects/cloudplugs/records.js';
import {
  isCloudplugsTopic,
  matchesMask,
  parsePublishTopic,
  parseSubscribeFilter,
} from '../../src/dialects/cloudplugs/topics.js';

const PLUG = 'dev-0123456789abcdef01234567';
const MODEL = 'mod-0123456789abcdef01234567';

describe('CloudPlugs Plug-IDs', () => {
  it('a new device Plug-ID is dev- and 24 hex characters, its OID starting with the time in ms', () => {
    const before = Date.now();
    const plugId = newPlugId('dev');
    assert.match(plugId, /^dev-[0-9a-f]{24}$/);
    assert.ok(isDevicePlugId(plugId));
    const at = oidTimeMs(plugId.slice(4));
    assert.ok(at >= before && at <= Date.now());
    assert.notEqual(newOid(), newOid());
  });
});

describe('CloudPlugs topics', () => {
  it('publishes on <plug-id>/data/<channel> keep the channel with its slashes', () => {
    assert.deepEqual(parsePublishTopic(`${PLUG}/data/My/Sensor`), { kind: 'data', plugId: PLUG, channel: 'My/Sensor' });
    assert.deepEqual(parsePublishTopic(`${PLUG}/ag/prop/set`), { kind: 'propSet', plugId: PLUG });
    assert.deepEqual(parsePublishTopic(`${PLUG}/ag/prop/get`), { kind: 'propGet', plugId: PLUG });
  });

  it('a data channel over 200 bytes, an empty one and a model Plug-ID as publisher are refused', () => {
    assert.equal(parsePublishTopic(`${PLUG}/data/${'x'.repeat(201)}`).kind, 'invalid');
    assert.equal(parsePublishTopic(`${PLUG}/data/`).kind, 'invalid');
    assert.equal(parsePublishTopic(`${MODEL}/data/a`).kind, 'invalid');
    assert.equal(parsePublishTopic(`${PLUG}/other`).kind, 'invalid');
  });

  it('the namespace is every first level that is a Plug-ID, and +/data/…', () => {
    assert.ok(isCloudplugsTopic(`${PLUG}/data/x`));
    assert.ok(isCloudplugsTopic(`${MODEL}/thing/pass`));
    assert.ok(isCloudplugsTopic('+/data/#'));
    assert.ok(!isCloudplugsTopic('v1/devices/me/telemetry'));
    assert.ok(!isCloudplugsTopic('+/other/#'));
    assert.ok(!isCloudplugsTopic('dev-123/data/x'));
  });

  it('subscriptions: data of one device or of every device, enrolment of a thing or a controller', () => {
    assert.deepEqual(parseSubscribeFilter('+/data/My/Sensor'), { kind: 'data', plugId: undefined, mask: 'My/Sensor' });
    assert.deepEqual(parseSubscribeFilter(`${PLUG}/data/#`), { kind: 'data', plugId: PLUG, mask: '#' });
    assert.deepEqual(parseSubscribeFilter(`${MODEL}/thing/ab/cd=`), {
      kind: 'enrollThing',
      modelPlugId: MODEL,
      pass: 'ab/cd=',
    });
    assert.deepEqual(parseSubscribeFilter(`${MODEL}/ctrl/HW-1/p/q`), {
      kind: 'enrollController',
      modelPlugId: MODEL,
      thingHwid: 'HW-1',
      pass: 'p/q',
    });
    assert.equal(parseSubscribeFilter(`${MODEL}/thing`).kind, 'invalid');
  });

  it('channel masks match as MQTT filters do ([MQTT-4.7.1-2]: a/# matches a)', () => {
    assert.ok(matchesMask('#', 'a/b'));
    assert.ok(matchesMask('a/#', 'a'));
    assert.ok(matchesMask('a/+/c', 'a/b/c'));
    assert.ok(!matchesMask('a/+', 'a/b/c'));
    assert.ok(!matchesMask('temp', 'temperature'));
  });
});

describe('CloudPlugs data records', () => {
  it('a record without at gets the receive time and an assigned OID; ttl sets its expiry', () => {
    const [record] = parseRecords(Buffer.from('{"data": {"t": 21.5}, "ttl": 60}'), 1_700_000_000_000, false);
    assert.ok(record !== undefined);
    assert.equal(record.at, 1_700_000_000_000);
    assert.match(record.id, /^[0-9a-f]{24}$/);
    assert.equal(record.expiresAt, 1_700_000_060_000);
    assert.deepEqual(record.data, { t: 21.5 });
    assert.equal(record.isGivenId, false);
  });

  it('at as an ISO date keeps its text; expire_at wins over ttl; at as a numeric string is ms', () => {
    const [iso] = parseRecords(
      '{"data": 1, "at": "2024-05-01T10:00:00.123456+02:00", "ttl": 5, "expire_at": 1800000000000}',
      0,
      false,
    );
    assert.equal(iso?.at, Date.parse('2024-05-01T10:00:00.123+02:00'));
    assert.equal(iso?.atText, '2024-05-01T10:00:00.123456+02:00');
    assert.equal(iso?.expiresAt, 1_800_000_000_000);
    const [numeric] = parseRecords('{"data": 1, "at": "1700000000000"}', 0, false);
    assert.equal(numeric?.at, 1_700_000_000_000);
  });

  it('bad records are refused with a reason: no data, bad at, bad of, unknown field, not JSON, arrays over MQTT', () => {
    for (const payload of [
      '{"value": 1}',
      '{"data": 1, "at": "yesterday"}',
      '{"data": 1, "of": "mod-0123456789abcdef01234567"}',
      '{"data": 1, "colour": "red"}',
      '{"data": 1, "ttl": -1}',
      '{data: 1}',
      '42',
      '[{"data": 1}]',
    ]) {
      assert.throws(() => parseRecords(payload, 0, false), RecordError, payload);
    }
    assert.equal(parseRecords('[{"data": 1}, {"data": 2}]', 0, true).length, 2);
  });

  it('subscribers get {"id","data","at"}', () => {
    assert.equal(
      deliveredPayload({ id: 'a'.repeat(24), data: [1, 2], at: 5 }).toString(),
      `{"id":"${'a'.repeat(24)}","data":[1,2],"at":5}`,
    );
  });
});

describe('CloudPlugs permission filters', () => {
  it('a partial filter changes only what it names', () => {
    const base = parsePermFilter({ of: { r: null, w: [] }, ctrl: 'rw' });
    assert.deepEqual(parsePermFilter({ of: { r: [PLUG] } }, base), { of: { r: [PLUG], w: [] }, ctrl: 'rw' });
    assert.deepEqual(parsePermFilter({ ctrl: '' }, base), { of: { r: null, w: [] }, ctrl: '' });
  });

  it('a filter naming something other than device Plug-IDs, or with unknown fields, is refused', () => {
    for (const bad of [{ of: { r: ['x'] } }, { of: { x: [] } }, { ctrl: 'w' }, { owner: 1 }, [], 'rw']) {
      assert.throws(() => parsePermFilter(bad), PermFilterError, JSON.stringify(bad));
    }
  });
});

describe('CloudPlugs enrolment passwords', () => {
  it('a thing’s is base64(sha1(secret + hwid)), a controller’s base64(sha1(hwid + secret))', () => {
    const sha1 = (text: string): string => createHash('sha1').update(text).digest('base64');
    assert.equal(thingEnrollPass('s3cret-key', 'HW1'), sha1('s3cret-keyHW1'));
    assert.equal(controlPass('s3cret-key', 'HW1'), sha1('HW1s3cret-key'));
  });

  it('the URL-safe spelling and a missing padding are the same password (a topic level cannot hold +)', () => {
    const pass = 'ab+c/d=';
    assert.ok(derivedPassMatches('ab-c_d', pass));
    assert.ok(derivedPassMatches('ab+c/d=', pass));
    assert.ok(!derivedPassMatches('ab+c/e=', pass));
  });
});
