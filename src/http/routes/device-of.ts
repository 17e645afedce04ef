/** The device a data route is about, if the caller's organization has it. */
import type { Caller } from '../../auth/index.js';
import type { Device } from '../../platform/model.js';
import type { Platform } from '../../platform/platform.js';
import { notFound } from '../errors.js';

/** 404 for a device that does not exist and for one of another organization alike. */
export async function deviceOf(platform: Platform, caller: Caller, id: string): Promise<Device> {
  const device = await platform.entities.getDevice(caller.orgId, id);
  if (device === undefined) throw notFound('device');
  return device;
}

/** `a,b, c` → ['a', 'b', 'c']; undefined or empty → undefined. */
export function splitKeys(keys: string | undefined): string[] | undefined {
  if (keys === undefined) return undefined;
  const list = keys
    .split(',')
    .map((key) => key.trim())
    .filter((key) => key.length > 0);
  return list.length === 0 ? undefined : list;
}
