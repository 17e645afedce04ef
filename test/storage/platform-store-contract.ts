/**
 * The contract every `PlatformStore` implementation passes. Importing this file registers nothing: each
 * implementation's test file calls `runPlatformStoreContract`. Every test gets a new, empty store.
 */
import { describe } from 'node:test';
import type { PlatformStore } from '../../src/storage/index.js';
import { registerDeviceDataTests } from './platform-store-contract-data.js';
import { registerEntityTests } from './platform-store-contract-entities.js';
import { registerEventTests } from './platform-store-contract-events.js';
import { registerModuleTests } from './platform-store-contract-modules.js';

/** How the suite gets and disposes of stores of one implementation. */
export interface PlatformStoreFactory {
  /** A new, empty store. */
  create(): Promise<PlatformStore>;
  /** Closes the store and removes what it stored. */
  destroy(store: PlatformStore): Promise<void>;
}

/** Runs `body` with a new store and destroys it afterwards. */
export type WithStore = (body: (store: PlatformStore) => Promise<void>) => Promise<void>;

/**
 * Registers the contract tests for one implementation. With `skipReason`, the suite is reported as skipped with that
 * reason (never silently absent).
 */
export function runPlatformStoreContract(name: string, factory: PlatformStoreFactory, skipReason?: string): void {
  const withStore: WithStore = async (body) => {
    const store = await factory.create();
    try {
      await body(store);
    } finally {
      await factory.destroy(store);
    }
  };
  const options = skipReason === undefined ? {} : { skip: skipReason };
  describe(`PlatformStore contract: ${name}`, options, () => {
    registerEntityTests(withStore);
    registerDeviceDataTests(withStore);
    registerEventTests(withStore);
    registerModuleTests(withStore);
  });
}
