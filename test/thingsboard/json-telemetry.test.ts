/** ThingsBoard's JSON typing rules and payload shapes (device-apis.md §3.3), and Gson-lenient JSON. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  castNumericString,
  DEFAULT_TYPING_OPTIONS,
  parseJsonPayload,
  PayloadError,
  toAttributeValues,
  toTelemetryPoints,
} from '../../src/dialects/thingsboard/json-telemetry.js';
import { parseLenientJson } from '../../src/dialects/thingsboard/lenient-json.js';
import { parsePublishTopic, parseRequestId, parseSubscribeFilter } from '../../src/dialects/thingsboard/topics.js';

const NOW = 1_700_000_000_000;
const opts = DEFAULT_TYPING_OPTIONS;

describe('ThingsBoard telemetry shapes', () => {
  it('a flat object gets the server timestamp', () => {
    assert.deepEqual(toTelemetryPoints({ a: 1, b: 'x' }, NOW, opts), [
      { key: 'a', ts: NOW, value: 1 },
      { key: 'b', ts: NOW, value: 'x' },
    ]);
  });

  it('an array of objects gets the server timestamp for each', () => {
    assert.deepEqual(toTelemetryPoints([{ key1: 'value1' }, { key2: true }], NOW, opts), [
      { key: 'key1', ts: NOW, value: 'value1' },
      { key: 'key2', ts: NOW, value: true },
    ]);
  });

  it('{ts, values} uses the device timestamp; an array of them too', () => {
    assert.deepEqual(toTelemetryPoints({ ts: 1451649600512, values: { k: 42.5 } }, NOW, opts), [
      { key: 'k', ts: 1451649600512, value: 42.5 },
    ]);
    assert.deepEqual(
      toTelemetryPoints(
        [
          { ts: 1, values: { a: 1 } },
          { ts: 2, values: { a: 2 } },
        ],
        NOW,
        opts,
      ),
      [
        { key: 'a', ts: 1, value: 1 },
        { key: 'a', ts: 2, value: 2 },
      ],
    );
  });

  it('a lone ts key is an ordinary telemetry key (timestamped needs both ts and values)', () => {
    assert.deepEqual(toTelemetryPoints({ ts: 5, temperature: 20 }, NOW, opts), [
      { key: 'ts', ts: NOW, value: 5 },
      { key: 'temperature', ts: NOW, value: 20 },
    ]);
  });

  it('null values are dropped; objects and arrays are kept as JSON', () => {
    assert.deepEqual(toTelemetryPoints({ gone: null, obj: { a: [1, 2] }, arr: [1] }, NOW, opts), [
      { key: 'obj', ts: NOW, value: { a: [1, 2] } },
      { key: 'arr', ts: NOW, value: [1] },
    ]);
  });

  it('a scalar, an array of scalars or non-object values are payload errors', () => {
    assert.throws(() => toTelemetryPoints(42, NOW, opts), PayloadError);
    assert.throws(() => toTelemetryPoints([1, 2], NOW, opts), PayloadError);
    assert.throws(() => toTelemetryPoints({ ts: 1, values: 3 }, NOW, opts), PayloadError);
  });

  it('attributes must be an object (an array is refused)', () => {
    assert.deepEqual(toAttributeValues({ a: '1', b: null }, opts), { a: 1 });
    assert.throws(() => toAttributeValues([{ a: 1 }], opts), PayloadError);
  });
});

describe('ThingsBoard value typing', () => {
  it('numeric strings become numbers when casting is on (the default)', () => {
    assert.equal(castNumericString('25'), 25);
    assert.equal(castNumericString('-1.5'), -1.5);
    assert.equal(castNumericString('.5'), 0.5);
    assert.deepEqual(toTelemetryPoints({ t: '25' }, NOW, { ...opts, castNumericStrings: false }), [
      { key: 't', ts: NOW, value: '25' },
    ]);
  });

  it('strings that NumberUtils.isParsable refuses stay strings', () => {
    for (const text of ['1e5', '1.', '+5', '0x10', '', '-', '1.2.3', ' 5', 'NaN']) {
      assert.equal(castNumericString(text), text, text);
    }
  });

  it('integers beyond a long and decimals with more than 16 fraction digits stay strings', () => {
    assert.equal(typeof castNumericString('9223372036854775807'), 'number');
    assert.equal(castNumericString('9223372036854775808'), '9223372036854775808');
    assert.equal(castNumericString('0.1234567890123456'), 0.1234567890123456);
    assert.equal(castNumericString('0.12345678901234567'), '0.12345678901234567');
  });

  it('a string longer than the configured maximum is a payload error', () => {
    assert.throws(() => toTelemetryPoints({ s: 'abcdef' }, NOW, { ...opts, maxStringValueLength: 5 }), PayloadError);
  });
});

describe('Gson-lenient JSON (what the ThingsBoard document’s shell commands send)', () => {
  it('unquoted names and values, as `-m "{"temperature":42}"` arrives', () => {
    assert.deepEqual(parseJsonPayload('{temperature:42}'), { temperature: 42 });
    assert.deepEqual(parseJsonPayload('{attribute1: value1, attribute2: true}'), {
      attribute1: 'value1',
      attribute2: true,
    });
  });

  it('single quotes, = and ; separators, comments', () => {
    assert.deepEqual(parseLenientJson("{'a'='x'; b=>[1;2] # c\n}"), { a: 'x', b: [1, 2] });
    assert.deepEqual(parseLenientJson('/* c */ {"a": 1} // tail'), { a: 1 });
  });

  it('what is not even lenient JSON is a payload error', () => {
    assert.throws(() => parseJsonPayload('{"a":'), PayloadError);
    assert.throws(() => parseJsonPayload('{a:1} {b:2}'), PayloadError);
    assert.throws(() => parseJsonPayload(''), PayloadError);
  });
});

describe('ThingsBoard topics', () => {
  it('v1 and v2 publish topics with their forms', () => {
    assert.deepEqual(parsePublishTopic('v1/devices/me/telemetry'), { kind: 'telemetry', form: 'v1' });
    assert.deepEqual(parsePublishTopic('v2/t/p'), { kind: 'telemetry', form: 'v2p' });
    assert.deepEqual(parsePublishTopic('v2/a/j'), { kind: 'attributes', form: 'v2j' });
    assert.deepEqual(parsePublishTopic('v1/devices/me/attributes/request/7'), {
      kind: 'attributeRequest',
      form: 'v1',
      requestId: 7,
    });
    assert.deepEqual(parsePublishTopic('v2/a/req/j/8'), { kind: 'attributeRequest', form: 'v2j', requestId: 8 });
    assert.deepEqual(parsePublishTopic('v2/r/res/3'), { kind: 'rpcResponse', form: 'v2', requestId: 3 });
    assert.deepEqual(parsePublishTopic('v1/devices/me/rpc/request/1'), {
      kind: 'rpcRequest',
      form: 'v1',
      requestId: 1,
    });
    assert.deepEqual(parsePublishTopic('v1/devices/me/claim'), { kind: 'claim' });
    assert.deepEqual(parsePublishTopic('/provision/request'), { kind: 'provisionRequest' });
  });

  it('unknown topics and non-integer ids in the namespace are unknown; others are not ThingsBoard’s', () => {
    assert.deepEqual(parsePublishTopic('v1/devices/me/other'), { kind: 'unknown' });
    assert.deepEqual(parsePublishTopic('v1/devices/me/rpc/request/abc'), { kind: 'unknown' });
    assert.deepEqual(parsePublishTopic('v2/r/req/99999999999'), { kind: 'unknown' });
    assert.equal(parsePublishTopic('sensors/v1/x'), undefined);
    assert.equal(parsePublishTopic('v3/x'), undefined);
  });

  it('request ids follow Integer.parseInt', () => {
    assert.equal(parseRequestId('-5'), -5);
    assert.equal(parseRequestId('2147483647'), 2147483647);
    assert.equal(parseRequestId('2147483648'), undefined);
    assert.equal(parseRequestId('1.0'), undefined);
  });

  it('only the §3.2 subscription filters are known', () => {
    assert.deepEqual(parseSubscribeFilter('v2/r/req/j/+'), { kind: 'rpcRequests', form: 'v2j' });
    assert.equal(parseSubscribeFilter('v1/devices/me/#'), undefined);
    assert.equal(parseSubscribeFilter('v1/devices/me/rpc/request/1'), undefined);
  });
});
