/**
 * Broker store commits on a thread of their own. better-sqlite3 is synchronous: on the main thread every commit of
 * the broker's group commit (one per event-loop turn, persistence.ts) holds every socket for its whole duration,
 * and with QoS 1 traffic to persistent sessions that was most of the broker's time (bench f). On a worker thread the
 * commit runs beside the event loop, which keeps reading, routing and acknowledging what needs no durability; the
 * persistence queue keeps one batch in flight and the next one grows meanwhile, so a busier broker commits larger,
 * fewer batches.
 *
 * The worker has its own connection to the same file (WAL mode). If it dies, the batches it had not answered fail
 * (their acknowledgements were never sent, so publishers resend) and the store writes on its own connection again.
 */
import { Worker } from 'node:worker_threads';
import type { EncodedOp } from './sqlite-broker-writes.js';
import type { BrokerWriteReply, BrokerWriterWorkerData } from './sqlite-broker-writer-worker.js';

interface Pending {
  resolve: () => void;
  reject: (error: Error) => void;
}

export class BrokerWriterThread {
  readonly #worker: Worker;
  readonly #pending = new Map<number, Pending>();
  #nextId = 1;
  #isAlive = true;
  readonly #exited: Promise<void>;

  constructor(data: BrokerWriterWorkerData) {
    this.#worker = new Worker(new URL('./sqlite-broker-writer-worker.js', import.meta.url), { workerData: data });
    this.#worker.unref(); // referenced only while writes are pending
    this.#worker.on('message', (reply: BrokerWriteReply) => {
      const pending = this.#pending.get(reply.id);
      if (pending === undefined) return;
      this.#pending.delete(reply.id);
      if (this.#pending.size === 0) this.#worker.unref();
      if ('message' in reply) pending.reject(new Error(reply.message));
      else pending.resolve();
    });
    this.#worker.on('error', () => {
      // 'exit' follows.
    });
    this.#exited = new Promise((resolve) => {
      this.#worker.once('exit', (code) => {
        this.#isAlive = false;
        const failure = new Error(`the broker store's writer thread exited (code ${String(code)}); batch not stored`);
        for (const pending of this.#pending.values()) pending.reject(failure);
        this.#pending.clear();
        resolve();
      });
    });
  }

  /** False once the thread is gone; the store then writes on its own connection. */
  get isAlive(): boolean {
    return this.#isAlive;
  }

  /** Applies the batch in one transaction on the thread; resolves once it is committed. Batches apply in call order. */
  write(ops: readonly EncodedOp[]): Promise<void> {
    if (!this.#isAlive)
      return Promise.reject(new Error("the broker store's writer thread has exited; batch not stored"));
    return new Promise((resolve, reject) => {
      const id = this.#nextId++;
      this.#pending.set(id, { resolve, reject });
      if (this.#pending.size === 1) this.#worker.ref();
      this.#worker.postMessage({ id, ops });
    });
  }

  /** Lets pending writes finish, then closes the thread's connection. */
  async stop(): Promise<void> {
    if (!this.#isAlive) return;
    this.#worker.ref();
    this.#worker.postMessage('stop'); // queued behind every write already posted
    await this.#exited;
  }

  /** Ends the thread at once, failing whatever it had not answered (tests: a thread that dies). */
  async terminate(): Promise<void> {
    await this.#worker.terminate();
    await this.#exited;
  }
}
