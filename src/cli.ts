#!/usr/bin/env node
/** The `switchboard` command. For now only `switchboard start [--config FILE]`; the platform's CLI comes later. */
import { main } from './main.js';

const USAGE = `usage: switchboard start [--config FILE]

  start            run the broker (configuration: --config FILE, SWITCHBOARD_CONFIG, ./switchboard.config.json,
                   then SWITCHBOARD_* environment variables; see docs/configuration.md)
`;

const [command, ...rest] = process.argv.slice(2);
switch (command) {
  case 'start':
    await main(rest, process.env);
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
