/**
 * Metadata values (`placeos/<org>/metadata/<id>`, device-apis.md §1.2): the friendly name every consumer needs and
 * the few fields that explain the topic tree. Chosen fields rather than the whole entity, so nothing private (a
 * profile's provisioning secret) can leave.
 */
import type { DeviceProfile, DeviceSystem, Organization, Zone } from '../../platform/model.js';
import { OrgModel } from './org-model.js';

/** The metadata id and serialized value of an entity. */
export interface MetadataValue {
  id: string;
  valueJson: string;
}

export function organizationMetadata(org: Organization): MetadataValue {
  return { id: org.id, valueJson: JSON.stringify({ id: org.id, name: org.name, type: 'organization' }) };
}

export function zoneMetadata(zone: Zone): MetadataValue {
  const value = { id: zone.id, name: zone.name, type: 'zone', tier: zone.kind, parentId: zone.parentId };
  return { id: zone.id, valueJson: JSON.stringify(value) };
}

export function systemMetadata(system: DeviceSystem): MetadataValue {
  const value = { id: system.id, name: system.name, type: 'system', zones: system.zoneIds };
  return { id: system.id, valueJson: JSON.stringify(value) };
}

/** A driver's metadata id is the state topics' driver segment (`dep-123`), so a subscriber can look it up. */
export function driverMetadata(profile: DeviceProfile): MetadataValue {
  const id = OrgModel.driverIdOf(profile);
  return { id, valueJson: JSON.stringify({ id, name: profile.name, type: 'driver', profileId: profile.id }) };
}
