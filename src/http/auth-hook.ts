/**
 * Authentication and the role check, before the body is read: a route declares `config: { minRole }` and gets
 * `request.caller`; a route without `minRole` is public (login, health, metrics, docs, device dialect APIs, which
 * authenticate devices their own way). Organization checks happen in the routes, which compare the entity's
 * organization with `caller.orgId`.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { AuthService, Caller } from '../auth/index.js';
import { hasRole } from '../auth/index.js';
import type { Role } from '../platform/model.js';
import { HttpError, HttpErrorCode } from './errors.js';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The least role that may call the route; absent: public. */
    minRole?: Role;
    /** Also accept `?access_token=<jwt or API key>`: browsers' EventSource cannot send headers. */
    isQueryTokenAllowed?: boolean;
  }
  interface FastifyRequest {
    /** Set for routes with `minRole`. */
    caller: Caller | null;
  }
}

export function registerAuthHook(app: FastifyInstance, auth: AuthService): void {
  app.decorateRequest('caller', null);
  app.addHook('onRequest', async (request, reply) => {
    const { minRole, isQueryTokenAllowed } = request.routeOptions.config;
    if (minRole === undefined) return;
    const caller =
      (await auth.authenticateHeaders(request.headers)) ??
      (isQueryTokenAllowed === true ? await fromQuery(auth, request) : undefined);
    if (caller === undefined) {
      void reply.header('www-authenticate', 'Bearer');
      throw new HttpError(HttpErrorCode.Unauthorized, 'a valid Bearer token or X-API-Key is required');
    }
    if (!hasRole(caller.role, minRole)) {
      throw new HttpError(HttpErrorCode.Forbidden, `this needs the ${minRole} role; the caller is ${caller.role}`);
    }
    request.caller = caller;
  });
}

async function fromQuery(auth: AuthService, request: FastifyRequest): Promise<Caller | undefined> {
  const query = request.query as Record<string, unknown> | undefined;
  const token = query?.['access_token'];
  return typeof token === 'string' && token.length > 0 ? auth.authenticateSecret(token) : undefined;
}

/** The authenticated caller of a route that declared `minRole` (the hook guarantees it). */
export function callerOf(request: FastifyRequest): Caller {
  if (request.caller === null) throw new HttpError(HttpErrorCode.Unauthorized, 'not authenticated');
  return request.caller;
}

/** Throws 403 unless the caller has `role`, for routes whose required role depends on the request. */
export function requireRole(caller: Caller, role: Role): void {
  if (!hasRole(caller.role, role)) {
    throw new HttpError(HttpErrorCode.Forbidden, `this needs the ${role} role; the caller is ${caller.role}`);
  }
}
