/**
 * Persistence: one `Store` interface (transactions over executions, histories, inboxes,
 * tasks, timers and leases) with two implementations that pass the same contract suite:
 * `indexedDbStore` for the browser and `memoryStore` for tests, Node and edge runtimes.
 */

export { LeaseLostError, StoreConflictError } from './errors.ts';
export { indexedDbStore, SCHEMA_VERSION } from './indexeddb.ts';
export { memoryStore } from './memory.ts';
export type * from './types.ts';
export { ENGINE_LEASE } from './types.ts';
