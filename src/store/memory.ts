import { checkFence, createTables, rollback, type TxState, tablesTx } from './tables.ts';
import type { Fence, Store, StoreTx } from './types.ts';

/**
 * An in-memory {@link Store}: plain Maps, for tests, Node and edge runtimes. It behaves like
 * the IndexedDB store: what it keeps and hands out is never shared with the caller (uncloneable values throw a
 * `DataCloneError`), a failed write changes nothing, and transactions run one at a time.
 *
 * @example
 * const store = memoryStore();
 * await store.write(async (tx) => tx.leases.put({ name: ENGINE_LEASE, holder: 'tab-1', epoch: 1, expiresAt: 0 }));
 * await store.write(async (tx) => tx.executions.put(record), {
 *   fence: { name: ENGINE_LEASE, holder: 'tab-1', epoch: 1 },
 * });
 */
export function memoryStore(options: { name?: string } = {}): Store {
  const tables = createTables();
  const nextInboxId = { value: 1 };
  let closed = false;
  // Every transaction, read or write, runs alone, so a transaction sees a consistent state
  // and a write's undo log is never interleaved with another transaction's reads.
  let tail: Promise<unknown> = Promise.resolve();

  function run<T>(writable: boolean, fn: (tx: StoreTx) => Promise<T>, fence?: Fence): Promise<T> {
    const result = tail.then(async () => {
      if (closed) throw new DOMException('The store is closed.', 'InvalidStateError');
      const state: TxState = { writable, active: true, writes: [], failure: undefined };
      try {
        if (fence) checkFence(tables, fence);
        const value = await fn(tablesTx(tables, nextInboxId, state));
        if (state.failure) throw state.failure.error;
        return value;
      } catch (error) {
        rollback(state);
        throw error;
      } finally {
        state.active = false;
      }
    });
    tail = result.catch(() => undefined);
    return result;
  }

  return {
    name: options.name === undefined ? 'memory' : `memory:${options.name}`,
    read: (fn) => run(false, fn),
    write: (fn, options) => run(true, fn, options?.fence),
    // Every write is as durable as this store gets once it returns.
    flushed: () => Promise.resolve(),
    refresh: () => Promise.resolve(),
    onReload: () => () => undefined,
    close() {
      closed = true;
    },
  };
}
