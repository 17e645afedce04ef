/**
 * A small keyed collection with O(1) set / delete and allocation-free iteration, used for the values held by one
 * trie node. Internal to `mqtt/topics`; not exported from the module.
 */

/**
 * Values by key, stored densely so `match` can copy them out with a plain `for` loop (a `Map` iterator costs an
 * object per node visited). Deletion swaps the last entry into the hole, so order is not stable.
 */
export class KeyedValues<T> {
  readonly #indexByKey = new Map<string, number>();
  readonly #keys: string[] = [];
  /** Read directly by the tries' match loops; never written outside this class. */
  readonly values: T[] = [];

  /** Number of entries. */
  get size(): number {
    return this.values.length;
  }

  /** The value stored under `key`, if any. */
  get(key: string): T | undefined {
    const index = this.#indexByKey.get(key);
    return index === undefined ? undefined : this.values[index];
  }

  /** True when `key` has a value. */
  has(key: string): boolean {
    return this.#indexByKey.has(key);
  }

  /** Stores `value` under `key`, replacing any previous value; true when the key was new. */
  set(key: string, value: T): boolean {
    const index = this.#indexByKey.get(key);
    if (index !== undefined) {
      this.values[index] = value;
      return false;
    }
    this.#indexByKey.set(key, this.values.length);
    this.#keys.push(key);
    this.values.push(value);
    return true;
  }

  /** Removes `key`; true when it was present. */
  delete(key: string): boolean {
    const index = this.#indexByKey.get(key);
    if (index === undefined) return false;
    const lastIndex = this.values.length - 1;
    if (index !== lastIndex) {
      // Swap-remove keeps the arrays dense without shifting.
      const lastKey = this.#keys[lastIndex]!;
      this.#keys[index] = lastKey;
      this.values[index] = this.values[lastIndex]!;
      this.#indexByKey.set(lastKey, index);
    }
    this.#keys.pop();
    this.values.pop();
    this.#indexByKey.delete(key);
    return true;
  }
}
