/**
 * The platform service: the one way dialects and the HTTP API read and change device data. It owns the group-commit
 * writer, the state-change bus, downlinks to connected devices, server-side RPC and the client-side RPC registry;
 * entity management (organizations, devices, users...) is `entities`. Dialects translate their topics and payloads
 * into these calls and never touch the store for device data themselves.
 */
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { EventModification, PlatformStore } from '../storage/platform-store.js';
import { StateChangeBus } from './bus.js';
import { ClientRpcRegistry } from './client-rpc.js';
import { DataWriter, type CommitCallback, type CommitObserver } from './data-writer.js';
import { DeviceLinks } from './device-links.js';
import { EntityService } from './entities.js';
import type {
  AttributeScope,
  DataValue,
  Device,
  DeviceEvent,
  JsonValue,
  StateChange,
  TelemetryPoint,
} from './model.js';
import { DEFAULT_RPC_LIMITS, RpcService, type RpcLimits } from './rpc.js';

export interface PlatformOptions {
  store: PlatformStore;
  logger: Logger;
  /** Data items (points, attributes, events) waiting for a commit before new writes are refused. */
  maxPendingWrites?: number;
  rpc?: RpcLimits;
  /** Zone kinds from the top, e.g. ['building', 'level', 'area']. */
  zoneHierarchy?: readonly string[];
}

/** An event as posted; the platform assigns id, organization and device. */
export type NewEvent = Omit<DeviceEvent, 'id' | 'orgId' | 'deviceId'> & { id?: string | undefined };

const DEFAULT_MAX_PENDING_WRITES = 200_000;

export class Platform {
  readonly store: PlatformStore;
  readonly bus: StateChangeBus;
  readonly links: DeviceLinks;
  readonly rpc: RpcService;
  readonly clientRpc: ClientRpcRegistry;
  readonly entities: EntityService;
  readonly #writer: DataWriter;
  readonly #logger: Logger;

  constructor(options: PlatformOptions) {
    this.store = options.store;
    this.#logger = options.logger;
    this.bus = new StateChangeBus(options.logger);
    this.links = new DeviceLinks();
    this.rpc = new RpcService(options.store, this.links, options.logger, options.rpc ?? DEFAULT_RPC_LIMITS);
    this.clientRpc = new ClientRpcRegistry();
    this.entities = new EntityService(options.store, {
      zoneHierarchy: options.zoneHierarchy ?? ['org', 'region', 'building', 'level', 'area'],
    });
    this.#writer = new DataWriter(
      options.store,
      this.bus,
      options.logger,
      options.maxPendingWrites ?? DEFAULT_MAX_PENDING_WRITES,
    );
  }

  /** Commit statistics of device data, for /metrics. */
  get writeStats(): DataWriter['stats'] {
    return this.#writer.stats;
  }

  /** Observes every device-data store write (duration, items, success); for metrics. */
  observeCommits(observer: CommitObserver): void {
    this.#writer.observe(observer);
  }

  /** Stores telemetry points; `done` runs once they are committed. */
  postTelemetry(device: Device, points: TelemetryPoint[], done: CommitCallback): void {
    if (points.length === 0) {
      queueMicrotask(() => {
        done(undefined);
      });
      return;
    }
    const changes: StateChange[] = points.map((p) => ({
      kind: 'telemetry',
      orgId: device.orgId,
      deviceId: device.id,
      key: p.key,
      ts: p.ts,
      value: p.value,
    }));
    this.#writer.enqueue(
      points.length,
      (batch) => batch.telemetry.push({ deviceId: device.id, points }),
      changes,
      done,
    );
  }

  /** Sets attributes of one scope; shared ones reach the device's links after the commit. */
  postAttributes(
    device: Device,
    scope: AttributeScope,
    values: Record<string, DataValue>,
    done: CommitCallback,
    ts = Date.now(),
  ): void {
    const keys = Object.keys(values);
    const changes: StateChange[] = keys.map((key) => ({
      kind: 'attribute',
      orgId: device.orgId,
      deviceId: device.id,
      scope,
      key,
      ts,
      value: values[key],
    }));
    this.#writer.enqueue(
      Math.max(1, keys.length),
      (batch) => {
        for (const key of keys) batch.attributes.push({ deviceId: device.id, scope, key, value: values[key]!, ts });
      },
      changes,
      (error) => {
        if (error === undefined && scope === 'shared' && keys.length > 0) {
          this.links.sendAttributeUpdate(device.id, { values, deleted: [] });
        }
        done(error);
      },
    );
  }

  /** Deletes attributes of one scope; deleted shared ones are announced to the device (`deleted`). */
  deleteAttributes(device: Device, scope: AttributeScope, keys: string[], done: CommitCallback): void {
    const ts = Date.now();
    const changes: StateChange[] = keys.map((key) => ({
      kind: 'attribute',
      orgId: device.orgId,
      deviceId: device.id,
      scope,
      key,
      ts,
      value: undefined,
    }));
    this.#writer.enqueue(
      Math.max(1, keys.length),
      (batch) => batch.attributeDeletes.push({ deviceId: device.id, scope, keys }),
      changes,
      (error) => {
        if (error === undefined && scope === 'shared' && keys.length > 0) {
          this.links.sendAttributeUpdate(device.id, { values: {}, deleted: keys });
        }
        done(error);
      },
    );
  }

  /**
   * Stores events (Medium One events, CloudPlugs channel records). Each is judged on its own: one whose id is taken
   * is not stored and `done` gets DuplicateError('event id'); the bus hears of the others.
   */
  postEvents(device: Device, events: NewEvent[], done: CommitCallback): void {
    const stored: DeviceEvent[] = events.map((e) => ({
      ...e,
      id: e.id ?? randomUUID(),
      orgId: device.orgId,
      deviceId: device.id,
    }));
    this.#writer.enqueue(Math.max(1, stored.length), (batch) => batch.events.push(...stored), [], done);
  }

  /**
   * Replaces a stored event of `device` (see `EventModification`): `done` gets the event as stored after the change,
   * or an EventModificationError when the id names no event of this device (nothing of it is stored then). After
   * the commit the bus hears of the new version (an event change with the same id) and of its telemetry copy.
   */
  modifyEvent(
    device: Device,
    modification: Omit<EventModification, 'deviceId'>,
    done: (error: Error | undefined, event: DeviceEvent | undefined) => void,
  ): void {
    const item: EventModification = { ...modification, deviceId: device.id };
    this.#writer.enqueue(
      1,
      (batch) => (batch.eventModifications ??= []).push(item),
      [],
      (error, modified) => {
        done(error, modified?.[0]);
      },
    );
  }

  /** Promise form of the post methods, for request/response callers: `await platform.committed((done) => …)`. */
  committed(post: (done: CommitCallback) => void): Promise<void> {
    return new Promise((resolve, reject) => {
      post((error) => {
        if (error === undefined) resolve();
        else reject(error);
      });
    });
  }

  /** Client-side RPC from a device. */
  callServer(device: Device, method: string, params: JsonValue): Promise<JsonValue> {
    return this.clientRpc.call(device, method, params);
  }

  /** Waits for pending writes, stops RPC timers, closes the store. */
  async close(): Promise<void> {
    this.rpc.close();
    await this.#writer.drain();
    try {
      await this.store.close();
    } catch (error) {
      this.#logger.error({ err: error }, 'platform store close failed');
    }
  }
}
