/** Bridges to cloud brokers: the service that runs them, its store, its HTTP routes. */
export { BridgeService } from './bridge-service.js';
export type { BridgeInput, BridgeLimits, BridgePatch, BridgeServiceDeps, BridgeView } from './bridge-service.js';
export { BridgeStore, BRIDGE_SCHEMA } from './bridge-store.js';
export { BridgeSettingsError } from './bridge-settings.js';
export type { CompilePrivacyRules } from './bridge-settings.js';
export type { BridgeStatus, BridgeTarget } from './bridge-target.js';
export { bridgesHttpPlugin } from './bridges-http.js';
export { startBridges } from './bridges.js';
export type { Bridges, BridgesDeps } from './bridges.js';
