// idb recognises IndexedDB objects with `instanceof IDBRequest` and friends, so Node needs
// fake-indexeddb's classes as globals; each store still gets its own factory below.
import 'fake-indexeddb/auto';
import { IDBFactory } from 'fake-indexeddb';
import { describe, expect, it, vi } from 'vitest';
import { SchemaMismatchError } from '../../src/engine/failure.ts';
import { indexedDbStore, memoryStore, SCHEMA_VERSION } from '../../src/store/index.ts';
import { makeEvents, makeExecution, storeContract } from './store-contract.ts';

storeContract('memoryStore', async () => memoryStore());
storeContract('indexedDbStore (fake-indexeddb)', () =>
  indexedDbStore({ name: 'weft-test', indexedDB: new IDBFactory() }),
);

/** Opens a database without weft, creating stores in `upgrade` when given. */
function rawOpen(
  factory: IDBFactory,
  name: string,
  version?: number,
  upgrade?: (db: IDBDatabase, tx: IDBTransaction) => void,
): Promise<IDBDatabase> {
  return new Promise((resolve, reject) => {
    const request = factory.open(name, version);
    request.onupgradeneeded = () => upgrade?.(request.result, request.transaction!);
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
}

function rawGetAll(db: IDBDatabase, storeName: string): Promise<unknown[]> {
  return new Promise((resolve, reject) => {
    const request = db.transaction(storeName).objectStore(storeName).getAll();
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
}

function rawGet(db: IDBDatabase, storeName: string, key: IDBValidKey): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const request = db.transaction(storeName).objectStore(storeName).get(key);
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
}

describe('memoryStore', () => {
  it('is named after its option', () => {
    expect(memoryStore().name).toBe('memory');
    expect(memoryStore({ name: 'tests' }).name).toBe('memory:tests');
  });

  it('refuses transactions once closed', async () => {
    const store = memoryStore();
    store.close();
    await expect(store.read(async () => 1)).rejects.toThrow();
  });
});

describe('indexedDbStore', () => {
  it('is named after its database', async () => {
    const store = await indexedDbStore({ name: 'weft', indexedDB: new IDBFactory() });
    expect(store.name).toBe('indexeddb:weft');
    store.close();
  });

  it('creates the schema and marks the database as weft’s', async () => {
    const factory = new IDBFactory();
    (await indexedDbStore({ name: 'weft', indexedDB: factory })).close();
    const db = await rawOpen(factory, 'weft');
    expect(db.version).toBe(SCHEMA_VERSION);
    expect([...db.objectStoreNames].sort()).toEqual(
      [
        'activityTasks',
        'executions',
        'history',
        'hosts',
        'inbox',
        'meta',
        'timers',
        'workflowIds',
        'workflowTasks',
      ].sort(),
    );
    expect(await rawGet(db, 'meta', 'schema')).toEqual({ app: 'weft', version: SCHEMA_VERSION });
    db.close();
  });

  it('keeps data when the same database is opened again', async () => {
    const factory = new IDBFactory();
    const first = await indexedDbStore({ name: 'weft', indexedDB: factory });
    await first.write(async (tx) => {
      tx.executions.put(makeExecution({ runId: 'r1' }));
      tx.history.append('r1', makeEvents(1, 3));
      tx.inbox.add({ runId: 'r1', time: 1, kind: 'timerFired', seq: 1 });
    });
    first.close();

    const second = await indexedDbStore({ name: 'weft', indexedDB: factory });
    expect(await second.read((tx) => tx.executions.get('r1'))).toEqual(makeExecution({ runId: 'r1' }));
    expect(await second.read((tx) => tx.history.read('r1'))).toEqual(makeEvents(1, 3));
    expect(await second.read((tx) => tx.inbox.list('r1'))).toHaveLength(1);
    second.close();

    const other = await indexedDbStore({ name: 'weft-other', indexedDB: factory });
    expect(await other.read((tx) => tx.executions.list())).toEqual([]);
    other.close();
  });

  it('stores one record per history chunk and lets the key generator assign inbox ids', async () => {
    const factory = new IDBFactory();
    const store = await indexedDbStore({ name: 'weft', indexedDB: factory });
    await store.write(async (tx) => {
      tx.history.append('r1', makeEvents(1, 2));
      tx.history.append('r1', makeEvents(3, 3));
      tx.inbox.add({ runId: 'r1', time: 1, kind: 'timerFired', seq: 1 });
    });
    store.close();

    const db = await rawOpen(factory, 'weft');
    expect(await rawGetAll(db, 'history')).toEqual([
      { runId: 'r1', firstEventId: 1, events: makeEvents(1, 2) },
      { runId: 'r1', firstEventId: 3, events: makeEvents(3, 3) },
    ]);
    const [message] = await rawGetAll(db, 'inbox');
    expect(message).toEqual({ id: expect.any(Number), runId: 'r1', time: 1, kind: 'timerFired', seq: 1 });
    db.close();
  });

  it('refuses a database written by a newer weft and leaves it untouched', async () => {
    const factory = new IDBFactory();
    const created = await rawOpen(factory, 'weft', 99, (db) => {
      db.createObjectStore('meta').put({ app: 'weft', version: 99 }, 'schema');
      db.createObjectStore('somethingNew', { keyPath: 'id' }).put({ id: 1 });
    });
    created.close();

    const opening = indexedDbStore({ name: 'weft', indexedDB: factory });
    await expect(opening).rejects.toBeInstanceOf(SchemaMismatchError);
    await expect(opening).rejects.toThrow(`newer weft schema 99 vs supported ${SCHEMA_VERSION}`);

    const db = await rawOpen(factory, 'weft');
    expect(db.version).toBe(99);
    expect([...db.objectStoreNames].sort()).toEqual(['meta', 'somethingNew']);
    expect(await rawGet(db, 'meta', 'schema')).toEqual({ app: 'weft', version: 99 });
    expect(await rawGetAll(db, 'somethingNew')).toEqual([{ id: 1 }]);
    db.close();
  });

  it('refuses a newer database that is not weft’s as foreign', async () => {
    const factory = new IDBFactory();
    (await rawOpen(factory, 'app', 99, (db) => db.createObjectStore('foo'))).close();
    const opening = indexedDbStore({ name: 'app', indexedDB: factory });
    await expect(opening).rejects.toBeInstanceOf(SchemaMismatchError);
    await expect(opening).rejects.toThrow('not a weft database');
  });

  it('refuses a foreign database and writes nothing to it', async () => {
    const factory = new IDBFactory();
    (await rawOpen(factory, 'app', 1, (db) => db.createObjectStore('foo').put('bar', 'key'))).close();

    const opening = indexedDbStore({ name: 'app', indexedDB: factory });
    await expect(opening).rejects.toBeInstanceOf(SchemaMismatchError);
    await expect(opening).rejects.toThrow('not a weft database');

    const db = await rawOpen(factory, 'app');
    expect(db.version).toBe(1);
    expect([...db.objectStoreNames]).toEqual(['foo']);
    expect(await rawGetAll(db, 'foo')).toEqual(['bar']);
    db.close();
  });

  it('refuses a database whose meta record belongs to another application', async () => {
    const factory = new IDBFactory();
    const created = await rawOpen(factory, 'app', 1, (db) => {
      db.createObjectStore('meta').put({ app: 'other', version: 1 }, 'schema');
    });
    created.close();
    await expect(indexedDbStore({ name: 'app', indexedDB: factory })).rejects.toThrow(SchemaMismatchError);
  });

  it('closes and reports when another connection upgrades the database', async () => {
    const factory = new IDBFactory();
    const onVersionChange = vi.fn();
    const store = await indexedDbStore({ name: 'weft', indexedDB: factory, onVersionChange });

    // Would be blocked (and never succeed) if the store kept its connection open.
    const newer = await rawOpen(factory, 'weft', SCHEMA_VERSION + 1);
    expect(newer.version).toBe(SCHEMA_VERSION + 1);
    expect(onVersionChange).toHaveBeenCalledTimes(1);
    await expect(store.read(async () => 1)).rejects.toThrow();
    newer.close();
  });
});
