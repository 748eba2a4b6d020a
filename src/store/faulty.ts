import type { Store, StoreTx } from './types.ts';

/**
 * One operation of a {@link Store}, as {@link faultyStore} shows it to its hooks: a store-level
 * call (`read`, `write`, `flushed`, `refresh`) or a call inside a transaction, named
 * `noun.method` (`executions.put`, `inbox.add`, `history.read`...).
 */
export interface StoreOperation {
  readonly name: string;
  /** The call's arguments (for `read` and `write`, the options only). A hook may change them. */
  readonly args: unknown[];
  /**
   * Inside a transaction: the transaction, as the wrapped store gave it (a hook may do more in
   * it). For `read` and `write`: their transaction, once it has begun (the same object), so that
   * `after` knows which operations were part of it.
   */
  tx?: StoreTx;
  /** Inside a transaction: whether it is a write transaction. */
  readonly writable?: boolean;
}

/** How an operation ended, as {@link StoreFaults.after} sees it. */
export type StoreOutcome = { ok: true; value: unknown } | { ok: false; error: unknown };

/**
 * Hooks around a store's operations, to inject faults in tests: errors (a quota, a closed
 * connection), delays, a process that dies at a chosen operation, or a store that misbehaves.
 */
export interface StoreFaults {
  /**
   * Called before each operation. Throw, and the operation fails with that error (inside a
   * transaction, the transaction then fails and writes nothing, even if the caller catches it).
   * Return a promise, and an asynchronous operation waits for it (one that never settles
   * holds the caller forever, as a process that died there). Return `'skip'`, and the
   * operation is not done: a write inside a transaction is dropped, a read answers undefined.
   * A transaction's synchronous writes (`put`, `add`, `delete`, `append`) cannot wait: a promise
   * returned for one is refused with a `TypeError`.
   */
  before?(op: StoreOperation): 'skip' | Promise<void> | undefined;
  /**
   * Called when a store-level operation (`read`, `write`, `flushed`, `refresh`) has ended, before
   * its caller hears of it. Throw to make it fail with that error; return a promise to hold the
   * answer until it settles (never: the caller is not told, as when a process dies between a
   * commit and what follows it).
   */
  after?(op: StoreOperation, outcome: StoreOutcome): Promise<void> | undefined;
  /**
   * Called before the store tells an `onReload` listener that it dropped unflushed writes;
   * return `'skip'` and that listener is not called.
   */
  reload?(): 'skip' | undefined;
}

/** A transaction's writes, which take effect when it commits and return nothing. */
const SYNC_METHODS = new Set(['put', 'add', 'delete', 'append']);

/**
 * Wraps `store` so that `faults` sees every operation, before it runs and, for store-level
 * calls, after it ended: the wrapped store behaves as `store` unless a hook says otherwise.
 *
 * @example
 * // A process that dies at its 10th operation: that one and every later one never answer.
 * let n = 0;
 * const never = new Promise<void>(() => undefined);
 * const store = faultyStore(memoryStore(), { before: () => (++n >= 10 ? never : undefined) });
 */
export function faultyStore(store: Store, faults: StoreFaults): Store {
  /** What a hook threw inside a transaction: the transaction fails with it. */
  type Failed = { error?: { thrown: unknown } };
  const wrapTx = (tx: StoreTx, writable: boolean, failed: Failed): StoreTx => {
    const before = (op: StoreOperation): 'skip' | Promise<void> | undefined => {
      try {
        return faults.before?.(op);
      } catch (error) {
        failed.error ??= { thrown: error };
        throw error;
      }
    };
    const wrapped: Record<string, Record<string, unknown>> = {};
    for (const [noun, methods] of Object.entries(tx) as [string, Record<string, unknown>][]) {
      const nounWrapped: Record<string, unknown> = {};
      for (const [method, fn] of Object.entries(methods)) {
        if (typeof fn !== 'function') continue;
        const name = `${noun}.${method}`;
        const call = (args: unknown[]): unknown => (fn as (...a: unknown[]) => unknown).apply(methods, args);
        nounWrapped[method] = SYNC_METHODS.has(method)
          ? (...args: unknown[]): unknown => {
              const action = before({ name, args, tx, writable });
              if (action === 'skip') return undefined;
              if (action !== undefined) throw new TypeError(`faultyStore: ${name} cannot wait`);
              return call(args);
            }
          : (...args: unknown[]): unknown => {
              let action: ReturnType<typeof before>;
              try {
                action = before({ name, args, tx, writable });
              } catch (error) {
                return Promise.reject(error);
              }
              if (action === 'skip') return Promise.resolve(undefined);
              // No hold: the operation runs now, as it would unwrapped (no extra turn).
              if (action === undefined) return call(args);
              return action.then(() => call(args));
            };
      }
      wrapped[noun] = nounWrapped;
    }
    return wrapped as unknown as StoreTx;
  };

  /** A store-level call with both hooks around it. */
  async function around<T>(
    name: string,
    args: unknown[],
    run: (op: StoreOperation) => Promise<T>,
  ): Promise<T> {
    const op: StoreOperation = { name, args };
    let outcome: StoreOutcome;
    try {
      const action = faults.before?.(op);
      if (action === 'skip') return undefined as T;
      if (action !== undefined) await action;
      outcome = { ok: true, value: await run(op) };
    } catch (error) {
      outcome = { ok: false, error };
    }
    const held = faults.after?.(op, outcome);
    if (held !== undefined) await held;
    if (!outcome.ok) throw outcome.error;
    return outcome.value as T;
  }

  /** Runs `fn` on the wrapped transaction; a hook's error inside it fails the transaction. */
  const inTx =
    <T>(fn: (tx: StoreTx) => Promise<T>, writable: boolean, op: StoreOperation) =>
    async (tx: StoreTx): Promise<T> => {
      op.tx = tx;
      const failed: Failed = {};
      const value = await fn(wrapTx(tx, writable, failed));
      if (failed.error) throw failed.error.thrown;
      return value;
    };

  return {
    name: `faulty:${store.name}`,
    read: (fn) => around('read', [], (op) => store.read(inTx(fn, false, op))),
    write: (fn, options) => around('write', [options], (op) => store.write(inTx(fn, true, op), options)),
    flushed: (options) => around('flushed', [options], () => store.flushed(options)),
    refresh: () => around('refresh', [], () => store.refresh()),
    onReload: (listener) =>
      store.onReload(() => {
        if (faults.reload?.() !== 'skip') listener();
      }),
    close: () => store.close(),
  };
}
