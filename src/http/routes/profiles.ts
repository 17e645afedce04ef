/**
 * `/api/profiles`: device profiles with ThingsBoard-style provisioning settings, payload type and protobuf schemas.
 * Schemas are parsed on the way in, so a profile never holds a `.proto` its devices' messages cannot be decoded with.
 */
import type { FastifyInstance } from 'fastify';
import protobuf from 'protobufjs';
import { Type, type Static } from 'typebox';
import type { ProtoSchemas } from '../../platform/model.js';
import { CloudplugsRequestError, type CloudplugsManagement } from '../../dialects/cloudplugs/index.js';
import { callerOf } from '../auth-hook.js';
import { HttpError, HttpErrorCode, notFound } from '../errors.js';
import {
  AUTHED_ERRORS,
  errors,
  IdParams,
  Name,
  Nullable,
  PayloadType,
  Profile,
  ProtoSchemas as ProtoSchemasSchema,
  ProvisioningSettings,
} from '../schemas.js';
import type { RouteContext } from './context.js';
import { throwNotFound } from './zones.js';

const fields = {
  payloadType: Type.Optional(PayloadType),
  protoSchemas: Type.Optional(ProtoSchemasSchema),
  provisioning: Type.Optional(Nullable(ProvisioningSettings)),
  sendAckOnValidationFailure: Type.Optional(Type.Boolean()),
  isDefault: Type.Optional(Type.Boolean({ description: 'Devices created without a profile get this one' })),
  driverId: Type.Optional(
    Nullable(Type.String({ minLength: 1, maxLength: 255, description: 'The PlaceOS driver id, e.g. dep-123' })),
  ),
};
const CreateBody = Type.Object({
  name: Name,
  ...fields,
  cloudplugs: Type.Optional(
    Type.Object(
      {
        enrollSecret: Type.Optional(Type.String({ description: 'Secret of the derived enrolment passwords' })),
        enrollPasses: Type.Optional(
          Type.Record(Type.String(), Type.String(), { description: 'Uploaded enrolment password per hardware id' }),
        ),
      },
      { description: 'Makes the profile a CloudPlugs production template (answer: plugId)' },
    ),
  ),
});
const UpdateBody = Type.Object({ name: Type.Optional(Name), ...fields });

const PROTO_KINDS = ['telemetry', 'attributes', 'rpcRequest', 'rpcResponse'] as const;

function checkProtoSchemas(schemas: ProtoSchemas | undefined): void {
  if (schemas === undefined) return;
  for (const kind of PROTO_KINDS) {
    const source = schemas[kind];
    if (source === undefined) continue;
    try {
      protobuf.parse(source, { keepCase: true });
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      throw new HttpError(HttpErrorCode.InvalidRequest, `protoSchemas.${kind}: ${reason}`, { cause: error });
    }
  }
}

function checkProvisioning(provisioning: Static<typeof ProvisioningSettings> | null | undefined): void {
  if (provisioning?.certificateRegex === undefined) return;
  try {
    new RegExp(provisioning.certificateRegex);
  } catch (error) {
    throw new HttpError(HttpErrorCode.InvalidRequest, 'provisioning.certificateRegex is not a regular expression', {
      cause: error,
    });
  }
}

/** A `cloudplugs` field is checked before the profile is created, so a refusal leaves nothing behind. */
function checkTemplate(cloudplugs: CloudplugsManagement | undefined, template: unknown): void {
  if (cloudplugs === undefined) {
    throw new HttpError(HttpErrorCode.InvalidRequest, 'this server runs without the CloudPlugs dialect');
  }
  try {
    cloudplugs.checkTemplateInput(template);
  } catch (error) {
    if (error instanceof CloudplugsRequestError) {
      throw new HttpError(HttpErrorCode.InvalidRequest, error.message, { cause: error });
    }
    throw error;
  }
}

/** The body without absent members (exactOptionalPropertyTypes: the entity layer takes no explicit undefined). */
function present<T extends object>(body: T): { [K in keyof T]?: Exclude<T[K], undefined> } {
  return Object.fromEntries(Object.entries(body).filter(([, value]) => value !== undefined)) as {
    [K in keyof T]?: Exclude<T[K], undefined>;
  };
}

export function profileRoutes(app: FastifyInstance, { platform, cloudplugs }: RouteContext): void {
  const { entities, store } = platform;
  /** A CloudPlugs production template shows its Plug-ID. */
  const withPlugId = <P extends { id: string }>(profile: P): P & { plugId?: string } => {
    const plugId = cloudplugs?.templatePlugId(profile.id);
    return plugId === undefined ? profile : { ...profile, plugId };
  };
  const tags = ['profiles'];
  const read = { minRole: 'viewer' } as const;
  const write = { minRole: 'operator' } as const;

  app.get(
    '/api/profiles',
    { config: read, schema: { tags, response: { 200: Type.Array(Profile), ...errors(...AUTHED_ERRORS) } } },
    async (request) => (await store.listProfiles(callerOf(request).orgId)).map(withPlugId),
  );
  app.get<{ Params: IdParams }>(
    '/api/profiles/:id',
    { config: read, schema: { tags, params: IdParams, response: { 200: Profile, ...errors(...AUTHED_ERRORS, 404) } } },
    async (request) =>
      withPlugId((await entities.getProfile(callerOf(request).orgId, request.params.id)) ?? throwNotFound('profile')),
  );
  app.post<{ Body: Static<typeof CreateBody> }>(
    '/api/profiles',
    {
      config: write,
      schema: {
        tags,
        summary: 'Create a device profile (provisioning key must be unique across the server)',
        body: CreateBody,
        response: { 201: Profile, ...errors(...AUTHED_ERRORS, 409) },
      },
    },
    async (request, reply) => {
      checkProtoSchemas(request.body.protoSchemas);
      checkProvisioning(request.body.provisioning);
      const { cloudplugs: template, ...body } = request.body;
      if (template !== undefined) checkTemplate(cloudplugs, template);
      const profile = await entities.createProfileChecked(callerOf(request).orgId, {
        ...present(body),
        name: body.name,
      });
      if (template === undefined || cloudplugs === undefined) return reply.code(201).send(profile);
      try {
        const { plugId } = await cloudplugs.makeTemplate(profile, template);
        return await reply.code(201).send({ ...profile, plugId });
      } catch (error) {
        await entities.deleteProfile(profile.orgId, profile.id);
        throw error;
      }
    },
  );
  app.put<{ Params: IdParams; Body: Static<typeof UpdateBody> }>(
    '/api/profiles/:id',
    {
      config: write,
      schema: {
        tags,
        params: IdParams,
        body: UpdateBody,
        response: { 200: Profile, ...errors(...AUTHED_ERRORS, 404, 409) },
      },
    },
    async (request) => {
      checkProtoSchemas(request.body.protoSchemas);
      checkProvisioning(request.body.provisioning);
      const updated = await entities.updateProfile(callerOf(request).orgId, request.params.id, present(request.body));
      return withPlugId(updated ?? throwNotFound('profile'));
    },
  );
  app.delete<{ Params: IdParams }>(
    '/api/profiles/:id',
    {
      config: write,
      schema: {
        tags,
        summary: 'Delete a profile no device uses (not the default one)',
        params: IdParams,
        response: { 204: Type.Null(), ...errors(...AUTHED_ERRORS, 404, 409) },
      },
    },
    async (request, reply) => {
      if (!(await entities.deleteProfile(callerOf(request).orgId, request.params.id))) throw notFound('profile');
      return reply.code(204).send();
    },
  );
}
