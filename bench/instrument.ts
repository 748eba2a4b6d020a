/**
 * Counts what the engine asks of IndexedDB, without touching the engine: wraps
 * `IDBDatabase.prototype.transaction` and the object stores' writes. The bench worker calls
 * {@link instrumentIndexedDb} before it starts the engine (an explicit call: the package is
 * `sideEffects: false`, so a bare `import './instrument.ts'` would be dropped from the bundle).
 * It answers `{ benchReq: 'stats' | 'reset', benchId }` messages with `{ benchRes: benchId, value }`
 * (Comlink ignores both: they carry no Comlink `id`/`type`).
 */

import type { Counters } from './scenarios.ts';

export type { Counters };

export const counters: Counters = {
  readwrite: 0,
  committed: 0,
  aborted: 0,
  readonly: 0,
  records: 0,
  reads: 0,
  byStore: {},
};

function tally(store: string, kind: string): void {
  const entry = counters.byStore[store] ?? {};
  counters.byStore[store] = entry;
  entry[kind] = (entry[kind] ?? 0) + 1;
}

let installed = false;

export function instrumentIndexedDb(): void {
  if (installed) return;
  installed = true;
  const transaction = IDBDatabase.prototype.transaction;
  IDBDatabase.prototype.transaction = function (
    this: IDBDatabase,
    ...args: Parameters<IDBDatabase['transaction']>
  ): IDBTransaction {
    const tx = transaction.apply(this, args);
    if (args[1] === 'readwrite') {
      counters.readwrite++;
      tx.addEventListener('complete', () => counters.committed++);
      tx.addEventListener('abort', () => counters.aborted++);
    } else {
      counters.readonly++;
    }
    return tx;
  };

  for (const method of ['put', 'add', 'delete'] as const) {
    const original = IDBObjectStore.prototype[method] as (...a: unknown[]) => IDBRequest;
    Object.defineProperty(IDBObjectStore.prototype, method, {
      configurable: true,
      writable: true,
      value(this: IDBObjectStore, ...args: unknown[]): IDBRequest {
        counters.records++;
        tally(this.name, method);
        return original.apply(this, args);
      },
    });
  }

  const READS = ['get', 'getAll', 'getAllKeys', 'getKey', 'count', 'openCursor', 'openKeyCursor'] as const;
  for (const proto of [IDBObjectStore.prototype, IDBIndex.prototype]) {
    for (const method of READS) {
      const original = (proto as unknown as Record<string, (...a: unknown[]) => IDBRequest>)[method];
      if (typeof original !== 'function') continue;
      Object.defineProperty(proto, method, {
        configurable: true,
        writable: true,
        value(this: IDBObjectStore | IDBIndex, ...args: unknown[]): IDBRequest {
          counters.reads++;
          tally(this instanceof IDBIndex ? this.objectStore.name : this.name, 'read');
          return original.apply(this, args);
        },
      });
    }
  }

  globalThis.addEventListener('message', (event: MessageEvent) => {
    const data = event.data as { benchReq?: string; benchId?: number } | null;
    if (!data || typeof data.benchReq !== 'string') return;
    if (data.benchReq === 'reset') {
      Object.assign(counters, { readwrite: 0, committed: 0, aborted: 0, readonly: 0, records: 0, reads: 0 });
      counters.byStore = {};
    }
    (globalThis as unknown as { postMessage(m: unknown): void }).postMessage({
      benchRes: data.benchId,
      value: { ...counters },
    });
  });
}
