import { MemoryBrokerStore } from '../../src/storage/index.js';
import { runBrokerStoreContract } from './broker-store-contract.js';

// No reopen: nothing survives a restart by design, so the durability cases are skipped with that reason.
runBrokerStoreContract('MemoryBrokerStore', () => new MemoryBrokerStore());
