import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { SqlitePlatformStore } from '../../src/storage/index.js';
import { runPlatformStoreContract } from './platform-store-contract.js';
import { seedOrganization, telemetry } from './platform-store-fixtures.js';

const tempDir = fs.mkdtempSync(path.join(os.tmpdir(), 'switchboard-platform-store-'));
after(() => fs.rmSync(tempDir, { recursive: true, force: true }));

let fileCount = 0;
function newFilePath(): string {
  fileCount += 1;
  return path.join(tempDir, `platform-${fileCount}.db`);
}

runPlatformStoreContract('SqlitePlatformStore', {
  create: () => SqlitePlatformStore.open(newFilePath()),
  destroy: (store) => store.close(),
});

describe('SqlitePlatformStore', () => {
  test('data written survives closing and opening the file again', async () => {
    const filePath = newFilePath();
    const store = await SqlitePlatformStore.open(filePath);
    await seedOrganization(store, 'org', ['d1']);
    await store.write(telemetry('d1', [{ key: 't', ts: 1, value: { on: true } }]));
    await store.close();
    const reopened = await SqlitePlatformStore.open(filePath);
    try {
      assert.deepEqual(await reopened.latestTelemetry('d1'), [{ key: 't', ts: 1, value: { on: true } }]);
      // Keys known before the restart resolve to the same ids.
      await reopened.write(telemetry('d1', [{ key: 't', ts: 2, value: 2 }]));
      assert.deepEqual(await reopened.latestTelemetry('d1'), [{ key: 't', ts: 2, value: 2 }]);
    } finally {
      await reopened.close();
    }
  });

  test('opening a file in a missing directory throws an Error naming the path, with the cause', () => {
    const filePath = path.join(tempDir, 'missing-dir', 'platform.db');
    assert.throws(
      () => new SqlitePlatformStore(filePath),
      (error: unknown) => error instanceof Error && error.message.includes(filePath) && error.cause instanceof Error,
    );
  });
});
