import { readFileSync, writeFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  DeterminismViolationError,
  type HistoryEvent,
  type Job,
  type WorkflowFunction,
  WorkflowMachine,
} from '../../src/engine/index.ts';
import { createEngine, memoryStore } from '../../src/index.ts';
import { installDeterminism } from '../../src/worker/determinism.ts';
import { proxyActivities, sleep } from '../../src/workflow/index.ts';
import {
  activationOf,
  completeWorkflow,
  HistoryBuilder,
  makeFireTimer,
  makeResolveActivity,
  makeSignal,
  makeStart,
  runtimeFor,
  scheduleActivity,
  startTimer,
} from './builders.ts';
import * as activities from './fixtures/activities.ts';
import * as workflows from './fixtures/workflows.ts';

installDeterminism();

const registry = workflows as unknown as Record<string, WorkflowFunction>;
const machineFor = (extra: Record<string, WorkflowFunction> = {}) => ({
  workflowId: 'wf',
  runId: 'run-1',
  identity: 'test',
  resolveWorkflow: (type: string) => extra[type] ?? registry[type],
});

const runtimeOf = (fn: WorkflowFunction) => runtimeFor(fn);
const at = (jobs: Job[], timestamp = 1000) => activationOf(jobs, timestamp);

describe('activation in, commands out', () => {
  it('activity, then timer, then activity, then completion', async () => {
    const rt = runtimeOf(workflows.activityThenTimer as WorkflowFunction);
    expect(await rt.activate(at([makeStart(['x', 50])]))).toEqual([scheduleActivity(1, 'hello', ['x'])]);
    expect(await rt.activate(at([makeResolveActivity(1, 'hello x')]))).toEqual([startTimer(1, 50)]);
    expect(await rt.activate(at([makeFireTimer(1)]))).toEqual([scheduleActivity(2, 'hello', ['x again'])]);
    expect(await rt.activate(at([makeResolveActivity(2, 'hello x again')]))).toEqual([
      completeWorkflow('hello x / hello x again'),
    ]);
  });

  it('buffers a signal that arrives before its handler', async () => {
    const rt = runtimeOf(workflows.approval as WorkflowFunction);
    // The signal is in the same activation as the start; the handler is set during start.
    expect(await rt.activate(at([makeStart(), makeSignal('approve', 'eve')]))).toEqual([
      completeWorkflow('approved by eve with limit 0'),
    ]);
  });

  it('a timer cancelled in the activation that started it produces no command', async () => {
    const rt = runtimeOf(async () => {
      const { CancellationScope } = await import('../../src/workflow/index.ts');
      const scope = new CancellationScope();
      const p = scope.run(() => sleep(1000)).catch(() => 'cancelled');
      scope.cancel();
      return p;
    });
    expect(await rt.activate(at([makeStart()]))).toEqual([completeWorkflow('cancelled')]);
  });

  it('Date.now() is the task time inside the activation', async () => {
    const rt = runtimeOf(async () => {
      await sleep(1);
      return Date.now();
    });
    await rt.activate(at([makeStart()], 5_000));
    expect(await rt.activate(at([makeFireTimer(1)], 123_456))).toEqual([completeWorkflow(123_456)]);
  });
});

describe('replay', () => {
  const built = new HistoryBuilder()
    .started('activityThenTimer', ['x', 50])
    .task()
    .activityScheduled(1, 'hello', ['x'])
    .activityCompleted(5, 'hello x')
    .task()
    .timerStarted(1, 50)
    .timerFired(1, 11)
    .task()
    .activityScheduled(2, 'hello', ['x again'])
    .activityCompleted(16, 'hello x again')
    .task()
    .completed('hello x / hello x again');

  it('replays a built history to the end without a violation', async () => {
    const machine = await WorkflowMachine.replay(machineFor(), built.events);
    expect(machine.closed).toBe(true);
    expect(machine.nextEventId).toBe(built.events.length + 1);
  });

  it('detects a changed activity type', async () => {
    const changed: WorkflowFunction = async (name: unknown) => {
      const acts = proxyActivities<typeof activities>({ startToCloseTimeout: '5s' });
      return acts.flakyOnce().then(() => name);
    };
    const error = await WorkflowMachine.replay(
      machineFor({ activityThenTimer: changed }),
      built.events,
    ).catch((e) => e);
    expect(error).toBeInstanceOf(DeterminismViolationError);
    expect((error as Error).message).toMatch(/event 5.*activityType: code has flakyOnce, history has hello/);
  });

  it('detects a command the history does not have (a new sleep before the activity)', async () => {
    const changed: WorkflowFunction = async () => {
      await sleep(10);
      return 'x';
    };
    const error = await WorkflowMachine.replay(
      machineFor({ activityThenTimer: changed }),
      built.events,
    ).catch((e) => e);
    expect(error).toBeInstanceOf(DeterminismViolationError);
    expect((error as Error).message).toMatch(/StartTimer.*ActivityTaskScheduled/);
  });

  it('detects an event the code no longer produces', async () => {
    const changed: WorkflowFunction = () => new Promise(() => undefined);
    const error = await WorkflowMachine.replay(
      machineFor({ activityThenTimer: changed }),
      built.events,
    ).catch((e) => e);
    expect(error).toBeInstanceOf(DeterminismViolationError);
    expect((error as Error).message).toMatch(/no longer produces/);
  });
});

describe('golden histories', () => {
  const goldens = ['activityThenTimer', 'approval', 'cancellable', 'counter', 'determinism'] as const;
  const file = (name: string) => new URL(`./golden/${name}.json`, import.meta.url);

  // `UPDATE_GOLDEN=1 npx vitest run test/unit/replay.test.ts` records them again.
  if (process.env.UPDATE_GOLDEN) {
    it('records golden histories', async () => {
      const { resetActivities: _, calls: __, ...acts } = activities;
      const engine = await createEngine({ workflows, activities: acts, store: memoryStore() });
      const c = engine.client.workflow;
      await c.execute('activityThenTimer', { workflowId: 'activityThenTimer', args: ['x', 5] });
      const approval = await c.start('approval', { workflowId: 'approval' });
      await approval.executeUpdate('setLimit', { args: [3] });
      await approval.signal('approve', 'zoe');
      await approval.result();
      const cancellable = await c.start('cancellable', { workflowId: 'cancellable' });
      await expect.poll(async () => (await cancellable.describe()).historyLength).toBeGreaterThan(4);
      await cancellable.cancel();
      await cancellable.result().catch(() => undefined);
      await c.execute('counter', { workflowId: 'counter', args: [2] });
      await c.execute('determinism', { workflowId: 'determinism' });
      for (const name of goldens) {
        const runs = await c.list({ workflowId: name });
        const first = runs.find((r) => !r.runId || r.firstExecutionRunId === r.runId)!;
        const { events } = await c.getHandle(name, first.runId).fetchHistory();
        writeFileSync(file(name), `${JSON.stringify(events, null, 1)}\n`);
      }
      await engine.shutdown();
    });
  }

  for (const name of goldens) {
    it(`replays ${name} with the current code, producing the recorded commands`, async () => {
      const events = JSON.parse(readFileSync(file(name), 'utf8')) as HistoryEvent[];
      const machine = await WorkflowMachine.replay(machineFor(), events);
      expect(machine.closed).toBe(true);
      expect(machine.nextEventId).toBe(events.length + 1);
    });
  }

  it('the determinism golden replays the same time, randomness and uuid', async () => {
    const events = JSON.parse(readFileSync(file('determinism'), 'utf8')) as HistoryEvent[];
    const completed = events.find((e) => e.eventType === 'WorkflowExecutionCompleted');
    // Replay matched the completion command, whose result holds Date.now(), Math.random(), uuid4().
    const machine = await WorkflowMachine.replay(machineFor(), events);
    expect(machine.closed).toBe(true);
    expect(completed?.attributes).toHaveProperty('result.uuid');
  });
});
