/** Broker persistence: the `BrokerStore` contract and its SQLite (durable) and memory implementations. */
export type {
  BrokerSnapshot,
  BrokerStore,
  StoredDelivery,
  StoredMessage,
  StoredSession,
  StoredSubscription,
  StoredWill,
  StoreOp,
} from './broker-store.js';
export { MemoryBrokerStore } from './memory-broker-store.js';
export { SqliteBrokerStore } from './sqlite-broker-store.js';
export type { SqliteBrokerStoreOptions } from './sqlite-broker-store.js';
export {
  DuplicateError,
  EventModificationError,
  PostgresPlatformStore,
  SqlitePlatformStore,
  UnknownDeviceError,
} from './platform/index.js';
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
  PostgresPlatformStoreOptions,
  RpcPatch,
  SortOrder,
  SqlParam,
  SqlitePlatformStoreOptions,
  StoredApiKey,
  StoredUser,
  TelemetryAggregateQuery,
  TelemetryRangeQuery,
  WriteOutcome,
} from './platform/index.js';
