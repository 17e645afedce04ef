import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { CLI_JS } from '../helpers/index.js';
import { ADMIN_PASSWORD, startApi, type Api } from './harness.js';

const run = promisify(execFile);

/** Runs `switchboard …` with a clean environment apart from the admin password; never throws. */
async function cli(dataDir: string, ...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const env = { PATH: process.env['PATH'] ?? '', SWITCHBOARD_ADMIN_PASSWORD: ADMIN_PASSWORD };
  try {
    const { stdout, stderr } = await run(process.execPath, [CLI_JS, ...args, '--data-dir', dataDir], { env });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code: number; stdout: string; stderr: string };
    return { code: failed.code, stdout: failed.stdout, stderr: failed.stderr };
  }
}

describe('switchboard users|devices|api-keys create (against the data dir)', () => {
  let dataDir: string;
  let api: Api | undefined;
  before(() => {
    dataDir = mkdtempSync(join(tmpdir(), 'switchboard-cli-'));
  });
  after(async () => {
    await api?.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  test('entities created by the CLI work on the server that opens the same data dir', async () => {
    const user = await cli(
      dataDir,
      'users',
      'create',
      '--username',
      'alice',
      '--password',
      'alice-pass',
      '--role',
      'operator',
    );
    assert.equal(user.code, 0, user.stderr);
    assert.equal((JSON.parse(user.stdout) as { username: string }).username, 'alice');

    const device = await cli(dataDir, 'devices', 'create', '--name', 'boiler');
    assert.equal(device.code, 0, device.stderr);
    const created = JSON.parse(device.stdout) as { id: string; credentials: { type: string; accessToken: string } };
    assert.equal(created.credentials.type, 'ACCESS_TOKEN');

    const key = await cli(dataDir, 'api-keys', 'create', '--name', 'ci', '--role', 'viewer');
    assert.equal(key.code, 0, key.stderr);
    const apiKey = (JSON.parse(key.stdout) as { key: string }).key;

    api = await startApi({ dataDir });
    const token = await api.login('alice', 'alice-pass');
    const read = await api.request('GET', `/api/devices/${created.id}`, { auth: token });
    assert.equal(read.status, 200);
    const byKey = await api.request('GET', `/api/devices/${created.id}`, { auth: { apiKey } });
    assert.equal(byKey.status, 200);
    assert.equal((await api.platform.store.findByAccessToken(created.credentials.accessToken))?.device.id, created.id);
  });

  test('a duplicate is exit code 1 with the reason; a missing option is exit code 2 with the usage', async () => {
    const duplicate = await cli(dataDir, 'devices', 'create', '--name', 'boiler');
    assert.equal(duplicate.code, 1);
    assert.match(duplicate.stderr, /already exists/);
    const missing = await cli(dataDir, 'users', 'create', '--username', 'bob');
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /--password is required/);
  });
});
