/** `POST /api/auth/login` and `GET /api/auth/me`. */
import type { FastifyInstance } from 'fastify';
import { Type, type Static } from 'typebox';
import { callerOf } from '../auth-hook.js';
import { HttpError, HttpErrorCode } from '../errors.js';
import { errors, RoleSchema } from '../schemas.js';
import type { RouteContext } from './context.js';

const LoginBody = Type.Object({
  username: Type.String({ minLength: 1, maxLength: 255 }),
  password: Type.String({ minLength: 1, maxLength: 1024 }),
});

export function authRoutes(app: FastifyInstance, { auth }: RouteContext): void {
  app.post<{ Body: Static<typeof LoginBody> }>(
    '/api/auth/login',
    {
      schema: {
        tags: ['auth'],
        summary: 'Exchange a username and password for a JWT',
        body: LoginBody,
        response: {
          200: Type.Object({
            token: Type.String({ description: 'Send as `Authorization: Bearer <token>`' }),
            expiresIn: Type.Integer({ description: 'Seconds the token is valid' }),
          }),
          ...errors(400, 401),
        },
      },
    },
    async (request) => {
      const result = await auth.login(request.body.username, request.body.password);
      if (result === undefined) throw new HttpError(HttpErrorCode.Unauthorized, 'wrong username or password');
      return { token: result.token, expiresIn: auth.tokenLifetimeSeconds };
    },
  );

  app.get(
    '/api/auth/me',
    {
      config: { minRole: 'viewer' },
      schema: {
        tags: ['auth'],
        summary: 'Who the credentials belong to',
        response: {
          200: Type.Object({
            kind: Type.Union([Type.Literal('user'), Type.Literal('api-key')]),
            id: Type.String(),
            orgId: Type.String(),
            role: RoleSchema,
            isServerAdmin: Type.Boolean(),
          }),
          ...errors(401),
        },
      },
    },
    (request, reply) => reply.send(callerOf(request)),
  );
}
