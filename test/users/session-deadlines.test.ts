/**
 * The expiry timers behind "the session is closed when the JWT expires", on mocked timers: a session is closed at its
 * JWT's expiry and not before, also for lifetimes beyond setTimeout's 24.8-day limit (which Node would otherwise fire
 * after 1 ms); a disarmed session is never closed; an expiry already past closes at once.
 */
import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it, mock } from 'node:test';
import type { ClientInfo } from '../../src/broker/index.js';
import { SessionDeadlines, type SessionCloser } from '../../src/dialects/users/index.js';

const DAY_MS = 86_400_000;

function client(clientId: string): ClientInfo {
  return {
    clientId,
    username: undefined,
    protocolVersion: 5,
    connection: { remoteAddress: '127.0.0.1', remotePort: 1, listener: 'tcp' },
    identity: undefined,
  };
}

describe('session deadlines', () => {
  let nowMs = 0;
  let closed: { clientId: string; reasonCode: number }[];
  const closer: SessionCloser = {
    disconnectClient: (clientId, reasonCode) => {
      closed.push({ clientId, reasonCode });
      return true;
    },
  };
  const deadlines = (): SessionDeadlines => {
    const made = new SessionDeadlines(() => nowMs);
    made.attach(closer);
    return made;
  };
  const advance = (ms: number): void => {
    nowMs += ms;
    mock.timers.tick(ms);
  };

  beforeEach(() => {
    nowMs = 1_000_000;
    closed = [];
    mock.timers.enable({ apis: ['setTimeout'] });
  });
  afterEach(() => mock.timers.reset());

  it('closes the session with 0xA0 at its expiry, not a millisecond before', () => {
    const timers = deadlines();
    timers.arm(client('a'), nowMs + 5_000);
    advance(4_999);
    assert.deepEqual(closed, []);
    advance(1);
    assert.deepEqual(closed, [{ clientId: 'a', reasonCode: 0xa0 }]);
    assert.equal(timers.size, 0);
  });

  it('waits out a 40-day JWT in steps (a single setTimeout that long would fire after 1 ms)', () => {
    const timers = deadlines();
    timers.arm(client('long'), nowMs + 40 * DAY_MS);
    advance(2_147_483_647);
    assert.deepEqual(closed, [], 'still open after the longest single timer');
    assert.equal(timers.size, 1, 're-armed for the rest');
    advance(40 * DAY_MS - 2_147_483_647 - 1);
    assert.deepEqual(closed, []);
    advance(1);
    assert.deepEqual(closed, [{ clientId: 'long', reasonCode: 0xa0 }]);
  });

  it('a session that ended first is never closed; one already expired is closed at once', () => {
    const timers = deadlines();
    const gone = client('gone');
    timers.arm(gone, nowMs + 1_000);
    timers.disarm(gone);
    advance(10_000);
    assert.deepEqual(closed, []);
    timers.arm(client('late'), nowMs - 1);
    assert.deepEqual(closed, [{ clientId: 'late', reasonCode: 0xa0 }]);
    timers.arm(client('x'), nowMs + 1_000);
    timers.clear();
    advance(2_000);
    assert.deepEqual(closed, [{ clientId: 'late', reasonCode: 0xa0 }]);
  });
});
