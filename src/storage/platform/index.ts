/** The platform stores: the `PlatformStore` contract with its SQLite (embedded) and PostgreSQL implementations. */
export { DuplicateError, EventModificationError, UnknownDeviceError } from '../platform-store.js';
export type {
  AggregatePoint,
  Aggregation,
  DataBatch,
  DevicePatch,
  DeviceWithCredentials,
  EventModification,
  EventQuery,
  ModificationRefusal,
  ModuleSchema,
  ModuleSql,
  ModuleStatement,
  NewDevice,
  PlatformStore,
  RpcPatch,
  SortOrder,
  SqlParam,
  StoredApiKey,
  StoredUser,
  TelemetryAggregateQuery,
  TelemetryRangeQuery,
  WriteOutcome,
} from '../platform-store.js';
export { SqlitePlatformStore } from './sqlite-platform-store.js';
export type { SqlitePlatformStoreOptions } from './sqlite-platform-store.js';
export { PostgresPlatformStore } from './postgres-platform-store.js';
export type { PostgresPlatformStoreOptions } from './postgres-platform-store.js';
