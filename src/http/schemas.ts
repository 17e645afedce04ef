/**
 * Shapes of the management API, as TypeBox schemas: Fastify validates requests and serialises responses with them,
 * and @fastify/swagger turns them into the OpenAPI document. Response schemas also act as an allow-list: a field not
 * listed (a password hash, a key hash) is never sent.
 *
 * Nullable unions put `null` first: Fastify's Ajv coerces types, and with `string` first it would turn `null` into "".
 */
import { Type, type Static, type TSchema } from 'typebox';

export const ErrorBody = Type.Object(
  { error: Type.String({ description: 'Stable code, see docs/errors.md' }), message: Type.String() },
  { description: 'Every error' },
);

export const Id = Type.String({ minLength: 1, maxLength: 200 });
export const IdParams = Type.Object({ id: Id });
export type IdParams = Static<typeof IdParams>;

/** A name: 1 to 255 characters. */
export const Name = Type.String({ minLength: 1, maxLength: 255 });
export const RoleSchema = Type.Union([Type.Literal('admin'), Type.Literal('operator'), Type.Literal('viewer')]);
export const Nullable = <T extends TSchema>(schema: T) => Type.Union([Type.Null(), schema]);

/** Any JSON value. */
export const AnyJson = Type.Unknown();

export const Organization = Type.Object({
  id: Type.String(),
  name: Type.String(),
  retentionDays: Nullable(Type.Integer()),
  mqttId: Type.String({ description: 'The Medium One project id (a topic level)' }),
  createdAt: Type.Number(),
});

export const Zone = Type.Object({
  id: Type.String(),
  orgId: Type.String(),
  name: Type.String(),
  tier: Type.String({ description: "The zone's level in the hierarchy (also `kind`)" }),
  kind: Type.String(),
  parentId: Nullable(Type.String()),
  createdAt: Type.Number(),
});

export const DeviceSystem = Type.Object({
  id: Type.String(),
  orgId: Type.String(),
  name: Type.String(),
  zones: Type.Array(Type.String()),
  zoneId: Nullable(Type.String({ description: 'The first of `zones` (older clients)' })),
  createdAt: Type.Number(),
});

export const ProvisioningSettings = Type.Object(
  {
    strategy: Type.Union([
      Type.Literal('ALLOW_CREATE_NEW_DEVICES'),
      Type.Literal('CHECK_PRE_PROVISIONED_DEVICES'),
      Type.Literal('X509_CERTIFICATE_CHAIN'),
    ]),
    key: Type.String({ minLength: 1, description: 'provisionDeviceKey, unique across the server' }),
    secret: Type.String({ minLength: 1, description: 'provisionDeviceSecret' }),
    certificateRegex: Type.Optional(
      Type.String({ description: 'X509_CERTIFICATE_CHAIN: regex whose first group is the device name in the CN' }),
    ),
  },
  { additionalProperties: false },
);

export const ProtoSchemas = Type.Object(
  {
    telemetry: Type.Optional(Type.String()),
    attributes: Type.Optional(Type.String()),
    rpcRequest: Type.Optional(Type.String()),
    rpcResponse: Type.Optional(Type.String()),
  },
  { additionalProperties: false, description: 'proto3 sources per message kind (payloadType PROTOBUF)' },
);

export const PayloadType = Type.Union([Type.Literal('JSON'), Type.Literal('PROTOBUF')]);

export const Profile = Type.Object({
  id: Type.String(),
  orgId: Type.String(),
  name: Type.String(),
  payloadType: PayloadType,
  protoSchemas: ProtoSchemas,
  provisioning: Nullable(ProvisioningSettings),
  sendAckOnValidationFailure: Type.Boolean(),
  isDefault: Type.Boolean(),
  driverId: Nullable(Type.String({ description: 'The PlaceOS driver id (e.g. dep-123); null = the profile id' })),
  createdAt: Type.Number(),
  plugId: Type.Optional(Type.String({ description: 'CloudPlugs production template Plug-ID (mod-…), if it is one' })),
});

export const Credentials = Type.Union([
  Type.Object({ type: Type.Literal('ACCESS_TOKEN'), accessToken: Type.String() }),
  Type.Object({
    type: Type.Literal('MQTT_BASIC'),
    clientId: Nullable(Type.String()),
    username: Nullable(Type.String()),
    password: Nullable(Type.String()),
  }),
  Type.Object({ type: Type.Literal('X509_CERTIFICATE'), certificateHash: Type.String() }),
  Type.Object({
    type: Type.Literal('CLOUDPLUGS'),
    plugId: Type.String({ description: 'The device Plug-ID (dev-…)' }),
    auth: Type.Optional(Type.String({ description: 'Its auth code: only in the answer that created it' })),
  }),
]);

/**
 * Credentials as a request gives them: a token or certificate may be left for the server to generate or hash.
 * No `additionalProperties: false` in these branches: Ajv's removeAdditional would strip one branch's fields while
 * trying another.
 */
export const CredentialsInput = Type.Union([
  Type.Object({
    type: Type.Literal('ACCESS_TOKEN'),
    accessToken: Type.Optional(Type.String({ minLength: 1, maxLength: 255, description: 'default: generated' })),
  }),
  Type.Object({
    type: Type.Literal('MQTT_BASIC'),
    clientId: Type.Optional(Nullable(Type.String({ minLength: 1, maxLength: 255 }))),
    username: Type.Optional(Nullable(Type.String({ minLength: 1, maxLength: 255 }))),
    password: Type.Optional(Nullable(Type.String({ minLength: 1, maxLength: 255 }))),
  }),
  Type.Object({
    type: Type.Literal('X509_CERTIFICATE'),
    certificateHash: Type.Optional(Type.String({ description: 'SHA-256 (hex) of the DER certificate' })),
    certificatePem: Type.Optional(Type.String({ description: 'or the PEM certificate, hashed by the server' })),
  }),
  Type.Object({ type: Type.Literal('CLOUDPLUGS') }, { description: 'A CloudPlugs Plug-ID and auth code, generated' }),
]);
export type CredentialsInput = Static<typeof CredentialsInput>;

const deviceFields = {
  id: Type.String(),
  orgId: Type.String(),
  name: Type.String(),
  profileId: Type.String(),
  zoneId: Nullable(Type.String()),
  systemId: Nullable(Type.String()),
  index: Nullable(Type.Integer()),
  isGateway: Type.Boolean(),
  gatewayId: Nullable(Type.String()),
  createdAt: Type.Number(),
};
export const Device = Type.Object(deviceFields);
export const DeviceWithCredentials = Type.Object({ ...deviceFields, credentials: Credentials });

export const User = Type.Object({
  id: Type.String(),
  orgId: Type.String(),
  username: Type.String(),
  email: Nullable(Type.String()),
  mqttId: Type.String({ description: 'The Medium One user id (a topic level)' }),
  role: RoleSchema,
  createdAt: Type.Number(),
});

const apiKeyFields = {
  id: Type.String(),
  orgId: Type.String(),
  name: Type.String(),
  role: RoleSchema,
  prefix: Type.String({ description: 'The first characters of the key, to tell keys apart' }),
  createdAt: Type.Number(),
};
export const ApiKey = Type.Object(apiKeyFields);
export const CreatedApiKey = Type.Object({
  ...apiKeyFields,
  key: Type.String({ description: 'The key itself: shown only in this response' }),
});

/** Standard error responses to list on a route, for the OpenAPI document. */
export function errors(...statuses: number[]): Record<number, typeof ErrorBody> {
  const out: Record<number, typeof ErrorBody> = {};
  for (const status of statuses) out[status] = ErrorBody;
  return out;
}

/** Errors every authenticated route can answer. */
export const AUTHED_ERRORS = [400, 401, 403] as const;

/** `{"<key>": …}` objects. */
export const KeyedObject = <T extends TSchema>(value: T) => Type.Record(Type.String(), value);
