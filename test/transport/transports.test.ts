/**
 * One broker behind every transport: MQTT over TCP, TLS (a certificate the test generates) and WebSocket at `/mqtt`
 * with the `mqtt` subprotocol. Messages cross transports both ways for both protocol versions; WebSocket frames may
 * split or bundle packets; an independent client (Eclipse Paho for Python) works over TCP and WebSocket.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { after, before, describe, test } from 'node:test';
import mqtt from 'mqtt';
import type { MqttClient } from 'mqtt';
import { WebSocket } from 'ws';
import { encodePacket, PacketDecoder, PacketType } from '../../src/mqtt/codec/index.js';
import type { Packet, ProtocolVersion } from '../../src/mqtt/codec/index.js';
import { startTestServer, withTimeout } from '../helpers/index.js';
import type { TestServer } from '../helpers/index.js';

let server: TestServer;
before(async () => {
  server = await startTestServer({}, { tls: true });
});
after(async () => {
  await server.close();
});

type TransportName = 'tcp' | 'tls' | 'ws';
const TRANSPORTS: readonly TransportName[] = ['tcp', 'tls', 'ws'];

function urlFor(transport: TransportName): string {
  if (transport === 'tcp') return server.mqttUrl;
  if (transport === 'tls') return server.mqttsUrl!;
  return server.wsUrl;
}

async function connectOver(
  transport: TransportName,
  protocolVersion: 4 | 5,
): Promise<{ client: MqttClient; messages: string[] }> {
  const client = mqtt.connect(urlFor(transport), {
    protocolVersion,
    reconnectPeriod: 0,
    connectTimeout: 5_000,
    ...(transport === 'tls' ? { ca: server.certificates!.caCert } : {}),
  });
  const messages: string[] = [];
  client.on('message', (topic, payload) => messages.push(`${topic} ${payload.toString()}`));
  await withTimeout(
    new Promise<void>((resolve, reject) => {
      client.once('connect', () => resolve());
      client.once('error', reject);
    }),
    5_000,
    `CONNACK over ${transport}`,
  );
  return { client, messages };
}

function waitUntil(condition: () => boolean, what: string, timeoutMs = 5_000): Promise<void> {
  return withTimeout(
    new Promise<void>((resolve) => {
      const poll = setInterval(() => {
        if (condition()) {
          clearInterval(poll);
          resolve();
        }
      }, 5);
    }),
    timeoutMs,
    what,
  );
}

describe('one broker behind TCP, TLS and WebSocket', () => {
  for (const protocolVersion of [4, 5] as const) {
    const v = `MQTT ${protocolVersion === 5 ? '5' : '3.1.1'}`;
    test(`${v}: a message published over any transport reaches subscribers on all three`, async () => {
      const topicRoot = `cross/${String(protocolVersion)}`;
      const clients = await Promise.all(TRANSPORTS.map((transport) => connectOver(transport, protocolVersion)));
      try {
        for (const { client } of clients) await client.subscribeAsync(`${topicRoot}/#`, { qos: 1 });
        for (const [index, transport] of TRANSPORTS.entries()) {
          await clients[index]!.client.publishAsync(`${topicRoot}/${transport}`, `via-${transport}`, { qos: 1 });
        }
        const expected = TRANSPORTS.map((transport) => `${topicRoot}/${transport} via-${transport}`);
        for (const [index, transport] of TRANSPORTS.entries()) {
          const { messages } = clients[index]!;
          await waitUntil(() => messages.length >= expected.length, `three messages on ${transport}`);
          // Messages from one publisher keep their order; across publishers the order is the publishing order here.
          assert.deepEqual(messages, expected, transport);
        }
      } finally {
        await Promise.all(clients.map(({ client }) => client.endAsync(true)));
      }
    });
  }
});

/** A raw WebSocket MQTT client: sends frames as the test builds them and decodes every packet received. */
async function openWebSocket(protocolVersion: ProtocolVersion): Promise<{ ws: WebSocket; packets: Packet[] }> {
  const ws = new WebSocket(server.wsUrl, ['mqtt']);
  ws.on('error', () => undefined);
  await once(ws, 'open');
  assert.equal(ws.protocol, 'mqtt');
  const packets: Packet[] = [];
  const decoder = new PacketDecoder(1_048_576);
  decoder.protocolVersion = protocolVersion;
  ws.on('message', (data: Buffer) => {
    decoder.push(data, { onPacket: (packet) => packets.push(packet) });
  });
  return { ws, packets };
}

describe('MQTT over WebSocket framing', () => {
  for (const protocolVersion of [4, 5] as const) {
    const v = `MQTT ${protocolVersion === 5 ? '5' : '3.1.1'}`;
    test(`${v}: a packet split over several frames and several packets in one frame are both decoded`, async () => {
      const { ws, packets } = await openWebSocket(protocolVersion);
      try {
        const connect = encodePacket(
          {
            type: PacketType.Connect,
            protocolName: 'MQTT',
            protocolVersion,
            cleanStart: true,
            keepAliveSeconds: 30,
            clientId: `ws-frames-${String(protocolVersion)}`,
            username: undefined,
            password: undefined,
            will: undefined,
            properties: protocolVersion === 5 ? { receiveMaximum: 10 } : undefined,
          },
          protocolVersion,
        );
        // CONNECT over three frames, the first one byte long (inside the fixed header).
        ws.send(connect.subarray(0, 1));
        ws.send(connect.subarray(1, 5));
        ws.send(connect.subarray(5));
        await waitUntil(() => packets.length >= 1, 'CONNACK');
        assert.equal(packets[0]?.type, PacketType.Connack);

        const topicFilter = `frames/${String(protocolVersion)}`;
        const subscribe = encodePacket(
          {
            type: PacketType.Subscribe,
            packetId: 1,
            subscriptions: [{ topicFilter, qos: 1, noLocal: false, retainAsPublished: false, retainHandling: 0 }],
            properties: undefined,
          },
          protocolVersion,
        );
        const publish = encodePacket(
          {
            type: PacketType.Publish,
            topicName: topicFilter,
            payload: Buffer.from('bundled'),
            qos: 1,
            isRetained: false,
            isDuplicate: false,
            packetId: 2,
            properties: undefined,
          },
          protocolVersion,
        );
        const pingreq = encodePacket({ type: PacketType.Pingreq }, protocolVersion);
        // SUBSCRIBE, PUBLISH and PINGREQ in one frame, plus the first half of another PINGREQ finished in a next frame.
        ws.send(Buffer.concat([subscribe, publish, pingreq, pingreq.subarray(0, 1)]));
        ws.send(pingreq.subarray(1));
        await waitUntil(() => packets.filter((p) => p.type === PacketType.Pingresp).length >= 2, 'two PINGRESP');

        const types = packets.map((p) => p.type);
        assert.deepEqual(types.slice(0, 2), [PacketType.Connack, PacketType.Suback]);
        const suback = packets[1];
        assert.ok(suback?.type === PacketType.Suback);
        assert.deepEqual(suback.reasonCodes, [1]);
        const puback = packets.find((p) => p.type === PacketType.Puback);
        assert.ok(puback?.type === PacketType.Puback);
        assert.equal(puback.packetId, 2);
        const echoed = packets.find((p) => p.type === PacketType.Publish);
        assert.ok(echoed?.type === PacketType.Publish);
        assert.equal(echoed.payload.toString(), 'bundled');
        assert.equal(echoed.topicName, topicFilter);
        // MQTT 5 §4.6: packets are answered in order: the PINGRESPs come after the SUBACK and PUBACK.
        assert.ok(types.indexOf(PacketType.Pingresp) > types.indexOf(PacketType.Puback));
      } finally {
        ws.terminate();
      }
    });
  }
});

/** A Python with paho-mqtt: `python3` on PATH, else the system one (where Debian's python3-paho-mqtt installs). */
function findPahoPython(): string | undefined {
  for (const python of ['python3', '/usr/bin/python3']) {
    const result = spawnSync(python, ['-c', 'import paho.mqtt.client'], { stdio: 'ignore' });
    if (result.status === 0) return python;
  }
  return undefined;
}

const PAHO_SCRIPT = `
import sys
import paho.mqtt.client as mqtt
port, version, transport, tag = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
protocol = mqtt.MQTTv5 if version == '5' else mqtt.MQTTv311
client = mqtt.Client(client_id='paho-' + tag, protocol=protocol, transport=transport)
if transport == 'websockets':
    client.ws_set_options(path='/mqtt')
def on_connect(client, userdata, flags, rc, properties=None):
    client.subscribe('paho/in/' + tag, qos=1)
def on_subscribe(client, userdata, mid, *rest):
    client.publish('paho/out/' + tag, 'from-paho', qos=1)
    print('subscribed', flush=True)
def on_message(client, userdata, message):
    print('received ' + message.topic + ' ' + message.payload.decode(), flush=True)
    client.disconnect()
client.on_connect = on_connect
client.on_subscribe = on_subscribe
client.on_message = on_message
client.connect('127.0.0.1', port, 30)
client.loop_forever()
`;

const pahoPython = findPahoPython();

describe('Eclipse Paho (Python) as an independent client', () => {
  for (const protocolVersion of [4, 5] as const) {
    for (const transport of ['tcp', 'websockets'] as const) {
      const name = `MQTT ${protocolVersion === 5 ? '5' : '3.1.1'} over ${transport === 'tcp' ? 'TCP' : 'WebSocket'}`;
      test(`${name}: Paho subscribes, publishes and receives`, async (t) => {
        if (pahoPython === undefined) {
          // .ci/run installs Debian's python3-paho-mqtt; a developer machine may lack it.
          t.skip('python3 with paho-mqtt is not installed (apt-get install python3-paho-mqtt)');
          return;
        }
        const tag = `${String(protocolVersion)}-${transport}`;
        const observer = await connectOver('tcp', 5);
        await observer.client.subscribeAsync(`paho/out/${tag}`, { qos: 1 });
        const port = transport === 'tcp' ? server.mqttPort : server.httpPort;
        const child = spawn(pahoPython, ['-c', PAHO_SCRIPT, String(port), String(protocolVersion), transport, tag], {
          stdio: ['ignore', 'pipe', 'pipe'],
        });
        let stdout = '';
        let stderr = '';
        child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
        child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
        const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
        try {
          await waitUntil(() => stdout.includes('subscribed') || child.exitCode !== null, 'Paho to subscribe', 10_000);
          assert.ok(stdout.includes('subscribed'), `Paho failed: ${stderr}`);
          await observer.client.publishAsync(`paho/in/${tag}`, 'to-paho', { qos: 1 });
          assert.equal(await withTimeout(exited, 10_000, 'Paho to receive and exit'), 0, stderr);
          assert.match(stdout, new RegExp(`received paho/in/${tag} to-paho`));
          await waitUntil(() => observer.messages.length >= 1, 'the message Paho published');
          assert.deepEqual(observer.messages, [`paho/out/${tag} from-paho`]);
        } finally {
          child.kill('SIGKILL');
          await observer.client.endAsync(true);
        }
      });
    }
  }
});
