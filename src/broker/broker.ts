/**
 * The broker: owns sessions, the subscription trie, retained messages and wills; routes every message; accepts
 * connections from any transport. Per-connection protocol work happens in Channel, bytes in Connection, and the
 * store is written behind through the PersistenceQueue.
 */
import { isUtf8 } from 'node:buffer';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import { ReasonCode } from '../mqtt/codec/index.js';
import type { ConnectPacket, QoS, SubscriptionRequest, WillMessage } from '../mqtt/codec/index.js';
import {
  countTopicLevels,
  isValidTopicFilter,
  isValidTopicName,
  parseSharedSubscription,
  RetainedIndex,
  SubscriptionTrie,
} from '../mqtt/topics/index.js';
import type { BrokerStore, StoredMessage } from '../storage/index.js';
import { isAllowedByAcl } from './acl.js';
import { Channel } from './channel.js';
import { Connection, DeadlineSweeper } from './connection.js';
import { forwardableProperties, ownPayload } from './message.js';
import type { Message } from './message.js';
import type {
  AclRule,
  AuthenticateResult,
  BrokerHooks,
  BrokerLimits,
  BrokerOptions,
  ConnectionInfo,
  InboundMessage,
  MessageVerdict,
} from './options.js';
import { PersistenceQueue } from './persistence.js';
import { Session } from './session.js';
import type { Subscription } from './session.js';
import type { SessionHost } from './session-host.js';
import { SysTopicsPublisher } from './sys-topics.js';
import type { PendingWill, WillState } from './will.js';

/** Members of one `$share/{name}/{filter}` group; each message goes to one of them (MQTT 5 §4.8.2). */
interface SharedGroup {
  readonly kind: 'shared';
  readonly shareName: string;
  readonly members: Subscription[];
  /** Round-robin cursor. */
  next: number;
}

type RouteTarget = Subscription | SharedGroup;

/** What SUBSCRIBE produced: per-filter reason codes, whether SUBACK waits for a commit, retained work after it. */
export interface SubscribeResult {
  reasonCodes: number[];
  needsCommit: boolean;
  afterSuback: (() => void) | undefined;
}

/** Counters behind `$SYS` and metrics. */
export interface BrokerStats {
  clientsConnected: number;
  messagesReceived: number;
  messagesSent: number;
  messagesDropped: number;
  connectsRefused: number;
  subscriptions: number;
  retainedMessages: number;
  sessions: number;
  /** Broker store transactions committed. */
  storeCommits: number;
  /** Writes the broker queued for its store, and those left to write after compaction (batch-compaction.ts). */
  storeOpsQueued: number;
  storeOpsWritten: number;
}

/** Timers cannot wait longer than this (about 24.8 days); longer waits re-arm. */
const MAX_TIMER_MS = 2_147_483_647;
const NEVER_EXPIRES = 0xffffffff;

export class Broker implements SessionHost {
  readonly limits: BrokerLimits;
  readonly logger: Logger;
  readonly persistence: PersistenceQueue;
  readonly startedAtMs = Date.now();
  readonly version: string;
  readonly #acl: readonly AclRule[];
  readonly #allowAnonymous: boolean;
  readonly #hooks: BrokerHooks;
  readonly #store: BrokerStore;
  readonly #sessions = new Map<string, Session>();
  readonly #trie = new SubscriptionTrie<RouteTarget>();
  readonly #retained = new RetainedIndex<Message>();
  readonly #pendingWills = new Map<string, PendingWill>();
  /** Shared groups by `$share/{name}/{filter}`. */
  readonly #sharedGroups = new Map<string, SharedGroup>();
  readonly #sys: SysTopicsPublisher;
  readonly #sweeper: DeadlineSweeper;
  /** Reused by every route() call: the trie fills it, the loop reads it. */
  readonly #matches: RouteTarget[] = [];
  readonly #targets: Session[] = [];
  #routeStamp = 0;
  #nextMessageId = 1;
  #nextDeliverySeq = 1;
  #isClosing = false;
  #clientsConnected = 0;
  #messagesReceived = 0;
  #messagesSent = 0;
  #messagesDropped = 0;
  #connectsRefused = 0;
  #lastRetainedLimitLogMs = 0;

  constructor(options: BrokerOptions) {
    this.limits = options.limits;
    this.logger = options.logger;
    this.#acl = options.acl;
    this.#allowAnonymous = options.allowAnonymous;
    this.#hooks = options.hooks ?? {};
    this.#store = options.store;
    this.version = options.version ?? '0.0.0';
    this.persistence = new PersistenceQueue(options.store, options.logger);
    this.#sys = new SysTopicsPublisher(this, options.limits.sysIntervalSeconds);
    this.#sweeper = new DeadlineSweeper(options.limits.connectTimeoutMs, options.limits.drainDeadlineMs);
  }

  /** Loads the persisted sessions, deliveries and retained messages, and starts the $SYS timer. */
  start(): void {
    const snapshot = this.#store.load();
    this.#nextMessageId = snapshot.maxMessageId + 1;
    this.#nextDeliverySeq = snapshot.maxDeliverySeq + 1;
    const nowMs = Date.now();
    const messages = new Map<number, Message>();
    for (const stored of snapshot.messages.values()) messages.set(stored.id, messageFromStored(stored));
    for (const stored of snapshot.retained) {
      const message = messageFromStored(stored);
      message.id = 0; // retained rows are self-contained, not message rows
      this.#retained.set(stored.topicName, message);
    }
    for (const stored of snapshot.sessions) {
      const session = new Session(this, stored.clientId, stored.sessionExpiryIntervalSeconds, stored.protocolVersion);
      session.disconnectedAtMs = stored.disconnectedAtMs ?? nowMs;
      this.#sessions.set(stored.clientId, session);
      for (const sub of snapshot.subscriptions.get(stored.clientId) ?? []) {
        const shared = parseSharedSubscription(sub.topicFilter);
        const filter = shared.kind === 'shared' ? shared.topicFilter : sub.topicFilter;
        if (shared.kind === 'malformed' || !isValidTopicFilter(filter)) {
          this.logger.warn(
            { clientId: stored.clientId, topicFilter: sub.topicFilter },
            'skipping invalid stored subscription',
          );
          continue;
        }
        this.#addSubscription(session, {
          kind: 'direct',
          session,
          topicFilter: sub.topicFilter,
          qos: sub.qos,
          noLocal: sub.noLocal,
          retainAsPublished: sub.retainAsPublished,
          retainHandling: sub.retainHandling,
          subscriptionId: sub.subscriptionId,
          shareName: shared.kind === 'shared' ? shared.shareName : undefined,
          guard: sub.guard,
        });
      }
      for (const delivery of snapshot.deliveries.get(stored.clientId) ?? []) {
        const message = messages.get(delivery.messageId);
        if (message === undefined) continue;
        message.storedRefs++;
        session.restoreDelivery({
          message,
          qos: delivery.qos,
          isRetained: delivery.isRetained,
          subscriptionIds: delivery.subscriptionIds.length > 0 ? delivery.subscriptionIds : undefined,
          packetId: delivery.packetId,
          state: delivery.state,
          seq: delivery.seq,
          sharedGroup: undefined,
        });
      }
      for (const packetId of snapshot.incomingQos2.get(stored.clientId) ?? []) session.incomingQos2.add(packetId);
      this.#scheduleExpiry(session);
    }
    this.persistence.flush();
    this.logger.info(
      { sessions: this.#sessions.size, retained: this.#retained.size, store: this.#store.kind },
      'broker state loaded',
    );
    this.#sys.start();
  }

  /** Takes over a connected byte stream from any transport. */
  handleConnection(stream: Duplex, info: ConnectionInfo): void {
    if (this.#isClosing) {
      stream.destroy();
      return;
    }
    const connection = new Connection(stream, this.limits.maxPacketSizeBytes, this.#sweeper);
    const channel = new Channel(this, connection, info);
    connection.attach(channel);
  }

  /**
   * Publishes a message from the platform (not from a client), e.g. a server-side RPC or a feed update. With
   * `persistRetained: false` a retained message is kept in memory only (it replaces, and deletes from the store, a
   * stored one of the same topic): for state the caller republishes at every start. With `guardedOnly: true` only
   * subscriptions granted with a delivery guard receive it, as `canDeliver` decides (not retained: a stored retained
   * message would lose the mark).
   */
  publish(message: InboundMessage, options?: { persistRetained?: boolean; guardedOnly?: boolean }): void {
    if (options?.guardedOnly === true && message.isRetained) {
      throw new RangeError('a guarded-only message cannot be retained');
    }
    const built = this.#buildMessage(message, '', true);
    if (options?.persistRetained === false) built.isRetainedInMemoryOnly = true;
    if (options?.guardedOnly === true) built.isGuardedOnly = true;
    this.#routeAndRetain(built, undefined);
  }

  /**
   * Sends a message to one connected client whether or not it subscribed (replies on the request topic).
   * `onAcknowledged` runs once the client has it: QoS 0 when written, QoS 1 on PUBACK, QoS 2 on PUBCOMP; not at all
   * if the connection ends first. Returns false when the client is not connected.
   */
  sendToClient(clientId: string, message: InboundMessage, onAcknowledged?: () => void): boolean {
    const session = this.#sessions.get(clientId);
    if (session?.sink === undefined) return false;
    const built = this.#buildMessage(message, '', true);
    built.onAcknowledged = onAcknowledged;
    session.deliver(built, message.qos, false, undefined);
    if (message.qos === 0 && onAcknowledged !== undefined) queueMicrotask(onAcknowledged);
    return true;
  }

  /**
   * Closes one connected client's connection (v5 DISCONNECT with the code), e.g. 0x8E when a device's newer
   * connection under another client id takes over, 0x98 after an administrative change. False when not connected.
   */
  disconnectClient(clientId: string, reasonCode: number, reasonString: string): boolean {
    const sink = this.#sessions.get(clientId)?.sink;
    if (!(sink instanceof Channel)) return false;
    sink.disconnect(reasonCode, reasonString);
    return true;
  }

  get stats(): BrokerStats {
    const persistence = this.persistence.stats;
    return {
      clientsConnected: this.#clientsConnected,
      messagesReceived: this.#messagesReceived,
      messagesSent: this.#messagesSent,
      messagesDropped: this.#messagesDropped,
      connectsRefused: this.#connectsRefused,
      subscriptions: this.#trie.size,
      retainedMessages: this.#retained.size,
      sessions: this.#sessions.size,
      storeCommits: persistence.commits,
      storeOpsQueued: persistence.opsQueued,
      storeOpsWritten: persistence.opsWritten,
    };
  }

  /** Disconnects every client with 0x8B, commits what is pending and closes the store. */
  async close(): Promise<void> {
    if (this.#isClosing) return;
    this.#isClosing = true;
    this.#sys.stop();
    this.#sweeper.stop();
    // Commit first: held acknowledgements go out before the DISCONNECT.
    await this.persistence.drain();
    this.#sweeper.disconnectAll(ReasonCode.ServerShuttingDown, 'server shutting down');
    for (const pending of this.#pendingWills.values()) clearTimeout(pending.timer);
    this.#pendingWills.clear();
    for (const session of this.#sessions.values()) {
      if (session.expiryTimer !== undefined) clearTimeout(session.expiryTimer);
    }
    await this.persistence.drain();
    await new Promise<void>((resolve) => setImmediate(resolve));
    await this.persistence.drain();
    await this.#store.close();
  }

  // ---- counters ----------------------------------------------------------------------------------------------

  countDropped(count: number): void {
    this.#messagesDropped += count;
  }
  countSent(): void {
    this.#messagesSent++;
  }
  countReceived(): void {
    this.#messagesReceived++;
  }
  countRefusedConnect(): void {
    this.#connectsRefused++;
  }

  // ---- SessionHost -------------------------------------------------------------------------------------------

  persistMessage(message: Message): void {
    if (message.id === 0) {
      message.id = this.#nextMessageId++;
      ownPayload(message);
      this.persistence.push({ op: 'putMessage', message: storedFromMessage(message) });
    }
    message.storedRefs++;
  }

  releaseMessage(message: Message): void {
    if (--message.storedRefs > 0 || message.id === 0) return;
    this.persistence.push({ op: 'deleteMessage', id: message.id });
    message.id = 0;
  }

  nextDeliverySeq(): number {
    return this.#nextDeliverySeq++;
  }

  // ---- for Channel: connect ----------------------------------------------------------------------------------

  authenticate(channel: Channel, connect: ConnectPacket): AuthenticateResult | Promise<AuthenticateResult> {
    const hook = this.#hooks.authenticate;
    if (hook !== undefined) {
      return hook({
        clientId: channel.clientId,
        username: connect.username,
        password: connect.password,
        protocolVersion: connect.protocolVersion,
        connection: channel.connection,
      });
    }
    if (this.#allowAnonymous) return { ok: true };
    // Without the platform there is no user database: nobody can prove who they are.
    return {
      ok: false,
      reasonCode: connect.username === undefined ? ReasonCode.NotAuthorized : ReasonCode.BadUserNameOrPassword,
    };
  }

  /** Validates a will at CONNECT: a valid topic name and, with format indicator 1, a UTF-8 payload. */
  checkWill(_channel: Channel, will: WillMessage): number {
    const topicReason = this.checkTopicName(will.topicName);
    if (topicReason !== ReasonCode.Success) return topicReason;
    if (will.properties?.payloadFormatIndicator === 1 && !isUtf8(will.payload)) {
      return ReasonCode.PayloadFormatInvalid;
    }
    return ReasonCode.Success;
  }

  makeWill(channel: Channel, will: WillMessage, sessionExpirySeconds: number): WillState {
    const message = this.#buildMessage(
      {
        topicName: will.topicName,
        payload: will.payload,
        qos: will.qos,
        isRetained: will.isRetained,
        properties: will.properties,
      },
      channel.clientId,
      channel.protocolVersion === 5, // will properties are forwarded like a PUBLISH's
    );
    ownPayload(message);
    message.expiresAtMs = 0; // set when published
    const delaySeconds = will.properties?.willDelayInterval ?? 0;
    return {
      message,
      delaySeconds: Math.min(delaySeconds, sessionExpirySeconds),
      messageExpirySeconds: channel.protocolVersion === 5 ? will.properties?.messageExpiryInterval : undefined,
      client: channel,
    };
  }

  /** Finds or creates the session for a CONNECT, taking over any connection that holds it ([MQTT-3.1.4-3]). */
  openSession(
    channel: Channel,
    cleanStart: boolean,
    expirySeconds: number,
  ): { session: Session; isSessionPresent: boolean } {
    const clientId = channel.clientId;
    let existing = this.#sessions.get(clientId);
    if (existing?.sink !== undefined) {
      existing.sink.takeOver();
      existing = this.#sessions.get(clientId);
    }
    const pendingWill = this.#pendingWills.get(clientId);
    if (pendingWill !== undefined) {
      this.#pendingWills.delete(clientId);
      clearTimeout(pendingWill.timer);
      // [MQTT-3.1.3-9] resuming the session within the delay cancels the will; a clean start ends the old session.
      if (cleanStart || existing === undefined) this.#publishWill(clientId, pendingWill.will);
    }
    if (existing !== undefined && cleanStart) {
      this.#endSession(existing);
      existing = undefined;
    }
    let session: Session;
    if (existing !== undefined) {
      session = existing;
      if (session.expiryTimer !== undefined) clearTimeout(session.expiryTimer);
      session.expiryTimer = undefined;
      const wasPersistent = session.isPersistent;
      session.expiryIntervalSeconds = expirySeconds;
      session.protocolVersion = channel.protocolVersion;
      if (wasPersistent && !session.isPersistent) this.persistence.push({ op: 'deleteSession', clientId });
    } else {
      session = new Session(this, clientId, expirySeconds, channel.protocolVersion);
      this.#sessions.set(clientId, session);
    }
    session.sink = channel;
    session.disconnectedAtMs = null;
    if (session.isPersistent) this.#persistSession(session);
    return { session, isSessionPresent: existing !== undefined };
  }

  clientConnected(channel: Channel): void {
    channel.isCountedAsConnected = true;
    this.#clientsConnected++;
    this.#hooks.onClientConnected?.(channel);
  }

  /** A connection ended: publish or schedule its will, detach its session, end or keep the session. */
  channelClosed(channel: Channel, isWillDiscarded: boolean, reasonCode: number): void {
    const session = channel.session;
    if (session === undefined) return;
    if (channel.isCountedAsConnected) {
      // Only a client that got its CONNACK was counted (and announced) as connected.
      channel.isCountedAsConnected = false;
      this.#clientsConnected--;
      this.#hooks.onClientDisconnected?.(channel, reasonCode);
    }
    if (channel.will !== undefined && !isWillDiscarded && !this.#isClosing) {
      this.#scheduleWill(channel.clientId, channel.will);
    }
    channel.will = undefined;
    if (session.sink !== channel) return; // already taken over
    session.sink = undefined;
    if (this.#isClosing) {
      if (session.isPersistent) {
        session.disconnectedAtMs = Date.now();
        this.#persistSession(session);
      }
      return;
    }
    if (!session.isPersistent) {
      this.#endSession(session);
      return;
    }
    session.disconnectedAtMs = Date.now();
    this.#persistSession(session);
    this.#scheduleExpiry(session);
  }

  /** v5 DISCONNECT may change the expiry ([MQTT-3.14.2-2] checked by the channel). */
  setSessionExpiry(session: Session, expirySeconds: number): void {
    const wasPersistent = session.isPersistent;
    session.expiryIntervalSeconds = expirySeconds;
    if (wasPersistent && !session.isPersistent)
      this.persistence.push({ op: 'deleteSession', clientId: session.clientId });
  }

  // ---- for Channel: publish ----------------------------------------------------------------------------------

  /** Topic name rules: valid ([MQTT-4.7.3-1]), within the length and level limits. */
  checkTopicName(topicName: string): number {
    if (!isValidTopicName(topicName)) return ReasonCode.TopicNameInvalid;
    const limits = this.limits;
    if (
      topicName.length * 3 > limits.maxTopicLengthBytes &&
      Buffer.byteLength(topicName) > limits.maxTopicLengthBytes
    ) {
      return ReasonCode.TopicNameInvalid;
    }
    if (limits.maxTopicLevels < 65_535 && countTopicLevels(topicName) > limits.maxTopicLevels) {
      return ReasonCode.TopicNameInvalid;
    }
    return ReasonCode.Success;
  }

  authorizePublish(channel: Channel, topicName: string, qos: QoS, isRetained: boolean): true | number {
    // $SYS is the broker's own tree.
    if (topicName.startsWith('$SYS/')) return ReasonCode.NotAuthorized;
    if (this.#acl.length > 0 && !isAllowedByAcl(this.#acl, 'publish', channel.clientId, channel.username, topicName)) {
      return ReasonCode.NotAuthorized;
    }
    const hook = this.#hooks.authorizePublish;
    return hook === undefined ? true : hook(channel, topicName, qos, isRetained);
  }

  inspectMessage(channel: Channel, message: InboundMessage): MessageVerdict | undefined {
    const hook = this.#hooks.onMessage;
    return hook === undefined ? undefined : hook(channel, message);
  }

  /** Routes a client's message; true when its acknowledgement must wait for a commit. */
  publishFromClient(channel: Channel, inbound: InboundMessage): boolean {
    const message = this.#buildMessage(inbound, channel.clientId, channel.protocolVersion === 5);
    return this.#routeAndRetain(message, channel.session);
  }

  // ---- for Channel: subscribe --------------------------------------------------------------------------------

  subscribe(
    channel: Channel,
    requests: readonly SubscriptionRequest[],
    subscriptionId: number,
  ): SubscribeResult | undefined {
    const session = channel.session!;
    const limits = this.limits;
    const reasonCodes: number[] = [];
    const retainedWork: Subscription[] = [];
    let needsCommit = false;
    for (const request of requests) {
      const shared = parseSharedSubscription(request.topicFilter);
      if (shared.kind === 'malformed') {
        reasonCodes.push(ReasonCode.TopicFilterInvalid);
        continue;
      }
      const filter = shared.kind === 'shared' ? shared.topicFilter : request.topicFilter;
      if (
        !isValidTopicFilter(filter) ||
        Buffer.byteLength(request.topicFilter) > limits.maxTopicLengthBytes ||
        countTopicLevels(filter) > limits.maxTopicLevels
      ) {
        reasonCodes.push(ReasonCode.TopicFilterInvalid);
        continue;
      }
      if (shared.kind === 'shared' && request.noLocal) {
        // [MQTT-3.8.3-4] No Local on a shared subscription is a protocol error.
        channel.disconnect(ReasonCode.ProtocolError, 'no local on a shared subscription');
        return undefined;
      }
      if (
        this.#acl.length > 0 &&
        !isAllowedByAcl(this.#acl, 'subscribe', channel.clientId, channel.username, request.topicFilter)
      ) {
        reasonCodes.push(ReasonCode.NotAuthorized);
        continue;
      }
      let grantedQos: QoS = request.qos;
      let guard: string | undefined;
      const hook = this.#hooks.authorizeSubscribe;
      if (hook !== undefined) {
        const verdict = hook(channel, request.topicFilter, request.qos);
        const granted = typeof verdict === 'number' ? verdict : verdict.qos;
        if (granted >= 0x80) {
          reasonCodes.push(granted);
          continue;
        }
        grantedQos = Math.min(granted, request.qos) as QoS;
        if (typeof verdict !== 'number') guard = verdict.guard;
      }
      let subscription = session.subscriptions.get(request.topicFilter);
      const isNew = subscription === undefined;
      if (subscription === undefined) {
        if (session.subscriptionCount >= limits.maxSubscriptionsPerClient) {
          reasonCodes.push(ReasonCode.QuotaExceeded);
          continue;
        }
        subscription = {
          kind: 'direct',
          session,
          topicFilter: request.topicFilter,
          qos: grantedQos,
          noLocal: request.noLocal,
          retainAsPublished: request.retainAsPublished,
          retainHandling: request.retainHandling,
          subscriptionId,
          shareName: shared.kind === 'shared' ? shared.shareName : undefined,
          guard,
        };
        this.#addSubscription(session, subscription);
      } else {
        // [MQTT-3.8.4-3] the same filter again replaces the subscription's options.
        subscription.qos = grantedQos;
        subscription.noLocal = request.noLocal;
        subscription.retainAsPublished = request.retainAsPublished;
        subscription.retainHandling = request.retainHandling;
        subscription.subscriptionId = subscriptionId;
        subscription.guard = guard;
      }
      if (session.isPersistent) {
        this.persistence.push({
          op: 'putSubscription',
          clientId: session.clientId,
          subscription: Session.storedSubscription(subscription),
        });
        needsCommit = true;
      }
      reasonCodes.push(grantedQos);
      // [MQTT-3.3.1-9..11] Retain Handling; shared subscriptions get no retained messages (MQTT 5 §4.8.2).
      if (shared.kind !== 'shared' && (request.retainHandling === 0 || (request.retainHandling === 1 && isNew))) {
        retainedWork.push(subscription);
      }
    }
    const afterSuback =
      retainedWork.length === 0
        ? undefined
        : (): void => {
            for (const subscription of retainedWork) this.#deliverRetained(subscription);
          };
    return { reasonCodes, needsCommit, afterSuback };
  }

  unsubscribe(channel: Channel, topicFilters: readonly string[]): { reasonCodes: number[]; needsCommit: boolean } {
    const session = channel.session!;
    const reasonCodes: number[] = [];
    let needsCommit = false;
    for (const topicFilter of topicFilters) {
      const subscription = session.subscriptionCount === 0 ? undefined : session.subscriptions.get(topicFilter);
      if (subscription === undefined) {
        reasonCodes.push(ReasonCode.NoSubscriptionExisted);
        continue;
      }
      this.#removeSubscription(subscription);
      if (session.isPersistent) {
        this.persistence.push({ op: 'deleteSubscription', clientId: session.clientId, topicFilter });
        needsCommit = true;
      }
      reasonCodes.push(ReasonCode.Success);
    }
    return { reasonCodes, needsCommit };
  }

  // ---- routing -----------------------------------------------------------------------------------------------

  #buildMessage(inbound: InboundMessage, publisherClientId: string, isV5: boolean): Message {
    const properties = isV5 ? inbound.properties : undefined;
    const expiry = properties?.messageExpiryInterval;
    return {
      id: 0,
      topicName: inbound.topicName,
      payload: inbound.payload,
      qos: inbound.qos,
      isRetained: inbound.isRetained,
      properties: properties === undefined ? undefined : forwardableProperties(properties),
      expiresAtMs: expiry === undefined ? 0 : Date.now() + expiry * 1000,
      publisherClientId,
      storedRefs: 0,
      isPayloadOwned: false,
      qos0Heads: undefined,
      isRetainedInMemoryOnly: false,
      isGuardedOnly: false,
      onAcknowledged: undefined,
    };
  }

  #routeAndRetain(message: Message, publisher: Session | undefined): boolean {
    let needsCommit = false;
    if (message.isRetained) needsCommit = this.#retain(message);
    return this.#route(message, publisher) || needsCommit;
  }

  /** [MQTT-3.3.1-5..7] keep the last retained message per topic; an empty payload deletes it. */
  #retain(message: Message): boolean {
    const topicName = message.topicName;
    const isSys = topicName.startsWith('$SYS/');
    const previous = this.#retained.get(topicName);
    if (message.payload.length === 0) {
      if (previous === undefined) return false;
      this.#retained.delete(topicName);
      if (isSys || previous.isRetainedInMemoryOnly) return false;
      this.persistence.push({ op: 'deleteRetained', topicName });
      return true;
    }
    if (previous === undefined && this.#retained.size >= this.limits.maxRetainedMessages) {
      this.#messagesDropped++;
      const nowMs = Date.now();
      if (nowMs - this.#lastRetainedLimitLogMs >= 10_000) {
        // Once per 10 s at most: a device retrying would otherwise flood the log.
        this.#lastRetainedLimitLogMs = nowMs;
        this.logger.warn({ topicName, limit: this.limits.maxRetainedMessages }, 'retained message limit reached');
      }
      return false;
    }
    ownPayload(message);
    this.#retained.set(topicName, message);
    if (isSys) return false;
    if (message.isRetainedInMemoryOnly) {
      // A stored message of this topic must not come back at the next start in place of the new one.
      if (previous === undefined || previous.isRetainedInMemoryOnly) return false;
      this.persistence.push({ op: 'deleteRetained', topicName });
      return true;
    }
    this.persistence.push({ op: 'putRetained', topicName, message: storedFromMessage(message) });
    return true;
  }

  /**
   * Delivers to every matching subscription once per session, at the highest QoS among its matching
   * subscriptions and with all their identifiers ([MQTT-3.3.4-2], [MQTT-3.3.4-3]); one member per shared group.
   */
  #route(message: Message, publisher: Session | undefined): boolean {
    const matches = this.#matches;
    matches.length = 0; // also after a route that threw half-way
    this.#targets.length = 0;
    const count = this.#trie.match(message.topicName, matches);
    if (count === 0) return false;
    const targets = this.#targets;
    const stamp = ++this.#routeStamp;
    for (let i = 0; i < count; i++) {
      const target = matches[i]!;
      let subscription: Subscription | undefined;
      if (target.kind === 'shared') {
        subscription = pickSharedMember(target);
        if (subscription === undefined) continue;
      } else {
        subscription = target;
        // [MQTT-3.8.3-3] No Local: not back to the publisher.
        if (subscription.noLocal && subscription.session === publisher) continue;
      }
      if (subscription.guard === undefined ? message.isGuardedOnly : !this.#isDeliverable(subscription.guard, message))
        continue;
      const session = subscription.session;
      if (session.routeStamp !== stamp) {
        session.routeStamp = stamp;
        session.routeQos = subscription.qos;
        session.routeRetainAsPublished = subscription.retainAsPublished;
        session.routeSubscriptionIds = subscription.subscriptionId === 0 ? undefined : [subscription.subscriptionId];
        session.routeSharedGroup = target.kind === 'shared' ? target : undefined;
        targets.push(session);
      } else {
        session.routeSharedGroup = undefined; // reached through more than one subscription: not the group's alone
        if (subscription.qos > session.routeQos) session.routeQos = subscription.qos;
        if (subscription.retainAsPublished) session.routeRetainAsPublished = true;
        if (subscription.subscriptionId !== 0) (session.routeSubscriptionIds ??= []).push(subscription.subscriptionId);
      }
    }
    matches.length = 0;
    let needsCommit = false;
    const messageQos = message.qos;
    for (let i = 0; i < targets.length; i++) {
      const session = targets[i]!;
      const qos = messageQos < session.routeQos ? messageQos : session.routeQos;
      // [MQTT-3.3.1-12] without Retain As Published the flag is cleared on normal delivery.
      const isRetained = session.routeRetainAsPublished && message.isRetained;
      if (session.deliver(message, qos, isRetained, session.routeSubscriptionIds, session.routeSharedGroup)) {
        needsCommit = true;
      }
    }
    targets.length = 0;
    return needsCommit;
  }

  #deliverRetained(subscription: Subscription): void {
    const session = subscription.session;
    const found: Message[] = [];
    this.#retained.matchFilter(subscription.topicFilter, found);
    const nowMs = Date.now();
    const ids = subscription.subscriptionId === 0 ? undefined : [subscription.subscriptionId];
    const guard = subscription.guard;
    for (const message of found) {
      if (guard !== undefined && !this.#isDeliverable(guard, message)) continue;
      if (message.expiresAtMs !== 0 && message.expiresAtMs <= nowMs) {
        this.#retained.delete(message.topicName);
        if (!message.topicName.startsWith('$SYS/'))
          this.persistence.push({ op: 'deleteRetained', topicName: message.topicName });
        continue;
      }
      // [MQTT-3.3.1-8] retained messages sent on subscribe carry the retain flag.
      const qos = message.qos < subscription.qos ? message.qos : subscription.qos;
      session.deliver(message, qos, true, ids);
    }
  }

  /** `canDeliver` for a guarded subscription; without the hook, or when it throws, nothing guarded is delivered. */
  #isDeliverable(guard: string, message: Message): boolean {
    const hook = this.#hooks.canDeliver;
    if (hook === undefined) return false;
    try {
      return hook(guard, message);
    } catch (error) {
      this.logger.error({ err: error, topicName: message.topicName }, 'canDeliver hook threw; not delivered');
      return false;
    }
  }

  #addSubscription(session: Session, subscription: Subscription): void {
    session.subscriptions.set(subscription.topicFilter, subscription);
    if (subscription.shareName === undefined) {
      this.#trie.add(subscription.topicFilter, session.clientId, subscription);
      return;
    }
    const filter = subscription.topicFilter.slice(subscription.shareName.length + 8); // "$share/" + name + "/"
    const groupKey = sharedGroupKey(subscription.shareName);
    let group = this.#sharedGroups.get(`${groupKey}/${filter}`);
    if (group === undefined) {
      group = { kind: 'shared', shareName: subscription.shareName, members: [], next: 0 };
      this.#sharedGroups.set(`${groupKey}/${filter}`, group);
      this.#trie.add(filter, groupKey, group);
    }
    group.members.push(subscription);
  }

  #removeSubscription(subscription: Subscription): void {
    const session = subscription.session;
    session.subscriptions.delete(subscription.topicFilter);
    if (subscription.shareName === undefined) {
      this.#trie.remove(subscription.topicFilter, session.clientId);
      return;
    }
    const filter = subscription.topicFilter.slice(subscription.shareName.length + 8);
    const groupKey = sharedGroupKey(subscription.shareName);
    const group = this.#sharedGroups.get(`${groupKey}/${filter}`);
    if (group === undefined) return;
    const index = group.members.indexOf(subscription);
    if (index >= 0) group.members.splice(index, 1);
    if (group.members.length === 0) {
      this.#trie.remove(filter, groupKey);
      this.#sharedGroups.delete(`${groupKey}/${filter}`);
    }
  }

  // ---- wills and expiry --------------------------------------------------------------------------------------

  #scheduleWill(clientId: string, will: WillState): void {
    if (will.delaySeconds === 0) {
      this.#publishWill(clientId, will);
      return;
    }
    const timer = setTimeout(() => {
      this.#pendingWills.delete(clientId);
      this.#publishWill(clientId, will);
    }, will.delaySeconds * 1000);
    timer.unref();
    this.#pendingWills.set(clientId, { will, timer });
  }

  /** A will is the client's last publication: the same ACL rules and hooks apply as to its PUBLISH. */
  #publishWill(clientId: string, will: WillState): void {
    let message = will.message;
    const client = will.client;
    if (this.#acl.length > 0 && !isAllowedByAcl(this.#acl, 'publish', clientId, client.username, message.topicName))
      return;
    const authorize = this.#hooks.authorizePublish;
    if (authorize !== undefined && authorize(client, message.topicName, message.qos, message.isRetained) !== true)
      return;
    const inspect = this.#hooks.onMessage;
    if (inspect !== undefined) {
      const verdict = inspect(client, message);
      // A consumed will is the platform's (it may store it); a will has no connection left to close.
      if (verdict !== undefined && verdict.action !== 'route') return;
      if (verdict?.message !== undefined) {
        message = this.#buildMessage(verdict.message, clientId, client.protocolVersion === 5);
        ownPayload(message);
      }
    }
    if (will.messageExpirySeconds !== undefined) message.expiresAtMs = Date.now() + will.messageExpirySeconds * 1000;
    this.#messagesReceived++;
    this.#routeAndRetain(message, undefined);
  }

  #scheduleExpiry(session: Session): void {
    if (session.expiryIntervalSeconds >= NEVER_EXPIRES) return;
    const remainingMs = session.expiryIntervalSeconds * 1000 - (Date.now() - (session.disconnectedAtMs ?? Date.now()));
    if (remainingMs <= 0) {
      this.#endSession(session);
      return;
    }
    session.expiryTimer = setTimeout(
      () => {
        session.expiryTimer = undefined;
        if (session.sink === undefined) this.#scheduleExpiry(session);
      },
      Math.min(remainingMs, MAX_TIMER_MS),
    );
    session.expiryTimer.unref();
  }

  /** The session ends: subscriptions leave the trie, its messages are dropped, a delayed will goes out now. */
  #endSession(session: Session): void {
    if (this.#sessions.get(session.clientId) !== session) return;
    this.#sessions.delete(session.clientId);
    if (session.expiryTimer !== undefined) clearTimeout(session.expiryTimer);
    const orphans = session.sharedDeliveriesToRedispatch();
    if (session.subscriptionCount > 0) {
      for (const subscription of [...session.subscriptions.values()]) this.#removeSubscription(subscription);
    }
    session.discardMessages();
    for (const orphan of orphans) this.#redispatch(orphan.message, orphan.sharedGroup as SharedGroup);
    this.persistence.push({ op: 'deleteSession', clientId: session.clientId });
    const pendingWill = this.#pendingWills.get(session.clientId);
    if (pendingWill !== undefined) {
      // [MQTT-3.1.3-9] the will goes out when the session ends, if that comes before its delay.
      this.#pendingWills.delete(session.clientId);
      clearTimeout(pendingWill.timer);
      this.#publishWill(session.clientId, pendingWill.will);
    }
  }

  /** Gives a message whose shared-group member went away to another member of the group, if one is left. */
  #redispatch(message: Message, group: SharedGroup): void {
    const member = pickSharedMember(group);
    if (member === undefined) {
      this.#messagesDropped++;
      return;
    }
    const qos = message.qos < member.qos ? message.qos : member.qos;
    const ids = member.subscriptionId === 0 ? undefined : [member.subscriptionId];
    member.session.deliver(message, qos, member.retainAsPublished && message.isRetained, ids, group);
  }

  #persistSession(session: Session): void {
    this.persistence.push({
      op: 'putSession',
      session: {
        clientId: session.clientId,
        protocolVersion: session.protocolVersion,
        sessionExpiryIntervalSeconds: session.expiryIntervalSeconds,
        disconnectedAtMs: session.disconnectedAtMs,
        will: undefined,
      },
    });
  }

  /** For $SYS: per-topic retained messages without going through a client. */
  publishSys(topicName: string, value: string): void {
    const message = this.#buildMessage(
      { topicName, payload: Buffer.from(value), qos: 0, isRetained: true, properties: undefined },
      '',
      false,
    );
    this.#routeAndRetain(message, undefined);
  }
}

/**
 * Trie key of a shared group. Ordinary subscriptions are keyed by client id, which can never contain U+0000
 * ([MQTT-1.5.4-2]), so the prefix keeps a client named `$share/g` from colliding with group `g`.
 */
function sharedGroupKey(shareName: string): string {
  return `\u0000${shareName}`;
}

/** Next live member round-robin; with none connected, a member whose session queues for later. */
function pickSharedMember(group: SharedGroup): Subscription | undefined {
  const members = group.members;
  const count = members.length;
  for (let k = 0; k < count; k++) {
    const index = (group.next + k) % count;
    const member = members[index]!;
    if (member.session.sink !== undefined) {
      group.next = index + 1;
      return member;
    }
  }
  for (let k = 0; k < count; k++) {
    const index = (group.next + k) % count;
    const member = members[index]!;
    if (member.session.isPersistent) {
      group.next = index + 1;
      return member;
    }
  }
  return undefined;
}

function messageFromStored(stored: StoredMessage): Message {
  return {
    id: stored.id,
    topicName: stored.topicName,
    payload: stored.payload,
    qos: stored.qos,
    isRetained: stored.isRetained,
    properties: stored.properties,
    expiresAtMs: stored.expiresAtMs,
    publisherClientId: stored.publisherClientId,
    storedRefs: 0,
    isPayloadOwned: true,
    qos0Heads: undefined,
    isRetainedInMemoryOnly: false,
    isGuardedOnly: false,
    onAcknowledged: undefined,
  };
}

function storedFromMessage(message: Message): StoredMessage {
  return {
    id: message.id,
    topicName: message.topicName,
    payload: message.payload,
    qos: message.qos,
    isRetained: message.isRetained,
    properties: message.properties,
    expiresAtMs: message.expiresAtMs,
    publisherClientId: message.publisherClientId,
  };
}
