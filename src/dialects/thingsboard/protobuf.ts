/**
 * Per-profile protobuf codecs for ThingsBoard devices whose profile has payload type PROTOBUF (device-apis.md §3.9).
 *
 * API (what the core dialect and the HTTP API call):
 * - `decodeProfilePayload(profile, kind, payload)` → the JSON object a telemetry, attributes or RPC-response payload
 *   stands for; it then goes through the same JSON typing rules as a JSON payload (§3.9 "dynamic message → JSON →
 *   same JSON rules as 3.3"). Throws `ProtoPayloadError` (answer 0x99) when the bytes do not decode.
 * - `encodeRpcRequest(profile, rpc)` → the bytes of a server-side RPC for a PROTOBUF device (the profile's rpcRequest
 *   schema, default `RpcRequestMsg{method=1,requestId=2,params=3}`; `params` is the JSON text, as ThingsBoard sends).
 * - `validateProtoSchemas(schemas)` → an error message, or undefined when every given schema is usable; call it when a
 *   profile is saved so a device never meets a broken schema.
 * - `DEFAULT_PROTO_SCHEMAS`: ThingsBoard's default schema texts, used for a kind the profile leaves empty.
 *
 * Which message of a schema is used: the last top-level message, as ThingsBoard's `DynamicProtoUtils`
 * (`getDynamicMessageBuilder` picks `lastMsgName`). Compiled schemas are cached per profile and kind, keyed by a hash
 * of the text, so an edited profile is recompiled on its next message and the cache holds one entry per profile kind.
 *
 * JSON form: as ThingsBoard's `JsonFormat.printer().includingDefaultValueFields()` prints a decoded message — scalar
 * fields at their default are present (a sensor that reads 0 °C must not lose the reading: proto3 cannot tell 0 from
 * absent), unset sub-messages are absent, field names lowerCamelCase, enums by name, bytes as base64, NaN/Infinity as
 * strings. 64-bit integers become JSON numbers (exact up to 2^53).
 */
import { createHash } from 'node:crypto';
import protobuf from 'protobufjs';
import type { DeviceProfile, JsonValue, ProtoSchemas } from '../../platform/model.js';

/** The four user-editable schemas of a profile. */
export type ProtoSchemaKind = 'telemetry' | 'attributes' | 'rpcRequest' | 'rpcResponse';

/** A device's protobuf payload did not decode with its profile's schema (→ PUBACK 0x99 / HTTP 400). */
export class ProtoPayloadError extends Error {
  readonly code = 'PROTO_PAYLOAD_INVALID';
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'ProtoPayloadError';
  }
}

/** ThingsBoard's default schemas (device profile "MQTT transport → Protobuf", `device.models.ts`). */
export const DEFAULT_PROTO_SCHEMAS: Readonly<Required<{ [K in ProtoSchemaKind]: string }>> = {
  telemetry: `syntax ="proto3";
package telemetry;

message SensorDataReading {

  optional double temperature = 1;
  optional double humidity = 2;
  InnerObject innerObject = 3;

  message InnerObject {
    optional string key1 = 1;
    optional bool key2 = 2;
    optional double key3 = 3;
    optional int32 key4 = 4;
    optional string key5 = 5;
  }
}`,
  attributes: `syntax ="proto3";
package attributes;

message SensorConfiguration {
  optional string firmwareVersion = 1;
  optional string serialNumber = 2;
}`,
  rpcRequest: `syntax ="proto3";
package rpc;

message RpcRequestMsg {
  optional string method = 1;
  optional int32 requestId = 2;
  optional string params = 3;
}`,
  rpcResponse: `syntax ="proto3";
package rpc;

message RpcResponseMsg {
  optional string payload = 1;
}`,
};

/** toObject options that give ThingsBoard's JSON form (see the module comment). */
export const JSON_CONVERSION: protobuf.IConversionOptions = {
  longs: Number,
  enums: String,
  bytes: String,
  defaults: true,
  json: true,
};

interface CachedType {
  hash: string;
  type: protobuf.Type;
}

/** Compiled message types by `profileId/kind`; one entry per profile kind, replaced when the schema text changes. */
const compiled = new Map<string, CachedType>();

/** Schema text for `kind`: the profile's own, or ThingsBoard's default when the profile leaves it empty. */
function schemaText(schemas: ProtoSchemas, kind: ProtoSchemaKind): string {
  const own = schemas[kind];
  return own !== undefined && own.trim() !== '' ? own : DEFAULT_PROTO_SCHEMAS[kind];
}

/** The message type a profile uses for `kind`, compiled once per schema text. */
export function profileMessageType(profile: DeviceProfile, kind: ProtoSchemaKind): protobuf.Type {
  const text = schemaText(profile.protoSchemas, kind);
  const hash = createHash('sha1').update(text).digest('hex');
  const key = `${profile.id}/${kind}`;
  const cached = compiled.get(key);
  if (cached?.hash === hash) return cached.type;
  // A schema that fails here was saved without validation (or predates it): the device's payload is what is refused.
  let type: protobuf.Type;
  try {
    type = compileSchema(text);
  } catch (error) {
    throw new ProtoPayloadError(`the profile's ${kind} schema does not compile: ${errorText(error)}`, {
      cause: error,
    });
  }
  compiled.set(key, { hash, type });
  return type;
}

/** Parses a proto3 text and returns its last top-level message, resolved. Throws on any problem. */
export function compileSchema(text: string): protobuf.Type {
  const parsed = protobuf.parse(text, new protobuf.Root());
  const top = parsed.package === undefined ? parsed.root : parsed.root.lookup(parsed.package);
  if (!(top instanceof protobuf.Namespace)) throw new Error('the package declares no types');
  let last: protobuf.Type | undefined;
  for (const nested of top.nestedArray) if (nested instanceof protobuf.Type) last = nested;
  if (last === undefined) throw new Error('at least one message definition is required');
  parsed.root.resolveAll();
  return last;
}

/** Decodes a device payload to its JSON form. Throws ProtoPayloadError. */
export function decodeProfilePayload(
  profile: DeviceProfile,
  kind: Exclude<ProtoSchemaKind, 'rpcRequest'>,
  payload: Buffer,
): { [key: string]: JsonValue } {
  const type = profileMessageType(profile, kind);
  return decodeToJson(type, payload);
}

/** Decodes `payload` as `type` into ThingsBoard's JSON form. Throws ProtoPayloadError. */
export function decodeToJson(type: protobuf.Type, payload: Buffer): { [key: string]: JsonValue } {
  let message: protobuf.Message;
  try {
    message = type.decode(payload);
  } catch (error) {
    throw new ProtoPayloadError(`not a ${type.name} message: ${errorText(error)}`, { cause: error });
  }
  return withoutNulls(type.toObject(message, JSON_CONVERSION)) as { [key: string]: JsonValue };
}

/**
 * Encodes a server-side RPC for a PROTOBUF device. The schema's `method`, `requestId` and `params` fields are set
 * (those it has); `params` carries the JSON text, as ThingsBoard's `ProtoConverter.convertToRpcRequest` does.
 */
export function encodeRpcRequest(
  profile: DeviceProfile,
  rpc: { method: string; requestId: number; params: JsonValue },
): Buffer {
  const type = profileMessageType(profile, 'rpcRequest');
  const fields: Record<string, unknown> = {};
  if (type.fields['method'] !== undefined) fields['method'] = rpc.method;
  if (type.fields['requestId'] !== undefined) fields['requestId'] = rpc.requestId;
  if (type.fields['params'] !== undefined) fields['params'] = JSON.stringify(rpc.params);
  return Buffer.from(type.encode(type.fromObject(fields)).finish());
}

/**
 * Checks the schemas a profile is saved with, as ThingsBoard's `DynamicProtoUtils.validateProtoSchema`: each given
 * text must parse, declare `syntax = "proto3"`, import nothing, extend nothing, declare no file options or services,
 * and define at least one top-level message whose types all resolve. Returns the first problem, naming the schema.
 */
export function validateProtoSchemas(schemas: ProtoSchemas): string | undefined {
  for (const kind of ['telemetry', 'attributes', 'rpcRequest', 'rpcResponse'] as const) {
    const text = schemas[kind];
    if (text === undefined) continue;
    const problem = schemaProblem(text);
    if (problem !== undefined) return `${kind} schema: ${problem}`;
  }
  return undefined;
}

function schemaProblem(text: string): string | undefined {
  const code = stripComments(text);
  if (!/^\s*syntax\s*=\s*(["'])proto3\1\s*;/.test(code)) return 'only syntax = "proto3" is supported';
  if (/(^|[;}\s])import\s/.test(code)) return 'imports are not supported';
  if (/(^|[;}\s])extend\s/.test(code)) return 'extend declarations are not supported';
  if (/(^|[;}\s])service\s/.test(code)) return 'services are not supported';
  if (/(^|[;}\s])option\s/.test(topLevel(code))) return 'file options are not supported';
  try {
    compileSchema(text);
  } catch (error) {
    return errorText(error);
  }
  return undefined;
}

/** Removes `//` and `/* *\/` comments (outside string literals) so keyword checks see only code. */
function stripComments(text: string): string {
  return text.replace(/("(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')|\/\/[^\n]*|\/\*[^]*?\*\//g, (_match, literal: unknown) =>
    typeof literal === 'string' ? literal : ' ',
  );
}

/** The text outside every `{…}` block: the file-level statements. */
function topLevel(code: string): string {
  let depth = 0;
  let out = '';
  for (const char of code) {
    if (char === '{') depth++;
    else if (char === '}') depth = Math.max(0, depth - 1);
    else if (depth === 0) out += char;
  }
  return out;
}

/** toObject with defaults sets unset sub-messages to null; ThingsBoard's printer leaves them out. */
function withoutNulls(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(withoutNulls);
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [key, member] of Object.entries(value)) if (member !== null) out[key] = withoutNulls(member);
    return out;
  }
  return value;
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
