/**
 * A client's session: its subscriptions, the messages on their way to it (queued and in flight), and the QoS 2
 * packet ids it has sent us and not yet released. It outlives connections when its expiry interval is non-zero;
 * such sessions write every change through the persistence queue.
 */
import type { QoS } from '../mqtt/codec/index.js';
import type { StoredDelivery, StoredSubscription } from '../storage/index.js';
import type { Delivery, Message, SharedGroupRef } from './message.js';
import { ownPayload } from './message.js';
import type { SessionHost, SessionSink } from './session-host.js';

/** A subscription as the router holds it. */
export interface Subscription {
  readonly kind: 'direct';
  readonly session: Session;
  /** As requested, including a `$share/{name}/` prefix. */
  readonly topicFilter: string;
  qos: QoS;
  noLocal: boolean;
  retainAsPublished: boolean;
  retainHandling: 0 | 1 | 2;
  /** 0 = none. */
  subscriptionId: number;
  /** Set for shared subscriptions. */
  readonly shareName: string | undefined;
  /**
   * Set when `authorizeSubscribe` granted the filter with a delivery guard: every message the filter matches is
   * delivered only if `canDeliver(guard, …)` allows it (e.g. another tenant's topics a wildcard also matches).
   */
  guard: string | undefined;
}

/** Packet identifiers are 1 to 65535 ([MQTT-2.3.1-1] non-zero, two bytes). */
const MAX_PACKET_ID = 0xffff;

/**
 * The queue of every session that never queued anything: most clients are online when their messages arrive, and an
 * idle connection should not carry an empty array. Frozen, so a push that skipped the swap fails loudly.
 */
const NO_DELIVERIES: Delivery[] = [];
Object.freeze(NO_DELIVERIES);

export class Session {
  readonly clientId: string;
  /** Seconds the session outlives its connection; 0 = ends with it. */
  expiryIntervalSeconds: number;
  protocolVersion: 3 | 4 | 5;
  /** The connection currently attached, if any. */
  sink: SessionSink | undefined;
  // The collections are created on first use: an idle connection's session should cost a few fields, not three
  // hash tables.
  #subscriptions: Map<string, Subscription> | undefined;
  #inflight: Map<number, Delivery> | undefined;
  #incomingQos2: Set<number> | undefined;
  /** Queued deliveries; `#queueHead` avoids O(n) shifts. Shared and frozen while nothing was ever queued. */
  #queue: Delivery[] = NO_DELIVERIES;
  #queueHead = 0;
  #queuedQos0 = 0;
  #nextPacketId = 1;
  /** Epoch ms of the last disconnect (for expiry after a restart). */
  disconnectedAtMs: number | null = null;
  expiryTimer: NodeJS.Timeout | undefined;
  /** Scratch fields the router uses to merge overlapping subscriptions into one delivery ([MQTT-3.3.4-2], MQTT 5 §3.3.4). */
  routeStamp = 0;
  routeQos: QoS = 0;
  routeRetainAsPublished = false;
  routeSubscriptionIds: number[] | undefined;
  /** The shared group this route reached the session through, if only through one. */
  routeSharedGroup: SharedGroupRef | undefined;

  readonly #host: SessionHost;

  constructor(host: SessionHost, clientId: string, expiryIntervalSeconds: number, protocolVersion: 3 | 4 | 5) {
    this.#host = host;
    this.clientId = clientId;
    this.expiryIntervalSeconds = expiryIntervalSeconds;
    this.protocolVersion = protocolVersion;
  }

  /** Subscriptions by filter as requested (including any `$share/{name}/` prefix). */
  get subscriptions(): Map<string, Subscription> {
    return (this.#subscriptions ??= new Map<string, Subscription>());
  }

  /** Outbound QoS 1/2 awaiting PUBACK/PUBREC/PUBCOMP, by packet id, in send order. */
  get inflight(): Map<number, Delivery> {
    return (this.#inflight ??= new Map<number, Delivery>());
  }

  /** Inbound QoS 2 packet ids received and not yet released ([MQTT-4.3.3-9]). */
  get incomingQos2(): Set<number> {
    return (this.#incomingQos2 ??= new Set<number>());
  }

  get subscriptionCount(): number {
    return this.#subscriptions?.size ?? 0;
  }

  get inflightCount(): number {
    return this.#inflight?.size ?? 0;
  }

  get incomingQos2Count(): number {
    return this.#incomingQos2?.size ?? 0;
  }

  /** Whether the session is written to the store (it may outlive its connection). */
  get isPersistent(): boolean {
    return this.expiryIntervalSeconds > 0;
  }

  get queuedCount(): number {
    return this.#queue.length - this.#queueHead;
  }

  /**
   * Hands one message to the session: sent at once when the client is connected, writable and has window left,
   * queued otherwise (QoS 0 only while connected). Returns true when it queued a store write the publisher's
   * acknowledgement must wait for.
   */
  deliver(
    message: Message,
    qos: QoS,
    isRetained: boolean,
    subscriptionIds: number[] | undefined,
    sharedGroup?: SharedGroupRef,
  ): boolean {
    const sink = this.sink;
    if (qos === 0) {
      if (sink === undefined) return false; // QoS 0 is not queued for offline clients
      if (this.queuedCount === 0 && sink.isWritable) {
        sink.sendPublish(message, 0, isRetained, subscriptionIds, 0, false);
        return false;
      }
      const delivery: Delivery = {
        message,
        qos,
        isRetained,
        subscriptionIds,
        packetId: 0,
        state: 'queued',
        seq: 0,
        sharedGroup,
      };
      this.#enqueue(delivery);
      return false;
    }
    const delivery: Delivery = {
      message,
      qos,
      isRetained,
      subscriptionIds,
      packetId: 0,
      state: 'queued',
      seq: 0,
      sharedGroup,
    };
    const canSendNow =
      sink !== undefined && this.queuedCount === 0 && sink.isWritable && this.inflightCount < sink.sendQuota;
    if (!canSendNow && !this.#makeRoom()) {
      this.#host.countDropped(1);
      return false;
    }
    ownPayload(message); // kept until acknowledged, possibly across a reconnect
    let needsCommit = false;
    if (this.isPersistent) {
      this.#host.persistMessage(message);
      delivery.seq = this.#host.nextDeliverySeq();
      needsCommit = true;
    }
    if (canSendNow) this.#send(delivery, sink);
    else this.#queuePush(delivery);
    if (needsCommit) this.#host.persistence.push({ op: 'putDelivery', delivery: this.#stored(delivery) });
    return needsCommit;
  }

  /** Sends queued deliveries while the client is writable and has window left. */
  pump(): void {
    const sink = this.sink;
    if (sink === undefined || this.#queueHead === this.#queue.length) return;
    const nowMs = Date.now();
    while (this.#queueHead < this.#queue.length && sink.isWritable) {
      const delivery = this.#queue[this.#queueHead]!;
      if (delivery.qos > 0 && this.inflightCount >= sink.sendQuota) break;
      this.#queueShift();
      if (delivery.message.expiresAtMs !== 0 && delivery.message.expiresAtMs <= nowMs) {
        this.#forget(delivery); // [MQTT-3.3.2-5] expired while queued
        continue;
      }
      if (delivery.qos === 0) {
        sink.sendPublish(delivery.message, 0, delivery.isRetained, delivery.subscriptionIds, 0, false);
        continue;
      }
      this.#send(delivery, sink);
      if (this.isPersistent) this.#host.persistence.push({ op: 'putDelivery', delivery: this.#stored(delivery) });
    }
  }

  /** [MQTT-4.4.0-1] On resumption: resend unacknowledged PUBLISH (DUP set) and PUBREL, with their packet ids. */
  resendInflight(): void {
    const sink = this.sink;
    if (sink === undefined || this.#inflight === undefined) return;
    const nowMs = Date.now();
    for (const delivery of this.#inflight.values()) {
      if (delivery.state === 'released') {
        sink.sendPubrel(delivery.packetId);
      } else if (delivery.message.expiresAtMs !== 0 && delivery.message.expiresAtMs <= nowMs) {
        this.inflight.delete(delivery.packetId);
        this.#forget(delivery);
      } else {
        sink.sendPublish(
          delivery.message,
          delivery.qos,
          delivery.isRetained,
          delivery.subscriptionIds,
          delivery.packetId,
          true,
        );
      }
    }
  }

  /** PUBACK (QoS 1) or PUBCOMP (QoS 2) from the client: the delivery is complete. Returns false if unknown. */
  complete(packetId: number, expectedState: 'sent' | 'released'): boolean {
    const delivery = this.#inflight?.get(packetId);
    if (delivery === undefined || delivery.state !== expectedState) return false;
    if (expectedState === 'sent' && delivery.qos !== 1) return false;
    this.inflight.delete(packetId);
    this.#forget(delivery);
    delivery.message.onAcknowledged?.();
    return true;
  }

  /** PUBREC from the client: success moves to 'released' (caller sends PUBREL); an error code ends the delivery. */
  received(packetId: number, reasonCode: number): boolean {
    const delivery = this.#inflight?.get(packetId);
    if (delivery === undefined || delivery.qos !== 2 || delivery.state === 'queued') return false;
    if (reasonCode >= 0x80) {
      // MQTT 5 §4.3.3: a PUBREC with an error ends the exchange; the packet id is free again.
      this.inflight.delete(packetId);
      this.#forget(delivery);
      return true;
    }
    delivery.state = 'released';
    if (this.isPersistent) this.#host.persistence.push({ op: 'putDelivery', delivery: this.#stored(delivery) });
    return true;
  }

  /** Subscription as stored. */
  static storedSubscription(subscription: Subscription): StoredSubscription {
    return {
      topicFilter: subscription.topicFilter,
      qos: subscription.qos,
      noLocal: subscription.noLocal,
      retainAsPublished: subscription.retainAsPublished,
      retainHandling: subscription.retainHandling,
      subscriptionId: subscription.subscriptionId,
      ...(subscription.guard === undefined ? {} : { guard: subscription.guard }),
    };
  }

  /** Restores a delivery loaded from the store: in flight keeps its packet id, queued goes to the queue. */
  restoreDelivery(delivery: Delivery): void {
    if (delivery.state === 'queued') this.#queuePush(delivery);
    else this.inflight.set(delivery.packetId, delivery);
  }

  /**
   * At the session's end: the deliveries another member of their shared group should get instead. Queued ones never
   * reached this client; unacknowledged QoS 1 SHOULD go to another member (MQTT 5 §4.8.2); QoS 2 already sent MUST
   * NOT ([MQTT-4.8.2-5]).
   */
  sharedDeliveriesToRedispatch(): Delivery[] {
    const found: Delivery[] = [];
    for (let i = this.#queueHead; i < this.#queue.length; i++) {
      const delivery = this.#queue[i]!;
      if (delivery.sharedGroup !== undefined) found.push(delivery);
    }
    if (this.#inflight !== undefined) {
      for (const delivery of this.#inflight.values()) {
        if (delivery.sharedGroup !== undefined && delivery.qos === 1) found.push(delivery);
      }
    }
    return found;
  }

  /** Drops everything the session holds (its end); stored state is removed by the caller with deleteSession. */
  discardMessages(): void {
    if (this.#inflight !== undefined) {
      for (const delivery of this.#inflight.values()) this.#unref(delivery);
      this.#inflight.clear();
    }
    for (let i = this.#queueHead; i < this.#queue.length; i++) this.#unref(this.#queue[i]!);
    this.#queue = NO_DELIVERIES;
    this.#queueHead = 0;
    this.#queuedQos0 = 0;
  }

  #send(delivery: Delivery, sink: SessionSink): void {
    delivery.packetId = this.#allocatePacketId();
    delivery.state = 'sent';
    this.inflight.set(delivery.packetId, delivery);
    sink.sendPublish(
      delivery.message,
      delivery.qos,
      delivery.isRetained,
      delivery.subscriptionIds,
      delivery.packetId,
      false,
    );
  }

  #allocatePacketId(): number {
    // Skip ids still in flight; the window is far smaller than the id space so this terminates quickly.
    for (;;) {
      const id = this.#nextPacketId;
      this.#nextPacketId = id === MAX_PACKET_ID ? 1 : id + 1;
      if (this.#inflight?.has(id) !== true) return id;
    }
  }

  /** Bounded queue: when full, the oldest queued QoS 0 message makes room; if there is none, the newcomer is refused. */
  #makeRoom(): boolean {
    if (this.queuedCount < this.#host.limits.maxQueuedMessages) return true;
    if (this.#queuedQos0 === 0) return false;
    for (let i = this.#queueHead; i < this.#queue.length; i++) {
      if (this.#queue[i]!.qos === 0) {
        this.#queue.splice(i, 1);
        this.#queuedQos0--;
        this.#host.countDropped(1);
        return true;
      }
    }
    return false;
  }

  #enqueue(delivery: Delivery): void {
    if (!this.#makeRoom()) {
      this.#host.countDropped(1);
      return;
    }
    ownPayload(delivery.message);
    this.#queuePush(delivery);
  }

  #queuePush(delivery: Delivery): void {
    if (delivery.qos === 0) this.#queuedQos0++;
    if (this.#queue === NO_DELIVERIES) this.#queue = [];
    this.#queue.push(delivery);
  }

  #queueShift(): void {
    const delivery = this.#queue[this.#queueHead]!;
    if (delivery.qos === 0) this.#queuedQos0--;
    this.#queueHead++;
    if (this.#queueHead > 1024 && this.#queueHead * 2 > this.#queue.length) {
      this.#queue = this.#queue.slice(this.#queueHead);
      this.#queueHead = 0;
    } else if (this.#queueHead === this.#queue.length) {
      this.#queue.length = 0;
      this.#queueHead = 0;
    }
  }

  /** A delivery ended (acknowledged, expired or refused): remove its stored row. */
  #forget(delivery: Delivery): void {
    if (delivery.seq !== 0 && this.isPersistent) {
      this.#host.persistence.push({ op: 'deleteDelivery', clientId: this.clientId, seq: delivery.seq });
    }
    this.#unref(delivery);
  }

  #unref(delivery: Delivery): void {
    if (delivery.seq !== 0) this.#host.releaseMessage(delivery.message);
  }

  #stored(delivery: Delivery): StoredDelivery {
    return {
      clientId: this.clientId,
      seq: delivery.seq,
      messageId: delivery.message.id,
      qos: delivery.qos,
      packetId: delivery.packetId,
      state: delivery.state,
      subscriptionIds: delivery.subscriptionIds ?? [],
      isRetained: delivery.isRetained,
    };
  }
}
