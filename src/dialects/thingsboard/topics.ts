/**
 * ThingsBoard's device topics (device-apis.md §3.2): which PUBLISH topic means what, which SUBSCRIBE filters a device
 * may use, and where replies go. v1 (`v1/devices/me/…`) and v2 (`v2/…`, with `/j` forcing JSON and `/p` forcing
 * protobuf) are parsed by hand, level by level: this runs for every message, so no regex and no split.
 */

/** The topic family a request came on; replies use the same family (§3.2 "base chosen by the request topic form"). */
export type TopicForm = 'v1' | 'v2' | 'v2j' | 'v2p';

/** A PUBLISH topic in the ThingsBoard namespace. */
export type PublishTopic =
  | { kind: 'telemetry'; form: TopicForm }
  | { kind: 'attributes'; form: TopicForm }
  | { kind: 'attributeRequest'; form: TopicForm; requestId: number }
  /** A device's reply to a server-side RPC. */
  | { kind: 'rpcResponse'; form: TopicForm; requestId: number }
  /** A client-side RPC from the device. */
  | { kind: 'rpcRequest'; form: TopicForm; requestId: number }
  | { kind: 'claim' }
  | { kind: 'provisionRequest' }
  /** In the namespace but none of the above (→ v5 PUBACK 0x90). */
  | { kind: 'unknown' };

/** A SUBSCRIBE filter a ThingsBoard device may use. */
export type SubscribeTopic =
  | { kind: 'attributeUpdates'; form: TopicForm }
  | { kind: 'attributeResponses'; form: TopicForm }
  | { kind: 'rpcRequests'; form: TopicForm }
  | { kind: 'rpcResponses'; form: TopicForm }
  | { kind: 'provisionResponse' };

/** `v1/`, `v2/` and `/provision` belong to ThingsBoard; everything else is plain MQTT (choices.md). */
export function isThingsboardNamespace(topic: string): boolean {
  const c0 = topic.charCodeAt(0);
  if (c0 === 0x76 /* v */) {
    const c1 = topic.charCodeAt(1);
    return (c1 === 0x31 || c1 === 0x32) && topic.charCodeAt(2) === 0x2f; // v1/ v2/
  }
  return c0 === 0x2f /* / */ && (topic === '/provision' || topic.startsWith('/provision/'));
}

const V1_PREFIX = 'v1/devices/me/';
const V2_PREFIX = 'v2/';

/** Parses a PUBLISH topic; undefined when it is outside the namespace. */
export function parsePublishTopic(topic: string): PublishTopic | undefined {
  if (!isThingsboardNamespace(topic)) return undefined;
  if (topic.startsWith(V1_PREFIX)) return parseV1(topic.slice(V1_PREFIX.length));
  if (topic.startsWith(V2_PREFIX)) return parseV2(topic.slice(V2_PREFIX.length));
  // The MQTT doc says "/provision" and the code uses "/provision/request": both are accepted.
  if (topic === '/provision/request' || topic === '/provision') return { kind: 'provisionRequest' };
  return UNKNOWN;
}

const UNKNOWN: PublishTopic = { kind: 'unknown' };
const TELEMETRY_V1: PublishTopic = { kind: 'telemetry', form: 'v1' };
const ATTRIBUTES_V1: PublishTopic = { kind: 'attributes', form: 'v1' };
const CLAIM: PublishTopic = { kind: 'claim' };

function parseV1(rest: string): PublishTopic {
  switch (rest) {
    case 'telemetry':
      return TELEMETRY_V1;
    case 'attributes':
      return ATTRIBUTES_V1;
    case 'claim':
      return CLAIM;
  }
  return (
    withId(rest, 'attributes/request/', 'attributeRequest', 'v1') ??
    withId(rest, 'rpc/response/', 'rpcResponse', 'v1') ??
    withId(rest, 'rpc/request/', 'rpcRequest', 'v1') ??
    UNKNOWN
  );
}

const TELEMETRY_V2: Record<string, PublishTopic> = {
  t: { kind: 'telemetry', form: 'v2' },
  't/j': { kind: 'telemetry', form: 'v2j' },
  't/p': { kind: 'telemetry', form: 'v2p' },
  a: { kind: 'attributes', form: 'v2' },
  'a/j': { kind: 'attributes', form: 'v2j' },
  'a/p': { kind: 'attributes', form: 'v2p' },
};

function parseV2(rest: string): PublishTopic {
  const fixed = TELEMETRY_V2[rest];
  if (fixed !== undefined) return fixed;
  if (rest.startsWith('a/req/')) return withFormAndId(rest.slice(6), 'attributeRequest');
  if (rest.startsWith('r/res/')) return withFormAndId(rest.slice(6), 'rpcResponse');
  if (rest.startsWith('r/req/')) return withFormAndId(rest.slice(6), 'rpcRequest');
  return UNKNOWN;
}

type IdKind = 'attributeRequest' | 'rpcResponse' | 'rpcRequest';

function withId(rest: string, prefix: string, kind: IdKind, form: TopicForm): PublishTopic | undefined {
  if (!rest.startsWith(prefix)) return undefined;
  const requestId = parseRequestId(rest.slice(prefix.length));
  return requestId === undefined ? UNKNOWN : { kind, form, requestId };
}

/** `<id>`, `j/<id>` or `p/<id>`. */
function withFormAndId(rest: string, kind: IdKind): PublishTopic {
  if (rest.startsWith('j/')) return withId(rest, 'j/', kind, 'v2j') ?? UNKNOWN;
  if (rest.startsWith('p/')) return withId(rest, 'p/', kind, 'v2p') ?? UNKNOWN;
  return withId(rest, '', kind, 'v2') ?? UNKNOWN;
}

const INT32_MAX = 2_147_483_647;

/** ThingsBoard reads `<id>` with `Integer.parseInt`: an optional minus and decimal digits within 32 bits. */
export function parseRequestId(text: string): number | undefined {
  const start = text.charCodeAt(0) === 0x2d ? 1 : 0;
  if (text.length === start || text.length - start > 10) return undefined;
  for (let i = start; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x30 || c > 0x39) return undefined;
  }
  const value = Number(text);
  return value > INT32_MAX || value < -INT32_MAX - 1 ? undefined : value;
}

const SUBSCRIBE_FILTERS: ReadonlyMap<string, SubscribeTopic> = new Map<string, SubscribeTopic>([
  ['v1/devices/me/attributes', { kind: 'attributeUpdates', form: 'v1' }],
  ['v2/a', { kind: 'attributeUpdates', form: 'v2' }],
  ['v2/a/j', { kind: 'attributeUpdates', form: 'v2j' }],
  ['v2/a/p', { kind: 'attributeUpdates', form: 'v2p' }],
  ['v1/devices/me/attributes/response/+', { kind: 'attributeResponses', form: 'v1' }],
  ['v2/a/res/+', { kind: 'attributeResponses', form: 'v2' }],
  ['v2/a/res/j/+', { kind: 'attributeResponses', form: 'v2j' }],
  ['v2/a/res/p/+', { kind: 'attributeResponses', form: 'v2p' }],
  ['v1/devices/me/rpc/request/+', { kind: 'rpcRequests', form: 'v1' }],
  ['v2/r/req/+', { kind: 'rpcRequests', form: 'v2' }],
  ['v2/r/req/j/+', { kind: 'rpcRequests', form: 'v2j' }],
  ['v2/r/req/p/+', { kind: 'rpcRequests', form: 'v2p' }],
  ['v1/devices/me/rpc/response/+', { kind: 'rpcResponses', form: 'v1' }],
  ['v2/r/res/+', { kind: 'rpcResponses', form: 'v2' }],
  ['v2/r/res/j/+', { kind: 'rpcResponses', form: 'v2j' }],
  ['v2/r/res/p/+', { kind: 'rpcResponses', form: 'v2p' }],
  ['/provision/response', { kind: 'provisionResponse' }],
]);

/**
 * The §3.2 filter a SUBSCRIBE names, or undefined (refused in the namespace with 0x8F). Besides ThingsBoard's
 * `…/response/+` filters, one response topic (`…/response/<id>`) is accepted for attribute and client-side RPC
 * responses: request/response tools such as `mosquitto_rr` subscribe to exactly the topic they wait on. Either way
 * the reply goes to the requester's connection by the request's topic form.
 */
export function parseSubscribeFilter(topicFilter: string): SubscribeTopic | undefined {
  const exact = SUBSCRIBE_FILTERS.get(topicFilter);
  if (exact !== undefined) return exact;
  const slash = topicFilter.lastIndexOf('/');
  if (slash < 0 || parseRequestId(topicFilter.slice(slash + 1)) === undefined) return undefined;
  const wildcard = SUBSCRIBE_FILTERS.get(`${topicFilter.slice(0, slash)}/+`);
  return wildcard?.kind === 'attributeResponses' || wildcard?.kind === 'rpcResponses' ? wildcard : undefined;
}

const ATTRIBUTE_UPDATE_TOPIC: Readonly<Record<TopicForm, string>> = {
  v1: 'v1/devices/me/attributes',
  v2: 'v2/a',
  v2j: 'v2/a/j',
  v2p: 'v2/a/p',
};
const ATTRIBUTE_RESPONSE_BASE: Readonly<Record<TopicForm, string>> = {
  v1: 'v1/devices/me/attributes/response/',
  v2: 'v2/a/res/',
  v2j: 'v2/a/res/j/',
  v2p: 'v2/a/res/p/',
};
const RPC_REQUEST_BASE: Readonly<Record<TopicForm, string>> = {
  v1: 'v1/devices/me/rpc/request/',
  v2: 'v2/r/req/',
  v2j: 'v2/r/req/j/',
  v2p: 'v2/r/req/p/',
};
const RPC_RESPONSE_BASE: Readonly<Record<TopicForm, string>> = {
  v1: 'v1/devices/me/rpc/response/',
  v2: 'v2/r/res/',
  v2j: 'v2/r/res/j/',
  v2p: 'v2/r/res/p/',
};

/** Shared-attribute updates go to the topic form the device subscribed with. */
export function attributeUpdateTopic(form: TopicForm): string {
  return ATTRIBUTE_UPDATE_TOPIC[form];
}

export function attributeResponseTopic(form: TopicForm, requestId: number): string {
  return ATTRIBUTE_RESPONSE_BASE[form] + String(requestId);
}

/** Where a server-side RPC request is published. */
export function rpcRequestTopic(form: TopicForm, requestId: number): string {
  return RPC_REQUEST_BASE[form] + String(requestId);
}

/** Where a client-side RPC reply is published. */
export function rpcResponseTopic(form: TopicForm, requestId: number): string {
  return RPC_RESPONSE_BASE[form] + String(requestId);
}

export const PROVISION_RESPONSE_TOPIC = '/provision/response';
