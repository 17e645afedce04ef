/**
 * The dialect's in-memory view of its templates and devices (the broker hooks are synchronous and run per message, so
 * look-ups cannot touch the database): loaded at start, changed with every write the dialect makes, and kept in step
 * with the platform's entity changes (a device renamed, moved or deleted through the management API).
 */
import type { Device } from '../../platform/model.js';
import type { PlugDeviceRow, TemplateRow } from './module-store.js';
import { listAllows } from './perm.js';

/** A CloudPlugs device: its module row and its platform device. */
export interface PlugDevice {
  row: PlugDeviceRow;
  device: Device;
}

/** Templates and devices by Plug-ID, device id and hardware id. */
export class PlugRegistry {
  readonly #byPlugId = new Map<string, PlugDevice>();
  readonly #byDeviceId = new Map<string, PlugDevice>();
  /** `<templateId>\0<kind>\0<hwid>` → device. */
  readonly #byHwid = new Map<string, PlugDevice>();
  readonly #templatesByPlugId = new Map<string, TemplateRow>();
  readonly #templatesByProfileId = new Map<string, TemplateRow>();

  /** Replaces every template (after an organization's were deleted with it). */
  replaceTemplates(templates: readonly TemplateRow[]): void {
    this.#templatesByPlugId.clear();
    this.#templatesByProfileId.clear();
    for (const template of templates) this.putTemplate(template);
  }

  get deviceCount(): number {
    return this.#byDeviceId.size;
  }

  putTemplate(template: TemplateRow): void {
    this.#templatesByPlugId.set(template.plugId, template);
    this.#templatesByProfileId.set(template.profileId, template);
  }

  removeTemplate(profileId: string): void {
    const template = this.#templatesByProfileId.get(profileId);
    if (template === undefined) return;
    this.#templatesByProfileId.delete(profileId);
    this.#templatesByPlugId.delete(template.plugId);
  }

  templateByPlugId(plugId: string): TemplateRow | undefined {
    return this.#templatesByPlugId.get(plugId);
  }

  templateByProfileId(profileId: string): TemplateRow | undefined {
    return this.#templatesByProfileId.get(profileId);
  }

  /** Adds or replaces a device (row and platform device). */
  putDevice(entry: PlugDevice): void {
    this.removeDevice(entry.row.deviceId);
    this.#byPlugId.set(entry.row.plugId, entry);
    this.#byDeviceId.set(entry.row.deviceId, entry);
    const key = hwidKey(entry.row);
    if (key !== undefined) this.#byHwid.set(key, entry);
  }

  removeDevice(deviceId: string): PlugDevice | undefined {
    const entry = this.#byDeviceId.get(deviceId);
    if (entry === undefined) return undefined;
    this.#byDeviceId.delete(deviceId);
    this.#byPlugId.delete(entry.row.plugId);
    const key = hwidKey(entry.row);
    if (key !== undefined && this.#byHwid.get(key) === entry) this.#byHwid.delete(key);
    return entry;
  }

  byPlugId(plugId: string): PlugDevice | undefined {
    return this.#byPlugId.get(plugId);
  }

  byDeviceId(deviceId: string): PlugDevice | undefined {
    return this.#byDeviceId.get(deviceId);
  }

  byHwid(templateId: string, kind: 'thing' | 'controller', hwid: string): PlugDevice | undefined {
    return this.#byHwid.get(`${templateId}\0${kind}\0${hwid}`);
  }

  /** Every device of an organization (for reads across devices; bounded by the caller). */
  devicesOf(orgId: string): PlugDevice[] {
    const found: PlugDevice[] = [];
    for (const entry of this.#byDeviceId.values()) if (entry.device.orgId === orgId) found.push(entry);
    return found;
  }
}

function hwidKey(row: PlugDeviceRow): string | undefined {
  if (row.templateId === null || row.hwid === null || row.kind === 'prototype') return undefined;
  return `${row.templateId}\0${row.kind}\0${row.hwid}`;
}

/**
 * May `reader` read `target`'s data? Its own always; another device of its organization when its `of.r` lists it (or
 * is null), or when it is a controller of `target` and the thing's `ctrl` grants reading. A disabled device reads
 * nothing.
 */
export function canRead(reader: PlugDevice, target: PlugDevice): boolean {
  if (reader.row.status === 'disabled') return false;
  if (isSameDevice(reader, target)) return true;
  if (reader.device.orgId !== target.device.orgId) return false;
  if (listAllows(reader.row.perm.of.r, target.row.plugId)) return true;
  return reader.row.controls.includes(target.row.plugId) && target.row.perm.ctrl !== '';
}

/** May `writer` publish data on `target`'s behalf (`of`, or `target`'s Plug-ID in the topic)? */
export function canWrite(writer: PlugDevice, target: PlugDevice): boolean {
  if (writer.row.status === 'disabled' || target.row.status === 'disabled') return false;
  if (isSameDevice(writer, target)) return true;
  if (writer.device.orgId !== target.device.orgId) return false;
  if (listAllows(writer.row.perm.of.w, target.row.plugId)) return true;
  const ctrl = target.row.perm.ctrl;
  return writer.row.controls.includes(target.row.plugId) && (ctrl === 'rw' || ctrl === null);
}

/** Entries are replaced on every change: compare devices by id, not by entry. */
export function isSameDevice(a: PlugDevice, b: PlugDevice): boolean {
  return a.row.deviceId === b.row.deviceId;
}
