/** What a scenario is given and what it returns. */
import type { BrokerUnderTest } from './brokers.js';
import type { LoadPool } from './load-pool.js';
import type { BenchOptions, ScenarioId } from './options.js';
import { CpuMeter } from './proc-stats.js';

/** One row of the table: a measured quantity and which direction is better. */
export interface MetricSpec {
  key: string;
  label: string;
  isHigherBetter: boolean;
  /** Digits after the point in the table. */
  decimals: number;
}

export interface ScenarioContext {
  broker: BrokerUnderTest;
  pool: LoadPool;
  options: BenchOptions;
  /** Unique per run and broker: prefixes client ids and topics so runs never see each other's traffic. */
  tag: string;
  /** Notes printed under the table (e.g. a scenario reduced to fit a limit). */
  notes: string[];
}

/** `skipped`: could not run for a reason outside the bench (PostgreSQL unreachable); not a failure. */
export type ScenarioStatus = 'ok' | 'failed' | 'timeout' | 'error' | 'skipped';

export interface ScenarioOutcome {
  status: ScenarioStatus;
  /** By `MetricSpec.key`; absent when not measured. */
  metrics: Record<string, number>;
  /** Percent of one core over the measured phase; undefined when the process is unknown (remote target). */
  brokerCpuPercent: number | undefined;
  loadCpuPercent: number | undefined;
  /** Verification failures and other problems; non-empty makes the bench exit non-zero. */
  errors: string[];
  /** Everything else worth keeping in the JSON result. */
  details: Record<string, unknown>;
}

export interface Scenario {
  id: ScenarioId;
  title: string;
  metrics: MetricSpec[];
  /** Hard limit for the whole scenario, setup and teardown included. */
  timeoutMs(options: BenchOptions): number;
  run(context: ScenarioContext): Promise<ScenarioOutcome>;
}

/** CPU meters for the broker and for the load processes over one measured phase. */
export class PhaseCpu {
  readonly #broker: CpuMeter;
  readonly #load: CpuMeter;

  constructor(context: ScenarioContext) {
    this.#broker = new CpuMeter(context.broker.pid === undefined ? [] : [context.broker.pid]);
    this.#load = new CpuMeter(context.pool.pids);
  }

  start(): void {
    this.#broker.start();
    this.#load.start();
  }

  stop(): { brokerCpuPercent: number | undefined; loadCpuPercent: number | undefined } {
    return { brokerCpuPercent: this.#broker.stopPercent(), loadCpuPercent: this.#load.stopPercent() };
  }
}

/** Splits `items` round-robin over `parts` lists, starting with list `first`. */
export function deal<T>(items: readonly T[], parts: number, first = 0): T[][] {
  const lists: T[][] = Array.from({ length: parts }, () => []);
  items.forEach((item, i) => lists[(first + i) % parts]!.push(item));
  return lists;
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

export const monotonicMs = (): number => Number(process.hrtime.bigint()) / 1e6;
