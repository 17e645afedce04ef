/** MQTT.js helpers for the Medium One tests: a login as a device user, PUBACKs with their reason strings, SUBACK codes. */
import type { IClientOptions, MqttClient } from 'mqtt';
import { connectClient, withTimeout, WAIT_MS, type TestClient, type TestProtocolVersion } from '../helpers/index.js';
import type { DeviceUser, M1Fixture, Project } from './harness.js';

let clientCounter = 0;

/** Connects as `user` of `project` (client id short enough for Medium One's 32-character rule). */
export function connectDeviceUser(
  fixture: M1Fixture,
  protocolVersion: TestProtocolVersion,
  options: { project?: Project; user?: DeviceUser; extra?: IClientOptions } = {},
): Promise<TestClient> {
  const project = options.project ?? fixture.project;
  const user = options.user ?? fixture.user;
  return connectClient(fixture.server.mqttUrl, {
    protocolVersion,
    clientId: `m1-${++clientCounter}-${process.pid}`,
    username: project.usernameOf(user),
    password: project.passwordOf(user),
    ...options.extra,
  });
}

/** A PUBACK as received: its reason code (0 for 3.1.1) and, for MQTT 5, its reason string. */
export interface Puback {
  reasonCode: number;
  reasonString: string | undefined;
}

/** Publishes at QoS 1 and resolves with the PUBACK the broker sent for it. */
export function publishForPuback(client: MqttClient, topic: string, payload: string | Buffer): Promise<Puback> {
  return withTimeout(
    new Promise<Puback>((resolve, reject) => {
      client.publish(topic, payload, { qos: 1 }, (error, packet) => {
        const ack = packet as { reasonCode?: number; properties?: { reasonString?: string } } | undefined;
        const code = (error as { code?: unknown } | undefined)?.code;
        if (error !== undefined && error !== null && typeof code !== 'number') {
          reject(error);
          return;
        }
        resolve({
          reasonCode: typeof code === 'number' ? code : (ack?.reasonCode ?? 0),
          reasonString: ack?.properties?.reasonString,
        });
      });
    }),
    WAIT_MS,
    'PUBACK',
  );
}

/** The SUBACK's codes for one SUBSCRIBE, refusals included. */
export function subackCodes(client: MqttClient, topicFilters: string[], qos: 0 | 1 | 2 = 1): Promise<number[]> {
  const suback = new Promise<number[]>((resolve) => {
    const onPacket = (packet: { cmd: string }): void => {
      if (packet.cmd !== 'suback') return;
      client.off('packetreceive', onPacket);
      const granted = (packet as { granted?: (number | { qos: number })[] }).granted ?? [];
      resolve(granted.map((g) => (typeof g === 'number' ? g : g.qos)));
    };
    client.on('packetreceive', onPacket);
  });
  client.subscribe(topicFilters, { qos }, () => undefined);
  return withTimeout(suback, WAIT_MS, 'SUBACK');
}

/** A PINGREQ/PINGRESP round trip: everything the broker did for earlier packets of this client is done. */
export async function roundTrip(client: MqttClient): Promise<void> {
  const pong = new Promise<void>((resolve) => {
    const onPacket = (packet: { cmd: string }): void => {
      if (packet.cmd !== 'pingresp') return;
      client.off('packetreceive', onPacket);
      resolve();
    };
    client.on('packetreceive', onPacket);
  });
  (client as unknown as { _sendPacket(packet: { cmd: string }): void })._sendPacket({ cmd: 'pingreq' });
  await withTimeout(pong, WAIT_MS, 'PINGRESP');
}

/** Polls an async condition every 20 ms until it holds; fails after WAIT_MS naming `what`. */
export async function eventually(condition: () => Promise<boolean>, what: string): Promise<void> {
  const deadline = Date.now() + WAIT_MS;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
