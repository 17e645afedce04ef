/**
 * A real broker and platform (SQLite in a temp directory) with just enough ThingsBoard wiring for the provisioning,
 * gateway and protobuf tests: access-token and `provision` CONNECTs, `/provision/request` answered through
 * `handleProvisionRequest`, `v1/gateway/*` handed to a `GatewaySession` per gateway connection, and (for the protobuf
 * test) `v1/devices/me/telemetry` of PROTOBUF devices decoded with their profile schema. It mirrors what the core
 * dialect does with these modules, so the tests drive them over real MQTT without depending on the whole dialect.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DeferredAck, type BrokerHooks, type ClientInfo } from '../../src/broker/index.js';
import { GatewaySession, isGatewaySubscribeTopic, isGatewayTopic } from '../../src/dialects/thingsboard/gateway.js';
import {
  DEFAULT_TYPING_OPTIONS,
  PayloadError,
  toTelemetryPoints,
} from '../../src/dialects/thingsboard/json-telemetry.js';
import { decodeProfilePayload, ProtoPayloadError } from '../../src/dialects/thingsboard/protobuf.js';
import { handleProvisionRequest } from '../../src/dialects/thingsboard/provision.js';
import { createLogger } from '../../src/observability/index.js';
import type { Device, DeviceProfile, Organization } from '../../src/platform/model.js';
import { Platform } from '../../src/platform/platform.js';
import { SqlitePlatformStore } from '../../src/storage/platform/index.js';
import { startHookedBroker, type HookedBroker } from '../helpers/hooked-broker.js';

type Identity = { kind: 'provision' } | { kind: 'device'; device: Device; profile: DeviceProfile };

/** A running broker + platform for one test. */
export interface GatewayTestBed {
  platform: Platform;
  org: Organization;
  port: number;
  url: string;
  broker: HookedBroker['broker'];
  /** Gateway sessions by MQTT client id. */
  sessions: Map<string, GatewaySession>;
  close(): Promise<void>;
}

const PROVISION_REQUEST = '/provision/request';
const PROVISION_RESPONSE = '/provision/response';
const TELEMETRY = 'v1/devices/me/telemetry';

/** Starts the test bed: a fresh SQLite platform with one organization `Acme`. */
export async function startGatewayTestBed(): Promise<GatewayTestBed> {
  const dir = mkdtempSync(join(tmpdir(), 'switchboard-tb-gw-'));
  const logger = createLogger('silent');
  const store = await SqlitePlatformStore.open(join(dir, 'platform.db'));
  const platform = new Platform({ store, logger });
  const org = await platform.entities.createOrganization({ name: 'Acme' });
  const sessions = new Map<string, GatewaySession>();
  // The hooks need the broker, which needs the hooks: they read it through this holder once it exists.
  const holder: { hooked?: HookedBroker } = {};

  const identityOf = (client: ClientInfo): Identity | undefined => client.identity as Identity | undefined;

  const hooks: BrokerHooks = {
    authenticate: async (request) => {
      if (request.username === 'provision' || request.clientId === 'provision') {
        return { ok: true, identity: { kind: 'provision' } };
      }
      if (request.username === undefined) return { ok: false, reasonCode: 0x87 };
      const found = await platform.store.findByAccessToken(request.username);
      if (found === undefined) return { ok: false, reasonCode: 0x86 };
      const profile = await platform.store.getProfile(found.device.profileId);
      if (profile === undefined) return { ok: false, reasonCode: 0x88 };
      return { ok: true, identity: { kind: 'device', device: found.device, profile } };
    },
    authorizeSubscribe: (client, topicFilter, qos) => {
      const identity = identityOf(client);
      const granted = Math.min(qos, 1);
      if (identity?.kind === 'provision') return topicFilter === PROVISION_RESPONSE ? granted : 0x8f;
      const session = sessions.get(client.clientId);
      if (session === undefined || !isGatewaySubscribeTopic(topicFilter)) return 0x8f;
      session.subscribed(topicFilter, granted);
      return granted;
    },
    onClientConnected: (client) => {
      const identity = identityOf(client);
      if (identity?.kind !== 'device' || !identity.device.isGateway) return;
      const send = (topicName: string, payload: Buffer, qos: 0 | 1, onDelivered?: () => void): boolean =>
        holder.hooked!.broker.sendToClient(
          client.clientId,
          { topicName, payload, qos, isRetained: false, properties: undefined },
          onDelivered,
        );
      sessions.set(client.clientId, new GatewaySession(platform, identity.device, send, logger));
    },
    onClientDisconnected: (client) => {
      sessions.get(client.clientId)?.close();
      sessions.delete(client.clientId);
    },
    onMessage: (client, message) => {
      const identity = identityOf(client);
      if (identity === undefined) return { action: 'drop', reasonCode: 0x87 };
      const ack = new DeferredAck();
      if (identity.kind === 'provision') {
        if (message.topicName !== PROVISION_REQUEST) return { action: 'disconnect', reasonCode: 0x90 };
        void handleProvisionRequest(platform, message.payload).then((result) => {
          // ThingsBoard answers a runtime error with PUBACK 0x83 and then closes; the hook can do one of the two.
          if (result.outcome === 'ERROR') {
            ack.disconnect(0x83, 'provisioning request failed');
            return;
          }
          holder.hooked!.broker.sendToClient(client.clientId, {
            topicName: PROVISION_RESPONSE,
            payload: result.reply,
            qos: 1,
            isRetained: false,
            properties: undefined,
          });
          ack.settle(0);
        });
        return { action: 'consume', ack };
      }
      const session = sessions.get(client.clientId);
      if (session !== undefined && isGatewayTopic(message.topicName)) {
        void session.handlePublish(message.topicName, message.payload).then((reasonCode) => {
          ack.settle(reasonCode);
        });
        return { action: 'consume', ack };
      }
      if (message.topicName === TELEMETRY) {
        postTelemetry(platform, identity.device, identity.profile, message.payload).then(
          () => {
            ack.settle(0);
          },
          (error: unknown) => {
            const isBad = error instanceof PayloadError || error instanceof ProtoPayloadError;
            ack.settle(isBad ? 0x99 : 0x83);
          },
        );
        return { action: 'consume', ack };
      }
      return { action: 'drop', reasonCode: 0x90 };
    },
  };

  const hooked = await startHookedBroker(hooks);
  holder.hooked = hooked;
  return {
    platform,
    org,
    port: hooked.port,
    url: `mqtt://127.0.0.1:${String(hooked.port)}`,
    broker: hooked.broker,
    sessions,
    close: async () => {
      await hooked.close();
      await platform.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Device telemetry, JSON or (PROTOBUF profiles) decoded with the profile's schema, then the JSON typing rules. */
async function postTelemetry(
  platform: Platform,
  device: Device,
  profile: DeviceProfile,
  payload: Buffer,
): Promise<void> {
  const json =
    profile.payloadType === 'PROTOBUF'
      ? decodeProfilePayload(profile, 'telemetry', payload)
      : (JSON.parse(payload.toString('utf8')) as Parameters<typeof toTelemetryPoints>[0]);
  const points = toTelemetryPoints(json, Date.now(), DEFAULT_TYPING_OPTIONS);
  await platform.committed((done) => {
    platform.postTelemetry(device, points, done);
  });
}
