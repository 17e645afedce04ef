/**
 * The built server as a user runs it (`node dist/src/main.js`, `switchboard start`): start-up lines, one-line failures
 * with exit code 1, graceful shutdown with exit code 0, and real MQTT.js clients on every listener.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { IDisconnectPacket } from 'mqtt';
import { generateTestCertificate, type TestCertificates } from '../helpers/certificates.js';
import { connectClient, type TestClient } from '../helpers/mqtt-js.js';
import { CLI_JS, spawnSwitchboard, type SwitchboardProcess } from '../helpers/process.js';

const workDir = mkdtempSync(join(tmpdir(), 'switchboard-main-'));
let pki: TestCertificates;
before(() => {
  pki = generateTestCertificate();
});
after(() => {
  pki.cleanup();
  rmSync(workDir, { recursive: true, force: true });
});

let dirCount = 0;
function freshDataDir(): string {
  return mkdtempSync(join(workDir, `data-${String(++dirCount)}-`));
}

/** Free ports everywhere, loopback only, quiet logs; `cwd` is a directory without switchboard.config.json. */
function baseEnv(dataDir = freshDataDir()): Record<string, string> {
  return {
    SWITCHBOARD_HOST: '127.0.0.1',
    SWITCHBOARD_MQTT_PORT: '0',
    SWITCHBOARD_MQTTS_PORT: '0',
    SWITCHBOARD_HTTP_PORT: '0',
    SWITCHBOARD_HTTPS_PORT: '0',
    SWITCHBOARD_DATA_DIR: dataDir,
    SWITCHBOARD_LOG_LEVEL: 'warn',
  };
}

function tlsEnv(): Record<string, string> {
  return { SWITCHBOARD_TLS_CERT: pki.serverCertPath, SWITCHBOARD_TLS_KEY: pki.serverKeyPath };
}

function start(env: Record<string, string>, args: string[] = [], script?: string): SwitchboardProcess {
  const child = spawnSwitchboard({ env, args, cwd: workDir, ...(script === undefined ? {} : { script }) });
  after(() => child.kill());
  return child;
}

/** Waits for the start-up lines and returns the ports they name. */
async function ports(child: SwitchboardProcess): Promise<{ mqtt: number; mqtts: number | undefined; http: number }> {
  await child.waitForLine(/^HTTP on /);
  const lines = child.outputLines();
  const port = (pattern: RegExp): number | undefined => {
    for (const line of lines) {
      const match = pattern.exec(line);
      if (match !== null) return Number(match[1]);
    }
    return undefined;
  };
  const mqtt = port(/^MQTT listening on mqtt:\/\/127\.0\.0\.1:(\d+)$/);
  const http = port(/^HTTP on http:\/\/127\.0\.0\.1:(\d+)$/);
  assert.ok(mqtt !== undefined && http !== undefined, lines.join('\n'));
  return { mqtt, mqtts: port(/^MQTT over TLS on mqtts:\/\/127\.0\.0\.1:(\d+)$/), http };
}

async function occupyPort(): Promise<{ server: Server; port: number }> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  after(() => server.close());
  return { server, port: (server.address() as { port: number }).port };
}

/** Exit code and the whole stderr of a process expected to fail at start. */
async function failure(child: SwitchboardProcess): Promise<{ code: number | null; stderr: string }> {
  const { code } = await child.exited;
  return { code, stderr: child.stderr() };
}

describe('start-up', () => {
  test('prints one line per listener with its address; no TLS line without a certificate', async () => {
    const dataDir = freshDataDir();
    const child = start(baseEnv(dataDir));
    const { mqtt, http } = await ports(child);
    const [adminLine, ...listenerLines] = [...child.outputLines()].reverse();
    assert.deepEqual(listenerLines.reverse(), [
      `MQTT listening on mqtt://127.0.0.1:${String(mqtt)}`,
      `MQTT over WebSocket on ws://127.0.0.1:${String(http)}/mqtt`,
      `HTTP on http://127.0.0.1:${String(http)}`,
    ]);
    // The first start with an empty store creates the admin user and shows its generated password once.
    assert.match(adminLine ?? '', /^created user admin with password \S{12,} \(shown once/);
    child.child.kill('SIGTERM');
    assert.deepEqual(await child.exited, { code: 0, signal: null });
    const again = start(baseEnv(dataDir));
    await ports(again);
    assert.equal(again.outputLines().length, 3, 'no password line once the admin exists');
    again.child.kill('SIGTERM');
    assert.deepEqual(await again.exited, { code: 0, signal: null });
  });

  test('SWITCHBOARD_ADMIN_PASSWORD sets the first admin password, and it logs in over HTTP', async () => {
    const child = start({ ...baseEnv(), SWITCHBOARD_ADMIN_PASSWORD: 'correct horse battery' });
    const { http } = await ports(child);
    assert.ok(child.outputLines().includes('created user admin with the password from SWITCHBOARD_ADMIN_PASSWORD'));
    const response = await fetch(`http://127.0.0.1:${String(http)}/api/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username: 'admin', password: 'correct horse battery' }),
    });
    assert.equal(response.status, 200);
    const body = (await response.json()) as { token?: unknown };
    assert.equal(typeof body.token, 'string');
    child.child.kill('SIGTERM');
    assert.deepEqual(await child.exited, { code: 0, signal: null });
  });

  test('with SWITCHBOARD_TLS_CERT and SWITCHBOARD_TLS_KEY the TLS listener is on too', async () => {
    const child = start({ ...baseEnv(), ...tlsEnv() });
    const { mqtts } = await ports(child);
    assert.ok(mqtts !== undefined && mqtts > 0, child.outputLines().join('\n'));
    // TCP, TLS, WebSocket, secure WebSocket, HTTPS, HTTP.
    assert.equal(child.outputLines().filter((line) => !line.startsWith('created user')).length, 6);
    child.child.kill('SIGTERM');
    assert.deepEqual(await child.exited, { code: 0, signal: null });
  });

  test('the embedded store is created under SWITCHBOARD_DATA_DIR', async () => {
    const dataDir = join(freshDataDir(), 'nested', 'dir');
    const child = start(baseEnv(dataDir));
    await ports(child);
    assert.ok(existsSync(join(dataDir, 'broker.db')));
    child.child.kill('SIGTERM');
    await child.exited;
  });

  test('`switchboard start --config FILE` reads the file, and the environment still overrides it', async () => {
    const file = join(workDir, 'cli.config.json');
    writeFileSync(file, JSON.stringify({ host: '127.0.0.1', mqtt: { port: 1 }, http: { port: 0 }, logLevel: 'warn' }));
    const child = start(
      { SWITCHBOARD_MQTT_PORT: '0', SWITCHBOARD_DATA_DIR: freshDataDir() },
      ['start', '--config', file],
      CLI_JS,
    );
    await ports(child);
    child.child.kill('SIGTERM');
    assert.deepEqual(await child.exited, { code: 0, signal: null });
  });

  test('`switchboard` without a command prints the usage; an unknown command exits 1', async () => {
    const help = start({}, [], CLI_JS);
    assert.equal((await help.exited).code, 0);
    assert.match(help.outputLines()[0] ?? '', /^usage: switchboard start/);
    const unknown = start({}, ['serve'], CLI_JS);
    assert.equal((await unknown.exited).code, 1);
  });
});

describe('start-up failures: one line on stderr, exit code 1', () => {
  test('a bad environment value names the key and the variable', async () => {
    const { code, stderr } = await failure(start({ ...baseEnv(), SWITCHBOARD_MQTT_PORT: 'abc' }));
    assert.equal(code, 1);
    assert.equal(stderr, 'config error: mqtt.port (SWITCHBOARD_MQTT_PORT) must be an integer 0..65535, got "abc"\n');
  });

  test('an unknown key in the config file is named', async () => {
    const file = join(workDir, 'unknown-key.json');
    writeFileSync(file, JSON.stringify({ mqtt: { prot: 1883 } }));
    const { code, stderr } = await failure(start(baseEnv(), ['--config', file]));
    assert.equal(code, 1);
    assert.equal(stderr, `config error: mqtt.prot is not a known key (in ${file})\n`);
  });

  test('a TLS certificate without a key', async () => {
    const { code, stderr } = await failure(start({ ...baseEnv(), SWITCHBOARD_TLS_CERT: pki.serverCertPath }));
    assert.equal(code, 1);
    assert.equal(stderr.split('\n').length, 2);
    assert.match(stderr, /^config error: tls\.key .*SWITCHBOARD_TLS_KEY/);
  });

  test('a TLS certificate file that does not exist', async () => {
    const env = { ...baseEnv(), ...tlsEnv(), SWITCHBOARD_TLS_CERT: join(workDir, 'missing.pem') };
    const { code, stderr } = await failure(start(env));
    assert.equal(code, 1);
    assert.match(stderr, /^config error: tls\.cert cannot read ".*missing\.pem": ENOENT\n$/);
  });

  for (const [envVar, withTls] of [
    ['SWITCHBOARD_MQTT_PORT', false],
    ['SWITCHBOARD_MQTTS_PORT', true],
    ['SWITCHBOARD_HTTP_PORT', false],
  ] as const) {
    test(`a port in use names the port and ${envVar}`, async () => {
      const { port } = await occupyPort();
      const env = { ...baseEnv(), ...(withTls ? tlsEnv() : {}), [envVar]: String(port) };
      const { code, stderr } = await failure(start(env));
      assert.equal(code, 1);
      assert.equal(stderr, `port ${String(port)} is in use; set ${envVar} to another port\n`);
    });
  }
});

describe('clients on every listener', () => {
  test('MQTT.js over TCP, TLS and WebSocket, 3.1.1 and 5.0, reach each other through one broker', async () => {
    const child = start({ ...baseEnv(), ...tlsEnv() });
    const { mqtt, mqtts, http } = await ports(child);
    assert.ok(mqtts !== undefined);
    const tcp = await connectClient(`mqtt://127.0.0.1:${String(mqtt)}`, { protocolVersion: 4, clientId: 'tcp-client' });
    const tls = await connectClient(`mqtts://localhost:${String(mqtts)}`, { protocolVersion: 5, ca: pki.caCert });
    const ws = await connectClient(`ws://127.0.0.1:${String(http)}/mqtt`, { protocolVersion: 5 });
    const legacyWs = await connectClient(`ws://127.0.0.1:${String(http)}/mqtt`, { protocolVersion: 4 });
    const clients: TestClient[] = [tcp, tls, ws, legacyWs];
    try {
      await tls.client.subscribeAsync('e2e/#', { qos: 1 });
      await ws.client.subscribeAsync('e2e/#', { qos: 1 });
      await legacyWs.client.subscribeAsync('e2e/#', { qos: 0 });
      await tcp.client.publishAsync('e2e/hello', 'from tcp', { qos: 1 });
      for (const subscriber of [tls, ws, legacyWs]) {
        const [message] = await subscriber.waitForMessages(1, ({ topic }) => topic === 'e2e/hello');
        assert.equal(message?.payload, 'from tcp');
      }

      await tcp.client.subscribeAsync('back/+', { qos: 1 });
      await tls.client.publishAsync('back/tls', 'from tls', { qos: 1 });
      const [back] = await tcp.waitForMessages(1, ({ topic }) => topic === 'back/tls');
      assert.equal(back?.payload, 'from tls');
    } finally {
      await Promise.all(clients.map(({ client }) => client.endAsync()));
    }
    child.child.kill('SIGTERM');
    assert.deepEqual(await child.exited, { code: 0, signal: null });
  });

  test('GET /healthz on the HTTP port answers {"status":"ok"}', async () => {
    const child = start(baseEnv());
    const { http } = await ports(child);
    const response = await fetch(`http://127.0.0.1:${String(http)}/healthz`);
    assert.equal(response.status, 200);
    assert.deepEqual(await response.json(), { status: 'ok' });
    child.child.kill('SIGTERM');
    await child.exited;
  });
});

describe('graceful shutdown', () => {
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    test(`${signal}: a connected v5 client is told 0x8B Server shutting down, and the process exits 0`, async () => {
      const child = start(baseEnv());
      const { mqtt } = await ports(child);
      const { client } = await connectClient(`mqtt://127.0.0.1:${String(mqtt)}`, { protocolVersion: 5 });
      const disconnect = new Promise<IDisconnectPacket>((resolve) => client.once('disconnect', resolve));
      child.child.kill(signal);
      const packet = await disconnect;
      assert.equal(packet.reasonCode, 0x8b);
      const { code } = await child.exited;
      assert.equal(code, 0);
      assert.equal(child.stderr(), '');
      client.end(true);
    });
  }

  test('a retained message published before SIGTERM is there after a restart on the same data directory', async () => {
    const dataDir = freshDataDir();
    const first = start(baseEnv(dataDir));
    const publisher = await connectClient(`mqtt://127.0.0.1:${String((await ports(first)).mqtt)}`);
    await publisher.client.publishAsync('durable/retained', 'kept', { qos: 1, retain: true });
    await publisher.client.endAsync();
    first.child.kill('SIGTERM');
    assert.deepEqual(await first.exited, { code: 0, signal: null });

    const second = start(baseEnv(dataDir));
    const subscriber = await connectClient(`mqtt://127.0.0.1:${String((await ports(second)).mqtt)}`);
    await subscriber.client.subscribeAsync('durable/retained', { qos: 1 });
    const [message] = await subscriber.waitForMessages(1, ({ topic }) => topic === 'durable/retained');
    assert.equal(message?.payload, 'kept');
    assert.equal(message?.packet.retain, true);
    await subscriber.client.endAsync();
    second.child.kill('SIGTERM');
    assert.deepEqual(await second.exited, { code: 0, signal: null });
  });
});
