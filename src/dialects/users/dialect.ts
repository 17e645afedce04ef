/**
 * The users dialect (docs/users.md): people and programs of an organization connected over MQTT with their JWT or API
 * key (PlaceOS's WebSocket MQTT API, device-apis.md §1.5, on every listener). Its auth step attaches a
 * {@link UserIdentity}; its hooks scope subscriptions to the user's organization, keep publishing to operators and
 * admins (never into the `placeos/` feed), and close a session when its JWT expires. It owns no topic namespace: it
 * decides for its own identities on topics no other dialect owns.
 */
import type { FastifyPluginAsync } from 'fastify';
import type { Logger } from 'pino';
import type {
  AuthenticateResult,
  Broker,
  ClientInfo,
  ConnectRequest,
  GuardedGrant,
  GuardedMessage,
} from '../../broker/index.js';
import { ReasonCode, type QoS } from '../../mqtt/codec/index.js';
import type { EntityChange } from '../../platform/entities.js';
import { isUserIdentity, type UserIdentity } from '../../platform/identity.js';
import type { Dialect } from '../dialect.js';
import { createUsersAuthStep, type SecretVerifier } from './auth.js';
import { feedViewerPlugin } from './feed-viewer.js';
import { decidePublish, decideSubscribe, isDeliverable } from './rights.js';
import { SessionDeadlines } from './session-deadlines.js';

export interface UsersDialectOptions {
  /** The auth module (`AuthService`): verifies JWTs and looks up API keys. */
  auth: SecretVerifier;
  logger: Logger;
  /**
   * The platform's entity changes (`platform.entities.changes`): a deleted user, API key or organization, or a user
   * whose role changed, has its open sessions closed (their identity names the old rights).
   */
  changes?: { subscribe(listener: (change: EntityChange) => void): () => void } | undefined;
  /**
   * Whether another dialect owns the topic's namespace (the server passes the other dialects' `ownsTopic`): messages
   * there never pass a `users:` guard, since only their owner knows which organization they belong to. Default: none.
   */
  isOwnedByAnotherDialect?: ((topic: string) => boolean) | undefined;
  /** For tests of expiry at the edge; default `Date.now`. */
  nowMs?: () => number;
}

/** Reason string of an administrative close (the user or key was deleted, or its role changed). */
export const REVOKED_REASON_STRING = 'the credentials of this session were revoked or changed';

/** The users dialect; it owns no namespace (no `ownsTopic`): it decides for its own clients on plain topics. */
export interface UsersDialect extends Dialect {
  readonly name: 'users';
  authorizePublish(client: ClientInfo, topicName: string, qos: QoS, isRetained: boolean): true | number;
  authorizeSubscribe(client: ClientInfo, topicFilter: string, qos: QoS): number | GuardedGrant;
  canDeliver(guard: string, message: GuardedMessage): boolean;
  onClientConnected(client: ClientInfo): void;
  onClientDisconnected(client: ClientInfo, reasonCode: number): void;
  attach(broker: Broker): void;
  /** Step 2 of choices.md "Who connects": undefined when the credentials are not a user's. */
  readonly authStep: (request: ConnectRequest) => Promise<AuthenticateResult> | undefined;
  /** `GET /feed-viewer`: a page that shows the user's organization's feed live over `/api/mqtt/`. */
  readonly httpPlugin: FastifyPluginAsync;
  /**
   * Closes every session of a user or API key (id), e.g. after it was deleted or its role changed: the identity names
   * the old rights. Returns how many were closed.
   */
  closeSessionsOf(subject: string): number;
  /** Stops listening to entity changes and clears the expiry timers. */
  close(): void;
  /** Connected user sessions. */
  readonly sessionCount: number;
}

/** Refused publishes are logged once per session (no per-message logging on the message path); the rest are counted. */
interface SessionState {
  identity: UserIdentity;
  refusedPublishes: number;
}

export function createUsersDialect(options: UsersDialectOptions): UsersDialect {
  const logger = options.logger.child({ dialect: 'users' });
  const deadlines = new SessionDeadlines(options.nowMs);
  const isOwnedByAnotherDialect = options.isOwnedByAnotherDialect ?? (() => false);
  const sessions = new Map<ClientInfo, SessionState>();
  let broker: Broker | undefined;

  const refusePublish = (client: ClientInfo, topicName: string, why: string): number => {
    const state = sessions.get(client);
    if (state !== undefined) {
      state.refusedPublishes++;
      if (state.refusedPublishes === 1) {
        // 3.1.1 has no refusal on the wire (QoS 1/2 are acknowledged, the message is dropped): this line is how an
        // operator learns why a client's messages go nowhere.
        logger.warn(
          {
            clientId: client.clientId,
            subject: state.identity.subject,
            role: state.identity.role,
            topicName,
            protocolVersion: client.protocolVersion,
          },
          `publish refused (${why}); later refusals on this session are only counted`,
        );
      }
    }
    return ReasonCode.NotAuthorized;
  };

  /** Closes the sessions `matches` picks; the broker's DISCONNECT reaches onClientDisconnected, which forgets them. */
  const closeWhere = (matches: (identity: UserIdentity) => boolean): number => {
    let closed = 0;
    for (const [client, state] of [...sessions]) {
      if (!matches(state.identity)) continue;
      const reason = REVOKED_REASON_STRING;
      if (broker?.disconnectClient(client.clientId, ReasonCode.AdministrativeAction, reason) === true) closed++;
    }
    if (closed > 0) logger.info({ closed }, 'closed user sessions whose credentials were revoked or changed');
    return closed;
  };
  const unsubscribe = options.changes?.subscribe((change) => {
    if (sessions.size === 0) return;
    switch (change.entity) {
      case 'user':
        if (change.op === 'deleted' || (change.op === 'updated' && change.before?.role !== change.after?.role)) {
          closeWhere((identity) => identity.subject === change.id);
        }
        return;
      case 'apiKey':
        if (change.op === 'deleted') closeWhere((identity) => identity.subject === change.id);
        return;
      case 'organization':
        if (change.op === 'deleted') closeWhere((identity) => identity.orgId === change.id);
        return;
      default:
        return;
    }
  });

  return {
    name: 'users',
    ownsIdentity: isUserIdentity,
    authStep: createUsersAuthStep(options.auth, logger, options.nowMs),
    httpPlugin: feedViewerPlugin,

    authorizePublish: (client, topicName) => {
      const identity = client.identity;
      if (!isUserIdentity(identity)) return true;
      const decision = decidePublish(identity, topicName);
      if (decision === true) return true;
      return refusePublish(
        client,
        topicName,
        decision === 'role' ? `the ${identity.role} role may not publish` : 'the placeos/ feed is read-only',
      );
    },

    authorizeSubscribe: (client, topicFilter, qos) => {
      const identity = client.identity;
      if (!isUserIdentity(identity)) return qos;
      const decision = decideSubscribe(identity, topicFilter, qos);
      if (!('granted' in decision)) return decision.reasonCode;
      return decision.guard === undefined ? decision.granted : { qos: decision.granted, guard: decision.guard };
    },

    canDeliver: (guard, message) => isDeliverable(guard, message.topicName, isOwnedByAnotherDialect),

    onClientConnected: (client) => {
      const identity = client.identity;
      if (!isUserIdentity(identity)) return;
      sessions.set(client, { identity, refusedPublishes: 0 });
      if (identity.expiresAtMs !== undefined) deadlines.arm(client, identity.expiresAtMs);
    },

    onClientDisconnected: (client) => {
      const state = sessions.get(client);
      if (state === undefined) return;
      sessions.delete(client);
      deadlines.disarm(client);
      if (state.refusedPublishes > 1) {
        logger.info(
          { clientId: client.clientId, subject: state.identity.subject, refusedPublishes: state.refusedPublishes },
          'user session ended; its refused publishes',
        );
      }
    },

    attach: (attached) => {
      broker = attached;
      deadlines.attach(attached);
    },

    closeSessionsOf: (subject) => closeWhere((identity) => identity.subject === subject),

    close: () => {
      unsubscribe?.();
      deadlines.clear();
    },

    get sessionCount() {
      return sessions.size;
    },
  };
}
