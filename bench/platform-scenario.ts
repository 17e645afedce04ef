/**
 * The platform scenarios (g, h): Switchboard alone, run once per platform store (SQLite, PostgreSQL) on a fresh
 * database each time. Unlike a–f they start their own server (its store is part of what they measure) and read the
 * store directly before or after it runs.
 */
import type { LoadPool } from './load-pool.js';
import type { BenchOptions, PlatformScenarioId } from './options.js';
import { BACKENDS, createDatabase, type BackendKind, type PlatformDatabase } from './platform-database.js';
import type { MetricSpec, ScenarioOutcome } from './scenario.js';

/** A metric with the target per store, printed beside the figures (missing one is reported, not a failure). */
export interface PlatformMetricSpec extends MetricSpec {
  targets?: Partial<Record<BackendKind, number>>;
}

export interface PlatformContext {
  backend: { kind: BackendKind; name: string };
  database: PlatformDatabase;
  pool: LoadPool;
  options: BenchOptions;
  /** Unique per run, scenario and store: names devices and client ids. */
  tag: string;
  /** `dist/src/main.js`. */
  switchboardMainPath: string;
  /** Aborted when the scenario ran out of time; long loops (seeding) check it. */
  signal: AbortSignal;
  /** Registers teardown (stopping the server...) that runs after the scenario, also when it timed out. */
  onCleanup: (cleanup: () => Promise<void>) => void;
  log: (message: string) => void;
}

export interface PlatformScenario {
  id: PlatformScenarioId;
  title: string;
  metrics: PlatformMetricSpec[];
  timeoutMs(options: BenchOptions): number;
  run(context: PlatformContext): Promise<ScenarioOutcome>;
}

/** One platform scenario's outcomes, by store kind. */
export interface PlatformResults {
  scenario: PlatformScenario;
  outcomes: Map<BackendKind, ScenarioOutcome>;
}

function outcomeOf(status: ScenarioOutcome['status'], message: string): ScenarioOutcome {
  return {
    status,
    metrics: {},
    brokerCpuPercent: undefined,
    loadCpuPercent: undefined,
    errors: [message],
    details: {},
  };
}

function describe(error: unknown): string {
  const cause = error instanceof Error && error.cause instanceof Error ? ` (${error.cause.message})` : '';
  return `${error instanceof Error ? error.message : String(error)}${cause}`;
}

interface RunnerContext {
  pool: LoadPool;
  options: BenchOptions;
  runId: string;
  switchboardMainPath: string;
  notes: string[];
  log: (message: string) => void;
}

/** Runs one scenario on one store: fresh database, bounded by the scenario's timeout, teardown always; never throws. */
async function runOnBackend(
  scenario: PlatformScenario,
  backend: { kind: BackendKind; name: string },
  runner: RunnerContext,
): Promise<ScenarioOutcome> {
  const created = await createDatabase(backend.kind, runner.options.postgresUrl).catch((error: unknown) => ({
    skipped: describe(error),
  }));
  if ('skipped' in created) {
    const note = `(${scenario.id}) ${backend.name} skipped: ${created.skipped}`;
    if (!runner.notes.includes(note)) runner.notes.push(note);
    return outcomeOf('skipped', created.skipped);
  }
  const cleanups: (() => Promise<void>)[] = [];
  const abort = new AbortController();
  const context: PlatformContext = {
    backend,
    database: created,
    pool: runner.pool,
    options: runner.options,
    tag: `sb${runner.runId}${scenario.id}${backend.kind === 'sqlite' ? 's' : 'p'}`,
    switchboardMainPath: runner.switchboardMainPath,
    signal: abort.signal,
    onCleanup: (cleanup) => cleanups.push(cleanup),
    log: runner.log,
  };
  const timeoutMs = scenario.timeoutMs(runner.options);
  let timer: NodeJS.Timeout | undefined;
  const outcome = await Promise.race([
    scenario.run(context).catch((error: unknown) => outcomeOf('error', describe(error))),
    new Promise<ScenarioOutcome>((resolve) => {
      timer = setTimeout(() => {
        abort.abort();
        resolve(outcomeOf('timeout', `no result within ${timeoutMs / 1000} s`));
      }, timeoutMs);
    }),
  ]);
  clearTimeout(timer);
  // Newest first: the server stops before the database under it is dropped.
  for (const cleanup of cleanups.reverse()) {
    await cleanup().catch((error: unknown) => outcome.errors.push(`teardown: ${describe(error)}`));
  }
  await created.dispose();
  // Whatever went wrong, the next run starts with fresh load processes and no leftover connections.
  if (outcome.status !== 'ok') await runner.pool.restart();
  return outcome;
}

/** Runs the given platform scenarios on every store, in order. */
export async function runPlatformScenarios(
  scenarios: readonly PlatformScenario[],
  runner: RunnerContext,
): Promise<PlatformResults[]> {
  const results: PlatformResults[] = [];
  for (const scenario of scenarios) {
    const entry: PlatformResults = { scenario, outcomes: new Map() };
    results.push(entry);
    for (const backend of BACKENDS) {
      runner.log(`(${scenario.id}) ${scenario.title} — Switchboard on ${backend.name} …`);
      const outcome = await runOnBackend(scenario, backend, runner);
      entry.outcomes.set(backend.kind, outcome);
      const first = scenario.metrics[0]!;
      const value = outcome.metrics[first.key];
      const shown = value === undefined ? '' : ` ${Math.round(value * 1000) / 1000} ${first.label}`;
      runner.log(`(${scenario.id}) ${backend.name}: ${outcome.status}${shown}`);
      for (const error of outcome.errors) runner.log(`    ${error}`);
    }
  }
  return results;
}
