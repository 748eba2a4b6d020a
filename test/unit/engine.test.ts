import { afterEach, describe, expect, it } from 'vitest';
import { createEngine, type Engine, memoryStore, WorkflowFailedError } from '../../src/index.ts';
import {
  ApplicationFailure,
  inWorkflowContext,
  proxyActivities,
  sleep,
  workflowInfo,
} from '../../src/workflow/index.ts';
import * as activities from './fixtures/activities.ts';
import * as workflows from './fixtures/workflows.ts';

let engine: Engine | undefined;
afterEach(async () => {
  await engine?.shutdown();
  engine = undefined;
  activities.resetActivities();
});

async function start(store = memoryStore()) {
  const { resetActivities: _, calls: __, ...acts } = activities;
  engine = await createEngine({ workflows, activities: acts, store });
  return engine.client;
}

describe('createEngine', () => {
  it('runs a workflow with an activity', async () => {
    const client = await start();
    expect(await client.workflow.execute('greet', { workflowId: 'g1', args: ['ada'] })).toBe('hello ada');
    const { events } = await client.workflow.getHandle('g1').fetchHistory();
    expect(events.map((e) => e.eventType)).toEqual([
      'WorkflowExecutionStarted',
      'WorkflowTaskScheduled',
      'WorkflowTaskStarted',
      'WorkflowTaskCompleted',
      'ActivityTaskScheduled',
      'ActivityTaskStarted',
      'ActivityTaskCompleted',
      'WorkflowTaskScheduled',
      'WorkflowTaskStarted',
      'WorkflowTaskCompleted',
      'WorkflowExecutionCompleted',
    ]);
    expect(events.map((e) => e.eventId)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
  });

  it('runs activity, timer, activity', async () => {
    const client = await start();
    expect(await client.workflow.execute('activityThenTimer', { workflowId: 't1', args: ['x', 20] })).toBe(
      'hello x / hello x again',
    );
    expect(activities.calls).toEqual(['x', 'x again']);
  });

  it('signals, queries and updates', async () => {
    const client = await start();
    const handle = await client.workflow.start('approval', { workflowId: 'a1' });
    await expect.poll(() => handle.query('status')).toBe('waiting');
    expect(await handle.executeUpdate('setLimit', { args: [5] })).toBe(10);
    await expect(handle.executeUpdate('setLimit', { args: [-1] })).rejects.toMatchObject({
      name: 'WorkflowUpdateFailedError',
    });
    await handle.signal('approve', 'bob');
    expect(await handle.result()).toBe('approved by bob with limit 5');
    expect(await handle.query('status')).toBe('approved');
  });

  it('answers Temporal’s built-in metadata query with the handlers the run registered', async () => {
    const client = await start();
    const handle = await client.workflow.start('approval', { workflowId: 'meta-1' });
    await expect.poll(() => handle.query('status')).toBe('waiting');
    expect(await handle.query('__temporal_workflow_metadata')).toEqual({
      definition: {
        type: 'approval',
        queryDefinitions: [{ name: 'status' }],
        signalDefinitions: [{ name: 'approve' }],
        updateDefinitions: [{ name: 'setLimit' }],
      },
    });
    await handle.terminate();
  });

  it('cancels with cleanup', async () => {
    const client = await start();
    const handle = await client.workflow.start('cancellable', { workflowId: 'c1' });
    await expect.poll(async () => (await handle.describe()).historyLength).toBeGreaterThan(4);
    await handle.cancel();
    const error = await handle.result().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(WorkflowFailedError);
    expect((error as WorkflowFailedError).cause?.name).toBe('CancelledFailure');
    expect(activities.calls).toEqual(['cleanup']);
    expect((await handle.describe()).status).toBe('CANCELED');
  });

  it('terminates', async () => {
    const client = await start();
    const handle = await client.workflow.start('cancellable', { workflowId: 'x1' });
    await handle.terminate('stop it');
    const error = (await handle.result().catch((e: unknown) => e)) as WorkflowFailedError;
    expect(error.cause?.name).toBe('TerminatedFailure');
    expect(error.cause?.message).toBe('stop it');
  });

  it('fails with an ApplicationFailure, type and details kept', async () => {
    const client = await start();
    const error = (await client.workflow
      .execute('failing', { workflowId: 'f1' })
      .catch((e: unknown) => e)) as WorkflowFailedError;
    expect(error).toBeInstanceOf(WorkflowFailedError);
    expect(error.cause).toMatchObject({
      name: 'ApplicationFailure',
      message: 'nope',
      type: 'Nope',
      details: [42],
    });
  });

  it('blocks on a bug in workflow code instead of failing the workflow', async () => {
    const client = await start();
    const handle = await client.workflow.start('buggy', { workflowId: 'b1' });
    await expect.poll(async () => (await handle.describe()).blocked?.reason).toBe('a bug in workflow code');
    const { events } = await handle.fetchHistory();
    expect(events.at(-1)?.eventType).toBe('WorkflowTaskFailed');
    expect((await handle.describe()).status).toBe('RUNNING');
  });

  it('retries activities', async () => {
    const client = await start();
    expect(await client.workflow.execute('flaky', { workflowId: 'r1' })).toBe(2);
    const { events } = await client.workflow.getHandle('r1').fetchHistory();
    const started = events.find((e) => e.eventType === 'ActivityTaskStarted');
    expect(started?.attributes).toMatchObject({ attempt: 2 });
  });

  it('gives workflow code deterministic time and randomness', async () => {
    const client = await start();
    const result = (await client.workflow.execute('determinism', { workflowId: 'd1' })) as { now: number };
    const { events } = await client.workflow.getHandle('d1').fetchHistory();
    const lastTaskStarted = events.filter((e) => e.eventType === 'WorkflowTaskStarted').at(-1);
    expect(result.now).toBe(lastTaskStarted?.eventTime);
  });

  it('condition with timeout', async () => {
    const client = await start();
    expect(await client.workflow.execute('timeoutRace', { workflowId: 'tr' })).toBe(false);
  });

  it('continues as new', async () => {
    const client = await start();
    expect(await client.workflow.execute('counter', { workflowId: 'cn', args: [0] })).toBe(3);
    const runs = await client.workflow.list({ workflowId: 'cn' });
    expect(runs.map((r) => r.status).sort()).toEqual([
      'COMPLETED',
      'CONTINUED_AS_NEW',
      'CONTINUED_AS_NEW',
      'CONTINUED_AS_NEW',
    ]);
  });

  it('cancels a scope holding sequential timers (scope follows across awaits)', async () => {
    const client = await start();
    expect(await client.workflow.execute('scoped', { workflowId: 's1' })).toBe('second sleep cancelled');
  });

  it('patched is true for new runs', async () => {
    const client = await start();
    expect(await client.workflow.execute('versioned', { workflowId: 'v1' })).toBe('new');
  });
});

describe('determinism boundary', () => {
  it('an activity running while workflow activations run sees real time', async () => {
    const seen: number[] = [];
    let leaked = 0;
    const wfTimes: number[] = [];
    engine = await createEngine({
      workflows: {
        async ticker(): Promise<number> {
          for (let i = 0; i < 20; i++) {
            // A microtask-only activity keeps resolving while these activations run.
            await sleep(1);
            wfTimes.push(Date.now());
          }
          return Date.now();
        },
        async busy(): Promise<number> {
          return proxyActivities<{ spin(): Promise<number> }>({ startToCloseTimeout: '10s' }).spin();
        },
      },
      activities: {
        async spin(): Promise<number> {
          const realStart = performance.timeOrigin + performance.now();
          for (let i = 0; i < 20_000; i++) {
            await Promise.resolve();
            // Any hop that runs inside a workflow activation would see the workflow's clock.
            if (inWorkflowContext()) leaked++;
            if (i % 100 === 0) seen.push(Date.now() - (performance.timeOrigin + performance.now()));
          }
          return realStart;
        },
      },
    });
    const client = engine.client;
    const a = client.workflow.execute('ticker', { workflowId: 'tick' });
    const b = client.workflow.execute('busy', { workflowId: 'busy' });
    await Promise.all([a, b]);
    // Date.now() in the activity stays within a few ms of the real clock at every sample.
    expect(seen.length).toBe(200);
    expect(leaked).toBe(0);
    expect(Math.max(...seen.map(Math.abs))).toBeLessThan(50);
    const { events } = await client.workflow.getHandle('tick').fetchHistory();
    const taskTimes = new Set(
      events.filter((e) => e.eventType === 'WorkflowTaskStarted').map((e) => e.eventTime),
    );
    for (const t of wfTimes) expect(taskTimes.has(t)).toBe(true);
  });
});

describe('bad input gets a typed error and writes nothing', () => {
  async function snapshot(store: ReturnType<typeof memoryStore>) {
    return store.read(async (tx) => ({
      executions: await tx.executions.list(),
      tasks: await tx.workflowTasks.list(),
      timers: await tx.timers.list(),
    }));
  }

  it('refuses each kind of bad input', async () => {
    const store = memoryStore();
    const client = await start(store);
    await client.workflow.execute('greet', { workflowId: 'done', args: ['x'] });
    const running = await client.workflow.start('approval', { workflowId: 'running' });
    await expect.poll(() => running.query('status')).toBe('waiting');
    const before = await snapshot(store);
    const historyBefore = await running.fetchHistory();

    await expect(client.workflow.start('nope', { workflowId: 'n1' })).rejects.toMatchObject({
      name: 'InvalidArgumentError',
      message: expect.stringMatching(/Unknown workflow type 'nope'/),
    });
    await expect(client.workflow.start('greet', { workflowId: 'n2', args: [() => 1] })).rejects.toMatchObject(
      {
        name: 'InvalidArgumentError',
        message: expect.stringMatching(/not structured-cloneable/),
      },
    );
    await expect(client.workflow.getHandle('ghost').signal('approve', 'x')).rejects.toMatchObject({
      name: 'WorkflowNotFoundError',
    });
    await expect(client.workflow.getHandle('done').signal('approve', 'x')).rejects.toMatchObject({
      name: 'WorkflowNotFoundError',
      message: expect.stringMatching(/already closed \(COMPLETED\)/),
    });
    await expect(running.signal('approve', { f() {} })).rejects.toMatchObject({
      name: 'InvalidArgumentError',
    });
    await expect(client.workflow.start('approval', { workflowId: 'running' })).rejects.toMatchObject({
      name: 'WorkflowExecutionAlreadyStartedError',
    });
    await expect(
      client.workflow.start('greet', { workflowId: 'n3', workflowRunTimeout: 'soon' }),
    ).rejects.toMatchObject({
      name: 'InvalidArgumentError',
    });

    expect(await snapshot(store)).toEqual(before);
    expect(await running.fetchHistory()).toEqual(historyBefore);
  });
});

describe('oversized payloads', () => {
  it('are refused at the door, fail the task from workflow code, fail the activity from activity code', async () => {
    const store = memoryStore();
    engine = await createEngine({
      store,
      payloadLimit: 1_000,
      workflows: {
        async echo(x: string) {
          return x;
        },
        async bigActivity() {
          try {
            await proxyActivities<{ big(): Promise<string> }>({ startToCloseTimeout: '1s' }).big();
            return 'no';
          } catch (error) {
            return (error as Error & { cause?: { type?: string } }).cause?.type;
          }
        },
        async bigResult() {
          return 'x'.repeat(2_000);
        },
        async returnsFunction() {
          return { callback: () => 1 };
        },
      },
      activities: { big: async () => 'y'.repeat(2_000) },
    });
    const wf = engine.client.workflow;
    const before = await store.read((tx) => tx.executions.list());
    await expect(wf.start('echo', { workflowId: 'big-in', args: ['z'.repeat(2_000)] })).rejects.toMatchObject(
      {
        name: 'InvalidArgumentError',
        message: expect.stringMatching(/Workflow arguments is too large/),
      },
    );
    expect(await store.read((tx) => tx.executions.list())).toEqual(before);

    expect(await wf.execute('bigActivity', { workflowId: 'big-act' })).toBe('PayloadTooLarge');

    const big = await wf.start('bigResult', { workflowId: 'big-out' });
    await expect
      .poll(async () => (await big.describe()).blocked?.reason)
      .toMatch(/CompleteWorkflowExecution payload is too large/);
    expect((await big.describe()).status).toBe('RUNNING');
    await expect(big.signal('nudge', 'w'.repeat(2_000))).rejects.toMatchObject({
      name: 'InvalidArgumentError',
    });
  });
});

describe('early queries and retry backoff', () => {
  it('a query right after start waits for the first workflow task', async () => {
    const client = await start();
    const handle = await client.workflow.start('approval', { workflowId: 'early' });
    expect(await handle.query('status')).toBe('waiting');
  });

  it('a workflow whose retries run out fails saying so, on its last run and in its history', async () => {
    const workflows = {
      async alwaysFails(): Promise<void> {
        throw ApplicationFailure.create({ message: `attempt ${workflowInfo().attempt} failed` });
      },
    };
    engine = await createEngine({ workflows });
    const handle = await engine.client.workflow.start('alwaysFails', {
      workflowId: 'exhausted',
      retry: { initialInterval: 1, maximumAttempts: 2 },
    });
    await expect(handle.result()).rejects.toMatchObject({
      name: 'WorkflowFailedError',
      retryState: 'RETRY_STATE_MAXIMUM_ATTEMPTS_REACHED',
    });
    const { events } = await handle.fetchHistory();
    expect(events.at(-1)?.attributes).toMatchObject({ retryState: 'RETRY_STATE_MAXIMUM_ATTEMPTS_REACHED' });
  });

  it('a retried workflow waits out its backoff before its next attempt, durably', async () => {
    const store = memoryStore();
    const attemptsAt: number[] = [];
    const workflows = {
      async flakyRun(): Promise<number> {
        attemptsAt.push(Date.now());
        const { attempt } = workflowInfo();
        if (attempt < 3) throw ApplicationFailure.create({ message: `attempt ${attempt} failed` });
        return attempt;
      },
    };
    engine = await createEngine({ workflows, store });
    const handle = await engine.client.workflow.start('flakyRun', {
      workflowId: 'backoff',
      retry: { initialInterval: 200, backoffCoefficient: 1, maximumAttempts: 5 },
    });
    // The second run exists at once, waiting on a backoff timer, not on a workflow task.
    await expect
      .poll(async () => (await engine!.client.workflow.list({ workflowId: 'backoff' })).length)
      .toBe(2);
    const timers = await store.read((tx) => tx.timers.list());
    expect(timers.map((t) => t.kind)).toEqual(['backoff']);
    // Survives a restart of the host.
    await engine.shutdown();
    engine = await createEngine({ workflows, store });
    expect(await engine.client.workflow.getHandle('backoff').result()).toBe(3);
    // Each attempt's workflow task started after the backoff (the task time is Date.now() there).
    expect(attemptsAt[1]! - attemptsAt[0]!).toBeGreaterThanOrEqual(200);
    expect(attemptsAt[2]! - attemptsAt[1]!).toBeGreaterThanOrEqual(200);
    // Newest first.
    const runs = await engine.client.workflow.list({ workflowId: 'backoff' });
    const { events } = await engine.client.workflow.getHandle('backoff', runs[0]!.runId).fetchHistory();
    expect(events[0]?.attributes).toMatchObject({ attempt: 3, firstWorkflowTaskBackoff: 200 });
    // The failed runs' closing events say a retry followed, and which run it is. (The first run
    // fails at once: the second may start in the same millisecond, so the list cannot order
    // those two; the third starts a backoff later.)
    const second = runs.find((r) => r.runId !== runs[0]!.runId && r.runId !== handle.firstExecutionRunId)!;
    const first = await engine.client.workflow
      .getHandle('backoff', handle.firstExecutionRunId)
      .fetchHistory();
    expect(first.events.at(-1)).toMatchObject({
      eventType: 'WorkflowExecutionFailed',
      attributes: { retryState: 'RETRY_STATE_IN_PROGRESS', newExecutionRunId: second.runId },
    });
  });
});
