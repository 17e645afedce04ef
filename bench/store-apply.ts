/**
 * Broker store write throughput: `node dist/bench/store-apply.js [batches]`. Standalone (not part of `npm run
 * bench`'s suite). Applies batches of 1,000 ops and prints ops/s per store and scenario:
 * - `deliveries`: putDelivery only (the smallest write);
 * - `lifecycle`: the steady state of QoS 1 messages to a persistent session. Batch k holds, for 200 messages each:
 *   putMessage + putDelivery (queued) for batch k's, putDelivery (sent) for batch k-1's, deleteDelivery +
 *   deleteMessage for batch k-2's acknowledged ones: 1,000 ops.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { MemoryBrokerStore, SqliteBrokerStore, type BrokerStore, type StoreOp } from '../src/storage/index.js';

const opsPerBatch = 1_000;
const batchCount = Number(process.argv[2] ?? 300);
const warmupBatchCount = 30;
const payload = Buffer.alloc(64, 0x61);

function deliveriesBatch(batch: number): StoreOp[] {
  const ops: StoreOp[] = [];
  for (let i = 0; i < opsPerBatch; i++) {
    const seq = batch * opsPerBatch + i;
    ops.push({
      op: 'putDelivery',
      delivery: {
        clientId: `c${i % 50}`,
        seq,
        messageId: seq,
        qos: 1,
        packetId: 0,
        state: 'queued',
        subscriptionIds: [],
        isRetained: false,
      },
    });
  }
  return ops;
}

const messagesPerLifecycleBatch = opsPerBatch / 5;

function lifecycleBatch(batch: number): StoreOp[] {
  const ops: StoreOp[] = [];
  for (let i = 0; i < messagesPerLifecycleBatch; i++) {
    const id = batch * messagesPerLifecycleBatch + i;
    const clientId = `c${i % 50}`;
    ops.push(
      {
        op: 'putMessage',
        message: {
          id,
          topicName: `devices/d${i}/telemetry`,
          payload,
          qos: 1,
          isRetained: false,
          properties: undefined,
          expiresAtMs: 0,
          publisherClientId: `d${i}`,
        },
      },
      {
        op: 'putDelivery',
        delivery: {
          clientId,
          seq: id,
          messageId: id,
          qos: 1,
          packetId: 0,
          state: 'queued',
          subscriptionIds: [],
          isRetained: false,
        },
      },
    );
    const sent = id - messagesPerLifecycleBatch;
    ops.push({
      op: 'putDelivery',
      delivery: {
        clientId,
        seq: sent,
        messageId: sent,
        qos: 1,
        packetId: (sent % 65_535) + 1,
        state: 'sent',
        subscriptionIds: [],
        isRetained: false,
      },
    });
    const acked = id - 2 * messagesPerLifecycleBatch;
    ops.push({ op: 'deleteDelivery', clientId, seq: acked }, { op: 'deleteMessage', id: acked });
  }
  return ops;
}

async function measure(label: string, store: BrokerStore, makeBatch: (batch: number) => StoreOp[]): Promise<void> {
  // Batches are built before timing, so only `apply` is measured.
  const batches = Array.from({ length: warmupBatchCount + batchCount }, (_, batch) => makeBatch(batch + 2));
  for (let batch = 0; batch < warmupBatchCount; batch++) store.apply(batches[batch]!);
  const startedAt = process.hrtime.bigint();
  const cpuAtStart = process.cpuUsage();
  for (let batch = warmupBatchCount; batch < batches.length; batch++) store.apply(batches[batch]!);
  const cpu = process.cpuUsage(cpuAtStart);
  const elapsedMs = Number(process.hrtime.bigint() - startedAt) / 1e6;
  await store.close();
  const opCount = batchCount * opsPerBatch;
  // Ops per CPU second is what the store costs; ops per wall second also counts waiting for the disk and for other
  // processes on a shared machine.
  const perWallSecond = format(opCount / (elapsedMs / 1000));
  const perCpuSecond = format(opCount / ((cpu.user + cpu.system) / 1e6));
  console.log(
    `${label.padEnd(40)} ${perWallSecond} ops/s wall  ${perCpuSecond} ops/cpu-s  ${(elapsedMs / batchCount).toFixed(2)} ms/batch`,
  );
}

function format(rate: number): string {
  return Math.round(rate).toLocaleString('en-US').padStart(10);
}

const tempDir = fs.mkdtempSync(path.join(os.tmpdir(), 'switchboard-store-bench-'));
try {
  let fileCount = 0;
  const sqlite = (synchronous: 'normal' | 'full'): BrokerStore =>
    new SqliteBrokerStore(path.join(tempDir, `bench-${++fileCount}.db`), { synchronous });
  console.log(`${batchCount} batches of ${opsPerBatch} ops after ${warmupBatchCount} warm-up batches (${tempDir})`);
  await measure('sqlite synchronous=normal, deliveries', sqlite('normal'), deliveriesBatch);
  await measure('sqlite synchronous=normal, lifecycle', sqlite('normal'), lifecycleBatch);
  await measure('sqlite synchronous=full, lifecycle', sqlite('full'), lifecycleBatch);
  await measure('memory, lifecycle', new MemoryBrokerStore(), lifecycleBatch);
} finally {
  fs.rmSync(tempDir, { recursive: true, force: true });
}
