/**
 * The CloudPlugs topic namespace (device-apis.md §2.2): `<plug-id>/data/<channel>`, `<plug-id>/ag/prop/set|get`,
 * `<model>/thing/<pass>` and `<model>/ctrl/<thing-hwid>/<pass>`. Every topic whose first level is a Plug-ID belongs to
 * the dialect, and so does a filter `+/data/…` (data of every device the subscriber may read).
 */
import { isDevicePlugId, isModelPlugId, isPlugId } from './plug-id.js';

/** Channel names and masks are at most 200 bytes (CloudPlugs' glossary, device-apis.md §2.3). */
export const MAX_CHANNEL_BYTES = 200;

/** A PUBLISH topic of the namespace, parsed. */
export type PublishTopic =
  | { kind: 'data'; plugId: string; channel: string }
  | { kind: 'propSet'; plugId: string }
  | { kind: 'propGet'; plugId: string }
  /** In the namespace, but not a topic anyone may publish to. */
  | { kind: 'invalid'; reason: string };

/** A SUBSCRIBE filter of the namespace, parsed. */
export type SubscribeFilter =
  /** `plugId` undefined for `+` (every readable device). */
  | { kind: 'data'; plugId: string | undefined; mask: string }
  | { kind: 'enrollThing'; modelPlugId: string; pass: string }
  | { kind: 'enrollController'; modelPlugId: string; thingHwid: string; pass: string }
  | { kind: 'props'; plugId: string }
  | { kind: 'invalid'; reason: string };

/** True for a topic name or filter in the CloudPlugs namespace. */
export function isCloudplugsTopic(topic: string): boolean {
  const slash = topic.indexOf('/');
  const first = slash < 0 ? topic : topic.slice(0, slash);
  if (isPlugId(first)) return true;
  return first === '+' && topic.startsWith('+/data/');
}

/** Parses a PUBLISH topic of the namespace (call only when `isCloudplugsTopic`). */
export function parsePublishTopic(topicName: string): PublishTopic {
  const slash = topicName.indexOf('/');
  const plugId = topicName.slice(0, slash < 0 ? topicName.length : slash);
  if (!isDevicePlugId(plugId)) return { kind: 'invalid', reason: 'only a device Plug-ID publishes' };
  const rest = slash < 0 ? '' : topicName.slice(slash + 1);
  if (rest === 'ag/prop/set') return { kind: 'propSet', plugId };
  if (rest === 'ag/prop/get') return { kind: 'propGet', plugId };
  if (rest.startsWith('data/')) {
    const channel = rest.slice(5);
    const problem = channelProblem(channel, false);
    return problem === undefined ? { kind: 'data', plugId, channel } : { kind: 'invalid', reason: problem };
  }
  return { kind: 'invalid', reason: `unknown CloudPlugs topic ${JSON.stringify(rest)}` };
}

/** Parses a SUBSCRIBE filter of the namespace (call only when `isCloudplugsTopic`). */
export function parseSubscribeFilter(topicFilter: string): SubscribeFilter {
  const levels = topicFilter.split('/');
  const first = levels[0] ?? '';
  const second = levels[1];
  if (second === 'data' && (first === '+' || isDevicePlugId(first))) {
    const mask = levels.slice(2).join('/');
    const problem = channelProblem(mask, true);
    if (problem !== undefined) return { kind: 'invalid', reason: problem };
    return { kind: 'data', plugId: first === '+' ? undefined : first, mask };
  }
  if (isModelPlugId(first)) {
    // A derived password is base64 and may contain `/`: everything after the fixed levels is the password.
    const thingPass = levels.slice(2).join('/');
    if (second === 'thing' && thingPass !== '') return { kind: 'enrollThing', modelPlugId: first, pass: thingPass };
    const controlPass = levels.slice(3).join('/');
    if (second === 'ctrl' && levels.length >= 4 && levels[2] !== '' && controlPass !== '') {
      return { kind: 'enrollController', modelPlugId: first, thingHwid: levels[2] ?? '', pass: controlPass };
    }
  }
  if (isDevicePlugId(first) && second === 'ag' && (topicFilter === `${first}/ag/prop/#` || levels[2] === 'prop')) {
    return { kind: 'props', plugId: first };
  }
  return { kind: 'invalid', reason: `not a CloudPlugs subscription: ${JSON.stringify(topicFilter)}` };
}

/** Why a channel name (or, with `isMask`, a channel mask) is unusable; undefined when it is fine. */
export function channelProblem(channel: string, isMask: boolean): string | undefined {
  if (channel.length === 0) return 'the channel is empty';
  if (Buffer.byteLength(channel) > MAX_CHANNEL_BYTES) return `the channel is over ${String(MAX_CHANNEL_BYTES)} bytes`;
  if (!isMask && (channel.includes('+') || channel.includes('#'))) return 'a channel to publish on has no wildcards';
  return undefined;
}

/** MQTT wildcard matching of a channel mask (`+` one level, `#` the rest) against a channel name. */
export function matchesMask(mask: string, channel: string): boolean {
  if (mask === '#') return true;
  if (!mask.includes('+') && !mask.includes('#')) return mask === channel;
  const maskLevels = mask.split('/');
  const levels = channel.split('/');
  for (let i = 0; i < maskLevels.length; i++) {
    const m = maskLevels[i];
    if (m === '#') return true;
    if (i >= levels.length) return false;
    if (m !== '+' && m !== levels[i]) return false;
  }
  return maskLevels.length === levels.length;
}

/** The topic a record of `plugId` on `channel` is delivered on. */
export function dataTopic(plugId: string, channel: string): string {
  return `${plugId}/data/${channel}`;
}

/** The Plug-ID a delivered data topic names (its first level). */
export function plugIdOfTopic(topicName: string): string {
  const slash = topicName.indexOf('/');
  return slash < 0 ? topicName : topicName.slice(0, slash);
}
