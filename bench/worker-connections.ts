import { createServer, type Socket } from 'node:net';
import { PacketType, type Packet } from '../src/mqtt/codec/index.js';
import { openIdleClients, type Closable, type IdleClient } from './idle-client.js';
import { HANDSHAKE_TIMEOUT_MS, LoadClient, type LoadClientListener } from './load-client.js';
import { PublishTemplate, readPayload, writePuback } from './payload.js';
import type {
  IdleConnectRequest,
  IdleConnectResult,
  SessionsClearRequest,
  SessionsDrainRequest,
  SessionsDrainResult,
  SessionsPrepareRequest,
  SessionsPrepareResult,
  SessionsPublishRequest,
  SessionsPublishResult,
} from './protocol.js';

/** Keep-alive of session clients: longer than any scenario. */
const SESSION_KEEPALIVE_SECONDS = 600;
const MAX_ERRORS_KEPT = 10;

const monotonicMs = (): number => Number(process.hrtime.bigint()) / 1e6;

/** Runs `task(0..count-1)` with at most `concurrency` running at once; collects failures instead of throwing. */
async function runPool(count: number, concurrency: number, task: (i: number) => Promise<void>): Promise<string[]> {
  const errors: string[] = [];
  let failed = 0;
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < count) {
      const i = next++;
      try {
        await task(i);
      } catch (error) {
        failed++;
        if (errors.length < MAX_ERRORS_KEPT) errors.push(error instanceof Error ? error.message : String(error));
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(concurrency, count)) }, lane));
  if (failed > errors.length) errors.push(`… and ${failed - errors.length} more failures`);
  return errors;
}

/** CONNACK, session not present, accepted ([MQTT-3.2]). */
const CONNACK_ACCEPTED = Buffer.from([0x20, 0x02, 0x00, 0x00]);

/**
 * Warms up this process's connect path (JIT) against a local responder that answers every CONNECT with CONNACK, so the
 * first broker measured in (e) does not pay for the load generator's cold start. The broker never sees it.
 */
export async function warmUp(connections: number): Promise<void> {
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on('data', () => socket.write(CONNACK_ACCEPTED));
    socket.on('error', () => {});
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;
  const clients: Closable[] = [];
  await connectIdle(
    {
      type: 'idle-connect',
      broker: { host: '127.0.0.1', port },
      clientIdPrefix: 'warm-up-',
      count: connections,
      concurrency: 50,
      keepAliveSeconds: 60,
    },
    clients,
  );
  for (const socket of sockets) socket.destroy();
  await Promise.all(clients.map((client) => client.close(1_000)));
  await new Promise((resolve) => server.close(resolve));
}

/** Scenario e: opens `count` idle connections, `concurrency` handshakes at a time; they stay open until close-all. */
export async function connectIdle(request: IdleConnectRequest, keep: Closable[]): Promise<IdleConnectResult> {
  const startMs = monotonicMs();
  const idle: IdleClient[] = [];
  const { connected, errors, failed } = await openIdleClients(
    request.broker.host,
    request.broker.port,
    request.clientIdPrefix,
    request.count,
    request.concurrency,
    request.keepAliveSeconds,
    HANDSHAKE_TIMEOUT_MS,
    idle,
  );
  const endMs = monotonicMs();
  keep.push(...idle);
  return { connected, failed, errors, startMs, endMs };
}

/** Scenario f, step 1: leaves each session offline with a QoS 1 subscription to its own topic. */
export async function prepareSessions(request: SessionsPrepareRequest): Promise<SessionsPrepareResult> {
  let prepared = 0;
  const errors = await runPool(request.sessions.length, request.concurrency, async (i) => {
    const session = request.sessions[i]!;
    // A clean connect first discards whatever an earlier run left under this client id [MQTT-3.1.2-6].
    await (await LoadClient.open(request.broker, session.clientId, true, SESSION_KEEPALIVE_SECONDS)).close();
    const client = await LoadClient.open(request.broker, session.clientId, false, SESSION_KEEPALIVE_SECONDS);
    await client.subscribe(session.topicName, 1);
    await client.close();
    prepared++;
  });
  return { prepared, errors };
}

/** Scenario f, step 2: publishes to the offline sessions; resolves when every PUBLISH has its PUBACK. */
export async function publishToSessions(request: SessionsPublishRequest): Promise<SessionsPublishResult> {
  const { sessions, messagesPerSession, maxInflight } = request;
  const publisherCount = request.publisherClientIds.length;
  let published = 0;
  const startMs = monotonicMs();
  const errors = await runPool(publisherCount, publisherCount, async (p) => {
    const mine = sessions.filter((_, i) => i % publisherCount === p);
    const templates = mine.map((s) => new PublishTemplate(s.topicName, 1, request.payloadBytes, s.index));
    const total = mine.length * messagesPerSession;
    const maxPacketBytes = Math.max(0, ...templates.map((t) => t.packetBytes));
    const client = await LoadClient.open(
      request.broker,
      request.publisherClientIds[p]!,
      true,
      SESSION_KEEPALIVE_SECONDS,
    );
    await new Promise<void>((resolve, reject) => {
      let sent = 0;
      let acked = 0;
      let inflight = 0;
      const pump = (): void => {
        const count = Math.min(maxInflight - inflight, total - sent);
        if (count <= 0) return;
        // Topic lengths differ between sessions, so packets are laid out one after the other.
        const batch = Buffer.allocUnsafe(count * maxPacketBytes);
        const now = process.hrtime.bigint();
        let offset = 0;
        for (let k = 0; k < count; k++) {
          // Round-robin over sessions, in sequence order per session; packet id = message number mod 65535 + 1.
          const template = templates[sent % mine.length]!;
          template.write(batch, offset, Math.floor(sent / mine.length), (sent % 65_535) + 1, now);
          offset += template.packetBytes;
          sent++;
          inflight++;
        }
        client.socket.write(batch.subarray(0, offset));
      };
      client.listener = {
        onPacket(packet: Packet): void {
          if (packet.type === PacketType.Puback) {
            inflight--;
            acked++;
            published++;
          }
        },
        onChunkEnd(): void {
          if (acked === total) resolve();
          else pump();
        },
      };
      client.socket.once('close', () => {
        if (acked < total) reject(new Error(`${client.clientId}: closed after ${acked}/${total} PUBACKs`));
      });
      if (total === 0) resolve();
      else pump();
    });
    await client.close();
  });
  return { published, startMs, endMs: monotonicMs(), errors };
}

/** A reconnected session: checks order and content of its queued messages and acknowledges each. */
class DrainingSession implements LoadClientListener {
  received = 0;
  #nextSeq = 0;
  readonly #pendingAckIds: number[] = [];
  readonly #client: LoadClient;
  readonly #index: number;
  readonly #topicName: string;
  readonly #drain: SessionsDrain;

  constructor(client: LoadClient, index: number, topicName: string, drain: SessionsDrain) {
    this.#client = client;
    this.#index = index;
    this.#topicName = topicName;
    this.#drain = drain;
    client.listener = this;
  }

  onPacket(packet: Packet): void {
    if (packet.type !== PacketType.Publish) return;
    const drain = this.#drain;
    if (packet.qos > 0) this.#pendingAckIds.push(packet.packetId);
    const checked = readPayload(packet.payload, drain.payloadBytes);
    const who = this.#client.clientId;
    if (typeof checked === 'string') return drain.error(`${who}: ${checked}`);
    if (checked.index !== this.#index || packet.topicName !== this.#topicName) {
      return drain.error(`${who}: got session ${checked.index}'s message on ${packet.topicName}`);
    }
    if (packet.qos !== 1) drain.error(`${who}: seq ${checked.seq} arrived at QoS ${packet.qos}`);
    if (checked.seq !== this.#nextSeq) {
      drain.error(`${who}: seq ${checked.seq} arrived when ${this.#nextSeq} was expected`);
      if (checked.seq < this.#nextSeq) return;
    } else {
      this.received++;
      drain.received++;
      if (this.received === drain.messagesPerSession) drain.completeSessions++;
    }
    this.#nextSeq = checked.seq + 1;
    drain.lastReceiveNs = process.hrtime.bigint();
  }

  onChunkEnd(): void {
    const count = this.#pendingAckIds.length;
    if (count === 0) return;
    const acks = Buffer.allocUnsafe(count * 4);
    for (let k = 0; k < count; k++) writePuback(acks, k * 4, this.#pendingAckIds[k]!);
    this.#pendingAckIds.length = 0;
    this.#client.socket.write(acks);
    this.#drain.check();
  }
}

/** Shared state of the sessions reconnecting in this process. */
class SessionsDrain {
  readonly payloadBytes: number;
  readonly messagesPerSession: number;
  received = 0;
  completeSessions = 0;
  lastReceiveNs = 0n;
  errorCount = 0;
  readonly errors: string[] = [];
  #onComplete: () => void = () => {};
  readonly #sessionCount: number;

  constructor(request: SessionsDrainRequest) {
    this.payloadBytes = request.payloadBytes;
    this.messagesPerSession = request.messagesPerSession;
    this.#sessionCount = request.sessions.length;
  }

  whenComplete(): Promise<void> {
    return new Promise((resolve) => {
      this.#onComplete = resolve;
      this.check();
    });
  }

  check(): void {
    if (this.completeSessions === this.#sessionCount) this.#onComplete();
  }

  error(message: string): void {
    this.errorCount++;
    if (this.errors.length < MAX_ERRORS_KEPT) this.errors.push(message);
  }
}

/** Scenario f, step 3: reconnects every session (clean session 0) and waits until all queued messages arrived. */
export async function drainSessions(request: SessionsDrainRequest, keep: Closable[]): Promise<SessionsDrainResult> {
  const drain = new SessionsDrain(request);
  const startMs = monotonicMs();
  const connectErrors = await runPool(request.sessions.length, request.concurrency, async (i) => {
    const session = request.sessions[i]!;
    const client = await LoadClient.open(request.broker, session.clientId, false, SESSION_KEEPALIVE_SECONDS);
    keep.push(client);
    // [MQTT-3.2.2-2] the broker must say it still holds the session.
    if (!client.isSessionPresent) drain.error(`${session.clientId}: CONNACK without session present`);
    new DrainingSession(client, session.index, session.topicName, drain);
  });
  for (const message of connectErrors) drain.error(message);
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    drain.whenComplete(),
    new Promise<void>(
      (resolve) => (timer = setTimeout(resolve, Math.max(0, request.timeoutMs - (monotonicMs() - startMs)))),
    ),
  ]);
  clearTimeout(timer);
  return {
    received: drain.received,
    completeSessions: drain.completeSessions,
    startMs,
    lastReceiveMs: Number(drain.lastReceiveNs) / 1e6,
    errorCount: drain.errorCount,
    errors: drain.errors,
  };
}

/** Discards sessions: a clean-session connect and disconnect per client id. */
export async function clearSessions(request: SessionsClearRequest): Promise<string[]> {
  return runPool(request.clientIds.length, request.concurrency, async (i) => {
    await (await LoadClient.open(request.broker, request.clientIds[i]!, true, SESSION_KEEPALIVE_SECONDS)).close();
  });
}
