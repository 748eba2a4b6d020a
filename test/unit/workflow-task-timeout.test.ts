/**
 * `workflowTaskTimeout` (issue 16), as Temporal's: a workflow task that the leader handed to an
 * executor host that never answers (frozen, as a paused worker) is taken back after the
 * timeout, recorded as `WorkflowTaskTimedOut` (once for consecutive ones), and run by another
 * host of its queue; the timed-out attempt's late answer never commits. Default: 10 s.
 */
import { afterEach, describe, expect, it } from 'vitest';
import {
  createEngine,
  type Engine,
  type HistoryEvent,
  memoryStore,
  type Store,
  type StoreTx,
} from '../../src/index.ts';
import type { BusNote } from '../../src/protocol/notes.ts';
import { fromTemporalHistory, replayHistory, toTemporalHistory } from '../../src/temporal/index.ts';
import { SkippingClock } from '../../src/testing/clock.ts';
import { localBus, type WakeBus } from '../../src/worker/bus.ts';
import {
  completeWorkflowTask,
  newEffects,
  type ServiceContext,
  timeOutWorkflowTask,
} from '../../src/worker/service.ts';
import { condition, defineSignal, setHandler, workflowInfo } from '../../src/workflow/index.ts';

const hello = defineSignal<[string]>('hello');

const workflows = {
  /** Remembers how long its history was when its code first ran; returns that once signalled. */
  async firstLength(): Promise<number> {
    const length = workflowInfo().historyLength;
    let go = false;
    setHandler(hello, (_name) => {
      go = true;
    });
    await condition(() => go);
    return length;
  },
  /** Waits for one `hello` signal; returns who said it. */
  async greeted(): Promise<string[]> {
    const names: string[] = [];
    setHandler(hello, (name) => {
      names.push(name);
    });
    await condition(() => names.length > 0);
    return names;
  },
};

const engines: Engine[] = [];
afterEach(async () => {
  for (const engine of engines.splice(0).reverse()) await engine.shutdown();
});

async function engine(options: Parameters<typeof createEngine>[0]): Promise<Engine> {
  const e = await createEngine(options);
  engines.push(e);
  return e;
}

/**
 * A host's bus that can freeze, as a paused worker: while frozen, the host hears nothing and
 * says nothing; thawed, it hears what came meanwhile, in order, and what it said goes out.
 * Muted, it hears and works, but what it says is held (an answer that comes too late).
 */
function freezable(shared: WakeBus) {
  let deaf = false;
  let muted = false;
  const heard: BusNote[] = [];
  const said: BusNote[] = [];
  const listeners = new Set<(note: BusNote) => void>();
  shared.subscribe((note) => {
    if (deaf) heard.push(note);
    else for (const listener of listeners) listener(note);
  });
  const bus: WakeBus = {
    publish: (note) => {
      if (muted) said.push(note);
      else shared.publish(note);
    },
    subscribe: (listener) => {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
  };
  return {
    bus,
    /** Whether a call of `method` waits for the frozen host. */
    holds: (method: string) => heard.some((note) => 'call' in note && note.call?.method === method),
    /** How many answers the muted host has given. */
    answered: () => said.filter((note) => 'answer' in note).length,
    freeze() {
      deaf = true;
      muted = true;
    },
    mute() {
      muted = true;
    },
    thaw() {
      deaf = false;
      muted = false;
      for (const note of said.splice(0)) shared.publish(note);
      for (const note of heard.splice(0)) for (const listener of listeners) listener(note);
    },
  };
}

/** Every note published on `shared`, for tests that wait on what a host says. */
function recording(shared: WakeBus): BusNote[] {
  const notes: BusNote[] = [];
  shared.subscribe((note) => notes.push(note));
  return notes;
}

const types = (events: HistoryEvent[]) => events.map((e) => e.eventType);
const attributes = (events: HistoryEvent[], type: string) =>
  events.filter((e) => e.eventType === type).map((e) => e.attributes as Record<string, unknown>);

async function quiet(e: Engine): Promise<void> {
  await expect.poll(() => e.host.busy.writes || e.host.busy.workflowTasks).toBe(false);
}

describe('workflowTaskTimeout', () => {
  it('a frozen executor’s task times out, is recorded, runs on another host of its queue; its late answer never commits', async () => {
    const store = memoryStore();
    const shared = localBus(store);
    const notes = recording(shared);
    const a = await engine({ workflows, store, identity: 'leader' });
    const b = freezable(shared);
    await engine({ workflows, store, identity: 'executor-b', taskQueues: ['other'], bus: b.bus });
    await engine({ workflows, store, identity: 'executor-c', taskQueues: ['other'] });
    b.freeze();
    // b offered first: the leader hands it the task, and b never answers.
    const handle = await a.client.workflow.start('greeted', {
      workflowId: 'frozen-b',
      taskQueue: 'other',
      workflowTaskTimeout: 200,
    });
    await handle.signal(hello, 'ada');
    expect(await handle.result()).toEqual(['ada']);
    const { events } = await handle.fetchHistory();
    expect(types(events)).toEqual([
      'WorkflowExecutionStarted',
      'WorkflowTaskScheduled',
      'WorkflowTaskStarted',
      'WorkflowTaskTimedOut',
      'WorkflowExecutionSignaled',
      'WorkflowTaskScheduled',
      'WorkflowTaskStarted',
      'WorkflowTaskCompleted',
      'WorkflowExecutionCompleted',
    ]);
    expect(events.map((e) => e.eventId)).toEqual(events.map((_, i) => i + 1));
    expect(attributes(events, 'WorkflowTaskStarted')).toMatchObject([
      { identity: 'executor-b' },
      { identity: 'executor-c' },
    ]);
    expect(attributes(events, 'WorkflowTaskTimedOut')).toEqual([
      { scheduledEventId: 2, startedEventId: 3, timeoutType: 'START_TO_CLOSE' },
    ]);
    // As Temporal: the task after a timeout is attempt 2.
    expect(attributes(events, 'WorkflowTaskScheduled')).toMatchObject([{ attempt: 1 }, { attempt: 2 }]);
    // The timeout was not early: it came once the timeout had passed.
    const timedOut = events.find((e) => e.eventType === 'WorkflowTaskTimedOut')!;
    expect(timedOut.eventTime - events[2]!.eventTime).toBeGreaterThanOrEqual(200);

    // b thaws, runs the task it was given and answers: too late, the leader ignores it.
    b.thaw();
    await expect.poll(() => notes.some((n) => n.from === 'executor-b' && 'answer' in n)).toBe(true);
    await quiet(a);
    expect((await handle.fetchHistory()).events).toEqual(events);
  });

  it('the only executor of the queue, frozen: the task times out again and again, is recorded once, and completes once it thaws', async () => {
    const store = memoryStore();
    const shared = localBus(store);
    const a = await engine({ workflows, store, identity: 'leader' });
    const b = freezable(shared);
    await engine({ workflows, store, identity: 'executor-b', taskQueues: ['other'], bus: b.bus });
    b.freeze();
    const handle = await a.client.workflow.start('greeted', {
      workflowId: 'only-b',
      taskQueue: 'other',
      workflowTaskTimeout: 50,
      args: [],
    });
    await handle.signal(hello, 'grace');
    const attempt = () =>
      store.read(
        async (tx) => (await tx.executions.list({ workflowId: 'only-b' }))[0]?.workflowTaskAttempt ?? 1,
      );
    await expect.poll(attempt).toBeGreaterThanOrEqual(3);
    b.thaw();
    expect(await handle.result()).toEqual(['grace']);
    const { events } = await handle.fetchHistory();
    expect(types(events).filter((t) => t === 'WorkflowTaskTimedOut')).toHaveLength(1);
    const scheduled = attributes(events, 'WorkflowTaskScheduled');
    expect(scheduled[0]).toMatchObject({ attempt: 1 });
    expect(scheduled[1]!.attempt).toBeGreaterThanOrEqual(3);
    expect(events.map((e) => e.eventId)).toEqual(events.map((_, i) => i + 1));
  });

  it('an executor that ran a timed-out task late runs the next from the history, not from what that run left', async () => {
    const store = memoryStore();
    const a = await engine({ workflows, store, identity: 'leader' });
    const b = freezable(localBus(store));
    await engine({ workflows, store, identity: 'executor-b', taskQueues: ['other'], bus: b.bus });
    b.mute();
    const handle = await a.client.workflow.start('firstLength', {
      workflowId: 'late-instance',
      taskQueue: 'other',
      workflowTaskTimeout: 200,
    });
    // b runs the first attempt, and its answer is held past the timeout: its instance stays, at
    // the next event the run has once the timeout is recorded. Then it runs the second.
    await expect.poll(() => b.answered()).toBeGreaterThanOrEqual(2);
    b.thaw();
    await handle.signal(hello, 'ada');
    const length = await handle.result();
    const { events } = await handle.fetchHistory();
    // What the workflow saw is what its history says: the task that completed started at `length`.
    const completed = events.find((e) => e.eventType === 'WorkflowTaskCompleted')!;
    expect(length).toBe((completed.attributes as { startedEventId: number }).startedEventId);
    await replayHistory({ workflows }, { events });
  });

  it('defaults to 10 seconds, on the leader’s clock', async () => {
    const store = memoryStore();
    const clock = new SkippingClock();
    const a = await engine({ workflows, store, identity: 'leader', clock });
    const b = freezable(localBus(store));
    await engine({ workflows, store, identity: 'executor-b', taskQueues: ['other'], bus: b.bus });
    b.freeze();
    const handle = await a.client.workflow.start('greeted', { workflowId: 'default', taskQueue: 'other' });
    const timedOut = async () =>
      (await handle.fetchHistory()).events.find((e) => e.eventType === 'WorkflowTaskTimedOut');
    await expect.poll(() => b.holds('task')).toBe(true);
    const sent = clock.now();
    // Had it timed out here, its event would say so: it was recorded at the clock's time.
    clock.advanceTo(sent + 9_900);
    clock.advanceTo(sent + 10_000);
    await expect.poll(timedOut).toBeDefined();
    const { events } = await handle.fetchHistory();
    const started = events.find((e) => e.eventType === 'WorkflowTaskStarted')!;
    expect((await timedOut())!.eventTime - started.eventTime).toBeGreaterThanOrEqual(10_000);
    b.thaw();
    await handle.signal(hello, 'ada');
    expect(await handle.result()).toEqual(['ada']);
  });

  it('replay (and Temporal’s JSON, both ways) accepts a history with WorkflowTaskTimedOut', async () => {
    const store = memoryStore();
    const a = await engine({ workflows, store, identity: 'leader' });
    const b = freezable(localBus(store));
    await engine({ workflows, store, identity: 'executor-b', taskQueues: ['other'], bus: b.bus });
    await engine({ workflows, store, identity: 'executor-c', taskQueues: ['other'] });
    b.freeze();
    const handle = await a.client.workflow.start('greeted', {
      workflowId: 'replayed',
      taskQueue: 'other',
      workflowTaskTimeout: 100,
    });
    await handle.signal(hello, 'ada');
    await handle.result();
    const history = await handle.fetchHistory();
    expect(types(history.events)).toContain('WorkflowTaskTimedOut');
    await replayHistory({ workflows }, history);
    const json = toTemporalHistory(history);
    expect(json.events.map((e) => e.eventType)).toContain('EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT');
    await replayHistory({ workflows }, json);
    expect(fromTemporalHistory(json).events.map((e) => [e.eventType, e.attributes])).toEqual(
      history.events.map((e) => [e.eventType, e.attributes]),
    );
    b.thaw();
  });
});

describe('a timed-out attempt cannot commit', () => {
  /** A running run that waits for a signal, in a store no host holds any more. */
  async function waitingRun(): Promise<{ store: Store; runId: string; nextEventId: number }> {
    const store = memoryStore();
    const e = await createEngine({ workflows, store });
    const handle = await e.client.workflow.start('greeted', { workflowId: 'w' });
    await expect.poll(async () => (await handle.describe()).historyLength).toBe(4);
    await e.shutdown();
    const exec = (await store.read((tx) => tx.executions.list({ workflowId: 'w' })))[0]!;
    return { store, runId: exec.runId, nextEventId: exec.nextEventId };
  }

  const ctx: ServiceContext = {
    now: 1_000,
    hostId: 'leader',
    newRunId: () => 'new-run',
    newSeed: () => 1,
    historyLimit: 50_000,
  };
  const write = <T>(store: Store, op: (tx: StoreTx) => Promise<T>) => store.write(op);
  const emptyTask = (runId: string, expectedNextEventId: number, attempt?: number) => ({
    runId,
    expectedNextEventId,
    ...(attempt !== undefined && { attempt }),
    consumedInbox: [],
    result: { events: [], commands: [], closed: false },
  });

  it('once a task timed out, a completion computed for its attempt is refused, though no event moved', async () => {
    const { store, runId, nextEventId } = await waitingRun();
    expect(
      await write(store, (tx) =>
        timeOutWorkflowTask(tx, runId, nextEventId, 1, 900, 'frozen', ctx, newEffects()),
      ),
    ).toBe(true);
    const after = (await store.read((tx) => tx.executions.get(runId)))!;
    expect(after.workflowTaskAttempt).toBe(2);
    // A second timeout in a row is not recorded: the events stay, the attempt moves on.
    expect(
      await write(store, (tx) =>
        timeOutWorkflowTask(tx, runId, after.nextEventId, 2, 950, 'frozen', ctx, newEffects()),
      ),
    ).toBe(true);
    const again = (await store.read((tx) => tx.executions.get(runId)))!;
    expect(again.nextEventId).toBe(after.nextEventId);
    expect(again.workflowTaskAttempt).toBe(3);
    // Attempt 2's answer comes in late: the run's next event is the one it read, but not its attempt.
    expect(
      await write(store, (tx) =>
        completeWorkflowTask(tx, emptyTask(runId, after.nextEventId, 2), ctx, newEffects()),
      ),
    ).toBe(false);
    // Nor does a stale timeout apply twice.
    expect(
      await write(store, (tx) =>
        timeOutWorkflowTask(tx, runId, after.nextEventId, 2, 950, 'frozen', ctx, newEffects()),
      ),
    ).toBe(false);
    // The current attempt's completion commits, and the attempt count is done with.
    expect(
      await write(store, (tx) =>
        completeWorkflowTask(tx, emptyTask(runId, after.nextEventId, 3), ctx, newEffects()),
      ),
    ).toBe(true);
    expect((await store.read((tx) => tx.executions.get(runId)))!.workflowTaskAttempt).toBeUndefined();
  });
});
