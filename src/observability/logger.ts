/** Structured JSON logs to stdout (pino). Nothing is logged per message at `info`: hot paths log at `debug` at most. */
import { pino, type Logger, type LevelWithSilent } from 'pino';

/** A log level name as configured (`logLevel`). */
export type LogLevel = LevelWithSilent;

/** Creates the process logger: JSON lines on stdout, written synchronously so nothing is lost on exit. */
export function createLogger(level: LogLevel, bindings?: Record<string, unknown>): Logger {
  const logger = pino({ level }, pino.destination({ dest: 1, sync: true }));
  return bindings === undefined ? logger : logger.child(bindings);
}

export type { Logger };
