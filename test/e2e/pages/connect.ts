/**
 * The page for the e2e tests of a client's connection to its worker: it starts nothing on its
 * own; `window.harness` makes pool workers (see pool.worker.ts) and connects to them when a
 * test says, and holds a database's stores when a test wants a worker's open to wait.
 */
import { connect, EngineGoneError } from '../../../src/client/index.ts';
import workerUrl from './pool.worker.ts?worker&url';

export interface Harness {
  connect: typeof connect;
  EngineGoneError: typeof EngineGoneError;
  /** A pool worker on database `db`, named `name`, serving the default queue. */
  worker(db: string, name?: string): Worker;
  /**
   * Opens `db` and holds a read-write transaction over all its stores, alive until `release`:
   * every other connection's transactions (a worker loading the database) wait behind it.
   */
  hold(db: string): Promise<{ release(): Promise<void> }>;
}

declare global {
  interface Window {
    harness?: Harness;
  }
}

window.harness = {
  connect,
  EngineGoneError,
  worker(db, name = 'w1') {
    const query = new URLSearchParams({ db, name, queues: 'default' });
    const url = `${workerUrl}${workerUrl.includes('?') ? '&' : '?'}${query}`;
    return new Worker(new URL(url, import.meta.url), { type: 'module', name });
  },
  async hold(name) {
    const db = await new Promise<IDBDatabase>((resolve, reject) => {
      const request = indexedDB.open(name);
      request.onsuccess = () => resolve(request.result);
      request.onerror = () => reject(request.error);
    });
    const tx = db.transaction([...db.objectStoreNames], 'readwrite');
    const store = tx.objectStore(db.objectStoreNames[0]!);
    let holding = true;
    // A transaction stays alive while it has requests: one after another until released.
    const keepAlive = (): void => {
      if (holding) store.count().onsuccess = keepAlive;
    };
    keepAlive();
    const done = new Promise<void>((resolve, reject) => {
      tx.oncomplete = () => resolve();
      tx.onerror = () => reject(tx.error);
    });
    return {
      release: async () => {
        holding = false;
        await done;
        db.close();
      },
    };
  },
};
