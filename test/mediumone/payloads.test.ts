/**
 * Medium One payload rules without a server: timestamps (ISO-8601 with zone, microseconds kept), the event shape and
 * its limits, the telemetry points an event becomes, topic shapes and identifiers, and which topic a down message
 * takes.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  downTopic,
  DownMessageError,
  eventTelemetry,
  formatTimestamp,
  isMediumOneNamespace,
  isValidIdentifier,
  parseEvent,
  parseEventTopic,
  parseIsoTimestamp,
  parseMediumOneLogin,
  type DownMessage,
} from '../../src/dialects/mediumone/index.js';

const LIMIT = 65_536;

describe('observed_at timestamps', () => {
  test('the source document’s example is read to the millisecond and its microseconds stay in the text', () => {
    const parsed = parseEvent('{"event_data":{"hello":"world"},"observed_at":"2001-01-01T00:10:10.000000Z"}', 0, LIMIT);
    assert.ok(parsed.ok);
    assert.equal(parsed.event.at, Date.UTC(2001, 0, 1, 0, 10, 10));
    assert.equal(parsed.event.atText, '2001-01-01T00:10:10.000000Z');
  });

  test('microsecond fractions and zone offsets give the instant they name', () => {
    const cases: [string, number][] = [
      ['2014-06-11T02:11:25.076001Z', Date.UTC(2014, 5, 11, 2, 11, 25, 76)],
      ['2016-02-16T15:14:08-08:00', Date.UTC(2016, 1, 16, 23, 14, 8)],
      ['2016-02-16T15:14:08+0530', Date.UTC(2016, 1, 16, 9, 44, 8)],
      ['2016-02-16T15:14:08.9+01', Date.UTC(2016, 1, 16, 14, 14, 8, 900)],
      ['2024-02-29T23:59:59.999999999Z', Date.UTC(2024, 1, 29, 23, 59, 59, 999)],
      ['2016-02-16T15:14Z', Date.UTC(2016, 1, 16, 15, 14)],
    ];
    for (const [text, ms] of cases) assert.deepEqual(parseIsoTimestamp(text), { ok: true, ms }, text);
  });

  test('a timestamp without a zone, or not a real date, is refused with a reason', () => {
    for (const text of [
      '2016-02-16T15:14:08',
      '2016-02-16',
      '1455664448',
      '2023-02-29T00:00:00Z',
      '2016-13-01T00:00:00Z',
      '2016-02-16T24:00:00Z',
      '2016-02-16T15:14:08+25:00',
      'yesterday',
    ]) {
      const parsed = parseIsoTimestamp(text);
      assert.equal(parsed.ok, false, text);
    }
    const noZone = parseIsoTimestamp('2016-02-16T15:14:08.123456');
    assert.ok(!noZone.ok && noZone.reason.includes('time zone'));
  });

  test('stored times are shown with the six fraction digits Medium One uses', () => {
    assert.equal(formatTimestamp(Date.UTC(2014, 5, 11, 2, 11, 25, 76)), '2014-06-11T02:11:25.076000Z');
  });
});

describe('event payloads', () => {
  test('an event without observed_at takes the receive time, and without stream the raw stream', () => {
    const parsed = parseEvent(Buffer.from('{"event_data":{"t":1}}'), 1234, LIMIT);
    assert.ok(parsed.ok);
    assert.deepEqual(parsed.event, {
      eventData: { t: 1 },
      stream: 'raw',
      at: 1234,
      atText: null,
      isClientIpRequested: false,
    });
  });

  test('a named stream is kept', () => {
    const parsed = parseEvent('{"event_data":{},"stream":"diagnostics"}', 0, LIMIT);
    assert.ok(parsed.ok);
    assert.equal(parsed.event.stream, 'diagnostics');
  });

  test('bad events are refused with the reason a developer needs', () => {
    const cases: [string, string][] = [
      ['not json', 'not valid JSON'],
      ['[1,2]', 'not a JSON object'],
      ['{"observed_at":"2001-01-01T00:10:10Z"}', 'has no "event_data"'],
      ['{"event_data":[1]}', '"event_data" is not a JSON object'],
      ['{"event_data":"x"}', '"event_data" is not a JSON object'],
      ['{"event_data":{},"observed_at":"2001-01-01 00:10:10"}', 'has no time zone'],
      ['{"event_data":{},"observed_at":12}', '"observed_at" is not a string'],
      ['{"event_data":{},"stream":"a/b"}', '"stream" is not a valid stream name'],
    ];
    for (const [payload, reason] of cases) {
      const parsed = parseEvent(payload, 0, LIMIT);
      assert.ok(!parsed.ok, payload);
      assert.equal(parsed.refusal.kind, 'invalid', payload);
      assert.ok(parsed.refusal.reason.includes(reason), `${payload}: ${parsed.refusal.reason}`);
    }
  });

  test('an event over the size limit is refused as too large before it is parsed', () => {
    const payload = JSON.stringify({ event_data: { blob: 'x'.repeat(LIMIT) } });
    const parsed = parseEvent(payload, 0, LIMIT);
    assert.ok(!parsed.ok);
    assert.equal(parsed.refusal.kind, 'tooLarge');
    const overhead = JSON.stringify({ event_data: { blob: '' } }).length;
    const atLimit = JSON.stringify({ event_data: { blob: 'x'.repeat(LIMIT - overhead) } });
    assert.equal(Buffer.byteLength(atLimit), LIMIT);
    assert.ok(parseEvent(atLimit, 0, LIMIT).ok);
  });

  test('event_data nested deeper than 32 levels is refused, not walked', () => {
    const deep = '{"a":'.repeat(40) + '1' + '}'.repeat(40);
    const parsed = parseEvent(`{"event_data":${deep}}`, 0, LIMIT);
    assert.ok(!parsed.ok && parsed.refusal.reason.includes('deeper than 32'));
  });

  test('each leaf of event_data is a telemetry point named by its dotted path, at the event’s time', () => {
    const points = eventTelemetry(
      { temp: 21.5, gps: { lat: 1, lng: { deg: 2 } }, tags: ['a'], on: true, n: null, e: {} },
      7,
    );
    assert.deepEqual(points, [
      { key: 'temp', ts: 7, value: 21.5 },
      { key: 'gps.lat', ts: 7, value: 1 },
      { key: 'gps.lng.deg', ts: 7, value: 2 },
      { key: 'tags', ts: 7, value: ['a'] },
      { key: 'on', ts: 7, value: true },
    ]);
  });
});

describe('topics and identifiers', () => {
  test('the namespace is the first level 0, 1 or 2 only', () => {
    for (const topic of ['0/p/u/d', '1/p/u/d/event', '2/p/_all/x', '0', '2']) assert.ok(isMediumOneNamespace(topic));
    for (const topic of ['01/x', '3/p', 'v1/devices/me/telemetry', '#', '+/p', '']) {
      assert.ok(!isMediumOneNamespace(topic), topic);
    }
  });

  test('event topics may have an empty device id, with or without the trailing slash', () => {
    assert.deepEqual(parseEventTopic('0/p/u/dev-1'), { projectMqttId: 'p', userMqttId: 'u', deviceId: 'dev-1' });
    assert.deepEqual(parseEventTopic('0/p/u/'), { projectMqttId: 'p', userMqttId: 'u', deviceId: '' });
    assert.deepEqual(parseEventTopic('0/p/u'), { projectMqttId: 'p', userMqttId: 'u', deviceId: '' });
    for (const topic of ['0/p/u/d/extra', '0/p', '0//u/d', '1/p/u/d']) assert.equal(parseEventTopic(topic), undefined);
  });

  test('identifiers are printable ASCII topic levels', () => {
    for (const id of ['microwaves', '2014-microwaves', 'MT-2014A', 'a b', '_all']) assert.ok(isValidIdentifier(id));
    for (const id of ['', 'a/b', 'a+', '#', 'tab\t', 'é', 'x'.repeat(129)]) assert.ok(!isValidIdentifier(id), id);
  });

  test('logins have the shape <project>/<user> with <api key>/<password>', () => {
    const key = 'sbk_' + 'a'.repeat(32);
    assert.deepEqual(parseMediumOneLogin('p1/u1', Buffer.from(`${key}/pass/with/slashes`)), {
      projectMqttId: 'p1',
      userMqttId: 'u1',
      apiKey: key,
      password: 'pass/with/slashes',
    });
    // Other dialects' credentials: not Medium One's.
    assert.equal(parseMediumOneLogin('token', undefined), undefined);
    assert.equal(parseMediumOneLogin('a/b/c', Buffer.from(`${key}/x`)), undefined);
    assert.equal(parseMediumOneLogin('p1/u1', Buffer.from('secret')), undefined);
    assert.equal(parseMediumOneLogin('p1/u1', Buffer.from('notakey/secret')), undefined);
    assert.equal(parseMediumOneLogin('/u1', Buffer.from(`${key}/x`)), undefined);
  });
});

describe('down message topics', () => {
  const base: DownMessage = {
    kind: 'update',
    projectMqttId: 'P',
    userMqttId: undefined,
    deviceId: undefined,
    groupName: undefined,
    type: 'firmware',
    payload: {},
  };

  test('each documented down topic is chosen by user, device and group; updates are retained, events not', () => {
    assert.deepEqual(downTopic({ ...base, kind: 'event', userMqttId: 'U', deviceId: 'd1', type: undefined }), {
      topic: '1/P/U/d1/event',
      isRetained: false,
    });
    assert.deepEqual(downTopic({ ...base, userMqttId: 'U', deviceId: 'd1' }), {
      topic: '1/P/U/d1/update/firmware',
      isRetained: true,
    });
    assert.deepEqual(downTopic({ ...base, userMqttId: 'U' }), {
      topic: '1/P/U/_all/update/firmware',
      isRetained: true,
    });
    assert.deepEqual(downTopic({ ...base, groupName: 'microwaves' }), {
      topic: '2/P/microwaves/firmware',
      isRetained: true,
    });
    assert.deepEqual(downTopic(base), { topic: '2/P/_all/firmware', isRetained: true });
  });

  test('combinations no topic has are refused with a reason', () => {
    const bad: DownMessage[] = [
      { ...base, kind: 'event', userMqttId: 'U' },
      { ...base, kind: 'event', groupName: 'g' },
      { ...base, kind: 'event', userMqttId: 'U', deviceId: '_all' },
      { ...base, userMqttId: 'U', groupName: 'g' },
      { ...base, deviceId: 'd1' },
      { ...base, type: undefined },
      { ...base, type: 'a/b' },
      { ...base, userMqttId: 'U', deviceId: 'd+' },
    ];
    for (const message of bad) assert.throws(() => downTopic(message), DownMessageError, JSON.stringify(message));
  });
});
