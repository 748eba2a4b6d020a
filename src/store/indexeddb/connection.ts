/**
 * The connection a backing works through, and what happens when the browser closes it.
 */

import { type IDBPDatabase, unwrap } from 'idb';
import { StorageLostError } from '../../engine/failure.ts';
import type { WeftDB } from './schema.ts';

/**
 * A connection to weft's database that outlives the browser closing it. The browser closes a
 * connection abnormally (IndexedDB's `close` event) when the site's data is cleared (settings,
 * DevTools, `Clear-Site-Data`), when its disk fails, or from `chrome://indexeddb-internals`;
 * the transactions in flight abort. The database is then opened again, never created: if it is
 * gone, or is no longer the one this connection knew (cleared and made again), it is lost, and
 * `lost` says so. Otherwise what was in flight runs again (see {@link Connection.run}): a
 * flush's commit is tried again as it was, and refused if it had gone in after all, as every
 * commit built on a version that moved on.
 */
export class Connection {
  db: IDBPDatabase<WeftDB>;
  /** The same connection unwrapped, for requests issued raw. */
  raw: IDBDatabase;
  /** The database's `meta.id` once known (undefined: a database made before it had one). */
  id: unknown;
  identified = false;
  /**
   * The newest version this connection knew to be durable. The log always keeps its newest
   * entry, whose key is the version: a database whose log ends below it was cleared.
   */
  version = 0;
  #reopening: Promise<void> | undefined;
  #lost: Error | undefined;
  #closing = false;

  constructor(
    db: IDBPDatabase<WeftDB>,
    private readonly options: {
      name: string;
      /** Opens the database as it is, refusing (with `StorageLostError`) to create it. */
      reopen(): Promise<IDBPDatabase<WeftDB>>;
      versionChange(newVersion: number | null): void;
      lost(error: Error): void;
    },
  ) {
    this.db = db;
    this.raw = unwrap(db);
    this.#attach(db);
  }

  /**
   * Runs `op` on the connection. If the browser closed the connection under it, `op` runs once
   * more on the reopened one; if the database is lost, the promise rejects with the reason.
   */
  run<T>(op: () => Promise<T>): Promise<T> {
    if (this.#lost) return Promise.reject(this.#lost);
    if (this.#reopening) return this.#reopening.then(() => this.run(op));
    let result: Promise<T>;
    try {
      result = op();
    } catch (error) {
      result = Promise.reject(error);
    }
    return result.catch((error: unknown) => {
      if (this.#closing || this.#lost || !this.#closedUnder()) throw error;
      return this.reopen().then(() => this.run(op));
    });
  }

  /** Opens the database again after the browser closed it (once, however many ask). */
  reopen(): Promise<void> {
    this.#reopening ??= this.#reopen().then(
      () => {
        this.#reopening = undefined;
      },
      (error: unknown) => {
        this.#reopening = undefined;
        const lost =
          error instanceof StorageLostError
            ? error
            : new StorageLostError(
                `IndexedDB database "${this.options.name}" was closed by the browser and could not be opened again (${error instanceof Error ? error.message : String(error)}); this engine stopped`,
                { cause: error },
              );
        this.#lost = lost;
        this.options.lost(lost);
        throw lost;
      },
    );
    return this.#reopening;
  }

  /** Closed by its owner: no reopening from now on. */
  close(): void {
    this.#closing = true;
    this.db.close();
  }

  async #reopen(): Promise<void> {
    const db = await this.options.reopen();
    const tx = db.transaction(['meta', 'log'], 'readonly');
    const [id, newest] = await Promise.all([
      tx.objectStore('meta').get('id'),
      tx.objectStore('log').openKeyCursor(null, 'prev'),
    ]);
    if (id !== this.id || (newest?.key ?? 0) < this.version) {
      db.close();
      throw new StorageLostError(
        `IndexedDB database "${this.options.name}" was cleared while this engine had it open (its data is gone); this engine stopped, and did not start afresh on the empty database`,
      );
    }
    // Our own close in the meantime wins: the new connection is not wanted.
    if (this.#closing) {
      db.close();
      return;
    }
    this.#attach(db);
    this.db = db;
    this.raw = unwrap(db);
  }

  #attach(db: IDBPDatabase<WeftDB>): void {
    db.addEventListener('versionchange', (event) =>
      this.options.versionChange((event as IDBVersionChangeEvent).newVersion),
    );
    db.addEventListener('close', () => {
      // Reopened at once, not at the next request: a database that is gone is said to be gone
      // now, to pages that may be waiting.
      if (!this.#closing && db === this.db) void this.reopen().catch(() => undefined);
    });
  }

  /**
   * Whether the connection is closed (or closing) though its owner did not close it. A forced
   * close marks the connection closing before it aborts what is in flight, so a request that
   * failed because of it finds `transaction()` refused here.
   */
  #closedUnder(): boolean {
    try {
      this.raw.transaction('meta').abort();
      return false;
    } catch {
      return true;
    }
  }
}
