/**
 * Drops the writes of a batch that a later write of the same batch makes pointless. A batch is one transaction, so
 * only its end state counts; with one batch in flight, the next one collects everything that happens during a
 * commit, and a QoS 1 message to an online persistent session is often stored, sent and acknowledged before it is
 * ever written: its putMessage, putDelivery and deleteDelivery/deleteMessage then shrink to one delete.
 *
 * The rules, each leaving the end state of every table unchanged:
 * - a put followed by another put or a delete of the same row is dropped: every put writes the whole row;
 * - a message put and deleted in the same batch is dropped entirely: message ids are never reused, so a message
 *   put in this batch had no row before it (its delete then has nothing to delete).
 * Deliveries, sessions and the rest keep their delete: an earlier batch may have written the row.
 */
import type { StoreOp } from '../storage/index.js';

/** The row an op writes, as a key unique across tables; undefined for ops that touch several rows. */
function rowKey(op: StoreOp): string | undefined {
  switch (op.op) {
    case 'putSession':
      return `s${op.session.clientId}`;
    case 'putSubscription':
      return `u${op.clientId}\u0000${op.subscription.topicFilter}`;
    case 'deleteSubscription':
      return `u${op.clientId}\u0000${op.topicFilter}`;
    case 'putDelivery':
      return `d${op.delivery.clientId}\u0000${String(op.delivery.seq)}`;
    case 'deleteDelivery':
      return `d${op.clientId}\u0000${String(op.seq)}`;
    case 'putIncomingQos2':
    case 'deleteIncomingQos2':
      return `q${op.clientId}\u0000${String(op.packetId)}`;
    case 'putRetained':
    case 'deleteRetained':
      return `r${op.topicName}`;
    default:
      // deleteSession removes several tables' rows: it is kept, and so is what comes before it.
      return undefined;
  }
}

function isPut(op: StoreOp): boolean {
  return op.op.startsWith('put');
}

/** The ops of `ops` that change the end state, in their order; `ops` itself when nothing can go. */
export function compactBatch(ops: StoreOp[]): StoreOp[] {
  if (ops.length < 2) return ops;
  /** Index of the last put of each row, while no later op of that row has been seen. */
  const lastPut = new Map<string, number>();
  const messagePuts = new Map<number, number>();
  let dropped: boolean[] | undefined;
  const drop = (index: number): void => {
    dropped ??= new Array<boolean>(ops.length).fill(false);
    dropped[index] = true;
  };
  for (let i = 0; i < ops.length; i++) {
    const op = ops[i]!;
    if (op.op === 'putMessage') {
      messagePuts.set(op.message.id, i);
      continue;
    }
    if (op.op === 'deleteMessage') {
      const put = messagePuts.get(op.id);
      if (put !== undefined) {
        drop(put);
        drop(i);
        messagePuts.delete(op.id);
      }
      continue;
    }
    const key = rowKey(op);
    if (key === undefined) continue;
    const earlier = lastPut.get(key);
    if (earlier !== undefined) drop(earlier);
    if (isPut(op)) lastPut.set(key, i);
    else lastPut.delete(key);
  }
  if (dropped === undefined) return ops;
  const kept: StoreOp[] = [];
  for (let i = 0; i < ops.length; i++) if (!dropped[i]) kept.push(ops[i]!);
  return kept;
}
