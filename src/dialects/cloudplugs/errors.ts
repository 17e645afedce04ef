/**
 * CloudPlugs errors. The public material names no numeric `err` codes (device-apis.md §2.2), so Switchboard's `err` is
 * the HTTP status the same failure gets over HTTP (400 bad request, 401 bad credentials, 403 not permitted, 404 unknown
 * model/device, 409 already enrolled, 501 not supported, 503 overloaded): one table for MQTT replies and HTTP bodies
 * (docs/cloudplugs.md, "Errors").
 */
export const PlugErr = {
  BadRequest: 400,
  Unauthorized: 401,
  Forbidden: 403,
  NotFound: 404,
  Conflict: 409,
  PayloadTooLarge: 413,
  Internal: 500,
  NotImplemented: 501,
  Unavailable: 503,
} as const;
/** One of the `err` codes. */
export type PlugErr = (typeof PlugErr)[keyof typeof PlugErr];

/** A refusal carrying its CloudPlugs `err` code (= HTTP status). */
export class PlugError extends Error {
  override readonly name = 'PlugError';
  readonly err: PlugErr;
  constructor(err: PlugErr, message: string, options?: ErrorOptions) {
    super(message, options);
    this.err = err;
  }
}

/** `{"err", "msg"}`: the body of a failed enrolment or property request over MQTT. */
export function errorReply(error: PlugError): Buffer {
  return Buffer.from(JSON.stringify({ err: error.err, msg: error.message }));
}
