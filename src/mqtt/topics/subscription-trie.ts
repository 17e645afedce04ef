/**
 * The subscription trie: Topic Filters keyed level by level, matched against the Topic Name of every PUBLISH.
 */
import { KeyedValues } from './keyed-values.js';
import { isValidTopicFilter } from './topic-validation.js';

const DOLLAR = 0x24; // '$'

/** One level of the trie. Wildcard children live in their own fields so matching never hashes `+` or `#`. */
class FilterNode<T> {
  readonly parent: FilterNode<T> | undefined;
  /** The level that leads here from `parent` (`+` for the `plus` child); used when pruning. */
  readonly level: string;
  /** Literal next levels; created on first use and dropped when empty, as most nodes are leaves. */
  children: Map<string, FilterNode<T>> | undefined = undefined;
  /** The `+` next level. */
  plus: FilterNode<T> | undefined = undefined;
  /** Subscriptions whose filter ends exactly here. */
  exact: KeyedValues<T> | undefined = undefined;
  /** Subscriptions whose filter is this node's path followed by `/#`. */
  multi: KeyedValues<T> | undefined = undefined;

  constructor(parent: FilterNode<T> | undefined, level: string) {
    this.parent = parent;
    this.level = level;
  }

  get isEmpty(): boolean {
    return (
      this.children === undefined && this.plus === undefined && this.exact === undefined && this.multi === undefined
    );
  }
}

/**
 * Topic Filters → values, keyed per subscriber, with a `match` that finds every value whose filter matches a
 * Topic Name (MQTT §4.7). A key identifies one subscriber per filter (a client id, or a share group); when one
 * trie holds both, keep the two key spaces disjoint, since a client id may be any string, `$share/g` included.
 * A shared subscription must be split with `parseSharedSubscription` before it is added, or its `$share/...`
 * filter would be matched literally.
 */
export class SubscriptionTrie<T> {
  readonly #root = new FilterNode<T>(undefined, '');
  #size = 0;
  #nodeCount = 1;
  // Scratch space for `match`, reused across calls: match is synchronous and never calls out, so it cannot re-enter.
  readonly #stackNodes: (FilterNode<T> | undefined)[] = [];
  readonly #stackStarts: number[] = [];

  /** Number of (filter, key) subscriptions held. */
  get size(): number {
    return this.#size;
  }

  /** Number of trie nodes, root included: 1 when empty. Exposed for memory metrics and the pruning tests. */
  get nodeCount(): number {
    return this.#nodeCount;
  }

  /**
   * Subscribes `key` to `topicFilter` with `value`; replaces the value when `key` already holds this filter
   * [MQTT-3.8.4-3]. Returns true when the subscription is new (the broker needs this for Retain Handling 1).
   * Throws a `TypeError` when `topicFilter` is not a valid Topic Filter.
   */
  add(topicFilter: string, key: string, value: T): boolean {
    if (!isValidTopicFilter(topicFilter)) throw new TypeError(`invalid topic filter: ${JSON.stringify(topicFilter)}`);
    let node = this.#root;
    let start = 0;
    for (;;) {
      const end = topicFilter.indexOf('/', start);
      const level = end === -1 ? topicFilter.slice(start) : topicFilter.slice(start, end);
      if (level === '#') {
        // '#' is always last [MQTT-4.7.1-2]; it is stored on its parent so "sport/#" also matches "sport".
        node.multi ??= new KeyedValues<T>();
        return this.#counted(node.multi.set(key, value));
      }
      node = level === '+' ? this.#plusChild(node) : this.#literalChild(node, level);
      if (end === -1) break;
      start = end + 1;
    }
    node.exact ??= new KeyedValues<T>();
    return this.#counted(node.exact.set(key, value));
  }

  /** True when `key` is subscribed to exactly `topicFilter` (no wildcard matching). */
  has(topicFilter: string, key: string): boolean {
    const found = this.#find(topicFilter);
    return found?.values?.has(key) ?? false;
  }

  /**
   * Unsubscribes `key` from exactly `topicFilter` and returns the value it held, or `undefined` when there was no
   * such subscription. Nodes left empty are unlinked so memory follows the live subscriptions, not the churn.
   */
  remove(topicFilter: string, key: string): T | undefined {
    const found = this.#find(topicFilter);
    const values = found?.values;
    if (found === undefined || values === undefined || !values.has(key)) return undefined;
    const value = values.get(key);
    values.delete(key);
    this.#size--;
    const node = found.node;
    if (values.size === 0) {
      if (found.isMulti) node.multi = undefined;
      else node.exact = undefined;
      this.#nodeCount -= prune(node);
    }
    return value;
  }

  /**
   * Appends to `out` the value of every subscription whose filter matches `topicName` and returns how many were
   * appended. `out` is not cleared, so the caller can reuse one array (`out.length = 0`) or gather several tries
   * into it. A subscriber with overlapping filters appears once per matching filter: de-duplicating at the highest
   * QoS is the caller's job [MQTT-3.3.4-2]. Order is unspecified. `topicName` must already be valid.
   *
   * Rules (§4.7): `+` matches exactly one level, empty levels included; `#` matches its parent level and any number
   * of child levels [MQTT-4.7.1-2]; a filter starting with a wildcard does not match a Topic Name starting with `$`
   * [MQTT-4.7.2-1]; levels compare case-sensitively.
   */
  match(topicName: string, out: T[]): number {
    const countBefore = out.length;
    const topicLength = topicName.length;
    const nodes = this.#stackNodes;
    const starts = this.#stackStarts;
    let top = 0;
    const root = this.#root;

    // Levels are sliced on demand instead of `split('/')`: a literal path allocates only the levels it looks up,
    // which measured about 30 % faster on the bench workload (bench/topics-match.ts).
    let end = topicName.indexOf('/');
    if (end === -1) end = topicLength;
    // The root is handled here because the '$' rule [MQTT-4.7.2-1] only concerns wildcards in the first level.
    if (topicName.charCodeAt(0) !== DOLLAR) {
      if (root.multi !== undefined) appendAll(root.multi.values, out);
      if (root.plus !== undefined) {
        nodes[top] = root.plus;
        starts[top++] = end + 1;
      }
    }
    const first = root.children?.get(topicName.slice(0, end));
    if (first !== undefined) {
      nodes[top] = first;
      starts[top++] = end + 1;
    }

    // Iterative depth-first walk: a deep topic cannot overflow the call stack. Each entry is a node and the offset
    // of the topic level it must consume next; an offset past the end means every level has been consumed.
    while (top > 0) {
      const node = nodes[--top]!;
      nodes[top] = undefined; // do not keep a removed node alive through the scratch stack
      const start = starts[top]!;
      // [MQTT-4.7.1-2] "sport/#" matches "sport" and everything below it.
      if (node.multi !== undefined) appendAll(node.multi.values, out);
      if (start > topicLength) {
        if (node.exact !== undefined) appendAll(node.exact.values, out);
        continue;
      }
      if (node.plus === undefined && node.children === undefined) continue;
      end = topicName.indexOf('/', start);
      if (end === -1) end = topicLength;
      if (node.plus !== undefined) {
        nodes[top] = node.plus;
        starts[top++] = end + 1;
      }
      if (node.children !== undefined) {
        const child = node.children.get(topicName.slice(start, end));
        if (child !== undefined) {
          nodes[top] = child;
          starts[top++] = end + 1;
        }
      }
    }
    return out.length - countBefore;
  }

  #plusChild(node: FilterNode<T>): FilterNode<T> {
    if (node.plus === undefined) {
      node.plus = new FilterNode(node, '+');
      this.#nodeCount++;
    }
    return node.plus;
  }

  #literalChild(node: FilterNode<T>, level: string): FilterNode<T> {
    node.children ??= new Map();
    let child = node.children.get(level);
    if (child === undefined) {
      child = new FilterNode(node, level);
      node.children.set(level, child);
      this.#nodeCount++;
    }
    return child;
  }

  #counted(isNew: boolean): boolean {
    if (isNew) this.#size++;
    return isNew;
  }

  /** The node and value set of exactly `topicFilter`, without creating anything. */
  #find(
    topicFilter: string,
  ): { node: FilterNode<T>; values: KeyedValues<T> | undefined; isMulti: boolean } | undefined {
    let node: FilterNode<T> | undefined = this.#root;
    let start = 0;
    for (;;) {
      const end = topicFilter.indexOf('/', start);
      const level = end === -1 ? topicFilter.slice(start) : topicFilter.slice(start, end);
      if (level === '#' && end === -1) return { node, values: node.multi, isMulti: true };
      node = level === '+' ? node.plus : node.children?.get(level);
      if (node === undefined) return undefined;
      if (end === -1) return { node, values: node.exact, isMulti: false };
      start = end + 1;
    }
  }
}

/** Unlinks `start` and then each ancestor that became empty, stopping at the root; returns how many were unlinked. */
function prune<T>(start: FilterNode<T>): number {
  let unlinked = 0;
  let node = start;
  while (node.isEmpty && node.parent !== undefined) {
    const parent: FilterNode<T> = node.parent;
    if (parent.plus === node) {
      parent.plus = undefined;
    } else if (parent.children !== undefined) {
      parent.children.delete(node.level);
      if (parent.children.size === 0) parent.children = undefined;
    }
    unlinked++;
    node = parent;
  }
  return unlinked;
}

function appendAll<T>(values: readonly T[], out: T[]): void {
  for (let i = 0; i < values.length; i++) out.push(values[i]!);
}
