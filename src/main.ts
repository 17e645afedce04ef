/**
 * The process entry point (`node dist/src/main.js [--config FILE]`): load the configuration, start, print one line per
 * listener, and shut down gracefully on SIGINT/SIGTERM. Every start-up failure is one line on stderr and exit code 1.
 */
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { ConfigError, envVarFor, loadConfig, type Config } from './config/index.js';
import { createLogger } from './observability/index.js';
import { startServer, type RunningServer } from './server.js';
import { ListenError, ListenErrorCode, type BoundAddress, type ListenerKind } from './transport/index.js';

const PORT_KEY: Readonly<Record<ListenerKind, string>> = {
  tcp: 'mqtt.port',
  tls: 'tls.port',
  ws: 'http.port',
  wss: 'tls.httpsPort',
};

/** Runs Switchboard until a signal stops it; `argv` are the arguments after the script. Exits the process. */
export async function main(argv: readonly string[], env: NodeJS.ProcessEnv): Promise<void> {
  let config: Config;
  try {
    config = loadConfig(argv, env);
  } catch (error) {
    fail(error);
  }
  const logger = createLogger(config.logLevel);

  // Signal handlers go in before anything is started or printed: whoever reads the listener lines may signal at once,
  // and a signal during start-up must still end in a clean close.
  let server: RunningServer | undefined;
  let isStopping = false;
  const stop = (running: RunningServer): void => {
    running.close().then(
      () => {
        logger.info('stopped');
        process.exit(0);
      },
      (error: unknown) => {
        logger.error({ err: error }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  const onSignal = (signal: NodeJS.Signals): void => {
    if (isStopping) {
      process.stderr.write(`${signal} again: exiting without finishing the shutdown\n`);
      process.exit(1);
    }
    isStopping = true;
    logger.info({ signal }, 'shutting down');
    if (server !== undefined) stop(server);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  try {
    server = await startServer(config, logger);
  } catch (error) {
    fail(error);
  }
  if (isStopping) {
    stop(server);
    return;
  }

  const { mqtt, mqtts, http, https } = server.addresses;
  const lines = [`MQTT listening on mqtt://${hostPort(mqtt)}`];
  if (mqtts !== undefined) lines.push(`MQTT over TLS on mqtts://${hostPort(mqtts)}`);
  lines.push(`MQTT over WebSocket on ws://${hostPort(http)}/mqtt`);
  if (https !== undefined) {
    lines.push(`MQTT over secure WebSocket on wss://${hostPort(https)}/mqtt`, `HTTPS on https://${hostPort(https)}`);
  }
  // Last: tests and scripts wait for this line to know every listener is up.
  lines.push(`HTTP on http://${hostPort(http)}`);
  const admin = server.createdAdmin;
  if (admin?.isPasswordGenerated === true) {
    // Printed once, on the first start with an empty store; only its hash is kept.
    lines.push(
      `created user ${admin.username} with password ${admin.password} (shown once; SWITCHBOARD_ADMIN_PASSWORD sets it)`,
    );
  } else if (admin !== undefined) {
    lines.push(`created user ${admin.username} with the password from SWITCHBOARD_ADMIN_PASSWORD`);
  }
  process.stdout.write(`${lines.join('\n')}\n`);
}

/** Prints the one-line reason start-up failed and exits 1. */
function fail(error: unknown): never {
  process.stderr.write(`${startupMessage(error)}\n`);
  process.exit(1);
}

function startupMessage(error: unknown): string {
  if (error instanceof ConfigError) return error.message;
  if (error instanceof ListenError) {
    const envVar = envVarFor(PORT_KEY[error.listener]) ?? PORT_KEY[error.listener];
    switch (error.code) {
      case ListenErrorCode.PortInUse:
        return `port ${error.port} is in use; set ${envVar} to another port`;
      case ListenErrorCode.PortAccessDenied:
        return `port ${error.port} needs privileges; set ${envVar} to a port above 1023`;
      case ListenErrorCode.AddressNotAvailable:
        return `address ${error.host} is not available on this machine; set SWITCHBOARD_HOST to one of its addresses`;
      default:
        return `${error.message}; set ${envVar} to another port`;
    }
  }
  const reason = error instanceof Error ? error.message : String(error);
  return `start-up failed: ${reason.split('\n', 1)[0] ?? ''}`;
}

function hostPort({ address, port }: BoundAddress): string {
  return address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`;
}

function isEntryPoint(): boolean {
  const entry = process.argv[1];
  if (entry === undefined) return false;
  try {
    return realpathSync(entry) === fileURLToPath(import.meta.url);
  } catch {
    return false;
  }
}

if (isEntryPoint()) await main(process.argv.slice(2), process.env);
