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
import { WorkerRequests } from './worker-requests.js';
import type { EncodedOp } from './sqlite-broker-writes.js';
import type { BrokerWriteReply, BrokerWriteRequest, BrokerWriterWorkerData } from './sqlite-broker-writer-worker.js';

export class BrokerWriterThread {
  readonly #requests: WorkerRequests<Omit<BrokerWriteRequest, 'id'>, BrokerWriteReply, undefined>;

  constructor(data: BrokerWriterWorkerData) {
    this.#requests = new WorkerRequests(new URL('./sqlite-broker-writer-worker.js', import.meta.url), data, {
      name: "the broker store's writer thread",
      decode: (reply: BrokerWriteReply) => ('message' in reply ? new Error(reply.message) : undefined),
    });
  }

  /** False once the thread is gone; the store then writes on its own connection. */
  get isAlive(): boolean {
    return this.#requests.isAlive;
  }

  /** Applies the batch in one transaction on the thread; resolves once it is committed. Batches apply in call order. */
  write(ops: readonly EncodedOp[]): Promise<void> {
    return this.#requests.request({ ops });
  }

  /** Lets pending writes finish, then closes the thread's connection. */
  stop(): Promise<void> {
    return this.#requests.stop();
  }

  /** Ends the thread at once, failing whatever it had not answered (tests: a thread that dies). */
  terminate(): Promise<void> {
    return this.#requests.terminate();
  }
}
