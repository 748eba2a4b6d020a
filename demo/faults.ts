/**
 * Storage faults for the tests (the engine worker loads this only under `?faults=1`; the unit
 * tests use it directly): an `IDBFactory` whose connections refuse writes while told to, as a
 * full disk does. Each read-write transaction is a real one that really aborts, so nothing of
 * it is written, and its `error` is a real `DOMException` named `QuotaExceededError`: what
 * Chromium reports when a commit goes over the quota. (Headless Chromium's DevTools quota
 * override does not make IndexedDB refuse a commit, so the tests cannot fill the disk for real.)
 */

/** What the factory's connections do now; change it at any time. */
export interface Faults {
  /** Refuse every read-write transaction, as a full disk does. */
  quota: boolean;
  /** How many transactions were refused so far (counted here). */
  refused?: number;
}

/** The channel a test page switches faults over: `{ db, quota }`, answered with `{ db, applied }`. */
export const FAULTS_CHANNEL = 'weft-test-faults';

/** `factory`, with its connections under `faults`. */
export function faultyIndexedDB(factory: IDBFactory, faults: Faults): IDBFactory {
  const connections = new WeakMap<IDBDatabase, IDBDatabase>();
  const connection = (db: IDBDatabase): IDBDatabase => {
    let wrapped = connections.get(db);
    if (!wrapped) {
      wrapped = forwarding(db, {
        transaction: (
          names: string | string[],
          mode?: IDBTransactionMode,
          options?: IDBTransactionOptions,
        ) => {
          const tx = db.transaction(names, mode, options);
          if (mode !== 'readwrite' || !faults.quota) return tx;
          faults.refused = (faults.refused ?? 0) + 1;
          return refused(tx);
        },
      });
      connections.set(db, wrapped);
    }
    return wrapped;
  };
  return forwarding(factory, {
    open: (name: string, version?: number) => {
      const request = factory.open(name, version);
      // The connection an open hands out (in `upgradeneeded` and `success`) is the wrapped one.
      return forwarding(request, {}, { result: () => connection(request.result) });
    },
  });
}

/**
 * A read-write transaction the database refuses: aborted once the caller has issued its
 * requests (in a microtask), so they fail and nothing is written, with a quota error as its error.
 */
function refused(tx: IDBTransaction): IDBTransaction {
  const error = new DOMException(
    'The quota has been exceeded (a fault the test injected).',
    'QuotaExceededError',
  );
  queueMicrotask(() => {
    try {
      tx.abort();
    } catch {
      // Finished already: nothing was asked of it.
    }
  });
  return forwarding(tx, {}, { error: () => error });
}

/** `target` with some methods and getters replaced; everything else is the target's own. */
function forwarding<T extends object>(
  target: T,
  methods: Record<string, (...args: never[]) => unknown>,
  getters: Record<string, () => unknown> = {},
): T {
  return new Proxy(target, {
    get(_, property) {
      if (typeof property === 'string') {
        if (property in methods) return methods[property];
        if (property in getters) return getters[property]!();
      }
      const value: unknown = Reflect.get(target, property, target);
      return typeof value === 'function' ? value.bind(target) : value;
    },
    set(_, property, value) {
      return Reflect.set(target, property, value, target);
    },
  });
}

/** Switches `faults` as the test pages ask over {@link FAULTS_CHANNEL}, for database `db`. */
export function listenForFaults(db: string, faults: Faults): void {
  const channel = new BroadcastChannel(FAULTS_CHANNEL);
  channel.addEventListener('message', (event: MessageEvent) => {
    const data = event.data as { db?: string; quota?: boolean } | undefined;
    if (data?.db !== db || typeof data.quota !== 'boolean') return;
    faults.quota = data.quota;
    channel.postMessage({ db, applied: { quota: faults.quota } });
  });
}
