/**
 * Reading `/iot` requests: JSON bodies whatever the content type, typed fields with CloudPlugs' limits, and the one
 * mapping of thrown errors to a status (the `err` of the answer).
 */
import type { FastifyError, FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import { OverloadedError } from '../../platform/data-writer.js';
import type { JsonValue } from '../../platform/model.js';
import { DuplicateError } from '../../storage/platform-store.js';
import { boundMs } from './data.js';
import { PlugErr, PlugError } from './errors.js';
import type { PlugLocation, PlugStatus } from './module-store.js';
import { PLUG_STATUSES } from './module-store.js';
import { PermFilterError } from './perm.js';
import { parseProperties } from './properties.js';
import { RecordError } from './records.js';

/** The stable `error` code beside each `err` status. */
export const ERROR_CODE: Readonly<Record<number, string>> = {
  400: 'INVALID_REQUEST',
  401: 'UNAUTHORIZED',
  403: 'FORBIDDEN',
  404: 'NOT_FOUND',
  409: 'DUPLICATE',
  413: 'PAYLOAD_TOO_LARGE',
  500: 'INTERNAL_ERROR',
  501: 'NOT_IMPLEMENTED',
  503: 'OVERLOADED',
};

/** The status (and `err`) a thrown error is answered with; unexpected errors are logged and answered 500. */
export function toStatus(error: FastifyError | Error, logger: Logger): { status: number; message: string } {
  if (error instanceof PlugError) return { status: error.err, message: error.message };
  if (error instanceof RecordError || error instanceof PermFilterError) return { status: 400, message: error.message };
  if (error instanceof DuplicateError) return { status: 409, message: error.message };
  if (error instanceof OverloadedError) return { status: 503, message: error.message };
  const statusCode = (error as FastifyError).statusCode;
  if (statusCode !== undefined && statusCode >= 400 && statusCode < 500)
    return { status: statusCode, message: error.message };
  logger.error({ err: error }, 'CloudPlugs HTTP request failed');
  return { status: 500, message: 'the request failed on the server' };
}

/** The raw body (every content type is parsed as a buffer). */
export function bodyOf(request: FastifyRequest): Buffer {
  return Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0);
}

/** The body as JSON; PlugError 400 when it is not. */
export function jsonBody(request: FastifyRequest): JsonValue {
  try {
    return JSON.parse(bodyOf(request).toString('utf8')) as JsonValue;
  } catch (error) {
    throw new PlugError(PlugErr.BadRequest, 'the body is not JSON', { cause: error });
  }
}

/** The body as a JSON object; PlugError 400 otherwise. */
export function objectBody(request: FastifyRequest): Record<string, unknown> {
  const body = jsonBody(request);
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new PlugError(PlugErr.BadRequest, 'the body is a JSON object');
  }
  return body;
}

/** A string field of 1 to 200 characters; PlugError 400 when it is missing (if required) or not such a string. */
export function stringField(body: Record<string, unknown>, name: string, isRequired: true): string;
export function stringField(body: Record<string, unknown>, name: string, isRequired: false): string | undefined;
export function stringField(body: Record<string, unknown>, name: string, isRequired: boolean): string | undefined {
  const value = body[name];
  if (value === undefined && !isRequired) return undefined;
  if (typeof value !== 'string' || value === '' || value.length > 200) {
    throw new PlugError(PlugErr.BadRequest, `"${name}" is a string of 1 to 200 characters`);
  }
  return value;
}

/** `props` and `prop_links` of an enrolment or PATCH body, as one property map (undefined when neither is given). */
export function propsOf(body: Record<string, unknown>) {
  const props = body['props'];
  const links = body['prop_links'];
  if (props === undefined && links === undefined) return undefined;
  const merged = parseProperties(props ?? {});
  if (links !== undefined) {
    if (typeof links !== 'object' || links === null || Array.isArray(links)) {
      throw new PlugError(PlugErr.BadRequest, '"prop_links" maps property names to channels');
    }
    for (const [name, channel] of Object.entries(links as Record<string, unknown>)) {
      for (const [key, property] of parseProperties({ [name]: { channel } })) merged.set(key, property);
    }
  }
  return merged;
}

/** A device status; PlugError 400 for anything but ok, disabled, reactivate. */
export function statusOf(value: unknown): PlugStatus {
  if (typeof value !== 'string' || !(PLUG_STATUSES as readonly string[]).includes(value)) {
    throw new PlugError(PlugErr.BadRequest, '"status" is "ok", "disabled" or "reactivate"');
  }
  return value as PlugStatus;
}

/** A location body `{x, y, z?, r?, t?}` (longitude ±180, latitude ±90); PlugError 400 otherwise. */
export function locationOf(body: Record<string, unknown>): PlugLocation {
  const number = (name: string, min: number, max: number, isRequired: boolean): number | undefined => {
    const value = body[name];
    if (value === undefined && !isRequired) return undefined;
    if (typeof value !== 'number' || !Number.isFinite(value) || value < min || value > max) {
      throw new PlugError(PlugErr.BadRequest, `"${name}" is a number from ${String(min)} to ${String(max)}`);
    }
    return value;
  };
  const x = number('x', -180, 180, true) ?? 0;
  const y = number('y', -90, 90, true) ?? 0;
  const z = number('z', -1e6, 1e6, false);
  const r = number('r', 0, 1e7, false);
  const t = body['t'] === undefined ? Date.now() : asBadRequest(() => boundMs(String(body['t']), 't'));
  return { x, y, ...(z === undefined ? {} : { z }), ...(r === undefined ? {} : { r }), t };
}

/** A query integer within bounds; PlugError 400 otherwise. */
export function integerOf(text: string, name: string, min: number, max: number): number {
  const value = Number(text);
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new PlugError(PlugErr.BadRequest, `"${name}" is an integer from ${String(min)} to ${String(max)}`);
  }
  return value;
}

/** A comma-separated query value, trimmed, empty items dropped. */
export function csv(text: string): string[] {
  return text
    .split(',')
    .map((v) => v.trim())
    .filter((v) => v !== '');
}

/** Runs `work`; a RecordError it throws becomes PlugError 400. */
export function asBadRequest<T>(work: () => T): T {
  try {
    return work();
  } catch (error) {
    if (error instanceof RecordError) throw new PlugError(PlugErr.BadRequest, error.message, { cause: error });
    throw error;
  }
}
