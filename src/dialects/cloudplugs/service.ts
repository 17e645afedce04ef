/**
 * The CloudPlugs service behind both the MQTT hooks and the `/iot` HTTP API: templates and devices (module tables plus
 * platform devices), logins, enrolment, and the registry the synchronous hooks read. A CloudPlugs thing or controller
 * is a platform device in its template's organization with the template's profile; a prototype lives in its account's
 * organization with the default profile.
 */
import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import { verifyPassword } from '../../auth/index.js';
import { randomAlphanumeric } from '../../platform/entities.js';
import type { EntityChange } from '../../platform/entities.js';
import type { Device, DeviceProfile } from '../../platform/model.js';
import type { Platform } from '../../platform/platform.js';
import { DuplicateError } from '../../storage/platform-store.js';
import { controlPass, derivedPassMatches, sameSecret, secretHash, thingEnrollPass } from './enroll-pass.js';
import { PlugErr, PlugError } from './errors.js';
import { accountIdentity, deviceIdentity, type PlugAccountIdentity, type PlugDeviceIdentity } from './identity.js';
import type { CloudplugsStore, PlugDeviceKind, PlugDeviceRow, PlugStatus, TemplateRow } from './module-store.js';
import { DEFAULT_THING_PERM, type PermFilter } from './perm.js';
import { newPlugId } from './plug-id.js';
import { PlugRegistry, type PlugDevice } from './registry.js';

/** Platform devices read per query when the registry is filled. */
const DEVICE_PAGE = 5_000;

/** Controllers read and write only the things they control (through the things' `ctrl`). */
const DEFAULT_CONTROLLER_PERM: PermFilter = { of: { r: [], w: [] }, ctrl: null };

/** What a successful enrolment answers: `{"id", "auth"}`. */
export interface EnrollResult {
  id: string;
  auth: string;
}

/** The CloudPlugs part of a new device. */
export interface NewPlugDeviceInput {
  kind: PlugDeviceKind;
  templateId: string | null;
  hwid: string | null;
  perm?: PermFilter | undefined;
  controls?: string[] | undefined;
  /** The auth code to use; default generated. */
  auth?: string | undefined;
}

/** Templates, devices, logins and enrolment over the module tables, the platform and the registry. */
export class CloudplugsService {
  readonly registry = new PlugRegistry();
  readonly platform: Platform;
  readonly store: CloudplugsStore;
  readonly #logger: Logger;
  /** Enrolments in progress (`<template>\0<kind>\0<hwid>`): a second one at the same time is refused. */
  readonly #enrolling = new Set<string>();
  /** Told when a device may no longer stay connected (disabled, deleted, moved, re-enrolled). */
  #onRevoked: (deviceId: string, reason: string) => void = () => undefined;

  constructor(platform: Platform, store: CloudplugsStore, logger: Logger) {
    this.platform = platform;
    this.store = store;
    this.#logger = logger;
  }

  /** Loads templates and devices into the registry and follows entity changes from then on. */
  async load(): Promise<void> {
    await this.#fill();
    this.platform.entities.changes.subscribe((change) => {
      this.#onEntityChange(change);
    });
  }

  /** Reads every template and device into the registry (platform devices listed per organization, in pages). */
  async #fill(): Promise<void> {
    for (const template of await this.store.listTemplates()) this.registry.putTemplate(template);
    const rows = new Map((await this.store.listDevices()).map((row) => [row.deviceId, row]));
    if (rows.size === 0) return;
    for (const org of await this.platform.store.listOrganizations()) {
      for (let offset = 0; ; offset += DEVICE_PAGE) {
        const page = await this.platform.store.listDevices(org.id, { limit: DEVICE_PAGE, offset });
        for (const device of page) {
          const row = rows.get(device.id);
          if (row !== undefined) this.registry.putDevice({ row, device });
        }
        if (page.length < DEVICE_PAGE) break;
      }
    }
  }

  /**
   * An organization deleted takes its devices and profiles with it (ON DELETE CASCADE) without a change per device:
   * its devices leave the registry (their connections are closed) and the templates are read again.
   */
  #onOrganizationDeleted(orgId: string): void {
    for (const entry of this.registry.devicesOf(orgId)) {
      this.registry.removeDevice(entry.row.deviceId);
      this.#onRevoked(entry.row.deviceId, 'the organization was deleted');
    }
    this.store.listTemplates().then(
      (templates) => {
        this.registry.replaceTemplates(templates);
      },
      (error: unknown) => {
        this.#logger.error({ err: error }, 'CloudPlugs templates could not be read again');
      },
    );
  }

  onRevoked(listener: (deviceId: string, reason: string) => void): void {
    this.#onRevoked = listener;
  }

  #onEntityChange(change: EntityChange): void {
    if (change.entity === 'organization' && change.op === 'deleted') {
      this.#onOrganizationDeleted(change.id);
      return;
    }
    if (change.entity === 'profile' && change.op === 'deleted') this.registry.removeTemplate(change.id);
    if (change.entity !== 'device') return;
    const entry = this.registry.byDeviceId(change.id);
    if (entry === undefined) return;
    if (change.op === 'deleted') {
      this.registry.removeDevice(change.id);
      this.#onRevoked(change.id, 'the device was deleted');
      return;
    }
    const after = change.after;
    if (after === undefined) return;
    this.registry.putDevice({ row: entry.row, device: after });
    if (after.orgId !== entry.device.orgId) this.#onRevoked(change.id, 'the device changed organization');
  }

  // ---- templates and devices (management API) ------------------------------------------------------------------

  /** Makes `profile` a production template with a `mod-` Plug-ID; `enrollPasses` maps hwid → uploaded password. */
  async makeTemplate(
    profile: DeviceProfile,
    enrollSecret: string | null,
    enrollPasses: ReadonlyMap<string, string> = new Map(),
  ): Promise<TemplateRow> {
    const template: TemplateRow = {
      profileId: profile.id,
      plugId: newPlugId('mod'),
      enrollSecret,
      createdAt: Date.now(),
    };
    await this.store.putTemplate(template);
    await this.uploadEnrollPasses(profile.id, enrollPasses);
    this.registry.putTemplate(template);
    return template;
  }

  async uploadEnrollPasses(profileId: string, passes: ReadonlyMap<string, string>): Promise<void> {
    if (passes.size === 0) return;
    const hashes = new Map<string, string>();
    for (const [hwid, pass] of passes) hashes.set(hwid, secretHash(pass));
    await this.store.putEnrollPasses(profileId, hashes);
  }

  /** Adds the CloudPlugs part to an existing platform device; answers its Plug-ID and (only now) its auth code. */
  async attachDevice(device: Device, input: NewPlugDeviceInput): Promise<{ entry: PlugDevice; auth: string }> {
    const auth = input.auth ?? newAuthCode();
    const row: PlugDeviceRow = {
      deviceId: device.id,
      plugId: newPlugId('dev'),
      kind: input.kind,
      templateId: input.templateId,
      hwid: input.hwid,
      status: 'ok',
      perm: input.perm ?? (input.kind === 'controller' ? DEFAULT_CONTROLLER_PERM : DEFAULT_THING_PERM),
      authHash: secretHash(auth),
      controls: input.controls ?? [],
      location: null,
      createdAt: Date.now(),
    };
    await this.store.putDevice(row);
    const entry = { row, device };
    this.registry.putDevice(entry);
    return { entry, auth };
  }

  /** Creates a platform device and its CloudPlugs part; the device is removed again if the second step fails. */
  async createDevice(
    orgId: string,
    name: string,
    profileId: string | undefined,
    input: NewPlugDeviceInput,
  ): Promise<{ entry: PlugDevice; auth: string }> {
    const created = await this.#createPlatformDevice(orgId, name, profileId);
    try {
      return await this.attachDevice(created, input);
    } catch (error) {
      await this.platform.store.deleteDevice(created.id);
      throw error;
    }
  }

  /** Changes status and/or permission filter; a disabled device is disconnected. */
  async updateDevice(
    deviceId: string,
    patch: { status?: PlugStatus | undefined; perm?: PermFilter | undefined },
  ): Promise<PlugDevice> {
    const entry = this.registry.byDeviceId(deviceId);
    if (entry === undefined) throw new PlugError(PlugErr.NotFound, 'not a CloudPlugs device');
    const row: PlugDeviceRow = {
      ...entry.row,
      status: patch.status ?? entry.row.status,
      perm: patch.perm ?? entry.row.perm,
    };
    return this.#replaceRow(entry, row, row.status === 'disabled' ? 'the device was disabled' : undefined);
  }

  async #replaceRow(entry: PlugDevice, row: PlugDeviceRow, revokeReason?: string): Promise<PlugDevice> {
    await this.store.updateDevice(row);
    const updated = { row, device: entry.device };
    this.registry.putDevice(updated);
    if (revokeReason !== undefined) this.#onRevoked(row.deviceId, revokeReason);
    return updated;
  }

  async #createPlatformDevice(orgId: string, name: string, profileId: string | undefined): Promise<Device> {
    // The platform wants credentials; a CloudPlugs device logs in by Plug-ID, so it gets an access token nobody is
    // told (48 random characters), which lets no one in through another dialect.
    const credentials = { type: 'ACCESS_TOKEN' as const, accessToken: randomAlphanumeric(48) };
    const input = { name, credentials, ...(profileId === undefined ? {} : { profileId }) };
    try {
      return (await this.platform.entities.createDevice(orgId, input)).device;
    } catch (error) {
      if (!(error instanceof DuplicateError) || error.what !== 'device name') throw error;
      // Names are unique per organization; a second thing called "sensor" keeps its name with a distinguishing tail.
      const unique = { ...input, name: `${name} ${randomBytes(3).toString('hex')}` };
      return (await this.platform.entities.createDevice(orgId, unique)).device;
    }
  }

  // ---- logins --------------------------------------------------------------------------------------------------

  /** A device login: Plug-ID and auth code. Throws PlugError 401 (wrong) or 403 (disabled). */
  loginDevice(plugId: string, auth: string): PlugDeviceIdentity {
    const entry = this.registry.byPlugId(plugId);
    if (entry === undefined || !sameSecret(secretHash(auth), entry.row.authHash)) {
      throw new PlugError(PlugErr.Unauthorized, 'unknown Plug-ID or wrong auth code');
    }
    if (entry.row.status === 'disabled') throw new PlugError(PlugErr.Forbidden, 'the device is disabled');
    return deviceIdentity(entry.row.deviceId, entry.row.plugId, entry.device.orgId);
  }

  /** An account login: a platform user's e-mail and password (the master password). Throws PlugError 401. */
  async loginAccount(email: string, masterPassword: string): Promise<PlugAccountIdentity> {
    const user = await this.platform.store.getUserByEmail(email);
    if (user === undefined || !(await verifyPassword(masterPassword, user.passwordHash))) {
      throw new PlugError(PlugErr.Unauthorized, 'unknown e-mail or wrong master password');
    }
    return accountIdentity(user.orgId, user.id, user.role);
  }

  // ---- enrolment -----------------------------------------------------------------------------------------------

  /** Enrols (or, in status `reactivate`, re-enrols) the thing `hwid` of `modelPlugId`. Throws PlugError. */
  async enrollThing(modelPlugId: string, hwid: string, name: string | undefined, pass: string): Promise<EnrollResult> {
    const template = this.#template(modelPlugId);
    const uploaded = await this.store.getEnrollPassHash(template.profileId, hwid);
    const isPassRight =
      uploaded !== undefined
        ? sameSecret(secretHash(pass), uploaded)
        : template.enrollSecret !== null && derivedPassMatches(pass, thingEnrollPass(template.enrollSecret, hwid));
    if (!isPassRight) throw new PlugError(PlugErr.Forbidden, 'wrong enrolment password');
    return this.#enroll(template, 'thing', hwid, async () => {
      const profile = await this.#templateProfile(template);
      const { entry, auth } = await this.createDevice(profile.orgId, name ?? hwid, profile.id, {
        kind: 'thing',
        templateId: template.profileId,
        hwid,
      });
      return { id: entry.row.plugId, auth };
    });
  }

  /**
   * Enrols a controller of the thing `thingHwid` (its hardware id `controllerHwid`, which may be absent over HTTP);
   * an already enrolled controller (`asController`) only gains the thing and gets undefined.
   */
  async enrollController(
    modelPlugId: string,
    thingHwid: string,
    pass: string,
    controller: { hwid: string | undefined; name: string | undefined; asController?: PlugDevice | undefined },
  ): Promise<EnrollResult | undefined> {
    const template = this.#template(modelPlugId);
    if (template.enrollSecret === null || !derivedPassMatches(pass, controlPass(template.enrollSecret, thingHwid))) {
      throw new PlugError(PlugErr.Forbidden, 'wrong control password');
    }
    const thing = this.registry.byHwid(template.profileId, 'thing', thingHwid);
    if (thing === undefined) throw new PlugError(PlugErr.NotFound, 'no enrolled thing has that hardware id');
    if (thing.row.perm.ctrl === '') throw new PlugError(PlugErr.Forbidden, 'the thing accepts no controllers');
    const existing = controller.asController;
    if (existing !== undefined) {
      if (existing.device.orgId !== thing.device.orgId) {
        throw new PlugError(PlugErr.Forbidden, 'the thing is in another organization');
      }
      if (!existing.row.controls.includes(thing.row.plugId)) {
        await this.#replaceRow(existing, { ...existing.row, controls: [...existing.row.controls, thing.row.plugId] });
      }
      return undefined;
    }
    const hwid = controller.hwid ?? `ctrl-${randomBytes(6).toString('hex')}`;
    return this.#enroll(
      template,
      'controller',
      hwid,
      async () => {
        const { entry, auth } = await this.createDevice(
          thing.device.orgId,
          controller.name ?? hwid,
          thing.device.profileId,
          {
            kind: 'controller',
            templateId: template.profileId,
            hwid,
            controls: [thing.row.plugId],
          },
        );
        return { id: entry.row.plugId, auth };
      },
      thing.row.plugId,
    );
  }

  /** Common enrolment path: refuse a second one in flight, re-enrol in status `reactivate`, refuse an enrolled one. */
  async #enroll(
    template: TemplateRow,
    kind: 'thing' | 'controller',
    hwid: string,
    create: () => Promise<EnrollResult>,
    controlled?: string,
  ): Promise<EnrollResult> {
    const key = `${template.profileId}\0${kind}\0${hwid}`;
    if (this.#enrolling.has(key)) throw new PlugError(PlugErr.Conflict, 'an enrolment of this device is in progress');
    this.#enrolling.add(key);
    try {
      const existing = this.registry.byHwid(template.profileId, kind, hwid);
      if (existing === undefined) return await create();
      if (existing.row.status !== 'reactivate') {
        throw new PlugError(PlugErr.Conflict, 'the device is already enrolled (re-enrolment needs status reactivate)');
      }
      const auth = newAuthCode();
      const controls =
        controlled === undefined || existing.row.controls.includes(controlled)
          ? existing.row.controls
          : [...existing.row.controls, controlled];
      // The old auth code stops working: connections made with it are closed.
      await this.#replaceRow(
        existing,
        { ...existing.row, status: 'ok', authHash: secretHash(auth), controls },
        'the device was re-enrolled',
      );
      this.#logger.info({ plugId: existing.row.plugId }, 'CloudPlugs device re-enrolled');
      return { id: existing.row.plugId, auth };
    } finally {
      this.#enrolling.delete(key);
    }
  }

  #template(modelPlugId: string): TemplateRow {
    const template = this.registry.templateByPlugId(modelPlugId);
    if (template === undefined) throw new PlugError(PlugErr.NotFound, 'unknown production template');
    return template;
  }

  async #templateProfile(template: TemplateRow): Promise<DeviceProfile> {
    const profile = await this.platform.store.getProfile(template.profileId);
    if (profile === undefined) throw new PlugError(PlugErr.NotFound, 'unknown production template');
    return profile;
  }
}

/** 32 URL-safe characters (192 random bits): the auth code a device logs in with. */
export function newAuthCode(): string {
  return randomBytes(24).toString('base64url');
}
