/**
 * Where downlinks go: a dialect attaches a `DeviceLink` for each connected device session (an MQTT connection, an
 * HTTP long poll), and the platform sends shared-attribute updates and server-side RPCs through whichever links a
 * device has. A device may have several links at once (MQTT and an HTTP long poll); updates go to all of them, an RPC
 * to the first that accepts it.
 */
import type { DataValue, Rpc } from './model.js';

export interface AttributeUpdate {
  /** Shared attributes set, with their new values. */
  values: Record<string, DataValue>;
  /** Shared attributes deleted. */
  deleted: string[];
}

export interface DeviceLink {
  /**
   * Offers an RPC to the device. Returns false when this link cannot take it now (the device did not subscribe to RPC
   * requests; a long poll already answered). `onDelivered` is called once the device has it: at once for QoS 0, on
   * PUBACK for QoS 1.
   */
  sendRpc(rpc: Rpc, onDelivered: () => void): boolean;
  /** Offers shared-attribute changes; a link whose device did not subscribe ignores them. */
  sendAttributeUpdate(update: AttributeUpdate): void;
}

export class DeviceLinks {
  readonly #links = new Map<string, Set<DeviceLink>>();
  #onAttach: (deviceId: string) => void = () => {};

  /** Called after a link is attached (the RPC service sends queued persistent RPCs then). */
  set onAttach(listener: (deviceId: string) => void) {
    this.#onAttach = listener;
  }

  /** Attaches a link; returns the function that detaches it. */
  attach(deviceId: string, link: DeviceLink): () => void {
    let links = this.#links.get(deviceId);
    if (links === undefined) {
      links = new Set();
      this.#links.set(deviceId, links);
    }
    links.add(link);
    this.#onAttach(deviceId);
    return () => {
      const current = this.#links.get(deviceId);
      if (current === undefined) return;
      current.delete(link);
      if (current.size === 0) this.#links.delete(deviceId);
    };
  }

  isConnected(deviceId: string): boolean {
    return this.#links.has(deviceId);
  }

  /** Offers the RPC to each link in attach order until one takes it. */
  sendRpc(deviceId: string, rpc: Rpc, onDelivered: () => void): boolean {
    const links = this.#links.get(deviceId);
    if (links === undefined) return false;
    for (const link of links) if (link.sendRpc(rpc, onDelivered)) return true;
    return false;
  }

  sendAttributeUpdate(deviceId: string, update: AttributeUpdate): void {
    const links = this.#links.get(deviceId);
    if (links === undefined) return;
    for (const link of [...links]) link.sendAttributeUpdate(update);
  }
}
