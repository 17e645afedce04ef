/**
 * `npm run bench`: Switchboard against a reference broker (a private Mosquitto, or `--target`), scenarios a–f, one
 * side-by-side table on stdout; then the platform scenarios g–j, Switchboard alone on SQLite and on PostgreSQL, in a
 * second table; all in a JSON file in `bench-results/`. See docs/benchmark.md.
 */
import { randomBytes } from 'node:crypto';
import { cpus, totalmem } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { externalBroker, startedChildren, startMosquitto, startSwitchboard, type BrokerUnderTest } from './brokers.js';
import { LoadPool } from './load-pool.js';
import {
  parseOptions,
  PLATFORM_SCENARIO_IDS,
  USAGE,
  type BenchOptions,
  type BrokerScenarioId,
  type PlatformScenarioId,
} from './options.js';
import { backendName } from './platform-database.js';
import { runPlatformScenarios, type PlatformResults, type PlatformScenario } from './platform-scenario.js';
import { openFileSoftLimit } from './proc-stats.js';
import { renderTable, writeJson, type ScenarioResults } from './report.js';
import { missedTargets, renderPlatformTable } from './report-platform.js';
import type { Scenario, ScenarioContext, ScenarioOutcome } from './scenario.js';
import { aggregateQuery } from './scenario-aggregate.js';
import { idleConnections, idleConnectionTarget, persistentSessions } from './scenario-connections.js';
import { fanInQos0, fanInQos1, fanOut, steadyLatency } from './scenario-flow.js';
import { feedOverhead } from './scenario-feed.js';
import { telemetryIngestion } from './scenario-ingest.js';
import { cloudplugsRecords } from './scenario-cloudplugs.js';

const benchDir = dirname(fileURLToPath(import.meta.url));
/** The package root: `dist/bench/run.js` → two levels up. */
const rootDir = resolve(benchDir, '..', '..');
const workerPath = join(benchDir, 'load-worker.js');
/** The server built by the same compilation: `dist/src/main.js` next to `dist/bench/`. */
const switchboardMainPath = join(benchDir, '..', 'src', 'main.js');

const SCENARIOS: Record<BrokerScenarioId, Scenario> = {
  a: fanInQos0,
  b: fanInQos1,
  c: fanOut,
  d: steadyLatency,
  e: idleConnections,
  f: persistentSessions,
};
/** (e) runs first, on freshly started brokers, so earlier scenarios' freed memory does not hide per-connection cost. */
const RUN_ORDER: BrokerScenarioId[] = ['e', 'a', 'b', 'c', 'd', 'f'];
/** Switchboard alone, on each platform store; after a–f, whose brokers are stopped by then. */
const PLATFORM_SCENARIOS: Record<PlatformScenarioId, PlatformScenario> = {
  g: telemetryIngestion,
  h: aggregateQuery,
  i: feedOverhead,
  j: cloudplugsRecords,
};

const log = (message: string): void => void process.stderr.write(`${message}\n`);

function isAlive(broker: BrokerUnderTest): boolean {
  if (broker.pid === undefined) return true;
  try {
    process.kill(broker.pid, 0);
    return true;
  } catch {
    return false;
  }
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

/** Runs one scenario against one broker, bounded by the scenario's timeout; never throws. */
async function runBounded(scenario: Scenario, context: ScenarioContext): Promise<ScenarioOutcome> {
  if (!isAlive(context.broker)) {
    return outcomeOf('error', `${context.broker.name} is not running:\n${context.broker.outputTail()}`);
  }
  const timeoutMs = scenario.timeoutMs(context.options);
  let timer: NodeJS.Timeout | undefined;
  const outcome = await Promise.race([
    scenario.run(context).catch((error: unknown) => {
      const cause = error instanceof Error && error.cause instanceof Error ? ` (${error.cause.message})` : '';
      return outcomeOf('error', `${error instanceof Error ? error.message : String(error)}${cause}`);
    }),
    new Promise<ScenarioOutcome>((resolve) => {
      timer = setTimeout(() => resolve(outcomeOf('timeout', `no result within ${timeoutMs / 1000} s`)), timeoutMs);
    }),
  ]);
  clearTimeout(timer);
  // Whatever went wrong, the next scenario starts with fresh load processes and no leftover connections.
  if (outcome.status !== 'ok') await context.pool.restart();
  if (!isAlive(context.broker)) outcome.errors.push(`${context.broker.name} exited:\n${context.broker.outputTail()}`);
  return outcome;
}

/** Identical messages once, with a count ("connect ECONNREFUSED … (×40)"). */
function collapse(errors: readonly string[]): string[] {
  const counts = new Map<string, number>();
  for (const error of errors) counts.set(error, (counts.get(error) ?? 0) + 1);
  return [...counts].map(([error, count]) => (count === 1 ? error : `${error} (×${count})`));
}

function summary(outcome: ScenarioOutcome, scenario: Scenario): string {
  const first = scenario.metrics[0]!;
  const value = outcome.metrics[first.key];
  const shown = value === undefined ? '' : ` ${Math.round(value * 1000) / 1000} ${first.label}`;
  return `${outcome.status}${shown}`;
}

async function startBrokers(options: BenchOptions): Promise<BrokerUnderTest[]> {
  const brokers: BrokerUnderTest[] = [];
  try {
    if (!options.isReferenceOnly) {
      log(`starting Switchboard (${switchboardMainPath}) …`);
      brokers.push(await startSwitchboard(switchboardMainPath));
    }
    if (!options.isSwitchboardOnly) {
      if (options.target === undefined) {
        log('starting reference Mosquitto …');
        brokers.push(await startMosquitto());
      } else {
        brokers.push(externalBroker(options.target, options.targetPid));
      }
    }
  } catch (error) {
    await Promise.all(brokers.map((b) => b.stop()));
    throw error;
  }
  return brokers;
}

async function main(): Promise<number> {
  let options: BenchOptions | undefined;
  try {
    options = parseOptions(process.argv.slice(2));
  } catch (error) {
    log(`${error instanceof Error ? error.message : String(error)}\n\n${USAGE}`);
    return 2;
  }
  if (options === undefined) {
    log(USAGE);
    return 0;
  }
  const startedAt = new Date();
  const notes: string[] = [];
  if (options.only.includes('e')) {
    const { note } = idleConnectionTarget(options);
    if (note !== undefined) notes.push(note);
  }
  const machine = {
    cpus: cpus().length,
    cpuModel: cpus()[0]?.model ?? 'unknown',
    totalMemoryBytes: totalmem(),
    node: process.version,
    openFileSoftLimit: openFileSoftLimit(),
  };
  log(`bench: ${machine.cpus} CPUs, Node ${machine.node}, open-file limit ${machine.openFileSoftLimit}`);
  for (const note of notes) log(note);

  const brokerIds = RUN_ORDER.filter((s) => options.only.includes(s));
  let platformIds = PLATFORM_SCENARIO_IDS.filter((s) => options.only.includes(s));
  if (options.isReferenceOnly && platformIds.length > 0) {
    notes.push(`scenarios ${platformIds.join(',')} measure Switchboard alone: not run with --reference-only`);
    platformIds = [];
  }
  const brokers = brokerIds.length > 0 ? await startBrokers(options) : [];
  const heldPerProcess = options.only.includes('e')
    ? Math.ceil(idleConnectionTarget(options).count / options.loadProcesses)
    : 0;
  const pool = new LoadPool(workerPath, options.loadProcesses, heldPerProcess);
  const stopAll = async (): Promise<void> => {
    await pool.close();
    await Promise.all(brokers.map((b) => b.stop()));
  };
  onSignal = stopAll;
  const runId = randomBytes(3).toString('hex');
  const results: ScenarioResults[] = [];
  let platformResults: PlatformResults[];
  try {
    await pool.warmUp();
    for (const id of brokerIds) {
      const scenario = SCENARIOS[id];
      const entry: ScenarioResults = { scenario, outcomes: new Map() };
      results.push(entry);
      for (const [brokerIndex, broker] of brokers.entries()) {
        log(`(${id}) ${scenario.title} — ${broker.name} …`);
        const tag = `sb${runId}${id}${brokerIndex}`;
        const outcome = await runBounded(scenario, { broker, pool, options, tag, notes });
        entry.outcomes.set(broker.name, outcome);
        log(`(${id}) ${broker.name}: ${summary(outcome, scenario)}`);
        for (const error of collapse(outcome.errors)) log(`    ${error}`);
      }
    }
    // The platform scenarios start their own servers; the comparison brokers would only take CPU from them.
    await Promise.all(brokers.map((b) => b.stop()));
    platformResults = await runPlatformScenarios(
      platformIds.map((id) => PLATFORM_SCENARIOS[id]),
      { pool, options, runId, switchboardMainPath, notes, log },
    );
  } finally {
    await stopAll();
  }

  results.sort((x, y) => x.scenario.id.localeCompare(y.scenario.id));
  const brokerNames = brokers.map((b) => b.name);
  if (results.length > 0) {
    process.stdout.write(`\n${renderTable(results, brokerNames)}\n`);
    process.stdout.write(
      '\nratio = first broker ÷ second; ↑ higher is better, ↓ lower is better; CPU = % of one core over the measured phase ' +
        `(${machine.cpus} CPUs; load = ${options.loadProcesses} load processes together).\n`,
    );
  }
  if (platformResults.length > 0) {
    process.stdout.write(`\n${renderPlatformTable(platformResults)}\n`);
    const footnotes = ['Switchboard alone, a fresh store per column; ↑ higher is better, ↓ lower is better.'];
    if (platformIds.includes('g')) {
      footnotes.push(
        '(g) CPU = % of one core over the saturated phase; broker = Switchboard (with SQLite inside it), PostgreSQL ' +
          'runs in its own processes (its own row).',
      );
    }
    if (platformIds.includes('h')) footnotes.push('(h) queries the store directly: no server, no CPU columns.');
    if (platformIds.includes('i')) {
      footnotes.push(
        '(i) CPU = % of one core with the PlaceOS feed on (and one subscriber on placeos/<org>/state/#), at half the ' +
          'store’s target rate; overhead = CPU per acknowledged point with the feed ÷ without − 1.',
      );
    }
    process.stdout.write(`\n${footnotes.join('\n')}\n`);
    for (const line of missedTargets(platformResults)) process.stdout.write(`target missed: ${line}\n`);
  }
  for (const note of notes) process.stdout.write(`note: ${note}\n`);

  const isFailure = (o: ScenarioOutcome): boolean => o.status !== 'ok' && o.status !== 'skipped';
  const failures = [
    ...results.flatMap(({ scenario, outcomes }) =>
      [...outcomes].filter(([, o]) => isFailure(o)).map(([name, o]) => ({ scenario, name, o })),
    ),
    ...platformResults.flatMap(({ scenario, outcomes }) =>
      [...outcomes]
        .filter(([, o]) => isFailure(o))
        .map(([kind, o]) => ({ scenario, name: `Switchboard ${backendName(kind)}`, o })),
    ),
  ];
  for (const { scenario, name, o } of failures) {
    process.stdout.write(
      `\n(${scenario.id}) ${name}: ${o.status.toUpperCase()}\n  ${collapse(o.errors).join('\n  ')}\n`,
    );
  }
  const jsonPath = writeJson(rootDir, startedAt, {
    startedAt: startedAt.toISOString(),
    finishedAt: new Date().toISOString(),
    machine,
    options,
    brokers: brokers.map((b) => ({ name: b.name, description: b.description })),
    notes,
    results: results.map(({ scenario, outcomes }) => ({
      scenario: scenario.id,
      title: scenario.title,
      metrics: scenario.metrics,
      outcomes: Object.fromEntries(outcomes),
    })),
    platformResults: platformResults.map(({ scenario, outcomes }) => ({
      scenario: scenario.id,
      title: scenario.title,
      metrics: scenario.metrics,
      outcomes: Object.fromEntries(outcomes),
    })),
  });
  process.stdout.write(`\nresults: ${jsonPath}\n`);
  if (failures.length > 0) process.stdout.write(`\n${failures.length} scenario run(s) did not pass verification.\n`);
  return failures.length > 0 ? 1 : 0;
}

let onSignal: (() => Promise<void>) | undefined;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    log(`\n${signal}: stopping brokers and load processes …`);
    const stopping = onSignal?.() ?? Promise.resolve();
    void stopping.finally(() => process.exit(130));
  });
}
// Last resort (an exception or process.exit elsewhere): no broker or load process outlives the bench.
process.on('exit', () => {
  for (const child of startedChildren) child.kill('SIGKILL');
});

main().then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    log(`bench failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
    if (error instanceof Error && error.cause instanceof Error) log(`cause: ${error.cause.message}`);
    process.exitCode = 1;
  },
);
