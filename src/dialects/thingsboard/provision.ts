/**
 * ThingsBoard device provisioning (device-apis.md §3.6): a device that knows its profile's provision key and secret
 * gets credentials, either as a new device (ALLOW_CREATE_NEW_DEVICES) or as one created beforehand
 * (CHECK_PRE_PROVISIONED_DEVICES). The third strategy, X509_CERTIFICATE_CHAIN, happens at CONNECT: provision-x509.ts.
 *
 * API (the core dialect calls it for PUBLISH `/provision/request` on a provisioning session; the HTTP plugin in
 * provision-http.ts for `POST /api/v1/provision`):
 *
 *   handleProvisionRequest(platform, payload, context) → { reply, isProtobuf, outcome }
 *
 * - The payload is read as JSON; if it is not JSON at all it is read as protobuf `ProvisionDeviceRequestMsg` and the
 *   reply is protobuf `ProvisionDeviceResponseMsg` too (`isProtobuf`), as ThingsBoard's `processProvisionSessionMsg`.
 * - outcome SUCCESS / NOT_FOUND / FAILURE: publish `reply` on `/provision/response`, PUBACK 0x00.
 * - outcome ERROR (a missing key or secret field, a payload neither JSON object nor protobuf, an unknown credentials
 *   type): ThingsBoard answers PUBACK 0x83 and disconnects; `reply` is empty.
 *
 * `provisionHandler` is the same in the core dialect's `ProvisionHandler` form (types.ts): it rejects with
 * `ProvisionRequestError` for ERROR and passes the session's client certificate on.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { PeerCertificate } from 'node:tls';
import { randomAlphanumeric } from '../../platform/entities.js';
import type { DeviceCredentials, DeviceProfile, JsonValue } from '../../platform/model.js';
import type { Platform } from '../../platform/platform.js';
import type { DeviceWithCredentials } from '../../storage/platform-store.js';
import { decodeProvisionRequest, encodeProvisionResponse, type ProvisionRequestFields } from './protobuf-messages.js';
import { ProtoPayloadError } from './protobuf.js';
import type { ProvisionHandler } from './types.js';

export type ProvisionOutcome = 'SUCCESS' | 'NOT_FOUND' | 'FAILURE' | 'ERROR';

export interface ProvisionResult {
  /** The body to send (empty for ERROR). */
  reply: Buffer;
  /** The request came as protobuf, so `reply` is protobuf. */
  isProtobuf: boolean;
  outcome: ProvisionOutcome;
}

export interface ProvisionContext {
  /** The TLS client certificate of the provisioning session: registered for X509_CERTIFICATE requests without `hash`. */
  certificate?: PeerCertificate | undefined;
}

/** The server attribute ThingsBoard stores on a provisioned device, and its value. */
export const PROVISION_STATE_KEY = 'provisionState';
export const PROVISIONED_STATE = 'provisioned';

/** ThingsBoard's exact error messages (`DeviceProvisionCallback`, JsonConverter). */
const NOT_FOUND_MESSAGE = 'Provision data was not found!';
const FAILURE_MESSAGE = 'Failed to provision device!';

const CREDENTIALS_TYPES = ['ACCESS_TOKEN', 'MQTT_BASIC', 'X509_CERTIFICATE'] as const;
type ProvisionCredentialsType = (typeof CREDENTIALS_TYPES)[number];

/** Devices being provisioned right now: a second request for one of them fails instead of racing the first. */
const inProgress = new Set<string>();

/** Answers one provisioning request; never rejects (a store failure is a FAILURE reply, as ThingsBoard's). */
export async function handleProvisionRequest(
  platform: Platform,
  payload: Buffer,
  context: ProvisionContext = {},
): Promise<ProvisionResult> {
  const parsed = parseRequest(payload);
  if (parsed === undefined) return { reply: Buffer.alloc(0), isProtobuf: false, outcome: 'ERROR' };
  const { request, isProtobuf } = parsed;
  const credentialsType = request.credentialsType ?? 'ACCESS_TOKEN';
  // ThingsBoard reads both fields with `getAsString` and the type with `valueOf`: a missing one is a runtime error.
  if (
    request.provisionDeviceKey === undefined ||
    request.provisionDeviceSecret === undefined ||
    !isCredentialsType(credentialsType)
  ) {
    return { reply: Buffer.alloc(0), isProtobuf, outcome: 'ERROR' };
  }
  let result: ProvisionReply;
  try {
    result = await provision(platform, request, credentialsType, context);
  } catch {
    result = { status: 'FAILURE' };
  }
  return { reply: encodeReply(result, isProtobuf), isProtobuf, outcome: result.status };
}

/** A provisioning request ThingsBoard treats as a processing error (PUBACK 0x83 and disconnect; HTTP 400 here). */
export class ProvisionRequestError extends Error {
  readonly code = 'PROVISION_REQUEST_INVALID';
  constructor() {
    super('provisionDeviceKey and provisionDeviceSecret are required; credentialsType must be known');
    this.name = 'ProvisionRequestError';
  }
}

/** `handleProvisionRequest` as the core dialect's `ProvisionHandler`. */
export const provisionHandler: ProvisionHandler = async (platform, request) => {
  const certificate = request.connection?.peerCertificate;
  const result = await handleProvisionRequest(
    platform,
    request.payload,
    certificate === undefined ? {} : { certificate },
  );
  if (result.outcome === 'ERROR') throw new ProvisionRequestError();
  return { payload: result.reply, contentType: result.isProtobuf ? 'application/x-protobuf' : 'application/json' };
};

type ProvisionReply =
  | { status: 'SUCCESS'; credentials: DeviceCredentials; credentialsValue: JsonValue }
  | { status: 'NOT_FOUND' | 'FAILURE' };

/** ThingsBoard's `DeviceProvisionServiceImpl.provisionDevice`, with the order of its checks. */
async function provision(
  platform: Platform,
  request: ProvisionRequestFields,
  credentialsType: ProvisionCredentialsType,
  context: ProvisionContext,
): Promise<ProvisionReply> {
  let deviceName = request.deviceName;
  if (deviceName !== undefined) {
    deviceName = deviceName.trim();
    if (deviceName === '') return { status: 'FAILURE' };
  }
  const key = request.provisionDeviceKey ?? '';
  const secret = request.provisionDeviceSecret ?? '';
  if (key === '' || secret === '') return { status: 'NOT_FOUND' };
  const profile = await platform.store.getProfileByProvisionKey(key);
  const settings = profile?.provisioning;
  if (profile === undefined || settings == null || !secretMatches(settings.secret, secret)) {
    return { status: 'NOT_FOUND' };
  }
  const name = deviceName ?? randomAlphanumeric(20);
  switch (settings.strategy) {
    case 'ALLOW_CREATE_NEW_DEVICES':
      return createNew(platform, profile, name, request, credentialsType, context);
    case 'CHECK_PRE_PROVISIONED_DEVICES':
      return provisionExisting(platform, profile, name);
    case 'X509_CERTIFICATE_CHAIN':
      // That strategy provisions at CONNECT from the certificate; a key/secret request finds no provisioning data.
      return { status: 'NOT_FOUND' };
  }
}

async function createNew(
  platform: Platform,
  profile: DeviceProfile,
  name: string,
  request: ProvisionRequestFields,
  credentialsType: ProvisionCredentialsType,
  context: ProvisionContext,
): Promise<ProvisionReply> {
  if ((await platform.store.getDeviceByName(profile.orgId, name)) !== undefined) return { status: 'FAILURE' };
  const requested = requestedCredentials(request, credentialsType, context);
  if (requested === undefined) return { status: 'FAILURE' };
  const lock = `${profile.orgId}/${name}`;
  if (inProgress.has(lock)) return { status: 'FAILURE' };
  inProgress.add(lock);
  try {
    // DuplicateError (the name or the credentials taken meanwhile) and invalid credentials both reject: FAILURE.
    const created = await platform.entities.createDevice(profile.orgId, {
      name,
      profileId: profile.id,
      isGateway: request.isGateway,
      credentials: requested.credentials,
    });
    await markProvisioned(platform, created);
    return { status: 'SUCCESS', credentials: created.credentials, credentialsValue: requested.credentialsValue };
  } finally {
    inProgress.delete(lock);
  }
}

async function provisionExisting(platform: Platform, profile: DeviceProfile, name: string): Promise<ProvisionReply> {
  const device = await platform.store.getDeviceByName(profile.orgId, name);
  if (device?.profileId !== profile.id) return { status: 'FAILURE' };
  if (inProgress.has(device.id)) return { status: 'FAILURE' };
  inProgress.add(device.id);
  try {
    const [state] = await platform.store.getAttributes(device.id, 'server', [PROVISION_STATE_KEY]);
    // A pre-provisioned device is handed its credentials once (device-apis.md §3.6); a second request fails.
    if (state?.value === PROVISIONED_STATE) return { status: 'FAILURE' };
    const credentials = await platform.store.getCredentials(device.id);
    if (credentials === undefined) return { status: 'FAILURE' };
    await markProvisioned(platform, { device, credentials });
    return { status: 'SUCCESS', credentials, credentialsValue: credentialsValue(credentials, undefined) };
  } finally {
    inProgress.delete(device.id);
  }
}

function markProvisioned(platform: Platform, created: DeviceWithCredentials): Promise<void> {
  return platform.committed((done) => {
    platform.postAttributes(created.device, 'server', { [PROVISION_STATE_KEY]: PROVISIONED_STATE }, done);
  });
}

/** The credentials the request asks for, and what the reply shows of them; undefined when they are unusable. */
function requestedCredentials(
  request: ProvisionRequestFields,
  type: ProvisionCredentialsType,
  context: ProvisionContext,
): { credentials: DeviceCredentials; credentialsValue: JsonValue } | undefined {
  switch (type) {
    case 'ACCESS_TOKEN': {
      const credentials: DeviceCredentials = {
        type: 'ACCESS_TOKEN',
        accessToken: request.token ?? randomAlphanumeric(20),
      };
      return { credentials, credentialsValue: credentialsValue(credentials, undefined) };
    }
    case 'MQTT_BASIC': {
      const credentials: DeviceCredentials = {
        type: 'MQTT_BASIC',
        clientId: request.clientId ?? null,
        username: request.username ?? null,
        password: request.password ?? null,
      };
      return { credentials, credentialsValue: credentialsValue(credentials, undefined) };
    }
    case 'X509_CERTIFICATE': {
      // Without `hash`, a device provisioning over TLS with a client certificate gets that certificate registered.
      const value = request.hash ?? context.certificate?.raw.toString('base64');
      if (value === undefined) return undefined;
      const certificateHash = certificateHashOf(value);
      if (certificateHash === undefined) return undefined;
      // ThingsBoard answers with the certificate value the device sent.
      return { credentials: { type: 'X509_CERTIFICATE', certificateHash }, credentialsValue: value };
    }
  }
}

/** `credentialsValue` of a reply: the token; MQTT basic as an object (ThingsBoard's JSON form); X.509 its value. */
function credentialsValue(credentials: DeviceCredentials, x509Value: string | undefined): JsonValue {
  switch (credentials.type) {
    case 'ACCESS_TOKEN':
      return credentials.accessToken;
    case 'MQTT_BASIC':
      return { clientId: credentials.clientId, userName: credentials.username, password: credentials.password };
    case 'X509_CERTIFICATE':
      return x509Value ?? credentials.certificateHash;
  }
}

/**
 * Our X.509 credential is the SHA-256 of the certificate's DER bytes. The request's `hash` may already be that (64
 * hex digits), or the certificate itself (PEM, or its base64 body as ThingsBoard's examples show).
 */
export function certificateHashOf(value: string): string | undefined {
  const trimmed = value.trim();
  if (/^[0-9a-fA-F]{64}$/.test(trimmed)) return trimmed.toLowerCase();
  const body = trimmed.replace(/-----(BEGIN|END) CERTIFICATE-----/g, '').replace(/\s+/g, '');
  if (body === '' || !/^[A-Za-z0-9+/]+={0,2}$/.test(body)) return undefined;
  return createHash('sha256').update(Buffer.from(body, 'base64')).digest('hex');
}

/** Compares the profile's secret with the request's in constant time (the digests have equal length). */
function secretMatches(expected: string, given: string): boolean {
  const a = createHash('sha256').update(expected).digest();
  const b = createHash('sha256').update(given).digest();
  return timingSafeEqual(a, b);
}

function isCredentialsType(value: string): value is ProvisionCredentialsType {
  return (CREDENTIALS_TYPES as readonly string[]).includes(value);
}

/** JSON first; a payload that is not JSON at all is tried as protobuf. undefined = neither (outcome ERROR). */
function parseRequest(payload: Buffer): { request: ProvisionRequestFields; isProtobuf: boolean } | undefined {
  let json: unknown;
  try {
    json = JSON.parse(payload.toString('utf8'));
  } catch {
    try {
      return { request: decodeProvisionRequest(payload), isProtobuf: true };
    } catch (error) {
      if (error instanceof ProtoPayloadError) return undefined;
      throw error;
    }
  }
  // Valid JSON that is not an object fails in ThingsBoard's converter (`getAsJsonObject`) with a runtime error.
  if (json === null || typeof json !== 'object' || Array.isArray(json)) return undefined;
  return { request: fromJson(json as Record<string, unknown>), isProtobuf: false };
}

/** JSON request fields; a key present with a non-scalar value reads as missing, as `getAsString` fails on it. */
function fromJson(body: Record<string, unknown>): ProvisionRequestFields {
  const field = (name: string): string | undefined => {
    const value = body[name];
    return typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean'
      ? String(value)
      : undefined;
  };
  return {
    provisionDeviceKey: field('provisionDeviceKey'),
    provisionDeviceSecret: field('provisionDeviceSecret'),
    deviceName: field('deviceName'),
    credentialsType: field('credentialsType'),
    token: field('token'),
    clientId: field('clientId'),
    username: field('username'),
    password: field('password'),
    hash: field('hash'),
    isGateway: body['gateway'] === true,
  };
}

function encodeReply(result: ProvisionReply, isProtobuf: boolean): Buffer {
  if (isProtobuf) {
    if (result.status !== 'SUCCESS') return encodeProvisionResponse({ status: result.status });
    const value = result.credentialsValue;
    return encodeProvisionResponse({
      status: 'SUCCESS',
      credentialsType: result.credentials.type,
      credentialsValue: typeof value === 'string' ? value : JSON.stringify(value),
    });
  }
  const body =
    result.status === 'SUCCESS'
      ? { status: 'SUCCESS', credentialsType: result.credentials.type, credentialsValue: result.credentialsValue }
      : { status: result.status, errorMsg: result.status === 'NOT_FOUND' ? NOT_FOUND_MESSAGE : FAILURE_MESSAGE };
  return Buffer.from(JSON.stringify(body));
}
