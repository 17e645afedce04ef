/**
 * Messages to Medium One devices (device-apis.md §4.2), sent by the server with `broker.publish`:
 *
 * | request                         | topic                                   | retained |
 * | ------------------------------- | --------------------------------------- | -------- |
 * | kind event, user + device       | `1/<p>/<u>/<device>/event`              | no       |
 * | kind update, user + device      | `1/<p>/<u>/<device>/update/<type>`      | yes      |
 * | kind update, user               | `1/<p>/<u>/_all/update/<type>`          | yes      |
 * | kind update, group              | `2/<p>/<group>/<type>`                  | yes      |
 * | kind update, neither            | `2/<p>/_all/<type>`                     | yes      |
 *
 * A string payload is sent as its UTF-8 bytes (workflow output is "any MQTT payload"); any other JSON value as JSON.
 */
import type { Broker } from '../../broker/index.js';
import type { JsonValue } from '../../platform/model.js';
import { ALL, deviceEventTopic, groupUpdateTopic, identifierProblem, userUpdateTopic } from './topics.js';

/** A resolved down message: every id already a topic level of the organization's project. */
export interface DownMessage {
  kind: 'event' | 'update';
  projectMqttId: string;
  userMqttId: string | undefined;
  deviceId: string | undefined;
  groupName: string | undefined;
  type: string | undefined;
  payload: JsonValue;
}

/** What was sent. */
export interface SentMessage {
  topic: string;
  isRetained: boolean;
  qos: 1;
  payloadBytes: number;
}

/** A request that names no topic: the reason, for a 400. */
export class DownMessageError extends Error {
  override readonly name = 'DownMessageError';
}

/** The topic and retain flag of a message; throws DownMessageError for a combination no topic has. */
export function downTopic(message: DownMessage): { topic: string; isRetained: boolean } {
  const { projectMqttId: p, userMqttId: u, deviceId: d, groupName: g } = message;
  if (d !== undefined) check('device', d, message.kind === 'update');
  if (g !== undefined) check('group', g, true);
  if (u !== undefined && g !== undefined) {
    throw new DownMessageError('"user" and "group" name different topics (1/… and 2/…): give one of them');
  }
  if (d !== undefined && u === undefined)
    throw new DownMessageError('"device" needs "user": device topics are per user');
  if (message.kind === 'event') {
    if (message.type !== undefined) check('type', message.type, false);
    if (u === undefined || d === undefined || d === ALL || g !== undefined) {
      throw new DownMessageError('an event goes to one device: give "user" and "device" (not "group", not "_all")');
    }
    return { topic: deviceEventTopic(p, u, d), isRetained: false };
  }
  if (message.type === undefined) throw new DownMessageError('an update needs "type" (its last topic level)');
  check('type', message.type, false);
  if (u !== undefined) return { topic: userUpdateTopic(p, u, d ?? ALL, message.type), isRetained: true };
  return { topic: groupUpdateTopic(p, g ?? ALL, message.type), isRetained: true };
}

function check(what: string, id: string, allowAll: boolean): void {
  const problem = identifierProblem(`"${what}"`, id, { allowAll });
  if (problem !== undefined) throw new DownMessageError(problem);
}

/** Encodes the payload and publishes the message as the server (QoS 1: devices that subscribed at 1 get it reliably). */
export function sendDownMessage(broker: Broker, message: DownMessage): SentMessage {
  const { topic, isRetained } = downTopic(message);
  const payload = Buffer.from(typeof message.payload === 'string' ? message.payload : JSON.stringify(message.payload));
  broker.publish({ topicName: topic, payload, qos: 1, isRetained, properties: undefined });
  return { topic, isRetained, qos: 1, payloadBytes: payload.length };
}
