/**
 * ThingsBoard's fixed protobuf messages (device-apis.md §3.9, "Fixed protobuf messages used on non-profile topics"):
 * the ones a device exchanges on v2 `/p` topics and the gateway and provisioning topics whatever its profile's
 * schemas. Field numbers and types are ThingsBoard's (`queue.proto` package `transport`, `transport.proto` package
 * `transportapi`), defined once below and compiled once at load.
 *
 * API:
 * - uplink decoders, each throwing `ProtoPayloadError`: `decodeAttributesRequest` (v2/a/req/p),
 *   `decodeClientRpcRequest` (v2/r/req/p), `decodeClaimRequest` (claim), `decodeProvisionRequest` (provisioning);
 * - downlink encoders: `encodeAttributeResponse` (attribute response), `encodeAttributeUpdate` (shared attribute
 *   update), `encodeClientRpcResponse` (client-side RPC reply), `encodeProvisionResponse`;
 * - `toKeyValueProto(key, value)`: a stored value as ThingsBoard's `KeyValueProto` object;
 * - `fixedMessage(name)`: any message below by full name (e.g. `transportapi.GatewayTelemetryMsg`).
 */
import protobuf from 'protobufjs';
import type { AttributeUpdate } from '../../platform/device-links.js';
import type { Attribute, DataValue, JsonValue } from '../../platform/model.js';
import { ProtoPayloadError } from './protobuf.js';

/** `queue.proto` (package `transport`): the parts devices see. */
export const TRANSPORT_PROTO = `syntax = "proto3";
package transport;

enum KeyValueType {
  BOOLEAN_V = 0;
  LONG_V = 1;
  DOUBLE_V = 2;
  STRING_V = 3;
  JSON_V = 4;
}

enum CredentialsType {
  ACCESS_TOKEN = 0;
  X509_CERTIFICATE = 1;
  MQTT_BASIC = 2;
  LWM2M_CREDENTIALS = 3;
}

enum ResponseStatus {
  UNKNOWN = 0;
  SUCCESS = 1;
  NOT_FOUND = 2;
  FAILURE = 3;
}

message KeyValueProto {
  string key = 1;
  KeyValueType type = 2;
  bool bool_v = 3;
  int64 long_v = 4;
  double double_v = 5;
  string string_v = 6;
  string json_v = 7;
}

message TsKvProto {
  int64 ts = 1;
  KeyValueProto kv = 2;
}

message TsKvListProto {
  int64 ts = 1;
  repeated KeyValueProto kv = 2;
}

message PostTelemetryMsg {
  repeated TsKvListProto tsKvList = 1;
}

message PostAttributeMsg {
  repeated KeyValueProto kv = 1;
  bool shared = 2;
}

message GetAttributeResponseMsg {
  int32 requestId = 1;
  repeated TsKvProto clientAttributeList = 2;
  repeated TsKvProto sharedAttributeList = 3;
  bool isMultipleAttributesRequest = 4;
  string error = 5;
  bool sharedStateMsg = 6;
}

message AttributeUpdateNotificationMsg {
  repeated TsKvProto sharedUpdated = 1;
  repeated string sharedDeleted = 2;
}

message ToDeviceRpcRequestMsg {
  int32 requestId = 1;
  string methodName = 2;
  string params = 3;
  int64 expirationTime = 4;
  int64 requestIdMSB = 5;
  int64 requestIdLSB = 6;
  bool oneway = 7;
  bool persisted = 8;
}

message ToServerRpcResponseMsg {
  int32 requestId = 1;
  string payload = 2;
  string error = 3;
}

message ValidateDeviceTokenRequestMsg {
  string token = 1;
}

message ValidateDeviceX509CertRequestMsg {
  string hash = 1;
}

message ValidateBasicMqttCredRequestMsg {
  string clientId = 1;
  string userName = 2;
  string password = 3;
}

message CredentialsDataProto {
  ValidateDeviceTokenRequestMsg validateDeviceTokenRequestMsg = 1;
  ValidateDeviceX509CertRequestMsg validateDeviceX509CertRequestMsg = 2;
  ValidateBasicMqttCredRequestMsg validateBasicMqttCredRequestMsg = 3;
}

message ProvisionDeviceCredentialsMsg {
  string provisionDeviceKey = 1;
  string provisionDeviceSecret = 2;
}

message ProvisionDeviceRequestMsg {
  string deviceName = 1;
  CredentialsType credentialsType = 2;
  ProvisionDeviceCredentialsMsg provisionDeviceCredentialsMsg = 3;
  CredentialsDataProto credentialsDataProto = 4;
  bool gateway = 5;
}

message ProvisionDeviceResponseMsg {
  ResponseStatus status = 1;
  CredentialsType credentialsType = 2;
  string credentialsValue = 3;
}
`;

/** `transport.proto` (package `transportapi`): v2 `/p` requests and the gateway messages. */
export const TRANSPORT_API_PROTO = `syntax = "proto3";
package transportapi;

message ClaimDevice {
  string secretKey = 1;
  int64 durationMs = 2;
}

message AttributesRequest {
  string clientKeys = 1;
  string sharedKeys = 2;
}

message RpcRequest {
  string method = 1;
  string params = 2;
}

message DisconnectMsg {
  string deviceName = 1;
}

message ConnectMsg {
  string deviceName = 1;
  string deviceType = 2;
}

message TelemetryMsg {
  string deviceName = 1;
  transport.PostTelemetryMsg msg = 3;
}

message AttributesMsg {
  string deviceName = 1;
  transport.PostAttributeMsg msg = 2;
}

message ClaimDeviceMsg {
  string deviceName = 1;
  ClaimDevice claimRequest = 2;
}

message GatewayTelemetryMsg {
  repeated TelemetryMsg msg = 1;
}

message GatewayClaimMsg {
  repeated ClaimDeviceMsg msg = 1;
}

message GatewayAttributesMsg {
  repeated AttributesMsg msg = 1;
}

message GatewayRpcResponseMsg {
  string deviceName = 1;
  int32 id = 2;
  string data = 3;
}

message GatewayAttributeResponseMsg {
  string deviceName = 1;
  transport.GetAttributeResponseMsg responseMsg = 2;
}

message GatewayAttributeUpdateNotificationMsg {
  string deviceName = 1;
  transport.AttributeUpdateNotificationMsg notificationMsg = 2;
}

message GatewayDeviceRpcRequestMsg {
  string deviceName = 1;
  transport.ToDeviceRpcRequestMsg rpcRequestMsg = 2;
}

message GatewayAttributesRequestMsg {
  int32 id = 1;
  string deviceName = 2;
  bool client = 3;
  repeated string keys = 4;
}
`;

const root = new protobuf.Root();
// keepCase: these objects are read by field name in code below, spelled as in ThingsBoard's .proto files.
protobuf.parse(TRANSPORT_PROTO, root, { keepCase: true });
protobuf.parse(TRANSPORT_API_PROTO, root, { keepCase: true });
root.resolveAll();

/** A fixed message type by full name; throws for a name not defined above (a programming error). */
export function fixedMessage(name: string): protobuf.Type {
  return root.lookupType(name);
}

const AttributesRequest = fixedMessage('transportapi.AttributesRequest');
const RpcRequest = fixedMessage('transportapi.RpcRequest');
const ClaimDevice = fixedMessage('transportapi.ClaimDevice');
const ProvisionDeviceRequestMsg = fixedMessage('transport.ProvisionDeviceRequestMsg');
const ProvisionDeviceResponseMsg = fixedMessage('transport.ProvisionDeviceResponseMsg');
const GetAttributeResponseMsg = fixedMessage('transport.GetAttributeResponseMsg');
const AttributeUpdateNotificationMsg = fixedMessage('transport.AttributeUpdateNotificationMsg');
const ToServerRpcResponseMsg = fixedMessage('transport.ToServerRpcResponseMsg');

/** Plain-object view: longs as numbers, enums by name, proto3 defaults filled in (an unset string reads ""). */
const PLAIN: protobuf.IConversionOptions = { longs: Number, enums: String, bytes: String, defaults: true };

function decode(type: protobuf.Type, payload: Buffer): Record<string, unknown> {
  try {
    return type.toObject(type.decode(payload), PLAIN);
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new ProtoPayloadError(`not a ${type.name} message: ${reason}`, { cause: error });
  }
}

function text(value: unknown): string {
  return typeof value === 'string' ? value : '';
}

/** Comma-separated keys as ThingsBoard splits them; an empty string means "not asked". */
function keyList(value: unknown): string[] | undefined {
  const raw = text(value);
  return raw === '' ? undefined : raw.split(',');
}

/** `transportapi.AttributesRequest` → the same shape the JSON `{clientKeys, sharedKeys}` request parses to. */
export function decodeAttributesRequest(payload: Buffer): {
  clientKeys: string[] | undefined;
  sharedKeys: string[] | undefined;
} {
  const message = decode(AttributesRequest, payload);
  return { clientKeys: keyList(message['clientKeys']), sharedKeys: keyList(message['sharedKeys']) };
}

/**
 * `transportapi.RpcRequest`: `params` is JSON text in ThingsBoard; text that is not JSON is passed on as a string.
 * An empty method is a payload error, as a JSON request without `method` is.
 */
export function decodeClientRpcRequest(payload: Buffer): { method: string; params: JsonValue } {
  const message = decode(RpcRequest, payload);
  const method = text(message['method']);
  if (method === '') throw new ProtoPayloadError('the RPC request has no method');
  return { method, params: parseJsonText(text(message['params'])) };
}

/** `transportapi.ClaimDevice`; `durationMs` 0 (unset) means the server default. */
export function decodeClaimRequest(payload: Buffer): { secretKey: string; durationMs: number | undefined } {
  const message = decode(ClaimDevice, payload);
  const durationMs = typeof message['durationMs'] === 'number' ? message['durationMs'] : 0;
  return { secretKey: text(message['secretKey']), durationMs: durationMs > 0 ? durationMs : undefined };
}

/** The provisioning request fields, whichever encoding they came in (provision.ts validates them). */
export interface ProvisionRequestFields {
  provisionDeviceKey: string | undefined;
  provisionDeviceSecret: string | undefined;
  deviceName: string | undefined;
  credentialsType: string | undefined;
  token: string | undefined;
  clientId: string | undefined;
  username: string | undefined;
  password: string | undefined;
  hash: string | undefined;
  isGateway: boolean;
}

/** `transport.ProvisionDeviceRequestMsg` → request fields. Throws ProtoPayloadError. */
export function decodeProvisionRequest(payload: Buffer): ProvisionRequestFields {
  const message = decode(ProvisionDeviceRequestMsg, payload);
  const keys = asRecord(message['provisionDeviceCredentialsMsg']);
  const data = asRecord(message['credentialsDataProto']);
  const token = asRecord(data['validateDeviceTokenRequestMsg']);
  const x509 = asRecord(data['validateDeviceX509CertRequestMsg']);
  const basic = asRecord(data['validateBasicMqttCredRequestMsg']);
  const optional = (value: unknown): string | undefined => (text(value) === '' ? undefined : text(value));
  return {
    // A proto3 string is never absent: an empty key or secret reads as "" and answers NOT_FOUND, as in ThingsBoard.
    provisionDeviceKey: text(keys['provisionDeviceKey']),
    provisionDeviceSecret: text(keys['provisionDeviceSecret']),
    deviceName: optional(message['deviceName']),
    credentialsType: text(message['credentialsType']) || 'ACCESS_TOKEN',
    token: optional(token['token']),
    clientId: optional(basic['clientId']),
    username: optional(basic['userName']),
    password: optional(basic['password']),
    hash: optional(x509['hash']),
    isGateway: message['gateway'] === true,
  };
}

/** `transport.ProvisionDeviceResponseMsg`. MQTT_BASIC credentials go as their JSON text (ThingsBoard does the same). */
export function encodeProvisionResponse(response: {
  status: 'SUCCESS' | 'NOT_FOUND' | 'FAILURE';
  credentialsType?: string | undefined;
  credentialsValue?: string | undefined;
}): Buffer {
  const fields: Record<string, unknown> = { status: response.status };
  if (response.credentialsType !== undefined) fields['credentialsType'] = response.credentialsType;
  if (response.credentialsValue !== undefined) fields['credentialsValue'] = response.credentialsValue;
  return encode(ProvisionDeviceResponseMsg, fields);
}

/** A stored value as `transport.KeyValueProto` (typed as ThingsBoard types it: integers LONG_V, objects JSON_V). */
export function toKeyValueProto(key: string, value: DataValue): Record<string, unknown> {
  switch (typeof value) {
    case 'boolean':
      return { key, type: 'BOOLEAN_V', bool_v: value };
    case 'number':
      return Number.isSafeInteger(value)
        ? { key, type: 'LONG_V', long_v: value }
        : { key, type: 'DOUBLE_V', double_v: value };
    case 'string':
      return { key, type: 'STRING_V', string_v: value };
    default:
      return { key, type: 'JSON_V', json_v: JSON.stringify(value) };
  }
}

/** `transport.GetAttributeResponseMsg` for an attribute request (v2/a/res/p/<id>). */
export function encodeAttributeResponse(
  requestId: number,
  client: readonly Attribute[],
  shared: readonly Attribute[],
  isMultipleAttributesRequest = true,
): Buffer {
  const tsKv = (a: Attribute): Record<string, unknown> => ({ ts: a.lastUpdateTs, kv: toKeyValueProto(a.key, a.value) });
  return encode(GetAttributeResponseMsg, {
    requestId,
    clientAttributeList: client.map(tsKv),
    sharedAttributeList: shared.map(tsKv),
    isMultipleAttributesRequest,
  });
}

/** `transport.AttributeUpdateNotificationMsg` for a shared attribute update (v2/a/p subscribers). */
export function encodeAttributeUpdate(update: AttributeUpdate, ts = Date.now()): Buffer {
  return encode(AttributeUpdateNotificationMsg, {
    sharedUpdated: Object.entries(update.values).map(([key, value]) => ({ ts, kv: toKeyValueProto(key, value) })),
    sharedDeleted: update.deleted,
  });
}

/** `transport.ToServerRpcResponseMsg` for a client-side RPC reply; `{"error": …}` replies fill `error`. */
export function encodeClientRpcResponse(requestId: number, reply: JsonValue): Buffer {
  const error = isRecord(reply) && Object.keys(reply).length === 1 ? reply['error'] : undefined;
  return encode(
    ToServerRpcResponseMsg,
    typeof error === 'string' ? { requestId, error } : { requestId, payload: JSON.stringify(reply) },
  );
}

function encode(type: protobuf.Type, fields: Record<string, unknown>): Buffer {
  return Buffer.from(type.encode(type.fromObject(fields)).finish());
}

function parseJsonText(raw: string): JsonValue {
  if (raw === '') return null;
  try {
    return JSON.parse(raw) as JsonValue;
  } catch {
    return raw;
  }
}

function isRecord(value: unknown): value is Record<string, JsonValue> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

function asRecord(value: unknown): Record<string, unknown> {
  return value !== null && typeof value === 'object' ? (value as Record<string, unknown>) : {};
}
