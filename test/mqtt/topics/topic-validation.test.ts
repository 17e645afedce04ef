import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import '../../helpers/fast-check-seed.js';
import {
  countTopicLevels,
  isValidTopicFilter,
  isValidTopicName,
  parseSharedSubscription,
} from '../../../src/mqtt/topics/index.js';
import { isValidFilterReference } from './reference-matcher.js';

describe('isValidTopicName', () => {
  it('accepts ordinary, $-prefixed, spaced and empty-level names', () => {
    for (const name of ['sport/tennis', '$SYS/broker', 'Accounts payable', '/', '/finance', 'a//b', 'a/', 'ü/日本']) {
      assert.equal(isValidTopicName(name), true, name);
    }
  });

  it('refuses an empty name [MQTT-4.7.3-1]', () => {
    assert.equal(isValidTopicName(''), false);
  });

  it('refuses wildcard characters anywhere [MQTT-3.3.2-2]', () => {
    for (const name of ['+', '#', 'sport/+', 'sport/#', 'a+b', 'a#']) assert.equal(isValidTopicName(name), false, name);
  });

  it('refuses U+0000 [MQTT-4.7.3-2]', () => {
    assert.equal(isValidTopicName('a\u0000b'), false);
  });
});

describe('isValidTopicFilter', () => {
  it('accepts the valid filters of §4.7.1', () => {
    const valid = ['sport/tennis/player1/#', 'sport/#', '#', 'sport/tennis/#', '+', '+/tennis/#', 'sport/+/player1'];
    for (const filter of [...valid, '+/+', '/+', '/', '//', 'a//+/#', '$SYS/#', '$share/g/x']) {
      assert.equal(isValidTopicFilter(filter), true, filter);
    }
  });

  it('refuses the invalid filters of §4.7.1 [MQTT-4.7.1-2] [MQTT-4.7.1-3]', () => {
    for (const filter of ['sport/tennis#', 'sport/tennis/#/ranking', 'sport+', '+sport', 'a/b+/c', '##', '#/', '+#']) {
      assert.equal(isValidTopicFilter(filter), false, filter);
    }
  });

  it('refuses an empty filter and U+0000 [MQTT-4.7.3-1] [MQTT-4.7.3-2]', () => {
    assert.equal(isValidTopicFilter(''), false);
    assert.equal(isValidTopicFilter('a/\u0000'), false);
  });

  it('agrees with a level-by-level reference on random strings', () => {
    const char = fc.constantFrom('a', '/', '+', '#', '$');
    fc.assert(
      fc.property(fc.array(char, { maxLength: 8 }), (chars) => {
        const filter = chars.join('');
        assert.equal(isValidTopicFilter(filter), isValidFilterReference(filter), JSON.stringify(filter));
      }),
      { numRuns: 2000 },
    );
  });
});

describe('parseSharedSubscription', () => {
  it('splits $share/{ShareName}/{filter} [MQTT-4.8.2-1]', () => {
    assert.deepEqual(parseSharedSubscription('$share/consumer1/sport/tennis/+'), {
      kind: 'shared',
      shareName: 'consumer1',
      topicFilter: 'sport/tennis/+',
    });
    assert.deepEqual(parseSharedSubscription('$share/g/#'), { kind: 'shared', shareName: 'g', topicFilter: '#' });
    // The filter part may itself start with '/' or be a bare '/', which are valid filters.
    assert.deepEqual(parseSharedSubscription('$share/g//a'), { kind: 'shared', shareName: 'g', topicFilter: '/a' });
    assert.deepEqual(parseSharedSubscription('$share/g//'), { kind: 'shared', shareName: 'g', topicFilter: '/' });
    assert.deepEqual(parseSharedSubscription('$share/g/$SYS/#'), {
      kind: 'shared',
      shareName: 'g',
      topicFilter: '$SYS/#',
    });
  });

  it('says "not shared" for everything whose first level is not exactly $share', () => {
    for (const filter of ['sport/#', '#', '$SYS/#', '$shared/g/x', '$SHARE/g/x', 'share/g/x', '/$share/g/x', '$shar']) {
      assert.equal(parseSharedSubscription(filter).kind, 'not-shared', filter);
    }
  });

  it('reports a missing or empty ShareName as malformed [MQTT-4.8.2-1]', () => {
    for (const filter of ['$share', '$share/', '$share//x']) {
      assert.deepEqual(parseSharedSubscription(filter), { kind: 'malformed', problem: 'missing-share-name' }, filter);
    }
  });

  it('reports a ShareName with + or # as malformed [MQTT-4.8.2-2]', () => {
    for (const filter of ['$share/+/x', '$share/#/x', '$share/a+/x', '$share/a#b/x']) {
      assert.deepEqual(parseSharedSubscription(filter), { kind: 'malformed', problem: 'invalid-share-name' }, filter);
    }
  });

  it('reports a missing filter after the ShareName as malformed [MQTT-4.8.2-2]', () => {
    for (const filter of ['$share/g', '$share/g/']) {
      assert.deepEqual(parseSharedSubscription(filter), { kind: 'malformed', problem: 'missing-topic-filter' }, filter);
    }
  });

  it('reports an invalid filter after the ShareName as malformed', () => {
    for (const filter of ['$share/g/a#', '$share/g/#/a', '$share/g/a+']) {
      assert.deepEqual(parseSharedSubscription(filter), { kind: 'malformed', problem: 'invalid-topic-filter' }, filter);
    }
  });
});

describe('countTopicLevels', () => {
  it('counts empty levels: "/" is two levels, "a//b" three', () => {
    assert.equal(countTopicLevels('a'), 1);
    assert.equal(countTopicLevels('/'), 2);
    assert.equal(countTopicLevels('a//b'), 3);
    assert.equal(countTopicLevels('/a/'), 3);
    assert.equal(countTopicLevels('sport/tennis/player1/#'), 4);
  });

  it('equals split("/").length', () => {
    fc.assert(
      fc.property(fc.string({ unit: fc.constantFrom('a', '/', 'é') }), (topic) => {
        assert.equal(countTopicLevels(topic), topic.split('/').length);
      }),
    );
  });
});
