/**
 * Scenario j: CloudPlugs data records. `--things` CloudPlugs things (default 1,000), each on its own connection
 * (username = Plug-ID, password = auth code), publish QoS 0 records `{"data": n, "at": baseTs + n}` on
 * `<plug-id>/data/bench`; one more thing subscribes to `+/data/#`. The platform stores every record (QoS 0 too) and
 * only then republishes it, so a delivery is a stored record. QoS 0 has no acknowledgement, so the publishers keep at
 * most 10 records per thing (and at least `--window` × 10) ahead of what the subscriber received (the flow control of scenarios a–c), sending
 * round-robin over the things. Measured: records/s delivered over `--duration` after a 2 s warm-up; afterwards, with
 * the server stopped, the store must hold at least every delivered record and no more than were sent.
 *
 * The load runs in the bench process itself (raw sockets and the project's codec), not in the load processes.
 */
import { randomBytes } from 'node:crypto';
import { connect, type Socket } from 'node:net';
import { encodePacket, PacketDecoder, PacketType, type Packet } from '../src/mqtt/codec/index.js';
import type { PlatformStore } from '../src/storage/platform-store.js';
import { startSwitchboard, type SwitchboardUnderTest } from './brokers.js';
import type { BenchOptions } from './options.js';
import type { PlatformContext, PlatformScenario } from './platform-scenario.js';
import { CpuMeter } from './proc-stats.js';
import { monotonicMs, sleep, type ScenarioOutcome } from './scenario.js';

const CHANNEL = 'bench';
const WARM_UP_MS = 2_000;
const DRAIN_TIMEOUT_MS = 30_000;
const SETUP_ALLOWANCE_MS = 180_000;
const HTTP_CONCURRENCY = 16;
const CONNECT_CONCURRENCY = 50;
const KEEPALIVE_SECONDS = 600;

interface Thing {
  plugId: string;
  auth: string;
  deviceId: string;
}

async function api(base: string, path: string, body: unknown, token?: string): Promise<Record<string, unknown>> {
  const response = await fetch(`${base}${path}`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      ...(token === undefined ? {} : { authorization: `Bearer ${token}` }),
    },
    body: JSON.stringify(body),
  });
  const text = await response.text();
  if (!response.ok) throw new Error(`POST ${path}: HTTP ${response.status} ${text.slice(0, 200)}`);
  return JSON.parse(text) as Record<string, unknown>;
}

/** A production template and `count` things (plus the subscriber) through the management API. */
async function provision(base: string, adminPassword: string, count: number, tag: string): Promise<Thing[]> {
  let login: Record<string, unknown> | undefined;
  const deadline = Date.now() + 10_000;
  while (login === undefined) {
    try {
      login = await api(base, '/api/auth/login', { username: 'admin', password: adminPassword });
    } catch (error) {
      if (!(error instanceof TypeError) || Date.now() > deadline) throw error;
      await sleep(100);
    }
  }
  const token = String(login['token']);
  const profile = await api(
    base,
    '/api/profiles',
    { name: `${tag}-model`, cloudplugs: { enrollSecret: randomBytes(12).toString('hex') } },
    token,
  );
  const things = new Array<Thing>(count);
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < count) {
      const index = next++;
      const created = await api(
        base,
        '/api/devices',
        {
          name: `${tag}-t${index}`,
          profile: String(profile['id']),
          hwid: `${tag}-hw${index}`,
          credentials: { type: 'CLOUDPLUGS' },
        },
        token,
      );
      const credentials = created['credentials'] as { plugId: string; auth: string };
      things[index] = { plugId: credentials.plugId, auth: credentials.auth, deviceId: String(created['id']) };
    }
  };
  await Promise.all(Array.from({ length: Math.min(HTTP_CONCURRENCY, count) }, lane));
  return things;
}

/** One raw MQTT 3.1.1 connection; counts the PUBLISH packets it receives. */
class RawClient {
  readonly socket: Socket;
  received = 0;
  closedError: string | undefined;
  readonly #decoder = new PacketDecoder(1_048_576);
  #waiting: ((packet: Packet) => void) | undefined;

  private constructor(socket: Socket) {
    this.socket = socket;
    this.#decoder.protocolVersion = 4;
    socket.on('data', (chunk: Buffer) => {
      this.#decoder.push(chunk, this);
    });
    socket.on('error', (error) => {
      this.closedError ??= error.message;
    });
    socket.on('close', () => {
      this.closedError ??= 'connection closed by the server';
    });
  }

  onPacket(packet: Packet): void {
    if (packet.type === PacketType.Publish) {
      this.received++;
      return;
    }
    const waiting = this.#waiting;
    this.#waiting = undefined;
    waiting?.(packet);
  }

  #next(what: string): Promise<Packet> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no ${what} within 15 s`)), 15_000);
      this.#waiting = (packet) => {
        clearTimeout(timer);
        resolve(packet);
      };
    });
  }

  static async open(port: number, thing: Thing, clientId: string): Promise<RawClient> {
    const client = new RawClient(connect({ host: '127.0.0.1', port, noDelay: true }));
    const connack = client.#next('CONNACK');
    client.socket.write(
      encodePacket(
        {
          type: PacketType.Connect,
          protocolName: 'MQTT',
          protocolVersion: 4,
          cleanStart: true,
          keepAliveSeconds: KEEPALIVE_SECONDS,
          clientId,
          username: thing.plugId,
          password: Buffer.from(thing.auth),
          will: undefined,
          properties: undefined,
        },
        4,
      ),
    );
    const packet = await connack;
    if (packet.type !== PacketType.Connack || packet.reasonCode !== 0) {
      client.socket.destroy();
      throw new Error(`${thing.plugId}: CONNACK refused`);
    }
    return client;
  }

  async subscribe(topicFilter: string): Promise<void> {
    const suback = this.#next('SUBACK');
    this.socket.write(
      encodePacket(
        {
          type: PacketType.Subscribe,
          packetId: 1,
          subscriptions: [{ topicFilter, qos: 0, noLocal: false, retainAsPublished: false, retainHandling: 0 }],
          properties: undefined,
        },
        4,
      ),
    );
    const packet = await suback;
    if (packet.type !== PacketType.Suback || packet.reasonCodes[0] !== 0)
      throw new Error(`SUBSCRIBE ${topicFilter} refused`);
  }
}

function publishPacket(topicName: string, seq: number, baseTs: number): Buffer {
  return encodePacket(
    {
      type: PacketType.Publish,
      topicName,
      payload: Buffer.from(`{"data":${seq},"at":${baseTs + seq}}`),
      qos: 0,
      isRetained: false,
      isDuplicate: false,
      packetId: 0,
      properties: undefined,
    },
    4,
  );
}

/** Records per thing in the store: COUNT of its channel over everything it could have sent. */
async function countStored(
  store: PlatformStore,
  things: readonly Thing[],
  baseTs: number,
  sentPerThing: readonly number[],
): Promise<number> {
  let stored = 0;
  for (const [i, thing] of things.entries()) {
    const sent = sentPerThing[i] ?? 0;
    if (sent === 0) continue;
    const result = await store.telemetryAggregate({
      deviceId: thing.deviceId,
      keys: [CHANNEL],
      startTs: baseTs,
      endTs: baseTs + sent,
      intervalMs: sent,
      agg: 'COUNT',
    });
    for (const point of result.get(CHANNEL) ?? []) stored += point.value;
  }
  return stored;
}

async function run(context: PlatformContext): Promise<ScenarioOutcome> {
  const { options, database, tag, backend } = context;
  const adminPassword = randomBytes(12).toString('hex');
  const broker: SwitchboardUnderTest = await startSwitchboard(context.switchboardMainPath, {
    name: `Switchboard (${backend.name})`,
    dataDir: database.dataDir,
    env: { ...database.env, SWITCHBOARD_ADMIN_PASSWORD: adminPassword },
  });
  context.onCleanup(() => broker.stop());
  const provisionStarted = monotonicMs();
  const all = await provision(`http://127.0.0.1:${broker.httpPort}`, adminPassword, options.things + 1, tag);
  const subscriberThing = all[options.things]!;
  const things = all.slice(0, options.things);
  context.log(`    ${things.length} CloudPlugs things in ${Math.round(monotonicMs() - provisionStarted)} ms`);

  const subscriber = await RawClient.open(broker.address.port, subscriberThing, `${tag}-sub/subscriber`);
  await subscriber.subscribe('+/data/#');
  const publishers: RawClient[] = [];
  for (let i = 0; i < things.length; i += CONNECT_CONCURRENCY) {
    const batch = things.slice(i, i + CONNECT_CONCURRENCY);
    publishers.push(
      ...(await Promise.all(
        batch.map((thing, j) => RawClient.open(broker.address.port, thing, `${tag}-hw${i + j}/t`)),
      )),
    );
  }
  const topics = things.map((thing) => `${thing.plugId}/data/${CHANNEL}`);
  const baseTs = Date.now() - 86_400_000;
  const sentPerThing = new Array<number>(things.length).fill(0);
  // Ten records per thing in flight (at least `--window` × 10): enough to keep the group commit's batches full.
  const window = Math.max(options.windowMessages * 10, things.length * 10);
  let sent = 0;
  let cursor = 0;
  let isRunning = true;
  // Each turn: top the window up, round-robin over the things, then yield so the subscriber's socket is read.
  const pump = (): void => {
    if (!isRunning) return;
    let budget = Math.min(window - (sent - subscriber.received), 2_000);
    for (const p of publishers) p.socket.cork();
    while (budget-- > 0) {
      const seq = sentPerThing[cursor]!;
      publishers[cursor]!.socket.write(publishPacket(topics[cursor]!, seq, baseTs));
      sentPerThing[cursor] = seq + 1;
      sent++;
      cursor = (cursor + 1) % publishers.length;
    }
    for (const p of publishers) p.socket.uncork();
    setImmediate(pump);
  };
  pump();
  await sleep(WARM_UP_MS);
  const meter = new CpuMeter(broker.pid === undefined ? [] : [broker.pid]);
  const firstDelivered = subscriber.received;
  const firstMs = monotonicMs();
  meter.start();
  await sleep(options.durationSeconds * 1000);
  const deliveredPerSecond = (subscriber.received - firstDelivered) / ((monotonicMs() - firstMs) / 1000);
  const brokerCpuPercent = meter.stopPercent();
  isRunning = false;
  const drainDeadline = monotonicMs() + DRAIN_TIMEOUT_MS;
  let lastSeen = -1;
  // QoS 0 may be dropped under overload (counted, not waited for): stop once deliveries stall for a second.
  while (subscriber.received < sent && monotonicMs() < drainDeadline && subscriber.received !== lastSeen) {
    lastSeen = subscriber.received;
    await sleep(1_000);
  }
  const delivered = subscriber.received;
  const errors: string[] = [];
  for (const client of [subscriber, ...publishers]) {
    if (client.closedError !== undefined) errors.push(client.closedError);
    client.socket.destroy();
  }
  await broker.stop();
  const store = await database.openStore();
  let stored: number;
  try {
    stored = await countStored(store, things, baseTs, sentPerThing);
  } finally {
    await store.close();
  }
  if (stored < delivered) errors.push(`${delivered} records delivered but only ${stored} stored`);
  if (stored > sent) errors.push(`${stored} records stored but only ${sent} sent`);
  return {
    status: errors.length === 0 ? 'ok' : 'failed',
    metrics: { delivered: deliveredPerSecond, storedShare: sent === 0 ? Number.NaN : (stored / sent) * 100 },
    brokerCpuPercent,
    loadCpuPercent: undefined,
    errors: [...new Set(errors)],
    details: {
      store: database.description,
      server: broker.description,
      things: things.length,
      window,
      sent,
      delivered,
      stored,
    },
  };
}

export const cloudplugsRecords: PlatformScenario = {
  id: 'j',
  title: 'CloudPlugs QoS 0 records',
  metrics: [
    { key: 'delivered', label: 'records/s stored and delivered', isHigherBetter: true, decimals: 0 },
    { key: 'storedShare', label: 'records sent that were stored, %', isHigherBetter: true, decimals: 1 },
  ],
  timeoutMs: (options: BenchOptions) =>
    WARM_UP_MS + options.durationSeconds * 1000 + DRAIN_TIMEOUT_MS + SETUP_ALLOWANCE_MS + options.things * 100,
  run,
};
