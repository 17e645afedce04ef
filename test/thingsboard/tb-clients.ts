/** Small MQTT.js helpers for the ThingsBoard tests: SUBACK codes, PUBACK codes, DISCONNECT reasons. */
import type { IDisconnectPacket, MqttClient } from 'mqtt';

interface SubackPacket {
  cmd: 'suback';
  granted: (number | { qos: number })[];
}
import { withTimeout, WAIT_MS } from '../helpers/index.js';

/** The SUBACK's codes for one SUBSCRIBE, refusals included (MQTT.js turns a v5 refusal into an error). */
export function subackCodes(client: MqttClient, topicFilters: string[], qos: 0 | 1 | 2 = 0): Promise<number[]> {
  const suback = new Promise<number[]>((resolve) => {
    const onPacket = (packet: { cmd: string }): void => {
      if (packet.cmd !== 'suback') return;
      client.off('packetreceive', onPacket);
      resolve((packet as SubackPacket).granted.map((g) => (typeof g === 'number' ? g : g.qos)));
    };
    client.on('packetreceive', onPacket);
  });
  client.subscribe(topicFilters, { qos }, () => undefined);
  return withTimeout(suback, WAIT_MS, 'SUBACK');
}

/** Publishes at QoS 1 and resolves with the PUBACK's reason code (0 for success and for 3.1.1). */
export function pubackCode(client: MqttClient, topic: string, payload: string | Buffer): Promise<number> {
  return withTimeout(
    new Promise<number>((resolve, reject) => {
      client.publish(topic, payload, { qos: 1 }, (error, packet) => {
        const code = (error as { code?: unknown } | undefined)?.code;
        if (typeof code === 'number') resolve(code);
        else if (error !== undefined && error !== null) reject(error);
        else resolve((packet as { reasonCode?: number } | undefined)?.reasonCode ?? 0);
      });
    }),
    WAIT_MS,
    'PUBACK',
  );
}

/** Resolves with the server's v5 DISCONNECT. */
export function serverDisconnect(client: MqttClient): Promise<IDisconnectPacket> {
  return withTimeout(
    new Promise<IDisconnectPacket>((resolve) => client.once('disconnect', resolve)),
    WAIT_MS,
    'DISCONNECT',
  );
}
