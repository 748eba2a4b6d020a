import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { HistoryEvent } from '../../src/engine/events.ts';
import type {
  ActivityTaskRecord,
  ExecutionRecord,
  Fence,
  LeaseRecord,
  NewInboxRecord,
  Store,
  StoreTx,
  TimerRecord,
  WorkflowTaskRecord,
} from '../../src/store/types.ts';

// Builders: each takes the fields a test cares about; the rest are plausible defaults.

export function makeExecution(overrides: Partial<ExecutionRecord> & { runId: string }): ExecutionRecord {
  return {
    workflowId: `wf-${overrides.runId}`,
    workflowType: 'order',
    taskQueue: 'default',
    status: 'RUNNING',
    startTime: 1000,
    firstExecutionRunId: overrides.runId,
    nextEventId: 1,
    attempt: 1,
    ...overrides,
  };
}

export function makeEvent(eventId: number): HistoryEvent {
  return {
    eventId,
    eventTime: 1000 + eventId,
    eventType: 'WorkflowTaskScheduled',
    attributes: { taskQueue: 'default', attempt: eventId },
  };
}

/** Events `from` to `to` inclusive. */
export function makeEvents(from: number, to: number): HistoryEvent[] {
  const events: HistoryEvent[] = [];
  for (let id = from; id <= to; id++) events.push(makeEvent(id));
  return events;
}

type SignalRecord = NewInboxRecord & { kind: 'signal' };

function signal(runId: string, signalName: string, time = 1000): SignalRecord {
  return { runId, time, kind: 'signal', signalName, input: [signalName] };
}

function workflowTask(runId: string, scheduledTime: number, taskQueue = 'default'): WorkflowTaskRecord {
  return { runId, workflowId: `wf-${runId}`, taskQueue, scheduledTime };
}

function activityTask(runId: string, seq: number, taskQueue = 'default'): ActivityTaskRecord {
  return {
    runId,
    seq,
    workflowId: `wf-${runId}`,
    workflowType: 'order',
    activityType: 'charge',
    taskQueue,
    input: [{ amount: seq }],
    scheduledEventId: seq + 4,
    scheduledTime: 1000,
    attempt: 1,
    notBefore: 1000,
  };
}

function timer(runId: string, key: string, fireAt: number): TimerRecord {
  return { runId, key, kind: 'timer', fireAt, workflowId: `wf-${runId}`, taskQueue: 'default' };
}

export function lease(name: string, holder = 'host-a', epoch = 1, expiresAt = 10_000): LeaseRecord {
  return { name, holder, epoch, expiresAt };
}

/** Everything a run can own in the store, for "nothing was written" checks. */
async function snapshot(tx: StoreTx, runId: string) {
  return {
    execution: await tx.executions.get(runId),
    workflowId: await tx.workflowIds.get(`wf-${runId}`),
    history: await tx.history.read(runId),
    inbox: await tx.inbox.list(runId),
    workflowTask: await tx.workflowTasks.get(runId),
    activityTasks: await tx.activityTasks.listByRun(runId),
    timers: await tx.timers.listByRun(runId),
    lease: await tx.leases.get(`lease-${runId}`),
  };
}

const emptySnapshot = {
  execution: undefined,
  workflowId: undefined,
  history: [],
  inbox: [],
  workflowTask: undefined,
  activityTasks: [],
  timers: [],
  lease: undefined,
};

/** Writes one of every noun for `runId`. */
function writeEverything(tx: StoreTx, runId: string): void {
  tx.executions.put(makeExecution({ runId }));
  tx.workflowIds.put({ workflowId: `wf-${runId}`, runId });
  tx.history.append(runId, makeEvents(1, 3));
  tx.inbox.add(signal(runId, 'go'));
  tx.workflowTasks.put(workflowTask(runId, 1000));
  tx.activityTasks.put(activityTask(runId, 1));
  tx.timers.put(timer(runId, 't1', 2000));
  tx.leases.put(lease(`lease-${runId}`));
}

/**
 * The behaviour every {@link Store} must have. Run it against each implementation with a
 * factory that returns a fresh, empty store.
 */
export function storeContract(name: string, makeStore: () => Promise<Store>): void {
  describe(name, () => {
    let store: Store;
    beforeEach(async () => {
      store = await makeStore();
    });
    afterEach(() => {
      store.close();
    });

    describe('round trips', () => {
      it('puts and gets an execution, with every optional field', async () => {
        const record = makeExecution({
          runId: 'r1',
          closeTime: 5000,
          continuedFromRunId: 'r0',
          parentWorkflowId: 'parent',
          parentRunId: 'pr1',
          parentInitiatedEventId: 7,
          parentClosePolicy: 'TERMINATE',
          root: { workflowId: 'root', runId: 'rr' },
          blocked: { reason: 'nondeterminism', failure: { name: 'Error', message: 'boom' }, since: 3 },
          result: { total: 42, items: ['a', 'b'], when: new Date(0) },
          memo: { note: 'x' },
          retryPolicy: { maximumAttempts: 3, initialInterval: '1s' },
        });
        await store.write(async (tx) => tx.executions.put(record));
        expect(await store.read((tx) => tx.executions.get('r1'))).toEqual(record);
        expect(await store.read((tx) => tx.executions.get('missing'))).toBeUndefined();
      });

      it('replaces an execution on a second put', async () => {
        await store.write(async (tx) => tx.executions.put(makeExecution({ runId: 'r1', nextEventId: 1 })));
        await store.write(async (tx) => tx.executions.put(makeExecution({ runId: 'r1', nextEventId: 9 })));
        const found = await store.read((tx) => tx.executions.list());
        expect(found).toEqual([makeExecution({ runId: 'r1', nextEventId: 9 })]);
      });

      it('puts and gets a workflow ID record', async () => {
        await store.write(async (tx) => tx.workflowIds.put({ workflowId: 'order-1', runId: 'r1' }));
        await store.write(async (tx) => tx.workflowIds.put({ workflowId: 'order-1', runId: 'r2' }));
        expect(await store.read((tx) => tx.workflowIds.get('order-1'))).toEqual({
          workflowId: 'order-1',
          runId: 'r2',
        });
        expect(await store.read((tx) => tx.workflowIds.get('order-2'))).toBeUndefined();
      });

      it('adds, lists and deletes inbox messages, assigning increasing ids', async () => {
        await store.write(async (tx) => {
          tx.inbox.add(signal('r1', 'a', 10));
          tx.inbox.add({ runId: 'r1', time: 11, kind: 'timerFired', seq: 3 });
        });
        const listed = await store.read((tx) => tx.inbox.list('r1'));
        expect(listed).toEqual([
          { ...signal('r1', 'a', 10), id: expect.any(Number) },
          { runId: 'r1', time: 11, kind: 'timerFired', seq: 3, id: expect.any(Number) },
        ]);
        const [first, second] = listed;
        expect(second!.id).toBeGreaterThan(first!.id);

        await store.write(async (tx) => tx.inbox.delete(first!.id));
        expect(await store.read((tx) => tx.inbox.list('r1'))).toEqual([second]);
      });

      it('never reuses an inbox id', async () => {
        const ids: number[] = [];
        for (const name of ['a', 'b', 'c']) {
          await store.write(async (tx) => tx.inbox.add(signal('r1', name)));
          const listed = await store.read((tx) => tx.inbox.list('r1'));
          const added = listed.at(-1)!;
          ids.push(added.id);
          await store.write(async (tx) => tx.inbox.delete(added.id));
        }
        expect(new Set(ids).size).toBe(3);
        expect([...ids].sort((a, b) => a - b)).toEqual(ids);
      });

      it('gets, puts, deletes and lists workflow tasks by task queue', async () => {
        await store.write(async (tx) => {
          tx.workflowTasks.put(workflowTask('r1', 100, 'q1'));
          tx.workflowTasks.put(workflowTask('r2', 200, 'q2'));
          tx.workflowTasks.put(workflowTask('r3', 300, 'q1'));
        });
        expect(await store.read((tx) => tx.workflowTasks.get('r2'))).toEqual(workflowTask('r2', 200, 'q2'));
        expect(await store.read((tx) => tx.workflowTasks.list('q1'))).toEqual([
          workflowTask('r1', 100, 'q1'),
          workflowTask('r3', 300, 'q1'),
        ]);
        expect(await store.read((tx) => tx.workflowTasks.list('nope'))).toEqual([]);

        await store.write(async (tx) => tx.workflowTasks.delete('r1'));
        expect(await store.read((tx) => tx.workflowTasks.get('r1'))).toBeUndefined();
        expect(await store.read((tx) => tx.workflowTasks.list())).toEqual([
          workflowTask('r2', 200, 'q2'),
          workflowTask('r3', 300, 'q1'),
        ]);
      });

      it('gets, puts, deletes and lists activity tasks by queue and by run', async () => {
        const full: ActivityTaskRecord = {
          ...activityTask('r1', 2, 'q2'),
          startToCloseTimeout: 1000,
          scheduleToCloseTimeout: 5000,
          heartbeatTimeout: 200,
          retryPolicy: { maximumAttempts: 5 },
          owner: 'host-a',
          startedTime: 1500,
          cancelRequested: true,
          lastFailure: { name: 'ApplicationFailure', message: 'nope', type: 'Declined' },
        };
        await store.write(async (tx) => {
          tx.activityTasks.put(activityTask('r1', 1, 'q1'));
          tx.activityTasks.put(full);
          tx.activityTasks.put(activityTask('r2', 1, 'q1'));
        });
        expect(await store.read((tx) => tx.activityTasks.get('r1', 2))).toEqual(full);
        expect(await store.read((tx) => tx.activityTasks.get('r1', 3))).toBeUndefined();
        expect(await store.read((tx) => tx.activityTasks.list('q1'))).toEqual([
          activityTask('r1', 1, 'q1'),
          activityTask('r2', 1, 'q1'),
        ]);
        expect(await store.read((tx) => tx.activityTasks.list())).toHaveLength(3);
        expect(await store.read((tx) => tx.activityTasks.listByRun('r1'))).toEqual([
          activityTask('r1', 1, 'q1'),
          full,
        ]);

        await store.write(async (tx) => tx.activityTasks.delete('r1', 1));
        expect(await store.read((tx) => tx.activityTasks.listByRun('r1'))).toEqual([full]);
        expect(await store.read((tx) => tx.activityTasks.get('r2', 1))).toEqual(activityTask('r2', 1, 'q1'));
      });

      it('puts, deletes and lists timers', async () => {
        const runTimeout: TimerRecord = { ...timer('r1', 'run', 9000), kind: 'runTimeout' };
        const withSeq: TimerRecord = { ...timer('r1', 't3', 3000), seq: 3 };
        await store.write(async (tx) => {
          tx.timers.put(withSeq);
          tx.timers.put(runTimeout);
        });
        expect(await store.read((tx) => tx.timers.listByRun('r1'))).toEqual(
          expect.arrayContaining([withSeq, runTimeout]),
        );
        await store.write(async (tx) => tx.timers.put({ ...withSeq, fireAt: 4000 }));
        await store.write(async (tx) => tx.timers.delete('r1', 'run'));
        expect(await store.read((tx) => tx.timers.list())).toEqual([{ ...withSeq, fireAt: 4000 }]);
      });

      it('puts and gets leases, replacing one on a second put', async () => {
        await store.write(async (tx) => {
          tx.leases.put(lease('b', 'host-b'));
          tx.leases.put(lease('a', 'host-a', 1));
        });
        await store.write(async (tx) => tx.leases.put(lease('a', 'host-c', 2)));
        expect(await store.read((tx) => tx.leases.get('a'))).toEqual(lease('a', 'host-c', 2));
        expect(await store.read((tx) => tx.leases.get('b'))).toEqual(lease('b', 'host-b'));
        expect(await store.read((tx) => tx.leases.get('c'))).toBeUndefined();
      });

      it('deleting something absent is not an error', async () => {
        await store.write(async (tx) => {
          tx.timers.delete('r9', 'x');
          tx.activityTasks.delete('r9', 1);
          tx.workflowTasks.delete('r9');
          tx.inbox.delete(12345);
        });
        expect(await store.read((tx) => tx.timers.list())).toEqual([]);
      });
    });

    describe('transactions', () => {
      it('returns what fn returns', async () => {
        expect(await store.write(async () => 'written')).toBe('written');
        expect(await store.read(async () => 42)).toBe(42);
      });

      it('sees its own writes before it commits', async () => {
        const seen = await store.write(async (tx) => {
          tx.executions.put(makeExecution({ runId: 'r1', status: 'COMPLETED' }));
          tx.history.append('r1', makeEvents(1, 2));
          tx.inbox.add(signal('r1', 'go'));
          return snapshot(tx, 'r1');
        });
        expect(seen.execution?.status).toBe('COMPLETED');
        expect(seen.history).toEqual(makeEvents(1, 2));
        expect(seen.inbox).toHaveLength(1);
      });

      it('refuses writes in a read transaction', async () => {
        await expect(
          store.read(async (tx) => {
            tx.leases.put(lease('a'));
          }),
        ).rejects.toThrow();
        expect(await store.read((tx) => tx.leases.get('a'))).toBeUndefined();
      });

      it('rejects with the error fn threw', async () => {
        const error = new Error('no thanks');
        await expect(
          store.write(async () => {
            throw error;
          }),
        ).rejects.toBe(error);
        await expect(
          store.read(async () => {
            throw error;
          }),
        ).rejects.toBe(error);
      });
    });

    describe('ordering', () => {
      it('lists a run’s inbox in insertion order, across transactions and runs', async () => {
        // Names sort differently from insertion, so a sort by content would fail.
        await store.write(async (tx) => {
          tx.inbox.add(signal('r1', 'zeta', 5));
          tx.inbox.add(signal('r2', 'other', 1));
          tx.inbox.add(signal('r1', 'alpha', 1));
        });
        await store.write(async (tx) => tx.inbox.add(signal('r1', 'mid', 3)));
        const names = (await store.read((tx) => tx.inbox.list('r1'))).map((m) =>
          m.kind === 'signal' ? m.signalName : m.kind,
        );
        expect(names).toEqual(['zeta', 'alpha', 'mid']);
      });

      it('lists workflow tasks by scheduledTime', async () => {
        await store.write(async (tx) => {
          tx.workflowTasks.put(workflowTask('a', 300));
          tx.workflowTasks.put(workflowTask('b', 100));
          tx.workflowTasks.put(workflowTask('c', 200, 'q2'));
          tx.workflowTasks.put(workflowTask('d', 50));
        });
        const all = await store.read((tx) => tx.workflowTasks.list());
        expect(all.map((t) => t.runId)).toEqual(['d', 'b', 'c', 'a']);
        const inQueue = await store.read((tx) => tx.workflowTasks.list('default'));
        expect(inQueue.map((t) => t.runId)).toEqual(['d', 'b', 'a']);
      });

      it('lists timers by fireAt', async () => {
        await store.write(async (tx) => {
          tx.timers.put(timer('a', 't1', 500));
          tx.timers.put(timer('b', 't1', 100));
          tx.timers.put(timer('a', 't2', 300));
          tx.timers.put(timer('c', 'run', 200));
        });
        const fireAts = (await store.read((tx) => tx.timers.list())).map((t) => [t.runId, t.key, t.fireAt]);
        expect(fireAts).toEqual([
          ['b', 't1', 100],
          ['c', 'run', 200],
          ['a', 't2', 300],
          ['a', 't1', 500],
        ]);
      });

      it('lists executions by startTime, then runId', async () => {
        await store.write(async (tx) => {
          tx.executions.put(makeExecution({ runId: 'c', startTime: 10 }));
          tx.executions.put(makeExecution({ runId: 'a', startTime: 30 }));
          tx.executions.put(makeExecution({ runId: 'b', startTime: 10 }));
          tx.executions.put(makeExecution({ runId: 'd', startTime: 20 }));
        });
        const runIds = (await store.read((tx) => tx.executions.list())).map((e) => e.runId);
        expect(runIds).toEqual(['b', 'c', 'd', 'a']);
      });

      it('lists a run’s activity tasks by seq', async () => {
        await store.write(async (tx) => {
          tx.activityTasks.put(activityTask('r1', 10));
          tx.activityTasks.put(activityTask('r1', 2));
          tx.activityTasks.put(activityTask('r1', 1));
        });
        const seqs = (await store.read((tx) => tx.activityTasks.listByRun('r1'))).map((t) => t.seq);
        expect(seqs).toEqual([1, 2, 10]);
      });
    });

    describe('history', () => {
      beforeEach(async () => {
        // Three commits: events 1-3, 4-4, 5-9.
        await store.write(async (tx) => tx.history.append('r1', makeEvents(1, 3)));
        await store.write(async (tx) => tx.history.append('r1', makeEvents(4, 4)));
        await store.write(async (tx) => tx.history.append('r1', makeEvents(5, 9)));
      });

      it('reads every chunk in order', async () => {
        expect(await store.read((tx) => tx.history.read('r1'))).toEqual(makeEvents(1, 9));
        expect(await store.read((tx) => tx.history.read('r1', 1))).toEqual(makeEvents(1, 9));
      });

      it('reads from a chunk boundary', async () => {
        expect(await store.read((tx) => tx.history.read('r1', 4))).toEqual(makeEvents(4, 9));
        expect(await store.read((tx) => tx.history.read('r1', 5))).toEqual(makeEvents(5, 9));
      });

      it('reads from inside a chunk', async () => {
        expect(await store.read((tx) => tx.history.read('r1', 2))).toEqual(makeEvents(2, 9));
        expect(await store.read((tx) => tx.history.read('r1', 7))).toEqual(makeEvents(7, 9));
        expect(await store.read((tx) => tx.history.read('r1', 9))).toEqual(makeEvents(9, 9));
      });

      it('reads nothing past the end or for an unknown run', async () => {
        expect(await store.read((tx) => tx.history.read('r1', 10))).toEqual([]);
        expect(await store.read((tx) => tx.history.read('r2'))).toEqual([]);
      });

      it('orders chunks numerically, not as text', async () => {
        await store.write(async (tx) => tx.history.append('r1', makeEvents(10, 11)));
        await store.write(async (tx) => tx.history.append('r1', makeEvents(12, 20)));
        expect(await store.read((tx) => tx.history.read('r1'))).toEqual(makeEvents(1, 20));
        expect(await store.read((tx) => tx.history.read('r1', 11))).toEqual(makeEvents(11, 20));
      });

      it('keeps runs apart, also when one runId is a prefix of another', async () => {
        await store.write(async (tx) => {
          tx.history.append('r10', makeEvents(1, 2));
          tx.history.append('r', makeEvents(1, 1));
        });
        expect(await store.read((tx) => tx.history.read('r1'))).toEqual(makeEvents(1, 9));
        expect(await store.read((tx) => tx.history.read('r10'))).toEqual(makeEvents(1, 2));
        expect(await store.read((tx) => tx.history.read('r'))).toEqual(makeEvents(1, 1));
        expect(await store.read((tx) => tx.history.read('r10', 2))).toEqual(makeEvents(2, 2));
      });

      it('refuses a second chunk at the same first event, writing nothing', async () => {
        await expect(
          store.write(async (tx) => {
            tx.executions.put(makeExecution({ runId: 'r1', nextEventId: 99 }));
            tx.history.append('r1', [{ ...makeEvent(4), eventTime: 0 }]);
          }),
        ).rejects.toThrow();
        expect(await store.read((tx) => tx.history.read('r1'))).toEqual(makeEvents(1, 9));
        expect(await store.read((tx) => tx.executions.get('r1'))).toBeUndefined();
      });

      it('refuses an empty chunk', async () => {
        await expect(store.write(async (tx) => tx.history.append('r1', []))).rejects.toThrow();
        expect(await store.read((tx) => tx.history.read('r1'))).toEqual(makeEvents(1, 9));
      });
    });

    describe('executions.list filters', () => {
      const records = [
        makeExecution({ runId: 'p1', workflowId: 'parent', workflowType: 'parent', startTime: 1 }),
        makeExecution({
          runId: 'c1',
          workflowId: 'child-1',
          workflowType: 'child',
          parentWorkflowId: 'parent',
          parentRunId: 'p1',
          startTime: 2,
        }),
        makeExecution({
          runId: 'c2',
          workflowId: 'child-2',
          workflowType: 'child',
          status: 'COMPLETED',
          parentWorkflowId: 'parent',
          parentRunId: 'p1',
          startTime: 3,
        }),
        makeExecution({
          runId: 'c3',
          workflowId: 'child-1',
          workflowType: 'child',
          status: 'FAILED',
          parentWorkflowId: 'parent',
          parentRunId: 'p0',
          startTime: 4,
        }),
        makeExecution({
          runId: 'x1',
          workflowId: 'other',
          workflowType: 'other',
          status: 'COMPLETED',
          startTime: 5,
        }),
      ];
      const runIds = (list: ExecutionRecord[]) => list.map((e) => e.runId);

      beforeEach(async () => {
        await store.write(async (tx) => {
          // Stored out of order: the list must sort.
          for (const record of [...records].reverse()) tx.executions.put(record);
        });
      });

      it('lists everything without a filter', async () => {
        expect(await store.read((tx) => tx.executions.list())).toEqual(records);
        expect(runIds(await store.read((tx) => tx.executions.list({})))).toEqual([
          'p1',
          'c1',
          'c2',
          'c3',
          'x1',
        ]);
      });

      it('filters by each field', async () => {
        const list = (filter: Parameters<StoreTx['executions']['list']>[0]) =>
          store.read(async (tx) => runIds(await tx.executions.list(filter)));
        expect(await list({ workflowType: 'child' })).toEqual(['c1', 'c2', 'c3']);
        expect(await list({ status: 'COMPLETED' })).toEqual(['c2', 'x1']);
        expect(await list({ status: 'RUNNING' })).toEqual(['p1', 'c1']);
        expect(await list({ parentWorkflowId: 'parent' })).toEqual(['c1', 'c2', 'c3']);
        expect(await list({ parentRunId: 'p1' })).toEqual(['c1', 'c2']);
        expect(await list({ workflowId: 'child-1' })).toEqual(['c1', 'c3']);
        expect(await list({ workflowId: 'nobody' })).toEqual([]);
      });

      it('combines filters with AND', async () => {
        const list = (filter: Parameters<StoreTx['executions']['list']>[0]) =>
          store.read(async (tx) => runIds(await tx.executions.list(filter)));
        expect(await list({ parentRunId: 'p1', status: 'RUNNING' })).toEqual(['c1']);
        expect(await list({ parentWorkflowId: 'parent', status: 'FAILED' })).toEqual(['c3']);
        expect(await list({ workflowId: 'child-1', parentRunId: 'p1' })).toEqual(['c1']);
        expect(await list({ workflowType: 'child', status: 'COMPLETED' })).toEqual(['c2']);
        expect(await list({ workflowType: 'other', status: 'COMPLETED' })).toEqual(['x1']);
        expect(await list({ workflowType: 'parent', status: 'COMPLETED' })).toEqual([]);
        expect(
          await list({
            workflowType: 'child',
            status: 'RUNNING',
            parentWorkflowId: 'parent',
            parentRunId: 'p1',
            workflowId: 'child-1',
          }),
        ).toEqual(['c1']);
      });

      it('follows updates to indexed fields', async () => {
        await store.write(async (tx) => tx.executions.put({ ...records[1]!, status: 'CANCELED' }));
        const list = (filter: Parameters<StoreTx['executions']['list']>[0]) =>
          store.read(async (tx) => runIds(await tx.executions.list(filter)));
        expect(await list({ status: 'RUNNING' })).toEqual(['p1']);
        expect(await list({ status: 'CANCELED' })).toEqual(['c1']);
      });
    });

    describe('atomicity', () => {
      it('writes nothing when fn throws after several puts', async () => {
        await expect(
          store.write(async (tx) => {
            writeEverything(tx, 'r1');
            await tx.executions.get('r1');
            throw new Error('changed my mind');
          }),
        ).rejects.toThrow('changed my mind');
        expect(await store.read((tx) => snapshot(tx, 'r1'))).toEqual(emptySnapshot);
      });

      it('undoes deletes and overwrites too', async () => {
        await store.write(async (tx) => writeEverything(tx, 'r1'));
        const before = await store.read((tx) => snapshot(tx, 'r1'));
        await expect(
          store.write(async (tx) => {
            tx.executions.put(makeExecution({ runId: 'r1', status: 'FAILED' }));
            tx.workflowIds.put({ workflowId: 'wf-r1', runId: 'r2' });
            tx.inbox.delete(before.inbox[0]!.id);
            tx.workflowTasks.delete('r1');
            tx.activityTasks.delete('r1', 1);
            tx.timers.delete('r1', 't1');
            tx.leases.put(lease('lease-r1', 'host-z', 9));
            throw new Error('no');
          }),
        ).rejects.toThrow('no');
        expect(await store.read((tx) => snapshot(tx, 'r1'))).toEqual(before);
      });

      it('rejects a write with an uncloneable value and writes nothing', async () => {
        await expect(
          store.write(async (tx) => {
            writeEverything(tx, 'r1');
            tx.executions.put(makeExecution({ runId: 'r2', memo: { callback: () => 1 } }));
          }),
        ).rejects.toMatchObject({ name: 'DataCloneError' });
        expect(await store.read((tx) => snapshot(tx, 'r1'))).toEqual(emptySnapshot);
        expect(await store.read((tx) => tx.executions.get('r2'))).toBeUndefined();
      });

      it('rejects the write even when fn catches the DataCloneError', async () => {
        await expect(
          store.write(async (tx) => {
            tx.leases.put(lease('a'));
            try {
              tx.inbox.add({ ...signal('r1', 'go'), input: [() => 1] });
            } catch {
              // Swallowed on purpose: the transaction must still fail.
            }
            return 'done';
          }),
        ).rejects.toMatchObject({ name: 'DataCloneError' });
        expect(await store.read((tx) => tx.leases.get('a'))).toBeUndefined();
        expect(await store.read((tx) => tx.inbox.list('r1'))).toEqual([]);
      });

      it('works normally after a failed write', async () => {
        await expect(
          store.write(async (tx) => {
            tx.inbox.add(signal('r1', 'lost'));
            throw new Error('no');
          }),
        ).rejects.toThrow();
        await store.write(async (tx) => tx.inbox.add(signal('r1', 'kept')));
        const inbox = await store.read((tx) => tx.inbox.list('r1'));
        expect(inbox.map((m) => (m.kind === 'signal' ? m.signalName : ''))).toEqual(['kept']);
      });
    });

    describe('isolation', () => {
      // A write keeps the record (or event) object it is given, built by the caller for that
      // write and left alone afterwards; what the object holds is copied.
      it('copies what a written record holds: later changes by the caller are not stored', async () => {
        const memo = { n: 1 };
        const record = makeExecution({ runId: 'r1', memo });
        const events = makeEvents(1, 2);
        const attempt = { n: 1 };
        events[0]!.attributes = { ...events[0]!.attributes, attempt } as never;
        const message = signal('r1', 'go');
        await store.write(async (tx) => {
          tx.executions.put(record);
          tx.history.append('r1', events);
          tx.inbox.add(message);
          memo.n = 2;
          attempt.n = 2;
          events.push(makeEvent(3));
          message.input.push('extra');
        });
        const stored = await store.read((tx) => snapshot(tx, 'r1'));
        expect(stored.execution).toMatchObject({ status: 'RUNNING', memo: { n: 1 } });
        expect(stored.history.map((e) => e.eventId)).toEqual([1, 2]);
        expect(stored.history[0]?.attributes).toMatchObject({ attempt: { n: 1 } });
        expect(stored.inbox[0]).toMatchObject({ input: ['go'] });
      });

      it('returns copies: changing a result does not change the store', async () => {
        await store.write(async (tx) => writeEverything(tx, 'r1'));
        const first = await store.read((tx) => snapshot(tx, 'r1'));
        const clean = structuredClone(first);
        first.execution!.status = 'FAILED';
        first.history[0]!.eventTime = -1;
        first.history.pop();
        first.inbox[0]!.time = -1;
        first.workflowTask!.scheduledTime = -1;
        first.activityTasks[0]!.input.push('x');
        first.timers[0]!.fireAt = -1;
        first.lease!.epoch = -1;
        const listed = await store.read((tx) => tx.executions.list());
        listed[0]!.status = 'FAILED';
        expect(await store.read((tx) => snapshot(tx, 'r1'))).toEqual(clean);
      });
    });

    describe('serialisation', () => {
      const increment = (tx: StoreTx) =>
        tx.leases.get('counter').then((counter) => {
          tx.leases.put(lease('counter', 'host-a', (counter?.epoch ?? 0) + 1));
        });

      it('runs concurrent read-modify-write transactions one after another', async () => {
        await Promise.all([store.write(increment), store.write(increment)]);
        expect((await store.read((tx) => tx.leases.get('counter')))?.epoch).toBe(2);
      });

      it('counts every one of many concurrent writes', async () => {
        await Promise.all(Array.from({ length: 10 }, () => store.write(increment)));
        expect((await store.read((tx) => tx.leases.get('counter')))?.epoch).toBe(10);
      });

      it('a failed write does not hold up the next', async () => {
        const results = await Promise.allSettled([
          store.write(async (tx) => {
            await increment(tx);
            throw new Error('no');
          }),
          store.write(increment),
        ]);
        expect(results.map((r) => r.status)).toEqual(['rejected', 'fulfilled']);
        expect((await store.read((tx) => tx.leases.get('counter')))?.epoch).toBe(1);
      });

      it('a read started after a write sees it', async () => {
        const write = store.write(async (tx) => tx.leases.put(lease('a')));
        const read = store.read((tx) => tx.leases.get('a'));
        await write;
        expect(await read).toEqual(lease('a'));
      });
    });

    describe('leases and fencing', () => {
      const ENGINE = 'engine';
      const fence = (holder: string, epoch: number, name = ENGINE): Fence => ({ name, holder, epoch });

      /** Takes the lease over as a host does: read it, then put the next epoch, in one write. */
      const acquire = (holder: string, expiresAt = 10_000) =>
        store.write(async (tx) => {
          const current = await tx.leases.get(ENGINE);
          const next = lease(ENGINE, holder, (current?.epoch ?? 0) + 1, expiresAt);
          tx.leases.put(next);
          return next;
        });

      it('puts a lease and reads it back as a copy', async () => {
        await store.write(async (tx) => tx.leases.put(lease(ENGINE, 'host-a', 1, 5000)));
        const read = await store.read((tx) => tx.leases.get(ENGINE));
        expect(read).toEqual(lease(ENGINE, 'host-a', 1, 5000));
        read!.epoch = 99;
        read!.holder = 'changed after get';
        expect(await store.read((tx) => tx.leases.get(ENGINE))).toEqual(lease(ENGINE, 'host-a', 1, 5000));
      });

      it('runs a fenced write when holder and epoch match, and keeps its writes', async () => {
        await acquire('host-a');
        const result = await store.write(
          async (tx) => {
            tx.executions.put(makeExecution({ runId: 'r1' }));
            // Renewing under the fence: same holder and epoch, a later expiry.
            tx.leases.put(lease(ENGINE, 'host-a', 1, 20_000));
            return 'written';
          },
          { fence: fence('host-a', 1) },
        );
        expect(result).toBe('written');
        expect(await store.read((tx) => tx.executions.get('r1'))).toEqual(makeExecution({ runId: 'r1' }));
        expect(await store.read((tx) => tx.leases.get(ENGINE))).toEqual(lease(ENGINE, 'host-a', 1, 20_000));
      });

      it.each([
        ['a wrong epoch', fence('host-a', 2), '(now host-a at epoch 1)'],
        ['a wrong holder', fence('host-b', 1), '(now host-a at epoch 1)'],
        ['a lease nobody holds', fence('host-a', 1, 'other'), '(no one holds it now)'],
      ])('refuses a fenced write with %s: LeaseLostError, fn not run, nothing written', async (_, f, now) => {
        await acquire('host-a');
        const fn = vi.fn(async (tx: StoreTx) => writeEverything(tx, 'r1'));
        const writing = store.write(fn, { fence: f });
        await expect(writing).rejects.toMatchObject({ name: 'LeaseLostError' });
        await expect(writing).rejects.toThrow(
          `Lease "${f.name}" is no longer held by ${f.holder} at epoch ${f.epoch} ${now}`,
        );
        expect(fn).not.toHaveBeenCalled();
        expect(await store.read((tx) => snapshot(tx, 'r1'))).toEqual(emptySnapshot);
        expect(await store.read((tx) => tx.leases.get(ENGINE))).toEqual(lease(ENGINE, 'host-a', 1));
      });

      it('refuses the old holder’s fenced write once another host took the lease over', async () => {
        expect(await acquire('host-a')).toEqual(lease(ENGINE, 'host-a', 1));
        await store.write(
          async (tx) => tx.executions.put(makeExecution({ runId: 'r1', memo: { by: 'host-a' } })),
          {
            fence: fence('host-a', 1),
          },
        );
        expect(await acquire('host-b', 30_000)).toEqual(lease(ENGINE, 'host-b', 2, 30_000));

        const stale = store.write(
          async (tx) => {
            tx.executions.put(makeExecution({ runId: 'r1', memo: { by: 'host-a' }, status: 'COMPLETED' }));
            tx.leases.put(lease(ENGINE, 'host-a', 1, 99_000));
          },
          { fence: fence('host-a', 1) },
        );
        await expect(stale).rejects.toMatchObject({ name: 'LeaseLostError' });
        await expect(stale).rejects.toThrow(
          'Lease "engine" is no longer held by host-a at epoch 1 (now host-b at epoch 2)',
        );
        expect(await store.read((tx) => tx.executions.get('r1'))).toEqual(
          makeExecution({ runId: 'r1', memo: { by: 'host-a' } }),
        );
        expect(await store.read((tx) => tx.leases.get(ENGINE))).toEqual(lease(ENGINE, 'host-b', 2, 30_000));
        // The new holder's fence passes.
        await store.write(
          async (tx) => tx.executions.put(makeExecution({ runId: 'r1', memo: { by: 'host-b' } })),
          {
            fence: fence('host-b', 2),
          },
        );
        expect((await store.read((tx) => tx.executions.get('r1')))?.memo).toEqual({ by: 'host-b' });
      });

      it('an unfenced write ignores leases, held or not', async () => {
        await store.write(async (tx) => tx.executions.put(makeExecution({ runId: 'r1' })));
        await acquire('host-b');
        await store.write(async (tx) => tx.executions.put(makeExecution({ runId: 'r2' })), {});
        expect((await store.read((tx) => tx.executions.list())).map((e) => e.runId)).toEqual(['r1', 'r2']);
      });

      it('a refused fenced write does not hold up the next', async () => {
        await acquire('host-a');
        const results = await Promise.allSettled([
          store.write(async (tx) => tx.inbox.add(signal('r1', 'lost')), { fence: fence('host-a', 7) }),
          store.write(async (tx) => tx.inbox.add(signal('r1', 'kept')), { fence: fence('host-a', 1) }),
        ]);
        expect(results.map((r) => r.status)).toEqual(['rejected', 'fulfilled']);
        const inbox = await store.read((tx) => tx.inbox.list('r1'));
        expect(inbox.map((m) => (m.kind === 'signal' ? m.signalName : ''))).toEqual(['kept']);
      });
    });

    describe('separation between runs', () => {
      it('keeps each run’s records to itself', async () => {
        await store.write(async (tx) => {
          writeEverything(tx, 'r1');
          writeEverything(tx, 'r2');
        });
        const r1 = await store.read((tx) => snapshot(tx, 'r1'));
        expect(r1.execution?.runId).toBe('r1');
        expect(r1.inbox.map((m) => m.runId)).toEqual(['r1']);
        expect(r1.activityTasks.map((t) => t.runId)).toEqual(['r1']);
        expect(r1.timers.map((t) => t.runId)).toEqual(['r1']);

        await store.write(async (tx) => {
          tx.inbox.delete(r1.inbox[0]!.id);
          tx.workflowTasks.delete('r1');
          tx.activityTasks.delete('r1', 1);
          tx.timers.delete('r1', 't1');
        });
        const r2 = await store.read((tx) => snapshot(tx, 'r2'));
        expect(r2.history).toEqual(makeEvents(1, 3));
        expect(r2.inbox).toHaveLength(1);
        expect(r2.workflowTask).toEqual(workflowTask('r2', 1000));
        expect(r2.activityTasks).toEqual([activityTask('r2', 1)]);
        expect(r2.timers).toEqual([timer('r2', 't1', 2000)]);
        const after = await store.read((tx) => snapshot(tx, 'r1'));
        expect(after.inbox).toEqual([]);
        expect(after.workflowTask).toBeUndefined();
        expect(after.activityTasks).toEqual([]);
        expect(after.timers).toEqual([]);
      });
    });
  });
}
