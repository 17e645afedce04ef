/**
 * Fuzzing the broker over real sockets: many thousands of random and mutated packets (valid encodings of every packet
 * type for both protocol versions, then bit flips, inserted/deleted/duplicated bytes, truncation, huge Remaining
 * Lengths, bad UTF-8, bad property ids, plain garbage) from several concurrent connections, against a server in a
 * child process so that a crash is seen. Every connection must be either served or closed, never left hanging past
 * the connect timeout; afterwards a normal client gets correct service and the store still loads after a restart.
 *
 * Reproduce a failure with `SWITCHBOARD_FUZZ_SEED=<seed printed by the test>`.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect as netConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import mqtt from 'mqtt';
import { encodePacket, PacketType } from '../../src/mqtt/codec/index.js';
import type { Packet, Properties, ProtocolVersion } from '../../src/mqtt/codec/index.js';
import { spawnSwitchboard, withTimeout } from '../helpers/index.js';
import type { SwitchboardProcess } from '../helpers/index.js';

const CONNECT_TIMEOUT_MS = 500;
/** Connections opened by the fuzzer, and how many run at once. */
const CONNECTION_COUNT = 10_000;
const CONCURRENCY = 24;

const dataDir = mkdtempSync(join(tmpdir(), 'switchboard-fuzz-'));
const children: SwitchboardProcess[] = [];
after(() => {
  for (const child of children) child.kill();
  rmSync(dataDir, { recursive: true, force: true });
});

/** mulberry32: small, fast, seedable. */
function createRandom(seed: number): {
  next(): number;
  int(below: number): number;
  pick<T>(items: readonly T[]): T;
  chance(p: number): boolean;
} {
  let state = seed >>> 0;
  const next = (): number => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
  const int = (below: number): number => Math.floor(next() * below);
  return { next, int, pick: (items) => items[int(items.length)]!, chance: (p) => next() < p };
}
type Random = ReturnType<typeof createRandom>;

async function startServer(): Promise<{ child: SwitchboardProcess; port: number }> {
  const child = spawnSwitchboard({
    env: {
      SWITCHBOARD_HOST: '127.0.0.1',
      SWITCHBOARD_MQTT_PORT: '0',
      SWITCHBOARD_HTTP_PORT: '0',
      SWITCHBOARD_DATA_DIR: dataDir,
      SWITCHBOARD_LOG_LEVEL: 'error',
      SWITCHBOARD_MQTT_CONNECT_TIMEOUT_MS: String(CONNECT_TIMEOUT_MS),
    },
  });
  children.push(child);
  const line = await child.waitForLine(/^MQTT listening on mqtt:\/\//);
  return { child, port: Number(/:(\d+)$/.exec(line)?.[1]) };
}

// ---- seeds: a valid encoding of every packet type, both versions ---------------------------------------------

const V5_PUBLISH_PROPERTIES: Properties = {
  payloadFormatIndicator: 1,
  messageExpiryInterval: 60,
  contentType: 'text/plain',
  responseTopic: 'fz/reply',
  correlationData: Buffer.from([1, 2, 3]),
  userProperties: [['k', 'v']],
  topicAlias: 3,
};

function connectPacket(version: ProtocolVersion, clientId: string, cleanStart: boolean, withWill: boolean): Packet {
  return {
    type: PacketType.Connect,
    protocolName: 'MQTT',
    protocolVersion: version,
    cleanStart,
    keepAliveSeconds: 0,
    clientId,
    username: withWill ? 'user' : undefined,
    password: withWill ? Buffer.from('secret') : undefined,
    will: withWill
      ? {
          topicName: 'fz/will',
          payload: Buffer.from('gone'),
          qos: 1,
          isRetained: true,
          properties: version === 5 ? { willDelayInterval: 1, contentType: 'x' } : undefined,
        }
      : undefined,
    properties:
      version === 5
        ? {
            sessionExpiryInterval: cleanStart ? 0 : 600,
            receiveMaximum: 10,
            maximumPacketSize: 4096,
            topicAliasMaximum: 5,
            requestProblemInformation: 1,
          }
        : undefined,
  };
}

/** Valid packets a client (or, wrongly, a client pretending to be a server) could send after CONNECT. */
function seedPackets(version: ProtocolVersion): Buffer[] {
  const v5 = version === 5;
  const props = (p: Properties): Properties | undefined => (v5 ? p : undefined);
  const packets: Packet[] = [
    connectPacket(version, 'seed', true, true),
    { type: PacketType.Connack, sessionPresent: false, reasonCode: 0, properties: props({ receiveMaximum: 5 }) },
    {
      type: PacketType.Publish,
      topicName: 'fz/a',
      payload: Buffer.from('hello'),
      qos: 0,
      isRetained: false,
      isDuplicate: false,
      packetId: 0,
      properties: undefined,
    },
    {
      type: PacketType.Publish,
      topicName: 'fz/b/c',
      payload: Buffer.from('q1'),
      qos: 1,
      isRetained: true,
      isDuplicate: false,
      packetId: 7,
      properties: props(V5_PUBLISH_PROPERTIES),
    },
    {
      type: PacketType.Publish,
      topicName: 'fz/q2',
      payload: Buffer.alloc(40, 0x61),
      qos: 2,
      isRetained: false,
      isDuplicate: true,
      packetId: 9,
      properties: props({ userProperties: [['a', 'b']] }),
    },
    { type: PacketType.Puback, packetId: 1, reasonCode: 0, properties: undefined },
    { type: PacketType.Pubrec, packetId: 2, reasonCode: v5 ? 0x10 : 0, properties: props({ reasonString: 'r' }) },
    { type: PacketType.Pubrel, packetId: 9, reasonCode: 0, properties: undefined },
    { type: PacketType.Pubcomp, packetId: 3, reasonCode: 0, properties: undefined },
    {
      type: PacketType.Subscribe,
      packetId: 11,
      subscriptions: [
        { topicFilter: 'fz/#', qos: 2, noLocal: v5, retainAsPublished: v5, retainHandling: v5 ? 1 : 0 },
        { topicFilter: '$share/g/fz/+', qos: 1, noLocal: false, retainAsPublished: false, retainHandling: 0 },
        { topicFilter: '+/+', qos: 0, noLocal: false, retainAsPublished: false, retainHandling: 0 },
      ],
      properties: props({ subscriptionIdentifiers: [42], userProperties: [['s', 't']] }),
    },
    { type: PacketType.Suback, packetId: 11, reasonCodes: [0, 1, 0x80], properties: undefined },
    {
      type: PacketType.Unsubscribe,
      packetId: 12,
      topicFilters: ['fz/#', 'nothing'],
      properties: props({ userProperties: [['u', 'v']] }),
    },
    { type: PacketType.Unsuback, packetId: 12, reasonCodes: [0, 0x11], properties: undefined },
    { type: PacketType.Pingreq },
    { type: PacketType.Pingresp },
    {
      type: PacketType.Disconnect,
      reasonCode: v5 ? 0x04 : 0,
      properties: props({ sessionExpiryInterval: 0, reasonString: 'bye' }),
    },
  ];
  if (v5)
    packets.push({
      type: PacketType.Auth,
      reasonCode: 0x18,
      properties: { authenticationMethod: 'm', authenticationData: Buffer.from([1]) },
    });
  return packets.map((packet) => encodePacket(packet, version));
}

// ---- mutations ---------------------------------------------------------------------------------------------

const INTERESTING_BYTES = [
  0x00, 0x01, 0x02, 0x7f, 0x80, 0xc0, 0xed, 0xfe, 0xff, 0x0b, 0x23, 0x26, 0x11, 0x21, 0x27, 0x2a, 0x30, 0x32, 0x62,
  0x82,
];
const BAD_UTF8 = [
  Buffer.from([0xc0, 0x80]),
  Buffer.from([0xed, 0xa0, 0x80]),
  Buffer.from([0xff]),
  Buffer.from([0x00]),
  Buffer.from([0xef, 0xbf, 0xbf]),
  Buffer.from([0xe2, 0x82]),
];
const HUGE_LENGTHS = [
  Buffer.from([0xff, 0xff, 0xff, 0x7f]),
  Buffer.from([0xff, 0xff, 0xff, 0xff, 0x01]),
  Buffer.from([0x80, 0x80, 0x80, 0x80]),
  Buffer.from([0xff, 0xff, 0x7f]),
  Buffer.from([0x80, 0x00]),
];

function garbage(random: Random, maxLength: number): Buffer {
  const bytes = Buffer.alloc(1 + random.int(maxLength));
  for (let i = 0; i < bytes.length; i++)
    bytes[i] = random.chance(0.3) ? random.pick(INTERESTING_BYTES) : random.int(256);
  return bytes;
}

function mutate(random: Random, input: Buffer, seeds: readonly Buffer[]): Buffer {
  let bytes = Buffer.from(input);
  const rounds = 1 + random.int(3);
  for (let round = 0; round < rounds; round++) {
    const at = bytes.length === 0 ? 0 : random.int(bytes.length);
    switch (random.int(11)) {
      case 0: // flip a bit
        if (bytes.length > 0) bytes[at] = bytes[at]! ^ (1 << random.int(8));
        break;
      case 1: // an interesting byte
        if (bytes.length > 0) bytes[at] = random.pick(INTERESTING_BYTES);
        break;
      case 2: // insert random bytes
        bytes = Buffer.concat([bytes.subarray(0, at), garbage(random, 8), bytes.subarray(at)]);
        break;
      case 3: // delete a range
        bytes = Buffer.concat([bytes.subarray(0, at), bytes.subarray(at + 1 + random.int(8))]);
        break;
      case 4: // truncate
        bytes = bytes.subarray(0, at);
        break;
      case 5: // duplicate a range
        bytes = Buffer.concat([bytes.subarray(0, at), bytes.subarray(at, at + 1 + random.int(16)), bytes.subarray(at)]);
        break;
      case 6: // a huge or invalid Remaining Length
        bytes = Buffer.concat([bytes.subarray(0, 1), random.pick(HUGE_LENGTHS), bytes.subarray(2)]);
        break;
      case 7: // bad UTF-8 inside a string
        bytes = Buffer.concat([bytes.subarray(0, at), random.pick(BAD_UTF8), bytes.subarray(at)]);
        break;
      case 8: // a bad or repeated property id
        bytes = Buffer.concat([
          bytes.subarray(0, at),
          Buffer.from([random.pick([0x00, 0x04, 0x05, 0x7f, 0xff, 0x26, 0x0b, 0x01])]),
          bytes.subarray(at),
        ]);
        break;
      case 9: // the fixed header of another packet type
        if (bytes.length > 0) bytes[0] = (random.int(16) << 4) | random.int(16);
        break;
      default: // spliced with another seed
        bytes = Buffer.concat([bytes.subarray(0, at), random.pick(seeds).subarray(random.int(8))]);
    }
  }
  return bytes;
}

/** One fuzz connection's bytes, and how many packets (valid or not) they were built from. */
function buildScript(
  random: Random,
  seedsByVersion: Map<ProtocolVersion, Buffer[]>,
): { chunks: Buffer[]; packets: number } {
  const version: ProtocolVersion = random.chance(0.5) ? 5 : 4;
  const seeds = seedsByVersion.get(version)!;
  const parts: Buffer[] = [];
  const kind = random.next();
  // A small pool of client ids: takeovers and persistent sessions (with the store behind them) get exercised too.
  const connect = encodePacket(
    connectPacket(version, `fuzz-${random.int(40)}`, random.chance(0.5), random.chance(0.3)),
    version,
  );
  if (kind < 0.6) parts.push(connect);
  else if (kind < 0.85) parts.push(mutate(random, connect, seeds));
  else parts.push(garbage(random, 300));
  const extra = random.int(16);
  for (let i = 0; i < extra; i++) {
    const seed = random.pick(seeds);
    parts.push(random.chance(0.3) ? seed : random.chance(0.1) ? garbage(random, 64) : mutate(random, seed, seeds));
  }
  // Random chunking: packets split across writes and several packets in one write.
  const all = Buffer.concat(parts);
  const chunks: Buffer[] = [];
  for (let offset = 0; offset < all.length;) {
    const size = 1 + random.int(random.chance(0.5) ? 8 : 256);
    chunks.push(all.subarray(offset, offset + size));
    offset += size;
  }
  return { chunks, packets: parts.length };
}

/**
 * Runs one connection: writes the chunks, then requires the server to close it or to have accepted it (CONNACK 0),
 * in which case half-closing our side must make the server close it. Returns a failure description, or undefined.
 */
function runConnection(port: number, chunks: readonly Buffer[]): Promise<string | undefined> {
  return new Promise((resolve) => {
    const socket = netConnect({ port, host: '127.0.0.1' });
    const received: Buffer[] = [];
    let isClosed = false;
    let timer: NodeJS.Timeout | undefined;
    const isAccepted = (): boolean => {
      const head = Buffer.concat(received);
      return head.length >= 4 && head[0] === 0x20 && head[3] === 0x00;
    };
    socket.on('error', () => undefined);
    socket.on('data', (chunk: Buffer) => received.push(chunk));
    socket.on('close', () => {
      isClosed = true;
      clearTimeout(timer);
      resolve(undefined);
    });
    socket.on('connect', () => {
      for (const chunk of chunks) socket.write(chunk);
      // Either closed by the server, or accepted and then closed when we end our side.
      const check = (): void => {
        if (isClosed) return;
        if (isAccepted()) {
          socket.end();
          timer = setTimeout(() => {
            socket.destroy();
            resolve('an accepted connection was not closed after the client ended its side');
          }, 3_000);
          return;
        }
        socket.destroy();
        resolve(`a connection that was not accepted was still open ${String(CONNECT_TIMEOUT_MS + 2_000)} ms later`);
      };
      timer = setTimeout(check, CONNECT_TIMEOUT_MS + 2_000);
      // Accepted connections need not wait for the connect timeout.
      const early = setInterval(() => {
        if (isClosed) clearInterval(early);
        else if (isAccepted()) {
          clearInterval(early);
          clearTimeout(timer);
          setTimeout(check, 50);
        }
      }, 50);
    });
  });
}

test(
  'thousands of random and mutated packets neither crash the broker nor corrupt its store',
  { timeout: 120_000 },
  async (t) => {
    const seedFromEnv = process.env['SWITCHBOARD_FUZZ_SEED'];
    const seed =
      seedFromEnv !== undefined && seedFromEnv !== '' ? Number(seedFromEnv) : Math.floor(Math.random() * 2 ** 31);
    t.diagnostic(`fuzz seed ${String(seed)} (rerun with SWITCHBOARD_FUZZ_SEED=${String(seed)})`);
    console.log(`fuzz seed ${String(seed)}`);
    const random = createRandom(seed);
    let { child, port } = await startServer();

    // Before the fuzz: a persistent session with queued messages, and a retained message, to find again afterwards.
    const url = (): string => `mqtt://127.0.0.1:${String(port)}`;
    const keeper = await mqtt.connectAsync(url(), {
      clientId: 'fuzz-keeper',
      clean: false,
      protocolVersion: 5,
      properties: { sessionExpiryInterval: 3600 },
      reconnectPeriod: 0,
    });
    await keeper.subscribeAsync('check/#', { qos: 1 });
    await keeper.endAsync();
    const setup = await mqtt.connectAsync(url(), { protocolVersion: 4, reconnectPeriod: 0 });
    for (let i = 0; i < 3; i++) await setup.publishAsync('check/queued', `queued-${String(i)}`, { qos: 1 });
    await setup.publishAsync('check/retained', 'kept', { qos: 1, retain: true });
    await setup.endAsync();

    const seedsByVersion = new Map<ProtocolVersion, Buffer[]>([
      [4, seedPackets(4)],
      [5, seedPackets(5)],
    ]);
    const scripts = Array.from({ length: CONNECTION_COUNT }, () => buildScript(random, seedsByVersion));
    const packetCount = scripts.reduce((sum, script) => sum + script.packets, 0);
    const failures: string[] = [];
    let nextScript = 0;
    const worker = async (): Promise<void> => {
      while (nextScript < scripts.length && child.child.exitCode === null) {
        const index = nextScript++;
        const failure = await runConnection(port, scripts[index]!.chunks);
        if (failure !== undefined) {
          failures.push(
            `connection ${String(index)}: ${failure}; bytes ${Buffer.concat(scripts[index]!.chunks).toString('hex')}`,
          );
        }
      }
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, worker));
    t.diagnostic(`${String(CONNECTION_COUNT)} connections, ${String(packetCount)} packets`);

    assert.equal(
      child.child.exitCode,
      null,
      `the broker exited during the fuzz (seed ${String(seed)}):\n${child.stderr()}`,
    );
    assert.equal(child.child.signalCode, null);
    assert.deepEqual(failures.slice(0, 10), [], `seed ${String(seed)}`);
    assert.ok(packetCount > 50_000, `${String(packetCount)} packets`);

    // A normal client, either version, still gets correct service.
    for (const protocolVersion of [4, 5] as const) {
      const client = await mqtt.connectAsync(url(), { protocolVersion, reconnectPeriod: 0, connectTimeout: 5_000 });
      const received: string[] = [];
      client.on('message', (topic, payload) => received.push(`${topic} ${payload.toString()}`));
      await client.subscribeAsync('after/fuzz/#', { qos: 2 });
      await client.publishAsync('after/fuzz/0', 'zero', { qos: 0 });
      await client.publishAsync('after/fuzz/1', 'one', { qos: 1 });
      await client.publishAsync('after/fuzz/2', 'two', { qos: 2 });
      await withTimeout(
        new Promise<void>((resolve) => {
          const poll = setInterval(() => {
            if (received.length >= 3) {
              clearInterval(poll);
              resolve();
            }
          }, 10);
        }),
        5_000,
        `messages for the MQTT ${String(protocolVersion)} client`,
      );
      assert.deepEqual(received, ['after/fuzz/0 zero', 'after/fuzz/1 one', 'after/fuzz/2 two']);
      await client.endAsync();
    }

    // Graceful shutdown still works, and the store loads again with the session and the retained message intact.
    child.child.kill('SIGTERM');
    assert.deepEqual(await withTimeout(child.exited, 15_000, 'shutdown'), { code: 0, signal: null });
    ({ child, port } = await startServer());
    // Listeners go on before the first read, so queued messages sent right after CONNACK are not missed.
    const back = mqtt.connect(url(), {
      clientId: 'fuzz-keeper',
      clean: false,
      protocolVersion: 5,
      properties: { sessionExpiryInterval: 3600 },
      reconnectPeriod: 0,
    });
    const queued: string[] = [];
    back.on('message', (topic, payload) => queued.push(`${topic} ${payload.toString()}`));
    const connack = await withTimeout(
      new Promise<mqtt.IConnackPacket>((resolve, reject) => {
        back.once('connect', resolve);
        back.once('error', reject);
      }),
      5_000,
      'CONNACK after the restart',
    );
    assert.equal(connack.sessionPresent, true);
    const fresh = await mqtt.connectAsync(url(), { protocolVersion: 4, reconnectPeriod: 0 });
    await fresh.publishAsync('check/end', 'end', { qos: 1 });
    await withTimeout(
      new Promise<void>((resolve) => {
        const poll = setInterval(() => {
          if (queued.includes('check/end end')) {
            clearInterval(poll);
            resolve();
          }
        }, 10);
      }),
      5_000,
      'the queued messages',
    );
    assert.deepEqual(
      queued.filter((m) => m !== 'check/retained kept'),
      ['check/queued queued-0', 'check/queued queued-1', 'check/queued queued-2', 'check/end end'],
    );
    const retainedSeen = await new Promise<string>((resolve, reject) => {
      fresh.once('message', (topic, payload) => resolve(`${topic} ${payload.toString()}`));
      fresh.subscribeAsync('check/retained', { qos: 1 }).catch(reject);
    });
    assert.equal(retainedSeen, 'check/retained kept');
    await back.endAsync();
    await fresh.endAsync();
    child.child.kill('SIGTERM');
    assert.deepEqual(await withTimeout(child.exited, 15_000, 'shutdown'), { code: 0, signal: null });
    assert.equal(child.stderr(), '');
  },
);
