/**
 * The CloudPlugs parts of the management API (`POST /api/profiles` with `cloudplugs`, `POST /api/devices` with
 * `credentials: {type: "CLOUDPLUGS"}`, `PATCH /api/devices/{id}` with `cloudplugs`), as calls the route modules make;
 * the routes stay free of CloudPlugs rules.
 */
import type { Device, DeviceProfile } from '../../platform/model.js';
import { DuplicateError } from '../../storage/platform-store.js';
import { PlugErr, PlugError } from './errors.js';
import type { PlugStatus } from './module-store.js';
import { PLUG_STATUSES } from './module-store.js';
import { parsePermFilter, PermFilterError } from './perm.js';
import type { CloudplugsService } from './service.js';

/** A device's CloudPlugs credentials as the management API shows them (`auth` only when just created). */
export interface CloudplugsCredentials {
  type: 'CLOUDPLUGS';
  plugId: string;
  auth?: string;
}

/** A request the management API answers with 400 (`message` says why). */
export class CloudplugsRequestError extends Error {
  override readonly name = 'CloudplugsRequestError';
}

/** The calls the management API's profile and device routes make. */
export interface CloudplugsManagement {
  /** Throws CloudplugsRequestError for a `cloudplugs` profile field that makeTemplate would refuse (call first). */
  checkTemplateInput(input: unknown): void;
  /** Makes a just-created profile a production template; answers its `mod-` Plug-ID. */
  makeTemplate(profile: DeviceProfile, input: unknown): Promise<{ plugId: string }>;
  /** The template Plug-ID of a profile, if it is one. */
  templatePlugId(profileId: string): string | undefined;
  /**
   * Creates a CloudPlugs device (a thing of the profile's template, else a prototype) with hardware id `hwid`;
   * DuplicateError('hardware id') when the template has one with that id.
   */
  createDevice(
    orgId: string,
    input: { name: string; profileId: string | undefined; hwid: string | undefined },
  ): Promise<{ device: Device; credentials: Required<CloudplugsCredentials> }>;
  /** `{status?, perm?}`; CloudplugsRequestError for a bad value, undefined when the device is not a CloudPlugs one. */
  patchDevice(deviceId: string, input: unknown): Promise<{ status: PlugStatus; perm: unknown } | undefined>;
  /** `{type, plugId}` for a CloudPlugs device. */
  credentialsOf(deviceId: string): CloudplugsCredentials | undefined;
}

/** The management calls over the service. */
export function cloudplugsManagement(service: CloudplugsService): CloudplugsManagement {
  const { registry } = service;
  return {
    checkTemplateInput(input) {
      parseTemplateInput(input);
    },
    async makeTemplate(profile, input) {
      const { enrollSecret, enrollPasses } = parseTemplateInput(input);
      const template = await service.makeTemplate(profile, enrollSecret, enrollPasses);
      return { plugId: template.plugId };
    },
    templatePlugId: (profileId) => registry.templateByProfileId(profileId)?.plugId,
    async createDevice(orgId, input) {
      const template = input.profileId === undefined ? undefined : registry.templateByProfileId(input.profileId);
      if (
        template !== undefined &&
        input.hwid !== undefined &&
        registry.byHwid(template.profileId, 'thing', input.hwid)
      ) {
        throw new DuplicateError('hardware id');
      }
      const { entry, auth } = await service.createDevice(orgId, input.name, input.profileId, {
        kind: template === undefined ? 'prototype' : 'thing',
        templateId: template?.profileId ?? null,
        hwid: input.hwid ?? null,
      });
      return { device: entry.device, credentials: { type: 'CLOUDPLUGS', plugId: entry.row.plugId, auth } };
    },
    async patchDevice(deviceId, input) {
      const entry = registry.byDeviceId(deviceId);
      if (entry === undefined) return undefined;
      if (typeof input !== 'object' || input === null || Array.isArray(input)) {
        throw new CloudplugsRequestError('"cloudplugs" is an object {"status"?, "perm"?}');
      }
      const body = input as Record<string, unknown>;
      for (const key of Object.keys(body)) {
        if (key !== 'status' && key !== 'perm') throw new CloudplugsRequestError(`unknown field "cloudplugs.${key}"`);
      }
      const status = body['status'];
      if (status !== undefined && !(PLUG_STATUSES as readonly unknown[]).includes(status)) {
        throw new CloudplugsRequestError('"cloudplugs.status" is "ok", "disabled" or "reactivate"');
      }
      let perm;
      try {
        perm = body['perm'] === undefined ? undefined : parsePermFilter(body['perm'], entry.row.perm);
      } catch (error) {
        if (error instanceof PermFilterError) throw new CloudplugsRequestError(error.message, { cause: error });
        throw error;
      }
      try {
        const updated = await service.updateDevice(deviceId, { status: status as PlugStatus | undefined, perm });
        return { status: updated.row.status, perm: updated.row.perm };
      } catch (error) {
        if (error instanceof PlugError && error.err === PlugErr.NotFound) return undefined;
        throw error;
      }
    },
    credentialsOf(deviceId) {
      const entry = registry.byDeviceId(deviceId);
      return entry === undefined ? undefined : { type: 'CLOUDPLUGS', plugId: entry.row.plugId };
    },
  };
}

function parseTemplateInput(input: unknown): { enrollSecret: string | null; enrollPasses: Map<string, string> } {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    throw new CloudplugsRequestError('"cloudplugs" is an object {"enrollSecret", "enrollPasses"?}');
  }
  const body = input as Record<string, unknown>;
  for (const key of Object.keys(body)) {
    if (key !== 'enrollSecret' && key !== 'enrollPasses') {
      throw new CloudplugsRequestError(`unknown field "cloudplugs.${key}"`);
    }
  }
  const secret = body['enrollSecret'];
  if (secret !== undefined && (typeof secret !== 'string' || secret.length < 8 || secret.length > 200)) {
    throw new CloudplugsRequestError('"cloudplugs.enrollSecret" is a string of 8 to 200 characters');
  }
  const enrollPasses = new Map<string, string>();
  const passes = body['enrollPasses'];
  if (passes !== undefined) {
    if (typeof passes !== 'object' || passes === null || Array.isArray(passes)) {
      throw new CloudplugsRequestError('"cloudplugs.enrollPasses" maps hardware ids to passwords');
    }
    const entries = Object.entries(passes as Record<string, unknown>);
    if (entries.length > 10_000) throw new CloudplugsRequestError('at most 10000 uploaded passwords per request');
    for (const [hwid, pass] of entries) {
      if (hwid === '' || typeof pass !== 'string' || pass === '' || pass.length > 200) {
        throw new CloudplugsRequestError('each uploaded enrolment password is a string of 1 to 200 characters');
      }
      enrollPasses.set(hwid, pass);
    }
  }
  if (secret === undefined && enrollPasses.size === 0) {
    throw new CloudplugsRequestError('a template needs "enrollSecret" or "enrollPasses"');
  }
  return { enrollSecret: secret ?? null, enrollPasses };
}
