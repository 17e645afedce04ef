/** The load processes: forked `load-worker.js` children, each answering requests over IPC. */
import { fork, type ChildProcess } from 'node:child_process';
import type { FromWorker, ToWorker, WorkerCommand } from './protocol.js';
import { startedChildren } from './brokers.js';
import { openFileSoftLimit } from './proc-stats.js';

/** Least connections each load process opens against its own local CONNACK responder before measuring (see `warmUp`). */
const MIN_WARM_UP_CONNECTIONS = 2_000;

/** One load process. */
export class LoadProcess {
  readonly index: number;
  readonly #child: ChildProcess;
  readonly #pending = new Map<number, { resolve(value: unknown): void; reject(error: Error): void }>();
  #nextId = 1;
  #exitError: Error | undefined;
  /** Called with each `progress` message. */
  onProgress: (deliveredByPublisher: number[]) => void = () => {};

  constructor(index: number, workerPath: string) {
    this.index = index;
    // Lean, predictable load: no source maps, default heap is plenty (10,000 sockets ≈ tens of MB).
    this.#child = fork(workerPath, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], serialization: 'advanced' });
    startedChildren.add(this.#child);
    this.#child.on('message', (message: FromWorker) => {
      if (message.kind === 'progress') {
        this.onProgress(message.deliveredByPublisher);
        return;
      }
      const waiter = this.#pending.get(message.id);
      if (waiter === undefined) return;
      this.#pending.delete(message.id);
      if (message.kind === 'response') waiter.resolve(message.result);
      else waiter.reject(new Error(`load process ${index}: ${message.message}`));
    });
    this.#child.once('exit', (code, signal) => {
      startedChildren.delete(this.#child);
      this.#exitError = new Error(`load process ${index} exited (${code ?? signal})`);
      for (const waiter of this.#pending.values()) waiter.reject(this.#exitError);
      this.#pending.clear();
    });
  }

  get pid(): number {
    return this.#child.pid ?? -1;
  }

  /** Sends a request; resolves with the worker's answer (typed by the caller, see `protocol.ts`). */
  call<Result>(command: WorkerCommand): Promise<Result> {
    if (this.#exitError !== undefined) return Promise.reject(this.#exitError);
    const id = this.#nextId++;
    return new Promise<Result>((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      this.#send({ kind: 'request', id, command });
    });
  }

  credit(deliveredByPublisher: number[]): void {
    if (this.#exitError === undefined) this.#send({ kind: 'credit', deliveredByPublisher });
  }

  #send(message: ToWorker): void {
    this.#child.send(message);
  }

  async kill(): Promise<void> {
    if (this.#child.exitCode !== null || this.#child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => this.#child.once('exit', () => resolve()));
    this.#child.kill('SIGKILL');
    await exited;
  }
}

/** A fixed number of load processes, replaced wholesale after a scenario timed out or failed mid-way. */
export class LoadPool {
  readonly #workerPath: string;
  readonly #size: number;
  readonly #warmUpConnections: number;
  #processes: LoadProcess[] = [];

  /** `heldConnections`: the most connections one load process will hold at once in this run (scenario e). */
  constructor(workerPath: string, size: number, heldConnections: number) {
    this.#workerPath = workerPath;
    this.#size = size;
    this.#warmUpConnections = Math.max(MIN_WARM_UP_CONNECTIONS, heldConnections);
    this.#spawn();
  }

  get processes(): readonly LoadProcess[] {
    return this.#processes;
  }

  get pids(): number[] {
    return this.#processes.map((p) => p.pid);
  }

  /** Kills every load process (and with them their connections) and starts fresh, warmed-up ones. */
  async restart(): Promise<void> {
    await this.close();
    this.#spawn();
    await this.warmUp();
  }

  /**
   * Warm-up of every process against a local CONNACK responder inside it: JIT-compiles the connect path and grows the
   * heap to what the process will hold, so whichever broker is measured first does not pay for the load generator's
   * cold start (a growing load heap costs it about 1.8x the CPU per connection it costs once grown).
   */
  async warmUp(): Promise<void> {
    // Each warm-up connection is two files in the load process (client and responder side).
    const connections = Math.max(1, Math.min(this.#warmUpConnections, Math.floor((openFileSoftLimit() - 100) / 2)));
    await Promise.all(this.#processes.map((p) => p.call({ type: 'warm-up', connections })));
  }

  async close(): Promise<void> {
    await Promise.all(this.#processes.map((p) => p.kill()));
    this.#processes = [];
  }

  #spawn(): void {
    this.#processes = Array.from({ length: this.#size }, (_, i) => new LoadProcess(i, this.#workerPath));
  }
}
