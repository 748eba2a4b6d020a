import { afterEach, describe, expect, it } from 'vitest';
import { createEngine, type Engine, type HistoryEvent, memoryStore } from '../../src/index.ts';
import * as workflows from './fixtures/children.ts';

let engine: Engine | undefined;
afterEach(async () => {
  await engine?.shutdown();
  engine = undefined;
});

async function start(options: { maxPendingChildren?: number } = {}) {
  engine = await createEngine({
    workflows,
    activities: { echo: async (x: number) => x },
    store: memoryStore(),
    ...options,
  });
  return engine.client.workflow;
}

const types = (events: HistoryEvent[]) => events.map((e) => e.eventType);
const history = async (id: string, runId?: string) =>
  (await engine!.client.workflow.getHandle(id, runId).fetchHistory()).events;

describe('child workflows', () => {
  it('synchronous child: executeChild returns its result; both histories name each other', async () => {
    const wf = await start();
    expect(await wf.execute('sync', { workflowId: 'p', args: [21] })).toBe(42);
    const parent = await history('p');
    expect(types(parent)).toEqual([
      'WorkflowExecutionStarted',
      'WorkflowTaskScheduled',
      'WorkflowTaskStarted',
      'WorkflowTaskCompleted',
      'StartChildWorkflowExecutionInitiated',
      'ChildWorkflowExecutionStarted',
      'WorkflowTaskScheduled',
      'WorkflowTaskStarted',
      'WorkflowTaskCompleted',
      'ChildWorkflowExecutionCompleted',
      'WorkflowTaskScheduled',
      'WorkflowTaskStarted',
      'WorkflowTaskCompleted',
      'WorkflowExecutionCompleted',
    ]);
    const initiated = parent[4]!;
    const started = parent[5]!;
    const completed = parent[9]!;
    expect(started.attributes).toMatchObject({ initiatedEventId: 5 });
    expect(completed.attributes).toMatchObject({ initiatedEventId: 5, startedEventId: 6, result: 42 });
    const childId = (initiated.attributes as { workflowId: string }).workflowId;
    const [childStart] = await history(childId);
    const parentDesc = await wf.getHandle('p').describe();
    expect(childStart?.attributes).toMatchObject({
      parentWorkflowExecution: { workflowId: 'p', runId: parentDesc.runId },
      parentInitiatedEventId: 5,
      rootWorkflowExecution: { workflowId: 'p', runId: parentDesc.runId },
    });
    expect((await wf.getHandle(childId).describe()).parent).toEqual({
      workflowId: 'p',
      runId: parentDesc.runId,
    });
  });

  it('default child IDs are derived from the parent run, stable on replay', async () => {
    const wf = await start();
    await wf.execute('sync', { workflowId: 'p2', args: [1] });
    const { runId } = await wf.getHandle('p2').describe();
    const initiated = (await history('p2')).find(
      (e) => e.eventType === 'StartChildWorkflowExecutionInitiated',
    );
    expect(initiated?.attributes).toMatchObject({ workflowId: `p2/${runId.slice(0, 8)}/child-1` });
  });

  it('asynchronous child: startChild resolves once started, result later', async () => {
    const wf = await start();
    const result = (await wf.execute('asyncChild', { workflowId: 'a', args: [5] })) as {
      id: string;
      runId: string;
      result: number;
    };
    expect(result.id).toBe('async-child');
    expect(result.result).toBe(10);
    expect(result.runId).toBe((await wf.getHandle('async-child').describe()).runId);
  });

  it('parallel fan-out of 100 children with results in order', async () => {
    const wf = await start();
    const results = (await wf.execute('fanOut', { workflowId: 'fan', args: [100] })) as number[];
    expect(results).toEqual(Array.from({ length: 100 }, (_, i) => i * 2));
    const children = await wf.list({ parentWorkflowId: 'fan' });
    expect(children).toHaveLength(100);
    expect(children.every((c) => c.status === 'COMPLETED')).toBe(true);
  });

  it('fire-and-forget with ABANDON: the child outlives its parent', async () => {
    const wf = await start();
    expect(await wf.execute('fireAndForget', { workflowId: 'ff' })).toBe('abandoned-child');
    expect((await wf.getHandle('ff').describe()).status).toBe('COMPLETED');
    expect(await wf.getHandle('abandoned-child').result()).toBe('outlived');
  });

  it('conditional children', async () => {
    const wf = await start();
    expect(await wf.execute('conditional', { workflowId: 'c1', args: [500] })).toBe('big:1000');
    expect(await wf.execute('conditional', { workflowId: 'c2', args: [5] })).toBe('small:no child');
    expect(await wf.list({ parentWorkflowId: 'c1' })).toHaveLength(1);
    expect(await wf.list({ parentWorkflowId: 'c2' })).toHaveLength(0);
  });

  it('child signals its parent (order/payment with sendToParent)', async () => {
    const wf = await start();
    expect(await wf.execute('order', { workflowId: 'order-1', args: ['o1'] })).toBe(
      'receipt-o1 / payment done',
    );
    const child = (await wf.list({ parentWorkflowId: 'order-1' }))[0]!;
    expect(types(await history(child.workflowId))).toContain('SignalExternalWorkflowExecutionInitiated');
    expect(types(await history(child.workflowId))).toContain('ExternalWorkflowExecutionSignaled');
    expect(types(await history('order-1'))).toContain('WorkflowExecutionSignaled');
  });

  it('parent signals its child (handle and external handle)', async () => {
    const wf = await start();
    expect(await wf.execute('signalsChild', { workflowId: 'sc' })).toEqual(['box-1', 'box-2']);
    const signalled = (await history('shipper-child')).filter(
      (e) => e.eventType === 'WorkflowExecutionSignaled',
    );
    expect(signalled.map((e) => e.attributes)).toEqual([
      { signalName: 'ship', input: ['box-1'], identity: 'sc' },
      { signalName: 'ship', input: ['box-2'], identity: 'sc' },
    ]);
    // Through the child's handle the signal is for that child only; through an external handle not.
    const initiated = (await history('sc')).filter(
      (e) => e.eventType === 'SignalExternalWorkflowExecutionInitiated',
    );
    expect(initiated.map((e) => (e.attributes as { childWorkflowOnly: boolean }).childWorkflowOnly)).toEqual([
      true,
      false,
    ]);
  });

  // The parent closes as soon as its result settles; its TERMINATE close policy then ends a
  // child still cleaning up. WAIT_CANCELLATION_COMPLETED and WAIT_CANCELLATION_REQUESTED wait
  // for the child's end, as Temporal's SDK does (README, "Moving to Temporal").
  it.each([
    ['ABANDON', 10_000, false, 'TERMINATED'],
    ['TRY_CANCEL', 10_000, true, 'TERMINATED'],
    ['WAIT_CANCELLATION_REQUESTED', 30, true, 'CANCELED'],
    ['WAIT_CANCELLATION_COMPLETED', 30, true, 'CANCELED'],
  ] as const)('cancellation type %s', async (type, cleanupMs, requested, childStatus) => {
    const wf = await start();
    const parentId = `cp-${type}`;
    expect(await wf.execute('cancelsChild', { workflowId: parentId, args: [type, cleanupMs] })).toBe(
      'ChildWorkflowFailure:CancelledFailure',
    );
    const parentEvents = types(await history(parentId));
    const childEvents = types(await history(`cancel-${type}`));
    expect(parentEvents.includes('RequestCancelExternalWorkflowExecutionInitiated')).toBe(requested);
    expect(childEvents.includes('WorkflowExecutionCancelRequested')).toBe(requested);
    if (type === 'WAIT_CANCELLATION_REQUESTED')
      expect(parentEvents).toContain('ExternalWorkflowExecutionCancelRequested');
    if (type === 'WAIT_CANCELLATION_COMPLETED' || type === 'WAIT_CANCELLATION_REQUESTED') {
      // The parent saw the child close before its own result settled.
      expect(parentEvents.indexOf('ChildWorkflowExecutionCanceled')).toBeGreaterThan(0);
      expect(parentEvents.indexOf('ChildWorkflowExecutionCanceled')).toBeLessThan(
        parentEvents.indexOf('WorkflowExecutionCompleted'),
      );
    } else {
      expect(parentEvents).not.toContain('ChildWorkflowExecutionCanceled');
    }
    expect((await wf.getHandle(`cancel-${type}`).describe()).status).toBe(childStatus);
  });

  it('the three close policies side by side', async () => {
    const wf = await start();
    expect(await wf.execute('closePolicies', { workflowId: 'policies' })).toBe('parent done');
    expect((await wf.getHandle('policy-TERMINATE').describe()).status).toBe('TERMINATED');
    await expect
      .poll(async () => (await wf.getHandle('policy-REQUEST_CANCEL').describe()).status)
      .toBe('CANCELED');
    expect((await wf.getHandle('policy-ABANDON').describe()).status).toBe('RUNNING');
    const terminated = (await history('policy-TERMINATE')).at(-1);
    expect(terminated?.attributes).toMatchObject({
      reason: expect.stringMatching(/parent close policy TERMINATE/),
    });
  });

  it('a child failure reaches the parent as ChildWorkflowFailure with its cause intact', async () => {
    const wf = await start();
    expect(await wf.execute('catchesChildFailure', { workflowId: 'cf' })).toBe(
      'ChildWorkflowFailure|failingChild|failing-child|ApplicationFailure|card declined|Declined|[{"code":51}]',
    );
    expect(types(await history('cf'))).toContain('ChildWorkflowExecutionFailed');
  });

  it('a child timeout', async () => {
    const wf = await start();
    expect(await wf.execute('timesOutChild', { workflowId: 'to' })).toBe(
      'ChildWorkflowFailure:TimeoutFailure',
    );
    expect(types(await history('to'))).toContain('ChildWorkflowExecutionTimedOut');
  });

  it('a child retried to success: the parent sees only the final outcome', async () => {
    const wf = await start();
    expect(await wf.execute('retriesChild', { workflowId: 'rc' })).toBe('succeeded on attempt 3');
    const runs = await wf.list({ workflowId: 'flaky-child' });
    expect(runs.map((r) => r.status).sort()).toEqual(['COMPLETED', 'FAILED', 'FAILED']);
    const parentEvents = types(await history('rc'));
    expect(parentEvents.filter((t) => t.startsWith('ChildWorkflowExecution'))).toEqual([
      'ChildWorkflowExecutionStarted',
      'ChildWorkflowExecutionCompleted',
    ]);
  });

  it('a duplicate child ID fails the start with WorkflowExecutionAlreadyStartedError', async () => {
    const wf = await start();
    expect(await wf.execute('duplicateChild', { workflowId: 'dp' })).toBe(
      'WorkflowExecutionAlreadyStartedError',
    );
    const failed = (await history('dp')).find((e) => e.eventType === 'StartChildWorkflowExecutionFailed');
    expect(failed?.attributes).toMatchObject({ workflowId: 'dup', cause: 'WORKFLOW_ALREADY_EXISTS' });
  });

  it('USE_EXISTING returns the running child and both handles see its result', async () => {
    const wf = await start();
    expect(await wf.execute('useExisting', { workflowId: 'ue' })).toBe('true:42:42');
  });

  it('a child initiated in the task that completes its parent still starts', async () => {
    const wf = await start();
    expect(await wf.execute('initiateAndComplete', { workflowId: 'ic' })).toBe('parent closed at once');
    expect(await wf.getHandle('late-child').result()).toBe('outlived');
  });

  it('continue-as-new applies the close policy; the new run starts clean', async () => {
    const wf = await start();
    expect(await wf.execute('continuesWithChild', { workflowId: 'can', args: [0] })).toBe('round 1');
    expect((await wf.getHandle('can-child-0').describe()).status).toBe('TERMINATED');
    // The last run closed too (completed), so its own child was terminated by the policy.
    expect((await wf.getHandle('can-child-1').describe()).status).toBe('TERMINATED');
    const runs = await wf.list({ workflowId: 'can' });
    expect(runs).toHaveLength(2);
  });

  it('workflowInfo().parent and .root across three generations', async () => {
    const wf = await start();
    const result = (await wf.execute('grandparent', { workflowId: 'gp' })) as {
      parent: { workflowId: string };
      root: { workflowId: string };
    };
    expect(result.parent.workflowId).toBe('middle');
    expect(result.root.workflowId).toBe('gp');
  });

  it('signalling a closed execution fails with a cause that says so', async () => {
    const wf = await start();
    expect(await wf.execute('signalsClosed', { workflowId: 'sc2' })).toMatch(
      /closed-target.*not found or already closed/,
    );
    expect(types(await history('sc2'))).toContain('SignalExternalWorkflowExecutionFailed');
  });

  it('sendToParent without a parent is an error', async () => {
    const wf = await start();
    expect(await wf.execute('noParent', { workflowId: 'np' })).toMatch(/has no parent/);
  });

  it('an external handle cancels another execution', async () => {
    const wf = await start();
    expect(await wf.execute('cancelsExternal', { workflowId: 'ce' })).toBe('requested');
    await expect
      .poll(async () => (await wf.getHandle('ext-cancel-target').describe()).status)
      .toBe('CANCELED');
    const parentEvents = types(await history('ce'));
    expect(parentEvents).toContain('RequestCancelExternalWorkflowExecutionInitiated');
    expect(parentEvents).toContain('ExternalWorkflowExecutionCancelRequested');
  });

  it('an unregistered workflow function is a clear error', async () => {
    const wf = await start();
    expect(await wf.execute('unregisteredChild', { workflowId: 'ur' })).toMatch(
      /notRegistered.*not registered/,
    );
  });

  it('caps pending children per parent', async () => {
    const wf = await start({ maxPendingChildren: 10 });
    const error = (await wf
      .execute('fanOut', { workflowId: 'cap', args: [11] })
      .catch((e: unknown) => e)) as Error & {
      cause?: Error & { type?: string };
    };
    expect(error.cause?.type).toBe('PendingChildWorkflowsLimitExceeded');
  });
});

describe('child IDs and policies', () => {
  it('every workflowIdReusePolicy applies to children', async () => {
    const wf = await start();
    // A closed COMPLETED run under the ID, then each policy.
    await wf.execute('sync', { workflowId: 'seed', args: [1] });
    const [seedChild] = await wf.list({ parentWorkflowId: 'seed' });
    const id = seedChild!.workflowId;
    expect(await wf.execute('startsWithPolicy', { workflowId: 'p1', args: [id, 'REJECT_DUPLICATE'] })).toBe(
      'WorkflowExecutionAlreadyStartedError',
    );
    expect(
      await wf.execute('startsWithPolicy', { workflowId: 'p2', args: [id, 'ALLOW_DUPLICATE_FAILED_ONLY'] }),
    ).toBe('WorkflowExecutionAlreadyStartedError');
    expect(await wf.execute('startsWithPolicy', { workflowId: 'p3', args: [id, 'ALLOW_DUPLICATE'] })).toMatch(
      /^started:/,
    );
    // A running one under the ID: TERMINATE_IF_RUNNING ends it and starts anew.
    const running = await wf.start('waitsForever', { workflowId: 'busy-id' });
    const { runId: firstRun } = await running.describe();
    expect(
      await wf.execute('startsWithPolicy', { workflowId: 'p4', args: ['busy-id', 'TERMINATE_IF_RUNNING'] }),
    ).toMatch(/^started:/);
    expect((await wf.getHandle('busy-id', firstRun).describe()).status).toBe('TERMINATED');
    expect((await wf.getHandle('busy-id').describe()).runId).not.toBe(firstRun);
  });

  it('a close policy never reaches an unrelated execution that reuses a child ID', async () => {
    const wf = await start();
    const parent = await wf.start('holdsChildThenCompletes', { workflowId: 'holder' });
    await expect.poll(async () => (await wf.list({ workflowId: 'reused-id' }))[0]?.status).toBe('COMPLETED');
    const unrelated = await wf.start('waitsForever', { workflowId: 'reused-id' });
    expect(await parent.result()).toBe('done');
    expect((await unrelated.describe()).status).toBe('RUNNING');
  });

  it('a child run timeout', async () => {
    const wf = await start();
    expect(await wf.execute('runTimesOutChild', { workflowId: 'rto' })).toBe('TimeoutFailure');
  });
});
