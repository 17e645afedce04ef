/**
 * Protobuf payloads per device profile (device-apis.md §3.9): schemas validated when saved, payloads decoded with the
 * profile's last top-level message into ThingsBoard's JSON form and stored through the JSON typing rules, RPC
 * requests encoded as `RpcRequestMsg`, and a payload that does not decode refused with 0x99 (MQTT 5).
 */
import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, test } from 'node:test';
import protobuf from 'protobufjs';
import {
  compileSchema,
  decodeProfilePayload,
  DEFAULT_PROTO_SCHEMAS,
  encodeRpcRequest,
  validateProtoSchemas,
} from '../../src/dialects/thingsboard/protobuf.js';
import type { DeviceProfile } from '../../src/platform/model.js';
import { connectClient, Resources } from '../helpers/mqtt-js.js';
import { startGatewayTestBed, type GatewayTestBed } from './gateway-helpers.js';

const TELEMETRY_SCHEMA = `syntax = "proto3";
package weather;

message Wind {
  double speed = 1;
}

message Reading {
  double temperature = 1;
  int64 sample_count = 2;
  Wind wind = 3;
  Mode mode = 4;
  enum Mode { AUTO = 0; MANUAL = 1; }
}`;

function profileWith(schemas: DeviceProfile['protoSchemas'], id = 'profile-1'): DeviceProfile {
  return {
    id,
    orgId: 'org',
    name: 'Weather',
    payloadType: 'PROTOBUF',
    protoSchemas: schemas,
    provisioning: null,
    sendAckOnValidationFailure: false,
    isDefault: false,
    driverId: null,
    createdAt: 0,
  };
}

function encode(schema: string, fields: Record<string, unknown>): Buffer {
  const type = compileSchema(schema);
  return Buffer.from(type.encode(type.fromObject(fields)).finish());
}

describe('schema validation', () => {
  test("ThingsBoard's default schemas are valid", () => {
    assert.equal(validateProtoSchemas(DEFAULT_PROTO_SCHEMAS), undefined);
  });

  test('proto2, imports, services, file options, no message and syntax errors are refused, naming the schema', () => {
    const refused = [
      'syntax = "proto2"; message A { optional int32 a = 1; }',
      'syntax = "proto3"; import "other.proto"; message A { int32 a = 1; }',
      'syntax = "proto3"; message A { int32 a = 1; } service S { rpc Get (A) returns (A); }',
      'syntax = "proto3"; option java_package = "x"; message A { int32 a = 1; }',
      'syntax = "proto3"; enum E { X = 0; }',
      'syntax = "proto3"; message A { int32 a = ; }',
      'syntax = "proto3"; message A { Missing a = 1; }',
    ];
    for (const telemetry of refused) {
      const problem = validateProtoSchemas({ telemetry });
      assert.ok(problem?.startsWith('telemetry schema: '), `refused: ${telemetry} (${String(problem)})`);
    }
  });
});

describe('decoding', () => {
  test('the last top-level message is decoded, camelCase names, enums by name, zero values kept', () => {
    const profile = profileWith({ telemetry: TELEMETRY_SCHEMA });
    const payload = encode(TELEMETRY_SCHEMA, { temperature: 0, sampleCount: 12, wind: { speed: 3.5 }, mode: 1 });
    assert.deepEqual(decodeProfilePayload(profile, 'telemetry', payload), {
      temperature: 0,
      sampleCount: 12,
      wind: { speed: 3.5 },
      mode: 'MANUAL',
    });
  });

  test('an unset sub-message is absent rather than null', () => {
    const profile = profileWith({ telemetry: TELEMETRY_SCHEMA });
    assert.deepEqual(decodeProfilePayload(profile, 'telemetry', encode(TELEMETRY_SCHEMA, { temperature: 1 })), {
      temperature: 1,
      sampleCount: 0,
      mode: 'AUTO',
    });
  });

  test('an edited schema is used for the next payload of the same profile', () => {
    const first = profileWith({ attributes: 'syntax = "proto3"; message A { string fw = 1; }' });
    const edited = profileWith({ attributes: 'syntax = "proto3"; message B { string serial = 1; }' });
    const payload = encode('syntax = "proto3"; message X { string v = 1; }', { v: 'abc' });
    assert.deepEqual(decodeProfilePayload(first, 'attributes', payload), { fw: 'abc' });
    assert.deepEqual(decodeProfilePayload(edited, 'attributes', payload), { serial: 'abc' });
  });

  test('an RPC request is encoded as RpcRequestMsg with params as JSON text', () => {
    const bytes = encodeRpcRequest(profileWith({}), { method: 'setGpio', requestId: 7, params: { pin: 4 } });
    const type = protobuf.parse(DEFAULT_PROTO_SCHEMAS.rpcRequest).root.lookupType('rpc.RpcRequestMsg');
    assert.deepEqual(type.toObject(type.decode(bytes)), { method: 'setGpio', requestId: 7, params: '{"pin":4}' });
  });
});

describe('over MQTT', () => {
  let bed: GatewayTestBed;
  let resources: Resources;
  let token: string;

  beforeEach(async () => {
    resources = new Resources();
    bed = await startGatewayTestBed();
    const profile = await bed.platform.entities.createProfile(bed.org.id, {
      name: 'Weather',
      payloadType: 'PROTOBUF',
      protoSchemas: { telemetry: TELEMETRY_SCHEMA },
    });
    const created = await bed.platform.entities.createDevice(bed.org.id, { name: 'Station', profileId: profile.id });
    assert.equal(created.credentials.type, 'ACCESS_TOKEN');
    token = created.credentials.accessToken;
  });

  afterEach(async () => {
    await resources.closeAll();
    await bed.close();
  });

  test('protobuf telemetry of a PROTOBUF-profile device is decoded with its schema and stored', async () => {
    const device = resources.add(await connectClient(bed.url, { username: token, protocolVersion: 5 }));
    const payload = encode(TELEMETRY_SCHEMA, { temperature: 18.25, sampleCount: 3, wind: { speed: 2 } });
    await device.client.publishAsync('v1/devices/me/telemetry', payload, { qos: 1 });
    const station = await bed.platform.store.getDeviceByName(bed.org.id, 'Station');
    const latest = await bed.platform.store.latestTelemetry(station!.id);
    assert.deepEqual(Object.fromEntries(latest.map((p) => [p.key, p.value])), {
      temperature: 18.25,
      sampleCount: 3,
      wind: { speed: 2 },
      mode: 'AUTO',
    });
  });

  test('bytes that are not the profile message get PUBACK 0x99 and the session stays open', async () => {
    const device = resources.add(await connectClient(bed.url, { username: token, protocolVersion: 5 }));
    const code = await device.client
      .publishAsync('v1/devices/me/telemetry', Buffer.from([0x0a, 0xff, 0xff]), { qos: 1 })
      .then(
        () => 0,
        (error: unknown) => (error as { code?: number }).code,
      );
    assert.equal(code, 0x99);
    assert.equal(device.client.connected, true);
  });
});
