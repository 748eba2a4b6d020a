/**
 * Corrupt or foreign records, written straight into the database (fake-indexeddb, a connection
 * without weft): an unknown event type, a gap or a duplicate in a history, an event cut short, a
 * history cut off, a `__proto__` key in an event or an execution record, an inbox message of
 * an unknown kind. The run they belong to is quarantined (RUNNING, blocked with the reason,
 * nothing added to its history); every other run goes on, and so does the engine.
 */
import { IDBFactory } from 'fake-indexeddb';
import { describe, expect, it } from 'vitest';
import { CorruptRecordError } from '../../src/engine/failure.ts';
import { createEngine, indexedDbStore } from '../../src/index.ts';
import { copy } from '../../src/store/copy.ts';
import type { LogEntry, Pack } from '../../src/store/indexeddb/schema.ts';
import type { ExecutionRecord } from '../../src/store/types.ts';
import { condition, defineSignal, proxyActivities, setHandler } from '../../src/workflow/index.ts';
import { rawGet, rawGetAll, rawOpen } from './raw-idb.ts';
import { makeEvents } from './store-contract.ts';

const go = defineSignal('go');
const activities = {
  async echo(value: string): Promise<string> {
    return value;
  },
};
const workflows = {
  async waiter(name: string): Promise<string> {
    const { echo } = proxyActivities<typeof activities>({ startToCloseTimeout: '10s' });
    let going = false;
    setHandler(go, () => {
      going = true;
    });
    const first = await echo(name);
    await condition(() => going);
    return `${first} done`;
  },
};

type Event = { eventId: number; eventType: string; attributes: Record<string, unknown> };
type Damage = (events: Event[]) => Event[];

/** The damage done to each run's history, by workflow ID (`healthy-*` are left alone). */
const DAMAGE: Record<string, Damage> = {
  'unknown-type': (events) => events.map((e) => (e.eventId === 2 ? { ...e, eventType: 'BogusEvent' } : e)),
  gap: (events) => events.filter((e) => e.eventId !== 3),
  duplicate: (events) => events.flatMap((e) => (e.eventId === 3 ? [e, e] : [e])),
  'cut-short': (events) =>
    events.map((e) =>
      e.eventId === 1 ? { ...e, attributes: { workflowType: 'waiter', taskQueue: 'default' } } : e,
    ),
  'cut-off': (events) => events.filter((e) => e.eventId < 4),
  'proto-event': (events) =>
    events.map((e) =>
      e.eventId === 2
        ? {
            ...e,
            attributes: JSON.parse('{"taskQueue":"default","attempt":1,"__proto__":{"polluted":true}}'),
          }
        : e,
    ),
};

/** The keys of a raw store, all numbers in the stores read here. */
function rawKeys(db: IDBDatabase, storeName: string): Promise<number[]> {
  return new Promise((resolve, reject) => {
    const request = db.transaction(storeName).objectStore(storeName).getAllKeys();
    request.onsuccess = () => resolve(request.result as number[]);
    request.onerror = () => reject(request.error);
  });
}

/** Rewrites, in the raw database, every chunk of `runId`'s history in the packs. */
async function damageHistory(db: IDBDatabase, runId: string, damage: Damage): Promise<void> {
  const keys = await rawKeys(db, 'packs');
  const packs = (await rawGetAll(db, 'packs')) as Pack[];
  // The damage is done to the run's whole history, then put back in its first pack.
  const events = packs.flatMap((p) => p.chunks.filter((c) => c.runId === runId).flatMap((c) => c.events));
  const damaged = damage(events as unknown as Event[]);
  const tx = db.transaction('packs', 'readwrite');
  let placed = false;
  packs.forEach((pack, i) => {
    if (!pack.runs.includes(runId)) return;
    const chunks = pack.chunks.map((c) => {
      if (c.runId !== runId) return c;
      const chunk = { ...c, events: placed ? [] : damaged };
      placed = true;
      return chunk;
    });
    tx.objectStore('packs').put({ ...pack, chunks }, keys[i]);
  });
  await new Promise((resolve) => {
    tx.oncomplete = resolve;
  });
}

/** Rewrites, in the raw database, the run's execution record wherever it is (stores and log). */
async function damageExecution(db: IDBDatabase, runId: string, damage: (e: ExecutionRecord) => object) {
  const logKeys = await rawKeys(db, 'log');
  const log = (await rawGetAll(db, 'log')) as LogEntry[];
  const stored = (await rawGet(db, 'executions', runId)) as ExecutionRecord | undefined;
  const tx = db.transaction(['log', 'executions'], 'readwrite');
  if (stored) tx.objectStore('executions').put(damage(stored));
  log.forEach((entry, i) => {
    const puts = entry.puts.map((put) =>
      put.table === 'executions' && (put.value as ExecutionRecord).runId === runId
        ? { ...put, value: damage(put.value as ExecutionRecord) }
        : put,
    );
    tx.objectStore('log').put({ ...entry, puts }, logKeys[i]);
  });
  await new Promise((resolve) => {
    tx.oncomplete = resolve;
  });
}

describe('corrupt or foreign records in the database', () => {
  it('quarantine the run they belong to; the other runs and the engine go on', async () => {
    const factory = new IDBFactory();
    const ids = [
      'healthy-1',
      ...Object.keys(DAMAGE),
      'proto-execution',
      'bad-status',
      'foreign-inbox',
      'healthy-2',
    ];
    const first = await createEngine({
      workflows,
      activities,
      store: indexedDbStore({ name: 'c', indexedDB: factory }),
    });
    const runIds = new Map<string, string>();
    for (const id of ids) {
      const handle = await first.client.workflow.start('waiter', { workflowId: id, args: [id] });
      runIds.set(id, handle.firstExecutionRunId!);
    }
    // Every run has run its activity and waits for the signal.
    for (const id of ids) {
      await expect
        .poll(async () => (await first.client.workflow.getHandle(id).describe()).historyLength)
        .toBeGreaterThanOrEqual(10);
    }
    const lengths = new Map<string, number>();
    for (const id of ids)
      lengths.set(id, (await first.client.workflow.getHandle(id).describe()).historyLength);
    await first.shutdown();

    // Damage done by someone else while no engine runs.
    const db = await rawOpen(factory, 'c');
    for (const [id, damage] of Object.entries(DAMAGE)) await damageHistory(db, runIds.get(id)!, damage);
    await damageExecution(db, runIds.get('proto-execution')!, (e) =>
      Object.assign(JSON.parse('{"__proto__":{"polluted":true}}'), e),
    );
    await damageExecution(db, runIds.get('bad-status')!, (e) => ({ ...e, status: 'ZOMBIE' }));
    await new Promise((resolve) => {
      const tx = db.transaction('inbox', 'readwrite');
      // Under an ID no weft write used (the log, applied on top of the stores, may hold low ones).
      tx.objectStore('inbox').put({
        id: 1_000_000,
        runId: runIds.get('foreign-inbox'),
        time: 1,
        kind: 'bogus',
      });
      tx.oncomplete = resolve;
    });
    db.close();

    const second = await createEngine({
      workflows,
      activities,
      store: indexedDbStore({ name: 'c', indexedDB: factory }),
    });
    const { workflow } = second.client;
    // A signal gives every run a workflow task (a run with a bad status is not running: it gets none).
    for (const id of ids.filter((id) => id !== 'bad-status')) await workflow.getHandle(id).signal(go);
    expect(await workflow.getHandle('healthy-1').result()).toBe('healthy-1 done');
    expect(await workflow.getHandle('healthy-2').result()).toBe('healthy-2 done');

    const reasons: Record<string, RegExp> = {
      'unknown-type': /event 2 has an unknown event type "BogusEvent"/,
      gap: /skips from event 2 to 4/,
      duplicate: /event 3 is stored twice/,
      'cut-short': /event 1 \(WorkflowExecutionStarted\) is cut short: no input/,
      'cut-off': /the history ends at event 3, but the run has \d+ events/,
      'proto-event': /event 2 \(WorkflowTaskScheduled\) has a __proto__ key in its attributes/,
      'proto-execution': /its execution record is not one weft writes \(a __proto__ key\)/,
      'foreign-inbox': /inbox message 1000000 has an unknown kind "bogus"/,
    };
    for (const [id, reason] of Object.entries(reasons)) {
      const handle = workflow.getHandle(id);
      await expect.poll(async () => (await handle.describe()).blocked?.reason ?? '').toMatch(reason);
      const description = await handle.describe();
      expect(description.status).toBe('RUNNING');
      expect(description.blocked?.reason).toMatch(/^Corrupt records: .* The run is quarantined/);
      // Nothing was added to its history.
      expect(description.historyLength).toBe(lengths.get(id));
    }
    // A damaged history is never handed out, nor replayed for a query.
    for (const id of Object.keys(DAMAGE).filter((id) => id !== 'duplicate')) {
      await expect(workflow.getHandle(id).fetchHistory()).rejects.toBeInstanceOf(CorruptRecordError);
      await expect(workflow.getHandle(id).query('__temporal_workflow_metadata')).rejects.toBeInstanceOf(
        CorruptRecordError,
      );
    }
    await expect(workflow.getHandle('duplicate').fetchHistory()).rejects.toThrow(/event 3 is stored twice/);
    // The engine takes new work, and nothing leaked into Object.prototype.
    const after = await workflow.start('waiter', { workflowId: 'after', args: ['after'] });
    await after.signal(go);
    expect(await after.result()).toBe('after done');
    expect(({} as { polluted?: unknown }).polluted).toBeUndefined();
    await second.shutdown();
  }, 30_000);
});

describe('the fold over a damaged pack', () => {
  it('completes, leaves the pack as it is, and the run it names is refused when read', async () => {
    const factory = new IDBFactory();
    const store = await indexedDbStore({ name: 'fold', indexedDB: factory });
    // One flush (one pack) per event: enough packs for the fold to merge the run's history.
    for (let id = 1; id <= 20; id++) {
      await store.write(
        async (tx) => {
          tx.history.append('r1', makeEvents(id, id));
          if (id === 1) tx.history.append('r2', makeEvents(1, 1));
        },
        { durable: true },
      );
    }
    const db = await rawOpen(factory, 'fold');
    const keys = await rawKeys(db, 'packs');
    // The fifth pack is no longer one weft wrote.
    await new Promise((resolve) => {
      const tx = db.transaction('packs', 'readwrite');
      tx.objectStore('packs').put({ runs: ['r1'], chunks: 'garbage' }, keys[4]);
      tx.oncomplete = resolve;
    });
    // The fold runs a quiet second later, and completes (the log shrinks to its newest entry).
    await expect.poll(async () => (await rawGetAll(db, 'log')).length, { timeout: 10_000 }).toBe(1);
    expect(await rawGet(db, 'packs', keys[4]!)).toEqual({ runs: ['r1'], chunks: 'garbage' });
    db.close();
    store.close();

    const again = await indexedDbStore({ name: 'fold', indexedDB: factory });
    await expect(again.read((tx) => tx.history.read('r1'))).rejects.toThrow(
      /run r1: a pack of its history holds no chunks/,
    );
    expect(await again.read((tx) => tx.history.read('r2'))).toEqual(makeEvents(1, 1));
    again.close();
  });
});

describe('copies of records with a __proto__ key', () => {
  it('keep it a key, as structured cloning does, and never set a prototype with it', () => {
    const record = JSON.parse(
      '{"a":1,"nested":{"__proto__":{"polluted":true}},"__proto__":{"polluted":true}}',
    );
    const copied = copy(record) as Record<string, unknown>;
    expect(copied).toEqual(structuredClone(record));
    expect(Object.getPrototypeOf(copied)).toBe(Object.prototype);
    expect(Object.getPrototypeOf(copied.nested)).toBe(Object.prototype);
    expect(Object.hasOwn(copied, '__proto__')).toBe(true);
    expect(copied.polluted).toBeUndefined();
  });
});
