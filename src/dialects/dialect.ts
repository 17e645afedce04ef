/**
 * A dialect: one device API's adapter between its topic namespace and the platform (choices.md "One broker, every
 * dialect"). The server composes every dialect into the broker's hooks with `composeDialects` (router.ts); a dialect
 * never sees another's messages, only the broker's and the platform's interfaces.
 */
import type {
  AuthenticateResult,
  Broker,
  ClientInfo,
  ConnectRequest,
  GuardedGrant,
  GuardedMessage,
  InboundMessage,
  MessageVerdict,
} from '../broker/index.js';
import type { QoS } from '../mqtt/codec/index.js';

export interface Dialect {
  /** Also the prefix of the delivery guards it grants: `<name>:…`. */
  readonly name: string;
  /** True for identities this dialect's auth steps attach (`client.identity`). */
  ownsIdentity(identity: unknown): boolean;
  /**
   * True for topic names and filters in its namespace; the router passes the filter inside `$share/<group>/`. The
   * owner decides every publish and subscribe there, for every client (it refuses identities it does not serve).
   */
  ownsTopic?(topic: string): boolean;
  /**
   * The hooks below are asked for topics the dialect owns, and for topics no dialect owns when the client is its own
   * (its policy for plain MQTT). Absent: allowed (the broker's ACL rules still apply).
   */
  authorizePublish?(client: ClientInfo, topicName: string, qos: QoS, isRetained: boolean): true | number;
  authorizeSubscribe?(client: ClientInfo, topicFilter: string, qos: QoS): number | GuardedGrant;
  onMessage?(client: ClientInfo, message: InboundMessage): MessageVerdict | undefined;
  /** Judges the guards it granted (those starting with `<name>:`). */
  canDeliver?(guard: string, message: GuardedMessage): boolean;
  /** Every connection and disconnection, whoever the client is. */
  onClientConnected?(client: ClientInfo): void;
  onClientDisconnected?(client: ClientInfo, reasonCode: number): void;
  /** Called once the broker exists (replies, downlinks and feeds are sent through it). */
  attach?(broker: Broker): void;
}

/**
 * One credential step: undefined means "not my kind of credentials" and the next step is asked; a result decides.
 * Refusals use v5 codes (0x86 bad user name or password, 0x87 not authorized); the broker maps them for 3.1.1.
 */
export type AuthStep = (
  request: ConnectRequest,
) => AuthenticateResult | undefined | Promise<AuthenticateResult | undefined>;
