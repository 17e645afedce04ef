/** The ThingsBoard dialect: broker hooks, the HTTP device API and claiming (docs/thingsboard.md). */
export { createThingsboardDialect } from './dialect.js';
export type { ThingsboardDialect, ThingsboardDialectOptions } from './dialect.js';
export {
  authenticateThingsboard,
  authenticateThingsboardDevice,
  badCredentialsReason,
  certificateHash,
  isDeviceIdentity,
  isProvisionConnect,
  isProvisionIdentity,
  isThingsboardIdentity,
  noCredentialsReason,
} from './auth.js';
export type {
  CertificateProvisioner,
  ThingsboardAuthOutcome,
  ThingsboardDeviceIdentity,
  ThingsboardIdentity,
  ThingsboardProvisionIdentity,
} from './auth.js';
export { ClaimService, CLAIMING_DATA_KEY, DEFAULT_CLAIM_DURATION_MS } from './claims.js';
export type { ClaimOutcome, ClaimResult, ClaimServiceOptions } from './claims.js';
export { isThingsboardNamespace } from './topics.js';
export { PayloadError } from './json-telemetry.js';
export type {
  ExtensionContext,
  ProvisionHandler,
  ProvisionReply,
  ProvisionRequest,
  ThingsboardExtension,
  ThingsboardLimits,
  ThingsboardRateLimits,
} from './types.js';
