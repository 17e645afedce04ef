/**
 * Permission filters (device-apis.md §2.4): `{"of": {"r": [plug ids] | null, "w": [plug ids] | null}, "ctrl": "r" |
 * "rw" | "" | null}`. `of.r`: whose data the device may read (besides its own); `of.w`: on whose behalf it may publish
 * (`of` in a record); null means every device of its organization, an empty list none. `ctrl`: what the controllers
 * of a thing may do with its data: read (`r`), read and publish on its behalf (`rw`), nothing (`""`); null = `rw`.
 */
import { isDevicePlugId } from './plug-id.js';

/** A device's permission filter. */
export interface PermFilter {
  of: { r: readonly string[] | null; w: readonly string[] | null };
  ctrl: 'r' | 'rw' | '' | null;
}

/** A thing reads its organization's data and writes only its own until someone says otherwise. */
export const DEFAULT_THING_PERM: PermFilter = { of: { r: null, w: [] }, ctrl: 'rw' };

/** Longest list a filter may hold (bounded: the filter is checked on every delivery). */
export const MAX_PERM_LIST = 1000;

/** A permission filter a request gave is not one. */
export class PermFilterError extends Error {
  override readonly name = 'PermFilterError';
}

/** Validates a filter from a request; missing parts take `base`'s value (a PATCH changes what it names). */
export function parsePermFilter(input: unknown, base: PermFilter = DEFAULT_THING_PERM): PermFilter {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    throw new PermFilterError('"perm" is an object {"of": {"r", "w"}, "ctrl"}');
  }
  const perm = input as Record<string, unknown>;
  for (const key of Object.keys(perm)) {
    if (key !== 'of' && key !== 'ctrl') throw new PermFilterError(`unknown field "perm.${key}"`);
  }
  let of = base.of;
  if (perm['of'] !== undefined) {
    const ofInput = perm['of'];
    if (typeof ofInput !== 'object' || ofInput === null || Array.isArray(ofInput)) {
      throw new PermFilterError('"perm.of" is an object {"r", "w"}');
    }
    const lists = ofInput as Record<string, unknown>;
    for (const key of Object.keys(lists)) {
      if (key !== 'r' && key !== 'w') throw new PermFilterError(`unknown field "perm.of.${key}"`);
    }
    of = {
      r: lists['r'] === undefined ? base.of.r : plugList(lists['r'], 'perm.of.r'),
      w: lists['w'] === undefined ? base.of.w : plugList(lists['w'], 'perm.of.w'),
    };
  }
  let ctrl = base.ctrl;
  if (perm['ctrl'] !== undefined) {
    const value = perm['ctrl'];
    if (value !== null && value !== 'r' && value !== 'rw' && value !== '') {
      throw new PermFilterError('"perm.ctrl" is "r", "rw", "" or null');
    }
    ctrl = value;
  }
  return { of, ctrl };
}

function plugList(value: unknown, field: string): readonly string[] | null {
  if (value === null) return null;
  if (!Array.isArray(value)) throw new PermFilterError(`"${field}" is a list of Plug-IDs or null`);
  if (value.length > MAX_PERM_LIST) throw new PermFilterError(`"${field}" lists over ${String(MAX_PERM_LIST)} ids`);
  for (const item of value) {
    if (typeof item !== 'string' || !isDevicePlugId(item)) {
      throw new PermFilterError(`"${field}" holds ${JSON.stringify(item)}, not a device Plug-ID`);
    }
  }
  return [...new Set(value as string[])];
}

/** True when a list permission (`of.r` or `of.w`) admits `plugId`. */
export function listAllows(list: readonly string[] | null, plugId: string): boolean {
  return list === null || list.includes(plugId);
}
