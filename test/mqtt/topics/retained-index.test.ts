import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { RetainedIndex } from '../../../src/mqtt/topics/index.js';

/** The retained topics (values are the topic names) matching `topicFilter`, sorted. */
function matched(index: RetainedIndex<string>, topicFilter: string): string[] {
  const out: string[] = [];
  const count = index.matchFilter(topicFilter, out);
  assert.equal(count, out.length);
  return out.sort();
}

function indexOf(...topics: string[]): RetainedIndex<string> {
  const index = new RetainedIndex<string>();
  for (const topic of topics) index.set(topic, topic);
  return index;
}

const TOPICS = [
  'sport',
  'sport/tennis',
  'sport/tennis/player1',
  'sport/tennis/player1/ranking',
  'sport/tennis/player1/score/wimbledon',
  'sport/tennis/player2',
  'sport/',
  '/finance',
  '/',
  'a//b',
  '$SYS/monitor/Clients',
  '$SYS',
  'Accounts',
];

describe('RetainedIndex.matchFilter (MQTT §4.7)', () => {
  it('"sport/tennis/player1/#" finds the player and everything below it [MQTT-4.7.1-2]', () => {
    assert.deepEqual(matched(indexOf(...TOPICS), 'sport/tennis/player1/#'), [
      'sport/tennis/player1',
      'sport/tennis/player1/ranking',
      'sport/tennis/player1/score/wimbledon',
    ]);
  });

  it('"sport/#" includes "sport" itself and "sport/"', () => {
    assert.deepEqual(matched(indexOf(...TOPICS), 'sport/#'), [
      'sport',
      'sport/',
      'sport/tennis',
      'sport/tennis/player1',
      'sport/tennis/player1/ranking',
      'sport/tennis/player1/score/wimbledon',
      'sport/tennis/player2',
    ]);
  });

  it('"sport/+" finds "sport/" and "sport/tennis" but not "sport"', () => {
    assert.deepEqual(matched(indexOf(...TOPICS), 'sport/+'), ['sport/', 'sport/tennis']);
  });

  it('"+/+" and "/+" find "/finance" and "/"; "+" finds neither', () => {
    const index = indexOf(...TOPICS);
    assert.deepEqual(matched(index, '+/+'), ['/', '/finance', 'sport/', 'sport/tennis']);
    assert.deepEqual(matched(index, '/+'), ['/', '/finance']);
    assert.deepEqual(matched(index, '+'), ['Accounts', 'sport']);
  });

  it('"#" finds every topic except the $ ones [MQTT-4.7.2-1]', () => {
    const all = TOPICS.filter((topic) => !topic.startsWith('$')).sort();
    assert.deepEqual(matched(indexOf(...TOPICS), '#'), all);
  });

  it('$SYS topics are found only by filters that start with $SYS [MQTT-4.7.2-1]', () => {
    const index = indexOf(...TOPICS);
    assert.deepEqual(matched(index, '+/monitor/Clients'), []);
    assert.deepEqual(matched(index, '$SYS/#'), ['$SYS', '$SYS/monitor/Clients']);
    assert.deepEqual(matched(index, '$SYS/monitor/+'), ['$SYS/monitor/Clients']);
  });

  it('a $ later than the first level is ordinary', () => {
    const index = indexOf('a/$x', 'a/$x/y');
    assert.deepEqual(matched(index, '#'), ['a/$x', 'a/$x/y']);
    assert.deepEqual(matched(index, 'a/+'), ['a/$x']);
  });

  it('literal filters find one topic, case-sensitively', () => {
    const index = indexOf(...TOPICS);
    assert.deepEqual(matched(index, 'a//b'), ['a//b']);
    assert.deepEqual(matched(index, 'accounts'), []);
    assert.deepEqual(matched(index, 'Accounts'), ['Accounts']);
    assert.deepEqual(matched(index, 'sport/tennis/player3'), []);
  });
});

describe('RetainedIndex storage', () => {
  it('set replaces, get/has read, delete forgets [MQTT-3.3.1-5]', () => {
    const index = new RetainedIndex<number>();
    index.set('a/b', 1);
    index.set('a/b', 2);
    assert.equal(index.size, 1);
    assert.equal(index.get('a/b'), 2);
    assert.equal(index.has('a/b'), true);
    assert.equal(index.get('a'), undefined);
    assert.equal(index.has('a'), false);
    assert.equal(index.delete('a'), false);
    assert.equal(index.delete('a/b'), true);
    assert.equal(index.delete('a/b'), false);
    assert.equal(index.size, 0);
    assert.equal(index.get('a/b'), undefined);
  });

  it('refuses a topic name with a wildcard with a TypeError', () => {
    const index = new RetainedIndex<number>();
    for (const topic of ['', 'a/+', '#']) assert.throws(() => index.set(topic, 1), TypeError);
    assert.equal(index.size, 0);
  });

  it('a parent topic and its children are independent entries', () => {
    const index = indexOf('a', 'a/b');
    assert.equal(index.delete('a'), true);
    assert.deepEqual(matched(index, 'a/#'), ['a/b']);
    assert.equal(index.nodeCount, 3);
    index.set('a', 'a');
    assert.equal(index.delete('a/b'), true);
    assert.deepEqual(matched(index, 'a/#'), ['a']);
    assert.equal(index.nodeCount, 2);
  });

  it('prunes empty nodes so churn does not grow memory', () => {
    const index = new RetainedIndex<number>();
    for (let round = 0; round < 3; round++) {
      for (let i = 0; i < 500; i++) index.set(`dev/${i}/state/x`, i);
      assert.equal(index.nodeCount, 1 + 1 + 500 * 3);
      for (let i = 0; i < 500; i++) assert.equal(index.delete(`dev/${i}/state/x`), true);
      assert.equal(index.nodeCount, 1);
    }
  });

  it('entries() lists every retained topic once, in insertion order', () => {
    const index = new RetainedIndex<number>();
    index.set('b', 1);
    index.set('a/x', 2);
    index.set('b', 3);
    index.set('c', 4);
    index.delete('c');
    assert.deepEqual(
      [...index.entries()],
      [
        ['b', 3],
        ['a/x', 2],
      ],
    );
  });
});
