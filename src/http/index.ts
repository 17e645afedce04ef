/** The HTTP API: `createHttpApp`, its metrics hooks for the server and dialects, and its error codes. */
export { createHttpApp } from './app.js';
export { callerOf } from './auth-hook.js';
export type { HttpAppDeps } from './app.js';
export { HTTP_ERROR_STATUS, HttpError, HttpErrorCode } from './errors.js';
export type { ErrorBody } from './errors.js';
export { DIALECT_MESSAGES_METRIC, dialectMessageCounter, mirroredCounter, mirroredGauge } from './metrics.js';
export type { HttpMetricsOptions, HttpMetricsSource } from './metrics.js';
export type { SseOptions } from './sse.js';
