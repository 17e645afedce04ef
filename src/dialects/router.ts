/**
 * Composes the dialects into the broker's one set of hooks (choices.md "One broker, every dialect"):
 *
 * - CONNECT: the credential steps in the server's order (choices.md "Who connects"); the first that answers decides.
 *   When none does (no credentials any step recognises), the client is a plain anonymous one if the server allows
 *   anonymous access, else refused. Repeated refusals from one address are slowed down (auth-throttle.ts).
 * - A topic (for `$share/<group>/<filter>`: the filter) belongs to the first dialect whose `ownsTopic` says so, and
 *   that dialect decides every publish and subscribe there. A topic no dialect owns is plain MQTT: the client's own
 *   dialect (whose `ownsIdentity` holds) may apply its policy, else it is allowed (the broker's ACL still applies).
 * - A delivery guard `<name>:…` goes to the dialect of that name; an unknown one is not delivered.
 * - Connections and disconnections reach every dialect.
 */
import type {
  AuthenticateResult,
  Broker,
  BrokerHooks,
  ClientInfo,
  ConnectRequest,
  GuardedGrant,
  MessageVerdict,
} from '../broker/index.js';
import type { QoS } from '../mqtt/codec/index.js';
import { parseSharedSubscription } from '../mqtt/topics/topic-validation.js';
import type { AuthThrottle } from './auth-throttle.js';
import type { AuthStep, Dialect } from './dialect.js';

export interface DialectRouterOptions {
  dialects: readonly Dialect[];
  /** In order; see choices.md "Who connects". */
  authSteps: readonly AuthStep[];
  /** Whether a client no step recognises is let in as a plain anonymous client. */
  allowAnonymous: boolean;
  /** Called when a step throws (a store outage): the client is refused with 0x88 Server unavailable. */
  onAuthError?: ((error: unknown) => void) | undefined;
  /** Slows down repeated refusals from one address; none: refusals are answered at once. */
  throttle?: AuthThrottle | undefined;
}

export interface DialectRouter {
  readonly hooks: Required<
    Pick<
      BrokerHooks,
      | 'authenticate'
      | 'authorizePublish'
      | 'authorizeSubscribe'
      | 'onMessage'
      | 'canDeliver'
      | 'onClientConnected'
      | 'onClientDisconnected'
    >
  >;
  /** Hands the broker to every dialect. */
  attach(broker: Broker): void;
}

const REASON_NOT_AUTHORIZED = 0x87;
const REASON_BAD_CREDENTIALS = 0x86;
const REASON_SERVER_UNAVAILABLE = 0x88;
/** Shared: the broker only reads a result. */
const ANONYMOUS: AuthenticateResult = Object.freeze({ ok: true });

export function composeDialects(options: DialectRouterOptions): DialectRouter {
  const { dialects, authSteps, allowAnonymous } = options;
  const byName = new Map(dialects.map((dialect) => [dialect.name, dialect]));
  const owners = dialects.filter((dialect) => dialect.ownsTopic !== undefined);

  const ownerOf = (topic: string): Dialect | undefined => {
    for (const dialect of owners) if (dialect.ownsTopic!(topic)) return dialect;
    return undefined;
  };
  const dialectOf = (client: ClientInfo): Dialect | undefined => {
    const identity = client.identity;
    if (identity === undefined) return undefined;
    for (const dialect of dialects) if (dialect.ownsIdentity(identity)) return dialect;
    return undefined;
  };
  /** The dialect that decides for this client and topic: the namespace's owner, else the client's own. */
  const decider = (client: ClientInfo, topic: string): Dialect | undefined => ownerOf(topic) ?? dialectOf(client);

  const serverUnavailable = (error: unknown): AuthenticateResult => {
    options.onAuthError?.(error);
    return { ok: false, reasonCode: REASON_SERVER_UNAVAILABLE };
  };

  /**
   * The steps from `first` on. Most steps tell at once that credentials are not theirs, so the steps run
   * synchronously until one answers with a promise; only then does the rest wait. A connect that no step claims
   * (an anonymous client) costs no promise at all, which matters for a reconnect storm.
   */
  const decide = (request: ConnectRequest, first: number): AuthenticateResult | Promise<AuthenticateResult> => {
    for (let index = first; index < authSteps.length; index++) {
      let answer: ReturnType<AuthStep>;
      try {
        answer = authSteps[index]!(request);
      } catch (error) {
        return serverUnavailable(error);
      }
      if (answer === undefined) continue;
      if (!(answer instanceof Promise)) return answer;
      return answer.then((result) => result ?? decide(request, index + 1), serverUnavailable);
    }
    if (allowAnonymous) return ANONYMOUS;
    // Nothing was presented that names anyone: v5 "not authorized"; 3.1.1 0x04 (as ThingsBoard answers it).
    return { ok: false, reasonCode: request.protocolVersion === 5 ? REASON_NOT_AUTHORIZED : REASON_BAD_CREDENTIALS };
  };

  /** Tells the throttle how the attempt went; a refusal may be held back (the returned promise). */
  const throttled = (
    request: ConnectRequest,
    result: AuthenticateResult,
  ): AuthenticateResult | Promise<AuthenticateResult> => {
    const throttle = options.throttle;
    if (throttle === undefined) return result;
    if (result.ok) {
      // Reading the address is a system call; skip it while no address has failed.
      if (throttle.remembersFailures) throttle.succeeded(request.connection.remoteAddress);
      return result;
    }
    if (result.reasonCode === REASON_SERVER_UNAVAILABLE) return result;
    return throttle.refused(request.connection.remoteAddress).then(() => result);
  };

  const authenticate = (request: ConnectRequest): AuthenticateResult | Promise<AuthenticateResult> => {
    const result = decide(request, 0);
    return result instanceof Promise ? result.then((value) => throttled(request, value)) : throttled(request, result);
  };

  const hooks: DialectRouter['hooks'] = {
    authenticate,

    authorizePublish: (client, topicName, qos, isRetained) =>
      decider(client, topicName)?.authorizePublish?.(client, topicName, qos, isRetained) ?? true,

    authorizeSubscribe: (client, topicFilter, qos): number | GuardedGrant => {
      const shared = parseSharedSubscription(topicFilter);
      // The owner judges the filter a shared subscription stands for; the broker has validated its syntax already.
      const filter = shared.kind === 'shared' ? shared.topicFilter : topicFilter;
      return decider(client, filter)?.authorizeSubscribe?.(client, filter, qos) ?? (qos satisfies QoS);
    },

    onMessage: (client, message): MessageVerdict | undefined =>
      decider(client, message.topicName)?.onMessage?.(client, message),

    canDeliver: (guard, message) => {
      const colon = guard.indexOf(':');
      const dialect = colon > 0 ? byName.get(guard.slice(0, colon)) : undefined;
      return dialect?.canDeliver?.(guard, message) ?? false;
    },

    onClientConnected: (client) => {
      for (const dialect of dialects) dialect.onClientConnected?.(client);
    },

    onClientDisconnected: (client, reasonCode) => {
      for (const dialect of dialects) dialect.onClientDisconnected?.(client, reasonCode);
    },
  };

  return {
    hooks,
    attach: (broker) => {
      for (const dialect of dialects) dialect.attach?.(broker);
    },
  };
}
