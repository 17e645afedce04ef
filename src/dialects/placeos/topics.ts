/**
 * The feed's topic names (device-apis.md §1.1): `placeos/<org>/state/<tier…>/<system>/<driver>/<module>/<index>/<key>`
 * and `placeos/<org>/metadata/<id>`. PlaceOS joins segments unescaped; here a segment that holds `/`, `+`, `#` or NUL
 * would change the topic's levels or make it invalid ([MQTT-4.7.1-1], [MQTT-4.7.3-2]), so those characters, and `%`
 * itself, are percent-encoded: a subscriber decodes a level with `decodeURIComponent`.
 */

/** The namespace of the feed (choices.md: `placeos/…`). */
export const FEED_ROOT = 'placeos';

/** A tier of the hierarchy the system has no zone for (device-apis.md §1.1 `extract_zone_hierarchy`). */
export const MISSING_TIER = '_';

// One pass over the string, nothing allocated when no character needs encoding (the usual case). NUL is invalid in
// any MQTT string ([MQTT-1.5.4-2]), hence the control character.
// eslint-disable-next-line no-control-regex
const NEEDS_ENCODING = /[%/+#\u0000]/;
// eslint-disable-next-line no-control-regex
const ENCODE_ALL = /[%/+#\u0000]/g;

function encodeChar(char: string): string {
  return `%${char.charCodeAt(0).toString(16).toUpperCase().padStart(2, '0')}`;
}

/** One topic level: the text as is, unless it holds a character that would break the topic. */
export function topicSegment(text: string): string {
  return NEEDS_ENCODING.test(text) ? text.replace(ENCODE_ALL, encodeChar) : text;
}

/** `placeos/<org>/state/`: what every state topic of the organization starts with. */
export function stateRoot(orgId: string): string {
  return `${FEED_ROOT}/${topicSegment(orgId)}/state/`;
}

/** `placeos/<org>/metadata/<id>`. */
export function metadataTopic(orgId: string, entityId: string): string {
  return `${FEED_ROOT}/${topicSegment(orgId)}/metadata/${topicSegment(entityId)}`;
}

/** Where a device is placed: the zones of its tiers (undefined = missing), its system, driver, module and index. */
export interface Placement {
  tierZoneIds: readonly (string | undefined)[];
  systemId: string;
  driverId: string;
  moduleName: string;
  index: number;
}

/** The state topic of a device without its key: `placeos/<org>/state/<tier…>/<system>/<driver>/<module>/<index>/`. */
export function statePrefix(orgId: string, placement: Placement): string {
  let prefix = stateRoot(orgId);
  for (const zoneId of placement.tierZoneIds)
    prefix += `${zoneId === undefined ? MISSING_TIER : topicSegment(zoneId)}/`;
  return `${prefix}${topicSegment(placement.systemId)}/${topicSegment(placement.driverId)}/${topicSegment(
    placement.moduleName,
  )}/${String(placement.index)}/`;
}
