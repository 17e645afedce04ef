/**
 * The CloudPlugs dialect over MQTT (device-apis.md §2, docs/cloudplugs.md): owns the namespace whose first level is a
 * Plug-ID (and `+/data/…`), consumes every data record and republishes it as the server once stored, grants data
 * subscriptions with a delivery guard that applies the subscriber's organization and permission filter to every
 * message, answers property requests to the requesting client, and runs enrolment sessions.
 */
import type { Logger } from 'pino';
import type {
  Broker,
  ClientInfo,
  GuardedGrant,
  GuardedMessage,
  InboundMessage,
  MessageVerdict,
} from '../../broker/index.js';
import { DeferredAck } from '../../broker/index.js';
import type { QoS } from '../../mqtt/codec/index.js';
import { isUserIdentity } from '../../platform/identity.js';
import type { Role } from '../../platform/model.js';
import { ingestRecords } from './data.js';
import { modifyRecord } from './modify.js';
import { errorReply, PlugErr, PlugError } from './errors.js';
import {
  enrollIdentity,
  isCloudplugsIdentity,
  parseClientId,
  type CloudplugsIdentity,
  type PlugEnrollIdentity,
} from './identity.js';
import { parseProperties, parsePropertyNames, readProperties, setProperties } from './properties.js';
import { maySeePrivate, privateOwnersOf } from './private-records.js';
import { parseRecords, RecordError, type DataRecord } from './records.js';
import { canRead, canWrite, isSameDevice, type PlugDevice } from './registry.js';
import type { CloudplugsService } from './service.js';
import { isCloudplugsTopic, parsePublishTopic, parseSubscribeFilter, plugIdOfTopic } from './topics.js';

/** v5 reason codes the dialect answers with. */
export const PlugReason = {
  UnspecifiedError: 0x80,
  ImplementationSpecificError: 0x83,
  NotAuthorized: 0x87,
  TopicFilterInvalid: 0x8f,
  TopicNameInvalid: 0x90,
  QuotaExceeded: 0x97,
  AdministrativeAction: 0x98,
  PayloadFormatInvalid: 0x99,
} as const;

const GUARD_DEVICE = 'cloudplugs:d:';
const GUARD_ORG = 'cloudplugs:o:';

/** What the MQTT side needs. */
export interface CloudplugsMqttOptions {
  service: CloudplugsService;
  logger: Logger;
  /** Enrolment sessions may also use plain topics as anonymous clients. */
  allowAnonymous: boolean;
}

/** Someone acting in an organization without being a device: an account login or a platform user. */
interface OrgActor {
  orgId: string;
  role: Role;
}

/** The MQTT side of the dialect: the hook functions the dialect router calls. */
export class CloudplugsMqtt {
  readonly name = 'cloudplugs';
  readonly #service: CloudplugsService;
  readonly #logger: Logger;
  readonly #allowAnonymous: boolean;
  #broker: Broker | undefined;
  /** Connected client ids per device, to close them when the device is disabled, deleted or re-enrolled. */
  readonly #clientsByDevice = new Map<string, Set<string>>();

  constructor(options: CloudplugsMqttOptions) {
    this.#service = options.service;
    this.#logger = options.logger;
    this.#allowAnonymous = options.allowAnonymous;
    this.#service.onRevoked((deviceId, reason) => {
      for (const clientId of this.#clientsByDevice.get(deviceId) ?? []) {
        this.#broker?.disconnectClient(clientId, PlugReason.AdministrativeAction, reason);
      }
    });
  }

  attach(broker: Broker): void {
    this.#broker = broker;
  }

  /** The broker, once attached (the HTTP API publishes records through it). */
  get broker(): Broker | undefined {
    return this.#broker;
  }

  ownsIdentity(identity: unknown): boolean {
    return isCloudplugsIdentity(identity);
  }

  ownsTopic(topic: string): boolean {
    return isCloudplugsTopic(topic);
  }

  authorizePublish(client: ClientInfo, topicName: string): true | number {
    const identity = client.identity;
    if (!isCloudplugsTopic(topicName)) return this.#plainPublish(identity);
    const topic = parsePublishTopic(topicName);
    if (topic.kind === 'invalid') return PlugReason.TopicNameInvalid;
    const target = this.#service.registry.byPlugId(topic.plugId);
    if (target === undefined) return PlugReason.NotAuthorized;
    const device = this.#deviceOf(identity);
    if (device !== undefined) {
      if (topic.kind === 'data') return canWrite(device, target) ? true : PlugReason.NotAuthorized;
      return isSameDevice(device, target) ? true : PlugReason.NotAuthorized;
    }
    const actor = orgActorOf(identity);
    if (actor === undefined || actor.orgId !== target.device.orgId || actor.role === 'viewer') {
      return PlugReason.NotAuthorized;
    }
    return true;
  }

  authorizeSubscribe(client: ClientInfo, topicFilter: string, qos: QoS): number | GuardedGrant {
    const identity = client.identity;
    if (!isCloudplugsTopic(topicFilter)) return this.#plainSubscribe(identity, topicFilter, qos);
    const filter = parseSubscribeFilter(topicFilter);
    if (filter.kind === 'invalid') return PlugReason.TopicFilterInvalid;
    const enrolling = enrollmentOf(client);
    if (enrolling !== undefined) {
      if (filter.kind === 'enrollThing' || filter.kind === 'enrollController') {
        this.#startEnrollment(client, enrolling, topicFilter, filter, qos);
        return qos;
      }
      return PlugReason.NotAuthorized;
    }
    if (filter.kind === 'enrollThing' || filter.kind === 'enrollController') return PlugReason.NotAuthorized;
    const device = this.#deviceOf(identity);
    const actor = device === undefined ? orgActorOf(identity) : undefined;
    if (device === undefined && actor === undefined) return PlugReason.NotAuthorized;
    const target = filter.plugId === undefined ? undefined : this.#service.registry.byPlugId(filter.plugId);
    if (filter.plugId !== undefined && target === undefined) return PlugReason.NotAuthorized;
    if (filter.kind === 'props') {
      // Replies come without a subscription; subscribing to one's own property topics is harmless.
      return device !== undefined && target !== undefined && isSameDevice(device, target)
        ? qos
        : PlugReason.NotAuthorized;
    }
    if (device !== undefined) {
      if (target !== undefined && !canRead(device, target)) return PlugReason.NotAuthorized;
      return { qos, guard: GUARD_DEVICE + device.row.deviceId };
    }
    if (actor === undefined || (target !== undefined && target.device.orgId !== actor.orgId)) {
      return PlugReason.NotAuthorized;
    }
    return { qos, guard: GUARD_ORG + actor.orgId };
  }

  /**
   * Judges each record published on `<plug-id>/data/…` for a guarded subscriber (live, retained, offline): a device
   * needs read permission on the record's device and, for a private record, to be its owner or publisher; an account
   * or user needs the organization (private-records.ts).
   */
  canDeliver(guard: string, message: GuardedMessage): boolean {
    // Only the server publishes on data topics (device publishes are consumed and republished once stored).
    if (message.publisherClientId !== '') return false;
    const target = this.#service.registry.byPlugId(plugIdOfTopic(message.topicName));
    if (target === undefined) return false;
    if (guard.startsWith(GUARD_DEVICE)) {
      const reader = this.#service.registry.byDeviceId(guard.slice(GUARD_DEVICE.length));
      if (reader === undefined || !canRead(reader, target)) return false;
      const owners = privateOwnersOf(message.payload, target.device.id);
      return owners === undefined || maySeePrivate({ kind: 'device', deviceId: reader.device.id }, owners);
    }
    return guard.startsWith(GUARD_ORG) && target.device.orgId === guard.slice(GUARD_ORG.length);
  }

  onMessage(client: ClientInfo, message: InboundMessage): MessageVerdict | undefined {
    if (!isCloudplugsTopic(message.topicName)) return undefined;
    const topic = parsePublishTopic(message.topicName);
    if (topic.kind === 'invalid')
      return { action: 'drop', reasonCode: PlugReason.TopicNameInvalid, reasonString: topic.reason };
    const target = this.#service.registry.byPlugId(topic.plugId);
    if (target === undefined) return { action: 'drop', reasonCode: PlugReason.NotAuthorized };
    if (topic.kind === 'data') return this.#onData(client, message, target, topic.channel);
    const ack = new DeferredAck();
    const reply = (payload: Buffer): void => {
      ack.settle();
      this.#broker?.sendToClient(client.clientId, {
        topicName: message.topicName,
        payload,
        qos: message.qos === 0 ? 0 : 1,
        isRetained: false,
        properties: undefined,
      });
    };
    const work =
      topic.kind === 'propSet'
        ? this.#setProperties(target, message.payload).then(() => Buffer.alloc(0))
        : this.#getProperties(target, message.payload);
    work.then(reply, (error: unknown) => {
      reply(errorReply(this.#asPlugError(error)));
    });
    return { action: 'consume', ack };
  }

  #onData(client: ClientInfo, message: InboundMessage, topicTarget: PlugDevice, channel: string): MessageVerdict {
    let records: DataRecord[];
    try {
      records = parseRecords(message.payload, Date.now(), false);
    } catch (error) {
      const reason = error instanceof RecordError ? error.message : 'unreadable data record';
      return { action: 'drop', reasonCode: PlugReason.PayloadFormatInvalid, reasonString: reason };
    }
    const record = records[0];
    if (record === undefined) return { action: 'drop', reasonCode: PlugReason.PayloadFormatInvalid };
    if (record.channel !== undefined) {
      return { action: 'drop', reasonCode: PlugReason.PayloadFormatInvalid, reasonString: '"channel" is HTTP only' };
    }
    let target = topicTarget;
    if (record.of !== undefined && record.of !== topicTarget.row.plugId) {
      const of = this.#service.registry.byPlugId(record.of);
      if (of === undefined || !this.#mayWrite(client.identity, of)) {
        return {
          action: 'drop',
          reasonCode: PlugReason.NotAuthorized,
          reasonString: `may not publish of ${record.of}`,
        };
      }
      target = of;
    }
    const ack = new DeferredAck();
    const { platform, store } = this.#service;
    const settle = (error: Error | undefined): void => {
      if (error === undefined) ack.settle();
      else if (error instanceof PlugError) ack.settle(refusalReason(error), error.message);
      else ack.settle(error.name === 'OverloadedError' ? PlugReason.QuotaExceeded : PlugReason.UnspecifiedError);
    };
    const qos = message.qos === 0 ? 0 : 1;
    if (record.isGivenId) {
      const context = { platform, store, broker: () => this.#broker, logger: this.#logger };
      modifyRecord(context, target, channel, record, qos, settle);
    } else {
      const publisher = this.#deviceOf(client.identity);
      ingestRecords(platform, store, () => this.#broker, target, publisher, channel, records, qos, settle);
    }
    return { action: 'consume', ack };
  }

  #mayWrite(identity: unknown, target: PlugDevice): boolean {
    const device = this.#deviceOf(identity);
    if (device !== undefined) return canWrite(device, target);
    const actor = orgActorOf(identity);
    return actor !== undefined && actor.orgId === target.device.orgId && actor.role !== 'viewer';
  }

  async #setProperties(target: PlugDevice, payload: Buffer): Promise<void> {
    let parsed: unknown;
    try {
      parsed = JSON.parse(payload.toString('utf8'));
    } catch (error) {
      throw new PlugError(PlugErr.BadRequest, 'the payload is not JSON', { cause: error });
    }
    await setProperties(this.#service.store, target, parseProperties(parsed));
  }

  async #getProperties(target: PlugDevice, payload: Buffer): Promise<Buffer> {
    const values = await readProperties(
      this.#service.platform,
      this.#service.store,
      target,
      parsePropertyNames(payload),
    );
    return Buffer.from(JSON.stringify(values));
  }

  #asPlugError(error: unknown): PlugError {
    if (error instanceof PlugError) return error;
    this.#logger.error({ err: error }, 'CloudPlugs request failed');
    return new PlugError(PlugErr.Internal, 'the request failed on the server');
  }

  /** Subscribes to an enrolment topic: enrol, reply on the topic, and after a failure close the connection. */
  #startEnrollment(
    client: ClientInfo,
    identity: PlugEnrollIdentity,
    topicFilter: string,
    filter:
      | { kind: 'enrollThing'; modelPlugId: string; pass: string }
      | { kind: 'enrollController'; modelPlugId: string; thingHwid: string; pass: string },
    qos: QoS,
  ): void {
    const { service } = { service: this.#service };
    const enroll = async () => {
      if (identity.hwid === '') throw new PlugError(PlugErr.BadRequest, 'the client id must be HWID or HWID/NAME');
      if (filter.kind === 'enrollThing') {
        return service.enrollThing(filter.modelPlugId, identity.hwid, identity.name, filter.pass);
      }
      const result = await service.enrollController(filter.modelPlugId, filter.thingHwid, filter.pass, {
        hwid: identity.hwid,
        name: identity.name,
      });
      if (result === undefined) throw new PlugError(PlugErr.Internal, 'controller enrolment answered nothing');
      return result;
    };
    const send = (payload: Buffer, onSent?: () => void): void => {
      const message = {
        topicName: topicFilter,
        payload,
        qos: qos === 0 ? 0 : 1,
        isRetained: false,
        properties: undefined,
      } as const;
      const isSent =
        onSent === undefined
          ? this.#broker?.sendToClient(client.clientId, message)
          : this.#broker?.sendToClient(client.clientId, message, onSent);
      if (isSent !== true) this.#logger.debug({ clientId: client.clientId }, 'enrolment reply not sent: client gone');
    };
    // After the SUBACK: the broker handles this SUBSCRIBE before the promise continues.
    enroll().then(
      (result) => {
        send(Buffer.from(JSON.stringify({ id: result.id, auth: result.auth })));
      },
      (error: unknown) => {
        const failure = this.#asPlugError(error);
        send(errorReply(failure), () => {
          this.#broker?.disconnectClient(
            client.clientId,
            PlugReason.NotAuthorized,
            `enrolment failed: ${failure.message}`,
          );
        });
      },
    );
  }

  onClientConnected(client: ClientInfo): void {
    const identity = client.identity;
    if (!isCloudplugsIdentity(identity) || identity.kind !== 'device') return;
    let clients = this.#clientsByDevice.get(identity.deviceId);
    if (clients === undefined) {
      clients = new Set();
      this.#clientsByDevice.set(identity.deviceId, clients);
    }
    clients.add(client.clientId);
  }

  onClientDisconnected(client: ClientInfo): void {
    const identity = client.identity;
    if (!isCloudplugsIdentity(identity) || identity.kind !== 'device') return;
    const clients = this.#clientsByDevice.get(identity.deviceId);
    clients?.delete(client.clientId);
    if (clients?.size === 0) this.#clientsByDevice.delete(identity.deviceId);
  }

  #deviceOf(identity: unknown): PlugDevice | undefined {
    if (!isCloudplugsIdentity(identity) || identity.kind !== 'device') return undefined;
    return this.#service.registry.byDeviceId(identity.deviceId);
  }

  /** Outside the namespace a device or account is a plain client, but reads no first-level wildcard. */
  #plainPublish(identity: unknown): true | number {
    if (isEnroll(identity)) return this.#allowAnonymous ? true : PlugReason.NotAuthorized;
    return true;
  }

  #plainSubscribe(identity: unknown, topicFilter: string, qos: QoS): number {
    if (isEnroll(identity)) return this.#allowAnonymous ? qos : PlugReason.NotAuthorized;
    const c = topicFilter.charCodeAt(0);
    return c === 0x23 /* # */ || c === 0x2b /* + */ ? PlugReason.NotAuthorized : qos;
  }
}

/** The enrolment session a client is: its enrolment identity, or (anonymous access on) a client without identity. */
function enrollmentOf(client: ClientInfo): PlugEnrollIdentity | undefined {
  const identity = client.identity;
  if (isEnroll(identity)) return identity;
  if (identity !== undefined) return undefined;
  const { hwid, name } = parseClientId(client.clientId);
  return enrollIdentity(hwid, name);
}

function isEnroll(identity: unknown): identity is PlugEnrollIdentity {
  return isCloudplugsIdentity(identity) && identity.kind === 'enroll';
}

function orgActorOf(identity: unknown): OrgActor | undefined {
  if (isCloudplugsIdentity(identity)) {
    const own: CloudplugsIdentity = identity;
    return own.kind === 'account' ? { orgId: own.orgId, role: own.role } : undefined;
  }
  if (isUserIdentity(identity)) return { orgId: identity.orgId, role: identity.role };
  return undefined;
}

/**
 * The PUBACK code of a record refused after parsing: a modification of a record another device owns is 0x87; one
 * naming no record of the device has no MQTT code of its own, so 0x83 with the reason string saying so.
 */
function refusalReason(error: PlugError): number {
  return error.err === PlugErr.Forbidden ? PlugReason.NotAuthorized : PlugReason.ImplementationSpecificError;
}
