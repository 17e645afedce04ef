/** The Medium One dialect: auth step, the 0/1/2 namespace, REST equivalents, groups and down messages (docs/mediumone.md). */
export { createMediumOneDialect, DEFAULT_MEDIUMONE_LIMITS } from './dialect.js';
export type { MediumOneDialect, MediumOneDialectOptions, MediumOneLimits } from './dialect.js';
export { isMediumOneIdentity, MAX_CLIENT_ID_LENGTH, parseMediumOneLogin } from './auth.js';
export type { MediumOneIdentity, MediumOneLogin } from './auth.js';
export { deviceNameOf } from './devices.js';
export { DEFAULT_STREAM, eventTelemetry, parseEvent } from './event.js';
export type { EventParse, EventRefusal, ParsedEvent } from './event.js';
export { downTopic, DownMessageError } from './downlink.js';
export type { DownMessage } from './downlink.js';
export { formatTimestamp, parseIsoTimestamp } from './timestamp.js';
export { ALL, isMediumOneNamespace, isValidIdentifier, parseEventTopic } from './topics.js';
export type { Group } from './tables.js';
