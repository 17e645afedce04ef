/**
 * The retained-message index: one value per Topic Name, found by Topic Filter when a subscription arrives
 * (3.1.1 [MQTT-3.3.1-6], 5.0 [MQTT-3.3.1-9]), without scanning every retained topic when the filter is mostly literal.
 */
import { isValidTopicName } from './topic-validation.js';

const DOLLAR = 0x24; // '$'
const HAS_NO_VALUE: unique symbol = Symbol('no retained value');

/** One Topic Name level; holds a value when a retained message's Topic Name ends here. */
class TopicNode<T> {
  readonly parent: TopicNode<T> | undefined;
  readonly level: string;
  children: Map<string, TopicNode<T>> | undefined = undefined;
  // A sentinel rather than `T | undefined`, so a retained `undefined` (if T allows it) is still a value.
  value: T | typeof HAS_NO_VALUE = HAS_NO_VALUE;

  constructor(parent: TopicNode<T> | undefined, level: string) {
    this.parent = parent;
    this.level = level;
  }
}

/**
 * Retained messages by Topic Name (MQTT §3.3.1.3). `get`/`set`/`delete` are one `Map` lookup; `matchFilter` walks
 * a level trie, so `dev/42/#` visits only the `dev/42` subtree and a literal filter visits one path.
 * Deciding when to delete (an empty retained payload, §3.3.1.3; message expiry) is the broker's job.
 */
export class RetainedIndex<T> {
  readonly #root = new TopicNode<T>(undefined, '');
  /** Topic Name → its node (always holding a value); gives O(1) get/set and insertion-ordered iteration. */
  readonly #nodesByTopic = new Map<string, TopicNode<T>>();
  // Scratch stacks for matchFilter, reused: it is synchronous and never calls out, so it cannot re-enter.
  #nodeCount = 1;
  readonly #stackNodes: (TopicNode<T> | undefined)[] = [];
  readonly #stackDepths: number[] = [];

  /** Number of retained topics. */
  get size(): number {
    return this.#nodesByTopic.size;
  }

  /** Number of trie nodes, root included: 1 when empty. Exposed for memory metrics and the pruning tests. */
  get nodeCount(): number {
    return this.#nodeCount;
  }

  /** The value retained for exactly `topicName`, if any. */
  get(topicName: string): T | undefined {
    const node = this.#nodesByTopic.get(topicName);
    return node === undefined || node.value === HAS_NO_VALUE ? undefined : node.value;
  }

  /** True when a value is retained for exactly `topicName`. */
  has(topicName: string): boolean {
    return this.#nodesByTopic.has(topicName);
  }

  /**
   * Retains `value` for `topicName`, replacing the previous one [MQTT-3.3.1-5]. Throws a `TypeError` when
   * `topicName` is not a valid Topic Name (a wildcard stored as a level would never be found).
   */
  set(topicName: string, value: T): void {
    const existing = this.#nodesByTopic.get(topicName);
    if (existing !== undefined) {
      // The common IoT case: a device re-publishing its retained state; no trie walk.
      existing.value = value;
      return;
    }
    if (!isValidTopicName(topicName)) throw new TypeError(`invalid topic name: ${JSON.stringify(topicName)}`);
    let node = this.#root;
    let start = 0;
    for (;;) {
      const end = topicName.indexOf('/', start);
      const level = end === -1 ? topicName.slice(start) : topicName.slice(start, end);
      node.children ??= new Map();
      let child = node.children.get(level);
      if (child === undefined) {
        child = new TopicNode(node, level);
        node.children.set(level, child);
        this.#nodeCount++;
      }
      node = child;
      if (end === -1) break;
      start = end + 1;
    }
    node.value = value;
    this.#nodesByTopic.set(topicName, node);
  }

  /** Forgets the value retained for `topicName`; true when there was one. Empty nodes are unlinked. */
  delete(topicName: string): boolean {
    const node = this.#nodesByTopic.get(topicName);
    if (node === undefined) return false;
    this.#nodesByTopic.delete(topicName);
    node.value = HAS_NO_VALUE;
    let current = node;
    while (current.value === HAS_NO_VALUE && current.children === undefined && current.parent !== undefined) {
      const parent: TopicNode<T> = current.parent;
      parent.children!.delete(current.level);
      if (parent.children!.size === 0) parent.children = undefined;
      this.#nodeCount--;
      current = parent;
    }
    return true;
  }

  /**
   * Appends to `out` every retained value whose Topic Name matches `topicFilter` and returns how many were
   * appended (`out` is not cleared; order is unspecified). `topicFilter` must already be valid and not a
   * `$share/...` filter (a new shared subscription gets no retained messages, 5.0 §4.8.2).
   *
   * Same rules as `SubscriptionTrie.match`, seen from the filter side: `+` matches one level, empty included;
   * `#` matches the parent level and everything below [MQTT-4.7.1-2]; a wildcard first level does not match Topic
   * Names starting with `$` [MQTT-4.7.2-1].
   */
  matchFilter(topicFilter: string, out: T[]): number {
    const countBefore = out.length;
    const levels = topicFilter.split('/');
    const levelCount = levels.length;
    const nodes = this.#stackNodes;
    const depths = this.#stackDepths;
    nodes[0] = this.#root;
    depths[0] = 0;
    let top = 1;

    while (top > 0) {
      const node = nodes[--top]!;
      nodes[top] = undefined; // do not keep a deleted node alive through the scratch stack
      const depth = depths[top]!;
      if (depth === levelCount) {
        if (node.value !== HAS_NO_VALUE) out.push(node.value);
        continue;
      }
      const level = levels[depth]!;
      const children = node.children;
      if (level === '#') {
        // [MQTT-4.7.1-2] the parent level itself matches ("sport/#" matches "sport"); the root holds no value.
        // Children are pushed at the same depth, so each of them meets this '#' again and the walk covers the
        // whole subtree.
        if (node.value !== HAS_NO_VALUE) out.push(node.value);
        if (children !== undefined) top = pushChildren(children, node === this.#root, nodes, depths, top, depth);
        continue;
      }
      if (children === undefined) continue;
      if (level === '+') {
        top = pushChildren(children, node === this.#root, nodes, depths, top, depth + 1);
      } else {
        const child = children.get(level);
        if (child !== undefined) {
          nodes[top] = child;
          depths[top++] = depth + 1;
        }
      }
    }
    return out.length - countBefore;
  }

  /** Every retained `[topicName, value]`, in insertion order; for persistence and `$SYS` statistics. */
  *entries(): IterableIterator<[topicName: string, value: T]> {
    for (const [topicName, node] of this.#nodesByTopic) {
      if (node.value !== HAS_NO_VALUE) yield [topicName, node.value];
    }
  }
}

/**
 * Pushes every child of a node onto the walk stack at `nextDepth`; at the root, skips levels starting with `$`
 * because a wildcard first level must not match them [MQTT-4.7.2-1]. Returns the new stack top.
 */
function pushChildren<T>(
  children: Map<string, TopicNode<T>>,
  isRoot: boolean,
  nodes: (TopicNode<T> | undefined)[],
  depths: number[],
  top: number,
  nextDepth: number,
): number {
  for (const child of children.values()) {
    if (isRoot && child.level.charCodeAt(0) === DOLLAR) continue;
    nodes[top] = child;
    depths[top++] = nextDepth;
  }
  return top;
}
