import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { pino } from 'pino';
import {
  AuthService,
  bootstrapAdmin,
  generateApiKey,
  hashApiKey,
  hashPassword,
  loadOrCreateJwtKey,
  TokenSigner,
  verifyPassword,
} from '../../src/auth/index.js';
import { Platform } from '../../src/platform/platform.js';
import { SqlitePlatformStore } from '../../src/storage/platform/index.js';

describe('passwords', () => {
  test('a hashed password verifies; a wrong one does not; the stored form carries salt and parameters', async () => {
    const stored = await hashPassword('correct horse');
    assert.match(stored, /^scrypt\$32768\$8\$1\$[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+$/);
    assert.equal(await verifyPassword('correct horse', stored), true);
    assert.equal(await verifyPassword('correct horsE', stored), false);
    assert.notEqual(await hashPassword('correct horse'), stored, 'a new salt each time');
  });

  test('a stored string that is not ours, or asks for absurd parameters, never verifies', async () => {
    for (const stored of ['', 'plain', 'scrypt$1$2$3', 'scrypt$99999999$8$1$AAAA$AAAA', 'bcrypt$a$b$c$d$e']) {
      assert.equal(await verifyPassword('x', stored), false, stored);
    }
  });
});

describe('JWT signing key and tokens', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'switchboard-auth-'));
  });
  after(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  test('the key is generated into <dataDir>/jwt.key with mode 0600 and read back on the next start', () => {
    const first = loadOrCreateJwtKey(join(dir, 'data'));
    assert.equal(first.length, 32);
    assert.equal(statSync(join(dir, 'data', 'jwt.key')).mode & 0o777, 0o600);
    assert.deepEqual(loadOrCreateJwtKey(join(dir, 'data')), first);
  });

  test('a token carries sub, org, role and exp; another key or an expired token is refused', async () => {
    const signer = new TokenSigner(loadOrCreateJwtKey(dir), 60);
    const token = await signer.sign({ sub: 'u1', org: 'o1', role: 'operator' });
    const claims = await signer.verify(token);
    assert.equal(claims?.sub, 'u1');
    assert.equal(claims?.org, 'o1');
    assert.equal(claims?.role, 'operator');
    assert.ok(claims !== undefined && claims.exp > Date.now() / 1000);

    const otherKey = new TokenSigner(new Uint8Array(32).fill(7), 60);
    assert.equal(await otherKey.verify(token), undefined);
    const expired = await signer.sign({ sub: 'u1', org: 'o1', role: 'viewer' }, Date.now() - 120_000);
    assert.equal(await signer.verify(expired), undefined);
    assert.equal(await signer.verify('not.a.token'), undefined);
  });
});

describe('API keys', () => {
  test('a key is sbk_ + 32 characters, stored as its SHA-256 with a short prefix', () => {
    const { key, prefix, keyHash } = generateApiKey();
    assert.match(key, /^sbk_[A-Za-z0-9]{32}$/);
    assert.equal(prefix, key.slice(0, 10));
    assert.equal(keyHash, hashApiKey(key));
    assert.match(keyHash, /^[0-9a-f]{64}$/);
    assert.notEqual(generateApiKey().key, key);
  });
});

describe('first start', () => {
  let dir: string;
  let platform: Platform;
  let auth: AuthService;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'switchboard-bootstrap-'));
    const store = new SqlitePlatformStore(join(dir, 'platform.db'));
    platform = new Platform({ store, logger: pino({ level: 'silent' }) });
    auth = new AuthService({ store, entities: platform.entities, jwtKey: loadOrCreateJwtKey(dir) });
  });
  after(async () => {
    await platform.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('an empty store gets organization "default" and user admin with a generated password, once', async () => {
    const result = await bootstrapAdmin({ entities: platform.entities, auth });
    assert.ok(result.isCreated);
    assert.equal(result.username, 'admin');
    assert.equal(result.isPasswordGenerated, true);
    assert.match(result.password, /^[A-Za-z0-9]{20}$/);
    const orgs = await platform.store.listOrganizations();
    assert.deepEqual(
      orgs.map((o) => o.name),
      ['default'],
    );
    const login = await auth.login('admin', result.password);
    assert.equal(login?.user.role, 'admin');
    const caller = await auth.authenticateSecret(login.token);
    assert.deepEqual(caller, {
      kind: 'user',
      id: login.user.id,
      orgId: result.orgId,
      role: 'admin',
      isServerAdmin: true,
    });

    const again = await bootstrapAdmin({ entities: platform.entities, auth, adminPassword: 'ignored-now' });
    assert.equal(again.isCreated, false);
    assert.equal((await platform.store.listOrganizations()).length, 1);
  });
});
