/**
 * Storage running out mid-run: the database refuses a flush with a `QuotaExceededError` (the
 * faulty factory of demo/faults.ts aborts real transactions of fake-indexeddb and reports that
 * error). Nothing of the refused flush is in the database, the store keeps it and tries again,
 * every later write waits, the store says `full` and then `ok`, and once space is back nothing
 * is lost or doubled.
 */
import { IDBFactory } from 'fake-indexeddb';
import { describe, expect, it } from 'vitest';
import { type Faults, faultyIndexedDB } from '../../demo/faults.ts';
import type { HistoryEvent } from '../../src/engine/events.ts';
import { createEngine, indexedDbStore, type StoreStatus } from '../../src/index.ts';
import type { LogEntry, Pack } from '../../src/store/indexeddb/schema.ts';
import { condition, defineSignal, proxyActivities, setHandler } from '../../src/workflow/index.ts';
import { rawGetAll, rawOpen } from './raw-idb.ts';
import { makeExecution } from './store-contract.ts';

async function faultyStore(name: string) {
  const factory = new IDBFactory();
  const faults: Faults = { quota: false };
  const store = await indexedDbStore({ name, indexedDB: faultyIndexedDB(factory, faults) });
  const statuses: StoreStatus['state'][] = [];
  store.onStatus?.((status) => statuses.push(status.state));
  return { factory, faults, store, statuses };
}

/** The run IDs of the executions each log entry put, in log order. */
async function loggedRuns(factory: IDBFactory, name: string): Promise<string[]> {
  const db = await rawOpen(factory, name);
  const log = (await rawGetAll(db, 'log')) as LogEntry[];
  db.close();
  return log.flatMap((entry) =>
    entry.puts
      .filter((put) => put.table === 'executions')
      .map((put) => (put.value as { runId: string }).runId),
  );
}

/** A run's events as the database holds them, from every pack. */
async function durableEvents(factory: IDBFactory, name: string, runId: string): Promise<HistoryEvent[]> {
  const db = await rawOpen(factory, name);
  const packs = (await rawGetAll(db, 'packs')) as Pack[];
  db.close();
  return packs.flatMap((pack) => pack.chunks.filter((c) => c.runId === runId).flatMap((c) => c.events));
}

describe('indexedDbStore when the database is out of space', () => {
  it('keeps a refused flush, writes nothing of it, holds later writes, and writes each once when space is back', async () => {
    const { factory, faults, store, statuses } = await faultyStore('full-1');
    await store.write(async (tx) => tx.executions.put(makeExecution({ runId: 'a' })), { durable: true });

    faults.quota = true;
    let bDurable = false;
    const b = store
      .write(async (tx) => tx.executions.put(makeExecution({ runId: 'b' })), { durable: true })
      .then(() => {
        bDurable = true;
      });
    await expect.poll(() => statuses).toEqual(['full']);
    let cWritten = false;
    const c = store
      .write(async (tx) => tx.executions.put(makeExecution({ runId: 'c' })))
      .then(() => {
        cWritten = true;
      });
    // Tried again (a second refusal at least), and meanwhile nothing moved: b is not durable, c
    // not even written in memory, and the database holds a's flush alone.
    const refusedOnce = faults.refused ?? 0;
    await expect.poll(() => faults.refused ?? 0).toBeGreaterThan(refusedOnce);
    expect({ bDurable, cWritten }).toEqual({ bDurable: false, cWritten: false });
    expect(await loggedRuns(factory, 'full-1')).toEqual(['a']);
    // Reads still answer, from memory.
    expect(await store.read((tx) => tx.executions.get('a'))).toEqual(makeExecution({ runId: 'a' }));

    faults.quota = false;
    await Promise.all([b, c]);
    await store.flushed();
    expect(statuses).toEqual(['full', 'ok']);
    expect(await loggedRuns(factory, 'full-1')).toEqual(['a', 'b', 'c']);
    store.close();
  });

  it('gives up the held writes (never acknowledged) when another tab upgrades the database, rather than block it', async () => {
    const { factory, faults, store, statuses } = await faultyStore('full-2');
    faults.quota = true;
    const held = store.write(async (tx) => tx.executions.put(makeExecution({ runId: 'b' })), {
      durable: true,
    });
    await expect.poll(() => statuses).toEqual(['full']);
    const waiting = store.write(async (tx) => tx.executions.put(makeExecution({ runId: 'c' })));
    // Their refusals are expected from here on (they may come while the database is opened).
    const refused = Promise.all([
      expect(held).rejects.toThrow(/upgraded to version 99/),
      expect(waiting).rejects.toThrow(/upgraded to version 99/),
    ]);
    // A newer build opens the database: the store lets go at once, full as it is.
    const newer = await rawOpen(factory, 'full-2', 99);
    newer.close();
    await refused;
  });
});

describe('the engine when the database is out of space', () => {
  it('stops advancing while full, and resumes where it stopped when space is back: nothing lost, nothing twice', async () => {
    const { factory, faults, store, statuses } = await faultyStore('full-engine');
    const calls: string[] = [];
    const activities = {
      async step(name: string): Promise<string> {
        calls.push(name);
        // The disk fills up while the first step runs: the flush of its outcome is refused.
        if (name === 'one') faults.quota = true;
        return name;
      },
    };
    const go = defineSignal('go');
    const workflows = {
      async steps(): Promise<string> {
        const { step } = proxyActivities<typeof activities>({ startToCloseTimeout: '10s' });
        let going = false;
        setHandler(go, () => {
          going = true;
        });
        const one = await step('one');
        await condition(() => going);
        return [one, await step('two'), await step('three')].join('+');
      },
    };
    const engine = await createEngine({ workflows, activities, store });
    const handle = await engine.client.workflow.start('steps', { workflowId: 'steps-1' });
    let settled = false;
    const result = handle.result().finally(() => {
      settled = true;
    });
    await expect.poll(() => statuses).toEqual(['full']);
    // The signal is a write: it waits, unacknowledged, and the run does not advance.
    let signaled = false;
    const signal = handle.signal(go).then(() => {
      signaled = true;
    });
    const refusedOnce = faults.refused ?? 0;
    await expect.poll(() => faults.refused ?? 0).toBeGreaterThan(refusedOnce + 1);
    expect({ calls, signaled, settled }).toEqual({ calls: ['one'], signaled: false, settled: false });
    // The database holds a prefix of the run's history that ends before anything of the refused
    // flush: the first step's outcome is not in it.
    const before = await durableEvents(factory, 'full-engine', handle.firstExecutionRunId!);
    expect(before.map((e) => e.eventId)).toEqual(before.map((_, i) => i + 1));
    expect(before.map((e) => e.eventType)).not.toContain('ActivityTaskCompleted');

    faults.quota = false;
    await signal;
    expect(await result).toBe('one+two+three');
    expect(calls).toEqual(['one', 'two', 'three']);
    expect(statuses).toEqual(['full', 'ok']);
    await store.flushed();
    const events = await durableEvents(factory, 'full-engine', handle.firstExecutionRunId!);
    expect(events.map((e) => e.eventId)).toEqual(events.map((_, i) => i + 1));
    expect(events.filter((e) => e.eventType === 'ActivityTaskCompleted')).toHaveLength(3);
    expect(events.filter((e) => e.eventType === 'WorkflowExecutionCompleted')).toHaveLength(1);
    await engine.shutdown();
  });
});
