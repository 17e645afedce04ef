/**
 * One connected ThingsBoard device over MQTT: what it subscribed to (and at which QoS, in which topic form), and the
 * `DeviceLink` through which the platform reaches it: shared-attribute updates go to the attribute topic form it
 * subscribed with, server-side RPCs to `…/rpc/request/<requestId>` at the QoS it subscribed with, delivered (the
 * RPC's DELIVERED state) when the broker reports the device has the message (QoS 0 written, QoS 1 PUBACK).
 */
import type { ClientInfo, InboundMessage } from '../../broker/index.js';
import type { AttributeUpdate, DeviceLink, DeviceLinks } from '../../platform/device-links.js';
import type { Rpc } from '../../platform/model.js';
import type { QoS } from '../../mqtt/codec/index.js';
import type { ThingsboardDeviceIdentity } from './auth.js';
import { encodeAttributeUpdatePayload, encodeRpcRequestPayload } from './codec.js';
import { attributeUpdateTopic, rpcRequestTopic, type SubscribeTopic, type TopicForm } from './topics.js';

/** `Broker.sendToClient`, as the session needs it. */
export type SendToClient = (clientId: string, message: InboundMessage, onAcknowledged?: () => void) => boolean;

/** A subscription the dialect acts on: its topic form and granted QoS. */
export interface TopicSubscription {
  form: TopicForm;
  qos: QoS;
}

export class DeviceSession implements DeviceLink {
  readonly client: ClientInfo;
  readonly identity: ThingsboardDeviceIdentity;
  attributeUpdates: TopicSubscription | undefined;
  attributeResponses: TopicSubscription | undefined;
  rpcRequests: TopicSubscription | undefined;
  rpcResponses: TopicSubscription | undefined;
  readonly #links: DeviceLinks;
  readonly #send: SendToClient;
  #detach: (() => void) | undefined;
  #isClosed = false;

  constructor(client: ClientInfo, identity: ThingsboardDeviceIdentity, links: DeviceLinks, send: SendToClient) {
    this.client = client;
    this.identity = identity;
    this.#links = links;
    this.#send = send;
  }

  get deviceId(): string {
    return this.identity.device.id;
  }

  /** Starts taking downlinks. */
  open(): void {
    this.#detach = this.#links.attach(this.deviceId, this);
  }

  /** Stops taking downlinks (the connection ended). */
  close(): void {
    this.#isClosed = true;
    this.#detach?.();
    this.#detach = undefined;
  }

  /** Records a granted subscription. The first RPC subscription re-attaches the link so queued RPCs are sent. */
  subscribed(topic: SubscribeTopic, qos: QoS): void {
    switch (topic.kind) {
      case 'attributeUpdates':
        this.attributeUpdates = { form: topic.form, qos };
        return;
      case 'attributeResponses':
        this.attributeResponses = { form: topic.form, qos };
        return;
      case 'rpcRequests': {
        const isFirst = this.rpcRequests === undefined;
        this.rpcRequests = { form: topic.form, qos };
        // Persistent RPCs waiting for this device are offered when a link attaches; at CONNECT the device had not
        // subscribed yet and refused them. After the SUBACK has gone out, attach again to have them offered now.
        if (isFirst) {
          setImmediate(() => {
            if (this.#isClosed) return;
            this.#detach?.();
            this.#detach = this.#links.attach(this.deviceId, this);
          });
        }
        return;
      }
      case 'rpcResponses':
        this.rpcResponses = { form: topic.form, qos };
        return;
      case 'provisionResponse':
        return;
    }
  }

  sendRpc(rpc: Rpc, onDelivered: () => void): boolean {
    const subscription = this.rpcRequests;
    if (subscription === undefined || this.#isClosed) return false;
    const payload = encodeRpcRequestPayload(this.identity.profile, subscription.form, rpc);
    return this.#send(
      this.client.clientId,
      {
        topicName: rpcRequestTopic(subscription.form, rpc.requestId),
        payload,
        qos: subscription.qos,
        isRetained: false,
        properties: undefined,
      },
      onDelivered,
    );
  }

  sendAttributeUpdate(update: AttributeUpdate): void {
    const subscription = this.attributeUpdates;
    if (subscription === undefined || this.#isClosed) return;
    this.#send(this.client.clientId, {
      topicName: attributeUpdateTopic(subscription.form),
      payload: encodeAttributeUpdatePayload(this.identity.profile, subscription.form, update),
      qos: subscription.qos,
      isRetained: false,
      properties: undefined,
    });
  }

  /** A reply on a response topic, at the QoS the device subscribed to responses with (0 if it did not). */
  reply(topicName: string, payload: Buffer, subscription: TopicSubscription | undefined): void {
    if (this.#isClosed) return;
    this.#send(this.client.clientId, {
      topicName,
      payload,
      qos: subscription?.qos ?? 0,
      isRetained: false,
      properties: undefined,
    });
  }
}
