/**
 * The users dialect's rules without a server: which CONNECTs are user sessions (the credential shape), what a user may
 * subscribe to and publish, and a property: whatever filter a user is granted, no message of another organization's
 * feed ever reaches it (directly, or through the guard).
 */
import '../helpers/fast-check-seed.js';
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { isValidTopicFilter, SubscriptionTrie } from '../../src/mqtt/topics/index.js';
import type { UserIdentity } from '../../src/platform/identity.js';
import {
  decidePublish,
  decideSubscribe,
  guardFor,
  isDeliverable,
  isJwtShaped,
  userSecretOf,
} from '../../src/dialects/users/index.js';

const JWT =
  'eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJ1LTEiLCJvcmciOiJvLTEiLCJyb2xlIjoidmlld2VyIiwiZXhwIjo0MTAyNDQ0ODAwfQ.c2lnbmF0dXJl';
const KEY = 'sbk_' + 'a1B2'.repeat(8);
const viewer: UserIdentity = { kind: 'user', orgId: 'org-a', role: 'viewer', subject: 'u-1', expiresAtMs: undefined };
const operator: UserIdentity = { ...viewer, role: 'operator' };
const noOtherOwner = (): boolean => false;

describe('credential shape', () => {
  it('username and password both a JWT, or both an API key, make a user session', () => {
    assert.deepEqual(userSecretOf(JWT, Buffer.from(JWT)), { kind: 'jwt', secret: JWT });
    assert.deepEqual(userSecretOf(KEY, Buffer.from(KEY)), { kind: 'api-key', secret: KEY });
  });

  it('anything else is left to the next step: different password, no password, other shapes', () => {
    assert.equal(userSecretOf(JWT, Buffer.from('other')), undefined);
    assert.equal(userSecretOf(JWT, undefined), undefined);
    assert.equal(userSecretOf(undefined, Buffer.from(JWT)), undefined);
    assert.equal(userSecretOf('', Buffer.alloc(0)), undefined);
    assert.equal(userSecretOf('bob', Buffer.from('bob')), undefined, 'ThingsBoard basic credentials');
    assert.equal(userSecretOf('a.b.c', Buffer.from('a.b.c')), undefined, 'two dots but no JWT header');
    assert.equal(userSecretOf('dev-0123456789abcdef01234567', Buffer.from('dev-0123456789abcdef01234567')), undefined);
    assert.equal(userSecretOf('sbk_short', Buffer.from('sbk_short')), undefined);
  });

  it('a JWT needs three base64url segments and a JSON header naming an alg', () => {
    assert.equal(isJwtShaped(JWT), true);
    const header = Buffer.from('{"typ":"JWT"}').toString('base64url');
    assert.equal(isJwtShaped(`${header}.e30.sig`), false);
    assert.equal(isJwtShaped(JWT.replace('.', '..')), false);
    assert.equal(isJwtShaped(`${JWT}.extra`), false);
    assert.equal(isJwtShaped('x'.repeat(9000)), false);
  });
});

describe('subscribe and publish rules', () => {
  it('own feed and plain topics are granted as asked; another organization’s feed is refused with 0x87', () => {
    assert.deepEqual(decideSubscribe(viewer, 'placeos/org-a/state/#', 1), { granted: 1 });
    assert.deepEqual(decideSubscribe(viewer, 'lobby/display', 2), { granted: 2 });
    assert.deepEqual(decideSubscribe(viewer, 'placeos', 0), { granted: 0 });
    assert.deepEqual(decideSubscribe(viewer, 'placeos/org-b/state/#', 1), {
      reasonCode: 0x87,
      reason: 'other-organization',
    });
    // The organization level is compared whole: org-a is not a prefix match for org-ab.
    assert.deepEqual(decideSubscribe(viewer, 'placeos/org-ab/state/#', 1), {
      reasonCode: 0x87,
      reason: 'other-organization',
    });
  });

  it('wildcards that could span organizations are granted with the guard users:<org>', () => {
    for (const filter of ['#', '+', '+/org-b/#', 'placeos/+/state/#', 'placeos/#', '$share/g/#']) {
      assert.deepEqual(decideSubscribe(viewer, filter, 1), { granted: 1, guard: 'users:org-a' }, filter);
    }
  });

  it('the guard lets through the organization’s own feed and plain topics only', () => {
    const guard = guardFor('org-a');
    assert.equal(isDeliverable(guard, 'placeos/org-a/state/x/y', noOtherOwner), true);
    assert.equal(isDeliverable(guard, 'placeos/org-b/state/x/y', noOtherOwner), false);
    assert.equal(isDeliverable(guard, 'placeos/org-ab/state/x', noOtherOwner), false);
    assert.equal(isDeliverable(guard, 'placeos/org-a', noOtherOwner), false);
    assert.equal(isDeliverable(guard, 'placeos', noOtherOwner), false);
    assert.equal(isDeliverable(guard, 'lobby/display', noOtherOwner), true);
    assert.equal(
      isDeliverable(guard, 'v1/devices/me/telemetry', (topic) => topic.startsWith('v1/')),
      false,
    );
    assert.equal(isDeliverable('placeos:org:org-a', 'lobby/display', noOtherOwner), false, 'not this dialect’s guard');
  });

  it('viewers may not publish; operators may, except into placeos/', () => {
    assert.equal(decidePublish(viewer, 'lobby/display'), 'role');
    assert.equal(decidePublish(operator, 'lobby/display'), true);
    assert.equal(decidePublish(operator, 'placeos/org-a/state/x'), 'feed-is-read-only');
    assert.equal(decidePublish(operator, 'placeos'), 'feed-is-read-only');
    assert.equal(decidePublish(operator, 'placeosx/anything'), true);
  });

  it('property: no granted filter ever receives a topic of another organization’s feed', () => {
    const level = fc.constantFrom('placeos', 'org-a', 'org-b', 'org-ab', 'state', 'metadata', 'x', '+');
    const filterArb = fc
      .tuple(fc.array(level, { minLength: 1, maxLength: 5 }), fc.boolean())
      .map(([levels, endsInHash]) => (endsInHash ? [...levels, '#'] : levels).join('/'))
      .filter(isValidTopicFilter);
    const topicArb = fc
      .tuple(
        fc.constantFrom('org-b', 'org-ab', 'x'),
        fc.array(fc.constantFrom('state', 'metadata', 'x'), { maxLength: 4 }),
      )
      .map(([org, rest]) => ['placeos', org, ...rest].join('/'));
    fc.assert(
      fc.property(filterArb, topicArb, (filter, topic) => {
        const decision = decideSubscribe(viewer, filter, 1);
        if (!('granted' in decision)) return;
        const trie = new SubscriptionTrie<string>();
        trie.add(filter, 'c', filter);
        const matched: string[] = [];
        if (trie.match(topic, matched) === 0) return;
        // It matches: only the guard may stand between it and the subscriber, and it must say no.
        assert.ok(decision.guard !== undefined, `${filter} matches ${topic} without a guard`);
        assert.equal(isDeliverable(decision.guard, topic, noOtherOwner), false, `${filter} delivers ${topic}`);
      }),
      { numRuns: 2000 },
    );
  });
});
