import { SchemaMismatchError, StorageLostError } from '../engine/failure.ts';
import { idbBacking } from './indexeddb/backing.ts';
import { Connection } from './indexeddb/connection.ts';
import { openWeftDatabase } from './indexeddb/schema.ts';
import { type MirrorSnapshot, mirrorStore } from './mirror.ts';
import type { Store } from './types.ts';

export { SCHEMA_VERSION } from './indexeddb/version.ts';

/**
 * A {@link Store} in IndexedDB, through `idb`. Opening refuses (with `SchemaMismatchError`,
 * writing nothing) a database written by a newer weft or by another application. When another
 * tab upgrades the database, this connection closes and `onVersionChange` is called, so that
 * tab is not blocked; every later call fails with `SchemaMismatchError`. When the database is
 * deleted or cleared under it, the store closes, reports `lost` (`onStatus`), and every later
 * call fails with `StorageLostError`; it never creates an empty database in its place. When the
 * browser closes the connection and the data survived, it reopens it and goes on.
 *
 * @example
 * const store = await indexedDbStore({ name: 'weft', onVersionChange: () => location.reload() });
 * // In Node: indexedDbStore({ name: 'test', indexedDB: new IDBFactory() }) with fake-indexeddb.
 */
export async function indexedDbStore(options: {
  name: string;
  /**
   * Default: the global `indexedDB`. Typed by shape (any `IDBFactory` fits), so that this
   * declaration needs no DOM types in a Node program.
   */
  indexedDB?: { open(name: string, version?: number): unknown; deleteDatabase(name: string): unknown };
  /** Another tab or worker upgrades the database (to `newVersion`; null when it deletes it). */
  onVersionChange?: (newVersion: number | null) => void;
}): Promise<Store> {
  const { name, indexedDB: factory = globalThis.indexedDB, onVersionChange } = options;
  let store: ReturnType<typeof mirrorStore> | undefined;
  /** The database is gone: the store closes, says so, and never creates an empty one. */
  const lost = (error: StorageLostError): void => {
    if (!store) return;
    store.close(error);
    store.report({ state: 'lost', message: error.message });
  };
  const conn = new Connection(await openWeftDatabase(factory as IDBFactory, name), {
    name,
    reopen: () => openWeftDatabase(factory as IDBFactory, name, { existing: true }),
    lost,
    versionChange(newVersion) {
      // What was written is flushed, then the connection closes and the upgrade goes on.
      if (newVersion === null) {
        lost(
          new StorageLostError(
            `IndexedDB database "${name}" was deleted by another tab or worker; this engine stopped (reload to start afresh)`,
          ),
        );
      } else {
        store?.close(
          new SchemaMismatchError(
            `IndexedDB database "${name}" was upgraded to version ${newVersion} by another tab or worker; this engine stopped (reload to go on)`,
          ),
        );
      }
      onVersionChange?.(newVersion);
    },
  });
  const backing = idbBacking(conn, `indexeddb:${name}`);
  let snapshot: MirrorSnapshot;
  try {
    snapshot = await backing.load();
  } catch (error) {
    conn.close();
    throw error;
  }
  store = mirrorStore(backing, snapshot);
  return store;
}
