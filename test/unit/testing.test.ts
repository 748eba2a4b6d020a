/**
 * `weft/testing`: the engine on a clock that skips what workflows only wait for, Temporal's
 * `TestWorkflowEnvironment` without a server; `MockActivityEnvironment` for activities alone.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { CancelledFailure, type HistoryEvent, indexedDbStore, memoryStore } from '../../src/index.ts';
import { Context, MockActivityEnvironment, TestWorkflowEnvironment } from '../../src/testing/index.ts';
import * as workflows from './fixtures/testing-workflows.ts';

const DAY = 86_400_000;
let env: TestWorkflowEnvironment | undefined;
afterEach(async () => {
  await env?.teardown();
  env = undefined;
});

/** A promise and its resolver, to hold an activity until the test lets it go. */
function deferred<T = void>() {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

const noActivities = {
  gate: async () => 'unused',
  flaky: async () => 0,
  longRunning: async () => undefined,
};

const timeOf = (e: HistoryEvent) => e.eventTime;

describe('TestWorkflowEnvironment.createTimeSkipping', () => {
  it('completes a workflow that sleeps 30 days, its timer in its history a month apart', async () => {
    env = await TestWorkflowEnvironment.createTimeSkipping({ workflows, activities: noActivities });
    expect(env.supportsTimeSkipping).toBe(true);
    const before = await env.currentTimeMs();
    const slept = await env.client.workflow.execute(workflows.monthly, { workflowId: 'month' });
    expect(slept).toBeGreaterThanOrEqual(30 * DAY);
    expect(await env.currentTimeMs()).toBeGreaterThanOrEqual(before + 30 * DAY);
    const { events } = await env.client.workflow.getHandle('month').fetchHistory();
    const started = events.find((e) => e.eventType === 'TimerStarted');
    const fired = events.find((e) => e.eventType === 'TimerFired');
    expect(started && fired).toBeTruthy();
    expect(timeOf(fired!) - timeOf(started!)).toBeGreaterThanOrEqual(30 * DAY);
    expect(events.at(-1)?.eventType).toBe('WorkflowExecutionCompleted');
  });

  it('does not skip while an activity runs', async () => {
    const gate = deferred<string>();
    const running = deferred();
    env = await TestWorkflowEnvironment.createTimeSkipping({
      workflows,
      activities: {
        ...noActivities,
        gate: () => {
          running.resolve();
          return gate.promise;
        },
      },
    });
    const before = await env.currentTimeMs();
    const handle = await env.client.workflow.start(workflows.raceActivity, { workflowId: 'race' });
    const result = handle.result();
    await running.promise;
    // Time enough for a skip to happen, if it were going to: many turns of the event loop.
    for (let i = 0; i < 20; i++) await new Promise((resolve) => setTimeout(resolve, 0));
    expect(await env.currentTimeMs()).toBeLessThan(before + 60_000);
    gate.resolve('done');
    expect(await result).toBe('activity');
  });

  it('skips an activity retry’s backoff', async () => {
    let attempts = 0;
    env = await TestWorkflowEnvironment.createTimeSkipping({
      workflows,
      activities: {
        ...noActivities,
        flaky: async () => {
          attempts++;
          if (attempts === 1) throw new Error('first attempt fails');
          return Context.current().info.attempt;
        },
      },
    });
    const before = await env.currentTimeMs();
    expect(await env.client.workflow.execute(workflows.retriedTomorrow, { workflowId: 'retry' })).toBe(2);
    expect(await env.currentTimeMs()).toBeGreaterThanOrEqual(before + DAY);
  });

  it('skips only while a result is awaited: a signal sent first still arrives in time', async () => {
    env = await TestWorkflowEnvironment.createTimeSkipping({ workflows, activities: noActivities });
    const handle = await env.client.workflow.start(workflows.approval, { workflowId: 'approval' });
    // Nothing awaits a result: a day does not go by while the test takes its time.
    for (let i = 0; i < 20; i++) await new Promise((resolve) => setTimeout(resolve, 0));
    await handle.signal(workflows.approve);
    expect(await handle.result()).toBe('approved');

    const late = await env.client.workflow.start(workflows.approval, { workflowId: 'late' });
    expect(await late.result()).toBe('expired');
  });

  it.each([
    ['the memory store', () => memoryStore()],
    [
      'IndexedDB (fake-indexeddb), whose requests answer in later macrotasks',
      () => indexedDbStore({ name: `skip-${Math.random()}` }),
    ],
  ])('a signal sent while the result is awaited is not overtaken by a skip, on %s', async (_, store) => {
    env = await TestWorkflowEnvironment.createTimeSkipping({
      workflows,
      activities: noActivities,
      store: store(),
    });
    for (let round = 0; round < 5; round++) {
      const handle = await env.client.workflow.start(workflows.approval, { workflowId: `both-${round}` });
      const result = handle.result();
      await handle.signal(workflows.approve);
      expect(await result).toBe('approved');
    }
  });

  it('skips through a child’s timers and the parent’s, in order', async () => {
    env = await TestWorkflowEnvironment.createTimeSkipping({ workflows, activities: noActivities });
    const before = await env.currentTimeMs();
    expect(await env.client.workflow.execute(workflows.weekOfChildren, { workflowId: 'family' })).toBe(
      'a week then a day',
    );
    expect(await env.currentTimeMs()).toBeGreaterThanOrEqual(before + 8 * DAY);
    const { events } = await env.client.workflow.getHandle('family').fetchHistory();
    const childDone = events.find((e) => e.eventType === 'ChildWorkflowExecutionCompleted')!;
    const fired = events.find((e) => e.eventType === 'TimerFired')!;
    expect(timeOf(childDone) - before).toBeGreaterThanOrEqual(7 * DAY);
    expect(timeOf(fired) - timeOf(childDone)).toBeGreaterThanOrEqual(DAY);
  });

  it('skips through many executions’ timers at once, each woken at its own time', async () => {
    env = await TestWorkflowEnvironment.createTimeSkipping({ workflows, activities: noActivities });
    const before = await env.currentTimeMs();
    const days = [9, 2, 7, 1, 5, 3, 10, 4, 8, 6];
    const woke = await Promise.all(
      days.map((d) =>
        env!.client.workflow.execute(workflows.sleepDays, { workflowId: `sleep-${d}`, args: [d] }),
      ),
    );
    woke.forEach((time, i) => {
      expect(time - before).toBeGreaterThanOrEqual(days[i]! * DAY);
      // Woken at its timer, not at the last one: the clock stopped at each on the way.
      expect(time - before).toBeLessThan((days[i]! + 1) * DAY);
    });
  });

  it('skips to a run’s execution timeout: a year, in no time', async () => {
    env = await TestWorkflowEnvironment.createTimeSkipping({ workflows, activities: noActivities });
    const before = await env.currentTimeMs();
    const run = env.client.workflow.execute(workflows.forever, {
      workflowId: 'a-year',
      workflowExecutionTimeout: '365 days',
    });
    await expect(run).rejects.toMatchObject({ cause: { name: 'TimeoutFailure' } });
    expect(await env.currentTimeMs()).toBeGreaterThanOrEqual(before + 365 * DAY);
  });

  it('env.sleep moves time by hand, firing the timers on the way', async () => {
    env = await TestWorkflowEnvironment.createTimeSkipping({ workflows, activities: noActivities });
    const handle = await env.client.workflow.start(workflows.napper, { workflowId: 'nap' });
    const before = await env.currentTimeMs();
    await env.sleep('2 days');
    expect(await env.currentTimeMs()).toBeGreaterThanOrEqual(before + 2 * DAY);
    // Completed without a result awaited: the timer fired during the sleep.
    expect((await handle.describe()).status).toBe('COMPLETED');
  });

  it('env.sleep called by an activity moves time past the workflow’s timer (Temporal’s example)', async () => {
    const created = await TestWorkflowEnvironment.createTimeSkipping({
      workflows,
      activities: {
        ...noActivities,
        longRunning: async (ms: number) => {
          await created.sleep(ms);
        },
      },
    });
    env = created;
    expect(
      await env.client.workflow.execute(workflows.raceActivityAndTimer, { workflowId: 'temporal' }),
    ).toBe('timer');
  });
});

describe('TestWorkflowEnvironment.createLocal', () => {
  it('runs on real time', async () => {
    env = await TestWorkflowEnvironment.createLocal({ workflows, activities: noActivities });
    expect(env.supportsTimeSkipping).toBe(false);
    const before = await env.currentTimeMs();
    expect(Math.abs(before - Date.now())).toBeLessThan(1_000);
    await env.sleep(20);
    expect(await env.currentTimeMs()).toBeGreaterThanOrEqual(before + 20);
    const handle = await env.client.workflow.start(workflows.napper, { workflowId: 'local-nap' });
    expect((await handle.describe()).status).toBe('RUNNING');
    await handle.terminate('not waiting a day');
    expect((await handle.describe()).status).toBe('TERMINATED');
  });
});

describe('MockActivityEnvironment', () => {
  it('runs an activity with its context, and emits its heartbeats', async () => {
    const mock = new MockActivityEnvironment({ attempt: 3, activityType: 'charge' });
    const beats: unknown[] = [];
    mock.on('heartbeat', (details) => beats.push(details));
    const result = await mock.run(async (order: string) => {
      const context = Context.current();
      context.heartbeat({ progress: 1 });
      context.heartbeat({ progress: 2 });
      return `${order} on attempt ${context.info.attempt} of ${context.info.activityType}`;
    }, 'order-1');
    expect(result).toBe('order-1 on attempt 3 of charge');
    expect(beats).toEqual([{ progress: 1 }, { progress: 2 }]);
    expect(mock.context.info.workflowExecution.workflowId).toBe('test');
  });

  it('cancels an activity: its signal aborts and `cancelled` rejects with CancelledFailure', async () => {
    const mock = new MockActivityEnvironment();
    const running = deferred();
    const outcome = mock.run(async () => {
      const context = Context.current();
      running.resolve();
      await Promise.race([context.cancelled, context.sleep(3_600_000)]);
      return 'finished';
    });
    await running.promise;
    mock.cancel();
    await expect(outcome).rejects.toBeInstanceOf(CancelledFailure);
    expect(mock.context.cancellationSignal.aborted).toBe(true);
  });

  it('passes a synchronous throw on as a rejection', async () => {
    const mock = new MockActivityEnvironment();
    await expect(
      mock.run(() => {
        throw new Error('boom');
      }),
    ).rejects.toThrow('boom');
  });
});
