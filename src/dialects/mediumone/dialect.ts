/**
 * The Medium One dialect (device-apis.md §4, docs/mediumone.md): an auth step for `<project>/<user>` logins, the
 * `0/`, `1/`, `2/` namespace (events up are validated, stored and acknowledged after the commit; down topics are the
 * server's), the REST equivalents (`/v2/…`) and the management routes for groups and down messages. Wiring (the
 * server): `const m1 = await createMediumOneDialect({ platform, auth, logger, limits, metrics })`; `m1` in the
 * router's dialects, `m1.authenticate` at its place in the auth steps, `m1.attach(broker)`, and `m1.restPlugin` /
 * `m1.managementPlugin` in the HTTP app's plugins.
 */
import type { FastifyPluginAsync } from 'fastify';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { AuthService } from '../../auth/index.js';
import type { Broker, ClientInfo, InboundMessage, MessageVerdict } from '../../broker/index.js';
import { dialectMessageCounter } from '../../http/index.js';
import type { QoS } from '../../mqtt/codec/index.js';
import type { EntityChange } from '../../platform/entities.js';
import type { Platform } from '../../platform/platform.js';
import type { AuthStep, Dialect } from '../dialect.js';
import { authorizePublish, authorizeSubscribe } from './access.js';
import {
  authenticateMediumOne,
  isMediumOneIdentity,
  M1Reason,
  VerifiedLogins,
  type MediumOneIdentity,
} from './auth.js';
import { MediumOneDevices } from './devices.js';
import { EventIngest } from './ingest.js';
import { managementPlugin } from './management-http.js';
import { restPlugin } from './rest.js';
import { RestSessions } from './rest-sessions.js';
import { MEDIUMONE_SCHEMA, MediumOneTables } from './tables.js';
import { isMediumOneNamespace } from './topics.js';
import { Uplink, type UplinkCount } from './uplink.js';

/** The `mediumone` config section (src/config/schema.ts documents each key). */
export interface MediumOneLimits {
  maxEventBytes: number;
  maxUploadBytes: number;
  maxQueryLimit: number;
  restSessionSeconds: number;
  maxRestSessions: number;
  deviceCacheSize: number;
  loginCacheSeconds: number;
  maxCachedLogins: number;
}

export const DEFAULT_MEDIUMONE_LIMITS: MediumOneLimits = {
  maxEventBytes: 65_536,
  maxUploadBytes: 10_485_760,
  maxQueryLimit: 10_000,
  restSessionSeconds: 3_600,
  maxRestSessions: 10_000,
  deviceCacheSize: 100_000,
  loginCacheSeconds: 300,
  maxCachedLogins: 10_000,
};

export interface MediumOneDialectOptions {
  platform: Platform;
  auth: AuthService;
  logger: Logger;
  limits?: Partial<MediumOneLimits> | undefined;
  /** The registry `/metrics` serves: accepted and refused events are counted there. */
  metrics?: Registry | undefined;
}

export interface MediumOneDialect extends Dialect {
  /** The credential step (choices.md "Who connects", step 3). */
  readonly authenticate: AuthStep;
  /** `/v2/login`, `/v2/events/<stream>/<login_id>`. */
  readonly restPlugin: FastifyPluginAsync;
  /** `/api/groups…`, `/api/mediumone/messages` (management API, `minRole` routes). */
  readonly managementPlugin: FastifyPluginAsync;
  readonly tables: MediumOneTables;
  /** Stops following entity changes. */
  close(): void;
}

/** Opens the dialect's tables, learns every organization's project id, then returns the dialect. */
export async function createMediumOneDialect(options: MediumOneDialectOptions): Promise<MediumOneDialect> {
  const { platform, auth } = options;
  const logger = options.logger.child({ dialect: 'mediumone' });
  const limits: MediumOneLimits = { ...DEFAULT_MEDIUMONE_LIMITS, ...definedOnly(options.limits ?? {}) };
  const tables = new MediumOneTables(await platform.store.openModule(MEDIUMONE_SCHEMA));
  const devices = new MediumOneDevices(platform, tables, limits.deviceCacheSize, logger);
  const ingest = new EventIngest(platform, devices);
  const sessions = new RestSessions(limits.restSessionSeconds, limits.maxRestSessions);
  const logins = new VerifiedLogins(limits.loginCacheSeconds, limits.maxCachedLogins);
  const counter = options.metrics === undefined ? undefined : dialectMessageCounter(options.metrics);
  let broker: Broker | undefined;

  // Hooks are synchronous: the project id of each organization is kept in memory and follows entity changes.
  const projects = new Map<string, string>();
  const projectOf = (orgId: string): string | undefined => projects.get(orgId);
  /** Connected device users, to close their sessions when their user or project goes away. */
  const connected = new Map<ClientInfo, MediumOneIdentity>();

  const disconnectWhere = (predicate: (identity: MediumOneIdentity) => boolean, reason: string): void => {
    for (const [client, identity] of connected) {
      if (predicate(identity)) broker?.disconnectClient(client.clientId, M1Reason.AdministrativeAction, reason);
    }
  };
  const onEntityChange = (change: EntityChange): void => {
    devices.onEntityChange(change);
    if (change.entity === 'organization') {
      const before = change.before as { mqttId?: string } | undefined;
      const after = change.after as { mqttId?: string } | undefined;
      if (after?.mqttId === undefined) projects.delete(change.id);
      else projects.set(change.id, after.mqttId);
      logins.forget((identity) => identity.orgId === change.id);
      if (change.op === 'deleted' || before?.mqttId !== after?.mqttId) {
        sessions.endOrganization(change.id);
        disconnectWhere((identity) => identity.orgId === change.id, 'the project changed');
      }
    }
    // A deleted API key no longer lets anyone in: forget the organization's verified logins (they are re-verified).
    if (change.entity === 'apiKey' && change.op === 'deleted') {
      logins.forget((identity) => identity.orgId === change.orgId);
    }
    if (change.entity === 'user' && change.op !== 'created') {
      logins.forget((identity) => identity.userId === change.id);
      const before = change.before as { mqttId?: string; passwordHash?: string } | undefined;
      const after = change.after as { mqttId?: string; passwordHash?: string } | undefined;
      if (change.op === 'deleted' || before?.mqttId !== after?.mqttId) {
        sessions.endUser(change.id);
        disconnectWhere((identity) => identity.userId === change.id, 'the user changed');
      }
    }
  };
  const unsubscribe = platform.entities.changes.subscribe(onEntityChange);
  for (const org of await platform.store.listOrganizations()) {
    if (!projects.has(org.id)) projects.set(org.id, org.mqttId);
  }

  const uplink = new Uplink({
    ingest,
    logger,
    maxEventBytes: limits.maxEventBytes,
    broker: () => broker,
    count: (kind: UplinkCount) => counter?.inc({ dialect: 'mediumone', kind }),
  });

  return {
    name: 'mediumone',
    tables,
    ownsIdentity: isMediumOneIdentity,
    ownsTopic: isMediumOneNamespace,
    authenticate: (request) => authenticateMediumOne({ store: platform.store, auth }, request, logins),
    authorizePublish: (client: ClientInfo, topicName: string) =>
      authorizePublish(client.identity, topicName, projectOf),
    authorizeSubscribe: (client: ClientInfo, topicFilter: string, qos: QoS) =>
      authorizeSubscribe(client.identity, topicFilter, qos, projectOf),
    onMessage: (client: ClientInfo, message: InboundMessage): MessageVerdict | undefined => {
      if (!isMediumOneNamespace(message.topicName)) return undefined;
      const identity = client.identity;
      if (isMediumOneIdentity(identity)) return uplink.onEvent(client, identity, message);
      // A platform user's down message (authorized above): routed and retained like any message.
      return undefined;
    },
    onClientConnected: (client: ClientInfo) => {
      if (isMediumOneIdentity(client.identity)) connected.set(client, client.identity);
    },
    onClientDisconnected: (client: ClientInfo) => {
      connected.delete(client);
    },
    attach: (attached: Broker) => {
      broker = attached;
    },
    restPlugin: restPlugin({
      store: platform.store,
      auth,
      ingest,
      sessions,
      tables,
      maxEventBytes: limits.maxEventBytes,
      maxUploadBytes: limits.maxUploadBytes,
      maxQueryLimit: limits.maxQueryLimit,
    }),
    managementPlugin: managementPlugin({ platform, tables, broker: () => broker, maxQueryLimit: limits.maxQueryLimit }),
    close: unsubscribe,
  };
}

function definedOnly<T extends object>(partial: Partial<T>): Partial<T> {
  return Object.fromEntries(Object.entries(partial).filter(([, value]) => value !== undefined)) as Partial<T>;
}
