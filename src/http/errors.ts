/**
 * Every HTTP error is `{"error": <stable code>, "message": <human text>}`. Route code throws `HttpError` or a typed
 * domain error (DuplicateError, NotFoundError...); the one error handler maps them, and Fastify's own errors
 * (validation, malformed JSON, body too large), to a status and code here, so no route decides that twice.
 */
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import { InUseError, InvalidEntityError, NotFoundError } from '../platform/entities.js';
import { OverloadedError } from '../platform/data-writer.js';
import { DuplicateError } from '../storage/platform-store.js';

/** The codes in `error`; listed with their statuses in docs/errors.md. */
export const HttpErrorCode = {
  InvalidRequest: 'INVALID_REQUEST',
  InvalidJson: 'INVALID_JSON',
  Unauthorized: 'UNAUTHORIZED',
  Forbidden: 'FORBIDDEN',
  NotFound: 'NOT_FOUND',
  Duplicate: 'DUPLICATE',
  InUse: 'IN_USE',
  PayloadTooLarge: 'PAYLOAD_TOO_LARGE',
  UnsupportedMediaType: 'UNSUPPORTED_MEDIA_TYPE',
  Overloaded: 'OVERLOADED',
  RpcTimeout: 'RPC_TIMEOUT',
  DeviceOffline: 'DEVICE_OFFLINE',
  Internal: 'INTERNAL_ERROR',
} as const;
export type HttpErrorCode = (typeof HttpErrorCode)[keyof typeof HttpErrorCode];

/** The status each code is sent with. */
export const HTTP_ERROR_STATUS: Readonly<Record<HttpErrorCode, number>> = {
  INVALID_REQUEST: 400,
  INVALID_JSON: 400,
  UNAUTHORIZED: 401,
  FORBIDDEN: 403,
  NOT_FOUND: 404,
  DUPLICATE: 409,
  IN_USE: 409,
  PAYLOAD_TOO_LARGE: 413,
  UNSUPPORTED_MEDIA_TYPE: 415,
  OVERLOADED: 503,
  RPC_TIMEOUT: 504,
  DEVICE_OFFLINE: 504,
  INTERNAL_ERROR: 500,
};

/** An error a route answers with as is. */
export class HttpError extends Error {
  override readonly name = 'HttpError';
  readonly code: HttpErrorCode;
  readonly statusCode: number;
  constructor(code: HttpErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.code = code;
    this.statusCode = HTTP_ERROR_STATUS[code];
  }
}

/** 404 for an entity that does not exist or belongs to another organization: the answer is the same, on purpose. */
export function notFound(what: string): HttpError {
  return new HttpError(HttpErrorCode.NotFound, `${what} not found`);
}

/** 400 for a request the schema let through but the route cannot use (a required choice among alternatives...). */
export function badRequest(message: string): HttpError {
  return new HttpError(HttpErrorCode.InvalidRequest, message);
}

export interface ErrorBody {
  error: HttpErrorCode;
  message: string;
}

/** Maps anything thrown in a route to the status and body sent. */
export function toErrorBody(error: unknown): { status: number; body: ErrorBody } {
  const make = (code: HttpErrorCode, message: string): { status: number; body: ErrorBody } => ({
    status: HTTP_ERROR_STATUS[code],
    body: { error: code, message },
  });
  if (error instanceof HttpError) return make(error.code, error.message);
  if (error instanceof DuplicateError) return make(HttpErrorCode.Duplicate, error.message);
  if (error instanceof NotFoundError) return make(HttpErrorCode.NotFound, error.message);
  if (error instanceof InvalidEntityError) return make(HttpErrorCode.InvalidRequest, error.message);
  if (error instanceof InUseError) return make(HttpErrorCode.InUse, error.message);
  if (error instanceof OverloadedError) return make(HttpErrorCode.Overloaded, error.message);
  if (isFastifyError(error)) {
    if (error.validation !== undefined) {
      return make(HttpErrorCode.InvalidRequest, `${error.validationContext ?? 'request'} ${validationText(error)}`);
    }
    switch (error.code) {
      case 'FST_ERR_CTP_INVALID_JSON_BODY':
      case 'FST_ERR_CTP_EMPTY_JSON_BODY':
        return make(HttpErrorCode.InvalidJson, error.message);
      case 'FST_ERR_CTP_BODY_TOO_LARGE':
        return make(HttpErrorCode.PayloadTooLarge, error.message);
      case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
        return make(HttpErrorCode.UnsupportedMediaType, error.message);
    }
    // Any other client error Fastify raises (bad content length, bad URL...): its status, our shape.
    const status = error.statusCode;
    if (status !== undefined && status >= 400 && status < 500) {
      return { status, body: { error: HttpErrorCode.InvalidRequest, message: error.message } };
    }
  }
  return make(HttpErrorCode.Internal, 'internal error');
}

function isFastifyError(error: unknown): error is FastifyError {
  return error instanceof Error && typeof (error as Partial<FastifyError>).code === 'string';
}

function validationText(error: FastifyError): string {
  const first = error.validation?.[0];
  if (first === undefined) return error.message;
  const path = first.instancePath === '' ? '' : `${first.instancePath} `;
  return `${path}${first.message ?? 'is invalid'}`.trim();
}

/** The app's error handler: JSON body always; 5xx logged with the cause, 4xx not (clients' mistakes). */
export function createErrorHandler(
  logger: Logger,
): (error: unknown, request: FastifyRequest, reply: FastifyReply) => Promise<void> {
  return async (error, request, reply) => {
    const { status, body } = toErrorBody(error);
    if (status >= 500 && body.error === HttpErrorCode.Internal) {
      logger.error({ err: error, method: request.method, url: request.url }, 'http request failed');
    }
    await reply.code(status).type('application/json').send(body);
  };
}
