/**
 * The database deleted, cleared or closed under a running store (fake-indexeddb, whose
 * `forceCloseDatabase` closes a connection as a browser does when it clears a site's data): a
 * deleted or cleared database is reported lost and never created again; a connection the
 * browser closed while the data survived is reopened, and no write is lost.
 */
import { forceCloseDatabase, IDBFactory } from 'fake-indexeddb';
import { describe, expect, it } from 'vitest';
import { StorageLostError } from '../../src/engine/failure.ts';
import { createEngine, indexedDbStore, type StoreStatus } from '../../src/index.ts';
import { proxyActivities, sleep } from '../../src/workflow/index.ts';
import { rawGetAll, rawOpen } from './raw-idb.ts';
import { makeExecution } from './store-contract.ts';

/** Closes `db` as the browser does abnormally: `close` fires on it. */
function forceClose(db: IDBDatabase): void {
  // Typed by fake-indexeddb as taking its own class.
  forceCloseDatabase(db as unknown as Parameters<typeof forceCloseDatabase>[0]);
}

/** `factory`, keeping the connections it opens, and counting its opens. */
function watchedFactory(factory: IDBFactory) {
  const connections: IDBDatabase[] = [];
  const control = { opens: 0 };
  const watched = new Proxy(factory, {
    get(target, property) {
      if (property !== 'open') {
        const value = Reflect.get(target, property, target) as unknown;
        return typeof value === 'function' ? value.bind(target) : value;
      }
      return (name: string, version?: number) => {
        control.opens++;
        const request = target.open(name, version);
        request.addEventListener('success', () => connections.push(request.result));
        return request;
      };
    },
  });
  return { factory: watched, connections, control };
}

/**
 * What a browser does when it clears a site's data under an open connection: closes the
 * connection, deletes the database, and fires `close` (fake-indexeddb's `forceCloseDatabase`
 * fires it at once, before the delete, which a store would then see as a deletion by a tab).
 */
async function clearUnder(
  db: IDBDatabase,
  factory: IDBFactory,
  name: string,
  meanwhile?: () => Promise<void>,
) {
  db.close();
  await new Promise<void>((resolve, reject) => {
    const request = factory.deleteDatabase(name);
    request.onsuccess = () => resolve();
    request.onerror = () => reject(request.error);
  });
  await meanwhile?.();
  // Fires `close` on the connection (closed already: nothing else changes).
  forceClose(db);
}

async function databaseNames(factory: IDBFactory): Promise<string[]> {
  return (await factory.databases()).map((d) => d.name!);
}

async function openStore(name: string) {
  const raw = new IDBFactory();
  const watched = watchedFactory(raw);
  const store = await indexedDbStore({ name, indexedDB: watched.factory });
  const statuses: StoreStatus[] = [];
  store.onStatus?.((status) => statuses.push(status));
  return { raw, ...watched, store, statuses };
}

describe('indexedDbStore when its database goes away', () => {
  it('deleted by another tab: lets go at once, says it is lost, fails later calls clearly, and never creates it again', async () => {
    const { raw, store, statuses } = await openStore('lost-1');
    await store.write(async (tx) => tx.executions.put(makeExecution({ runId: 'a' })), { durable: true });
    // Not blocked: the store closes its connection on versionchange.
    await new Promise<void>((resolve, reject) => {
      const request = raw.deleteDatabase('lost-1');
      request.onsuccess = () => resolve();
      request.onerror = () => reject(request.error);
      request.onblocked = () => reject(new Error('blocked'));
    });
    expect(statuses.map((s) => s.state)).toEqual(['lost']);
    expect(statuses[0]).toMatchObject({ message: expect.stringMatching(/deleted by another tab/) });
    await expect(store.read((tx) => tx.executions.get('a'))).rejects.toBeInstanceOf(StorageLostError);
    await expect(store.write(async (tx) => tx.executions.put(makeExecution({ runId: 'b' })))).rejects.toThrow(
      /deleted by another tab/,
    );
    expect(await databaseNames(raw)).toEqual([]);
  });

  it('closed by the browser with its data kept: reopens it, and what was written before and after is all there', async () => {
    const { raw, connections, control, store, statuses } = await openStore('closed-1');
    await store.write(async (tx) => tx.executions.put(makeExecution({ runId: 'a' })), { durable: true });
    const opensBefore = control.opens;
    forceClose(connections.at(-1)!);
    // Written after the close: the flush finds the connection closed, reopens it and commits.
    await store.write(async (tx) => tx.executions.put(makeExecution({ runId: 'b' })), { durable: true });
    expect(control.opens).toBe(opensBefore + 1);
    expect(await store.read((tx) => tx.executions.get('a'))).toEqual(makeExecution({ runId: 'a' }));
    expect(statuses).toEqual([]);
    store.close();
    // A new connection finds both.
    const again = await indexedDbStore({ name: 'closed-1', indexedDB: raw });
    expect(
      await again.read(async (tx) => [await tx.executions.get('a'), await tx.executions.get('b')]),
    ).toEqual([makeExecution({ runId: 'a' }), makeExecution({ runId: 'b' })]);
    again.close();
  });

  it('closed by the browser with a flush cut short before the close event arrives: the flush runs again on a reopened connection', async () => {
    const { raw, connections, control, store, statuses } = await openStore('closed-2');
    await store.write(async (tx) => tx.executions.put(makeExecution({ runId: 'a' })), { durable: true });
    const db = connections.at(-1)!;
    const opensBefore = control.opens;
    // Chromium marks the connection closing and aborts what is in flight first; `close` follows.
    db.close();
    await store.write(async (tx) => tx.executions.put(makeExecution({ runId: 'b' })), { durable: true });
    expect(control.opens).toBe(opensBefore + 1);
    forceClose(db);
    await store.write(async (tx) => tx.executions.put(makeExecution({ runId: 'c' })), { durable: true });
    expect(control.opens).toBe(opensBefore + 1);
    expect(statuses).toEqual([]);
    store.close();
    const again = await indexedDbStore({ name: 'closed-2', indexedDB: raw });
    expect(await again.read((tx) => tx.executions.list())).toEqual(
      ['a', 'b', 'c'].map((runId) => makeExecution({ runId })),
    );
    again.close();
  });

  it('closed by the browser and its data cleared: says it is lost, and does not create an empty database', async () => {
    const { raw, connections, store, statuses } = await openStore('cleared-1');
    await store.write(async (tx) => tx.executions.put(makeExecution({ runId: 'a' })), { durable: true });
    await clearUnder(connections.at(-1)!, raw, 'cleared-1');
    await expect.poll(() => statuses.map((s) => s.state)).toEqual(['lost']);
    expect(statuses[0]).toMatchObject({ message: expect.stringMatching(/deleted or its data cleared/) });
    await expect(store.read((tx) => tx.executions.get('a'))).rejects.toBeInstanceOf(StorageLostError);
    expect(await databaseNames(raw)).toEqual([]);
  });

  it('closed by the browser, cleared and made again by another tab meanwhile: says it is lost, and writes nothing into the new one', async () => {
    const { raw, connections, store, statuses } = await openStore('cleared-2');
    await store.write(async (tx) => tx.executions.put(makeExecution({ runId: 'a' })), { durable: true });
    await store.write(async (tx) => tx.executions.put(makeExecution({ runId: 'b' })));
    // Another tab opens it afresh meanwhile: an empty database with an ID of its own.
    await clearUnder(connections.at(-1)!, raw, 'cleared-2', async () => {
      const other = await indexedDbStore({ name: 'cleared-2', indexedDB: raw });
      other.close();
    });
    await expect.poll(() => statuses.map((s) => s.state)).toEqual(['lost']);
    expect(statuses[0]).toMatchObject({
      message: expect.stringMatching(/was cleared while this engine had it open/),
    });
    const fresh = await rawOpen(raw, 'cleared-2');
    expect(await rawGetAll(fresh, 'log')).toEqual([]);
    expect(await rawGetAll(fresh, 'executions')).toEqual([]);
    fresh.close();
  });
});

describe('the engine when its database goes away', () => {
  it('deleted: both hosts of an in-process engine stop, and every call, through the leader or not, fails with StorageLostError', async () => {
    const { raw, store } = await openStore('lost-engine');
    const workflows = {
      async idle(): Promise<void> {
        await sleep('1 hour');
      },
    };
    const leader = await createEngine({ workflows, store });
    const follower = await createEngine({ workflows, store });
    await leader.client.workflow.start('idle', { workflowId: 'idle-1' });
    await new Promise<void>((resolve) => {
      raw.deleteDatabase('lost-engine').onsuccess = () => resolve();
    });
    // The follower's calls went to the leader; stopped, neither sends them anywhere.
    for (const engine of [leader, follower]) {
      await expect(engine.client.workflow.getHandle('idle-1').describe()).rejects.toBeInstanceOf(
        StorageLostError,
      );
      await expect(engine.client.workflow.start('idle', { workflowId: 'idle-2' })).rejects.toBeInstanceOf(
        StorageLostError,
      );
    }
    await Promise.all([leader.shutdown(), follower.shutdown()]);
    expect(await databaseNames(raw)).toEqual([]);
  });

  it('a workflow runs to its end across a connection the browser closed, each activity once', async () => {
    const { connections, store } = await openStore('closed-engine');
    const calls: string[] = [];
    const activities = {
      async step(name: string): Promise<string> {
        calls.push(name);
        // Mid-run, the browser closes the connection (nothing in flight in fake-indexeddb's case).
        if (name === 'one') forceClose(connections.at(-1)!);
        return name;
      },
    };
    const workflows = {
      async steps(): Promise<string> {
        const { step } = proxyActivities<typeof activities>({ startToCloseTimeout: '10s' });
        return [await step('one'), await step('two')].join('+');
      },
    };
    const engine = await createEngine({ workflows, activities, store });
    expect(await engine.client.workflow.execute('steps', { workflowId: 's-1' })).toBe('one+two');
    expect(calls).toEqual(['one', 'two']);
    await engine.shutdown();
  });
});
