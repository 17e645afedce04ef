import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SubscriptionTrie } from '../../../src/mqtt/topics/index.js';

/** The filters (as `filter key` values) that match `topicName`, sorted. */
function matched(trie: SubscriptionTrie<string>, topicName: string): string[] {
  const out: string[] = [];
  const count = trie.match(topicName, out);
  assert.equal(count, out.length);
  return out.sort();
}

/** A trie with each filter subscribed once by client "c", the value being the filter itself. */
function trieOf(...filters: string[]): SubscriptionTrie<string> {
  const trie = new SubscriptionTrie<string>();
  for (const filter of filters) trie.add(filter, 'c', filter);
  return trie;
}

describe('SubscriptionTrie matching (MQTT §4.7)', () => {
  it('"sport/tennis/player1/#" matches the player, its children and deeper levels [MQTT-4.7.1-2]', () => {
    const trie = trieOf('sport/tennis/player1/#');
    for (const topic of [
      'sport/tennis/player1',
      'sport/tennis/player1/ranking',
      'sport/tennis/player1/score/wimbledon',
    ]) {
      assert.deepEqual(matched(trie, topic), ['sport/tennis/player1/#'], topic);
    }
    assert.deepEqual(matched(trie, 'sport/tennis/player2'), []);
    assert.deepEqual(matched(trie, 'sport/tennis'), []);
  });

  it('"sport/#" also matches "sport": # includes the parent level [MQTT-4.7.1-2]', () => {
    const trie = trieOf('sport/#');
    assert.deepEqual(matched(trie, 'sport'), ['sport/#']);
    assert.deepEqual(matched(trie, 'sport/'), ['sport/#']);
    assert.deepEqual(matched(trie, 'sports'), []);
  });

  it('"#" matches every topic that does not start with $', () => {
    const trie = trieOf('#');
    for (const topic of ['a', '/', 'a/b/c', '/finance']) assert.deepEqual(matched(trie, topic), ['#'], topic);
  });

  it('"sport/tennis/+" matches exactly one more level [MQTT-4.7.1-3]', () => {
    const trie = trieOf('sport/tennis/+');
    assert.deepEqual(matched(trie, 'sport/tennis/player1'), ['sport/tennis/+']);
    assert.deepEqual(matched(trie, 'sport/tennis/player2'), ['sport/tennis/+']);
    assert.deepEqual(matched(trie, 'sport/tennis/player1/ranking'), []);
  });

  it('"sport/+" does not match "sport" but matches "sport/" (an empty level)', () => {
    const trie = trieOf('sport/+');
    assert.deepEqual(matched(trie, 'sport'), []);
    assert.deepEqual(matched(trie, 'sport/'), ['sport/+']);
  });

  it('"/finance" matches "+/+" and "/+" but not "+"', () => {
    const trie = trieOf('+/+', '/+', '+');
    assert.deepEqual(matched(trie, '/finance'), ['+/+', '/+']);
  });

  it('"/" is two empty levels', () => {
    const trie = trieOf('+/+', '/+', '+', '/', '/#', '#', '+/#', '//');
    assert.deepEqual(matched(trie, '/'), ['#', '+/#', '+/+', '/', '/#', '/+']);
  });

  it('empty levels are real levels: "a//b" is three levels', () => {
    const trie = trieOf('a/+/b', 'a/b', 'a//b', 'a/#', '+/+/+');
    assert.deepEqual(matched(trie, 'a//b'), ['+/+/+', 'a/#', 'a/+/b', 'a//b']);
  });

  it('wildcard-first filters do not match $ topics; $SYS filters do [MQTT-4.7.2-1]', () => {
    const trie = trieOf('#', '+/monitor/Clients', '$SYS/#', '$SYS/monitor/+', '+/#', '+');
    assert.deepEqual(matched(trie, '$SYS/monitor/Clients'), ['$SYS/#', '$SYS/monitor/+']);
    assert.deepEqual(matched(trie, '$SYS'), ['$SYS/#']);
    // Only the first level is special: '$' later in the topic is an ordinary character.
    assert.deepEqual(matched(trie, 'a/$x'), ['#', '+/#']);
  });

  it('levels compare case-sensitively', () => {
    const trie = trieOf('ACCOUNTS', 'Accounts/+');
    assert.deepEqual(matched(trie, 'accounts'), []);
    assert.deepEqual(matched(trie, 'ACCOUNTS'), ['ACCOUNTS']);
    assert.deepEqual(matched(trie, 'Accounts/payable'), ['Accounts/+']);
  });

  it('returns one value per matching subscription, overlapping ones included (dedupe is the caller’s)', () => {
    const trie = new SubscriptionTrie<string>();
    trie.add('a/+', 'c1', 'c1 a/+');
    trie.add('a/#', 'c1', 'c1 a/#');
    trie.add('a/+', 'c2', 'c2 a/+');
    assert.deepEqual(matched(trie, 'a/b'), ['c1 a/#', 'c1 a/+', 'c2 a/+']);
  });

  it('appends to the caller’s array without clearing it', () => {
    const trie = trieOf('a');
    const out = ['already there'];
    assert.equal(trie.match('a', out), 1);
    assert.deepEqual(out, ['already there', 'a']);
  });

  it('does not overflow the stack on a very deep topic', () => {
    const filter = Array.from({ length: 20_000 }, () => '+').join('/');
    const trie = trieOf(filter, `${filter}/#`);
    const topic = '/'.repeat(19_999);
    assert.deepEqual(matched(trie, topic), [filter, `${filter}/#`].sort());
  });
});

describe('SubscriptionTrie add / remove', () => {
  it('add returns true for a new subscription and replaces the value of an existing one [MQTT-3.8.4-3]', () => {
    const trie = new SubscriptionTrie<number>();
    assert.equal(trie.add('a/+', 'c1', 0), true);
    assert.equal(trie.add('a/+', 'c1', 2), false);
    assert.equal(trie.add('a/+', 'c2', 1), true);
    assert.equal(trie.size, 2);
    const out: number[] = [];
    trie.match('a/b', out);
    assert.deepEqual(out.sort(), [1, 2]);
  });

  it('keeps "a" and "a/#" apart: same node, different subscriptions', () => {
    const trie = new SubscriptionTrie<string>();
    assert.equal(trie.add('a', 'c', 'exact'), true);
    assert.equal(trie.add('a/#', 'c', 'multi'), true);
    assert.equal(trie.size, 2);
    assert.equal(trie.has('a', 'c'), true);
    assert.equal(trie.has('a/#', 'c'), true);
    assert.equal(trie.remove('a', 'c'), 'exact');
    assert.deepEqual(matched(trie, 'a'), ['multi']);
  });

  it('refuses an invalid filter with a TypeError', () => {
    const trie = new SubscriptionTrie<string>();
    for (const filter of ['', 'a#', 'a/#/b', 'a+']) assert.throws(() => trie.add(filter, 'c', 'v'), TypeError);
    assert.equal(trie.size, 0);
    assert.equal(trie.nodeCount, 1);
  });

  it('remove returns the value, or undefined for an unknown filter or key', () => {
    const trie = trieOf('a/+/c');
    assert.equal(trie.remove('a/+/c', 'other'), undefined);
    assert.equal(trie.remove('a/+', 'c'), undefined);
    assert.equal(trie.remove('a/b/c', 'c'), undefined);
    assert.equal(trie.remove('x/#', 'c'), undefined);
    assert.equal(trie.remove('a/+/c', 'c'), 'a/+/c');
    assert.equal(trie.remove('a/+/c', 'c'), undefined);
    assert.equal(trie.size, 0);
    assert.equal(trie.has('a/+/c', 'c'), false);
  });

  it('prunes empty nodes so churn does not grow memory', () => {
    const trie = new SubscriptionTrie<number>();
    trie.add('keep/+', 'c', 0);
    const baseline = trie.nodeCount;
    for (let round = 0; round < 3; round++) {
      for (let i = 0; i < 500; i++) trie.add(`dev/${i}/+/x/#`, `c${i}`, i);
      for (let i = 0; i < 500; i++) trie.add(`keep/${i}`, 'c', i);
      assert.ok(trie.nodeCount > baseline);
      for (let i = 0; i < 500; i++) assert.equal(trie.remove(`dev/${i}/+/x/#`, `c${i}`), i);
      for (let i = 0; i < 500; i++) trie.remove(`keep/${i}`, 'c');
      assert.equal(trie.nodeCount, baseline);
      assert.equal(trie.size, 1);
    }
    assert.equal(trie.remove('keep/+', 'c'), 0);
    assert.equal(trie.nodeCount, 1);
  });

  it('keeps a node that still has other subscribers or children', () => {
    const trie = new SubscriptionTrie<string>();
    trie.add('a/b', 'c1', 'c1');
    trie.add('a/b', 'c2', 'c2');
    trie.add('a/b/c', 'c1', 'deep');
    trie.remove('a/b', 'c1');
    assert.deepEqual(matched(trie, 'a/b'), ['c2']);
    trie.remove('a/b', 'c2');
    assert.deepEqual(matched(trie, 'a/b'), []);
    assert.deepEqual(matched(trie, 'a/b/c'), ['deep']);
    assert.equal(trie.nodeCount, 4);
  });
});
