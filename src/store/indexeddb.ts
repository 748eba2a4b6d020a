import { SchemaMismatchError } from '../engine/failure.ts';
import { idbBacking } from './indexeddb/backing.ts';
import { openWeftDatabase } from './indexeddb/schema.ts';
import { type MirrorSnapshot, mirrorStore } from './mirror.ts';
import type { Store } from './types.ts';

export { SCHEMA_VERSION } from './indexeddb/version.ts';

/**
 * A {@link Store} in IndexedDB, through `idb`. Opening refuses (with `SchemaMismatchError`,
 * writing nothing) a database written by a newer weft or by another application. When another
 * tab upgrades the database, this connection closes and `onVersionChange` is called, so that
 * tab is not blocked; every later call fails with `SchemaMismatchError`.
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
  const db = await openWeftDatabase(factory as IDBFactory, name);
  const backing = idbBacking(db, `indexeddb:${name}`);
  let snapshot: MirrorSnapshot;
  try {
    snapshot = await backing.load();
  } catch (error) {
    db.close();
    throw error;
  }
  const store = mirrorStore(backing, snapshot);
  db.addEventListener('versionchange', (event) => {
    // What was written is flushed, then the connection closes and the upgrade goes on.
    const { newVersion } = event as IDBVersionChangeEvent;
    store.close(
      new SchemaMismatchError(
        `IndexedDB database "${name}" was ${newVersion === null ? 'deleted' : `upgraded to version ${newVersion}`} by another tab or worker; this engine stopped (reload to go on)`,
      ),
    );
    onVersionChange?.(newVersion);
  });
  return store;
}
