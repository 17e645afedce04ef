/**
 * A load process of `npm run bench`, forked by `run.ts`: it owns MQTT load clients and answers the orchestrator's
 * requests (see `protocol.ts`). It exits when the orchestrator goes away.
 */
import type { Closable } from './idle-client.js';
import type { CloseAllResult, FromWorker, ToWorker, WorkerCommand } from './protocol.js';
import { FlowRole } from './worker-flow.js';
import { TelemetryRole } from './worker-telemetry.js';
import {
  clearSessions,
  connectIdle,
  drainSessions,
  prepareSessions,
  publishToSessions,
  warmUp,
} from './worker-connections.js';

/** Closing 10,000 sockets at once is fine; this bounds the wait for brokers that do not close after DISCONNECT. */
const CLOSE_TIMEOUT_MS = 5_000;

let clients: Closable[] = [];
let flow: FlowRole | undefined;
let telemetry: TelemetryRole | undefined;

function send(message: FromWorker): void {
  process.send?.(message);
}

async function closeAll(): Promise<CloseAllResult> {
  const closedFlow = flow;
  closedFlow?.dispose();
  flow = undefined;
  telemetry?.dispose();
  telemetry = undefined;
  const closing = clients;
  clients = [];
  const closedByBroker = closing.filter((client) => client.closeError !== undefined).length;
  await Promise.all(closing.map((client) => client.close(CLOSE_TIMEOUT_MS)));
  await closedFlow?.forgetSessions();
  return { closedByBroker };
}

async function handle(command: WorkerCommand): Promise<unknown> {
  switch (command.type) {
    case 'flow-setup': {
      flow?.dispose();
      flow = new FlowRole(command, (deliveredByPublisher) => send({ kind: 'progress', deliveredByPublisher }));
      clients.push(...(await flow.open()));
      return null;
    }
    case 'flow-go':
      requireFlow().go();
      return null;
    case 'flow-stop':
      return requireFlow().stop();
    case 'flow-report':
      return requireFlow().report();
    case 'idle-connect':
      return connectIdle(command, clients);
    case 'sessions-prepare':
      return prepareSessions(command);
    case 'sessions-publish':
      return publishToSessions(command);
    case 'sessions-drain':
      return drainSessions(command, clients);
    case 'sessions-clear':
      return clearSessions(command);
    case 'close-all':
      return closeAll();
    case 'warm-up':
      await warmUp(command.connections);
      return null;
    case 'telemetry-setup':
      telemetry?.dispose();
      telemetry = new TelemetryRole(command);
      await telemetry.open(clients);
      return null;
    case 'telemetry-go':
      requireTelemetry().go(command.ratePerDevice);
      return null;
    case 'telemetry-sample':
      return requireTelemetry().sample(command.resetLatency);
    case 'telemetry-stop':
      return requireTelemetry().stop(command.drainTimeoutMs);
  }
}

function requireTelemetry(): TelemetryRole {
  if (telemetry === undefined) throw new Error('no telemetry scenario set up in this load process');
  return telemetry;
}

function requireFlow(): FlowRole {
  if (flow === undefined) throw new Error('no flow scenario set up in this load process');
  return flow;
}

process.on('message', (message: ToWorker) => {
  if (message.kind === 'credit') {
    flow?.credit(message.deliveredByPublisher);
    return;
  }
  handle(message.command).then(
    (result) => send({ kind: 'response', id: message.id, result }),
    (error: unknown) =>
      send({ kind: 'failure', id: message.id, message: error instanceof Error ? error.message : String(error) }),
  );
});

// The orchestrator owns this process: when it exits or is killed, so do we.
process.on('disconnect', () => process.exit(0));
