#!/usr/bin/env node
/** The `switchboard` command: `start` runs the server; `users`, `devices` and `api-keys` create platform entities. */
import { ENTITY_USAGE, runEntityCommand, UsageError } from './cli-commands.js';
import { main } from './main.js';

const USAGE = `usage: switchboard start [--config FILE]
       switchboard users|devices|api-keys create [options]

  start            run the broker (configuration: --config FILE, SWITCHBOARD_CONFIG, ./switchboard.config.json,
                   then SWITCHBOARD_* environment variables; see docs/configuration.md)
${ENTITY_USAGE}`;

const [command, ...rest] = process.argv.slice(2);
switch (command) {
  case 'start':
    await main(rest, process.env);
    break;
  case 'users':
  case 'devices':
  case 'api-keys':
    try {
      await runEntityCommand(command, rest, process.env, {
        result: (text) => process.stdout.write(`${text}\n`),
        notice: (text) => process.stderr.write(`${text}\n`),
      });
    } catch (error) {
      if (error instanceof UsageError) {
        process.stderr.write(`${error.message}\n\n${USAGE}`);
        process.exitCode = 2;
      } else if (error instanceof Error) {
        // Duplicates, unknown profiles, configuration and server errors: one line, exit code 1.
        process.stderr.write(`${error.message}\n`);
        process.exitCode = 1;
      } else {
        throw error;
      }
    }
    break;
  case undefined:
  case 'help':
  case '--help':
  case '-h':
    process.stdout.write(USAGE);
    break;
  default:
    process.stderr.write(`unknown command ${JSON.stringify(command)}\n${USAGE}`);
    process.exitCode = 1;
}
