import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { ConfigError, ENV_BINDINGS, loadConfig, parseConfig, type Config } from '../../src/config/index.js';

const dir = mkdtempSync(join(tmpdir(), 'switchboard-config-'));
after(() => rmSync(dir, { recursive: true, force: true }));

let fileCount = 0;
function writeConfig(content: unknown): string {
  const file = join(dir, `config-${String(++fileCount)}.json`);
  writeFileSync(file, typeof content === 'string' ? content : JSON.stringify(content));
  return file;
}

/** Runs `load` and returns the ConfigError it must throw. */
function configError(load: () => unknown): ConfigError {
  try {
    load();
  } catch (error) {
    assert.ok(error instanceof ConfigError, `expected a ConfigError, got ${String(error)}`);
    assert.equal(error.code, 'CONFIG_INVALID');
    return error;
  }
  assert.fail('expected the configuration to be refused');
}

describe('defaults', () => {
  test('an empty configuration gets every documented default', () => {
    const config = parseConfig({});
    assert.deepEqual(config, {
      host: '0.0.0.0',
      dataDir: './data',
      allowAnonymous: false,
      logLevel: 'info',
      mqtt: {
        port: 1883,
        maxPacketSizeBytes: 1_048_576,
        receiveMaximum: 128,
        maxInflight: 64,
        maxQueuedMessages: 10_000,
        maxKeepAliveSeconds: 65_535,
        topicAliasMaximum: 64,
        maxTopicLengthBytes: 65_535,
        maxTopicLevels: 128,
        authFailuresBeforeDelay: 5,
        authFailureMaxDelayMs: 5_000,
        maxSubscriptionsPerClient: 1_000,
        maxConnectionsPerSecond: 20_000,
        connectTimeoutMs: 10_000,
        drainDeadlineMs: 30_000,
        sessionExpirySeconds: 604_800,
        maxSessionExpirySeconds: 4_294_967_295,
        maxRetainedMessages: 1_000_000,
        sysIntervalSeconds: 10,
      },
      tls: { port: 8883, httpsPort: 8443, requestCert: false },
      http: { port: 8080 },
      storage: { kind: 'sqlite', synchronous: 'normal' },
      database: { schema: 'switchboard' },
      platform: {
        zoneHierarchy: ['org', 'region', 'building', 'level', 'area'],
        maxPendingWrites: 200_000,
        jwtLifetimeSeconds: 3_600,
        clientRpcHandlers: {},
        maxOtaPackageBytes: 33_554_432,
        retentionIntervalSeconds: 60,
      },
      bridges: {
        maxPerOrganization: 16,
        maxQueuedEntries: 10_000,
        maxBackoffMs: 30_000,
        connectTimeoutMs: 10_000,
      },
      mediumone: {
        maxEventBytes: 65_536,
        maxUploadBytes: 10_485_760,
        maxQueryLimit: 10_000,
        restSessionSeconds: 3_600,
        maxRestSessions: 10_000,
        deviceCacheSize: 100_000,
        loginCacheSeconds: 300,
        maxCachedLogins: 10_000,
      },
      cloudplugs: { defaultReadLimit: 100, maxReadLimit: 1_000, maxScanRecords: 100_000, maxReadDevices: 1_000 },
      acl: [],
    } satisfies Config);
  });

  test('no file and no environment gives the defaults (no ./switchboard.config.json in the working directory)', () => {
    const cwd = process.cwd();
    process.chdir(dir);
    try {
      assert.deepEqual(loadConfig([], {}), parseConfig({}));
    } finally {
      process.chdir(cwd);
    }
  });

  test('parseConfig does not modify its input', () => {
    const input = { mqtt: { port: 1 } };
    parseConfig(input);
    assert.deepEqual(input, { mqtt: { port: 1 } });
  });
});

describe('environment variables', () => {
  test('a bad value gives one line naming the key, the variable, the rule and the value', () => {
    const error = configError(() => loadConfig([], { SWITCHBOARD_MQTT_PORT: 'abc' }));
    assert.deepEqual(error.issues, [
      { key: 'mqtt.port', envVar: 'SWITCHBOARD_MQTT_PORT', problem: 'must be an integer 0..65535, got "abc"' },
    ]);
    assert.equal(
      error.message,
      'config error: mqtt.port (SWITCHBOARD_MQTT_PORT) must be an integer 0..65535, got "abc"',
    );
  });

  for (const [envVar, value, key] of [
    ['SWITCHBOARD_MQTT_PORT', '70000', 'mqtt.port'],
    ['SWITCHBOARD_MQTT_PORT', '-1', 'mqtt.port'],
    ['SWITCHBOARD_MQTT_PORT', '1.5', 'mqtt.port'],
    ['SWITCHBOARD_HTTP_PORT', '80a', 'http.port'],
    ['SWITCHBOARD_MQTTS_PORT', 'x', 'tls.port'],
    ['SWITCHBOARD_MQTT_MAX_PACKET_SIZE_BYTES', '63', 'mqtt.maxPacketSizeBytes'],
    ['SWITCHBOARD_MQTT_RECEIVE_MAXIMUM', '0', 'mqtt.receiveMaximum'],
    ['SWITCHBOARD_ALLOW_ANONYMOUS', 'maybe', 'allowAnonymous'],
    ['SWITCHBOARD_STORAGE', 'postgres', 'storage.kind'],
    ['SWITCHBOARD_STORAGE_SYNCHRONOUS', 'off', 'storage.synchronous'],
    ['SWITCHBOARD_LOG_LEVEL', 'loud', 'logLevel'],
    ['SWITCHBOARD_TLS_REQUEST_CERT', 'sometimes', 'tls.requestCert'],
    ['SWITCHBOARD_ACL', 'not json', 'acl'],
  ] as const) {
    test(`${envVar}=${JSON.stringify(value)} is refused in one line naming ${key}`, () => {
      const error = configError(() => loadConfig([], { [envVar]: value }));
      assert.equal(error.issues.length, 1);
      assert.equal(error.issues[0]?.key, key);
      assert.equal(error.issues[0]?.envVar, envVar);
      assert.equal(error.message.split('\n').length, 1);
      assert.match(
        error.message,
        new RegExp(`^config error: ${key.replace('.', '\\.')} \\(${envVar}\\) must be .*, got `),
      );
      assert.ok(error.message.endsWith(`got ${JSON.stringify(value)}`), error.message);
    });
  }

  test('every variable sets its key (integers, booleans, choices, strings, JSON)', () => {
    const env: Record<string, string> = {};
    const expected = new Map<string, unknown>();
    for (const binding of ENV_BINDINGS) {
      const [section, key] = binding.path;
      const defaultValue = key === undefined ? parseConfig({})[section as keyof Config] : undefined;
      let raw: string;
      let value: unknown;
      switch (binding.key) {
        case 'acl':
          raw = '[{"action":"subscribe","topic":"secret/#","allow":false}]';
          value = [{ action: 'subscribe', topic: 'secret/#', allow: false }];
          break;
        case 'allowAnonymous':
        case 'tls.requestCert':
          raw = defaultValue === true ? 'false' : 'true';
          value = raw === 'true';
          break;
        case 'logLevel':
          raw = 'debug';
          value = 'debug';
          break;
        case 'storage.kind':
          raw = 'memory';
          value = 'memory';
          break;
        case 'storage.synchronous':
          raw = 'full';
          value = 'full';
          break;
        case 'adminPassword':
          raw = 'correct horse battery';
          value = raw;
          break;
        case 'database.url':
          raw = 'postgres://switchboard@db.example:5432/switchboard';
          value = raw;
          break;
        case 'database.schema':
          raw = 'tenant_one';
          value = raw;
          break;
        case 'platform.zoneHierarchy':
          raw = '["region","building","level","area"]';
          value = ['region', 'building', 'level', 'area'];
          break;
        case 'platform.clientRpcHandlers':
          raw = '{"getWeather":"http://127.0.0.1:9000/weather"}';
          value = { getWeather: 'http://127.0.0.1:9000/weather' };
          break;
        case 'platform.maxPendingWrites':
          raw = '5000';
          value = 5_000;
          break;
        case 'platform.maxOtaPackageBytes':
          raw = '2048';
          value = 2_048;
          break;
        case 'host':
        case 'dataDir':
        case 'tls.cert':
        case 'tls.key':
        case 'tls.ca':
          raw = `/some/${binding.key}`;
          value = raw;
          break;
        default:
          raw = '100';
          value = 100;
      }
      env[binding.envVar] = raw;
      expected.set(binding.key, value);
    }
    const config = loadConfig([], env) as unknown as Record<string, Record<string, unknown>>;
    for (const binding of ENV_BINDINGS) {
      const [section, key] = binding.path as [string, string | undefined];
      const actual = key === undefined ? config[section] : config[section]?.[key];
      assert.deepEqual(actual, expected.get(binding.key), `${binding.envVar} → ${binding.key}`);
    }
  });

  test('the names the issue fixes are the ones read', () => {
    const names = new Set(ENV_BINDINGS.map((binding) => binding.envVar));
    for (const name of [
      'SWITCHBOARD_HOST',
      'SWITCHBOARD_MQTT_PORT',
      'SWITCHBOARD_MQTTS_PORT',
      'SWITCHBOARD_TLS_CERT',
      'SWITCHBOARD_TLS_KEY',
      'SWITCHBOARD_TLS_CA',
      'SWITCHBOARD_HTTP_PORT',
      'SWITCHBOARD_DATA_DIR',
      'SWITCHBOARD_ALLOW_ANONYMOUS',
      'SWITCHBOARD_LOG_LEVEL',
      'SWITCHBOARD_STORAGE',
    ]) {
      assert.ok(names.has(name), name);
    }
  });

  for (const [word, value] of [
    ['true', true],
    ['TRUE', true],
    ['1', true],
    ['yes', true],
    ['on', true],
    ['false', false],
    ['0', false],
    ['no', false],
    ['Off', false],
  ] as const) {
    test(`SWITCHBOARD_ALLOW_ANONYMOUS=${word} means ${String(value)}`, () => {
      assert.equal(loadConfig([], { SWITCHBOARD_ALLOW_ANONYMOUS: word }).allowAnonymous, value);
    });
  }

  test('an empty variable is ignored (as if unset)', () => {
    assert.equal(loadConfig([], { SWITCHBOARD_MQTT_PORT: '', SWITCHBOARD_TLS_CERT: '' }).mqtt.port, 1883);
  });

  test('variables that are not Switchboard’s are ignored', () => {
    assert.deepEqual(loadConfig([], { PORT: 'abc', SWITCHBOARD_UNKNOWN: 'x' }), parseConfig({}));
  });

  test('several bad values give one line each', () => {
    const error = configError(() =>
      loadConfig([], { SWITCHBOARD_MQTT_PORT: 'abc', SWITCHBOARD_HTTP_PORT: '99999', SWITCHBOARD_STORAGE: 'x' }),
    );
    assert.deepEqual(error.issues.map((issue) => issue.key).sort(), ['http.port', 'mqtt.port', 'storage.kind']);
    assert.equal(error.message.split('\n').length, 3);
    for (const line of error.message.split('\n')) assert.match(line, /^config error: /);
  });
});

describe('config file', () => {
  test('environment variables override the file, key by key', () => {
    const file = writeConfig({ mqtt: { port: 1111, receiveMaximum: 20 }, http: { port: 2222 } });
    const config = loadConfig(['--config', file], { SWITCHBOARD_MQTT_PORT: '3333' });
    assert.equal(config.mqtt.port, 3333);
    assert.equal(config.mqtt.receiveMaximum, 20);
    assert.equal(config.http.port, 2222);
    assert.equal(config.mqtt.maxInflight, 64);
  });

  test('--config=FILE works like --config FILE', () => {
    const file = writeConfig({ host: '127.0.0.1' });
    assert.equal(loadConfig([`--config=${file}`], {}).host, '127.0.0.1');
  });

  test('SWITCHBOARD_CONFIG names the file; --config wins over it', () => {
    const fromEnv = writeConfig({ host: '10.0.0.1' });
    const fromArgs = writeConfig({ host: '10.0.0.2' });
    assert.equal(loadConfig([], { SWITCHBOARD_CONFIG: fromEnv }).host, '10.0.0.1');
    assert.equal(loadConfig(['--config', fromArgs], { SWITCHBOARD_CONFIG: fromEnv }).host, '10.0.0.2');
  });

  test('./switchboard.config.json is read when nothing names a file', () => {
    const cwd = process.cwd();
    const workDir = mkdtempSync(join(dir, 'cwd-'));
    writeFileSync(join(workDir, 'switchboard.config.json'), JSON.stringify({ mqtt: { maxInflight: 7 } }));
    process.chdir(workDir);
    try {
      assert.equal(loadConfig([], {}).mqtt.maxInflight, 7);
    } finally {
      process.chdir(cwd);
    }
  });

  test('the example from the issue is accepted', () => {
    const file = writeConfig({
      acl: [{ action: 'subscribe', topic: 'test/nosubscribe', allow: false }],
      mqtt: { maxKeepAliveSeconds: 60, receiveMaximum: 20, maxPacketSizeBytes: 65_536, topicAliasMaximum: 10 },
    });
    const config = loadConfig(['--config', file], {});
    assert.deepEqual(config.acl, [{ action: 'subscribe', topic: 'test/nosubscribe', allow: false }]);
    assert.equal(config.mqtt.maxKeepAliveSeconds, 60);
  });

  test('an unknown key is refused, at the top level, in a section and in an ACL rule', () => {
    const file = writeConfig({
      mqttPort: 1,
      mqtt: { maxInflightMessages: 5 },
      acl: [{ action: 'all', topic: '#', allow: true, user: 'x' }],
    });
    const error = configError(() => loadConfig(['--config', file], {}));
    assert.deepEqual(
      error.issues.map((issue) => [issue.key, issue.problem]),
      [
        ['mqttPort', 'is not a known key'],
        ['mqtt.maxInflightMessages', 'is not a known key'],
        ['acl[0].user', 'is not a known key'],
      ],
    );
    for (const issue of error.issues) assert.equal(issue.file, file);
    assert.match(error.message.split('\n')[0] ?? '', /^config error: mqttPort is not a known key \(in .*\.json\)$/);
  });

  test('a bad value in the file names the key and the file', () => {
    const file = writeConfig({ mqtt: { maxInflight: 0 } });
    const error = configError(() => loadConfig(['--config', file], {}));
    assert.deepEqual(error.issues, [{ key: 'mqtt.maxInflight', file, problem: 'must be an integer 1..65535, got 0' }]);
  });

  test('a bad value in the file that the environment overrides is not an error', () => {
    const file = writeConfig({ mqtt: { port: 'abc' } });
    assert.equal(loadConfig(['--config', file], { SWITCHBOARD_MQTT_PORT: '1884' }).mqtt.port, 1884);
  });

  test('a section that is not an object is refused', () => {
    const error = configError(() => parseConfig({ mqtt: 5 }));
    assert.deepEqual(error.issues, [{ key: 'mqtt', problem: 'must be an object, got 5' }]);
  });

  test('a named file that does not exist is refused', () => {
    const error = configError(() => loadConfig(['--config', join(dir, 'missing.json')], {}));
    assert.match(error.message, /^config error: cannot read config file .*missing\.json: ENOENT$/);
  });

  test('a file that is not JSON is refused', () => {
    const file = writeConfig('{ "mqtt": ');
    const error = configError(() => loadConfig(['--config', file], {}));
    assert.match(error.message, /^config error: config file .* is not valid JSON/);
    assert.equal(error.message.split('\n').length, 1);
  });

  test('a file that holds no object is refused', () => {
    const file = writeConfig('[1, 2]');
    assert.match(configError(() => loadConfig(['--config', file], {})).message, /must hold a JSON object$/);
  });
});

describe('arguments', () => {
  test('--config without a file is refused', () => {
    assert.equal(configError(() => loadConfig(['--config'], {})).message, 'config error: --config needs a file name');
  });

  test('an unknown argument is refused', () => {
    assert.match(configError(() => loadConfig(['--port', '1'], {})).message, /unknown argument "--port"/);
  });
});

describe('rules across keys', () => {
  test('a TLS certificate without a key is refused, naming the missing key and its variable', () => {
    const error = configError(() => loadConfig([], { SWITCHBOARD_TLS_CERT: '/etc/cert.pem' }));
    assert.equal(error.issues.length, 1);
    assert.equal(error.issues[0]?.key, 'tls.key');
    assert.match(error.message, /SWITCHBOARD_TLS_KEY/);
  });

  test('a TLS key without a certificate is refused', () => {
    assert.equal(configError(() => parseConfig({ tls: { key: '/k.pem' } })).issues[0]?.key, 'tls.cert');
  });

  test('certificate and key together are accepted', () => {
    const config = loadConfig([], { SWITCHBOARD_TLS_CERT: '/c.pem', SWITCHBOARD_TLS_KEY: '/k.pem' });
    assert.equal(config.tls.cert, '/c.pem');
    assert.equal(config.tls.key, '/k.pem');
  });

  for (const topic of ['a/#/b', 'a/b#', 'a/+b', 'a\u0000b']) {
    test(`an ACL rule with the invalid filter ${JSON.stringify(topic)} is refused ([MQTT-4.7.1-2], [MQTT-4.7.1-3])`, () => {
      const error = configError(() => parseConfig({ acl: [{ action: 'all', topic, allow: false }] }));
      assert.equal(error.issues[0]?.key, 'acl[0].topic');
    });
  }

  test('ACL rules with wildcards, users and client ids are accepted', () => {
    const acl = [
      { action: 'publish', topic: 'devices/+/telemetry', allow: true, users: ['alice'], clientIds: ['d1'] },
      { action: 'all', topic: '#', allow: false },
    ] as const;
    assert.deepEqual(parseConfig({ acl }).acl, acl);
  });

  test('an ACL rule without `allow` is refused', () => {
    const error = configError(() => parseConfig({ acl: [{ action: 'all', topic: '#' }] }));
    assert.deepEqual(error.issues, [{ key: 'acl[0].allow', problem: 'is required' }]);
  });
});
