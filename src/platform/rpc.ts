/**
 * Server-side RPC to devices, with ThingsBoard's semantics (device-apis.md §3.5): a lightweight call waits for the
 * device (two-way: its reply; one-way: delivery) or times out; a persistent call is stored, answered at once with its
 * id, and walks QUEUED → SENT → DELIVERED → SUCCESSFUL (or TIMEOUT / EXPIRED / FAILED), delivered whenever the device
 * is connected, retried after a delivery timeout while retries remain.
 */
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { PlatformStore } from '../storage/platform-store.js';
import type { DeviceLinks } from './device-links.js';
import type { Device, JsonValue, Rpc, RpcStatus } from './model.js';

export interface RpcLimits {
  /** Used when the caller gives no timeout (ThingsBoard: 10 s). */
  defaultTimeoutMs: number;
  /** Timeouts below this are raised to it (ThingsBoard: 5 s). */
  minTimeoutMs: number;
  /** How long a sent QoS 1 request may wait for its PUBACK before it counts as not delivered (ThingsBoard: 10 s). */
  deliveryTimeoutMs: number;
  /** Cap on `retries` (ThingsBoard: 5). */
  maxRetries: number;
}

export const DEFAULT_RPC_LIMITS: RpcLimits = {
  defaultTimeoutMs: 10_000,
  minTimeoutMs: 5_000,
  deliveryTimeoutMs: 10_000,
  maxRetries: 5,
};

export interface RpcRequest {
  method: string;
  params: JsonValue;
  isOneway: boolean;
  isPersistent: boolean;
  /** ms; `expirationTime` wins when both are given. */
  timeoutMs?: number | undefined;
  /** Epoch ms. */
  expirationTime?: number | undefined;
  retries?: number | undefined;
  additionalInfo?: JsonValue | undefined;
}

/** What the caller of `call` learns. */
export type RpcOutcome =
  /** Two-way: the device replied. One-way: the device has the request. */
  | { kind: 'done'; rpc: Rpc }
  /** Persistent: stored; follow it with `get(rpc.id)`. */
  | { kind: 'queued'; rpc: Rpc }
  /** Lightweight call to a device with no connection that takes RPC. */
  | { kind: 'offline'; rpc: Rpc }
  | { kind: 'timeout'; rpc: Rpc };

interface Waiting {
  rpc: Rpc;
  /** Resolves a lightweight call; undefined for persistent ones. */
  settle: ((outcome: RpcOutcome) => void) | undefined;
  expiryTimer: NodeJS.Timeout | undefined;
  deliveryTimer: NodeJS.Timeout | undefined;
}

const TERMINAL: ReadonlySet<RpcStatus> = new Set(['SUCCESSFUL', 'TIMEOUT', 'EXPIRED', 'FAILED']);

export class RpcService {
  readonly #store: PlatformStore;
  readonly #links: DeviceLinks;
  readonly #logger: Logger;
  readonly #limits: RpcLimits;
  /** Calls not yet finished, by `deviceId/requestId`. */
  readonly #waiting = new Map<string, Waiting>();
  /** Integer request ids for device topics: unique per server run, and unlikely to repeat across restarts. */
  #nextRequestId = Math.floor(Date.now() / 1000) % 1_000_000_000;

  constructor(store: PlatformStore, links: DeviceLinks, logger: Logger, limits: RpcLimits = DEFAULT_RPC_LIMITS) {
    this.#store = store;
    this.#links = links;
    this.#logger = logger;
    this.#limits = limits;
    links.onAttach = (deviceId) => {
      void this.#sendQueued(deviceId);
    };
  }

  /** Sends an RPC to `device`. Rejects only on a store failure. */
  async call(device: Device, request: RpcRequest): Promise<RpcOutcome> {
    const now = Date.now();
    const timeoutMs = Math.max(this.#limits.minTimeoutMs, request.timeoutMs ?? this.#limits.defaultTimeoutMs);
    const rpc: Rpc = {
      id: randomUUID(),
      orgId: device.orgId,
      deviceId: device.id,
      requestId: this.#nextRequestId++,
      method: request.method,
      params: request.params,
      isOneway: request.isOneway,
      isPersistent: request.isPersistent,
      status: 'QUEUED',
      response: undefined,
      expirationTime: request.expirationTime ?? now + timeoutMs,
      retries: 0,
      maxRetries: Math.min(this.#limits.maxRetries, Math.max(0, request.retries ?? 0)),
      additionalInfo: request.additionalInfo,
      createdAt: now,
      updatedAt: now,
    };
    if (rpc.isPersistent) {
      await this.#store.putRpc(rpc);
      const waiting = this.#track(rpc, undefined);
      this.#offer(waiting);
      return { kind: 'queued', rpc };
    }
    if (!this.#links.isConnected(device.id)) return { kind: 'offline', rpc: { ...rpc, status: 'FAILED' } };
    return new Promise<RpcOutcome>((resolve) => {
      const waiting = this.#track(rpc, resolve);
      if (!this.#offer(waiting)) this.#finish(waiting, 'FAILED', undefined, 'offline');
    });
  }

  /**
   * The device's reply to request `requestId`. Returns false when no such call is waiting (unknown id, already
   * answered, timed out): the caller may tell the device.
   */
  reply(deviceId: string, requestId: number, response: JsonValue): boolean {
    const waiting = this.#waiting.get(`${deviceId}/${String(requestId)}`);
    if (waiting === undefined || waiting.rpc.isOneway) return false;
    this.#finish(waiting, 'SUCCESSFUL', response, 'done');
    return true;
  }

  /** A stored (persistent) RPC with its current state. */
  get(rpcId: string): Promise<Rpc | undefined> {
    return this.#store.getRpc(rpcId);
  }

  /** Stops every timer (shutdown); lightweight callers get a timeout. */
  close(): void {
    for (const waiting of [...this.#waiting.values()]) this.#finish(waiting, 'TIMEOUT', undefined, 'timeout');
  }

  #track(rpc: Rpc, settle: Waiting['settle']): Waiting {
    const waiting: Waiting = { rpc, settle, expiryTimer: undefined, deliveryTimer: undefined };
    this.#waiting.set(`${rpc.deviceId}/${String(rpc.requestId)}`, waiting);
    const delay = Math.max(0, rpc.expirationTime - Date.now());
    waiting.expiryTimer = setTimeout(() => {
      // Not delivered by the deadline: EXPIRED; delivered but never answered: TIMEOUT (ThingsBoard's states).
      const delivered = rpc.status === 'SENT' || rpc.status === 'DELIVERED';
      this.#finish(waiting, rpc.isPersistent && !delivered ? 'EXPIRED' : 'TIMEOUT', undefined, 'timeout');
    }, delay);
    // A lightweight call has a caller waiting on it; a stored one (possibly days away) must not hold the process.
    if (rpc.isPersistent) waiting.expiryTimer.unref();
    return waiting;
  }

  /** Offers the request to the device's links; true when one took it. */
  #offer(waiting: Waiting): boolean {
    const { rpc } = waiting;
    const taken = this.#links.sendRpc(rpc.deviceId, rpc, () => {
      this.#delivered(waiting);
    });
    if (!taken) return false;
    if (rpc.status === 'QUEUED') this.#setStatus(waiting, 'SENT');
    if (waiting.deliveryTimer === undefined && rpc.status === 'SENT') {
      waiting.deliveryTimer = setTimeout(() => {
        waiting.deliveryTimer = undefined;
        this.#deliveryTimedOut(waiting);
      }, this.#limits.deliveryTimeoutMs);
    }
    return true;
  }

  #delivered(waiting: Waiting): void {
    if (TERMINAL.has(waiting.rpc.status) || !this.#waiting.has(this.#key(waiting.rpc))) return;
    if (waiting.deliveryTimer !== undefined) clearTimeout(waiting.deliveryTimer);
    waiting.deliveryTimer = undefined;
    if (waiting.rpc.isOneway) this.#finish(waiting, 'SUCCESSFUL', undefined, 'done');
    else this.#setStatus(waiting, 'DELIVERED');
  }

  #deliveryTimedOut(waiting: Waiting): void {
    const { rpc } = waiting;
    if (rpc.status !== 'SENT') return;
    if (rpc.isPersistent && rpc.retries < rpc.maxRetries) {
      rpc.retries++;
      this.#setStatus(waiting, 'QUEUED');
      if (!this.#offer(waiting)) this.#logger.debug({ rpcId: rpc.id }, 'rpc re-queued until the device reconnects');
      return;
    }
    this.#finish(waiting, 'TIMEOUT', undefined, 'timeout');
  }

  #setStatus(waiting: Waiting, status: RpcStatus): void {
    waiting.rpc.status = status;
    waiting.rpc.updatedAt = Date.now();
    if (waiting.rpc.isPersistent) this.#persist(waiting.rpc);
  }

  #finish(waiting: Waiting, status: RpcStatus, response: JsonValue | undefined, kind: RpcOutcome['kind']): void {
    const { rpc } = waiting;
    this.#waiting.delete(this.#key(rpc));
    if (waiting.expiryTimer !== undefined) clearTimeout(waiting.expiryTimer);
    if (waiting.deliveryTimer !== undefined) clearTimeout(waiting.deliveryTimer);
    rpc.status = status;
    rpc.response = response;
    rpc.updatedAt = Date.now();
    if (rpc.isPersistent) this.#persist(rpc);
    waiting.settle?.(kind === 'queued' ? { kind: 'done', rpc } : { kind, rpc });
  }

  #persist(rpc: Rpc): void {
    const patch = { status: rpc.status, retries: rpc.retries, updatedAt: rpc.updatedAt };
    const update = rpc.response === undefined ? patch : { ...patch, response: rpc.response };
    this.#store.updateRpc(rpc.id, update).catch((error: unknown) => {
      this.#logger.error({ err: error, rpcId: rpc.id }, 'rpc state not stored');
    });
  }

  /** A device connected: offer its stored persistent RPCs that still wait, oldest first. */
  async #sendQueued(deviceId: string): Promise<void> {
    let stored: Rpc[];
    try {
      stored = await this.#store.listRpcs(deviceId, ['QUEUED', 'SENT']);
    } catch (error) {
      this.#logger.error({ err: error, deviceId }, 'queued rpcs not read');
      return;
    }
    const now = Date.now();
    for (const rpc of stored) {
      const known = this.#waiting.get(this.#key(rpc));
      if (rpc.expirationTime <= now) {
        // Expired while nobody watched (e.g. across a restart).
        if (known !== undefined) this.#finish(known, 'EXPIRED', undefined, 'timeout');
        else void this.#store.updateRpc(rpc.id, { status: 'EXPIRED', updatedAt: now });
        continue;
      }
      const waiting = known ?? this.#track({ ...rpc, status: 'QUEUED' }, undefined);
      if (waiting.rpc.status === 'QUEUED') this.#offer(waiting);
    }
  }

  #key(rpc: Rpc): string {
    return `${rpc.deviceId}/${String(rpc.requestId)}`;
  }
}
