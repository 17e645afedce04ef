/**
 * A bridge as configured through `POST/PATCH /api/bridges`: its settings, the checks they pass before they are saved
 * (host, port, QoS, prefix, PEM material, privacy rules compiled), and which changes apply live.
 */
import { createPrivateKey, randomBytes, X509Certificate, type KeyObject } from 'node:crypto';
import { isIP } from 'node:net';
import type { PrivacyFilter, PrivacyRule } from '../feed-types.js';
import { PRIVACY_LIMITS, PrivacyRuleError } from '../privacy.js';
import type { BridgeTarget } from './bridge-target.js';

/** What a user sets on a bridge. */
export interface BridgeSettings {
  name: string;
  host: string;
  port: number;
  tls: boolean;
  ca: string | null;
  cert: string | null;
  key: string | null;
  rejectUnauthorized: boolean;
  username: string | null;
  password: string | null;
  /** null: `switchboard-<bridge id>`. */
  clientId: string | null;
  topicPrefix: string;
  qos: 0 | 1;
  filters: PrivacyRule[];
}

/** A stored bridge. `secret` keys its hash rules (HMAC-SHA256); it is shown once, when the bridge is created. */
export interface BridgeRecord extends BridgeSettings {
  id: string;
  orgId: string;
  secret: string;
  createdAt: number;
  updatedAt: number;
}

/** Compiles a target's privacy rules (the feed's `compilePrivacyRules`); throws on a rule it cannot use. */
export type CompilePrivacyRules = (rules: readonly PrivacyRule[], secret: string) => PrivacyFilter;

/** Bounds of a bridge's settings, checked at save. */
export const BRIDGE_LIMITS = {
  /** Longest topic prefix, in UTF-8 bytes. */
  maxTopicPrefixBytes: 1_024,
  /** Most privacy rules per bridge (the feed's own bound). */
  maxFilters: PRIVACY_LIMITS.maxRules,
  /** Largest PEM string (CA bundle, certificate chain, key). */
  maxPemBytes: 65_536,
  /** MQTT §1.5.3 (3.1.1) / §1.5.4 (5.0): UTF-8 strings (client id, user name) and binary data (password) are at most 65,535 bytes. */
  maxMqttStringBytes: 65_535,
} as const;

/** A setting that cannot be saved; `ruleIndex` names the privacy rule (0-based) when a rule is the problem. */
export class BridgeSettingsError extends Error {
  override readonly name = 'BridgeSettingsError';
  readonly field: string;
  readonly ruleIndex: number | undefined;
  constructor(field: string, message: string, ruleIndex?: number, options?: ErrorOptions) {
    super(message, options);
    this.field = field;
    this.ruleIndex = ruleIndex;
  }
}

/** A new bridge's HMAC key: 32 random bytes, hex. */
export function newBridgeSecret(): string {
  return randomBytes(32).toString('hex');
}

/** The client id a bridge connects with. */
export function clientIdOf(record: BridgeRecord): string {
  return record.clientId ?? `switchboard-${record.id}`;
}

/** The connection part of a record. */
export function targetOf(record: BridgeRecord): BridgeTarget {
  return {
    host: record.host,
    port: record.port,
    tls: record.tls,
    ca: record.ca,
    cert: record.cert,
    key: record.key,
    rejectUnauthorized: record.rejectUnauthorized,
    username: record.username,
    password: record.password,
    clientId: clientIdOf(record),
    topicPrefix: record.topicPrefix,
    qos: record.qos,
  };
}

/** The settings that make up a connection: a change to any of them reconnects. */
const CONNECTION_FIELDS = [
  'host',
  'port',
  'tls',
  'ca',
  'cert',
  'key',
  'rejectUnauthorized',
  'username',
  'password',
  'clientId',
  'topicPrefix',
  'qos',
] as const satisfies readonly Exclude<keyof BridgeSettings, 'name' | 'filters'>[];

/** True when going from `before` to `after` needs a new connection (anything but the live fields changed). */
export function needsReconnect(before: BridgeSettings, after: BridgeSettings): boolean {
  return CONNECTION_FIELDS.some((key) => before[key] !== after[key]);
}

const HOSTNAME_LABEL = /^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$/;

/**
 * Checks `settings` as a whole and compiles its rules with `secret`; throws a `BridgeSettingsError` naming the field
 * (and the rule) that is wrong. Returns the compiled filter.
 */
export function checkBridgeSettings(
  settings: BridgeSettings,
  secret: string,
  compile: CompilePrivacyRules,
): PrivacyFilter {
  checkHost(settings.host);
  if (!Number.isInteger(settings.port) || settings.port < 1 || settings.port > 65_535) {
    throw new BridgeSettingsError('port', 'port must be an integer 1..65535');
  }
  if (settings.qos !== 0 && settings.qos !== 1) throw new BridgeSettingsError('qos', 'qos must be 0 or 1');
  checkTopicPrefix(settings.topicPrefix);
  checkMqttString('clientId', settings.clientId);
  if (settings.clientId === '')
    throw new BridgeSettingsError('clientId', 'clientId must not be empty (omit it for the default)');
  checkMqttString('username', settings.username);
  checkMqttString('password', settings.password);
  if (settings.password !== null && settings.username === null) {
    // [MQTT-3.1.2-22] 3.1.1 forbids a password without a user name, and a bridge may fall back to 3.1.1.
    throw new BridgeSettingsError('password', 'a password needs a username');
  }
  checkTlsMaterial(settings);
  return compileFilters(settings.filters, secret, compile);
}

function checkHost(host: string): void {
  if (isIP(host) !== 0) return;
  const labels = host.endsWith('.') ? host.slice(0, -1).split('.') : host.split('.');
  if (host.length > 253 || labels.some((label) => !HOSTNAME_LABEL.test(label))) {
    throw new BridgeSettingsError('host', `host must be a DNS name or an IP address, got ${JSON.stringify(host)}`);
  }
}

function checkTopicPrefix(prefix: string): void {
  if (Buffer.byteLength(prefix) > BRIDGE_LIMITS.maxTopicPrefixBytes) {
    throw new BridgeSettingsError(
      'topicPrefix',
      `topicPrefix is longer than ${String(BRIDGE_LIMITS.maxTopicPrefixBytes)} bytes`,
    );
  }
  // [MQTT-4.7.1-1] wildcards are not allowed in a topic name; [MQTT-4.7.3-2] nor is U+0000.
  if (prefix.includes('+') || prefix.includes('#') || prefix.includes('\u0000')) {
    throw new BridgeSettingsError('topicPrefix', 'topicPrefix must not contain +, # or U+0000');
  }
  // MQTT §4.7.2: `$` topics are the server's ($SYS, AWS IoT's $aws/…); a bridge does not publish there.
  if (prefix.startsWith('$')) throw new BridgeSettingsError('topicPrefix', 'topicPrefix must not start with $');
}

function checkMqttString(field: string, value: string | null): void {
  if (value !== null && Buffer.byteLength(value) > BRIDGE_LIMITS.maxMqttStringBytes) {
    throw new BridgeSettingsError(field, `${field} is longer than 65535 bytes`);
  }
}

function checkTlsMaterial(settings: BridgeSettings): void {
  const { ca, cert, key } = settings;
  if (!settings.tls && (ca !== null || cert !== null || key !== null)) {
    throw new BridgeSettingsError(
      ca !== null ? 'ca' : cert !== null ? 'cert' : 'key',
      'ca, cert and key need "tls": true',
    );
  }
  if ((cert === null) !== (key === null)) {
    throw new BridgeSettingsError(cert === null ? 'cert' : 'key', 'cert and key go together');
  }
  if (ca !== null) parseCertificates('ca', ca);
  if (cert !== null && key !== null) {
    const leaf = parseCertificates('cert', cert)[0]!;
    const privateKey = parsePrivateKey(key);
    if (!leaf.checkPrivateKey(privateKey)) {
      throw new BridgeSettingsError('key', 'key is not the private key of the first certificate in cert');
    }
  }
}

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

function parseCertificates(field: string, pem: string): X509Certificate[] {
  if (Buffer.byteLength(pem) > BRIDGE_LIMITS.maxPemBytes) {
    throw new BridgeSettingsError(field, `${field} is larger than ${String(BRIDGE_LIMITS.maxPemBytes)} bytes`);
  }
  const blocks = pem.match(PEM_CERTIFICATE) ?? [];
  if (blocks.length === 0)
    throw new BridgeSettingsError(field, `${field} must hold PEM certificates (BEGIN CERTIFICATE)`);
  return blocks.map((block, index) => {
    try {
      return new X509Certificate(block);
    } catch (error) {
      throw new BridgeSettingsError(field, `certificate ${String(index + 1)} of ${field} does not parse`, undefined, {
        cause: error,
      });
    }
  });
}

function parsePrivateKey(pem: string): KeyObject {
  if (Buffer.byteLength(pem) > BRIDGE_LIMITS.maxPemBytes) {
    throw new BridgeSettingsError('key', `key is larger than ${String(BRIDGE_LIMITS.maxPemBytes)} bytes`);
  }
  if (pem.includes('ENCRYPTED'))
    throw new BridgeSettingsError('key', 'key must not be encrypted (no passphrase is kept)');
  try {
    return createPrivateKey(pem);
  } catch (error) {
    throw new BridgeSettingsError('key', 'key must be a PEM private key', undefined, { cause: error });
  }
}

/**
 * Compiles the rules. The feed's compiler names the bad rule (PrivacyRuleError.ruleIndex); another compiler's error
 * is narrowed down by compiling each rule alone, so the answer always names the first bad rule.
 */
function compileFilters(rules: readonly PrivacyRule[], secret: string, compile: CompilePrivacyRules): PrivacyFilter {
  if (rules.length > BRIDGE_LIMITS.maxFilters) {
    throw new BridgeSettingsError('filters', `at most ${String(BRIDGE_LIMITS.maxFilters)} filters`);
  }
  try {
    return compile(rules, secret);
  } catch (error) {
    if (error instanceof PrivacyRuleError) {
      throw new BridgeSettingsError('filters', error.message, error.ruleIndex, { cause: error });
    }
    const reason = error instanceof Error ? error.message : String(error);
    for (let index = 0; index < rules.length; index++) {
      try {
        compile([rules[index]!], secret);
      } catch (ruleError) {
        const ruleReason = ruleError instanceof Error ? ruleError.message : String(ruleError);
        throw new BridgeSettingsError('filters', `filters[${String(index)}]: ${ruleReason}`, index, {
          cause: ruleError,
        });
      }
    }
    throw new BridgeSettingsError('filters', `filters: ${reason}`, undefined, { cause: error });
  }
}
