/**
 * Repeated refused logins from one address are slowed down (choices.md "Who connects"), against a whole server: the
 * first refusals come at once, later ones only after the configured delay, and a good login is never held back.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AuthThrottle } from '../../src/dialects/auth-throttle.js';
import { connectClient, startTestServer } from '../helpers/index.js';

test('the delay doubles per refusal past the free ones, up to the maximum', () => {
  const throttle = new AuthThrottle({ freeFailures: 2, maxDelayMs: 1_000 });
  assert.deepEqual(
    [1, 2, 3, 4, 5, 6, 7, 30].map((n) => throttle.delayFor(n)),
    [0, 0, 100, 200, 400, 800, 1_000, 1_000],
  );
});

test('a successful login forgets the refusals of its address; other addresses are counted apart', async () => {
  const throttle = new AuthThrottle({ freeFailures: 1, maxDelayMs: 10_000 });
  const isImmediate = async (promise: Promise<void>): Promise<boolean> => {
    const later = new Promise<'later'>((resolve) => setImmediate(() => resolve('later')));
    return (await Promise.race([promise.then(() => 'now' as const), later])) === 'now';
  };
  assert.equal(await isImmediate(throttle.refused('10.0.0.1')), true);
  assert.equal(await isImmediate(throttle.refused('10.0.0.1')), false, 'the second refusal waits');
  assert.equal(await isImmediate(throttle.refused('10.0.0.2')), true, 'another address starts afresh');
  throttle.succeeded('10.0.0.1');
  assert.equal(await isImmediate(throttle.refused('10.0.0.1')), true, 'cleared by the success');
});

test('after the free refusals, a wrong password from the same address waits before its CONNACK 0x86', async () => {
  const server = await startTestServer({
    allowAnonymous: false,
    mqtt: { authFailuresBeforeDelay: 2, authFailureMaxDelayMs: 400 },
  });
  try {
    const refusedAfter = async (): Promise<number> => {
      const started = Date.now();
      await assert.rejects(
        connectClient(server.mqttUrl, { username: 'no-such-token', password: 'x', protocolVersion: 5 }),
        /Bad User Name or Password|134/i,
      );
      return Date.now() - started;
    };
    await refusedAfter();
    await refusedAfter();
    // Third and fourth refusals: held back 100 ms, then 200 ms (lower bounds: the delay is the behaviour here).
    assert.ok((await refusedAfter()) >= 100);
    assert.ok((await refusedAfter()) >= 200);
  } finally {
    await server.close();
  }
});
