/** Logging (and, later, metrics). */
export { createLogger } from './logger.js';
export type { LogLevel, Logger } from './logger.js';
