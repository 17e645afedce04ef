/**
 * A broker store in process memory: the semantics of the SQLite store, nothing survives a restart. For
 * `storage: memory` and tests. Everything kept or returned is a deep copy, so callers may mutate what they passed in
 * or got back.
 */
import type {
  BrokerSnapshot,
  BrokerStore,
  StoredDelivery,
  StoredMessage,
  StoredSession,
  StoredSubscription,
  StoreOp,
} from './broker-store.js';
import { copyDelivery, copyMessage, copySession, copySubscription } from './stored-copy.js';
import { checkStoreOp } from './store-op-checks.js';

/** A broker store in memory; nothing survives the process. */
export class MemoryBrokerStore implements BrokerStore {
  readonly kind = 'memory';
  readonly #sessions = new Map<string, StoredSession>();
  readonly #subscriptions = new Map<string, Map<string, StoredSubscription>>();
  readonly #deliveries = new Map<string, Map<number, StoredDelivery>>();
  readonly #incomingQos2 = new Map<string, Set<number>>();
  readonly #messages = new Map<number, StoredMessage>();
  readonly #retained = new Map<string, StoredMessage>();
  #maxMessageId = 0;
  #maxDeliverySeq = 0;
  #isClosed = false;

  load(): BrokerSnapshot {
    this.#checkOpen();
    const referenced = new Set<number>();
    for (const deliveries of this.#deliveries.values()) {
      for (const delivery of deliveries.values()) referenced.add(delivery.messageId);
    }
    for (const id of this.#messages.keys()) {
      if (!referenced.has(id)) this.#messages.delete(id);
    }
    return {
      sessions: sortedBy([...this.#sessions.values()].map(copySession), (session) => session.clientId),
      subscriptions: copyGroups(this.#subscriptions, (subscriptions) =>
        sortedBy([...subscriptions.values()].map(copySubscription), (subscription) => subscription.topicFilter),
      ),
      deliveries: copyGroups(this.#deliveries, (deliveries) =>
        [...deliveries.values()].sort((a, b) => a.seq - b.seq).map(copyDelivery),
      ),
      incomingQos2: copyGroups(this.#incomingQos2, (packetIds) => [...packetIds].sort((a, b) => a - b)),
      messages: new Map(
        [...this.#messages].sort(([a], [b]) => a - b).map(([id, message]) => [id, copyMessage(message)]),
      ),
      retained: sortedBy(
        [...this.#retained.values()].map((message) => copyMessage(message)),
        (m) => m.topicName,
      ),
      maxMessageId: this.#maxMessageId,
      maxDeliverySeq: this.#maxDeliverySeq,
    };
  }

  apply(ops: readonly StoreOp[]): void {
    this.#checkOpen();
    // Check the whole batch first: past this loop nothing can throw, so a batch applies entirely or not at all.
    for (let i = 0; i < ops.length; i++) checkStoreOp(ops[i]!);
    for (let i = 0; i < ops.length; i++) this.#applyOne(ops[i]!);
  }

  close(): Promise<void> {
    this.#isClosed = true;
    return Promise.resolve();
  }

  #applyOne(op: StoreOp): void {
    switch (op.op) {
      case 'putSession':
        this.#sessions.set(op.session.clientId, copySession(op.session));
        break;
      case 'deleteSession':
        this.#sessions.delete(op.clientId);
        this.#subscriptions.delete(op.clientId);
        this.#deliveries.delete(op.clientId);
        this.#incomingQos2.delete(op.clientId);
        break;
      case 'putSubscription':
        groupFor(this.#subscriptions, op.clientId, newMap).set(
          op.subscription.topicFilter,
          copySubscription(op.subscription),
        );
        break;
      case 'deleteSubscription':
        deleteFromGroup(this.#subscriptions, op.clientId, op.topicFilter);
        break;
      case 'putMessage':
        this.#messages.set(op.message.id, copyMessage(op.message));
        this.#maxMessageId = Math.max(this.#maxMessageId, op.message.id);
        break;
      case 'deleteMessage':
        this.#messages.delete(op.id);
        break;
      case 'putDelivery':
        groupFor(this.#deliveries, op.delivery.clientId, newMap).set(op.delivery.seq, copyDelivery(op.delivery));
        this.#maxDeliverySeq = Math.max(this.#maxDeliverySeq, op.delivery.seq);
        break;
      case 'deleteDelivery':
        deleteFromGroup(this.#deliveries, op.clientId, op.seq);
        break;
      case 'putIncomingQos2':
        groupFor(this.#incomingQos2, op.clientId, newSet).add(op.packetId);
        break;
      case 'deleteIncomingQos2':
        deleteFromGroup(this.#incomingQos2, op.clientId, op.packetId);
        break;
      case 'putRetained':
        // Stored under the op's topic name, like the SQLite row keyed by it.
        this.#retained.set(op.topicName, copyMessage(op.message, op.topicName));
        this.#maxMessageId = Math.max(this.#maxMessageId, op.message.id);
        break;
      case 'deleteRetained':
        this.#retained.delete(op.topicName);
        break;
    }
  }

  #checkOpen(): void {
    if (this.#isClosed) throw new Error('the memory broker store is closed');
  }
}

function newMap<K, V>(): Map<K, V> {
  return new Map();
}

function newSet<V>(): Set<V> {
  return new Set();
}

function groupFor<G>(groups: Map<string, G>, clientId: string, create: () => G): G {
  let group = groups.get(clientId);
  if (group === undefined) {
    group = create();
    groups.set(clientId, group);
  }
  return group;
}

/** Deletes one entry and drops the client's group once empty, so load never returns empty lists. */
function deleteFromGroup<K>(groups: Map<string, Map<K, unknown> | Set<K>>, clientId: string, key: K): void {
  const group = groups.get(clientId);
  if (group === undefined) return;
  group.delete(key);
  if (group.size === 0) groups.delete(clientId);
}

function copyGroups<G, V>(groups: Map<string, G>, copy: (group: G) => V[]): Map<string, V[]> {
  const copies = new Map<string, V[]>();
  for (const clientId of [...groups.keys()].sort(compareStrings)) copies.set(clientId, copy(groups.get(clientId)!));
  return copies;
}

function sortedBy<T>(items: T[], key: (item: T) => string): T[] {
  return items.sort((a, b) => compareStrings(key(a), key(b)));
}

function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
