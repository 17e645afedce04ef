/**
 * Feed settings are stored in the platform store's module table (`placeos_feed_settings`) and survive a restart, on
 * SQLite and on PostgreSQL (each server on its own schema `sb_test_<random>`, dropped afterwards; skipped with the
 * reason when PostgreSQL cannot be reached). After the restart the feed is on again, with the stored hierarchy,
 * payload format and filters, and the hash secret is the same (a hashed value stays comparable across restarts).
 */
import { serverStores } from '../helpers/postgres.js';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, it } from 'node:test';
import type { Config } from '../../src/config/index.js';
import { Resources, startTestServer, type DeepPartial } from '../helpers/index.js';
import { ADMIN_PASSWORD, FeedHarness, parsePayload } from './feed-harness.js';

const STORES = await serverStores('sb_test');
const pgSkipReason = STORES[1]!.skip;
if (pgSkipReason !== undefined) process.stdout.write(`# PostgreSQL feed settings tests skipped: ${pgSkipReason}\n`);

for (const store of STORES) {
  describe(`PlaceOS feed settings on ${store.name}`, { skip: store.skip }, () => {
    const resources = new Resources();
    afterEach(() => resources.closeAll());

    it('settings survive a restart and the feed comes back on with them', async () => {
      const dataDir = mkdtempSync(join(tmpdir(), 'switchboard-feed-'));
      resources.add({ close: () => Promise.resolve(rmSync(dataDir, { recursive: true, force: true })) });
      const config: DeepPartial<Config> = {
        ...store.config(),
        dataDir,
        adminPassword: ADMIN_PASSWORD,
        allowAnonymous: true,
      };
      const settings = {
        enabled: true,
        hierarchy: ['org', 'region', 'building', 'level', 'area'],
        timeUnit: 's',
        valueEncoding: 'raw',
        filters: [
          { pattern: 'builtin:email', action: 'hash' },
          { pattern: '\\d{4}$', action: 'mask', keepLast: 2, replacement: '#' },
        ],
      };

      const first = resources.add(await startTestServer(config));
      const h1 = await FeedHarness.connect(first, resources);
      const system = await h1.system('Room', []);
      const deviceName = 'Badge reader';
      await h1.device(deviceName, { system });
      assert.deepEqual(await h1.feed(settings), settings);
      const before = await h1.subscriber(`placeos/${h1.orgId}/state/#`);
      const deviceId = await idByName(h1, deviceName);
      await h1.telemetry(deviceId, { badge: 'ann@example.com', pin: 'x1234' }, 1_760_000_001_999);
      await before.barrier();
      const hashedBefore = valueOf(before.feed, 'badge');
      await first.close();

      const second = resources.add(await startTestServer(config));
      const h2 = await FeedHarness.connect(second, resources);
      assert.deepEqual(await h2.ok('GET', `/api/organizations/${h2.orgId}/feed`), settings);
      const all = await h2.subscriber(`placeos/${h2.orgId}/state/+/+/+/+/+/+/+/+/+`);
      all.clear();
      await h2.reconnectDevice(deviceId);
      await h2.telemetry(deviceId, { badge: 'ann@example.com', pin: 'y5678' }, 1_760_000_002_500);
      await all.barrier();
      assert.equal(valueOf(all.feed, 'badge'), hashedBefore, 'same secret after the restart');
      assert.equal(valueOf(all.feed, 'pin'), 'y#78');
      assert.equal(parsePayload(all.feed[0]!).time, 1_760_000_002);
    });
  });
}

async function idByName(h: FeedHarness, name: string): Promise<string> {
  const devices = (await h.ok('GET', '/api/devices')) as { id: string; name: string }[];
  return devices.find((d) => d.name === name)!.id;
}

function valueOf(messages: { topic: string; payload: string }[], key: string): unknown {
  const found = messages.filter((m) => m.topic.endsWith(`/${key}`)).pop();
  assert.ok(found !== undefined, `no ${key} on the feed`);
  return (JSON.parse(found.payload) as { value: unknown }).value;
}
