/**
 * Bugs the crash fuzzer (`npm run fuzz`) found, each reproduced on its own, small and
 * deterministic: each test failed before its fix.
 */
import { Worker } from 'node:worker_threads';
import { IDBFactory } from 'fake-indexeddb';
import { describe, expect, it } from 'vitest';
import { createEngine, indexedDbStore, memoryStore, type Store } from '../../src/index.ts';
import type { BusNote } from '../../src/protocol/notes.ts';
import { LeaseLostError } from '../../src/store/errors.ts';
import { faultyStore } from '../../src/store/faulty.ts';
import { ENGINE_LEASE } from '../../src/store/types.ts';
import { Context } from '../../src/worker/activity.ts';
import { localBus } from '../../src/worker/bus.ts';
import {
  CancellationScope,
  type ChildWorkflowCancellationType,
  condition,
  continueAsNew,
  defineQuery,
  defineSignal,
  ParentClosePolicy,
  proxyActivities,
  setHandler,
  sleep,
  startChild,
} from '../../src/workflow/index.ts';

const release = defineSignal('release');

const scopeWorkflows = {
  async blocker(): Promise<string> {
    let released = false;
    setHandler(release, () => {
      released = true;
    });
    await condition(() => released);
    return 'released';
  },
  /** Cancels a child's scope, waits for the child's result, then goes on in its own scope. */
  async cancelsThenSleeps(type: ChildWorkflowCancellationType): Promise<string> {
    const scope = new CancellationScope();
    const child = await scope.run(() =>
      startChild<() => Promise<string>>('blocker', {
        workflowId: `blocker-${type}`,
        cancellationType: type,
        parentClosePolicy: ParentClosePolicy.ABANDON,
      }),
    );
    scope.cancel();
    const outcome = await child.result().then(
      () => 'completed',
      (error: Error & { cause?: Error }) => `${error.name}/${error.cause?.name}`,
    );
    // Code after the await runs in the workflow's scope, which nobody cancelled.
    await sleep(1);
    return `${outcome}, then slept`;
  },
};

describe('a child cancelled through its scope', () => {
  it.each(['TRY_CANCEL', 'WAIT_CANCELLATION_REQUESTED', 'WAIT_CANCELLATION_COMPLETED', 'ABANDON'] as const)(
    '%s: code after awaiting its result is not in the cancelled scope',
    async (type) => {
      const engine = await createEngine({ workflows: scopeWorkflows });
      expect(
        await engine.client.workflow.execute('cancelsThenSleeps', { workflowId: 'p', args: [type] }),
      ).toBe('ChildWorkflowFailure/CancelledFailure, then slept');
      await engine.shutdown();
    },
  );
});

describe('a host that opened the database before another wrote to it', () => {
  it('answers an error only once what it saw is durable: it follows, and the leader answers', async () => {
    const factory = new IDBFactory();
    // Both connections load the database while it is empty.
    const storeA = await indexedDbStore({ name: 'stale', indexedDB: factory });
    const storeB = await indexedDbStore({ name: 'stale', indexedDB: factory });
    const bus = localBus(storeA);
    const a = await createEngine({ workflows: scopeWorkflows, store: storeA, identity: 'a', bus });
    await a.client.workflow.start('blocker', { workflowId: 'known' });
    // B's view is from before the start: it believes it may lead, until its first flush fails.
    const b = await createEngine({ workflows: scopeWorkflows, store: storeB, identity: 'b', bus });
    expect((await b.client.workflow.getHandle('known').describe()).status).toBe('RUNNING');
    await b.client.workflow.getHandle('known').signal(release);
    expect(await b.client.workflow.getHandle('known').result()).toBe('released');
    await b.shutdown();
    await a.shutdown();
  });
});

describe('a call forwarded to a leader that loses its lease while it answers', () => {
  it('is answered by the next leader; the client never sees LeaseLostError', async () => {
    const shared = memoryStore();
    let asked: () => void = () => undefined;
    const leaderAsked = new Promise<void>((resolve) => {
      asked = resolve;
    });
    let loseLease = false;
    let watching = false;
    let found = false;
    // The leader's store: says when the forwarded result() has looked the run up and is about
    // to wait for it to close, and refuses one write as if another host had taken the lease.
    const storeA = faultyStore(shared, {
      before: (op) => {
        if (watching && op.name === 'executions.open') found = true;
        // result() reads the run again by its run ID once it waits for the close.
        else if (found && op.name === 'executions.get') asked();
        if (op.name === 'write' && loseLease) {
          loseLease = false;
          throw new LeaseLostError('the lease moved on');
        }
      },
    });
    const bus = localBus(shared);
    const a = await createEngine({ workflows: scopeWorkflows, store: storeA, identity: 'a', bus });
    const b = await createEngine({ workflows: scopeWorkflows, store: shared, identity: 'b', bus });
    await a.client.workflow.start('blocker', { workflowId: 'held' });
    watching = true;
    const result = b.client.workflow.getHandle('held').result();
    await leaderAsked;
    loseLease = true;
    // This write is refused: the leader steps down (waking the result call it was answering),
    // leads again, and the signal goes through.
    await a.client.workflow.getHandle('held').signal(release);
    expect(await result).toBe('released');
    await b.shutdown();
    await a.shutdown();
  });
});

describe('two hosts that both believe they lead, for a moment, and a follower', () => {
  it('the follower hears both: the three exchange a few notes, not a storm', async () => {
    const factory = new IDBFactory();
    const storeA = await indexedDbStore({ name: 'two-leaders', indexedDB: factory });
    // B loads the database before A wrote its lease: it will take the lease too, in memory.
    const storeB = await indexedDbStore({ name: 'two-leaders', indexedDB: factory });
    // As a BroadcastChannel: each note is a task of its own, never delivered to its sender.
    const listeners = new Set<(note: BusNote) => void>();
    let notes = 0;
    const bus = {
      publish: (note: BusNote) => {
        notes++;
        setImmediate(() => {
          for (const listener of listeners) listener(note);
        });
      },
      subscribe: (listener: (note: BusNote) => void) => {
        listeners.add(listener);
        return () => listeners.delete(listener);
      },
    };
    const a = await createEngine({ workflows: scopeWorkflows, store: storeA, identity: 'a', bus });
    await storeA.flushed();
    const storeC = await indexedDbStore({ name: 'two-leaders', indexedDB: factory });
    const b = await createEngine({ workflows: scopeWorkflows, store: storeB, identity: 'b', bus });
    const c = await createEngine({ workflows: scopeWorkflows, store: storeC, identity: 'c', bus });
    // B's lease cannot become durable (A's came first): B finds out at its flush, and follows.
    await storeB.flushed().catch(() => undefined);
    const handle = await c.client.workflow.start('blocker', { workflowId: 'x' });
    await handle.signal(release);
    expect(await handle.result()).toBe('released');
    expect(notes).toBeLessThan(40);
    await Promise.all([a.shutdown(), b.shutdown(), c.shutdown()]);
  });
});

describe('a query that replays its run', () => {
  it('runs the replay alone: other code running meanwhile sees the real clock, not the workflow task time', async () => {
    const hourAgo = () => Date.now() - 3_600_000;
    const counter = defineQuery<number>('counter');
    const workflows = {
      async counts(): Promise<void> {
        let n = 0;
        setHandler(counter, () => n);
        for (let i = 0; i < 5; i++) {
          await sleep(1);
          n++;
        }
        await condition(() => false);
      },
    };
    // Workflow tasks on a clock an hour behind; no instance kept, so a query replays the run.
    const engine = await createEngine({
      workflows,
      maxCachedWorkflows: 0,
      clock: { now: hourAgo, setTimer: (fn, ms) => clearTimeout.bind(undefined, setTimeout(fn, ms)) },
    });
    const handle = await engine.client.workflow.start('counts', { workflowId: 'q' });
    await expect.poll(() => handle.query(counter)).toBe(5);
    // Code that is not the workflow's (an activity, say) runs its microtasks during the query.
    const wrong: number[] = [];
    const other = (async () => {
      for (let hop = 0; hop < 5_000; hop++) {
        await null;
        const skew = performance.timeOrigin + performance.now() - Date.now();
        if (Math.abs(skew) > 60_000) wrong.push(skew);
      }
    })();
    expect(await handle.query(counter)).toBe(5);
    await other;
    expect(wrong).toEqual([]);
    await engine.shutdown();
  });
});

describe("signals in a run's first workflow task", () => {
  const ready = defineSignal<[string]>('ready');
  const workflows = {
    /** Reads what its handler got before its first await (signalWithStart's signal, in Temporal). */
    async gotAtStart(): Promise<string> {
      let got = 'nothing yet';
      setHandler(ready, (value) => {
        got = value;
      });
      return got;
    },
    /** Continues as new at once, carrying what it was signalled. */
    async carries(seen: string[] = []): Promise<string[]> {
      setHandler(ready, (value) => {
        seen.push(value);
      });
      if (seen.length === 0) await continueAsNew<typeof workflows.carries>(seen);
      return seen;
    },
  };

  it('reach their handlers before the workflow function runs on, as in Temporal', async () => {
    const engine = await createEngine({ workflows });
    const handle = await engine.client.workflow.signalWithStart('gotAtStart', {
      workflowId: 'early',
      signal: 'ready',
      signalArgs: ['signalled'],
    });
    expect(await handle.result()).toBe('signalled');
    // A run that continues as new in its first task carries the signal it got with it.
    const carried = await engine.client.workflow.signalWithStart('carries', {
      workflowId: 'carried',
      signal: 'ready',
      signalArgs: ['kept'],
    });
    expect(await carried.result()).toEqual(['kept']);
    await engine.shutdown();
  });
});

describe('an activity running when its host loses the lease for a moment', () => {
  it('is not recorded as cancelled: the attempt runs again once the host leads again', async () => {
    const shared = memoryStore();
    // A client write held on its way to the store, so that what the host queues behind it
    // waits until the host leads again.
    let holdWrites = false;
    let release: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    let held: () => void = () => undefined;
    const writeHeld = new Promise<void>((resolve) => {
      held = resolve;
    });
    const faulty = faultyStore(shared, {
      before: (op) => {
        if (op.name !== 'write' || !holdWrites) return undefined;
        holdWrites = false;
        held();
        return gate;
      },
    });
    // The store can tell the host it reloaded, as an IndexedDB store does after a conflict.
    const reloads = new Set<() => void>();
    const store: Store = {
      ...faulty,
      onReload: (listener) => {
        reloads.add(listener);
        return () => reloads.delete(listener);
      },
    };
    let started: () => void = () => undefined;
    const running = new Promise<void>((resolve) => {
      started = resolve;
    });
    let runs = 0;
    const activities = {
      async slow(): Promise<string> {
        runs++;
        started();
        const { cancellationSignal } = Context.current();
        // The first attempt runs until it is aborted; the next one completes.
        if (runs === 1) await new Promise((resolve) => cancellationSignal.addEventListener('abort', resolve));
        return `done on run ${runs}`;
      },
    };
    const workflows = {
      async waitsForSlow(): Promise<string> {
        const { slow } = proxyActivities<typeof activities>({ startToCloseTimeout: '1 minute' });
        return slow();
      },
      async quick(): Promise<void> {},
    };
    const engine = await createEngine({ workflows, activities, store, identity: 'a', leaseTimeout: 60_000 });
    const handle = await engine.client.workflow.start('waitsForSlow', { workflowId: 'slow' });
    await running;
    holdWrites = true;
    const quick = engine.client.workflow.start('quick', { workflowId: 'quick' });
    await writeHeld;
    // The lease moved on (another epoch) and the store says so: the host steps down, aborting
    // the attempt it runs, finds the lease still its own, and leads again.
    await shared.write(async (tx) =>
      tx.leases.put({ name: ENGINE_LEASE, holder: 'a', epoch: 99, expiresAt: Date.now() + 60_000 }),
    );
    for (const listener of reloads) listener();
    await expect.poll(async () => (await shared.read((tx) => tx.leases.get(ENGINE_LEASE)))?.epoch).toBe(100);
    release();
    await quick;
    expect(await handle.result()).toBe('done on run 2');
    const types = (await handle.fetchHistory()).events.map((e) => e.eventType);
    expect(types).not.toContain('ActivityTaskCanceled');
    await engine.shutdown();
  });
});

/**
 * A leader and an executor of queue `other` on one memory store, and a workflow whose one
 * activity runs there. The leader can freeze as a killed tab does: its store never answers
 * again, and it neither hears nor says a thing. With `holdActivityCall`, it freezes the moment
 * it sends the attempt to the executor, and that note is kept for the test to deliver.
 */
async function leaderAndExecutor(activities: { work(): Promise<string> }, { holdActivityCall = false } = {}) {
  const shared = memoryStore();
  const bus = localBus(shared);
  let frozen = false;
  let held: BusNote | undefined;
  const leaderStore = faultyStore(shared, {
    before: () => (frozen ? new Promise<never>(() => undefined) : undefined),
  });
  const leaderBus: typeof bus = {
    publish: (note) => {
      if (frozen) return;
      if (holdActivityCall && 'call' in note && note.call?.method === 'activity') {
        held = note;
        frozen = true;
        return;
      }
      bus.publish(note);
    },
    subscribe: (listener) => bus.subscribe((note) => (frozen ? undefined : listener(note))),
  };
  const workflows = {
    async callsWork(): Promise<string> {
      const { work } = proxyActivities<typeof activities>({
        startToCloseTimeout: '1 minute',
        taskQueue: 'other',
        retry: { initialInterval: 1 },
      });
      return work();
    },
  };
  const options = { workflows, leaseTimeout: 150 };
  const leader = await createEngine({ ...options, bus: leaderBus, store: leaderStore, identity: 'leader' });
  const executor = await createEngine({
    ...options,
    activities,
    bus,
    store: shared,
    identity: 'executor',
    taskQueues: ['default', 'other'],
  });
  return {
    leader,
    executor,
    bus,
    freeze: () => {
      frozen = true;
    },
    held: () => held,
    /** Resolves once the executor holds the lease. */
    executorLeads: () =>
      expect
        .poll(async () => (await shared.read((tx) => tx.leases.get(ENGINE_LEASE)))?.holder, {
          timeout: 5_000,
        })
        .toBe('executor'),
  };
}

describe('an executor that takes the lead while it runs an attempt for the leader that died', () => {
  it('takes the attempt over once it ends there: the next attempt runs, the run goes on', async () => {
    let started: () => void = () => undefined;
    const running = new Promise<void>((resolve) => {
      started = resolve;
    });
    let finish: () => void = () => undefined;
    const finished = new Promise<void>((resolve) => {
      finish = resolve;
    });
    const { leader, executor, freeze, executorLeads } = await leaderAndExecutor({
      async work(): Promise<string> {
        const { attempt } = Context.current().info;
        if (attempt === 1) {
          started();
          await finished;
        }
        return `attempt ${attempt}`;
      },
    });
    await leader.client.workflow.start('callsWork', { workflowId: 'orphaned' });
    await running;
    freeze();
    // The leader's lease runs out; the executor takes it, and finds attempt 1 claimed by the
    // leader while it still runs that very attempt for it.
    await executorLeads();
    // Its outcome goes to the dead leader, who never records it: attempt 1 is lost.
    finish();
    expect(await executor.client.workflow.getHandle('orphaned').result()).toBe('attempt 2');
    await executor.shutdown();
  });
});

describe('an IndexedDB store closed while its flush loop waits for a transaction to end', () => {
  it('waits for the loop without spinning, and what was written before the close is durable', async () => {
    // A spinning close starves every timer and I/O callback of this thread, the test's own
    // timeout too: a watchdog on a thread of its own ends the process instead.
    const watchdog = new Worker(
      `setTimeout(() => { console.error('the store close spins: killed'); process.kill(process.pid, 'SIGKILL'); }, 20000);`,
      { eval: true },
    );
    try {
      const factory = new IDBFactory();
      const store = await indexedDbStore({ name: 'close-spin', indexedDB: factory });
      const lease = (epoch: number) => ({ name: 'l', holder: 'h', epoch, expiresAt: 0 });
      await store.write(async (tx) => tx.leases.put(lease(1)));
      // Flush 1 goes out now (someone waits for it)...
      const first = store.flushed();
      // ...a write follows it, and someone waits for that too: the loop goes on after flush 1...
      await store.write(async (tx) => tx.leases.put(lease(2)));
      const second = store.flushed();
      // ...but a transaction holds the store (it awaits I/O of its own) until it is let go.
      let letGo: () => void = () => undefined;
      const holding = store.read(
        () =>
          new Promise<void>((resolve) => {
            letGo = resolve;
          }),
      );
      await first;
      // The loop waits for that transaction, its flush 1 over: the store closes meanwhile.
      store.close();
      // Let go a macrotask later: a close that spins never lets this timer fire.
      await new Promise((resolve) => setTimeout(resolve, 5));
      letGo();
      await holding;
      await second;
      // The close flushed before it let the connection go.
      const reopened = await indexedDbStore({ name: 'close-spin', indexedDB: factory });
      expect(await reopened.read((tx) => tx.leases.get('l'))).toMatchObject({ epoch: 2 });
      reopened.close();
    } finally {
      await watchdog.terminate();
    }
  });
});

describe('a call forwarded while the lease is between leaders', () => {
  it('waits for the next leader rather than give up after a few refusals', async () => {
    const shared = memoryStore();
    const bus = localBus(shared);
    const options = { workflows: scopeWorkflows, store: shared, bus, leaseTimeout: 200 };
    const a = await createEngine({ ...options, identity: 'a' });
    const b = await createEngine({ ...options, identity: 'b' });
    await a.client.workflow.start('blocker', { workflowId: 'between' });
    // A host nobody hears of takes the lease for a while: the leader's next write is refused,
    // and until the lease runs out every host it asks refuses too.
    await shared.write(async (tx) =>
      tx.leases.put({ name: ENGINE_LEASE, holder: 'elsewhere', epoch: 99, expiresAt: Date.now() + 300 }),
    );
    await b.client.workflow.getHandle('between').signal(release);
    expect(await a.client.workflow.getHandle('between').result()).toBe('released');
    await b.shutdown();
    await a.shutdown();
  });
});

describe('an executor that hears, once it leads, an attempt the leader it replaced sent before it died', () => {
  it('does not run it: the attempt is taken over from the store, and runs once', async () => {
    const attempts: number[] = [];
    // The leader dies the moment it sends the attempt; the note reaches the executor later.
    const { leader, executor, bus, held, executorLeads } = await leaderAndExecutor(
      {
        async work(): Promise<string> {
          const { attempt } = Context.current().info;
          attempts.push(attempt);
          return `attempt ${attempt}`;
        },
      },
      { holdActivityCall: true },
    );
    await leader.client.workflow.start('callsWork', { workflowId: 'sent-before-death' });
    await executorLeads();
    // The executor's answer to the stale request, once it has given one.
    const note = held()!;
    const call = (note as BusNote & { call: { id: number } }).call;
    const answered = new Promise<void>((resolve) => {
      bus.subscribe((answer) => {
        if ('answer' in answer && answer.answer?.to === 'leader' && answer.answer.id === call.id) resolve();
      });
    });
    bus.publish(note);
    expect(await executor.client.workflow.getHandle('sent-before-death').result()).toBe('attempt 2');
    await answered;
    expect(attempts).toEqual([2]);
    await executor.shutdown();
  });
});

describe('a query sent before a run that continues as new at once has run its first task', () => {
  it('is answered by the new run, once that one has run its first task', async () => {
    const trace = defineQuery<string>('trace');
    const workflows = {
      async restarts(again: boolean): Promise<string> {
        setHandler(trace, () => (again ? 'first run' : 'second run'));
        if (again) await continueAsNew<(again: boolean) => Promise<string>>(false);
        await sleep('1 hour');
        return 'done';
      },
    };
    const engine = await createEngine({ workflows });
    const handle = await engine.client.workflow.start('restarts', { workflowId: 'restarts', args: [true] });
    // Sent at once: it finds the first run before its first task, which continues as new.
    expect(await handle.query(trace)).toBe('second run');
    await engine.shutdown();
  });
});

describe('a result call whose run its host no longer sees after a reload', () => {
  it('looks again from the workflow ID, rather than answer WorkflowNotFoundError', async () => {
    const shared = memoryStore();
    let runId = '';
    let watching = false;
    let waiting: () => void = () => undefined;
    const resultWaits = new Promise<void>((resolve) => {
      waiting = resolve;
    });
    let hideOnce = false;
    const faulty = faultyStore(shared, {
      before: (op) => {
        if (op.name !== 'executions.get' || op.args[0] !== runId) return undefined;
        // result() reads the run again by its ID once it waits for the close.
        if (watching) {
          watching = false;
          waiting();
        } else if (hideOnce) {
          // The run is not in this view of the store (its writes were taken back, and then
          // caught up with from another connection): this one read misses it.
          hideOnce = false;
          return 'skip';
        }
        return undefined;
      },
    });
    const reloads = new Set<() => void>();
    const store: Store = {
      ...faulty,
      onReload: (listener) => {
        reloads.add(listener);
        return () => reloads.delete(listener);
      },
    };
    const engine = await createEngine({ workflows: scopeWorkflows, store });
    const handle = await engine.client.workflow.start('blocker', { workflowId: 'seen-then-gone' });
    runId = handle.firstExecutionRunId ?? '';
    watching = true;
    const result = engine.client.workflow.getHandle('seen-then-gone').result();
    await resultWaits;
    hideOnce = true;
    // The store says it dropped writes: whoever waits on a run looks again.
    for (const listener of reloads) listener();
    await expect.poll(() => hideOnce).toBe(false);
    await handle.signal(release);
    expect(await result).toBe('released');
    await engine.shutdown();
  });
});
