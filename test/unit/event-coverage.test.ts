import { expect, it } from 'vitest';
import { ApplicationFailure, createEngine, type EventType, memoryStore } from '../../src/index.ts';
import { Context } from '../../src/worker/activity.ts';
import * as children from './fixtures/children.ts';
import * as workflows from './fixtures/workflows.ts';

/** Every event type of SPEC section 4 and of the child workflow issue. */
const specTypes: EventType[] = [
  'WorkflowExecutionStarted',
  'WorkflowTaskScheduled',
  'WorkflowTaskStarted',
  'WorkflowTaskCompleted',
  'WorkflowTaskFailed',
  'ActivityTaskScheduled',
  'ActivityTaskStarted',
  'ActivityTaskCompleted',
  'ActivityTaskFailed',
  'ActivityTaskTimedOut',
  'ActivityTaskCancelRequested',
  'ActivityTaskCanceled',
  'TimerStarted',
  'TimerFired',
  'TimerCanceled',
  'WorkflowExecutionSignaled',
  'MarkerRecorded',
  'StartChildWorkflowExecutionInitiated',
  'StartChildWorkflowExecutionFailed',
  'ChildWorkflowExecutionStarted',
  'ChildWorkflowExecutionCompleted',
  'ChildWorkflowExecutionFailed',
  'ChildWorkflowExecutionCanceled',
  'ChildWorkflowExecutionTimedOut',
  'ChildWorkflowExecutionTerminated',
  'SignalExternalWorkflowExecutionInitiated',
  'ExternalWorkflowExecutionSignaled',
  'SignalExternalWorkflowExecutionFailed',
  'RequestCancelExternalWorkflowExecutionInitiated',
  'ExternalWorkflowExecutionCancelRequested',
  'RequestCancelExternalWorkflowExecutionFailed',
  'WorkflowExecutionCancelRequested',
  'WorkflowExecutionCompleted',
  'WorkflowExecutionFailed',
  'WorkflowExecutionCanceled',
  'WorkflowExecutionTerminated',
  'WorkflowExecutionTimedOut',
  'WorkflowExecutionContinuedAsNew',
];

it('real runs record every event type the spec names (WorkflowTaskTimedOut aside)', async () => {
  const engine = await createEngine({
    workflows: { ...workflows, ...children },
    activities: {
      echo: async (x: number) => x,
      hello: async (name: string) => `hello ${name}`,
      flakyOnce: (() => {
        let n = 0;
        return async () => {
          n++;
          if (n === 1) throw new Error('transient');
          return n;
        };
      })(),
      async slowEcho(x: number) {
        const { cancellationSignal } = Context.current();
        await new Promise((resolve) => cancellationSignal.addEventListener('abort', resolve));
        return x;
      },
      async refuse() {
        throw ApplicationFailure.nonRetryable('refused');
      },
      async never() {
        await new Promise(() => undefined);
      },
    },
    store: memoryStore(),
  });
  const wf = engine.client.workflow;
  const ignore = () => undefined;
  await wf.execute('sync', { workflowId: 'sync', args: [1] });
  await wf.execute('order', { workflowId: 'order', args: ['o'] });
  await wf.execute('signalsChild', { workflowId: 'signals' });
  await wf.execute('cancelsChild', { workflowId: 'cancels', args: ['WAIT_CANCELLATION_REQUESTED', 10_000] });
  await wf.execute('cancelsChild', { workflowId: 'cancels2', args: ['WAIT_CANCELLATION_COMPLETED', 5] });
  await wf.execute('catchesChildFailure', { workflowId: 'fails' });
  await wf.execute('timesOutChild', { workflowId: 'timeout' });
  await wf.execute('duplicateChild', { workflowId: 'dup-parent' });
  await wf.execute('signalsClosed', { workflowId: 'closed' });
  await wf.execute('cancelsMissing', { workflowId: 'missing' });
  await wf.execute('counter', { workflowId: 'counter', args: [2] });
  await wf.execute('versioned', { workflowId: 'versioned' });
  await wf.execute('timeoutRace', { workflowId: 'race' });
  await wf.execute('flaky', { workflowId: 'flaky' });
  await wf.execute('cancelsActivityAndGoesOn', { workflowId: 'activity-cancel' });
  await wf.execute('failing', { workflowId: 'failing' }).catch(ignore);
  const terminated = wf.execute('childGetsTerminated', { workflowId: 'child-terminated' });
  await expect.poll(async () => (await wf.list({ workflowId: 'to-be-terminated' })).length).toBe(1);
  await wf.getHandle('to-be-terminated').terminate('from the test');
  expect(await terminated).toBe('TerminatedFailure');
  const cancellable = await wf.start('cancellable', { workflowId: 'cancellable' });
  await expect.poll(async () => (await cancellable.describe()).historyLength).toBeGreaterThan(4);
  await cancellable.cancel();
  await cancellable.result().catch(ignore);
  const buggy = await wf.start('buggy', { workflowId: 'buggy' });
  await expect.poll(async () => (await buggy.describe()).blocked !== undefined).toBe(true);
  await buggy.terminate();
  expect(await wf.execute('activityFailsForGood', { workflowId: 'activity-fails' })).toBe(
    'ActivityFailure:refused',
  );
  expect(await wf.execute('timesOutActivity', { workflowId: 'activity-timeout' })).toBe('timed out');

  const seen = new Set<string>();
  for (const run of await wf.list()) {
    const { events } = await wf.getHandle(run.workflowId, run.runId).fetchHistory();
    for (const e of events) seen.add(e.eventType);
  }
  const missing = specTypes.filter((t) => !seen.has(t));
  expect(missing).toEqual([]);
  await engine.shutdown();
}, 20_000);
