import { getEventListeners } from 'node:events';
import { afterEach, describe, expect, it } from 'vitest';
import { createEngine, type Engine, memoryStore } from '../../src/index.ts';
import { Context } from '../../src/worker/activity.ts';
import {
  condition,
  defineSignal,
  defineUpdate,
  proxyActivities,
  setHandler,
  sleep,
} from '../../src/workflow/index.ts';

// A write keeps the record and event objects the engine builds for it and copies what they
// hold; these tests change values that workflow, activity and client code hold after they
// were recorded, and check that the history and the next attempt do not see it.

interface Box {
  n: number;
}

const got = defineSignal<[Box]>('got');
const take = defineUpdate<Box, []>('take');

const activities = {
  seen: [] as number[],
  async bump(box: Box): Promise<number> {
    activities.seen.push(box.n);
    box.n = 99;
    if (activities.seen.length < 2) throw new Error('once more');
    return box.n;
  },
};

const workflows = {
  async bumps(): Promise<number> {
    const { bump } = proxyActivities<{ bump(box: Box): Promise<number> }>({
      startToCloseTimeout: '5s',
      retry: { initialInterval: 1 },
    });
    return bump({ n: 1 });
  },
  async keepsSignal(): Promise<number> {
    let box: Box | undefined;
    setHandler(got, (value) => {
      box = value;
    });
    await condition(() => box !== undefined);
    await sleep(1);
    // A later activation changes what the signal brought.
    box!.n = 2;
    return box!.n;
  },
  async givesBox(): Promise<void> {
    const box = { n: 1 };
    let taken = false;
    setHandler(take, () => {
      taken = true;
      return box;
    });
    await condition(() => taken);
    await sleep(1);
    box.n = 3;
  },
};

let engine: Engine | undefined;
afterEach(async () => {
  await engine?.shutdown();
  engine = undefined;
});

describe('recorded values stay as recorded', () => {
  it('an activity that changes its arguments does not change them for its retry or in history', async () => {
    activities.seen = [];
    engine = await createEngine({ workflows, activities, store: memoryStore() });
    expect(await engine.client.workflow.execute('bumps', { workflowId: 'a' })).toBe(99);
    expect(activities.seen).toEqual([1, 1]);
    const { events } = await engine.client.workflow.getHandle('a').fetchHistory();
    const scheduled = events.find((e) => e.eventType === 'ActivityTaskScheduled');
    expect(scheduled?.attributes).toMatchObject({ input: [{ n: 1 }] });
  });

  it('a workflow that changes a signal it received later does not change the recorded signal', async () => {
    engine = await createEngine({ workflows, activities, store: memoryStore() });
    const handle = await engine.client.workflow.start('keepsSignal', { workflowId: 's' });
    const box = { n: 1 };
    await handle.signal(got, box);
    box.n = 5;
    expect(await handle.result()).toBe(2);
    const { events } = await handle.fetchHistory();
    const signaled = events.find((e) => e.eventType === 'WorkflowExecutionSignaled');
    expect(signaled?.attributes).toMatchObject({ input: [{ n: 1 }] });
  });

  it("an update's result, changed by the workflow and by the caller, stays as recorded", async () => {
    engine = await createEngine({ workflows, activities, store: memoryStore() });
    const handle = await engine.client.workflow.start('givesBox', { workflowId: 'u' });
    const box = (await handle.executeUpdate(take)) as Box;
    expect(box).toEqual({ n: 1 });
    box.n = 4;
    await handle.result();
    const { events } = await handle.fetchHistory();
    const completed = events.find((e) => e.eventType === 'WorkflowExecutionUpdateCompleted');
    expect(completed?.attributes).toMatchObject({ outcome: { success: { n: 1 } } });
  });
});

describe('Context.sleep in an activity', () => {
  const info = {
    activityId: '1',
    activityType: 'a',
    attempt: 1,
    workflowExecution: { workflowId: 'w', runId: 'r' },
    workflowType: 't',
    taskQueue: 'default',
    scheduledTimestampMs: 0,
  };

  it('rejects at once when the activity is already cancelled', async () => {
    const controller = new AbortController();
    controller.abort(new Error('cancelled before'));
    await expect(new Context(info, controller.signal).sleep(60_000)).rejects.toThrow('cancelled before');
  });

  it('leaves no abort listener behind once it has slept', async () => {
    const controller = new AbortController();
    const context = new Context(info, controller.signal);
    for (let i = 0; i < 3; i++) await context.sleep(1);
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0);
    const cut = context.sleep(60_000);
    controller.abort(new Error('cancelled during'));
    await expect(cut).rejects.toThrow('cancelled during');
  });
});
