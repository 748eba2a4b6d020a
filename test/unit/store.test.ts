// idb recognises IndexedDB objects with `instanceof IDBRequest` and friends, so Node needs
// fake-indexeddb's classes as globals; each store still gets its own factory below.
import 'fake-indexeddb/auto';
import { IDBFactory } from 'fake-indexeddb';
import { describe, expect, it, vi } from 'vitest';
import { SchemaMismatchError } from '../../src/engine/failure.ts';
import {
  ENGINE_LEASE,
  type Fence,
  indexedDbStore,
  LeaseLostError,
  memoryStore,
  SCHEMA_VERSION,
  StoreConflictError,
} from '../../src/store/index.ts';
import { rawGet, rawGetAll, rawOpen } from './raw-idb.ts';
import { lease, makeEvents, makeExecution, storeContract } from './store-contract.ts';

storeContract('memoryStore', async () => memoryStore());
storeContract('indexedDbStore (fake-indexeddb)', () =>
  indexedDbStore({ name: 'weft-test', indexedDB: new IDBFactory() }),
);

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
        'inbox',
        'leases',
        'log',
        'meta',
        'packs',
        'timers',
        'workflowIds',
        'workflowTasks',
      ].sort(),
    );
    expect(await rawGet(db, 'meta', 'schema')).toEqual({ app: 'weft', version: SCHEMA_VERSION });
    // What visibility, open work and retention are read through.
    expect([...db.transaction('executions').objectStore('executions').indexNames].sort()).toEqual(
      ['parent', 'start', 'status', 'type', 'workflowId'].sort(),
    );
    const runs = db.transaction('packs').objectStore('packs').index('runs');
    expect([runs.keyPath, runs.multiEntry]).toEqual(['runs', true]);
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
    await first.flushed();
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

  it('writes a flush as one log record and its history as one pack, and folds the log into the stores when idle', async () => {
    const factory = new IDBFactory();
    const store = await indexedDbStore({ name: 'weft', indexedDB: factory });
    await store.write(async (tx) => {
      tx.history.append('r1', makeEvents(1, 2));
      tx.history.append('r1', makeEvents(3, 3));
      tx.history.append('r2', makeEvents(1, 1));
      tx.executions.put(makeExecution({ runId: 'r1' }));
      tx.inbox.add({ runId: 'r1', time: 1, kind: 'timerFired', seq: 1 });
    });
    await store.flushed();
    await store.write(async (tx) => tx.history.append('r1', makeEvents(4, 4)), { durable: true });
    const db = await rawOpen(factory, 'weft');
    const log = (await rawGetAll(db, 'log')) as { puts: unknown[] }[];
    expect(log.map((entry) => entry.puts.length)).toEqual([2, 0]);
    // One pack per flush, each run's events in it as one chunk.
    expect(await rawGetAll(db, 'packs')).toEqual([
      {
        runs: ['r1', 'r2'],
        chunks: [
          { runId: 'r1', firstEventId: 1, events: makeEvents(1, 3) },
          { runId: 'r2', firstEventId: 1, events: makeEvents(1, 1) },
        ],
      },
      { runs: ['r1'], chunks: [{ runId: 'r1', firstEventId: 4, events: makeEvents(4, 4) }] },
    ]);
    // The newest entry stays in the log: its key is the database's version.
    await vi.waitFor(async () => expect(await rawGetAll(db, 'log')).toHaveLength(1), { timeout: 5_000 });
    expect(await rawGetAll(db, 'executions')).toEqual([makeExecution({ runId: 'r1' })]);
    expect(await rawGet(db, 'meta', 'folded')).toBe(1);
    // The message is young open work, new since the last fold: carried, not yet stored.
    const message = { id: expect.any(Number), runId: 'r1', time: 1, kind: 'timerFired', seq: 1 };
    expect(await rawGetAll(db, 'inbox')).toEqual([]);
    expect(await rawGet(db, 'meta', 'carry')).toEqual({
      version: 1,
      nextInboxId: expect.any(Number),
      puts: [{ table: 'inbox', value: message, fresh: true }],
    });
    // Read at open, as the log is.
    const reader = await indexedDbStore({ name: 'weft', indexedDB: factory });
    expect(await reader.read((tx) => tx.inbox.list('r1'))).toEqual([message]);
    reader.close();
    // The next fold stores it: a record is carried once.
    await store.write(async (tx) => tx.history.append('r3', makeEvents(1, 1)), { durable: true });
    await vi.waitFor(async () => expect(await rawGet(db, 'meta', 'folded')).toBe(2), { timeout: 5_000 });
    expect(await rawGetAll(db, 'inbox')).toEqual([message]);
    expect(await rawGet(db, 'meta', 'carry')).toBeUndefined();
    db.close();
    // The store reads history from every pack, at any event.
    expect(await store.read((tx) => tx.history.read('r1', 2))).toEqual(makeEvents(2, 4));
    store.close();
    const again = await indexedDbStore({ name: 'weft', indexedDB: factory });
    expect(await again.read((tx) => tx.history.read('r1'))).toEqual(makeEvents(1, 4));
    expect(await again.read((tx) => tx.history.read('r2'))).toEqual(makeEvents(1, 1));
    again.close();
  });

  it('merges a long history spread over many packs into one chunk when it folds the log', async () => {
    const factory = new IDBFactory();
    const store = await indexedDbStore({ name: 'weft', indexedDB: factory });
    for (let i = 1; i <= 20; i++) {
      await store.write(async (tx) => tx.history.append('long', makeEvents(i * 2 - 1, i * 2)), {
        durable: true,
      });
    }
    await store.write(async (tx) => tx.history.append('short', makeEvents(1, 1)), { durable: true });
    const db = await rawOpen(factory, 'weft');
    expect(await rawGetAll(db, 'packs')).toHaveLength(21);
    await vi.waitFor(async () => expect(await rawGetAll(db, 'log')).toHaveLength(1), { timeout: 5_000 });
    // The long run's 20 packs became one chunk; the newest flush's pack (the short run's) stays.
    expect(await rawGetAll(db, 'history')).toEqual([
      { runId: 'long', firstEventId: 1, events: makeEvents(1, 40) },
    ]);
    expect(((await rawGetAll(db, 'packs')) as { runs: string[] }[]).map((p) => p.runs)).toEqual([['short']]);
    db.close();
    expect(await store.read((tx) => tx.history.read('long', 7))).toEqual(makeEvents(7, 40));
    store.close();
    const again = await indexedDbStore({ name: 'weft', indexedDB: factory });
    expect(await again.read((tx) => tx.history.read('long'))).toEqual(makeEvents(1, 40));
    expect(await again.read((tx) => tx.history.read('short'))).toEqual(makeEvents(1, 1));
    again.close();
  }, 20_000);

  it('upgrades a version 1 database in place to the current schema: its records stay, its indexes and hosts go', async () => {
    const factory = new IDBFactory();
    const v1 = await rawOpen(factory, 'weft', 1, (db, tx) => {
      db.createObjectStore('meta').put({ app: 'weft', version: 1 }, 'schema');
      const executions = db.createObjectStore('executions', { keyPath: 'runId' });
      executions.createIndex('status', 'status');
      executions.put(makeExecution({ runId: 'r1' }));
      db.createObjectStore('workflowIds', { keyPath: 'workflowId' });
      db.createObjectStore('history', { keyPath: ['runId', 'firstEventId'] }).put({
        runId: 'r1',
        firstEventId: 1,
        events: makeEvents(1, 2),
      });
      db.createObjectStore('inbox', { keyPath: 'id', autoIncrement: true }).createIndex('runId', 'runId');
      db.createObjectStore('workflowTasks', { keyPath: 'runId' });
      db.createObjectStore('activityTasks', { keyPath: ['runId', 'seq'] });
      db.createObjectStore('timers', { keyPath: ['runId', 'key'] });
      const hosts = db.createObjectStore('hosts', { keyPath: 'hostId' });
      hosts.createIndex('heartbeat', 'heartbeat');
      hosts.put({ hostId: 'tab-1', heartbeat: 5, taskQueues: [] });
      void tx;
    });
    v1.close();
    const store = await indexedDbStore({ name: 'weft', indexedDB: factory });
    expect(await store.read((tx) => tx.executions.get('r1'))).toEqual(makeExecution({ runId: 'r1' }));
    expect(await store.read((tx) => tx.history.read('r1'))).toEqual(makeEvents(1, 2));
    await store.write(async (tx) => tx.leases.put(lease(ENGINE_LEASE)), { durable: true });
    store.close();
    const db = await rawOpen(factory, 'weft');
    expect(db.version).toBe(4);
    expect(SCHEMA_VERSION).toBe(4);
    expect(await rawGet(db, 'meta', 'schema')).toEqual({ app: 'weft', version: 4 });
    // Version 1's indexes went; version 4's are there.
    expect(db.transaction('executions').objectStore('executions').index('status').keyPath).toEqual([
      'status',
      'startTime',
      'runId',
    ]);
    expect([...db.transaction('inbox').objectStore('inbox').indexNames]).toEqual([]);
    expect(db.objectStoreNames.contains('hosts')).toBe(false);
    expect(db.transaction('leases').objectStore('leases').keyPath).toBe('name');
    db.close();
  });

  it('upgrades a version 2 database in place: records in the stores and the log stay, the history of the log moves to packs, hosts go', async () => {
    const factory = new IDBFactory();
    // Version 2 as it was written: no indexes, a log, and a hosts store, here with a record
    // compacted into it and another still in the log.
    const v2 = await rawOpen(factory, 'weft', 2, (db) => {
      db.createObjectStore('meta').put({ app: 'weft', version: 2 }, 'schema');
      db.createObjectStore('executions', { keyPath: 'runId' }).put(makeExecution({ runId: 'r1' }));
      db.createObjectStore('workflowIds', { keyPath: 'workflowId' }).put({
        workflowId: 'wf-r1',
        runId: 'r1',
      });
      db.createObjectStore('history', { keyPath: ['runId', 'firstEventId'] }).put({
        runId: 'r1',
        firstEventId: 1,
        events: makeEvents(1, 2),
      });
      db.createObjectStore('inbox', { keyPath: 'id', autoIncrement: true });
      db.createObjectStore('workflowTasks', { keyPath: 'runId' });
      db.createObjectStore('activityTasks', { keyPath: ['runId', 'seq'] });
      db.createObjectStore('timers', { keyPath: ['runId', 'key'] });
      db.createObjectStore('hosts', { keyPath: 'hostId' }).put({
        hostId: 'tab-1',
        heartbeat: 1,
        taskQueues: [],
      });
      db.createObjectStore('log').put(
        {
          nextInboxId: 1,
          puts: [
            { table: 'executions', value: makeExecution({ runId: 'r2' }) },
            { table: 'hosts', value: { hostId: 'tab-2', heartbeat: 2, taskQueues: [] } },
          ],
          deletes: [{ table: 'hosts', key: 'tab-1' }],
          history: [{ runId: 'r2', firstEventId: 1, events: makeEvents(1, 1) }],
        },
        7,
      );
    });
    v2.close();

    const store = await indexedDbStore({ name: 'weft', indexedDB: factory });
    expect((await store.read((tx) => tx.executions.list())).map((e) => e.runId)).toEqual(['r1', 'r2']);
    expect(await store.read((tx) => tx.workflowIds.get('wf-r1'))).toEqual({
      workflowId: 'wf-r1',
      runId: 'r1',
    });
    expect(await store.read((tx) => tx.history.read('r1'))).toEqual(makeEvents(1, 2));
    expect(await store.read((tx) => tx.history.read('r2'))).toEqual(makeEvents(1, 1));
    expect(await store.read((tx) => tx.leases.get(ENGINE_LEASE))).toBeUndefined();
    // The version carries over (a write commits on top of entry 7), and compaction, which
    // folds entry 7 into the stores, finds no write to the dropped hosts store there.
    await store.write(async (tx) => tx.leases.put(lease(ENGINE_LEASE)), { durable: true });
    const db = await rawOpen(factory, 'weft');
    expect(db.version).toBe(4);
    expect(await rawGet(db, 'meta', 'schema')).toEqual({ app: 'weft', version: 4 });
    expect(db.objectStoreNames.contains('hosts')).toBe(false);
    // The log entry's history moved to a pack under its key.
    expect(await rawGet(db, 'packs', 7)).toEqual({
      runs: ['r2'],
      chunks: [{ runId: 'r2', firstEventId: 1, events: makeEvents(1, 1) }],
    });
    expect(db.objectStoreNames.contains('leases')).toBe(true);
    await vi.waitFor(async () => expect(await rawGetAll(db, 'log')).toHaveLength(1), { timeout: 5_000 });
    expect(await rawGet(db, 'log', 8)).toBeDefined();
    expect((await rawGetAll(db, 'executions')).length).toBe(2);
    db.close();
    store.close();

    const again = await indexedDbStore({ name: 'weft', indexedDB: factory });
    expect((await again.read((tx) => tx.executions.list())).map((e) => e.runId)).toEqual(['r1', 'r2']);
    expect(await again.read((tx) => tx.leases.get(ENGINE_LEASE))).toEqual(lease(ENGINE_LEASE));
    again.close();
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
    expect(onVersionChange).toHaveBeenCalledExactlyOnceWith(SCHEMA_VERSION + 1);
    // Later calls say why, rather than hang or fail vaguely.
    await expect(store.read(async () => 1)).rejects.toThrow(SchemaMismatchError);
    await expect(store.write(async () => 1)).rejects.toThrow(
      `IndexedDB database "weft" was upgraded to version ${SCHEMA_VERSION + 1} by another tab or worker`,
    );
    newer.close();
  });
});

describe('indexedDbStore writes behind from memory', () => {
  const task = (runId: string, scheduledTime = 0) => ({
    runId,
    workflowId: `wf-${runId}`,
    taskQueue: 'default',
    scheduledTime,
  });

  it('a durable write is in the database when it resolves', async () => {
    const factory = new IDBFactory();
    const store = await indexedDbStore({ name: 'weft', indexedDB: factory });
    await store.write(async (tx) => tx.executions.put(makeExecution({ runId: 'r1' })), { durable: true });
    // Another connection loads it, from the log or the stores.
    const other = await indexedDbStore({ name: 'weft', indexedDB: factory });
    expect(await other.read((tx) => tx.executions.get('r1'))).toEqual(makeExecution({ runId: 'r1' }));
    other.close();
    store.close();
  });

  it('writes the last value of a record once, and nothing for one created and deleted between flushes', async () => {
    const factory = new IDBFactory();
    const store = await indexedDbStore({ name: 'weft', indexedDB: factory });
    // Held in one flush: the first write starts a flush, the rest wait for the next one.
    await store.write(async (tx) => tx.workflowTasks.put(task('first')));
    const writes = [
      store.write(async (tx) => tx.workflowTasks.put(task('a', 1))),
      store.write(async (tx) => tx.workflowTasks.put(task('a', 2))),
      store.write(async (tx) => tx.workflowTasks.put(task('gone'))),
      store.write(async (tx) => tx.workflowTasks.delete('gone')),
      store.write(async (tx) => tx.inbox.add({ runId: 'r1', time: 1, kind: 'timerFired', seq: 1 })),
    ];
    await Promise.all(writes);
    const [message] = await store.read((tx) => tx.inbox.list('r1'));
    await store.write(async (tx) => tx.inbox.delete(message!.id), { durable: true });
    const db = await rawOpen(factory, 'weft');
    const log = (await rawGetAll(db, 'log')) as { puts: unknown[]; deletes: unknown[] }[];
    // `fresh`: the database held nothing under the key, so a later delete folds to nothing.
    expect(log.flatMap((entry) => entry.puts)).toEqual([
      { table: 'workflowTasks', value: task('first'), fresh: true },
      { table: 'workflowTasks', value: task('a', 2), fresh: true },
    ]);
    expect(log.flatMap((entry) => entry.deletes)).toEqual([]);
    db.close();
    store.close();
  });

  it('reads a history from the database and from memory, each event once', async () => {
    const factory = new IDBFactory();
    const store = await indexedDbStore({ name: 'weft', indexedDB: factory });
    await store.write(async (tx) => tx.history.append('r1', makeEvents(1, 3)), { durable: true });
    await store.write(async (tx) => tx.history.append('r1', makeEvents(4, 5)));
    expect(await store.read((tx) => tx.history.read('r1'))).toEqual(makeEvents(1, 5));
    expect(await store.read((tx) => tx.history.read('r1', 2))).toEqual(makeEvents(2, 5));
    expect(await store.read((tx) => tx.history.read('r1', 5))).toEqual(makeEvents(5, 5));
    await store.flushed();
    expect(await store.read((tx) => tx.history.read('r1', 3))).toEqual(makeEvents(3, 5));
    store.close();
  });

  it('sees what another connection wrote once it refreshes', async () => {
    const factory = new IDBFactory();
    const a = await indexedDbStore({ name: 'weft', indexedDB: factory });
    const b = await indexedDbStore({ name: 'weft', indexedDB: factory });
    await a.write(async (tx) => tx.executions.put(makeExecution({ runId: 'r1' })), { durable: true });
    expect(await b.read((tx) => tx.executions.get('r1'))).toBeUndefined();
    await b.refresh();
    expect(await b.read((tx) => tx.executions.get('r1'))).toEqual(makeExecution({ runId: 'r1' }));
    await a.write(async (tx) => tx.history.append('r1', makeEvents(1, 2)), { durable: true });
    await b.refresh();
    expect(await b.read((tx) => tx.history.read('r1'))).toEqual(makeEvents(1, 2));
    expect(await b.read((tx) => tx.history.read('r1', 2))).toEqual(makeEvents(2, 2));
    // Once compacted, the log no longer says all that changed: b loads everything again.
    await a.write(async (tx) => tx.history.append('r1', makeEvents(3, 3)), { durable: true });
    await a.write(async (tx) => tx.executions.put(makeExecution({ runId: 'r2' })), { durable: true });
    const db = await rawOpen(factory, 'weft');
    await vi.waitFor(async () => expect(await rawGetAll(db, 'log')).toHaveLength(1), { timeout: 5_000 });
    db.close();
    await b.refresh();
    expect((await b.read((tx) => tx.executions.list())).map((e) => e.runId)).toEqual(['r1', 'r2']);
    expect(await b.read((tx) => tx.history.read('r1'))).toEqual(makeEvents(1, 3));
    a.close();
    b.close();
  });

  it('the workflow ID of a run the fold carried still finds it, once closed, from a new connection', async () => {
    const factory = new IDBFactory();
    const a = await indexedDbStore({ name: 'weft', indexedDB: factory });
    const young = makeExecution({ runId: 'young', startTime: 2_000 });
    await a.write(
      async (tx) => {
        tx.executions.add(young);
        tx.workflowIds.put({ workflowId: young.workflowId, runId: 'young' });
      },
      { durable: true },
    );
    await a.write(async (tx) => tx.history.append('young', makeEvents(1, 1)), { durable: true });
    const db = await rawOpen(factory, 'weft');
    await vi.waitFor(async () => expect(await rawGet(db, 'meta', 'folded')).toBe(1), { timeout: 5_000 });
    db.close();
    // Closed after the fold that carried it: only the log knows it closed.
    const closed = { ...young, status: 'COMPLETED' as const, closeTime: 3_000 };
    await a.write(async (tx) => tx.executions.put(closed), { durable: true });
    const b = await indexedDbStore({ name: 'weft', indexedDB: factory });
    expect(await b.read((tx) => tx.workflowIds.get(young.workflowId))).toMatchObject({ runId: 'young' });
    expect(await b.read((tx) => tx.executions.get('young'))).toEqual(closed);
    a.close();
    b.close();
  });

  it('a running execution the fold carried is found, listed and counted, by its writer and by a new connection', async () => {
    const factory = new IDBFactory();
    const a = await indexedDbStore({ name: 'weft', indexedDB: factory });
    const young = makeExecution({ runId: 'young', startTime: 2_000 });
    await a.write(async (tx) => tx.executions.add(young), { durable: true });
    await a.write(async (tx) => tx.history.append('young', makeEvents(1, 1)), { durable: true });
    const db = await rawOpen(factory, 'weft');
    await vi.waitFor(async () => expect(await rawGet(db, 'meta', 'folded')).toBe(1), { timeout: 5_000 });
    expect(await rawGetAll(db, 'executions')).toEqual([]);
    db.close();
    const b = await indexedDbStore({ name: 'weft', indexedDB: factory });
    for (const store of [a, b]) {
      expect(await store.read((tx) => tx.executions.get('young'))).toEqual(young);
      expect(await store.read((tx) => tx.executions.page({ filter: {}, limit: 10 }))).toEqual([young]);
      expect(
        await store.read((tx) => tx.executions.page({ filter: { status: 'RUNNING' }, limit: 10 })),
      ).toEqual([young]);
      expect(await store.read((tx) => tx.executions.count({}))).toBe(1);
    }
    a.close();
    b.close();
  });

  it('a fold by a connection that knew the log before another folded it keeps what that fold carried', async () => {
    const factory = new IDBFactory();
    const a = await indexedDbStore({ name: 'weft', indexedDB: factory });
    const b = await indexedDbStore({ name: 'weft', indexedDB: factory });
    // A task written fresh, and a later entry: a's fold covers the task's entry, and carries it.
    await a.write(async (tx) => tx.workflowTasks.put(task('young')), { durable: true });
    await a.write(async (tx) => tx.history.append('r1', makeEvents(1, 1)), { durable: true });
    await b.refresh();
    const db = await rawOpen(factory, 'weft');
    await vi.waitFor(async () => expect(await rawGet(db, 'meta', 'folded')).toBe(1), { timeout: 5_000 });
    expect(await rawGetAll(db, 'workflowTasks')).toEqual([]);
    // b still holds the entry a folded; it writes, and folds next, from the carry a left.
    await b.write(async (tx) => tx.history.append('r1', makeEvents(2, 2)), { durable: true });
    await vi.waitFor(async () => expect(await rawGet(db, 'meta', 'folded')).toBe(2), { timeout: 5_000 });
    expect(await rawGetAll(db, 'workflowTasks')).toEqual([task('young')]);
    expect(await rawGet(db, 'meta', 'carry')).toBeUndefined();
    db.close();
    const c = await indexedDbStore({ name: 'weft', indexedDB: factory });
    expect(await c.read((tx) => tx.workflowTasks.list())).toEqual([task('young')]);
    a.close();
    b.close();
    c.close();
  });

  it('reads a run’s whole history once another connection wrote its later events (the lease changed hands)', async () => {
    const factory = new IDBFactory();
    const a = await indexedDbStore({ name: 'weft', indexedDB: factory });
    const b = await indexedDbStore({ name: 'weft', indexedDB: factory });
    // a writes the run's first events, and keeps them at hand; b takes over and writes the rest.
    await a.write(async (tx) => tx.history.append('r1', makeEvents(1, 3)), { durable: true });
    expect(await a.read((tx) => tx.history.read('r1'))).toEqual(makeEvents(1, 3));
    await b.refresh();
    await b.write(async (tx) => tx.history.append('r1', makeEvents(4, 6)), { durable: true });
    // a catches up through the log: what it has at hand of r1 is no longer all there is.
    await a.refresh();
    expect(await a.read((tx) => tx.history.read('r1'))).toEqual(makeEvents(1, 6));
    expect(await a.read((tx) => tx.history.read('r1', 2))).toEqual(makeEvents(2, 6));
    // And once a writes again, its own newest chunk follows b's.
    await a.write(async (tx) => tx.history.append('r1', makeEvents(7, 7)), { durable: true });
    expect(await a.read((tx) => tx.history.read('r1'))).toEqual(makeEvents(1, 7));
    a.close();
    b.close();
  });

  it('drops its writes, reloads and tells its listeners when another connection committed first', async () => {
    const factory = new IDBFactory();
    const a = await indexedDbStore({ name: 'weft', indexedDB: factory });
    const b = await indexedDbStore({ name: 'weft', indexedDB: factory });
    const reloaded = vi.fn();
    b.onReload(reloaded);
    await a.write(async (tx) => tx.workflowTasks.put(task('counter', 1)), { durable: true });
    // b has not seen a's commit: its write is built on a stale version, and is refused whole.
    const lost = b.write(
      async (tx) => {
        tx.workflowTasks.put(task('counter', 100));
        tx.workflowTasks.put(task('b'));
      },
      { durable: true },
    );
    await expect(lost).rejects.toMatchObject({ name: 'StoreConflictError' });
    expect(reloaded).toHaveBeenCalledTimes(1);
    expect(await b.read((tx) => tx.workflowTasks.list())).toEqual([task('counter', 1)]);
    // Caught up, b commits normally; a sees it after a refresh.
    await b.write(async (tx) => tx.workflowTasks.put(task('counter', 2)), { durable: true });
    await a.refresh();
    expect(await a.read((tx) => tx.workflowTasks.get('counter'))).toEqual(task('counter', 2));
    a.close();
    b.close();
  });

  it('catches up even when its own unflushed writes are the ones lost', async () => {
    const factory = new IDBFactory();
    const a = await indexedDbStore({ name: 'weft', indexedDB: factory });
    const b = await indexedDbStore({ name: 'weft', indexedDB: factory });
    await a.write(async (tx) => tx.workflowTasks.put(task('from-a')), { durable: true });
    // b writes on a stale version, then is told to catch up: its flush is refused, it reloads,
    // and refresh still resolves with a's write in view.
    await b.write(async (tx) => tx.workflowTasks.put(task('from-b')));
    await b.refresh();
    expect(await b.read((tx) => tx.workflowTasks.list())).toEqual([task('from-a')]);
    await expect(b.flushed()).resolves.toBeUndefined();
    await b.write(async (tx) => tx.workflowTasks.put(task('again', 1)), { durable: true });
    await a.refresh();
    expect((await a.read((tx) => tx.workflowTasks.list())).map((t) => t.runId)).toEqual(['from-a', 'again']);
    a.close();
    b.close();
  });

  it('never hands out an inbox id twice, across connections', async () => {
    const factory = new IDBFactory();
    const a = await indexedDbStore({ name: 'weft', indexedDB: factory });
    await a.write(async (tx) => tx.inbox.add({ runId: 'r1', time: 1, kind: 'timerFired', seq: 1 }), {
      durable: true,
    });
    const [first] = await a.read((tx) => tx.inbox.list('r1'));
    await a.write(async (tx) => tx.inbox.delete(first!.id), { durable: true });
    const b = await indexedDbStore({ name: 'weft', indexedDB: factory });
    await b.write(async (tx) => tx.inbox.add({ runId: 'r1', time: 2, kind: 'timerFired', seq: 2 }), {
      durable: true,
    });
    const [second] = await b.read((tx) => tx.inbox.list('r1'));
    expect(second!.id).toBeGreaterThan(first!.id);
    a.close();
    b.close();
  });

  it('refuses at flush a fenced write made before another connection took the lease, then fences on the new lease', async () => {
    const factory = new IDBFactory();
    const a = await indexedDbStore({ name: 'weft', indexedDB: factory });
    const b = await indexedDbStore({ name: 'weft', indexedDB: factory });
    const aReloaded = vi.fn();
    a.onReload(aReloaded);
    const fenceA: Fence = { name: ENGINE_LEASE, holder: 'host-a', epoch: 1 };
    await a.write(async (tx) => tx.leases.put(lease(ENGINE_LEASE, 'host-a', 1)), { durable: true });
    // b catches up through the log, leases included.
    await b.refresh();
    expect(await b.read((tx) => tx.leases.get(ENGINE_LEASE))).toEqual(lease(ENGINE_LEASE, 'host-a', 1));

    // a holds the lease and writes under it; the write waits in memory for the next flush.
    await a.write(
      async (tx) => {
        tx.executions.put(makeExecution({ runId: 'r-a', memo: { by: 'host-a' } }));
        tx.history.append('r-a', makeEvents(1, 2));
      },
      { fence: fenceA },
    );
    const aFlush = a.flushed({ lazy: true });
    // b takes the lease over meanwhile (a frozen tab, a missed renewal). Its commit is queued
    // before a's flush: both write the log, so IndexedDB runs them in that order.
    await b.write(
      async (tx) => {
        const current = await tx.leases.get(ENGINE_LEASE);
        tx.leases.put(lease(ENGINE_LEASE, 'host-b', (current?.epoch ?? 0) + 1, 30_000));
      },
      { durable: true },
    );
    await expect(aFlush).rejects.toBeInstanceOf(StoreConflictError);
    expect(aReloaded).toHaveBeenCalledTimes(1);

    // Reloaded, a sees b's lease, and its fence no longer holds.
    expect(await a.read((tx) => tx.leases.get(ENGINE_LEASE))).toEqual(
      lease(ENGINE_LEASE, 'host-b', 2, 30_000),
    );
    expect(await a.read((tx) => tx.executions.get('r-a'))).toBeUndefined();
    const refused = a.write(async (tx) => tx.executions.put(makeExecution({ runId: 'r-a2' })), {
      fence: fenceA,
    });
    await expect(refused).rejects.toBeInstanceOf(LeaseLostError);
    await expect(refused).rejects.toThrow(
      'Lease "engine" is no longer held by host-a at epoch 1 (now host-b at epoch 2)',
    );
    await a.flushed();

    // The database has b's lease and nothing a was refused.
    const c = await indexedDbStore({ name: 'weft', indexedDB: factory });
    expect(await c.read((tx) => tx.leases.get(ENGINE_LEASE))).toEqual(
      lease(ENGINE_LEASE, 'host-b', 2, 30_000),
    );
    expect(await c.read((tx) => tx.executions.list())).toEqual([]);
    expect(await c.read((tx) => tx.history.read('r-a'))).toEqual([]);
    c.close();
    a.close();
    b.close();
  });
});
