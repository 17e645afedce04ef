/**
 * Requests to a worker thread, each answered once: the shared half of the SQLite writer threads (the platform's
 * device data, `platform/sqlite-writer.ts`, and the broker store's, `sqlite-broker-writer.ts`). Requests carry an
 * id the worker echoes in its reply; the worker is referenced only while a request is pending, so an idle one never
 * keeps the process alive. If it exits, every pending request fails and later ones are refused at once: nothing
 * waits for an answer that cannot come.
 */
import { Worker } from 'node:worker_threads';

interface Pending<Result> {
  resolve: (result: Result) => void;
  reject: (error: Error) => void;
}

export interface WorkerRequestsOptions<Reply, Result> {
  /** Names the thread in errors, e.g. "the SQLite writer thread". */
  name: string;
  /** A reply's result, or the Error to reject its request with. */
  decode: (reply: Reply) => Result | Error;
}

export class WorkerRequests<Request extends object, Reply extends { id: number }, Result> {
  readonly #worker: Worker;
  readonly #options: WorkerRequestsOptions<Reply, Result>;
  readonly #pending = new Map<number, Pending<Result>>();
  #nextId = 1;
  #isAlive = true;
  readonly #exited: Promise<void>;

  constructor(script: URL, workerData: unknown, options: WorkerRequestsOptions<Reply, Result>) {
    this.#options = options;
    this.#worker = new Worker(script, { workerData });
    this.#worker.unref(); // referenced only while requests are pending
    this.#worker.on('message', (reply: Reply) => {
      const pending = this.#pending.get(reply.id);
      if (pending === undefined) return;
      this.#pending.delete(reply.id);
      if (this.#pending.size === 0) this.#worker.unref();
      const result = options.decode(reply);
      if (result instanceof Error) pending.reject(result);
      else pending.resolve(result);
    });
    this.#worker.on('error', () => {
      // 'exit' follows.
    });
    this.#exited = new Promise((resolve) => {
      this.#worker.once('exit', (code) => {
        this.#isAlive = false;
        const failure = new Error(`${options.name} exited (code ${String(code)}); the batch was not stored`);
        for (const pending of this.#pending.values()) pending.reject(failure);
        this.#pending.clear();
        resolve();
      });
    });
  }

  /** False once the thread is gone. */
  get isAlive(): boolean {
    return this.#isAlive;
  }

  /** Posts `{ ...request, id }`; resolves with the decoded reply. Requests are answered in the order posted. */
  request(request: Request): Promise<Result> {
    if (!this.#isAlive) {
      return Promise.reject(new Error(`${this.#options.name} has exited; the batch was not stored`));
    }
    return new Promise((resolve, reject) => {
      const id = this.#nextId++;
      this.#pending.set(id, { resolve, reject });
      if (this.#pending.size === 1) this.#worker.ref();
      this.#worker.postMessage({ ...request, id });
    });
  }

  /** Lets pending requests finish ('stop' is queued behind them), then waits for the thread's exit. */
  async stop(): Promise<void> {
    if (!this.#isAlive) return;
    this.#worker.ref();
    this.#worker.postMessage('stop');
    await this.#exited;
  }

  /** Ends the thread at once, failing whatever it had not answered. */
  async terminate(): Promise<void> {
    await this.#worker.terminate();
    await this.#exited;
  }
}
