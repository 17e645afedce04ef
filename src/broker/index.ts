/** The MQTT broker: sessions, routing, retained messages, wills, and the hooks the platform plugs into. */
export { Broker } from './broker.js';
export { DeferredAck } from './deferred-ack.js';
export type { DeferredAckOutcome } from './deferred-ack.js';
export type { BrokerStats } from './broker.js';
export type {
  AclRule,
  AuthenticateResult,
  BrokerHooks,
  BrokerLimits,
  BrokerOptions,
  ClientInfo,
  ConnectionInfo,
  ConnectRequest,
  GuardedGrant,
  GuardedMessage,
  InboundMessage,
  MessageVerdict,
} from './options.js';
