/**
 * Payload encoding per message: JSON (device-apis.md §3.3) or protobuf (§3.9). v2 `/j` topics force JSON, `/p` topics
 * force protobuf, and v1 and plain v2 topics follow the device profile's payload type. The protobuf side is
 * protobuf.ts (profile schemas) and protobuf-messages.ts (ThingsBoard's fixed messages); this module only chooses.
 */
import type { AttributeUpdate } from '../../platform/device-links.js';
import type { Attribute, DeviceProfile, JsonValue, Rpc } from '../../platform/model.js';
import { attributeQuery, attributeResponseJson, attributeUpdateJson, parseAttributeRequest } from './attributes.js';
import type { AttributeQuery } from './attributes.js';
import { isJsonObject, parseJsonPayload, PayloadError } from './json-telemetry.js';
import { decodeProfilePayload, encodeRpcRequest, ProtoPayloadError } from './protobuf.js';
import {
  decodeAttributesRequest,
  decodeClaimRequest,
  decodeClientRpcRequest,
  encodeAttributeResponse,
  encodeAttributeUpdate,
  encodeClientRpcResponse,
} from './protobuf-messages.js';
import type { TopicForm } from './topics.js';

/** Whether a message on `form` (undefined: a topic with no v2 form, e.g. claim) is protobuf for this profile. */
export function isProtobuf(profile: DeviceProfile, form: TopicForm | undefined): boolean {
  if (form === 'v2p') return true;
  if (form === 'v2j') return false;
  return profile.payloadType === 'PROTOBUF';
}

/** Either payload error: the device sent something its topic cannot carry. */
export function isPayloadError(error: unknown): boolean {
  return error instanceof PayloadError || error instanceof ProtoPayloadError;
}

/** Telemetry or attributes as JSON (protobuf decoded with the profile's schema); the typing rules apply after. */
export function decodeData(
  profile: DeviceProfile,
  form: TopicForm,
  kind: 'telemetry' | 'attributes',
  payload: Buffer,
): JsonValue {
  return isProtobuf(profile, form) ? decodeProfilePayload(profile, kind, payload) : parseJsonPayload(payload);
}

export function decodeAttributeRequest(profile: DeviceProfile, form: TopicForm, payload: Buffer): AttributeQuery {
  if (isProtobuf(profile, form)) {
    const { clientKeys, sharedKeys } = decodeAttributesRequest(payload);
    return attributeQuery(clientKeys, sharedKeys);
  }
  return parseAttributeRequest(payload.length === 0 ? undefined : parseJsonPayload(payload));
}

/** `{"method","params"}`, both mandatory (ThingsBoard `convertToServerRpcRequest`). */
export function decodeClientRpc(
  profile: DeviceProfile,
  form: TopicForm,
  payload: Buffer,
): { method: string; params: JsonValue } {
  if (isProtobuf(profile, form)) return decodeClientRpcRequest(payload);
  return parseClientRpc(parseJsonPayload(payload));
}

export function parseClientRpc(json: JsonValue): { method: string; params: JsonValue } {
  if (!isJsonObject(json)) throw new PayloadError('the RPC request must be a JSON object');
  const method = json['method'];
  const params = json['params'];
  if (typeof method !== 'string' || method.length === 0) throw new PayloadError('"method" must be a string');
  if (params === undefined) throw new PayloadError('"params" is required');
  return { method, params };
}

/** A device's reply to a server-side RPC: JSON where it parses, else the text as is (ThingsBoard stores it as is). */
export function decodeRpcReply(profile: DeviceProfile, form: TopicForm, payload: Buffer): JsonValue {
  if (isProtobuf(profile, form)) return decodeProfilePayload(profile, 'rpcResponse', payload);
  const text = payload.toString('utf8');
  try {
    return JSON.parse(text) as JsonValue;
  } catch {
    return text;
  }
}

/** `{"secretKey","durationMs"}`, both optional; an empty payload is allowed. */
export function decodeClaim(
  profile: DeviceProfile,
  payload: Buffer,
): { secretKey: string | undefined; durationMs: number | undefined } {
  if (payload.length === 0) return { secretKey: undefined, durationMs: undefined };
  if (isProtobuf(profile, undefined)) return decodeClaimRequest(payload);
  return parseClaim(parseJsonPayload(payload));
}

export function parseClaim(json: JsonValue): { secretKey: string | undefined; durationMs: number | undefined } {
  if (!isJsonObject(json)) throw new PayloadError('the claim request must be a JSON object');
  const { secretKey, durationMs } = json;
  if (secretKey !== undefined && secretKey !== null && typeof secretKey !== 'string') {
    throw new PayloadError('"secretKey" must be a string');
  }
  if (durationMs !== undefined && durationMs !== null && typeof durationMs !== 'number') {
    throw new PayloadError('"durationMs" must be a number');
  }
  return { secretKey: secretKey ?? undefined, durationMs: durationMs ?? undefined };
}

export function encodeRpcRequestPayload(profile: DeviceProfile, form: TopicForm, rpc: Rpc): Buffer {
  if (isProtobuf(profile, form)) return encodeRpcRequest(profile, rpc);
  return Buffer.from(JSON.stringify({ method: rpc.method, params: rpc.params }));
}

export function encodeAttributeUpdatePayload(profile: DeviceProfile, form: TopicForm, update: AttributeUpdate): Buffer {
  if (isProtobuf(profile, form)) return encodeAttributeUpdate(update);
  return Buffer.from(JSON.stringify(attributeUpdateJson(update)));
}

export function encodeAttributeResponsePayload(
  profile: DeviceProfile,
  form: TopicForm,
  requestId: number,
  client: readonly Attribute[],
  shared: readonly Attribute[],
): Buffer {
  if (isProtobuf(profile, form)) return encodeAttributeResponse(requestId, client, shared);
  return Buffer.from(JSON.stringify(attributeResponseJson(client, shared)));
}

export function encodeClientRpcReplyPayload(
  profile: DeviceProfile,
  form: TopicForm,
  requestId: number,
  reply: JsonValue,
): Buffer {
  if (isProtobuf(profile, form)) return encodeClientRpcResponse(requestId, reply);
  return Buffer.from(JSON.stringify(reply));
}
