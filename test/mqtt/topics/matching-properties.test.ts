import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import '../../helpers/fast-check-seed.js';
import { RetainedIndex, SubscriptionTrie } from '../../../src/mqtt/topics/index.js';
import { filterMatchesTopic } from './reference-matcher.js';

// A small alphabet so random filters and topics collide often: '$' levels, empty levels and case differences.
const topicLevel = fc.constantFrom('a', 'b', 'A', '', '$', '$a', 'a$');
const topicName = fc
  .array(topicLevel, { minLength: 1, maxLength: 5 })
  .map((levels) => levels.join('/'))
  .filter((topic) => topic.length > 0); // [MQTT-4.7.3-1]
const topicFilter = fc
  .tuple(fc.array(fc.oneof(topicLevel, fc.constant('+')), { minLength: 0, maxLength: 5 }), fc.boolean())
  .map(([levels, endsWithHash]) => (endsWithHash ? [...levels, '#'] : levels).join('/'))
  .filter((filter) => filter.length > 0);
const clientKey = fc.constantFrom('c1', 'c2', 'c3');

type Operation =
  { kind: 'add'; topicFilter: string; key: string } | { kind: 'remove'; topicFilter: string; key: string };
const operation: fc.Arbitrary<Operation> = fc.oneof(
  fc.record({ kind: fc.constant('add' as const), topicFilter, key: clientKey }),
  fc.record({ kind: fc.constant('remove' as const), topicFilter, key: clientKey }),
);

function sorted(values: string[]): string[] {
  return [...values].sort();
}

describe('SubscriptionTrie agrees with a reference matcher', () => {
  it('match returns exactly the subscriptions the reference matcher accepts', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(topicFilter, clientKey), { maxLength: 30 }),
        fc.array(topicName),
        (subs, topics) => {
          const trie = new SubscriptionTrie<string>();
          const model = new Map<string, { topicFilter: string; value: string }>();
          for (const [filter, key] of subs) {
            const id = `${filter} ${key}`;
            assert.equal(trie.add(filter, key, id), !model.has(id));
            model.set(id, { topicFilter: filter, value: id });
          }
          assert.equal(trie.size, model.size);
          const out: string[] = [];
          for (const topic of topics) {
            out.length = 0;
            trie.match(topic, out);
            const expected = [...model.values()]
              .filter((s) => filterMatchesTopic(s.topicFilter, topic))
              .map((s) => s.value);
            assert.deepEqual(sorted(out), sorted(expected), `topic ${JSON.stringify(topic)}`);
          }
        },
      ),
      { numRuns: 500 },
    );
  });

  it('stays correct through random add/remove and prunes back to the root', () => {
    fc.assert(
      fc.property(fc.array(operation, { maxLength: 60 }), fc.array(topicName, { maxLength: 10 }), (ops, topics) => {
        const trie = new SubscriptionTrie<string>();
        const model = new Map<string, { topicFilter: string; key: string; value: string }>();
        ops.forEach((op, step) => {
          const id = `${op.topicFilter} ${op.key}`;
          if (op.kind === 'add') {
            const value = `${id} @${step}`;
            assert.equal(trie.add(op.topicFilter, op.key, value), !model.has(id));
            model.set(id, { topicFilter: op.topicFilter, key: op.key, value });
          } else {
            assert.equal(trie.remove(op.topicFilter, op.key), model.get(id)?.value);
            model.delete(id);
          }
          assert.equal(trie.size, model.size);
        });
        const out: string[] = [];
        for (const topic of topics) {
          out.length = 0;
          trie.match(topic, out);
          const expected = [...model.values()]
            .filter((s) => filterMatchesTopic(s.topicFilter, topic))
            .map((s) => s.value);
          assert.deepEqual(sorted(out), sorted(expected), `topic ${JSON.stringify(topic)}`);
        }
        for (const s of model.values()) {
          assert.equal(trie.has(s.topicFilter, s.key), true);
          assert.equal(trie.remove(s.topicFilter, s.key), s.value);
        }
        assert.equal(trie.size, 0);
        assert.equal(trie.nodeCount, 1);
      }),
      { numRuns: 500 },
    );
  });
});

describe('RetainedIndex agrees with a reference matcher', () => {
  it('matchFilter returns exactly the retained topics the reference matcher accepts, through set/delete', () => {
    const retainOp = fc.tuple(fc.boolean(), topicName);
    fc.assert(
      fc.property(fc.array(retainOp, { maxLength: 60 }), fc.array(topicFilter, { maxLength: 10 }), (ops, filters) => {
        const index = new RetainedIndex<string>();
        const model = new Map<string, string>();
        ops.forEach(([isSet, topic], step) => {
          if (isSet) {
            index.set(topic, `${topic} @${step}`);
            model.set(topic, `${topic} @${step}`);
          } else {
            assert.equal(index.delete(topic), model.delete(topic));
          }
          assert.equal(index.size, model.size);
        });
        const out: string[] = [];
        for (const filter of filters) {
          out.length = 0;
          index.matchFilter(filter, out);
          const expected = [...model].filter(([topic]) => filterMatchesTopic(filter, topic)).map(([, value]) => value);
          assert.deepEqual(sorted(out), sorted(expected), `filter ${JSON.stringify(filter)}`);
        }
        assert.deepEqual(new Map(index.entries()), model);
        for (const topic of model.keys()) index.delete(topic);
        assert.equal(index.nodeCount, 1);
      }),
      { numRuns: 500 },
    );
  });
});
