/**
 * "Dropped and logged" (issue 5): 3.1.1 has no publish refusal on the wire, so the log is how an operator learns why a
 * viewer's messages go nowhere. The first refusal of a session is logged at warn with the topic; later ones are only
 * counted (no per-message logging on the message path), and the count is logged when the session ends.
 */
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { describe, it } from 'node:test';
import { pino } from 'pino';
import type { ClientInfo } from '../../src/broker/index.js';
import { createUsersDialect } from '../../src/dialects/users/index.js';
import type { UserIdentity } from '../../src/platform/identity.js';

interface LogLine {
  level: number;
  msg: string;
  topicName?: string;
  refusedPublishes?: number;
}

describe('refused publishes are logged once per session', () => {
  it('warns on the first refusal with the topic, counts the rest, and logs the count at the end', () => {
    const lines: LogLine[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _encoding, done) {
        for (const line of chunk.toString().split('\n')) if (line !== '') lines.push(JSON.parse(line) as LogLine);
        done();
      },
    });
    const logger = pino({ level: 'info' }, sink);
    // The auth step is not used here: only the publish hook and the session lifecycle.
    const users = createUsersDialect({ auth: { authenticateSecret: () => Promise.resolve(undefined) }, logger });
    const identity: UserIdentity = { kind: 'user', orgId: 'o', role: 'viewer', subject: 'k', expiresAtMs: undefined };
    const client: ClientInfo = {
      clientId: 'legacy-dashboard',
      username: 'sbk_…',
      protocolVersion: 4,
      connection: { remoteAddress: '127.0.0.1', remotePort: 1, listener: 'tcp' },
      identity,
    };
    users.onClientConnected(client);
    for (let i = 0; i < 5; i++) assert.equal(users.authorizePublish(client, 'lobby/display', 1, false), 0x87);
    users.onClientDisconnected(client, 0);
    users.close();
    const warnings = lines.filter((line) => line.level === 40);
    assert.equal(warnings.length, 1);
    assert.equal(warnings[0]?.topicName, 'lobby/display');
    assert.match(warnings[0]?.msg ?? '', /viewer role may not publish/);
    const summary = lines.filter((line) => line.refusedPublishes !== undefined);
    assert.deepEqual(
      summary.map((line) => line.refusedPublishes),
      [5],
    );
  });
});
