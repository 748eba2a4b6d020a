/**
 * Child workflows end to end (SPEC 3.1, 4, 5.3-5.6 and the playground patterns of SPEC 6), in
 * real Chromium: every sample of demo/children.ts is started from the page through
 * `window.weft.client`, and its outcome, histories, `describe` and `list` are checked through
 * the same client. Activities record every run in the effects database, so side effects are
 * counted, not guessed.
 */
import { expect, test } from '@playwright/test';
import type { HistoryEvent } from '../../src/client/index.ts';
import {
  count,
  dbName,
  describe as describeRun,
  effectCounts,
  effects,
  eventTypes,
  expectWellFormed,
  history,
  list,
  openPlayground,
  outcome,
  run,
  start,
  status,
} from './children-helpers.ts';

test.beforeEach(async ({ page }, testInfo) => {
  await openPlayground(page, dbName(testInfo));
});

function childEvents(types: string[]): string[] {
  return types.filter((t) => t.startsWith('ChildWorkflowExecution') || t.startsWith('StartChildWorkflow'));
}

test('synchronous child: executeChild returns the result; parent and child name each other', async ({
  page,
}) => {
  const parentRunId = await start(page, 'syncChild', 'sync-1', [21]);
  expect(await outcome(page, 'sync-1')).toEqual({ ok: 42 });

  const parent = await history(page, 'sync-1');
  expectWellFormed(parent, 'parent');
  expect(childEvents(parent.map((e) => e.eventType))).toEqual([
    'StartChildWorkflowExecutionInitiated',
    'ChildWorkflowExecutionStarted',
    'ChildWorkflowExecutionCompleted',
  ]);
  const initiated = parent.find((e) => e.eventType === 'StartChildWorkflowExecutionInitiated');
  const completed = parent.find((e) => e.eventType === 'ChildWorkflowExecutionCompleted');
  const childId = `sync-1/${parentRunId.slice(0, 8)}/child-1`;
  expect(initiated?.attributes).toMatchObject({ workflowId: childId, workflowType: 'doubler', input: [21] });
  expect(completed?.attributes).toMatchObject({ result: 42, initiatedEventId: initiated?.eventId });

  const children = await list(page, { parentWorkflowId: 'sync-1' });
  expect(children).toHaveLength(1);
  expect(children[0]).toMatchObject({
    workflowId: childId,
    type: 'doubler',
    status: 'COMPLETED',
    parent: { workflowId: 'sync-1', runId: parentRunId },
  });
  const child = await history(page, childId);
  expectWellFormed(child, 'child');
  expect(child[0]?.attributes).toMatchObject({
    parentWorkflowExecution: { workflowId: 'sync-1', runId: parentRunId },
    parentInitiatedEventId: initiated?.eventId,
    rootWorkflowExecution: { workflowId: 'sync-1', runId: parentRunId },
  });
  expect(await effectCounts(page, childId)).toEqual({ multiply: 1 });
});

test('asynchronous child: startChild gives a handle once started, the result comes later', async ({
  page,
}) => {
  const result = await run(page, 'asyncChild', 'async-1', [5]);
  expect(result).toEqual({
    ok: { workflowId: expect.stringMatching(/^async-1\//), runId: expect.any(String), result: 10 },
  });
  const { workflowId, runId } = (result as { ok: { workflowId: string; runId: string } }).ok;
  expect(await describeRun(page, workflowId)).toMatchObject({
    runId,
    type: 'doubler',
    status: 'COMPLETED',
    parent: { workflowId: 'async-1' },
  });
  // startChild resolved on ChildWorkflowExecutionStarted, before the child's outcome.
  const parent = await eventTypes(page, 'async-1');
  expect(childEvents(parent)).toEqual([
    'StartChildWorkflowExecutionInitiated',
    'ChildWorkflowExecutionStarted',
    'ChildWorkflowExecutionCompleted',
  ]);
  expect(await effectCounts(page, workflowId)).toEqual({ multiply: 1 });
});

test('parallel fan-out: 100 children, results in order, all COMPLETED, one activity each', async ({
  page,
}) => {
  // The page watches every change; children carry their parent's ID.
  await page.evaluate(() => {
    const seen: Record<string, string> = {};
    (window as unknown as { seen: typeof seen }).seen = seen;
    window.weft.client.workflow.watch((changes) => {
      for (const c of changes) if (c.parentWorkflowId === 'fan-1') seen[c.workflowId] = c.status;
    });
  });
  expect(await run(page, 'fanOut', 'fan-1', [100])).toEqual({
    ok: Array.from({ length: 100 }, (_, i) => i * 2),
  });

  const children = await list(page, { parentWorkflowId: 'fan-1' });
  expect(children).toHaveLength(100);
  expect(children.filter((c) => c.status === 'COMPLETED')).toHaveLength(100);
  expect(new Set(children.map((c) => c.type))).toEqual(new Set(['doubler']));

  const parent = await history(page, 'fan-1');
  expectWellFormed(parent, 'parent');
  const types = parent.map((e) => e.eventType);
  expect(count(types, 'StartChildWorkflowExecutionInitiated')).toBe(100);
  expect(count(types, 'ChildWorkflowExecutionStarted')).toBe(100);
  expect(count(types, 'ChildWorkflowExecutionCompleted')).toBe(100);

  // watch reported each child's changes up to its completion.
  await expect
    .poll(() =>
      page.evaluate(
        () =>
          Object.values((window as unknown as { seen: Record<string, string> }).seen).filter(
            (status) => status === 'COMPLETED',
          ).length,
      ),
    )
    .toBe(100);

  // Each child ran its one activity exactly once.
  const ran = (await effects(page)).filter((e) => e.activity === 'multiply');
  expect(ran).toHaveLength(100);
  expect(new Set(ran.map((e) => e.workflowId))).toEqual(new Set(children.map((c) => c.workflowId)));
});

test('fire-and-forget: an ABANDON child outlives its parent, and is then signalled to completion', async ({
  page,
}) => {
  expect(await run(page, 'fireAndForget', 'ff-1', ['call the customer'])).toEqual({ ok: 'ff-1-follow-up' });
  const parent = await describeRun(page, 'ff-1');
  expect(parent.status).toBe('COMPLETED');
  expect(await status(page, 'ff-1-follow-up')).toBe('RUNNING');
  expect(await effectCounts(page, 'ff-1-follow-up')).toEqual({});

  // The parent is gone; the page signals the child it left behind.
  await page.evaluate(() => window.weft.client.workflow.getHandle('ff-1-follow-up').signal('confirm', 'ana'));
  expect(await outcome(page, 'ff-1-follow-up')).toEqual({
    ok: 'followed up: call the customer, confirmed by ana',
  });
  const child = await describeRun(page, 'ff-1-follow-up');
  expect(child).toMatchObject({ status: 'COMPLETED', parent: { workflowId: 'ff-1', runId: parent.runId } });
  expect(child.closeTime).toBeGreaterThan(parent.closeTime ?? Number.POSITIVE_INFINITY);
  expect(await effectCounts(page, 'ff-1-follow-up')).toEqual({ notify: 1 });

  // The parent never heard of the child's end; nothing asked the child to stop.
  const parentTypes = await eventTypes(page, 'ff-1');
  expect(childEvents(parentTypes)).toEqual([
    'StartChildWorkflowExecutionInitiated',
    'ChildWorkflowExecutionStarted',
  ]);
  expect(parentTypes.at(-1)).toBe('WorkflowExecutionCompleted');
  const childTypes = await eventTypes(page, 'ff-1-follow-up');
  expect(childTypes).toContain('WorkflowExecutionSignaled');
  expect(childTypes).not.toContain('WorkflowExecutionCancelRequested');
  expect(childTypes.at(-1)).toBe('WorkflowExecutionCompleted');
});

test('conditional children: approval, then fulfilment only when approved', async ({ page }) => {
  expect(await run(page, 'conditionalChild', 'cond-ok', [500])).toEqual({
    ok: 'approved, then fulfilled 500',
  });
  expect(await run(page, 'conditionalChild', 'cond-no', [5000])).toEqual({
    ok: 'not approved (review): no fulfilment',
  });

  expect((await list(page, { parentWorkflowId: 'cond-ok' })).map((c) => [c.type, c.status])).toEqual([
    ['fraudCheck', 'COMPLETED'],
    ['fulfilment', 'COMPLETED'],
  ]);
  expect((await list(page, { parentWorkflowId: 'cond-no' })).map((c) => [c.type, c.status])).toEqual([
    ['fraudCheck', 'COMPLETED'],
  ]);
  expect(
    childEvents(await eventTypes(page, 'cond-no')).filter(
      (t) => t === 'StartChildWorkflowExecutionInitiated',
    ),
  ).toHaveLength(1);
  const all = await effects(page);
  expect(
    all
      .filter((e) => e.activity === 'scoreRisk')
      .map((e) => e.detail)
      .sort(),
  ).toEqual(['500', '5000']);
  expect(all.filter((e) => e.activity === 'notify').map((e) => e.detail)).toEqual(['ship order of 500']);
});

test('order/payment: the child signals its parent with sendToParent, the parent waits with condition', async ({
  page,
}) => {
  expect(await run(page, 'checkout', 'order-7', ['order-7', 250])).toEqual({
    ok: { receipt: 'rcpt-order-7-250', payment: 'paid 250' },
  });
  const parentRunId = (await describeRun(page, 'order-7')).runId;

  const child = await history(page, 'order-7-payment');
  expectWellFormed(child, 'child');
  const childTypes = child.map((e) => e.eventType);
  const initiated = child.find((e) => e.eventType === 'SignalExternalWorkflowExecutionInitiated');
  const signaled = child.find((e) => e.eventType === 'ExternalWorkflowExecutionSignaled');
  expect(initiated?.attributes).toMatchObject({
    workflowExecution: { workflowId: 'order-7', runId: parentRunId },
    signalName: 'paymentReceived',
    input: ['rcpt-order-7-250'],
  });
  expect(signaled?.attributes).toMatchObject({ initiatedEventId: initiated?.eventId });
  expect(childTypes.indexOf('ExternalWorkflowExecutionSignaled')).toBeLessThan(
    childTypes.indexOf('WorkflowExecutionCompleted'),
  );

  const parent = await history(page, 'order-7');
  expectWellFormed(parent, 'parent');
  const received = parent.filter((e) => e.eventType === 'WorkflowExecutionSignaled');
  expect(received.map((e) => e.attributes)).toEqual([
    expect.objectContaining({ signalName: 'paymentReceived', input: ['rcpt-order-7-250'] }),
  ]);
  expect(await effectCounts(page, 'order-7-payment')).toEqual({ charge: 1 });
});

test("parent signals its child: through the child's handle and getExternalWorkflowHandle", async ({
  page,
}) => {
  expect(await run(page, 'signalChild', 'sig-1')).toEqual({ ok: ['parcel-1', 'parcel-2'] });

  const child = await history(page, 'sig-1-packer');
  expectWellFormed(child, 'child');
  expect(child.filter((e) => e.eventType === 'WorkflowExecutionSignaled').map((e) => e.attributes)).toEqual([
    expect.objectContaining({ signalName: 'addParcel', input: ['parcel-1'] }),
    expect.objectContaining({ signalName: 'addParcel', input: ['parcel-2'] }),
  ]);
  const parent = await eventTypes(page, 'sig-1');
  expect(count(parent, 'SignalExternalWorkflowExecutionInitiated')).toBe(2);
  expect(count(parent, 'ExternalWorkflowExecutionSignaled')).toBe(2);
  expect(await effectCounts(page, 'sig-1-packer')).toEqual({ notify: 1 });
});

// ---- cancellation types ----------------------------------------------------------------------

/**
 * The parent cancels a scope holding a long-running child, then completes as soon as the
 * child's result settles; its close policy (TERMINATE, the default) ends a child still
 * cleaning up. WAIT_CANCELLATION_COMPLETED and WAIT_CANCELLATION_REQUESTED wait for the child's
 * cleanup, as Temporal's SDK does.
 */
const cancellationCases = [
  { type: 'ABANDON', cleanupMs: 10_000, requested: false, childStatus: 'TERMINATED', cleanups: 0 },
  { type: 'TRY_CANCEL', cleanupMs: 10_000, requested: true, childStatus: 'TERMINATED', cleanups: 0 },
  {
    type: 'WAIT_CANCELLATION_REQUESTED',
    cleanupMs: 300,
    requested: true,
    childStatus: 'CANCELED',
    cleanups: 1,
  },
  {
    type: 'WAIT_CANCELLATION_COMPLETED',
    cleanupMs: 300,
    requested: true,
    childStatus: 'CANCELED',
    cleanups: 1,
  },
] as const;

for (const c of cancellationCases) {
  test(`cancellation type ${c.type}: what the parent observed, the events and the child's end`, async ({
    page,
  }) => {
    const parentId = `cancel-${c.type}`;
    const childId = `${parentId}-job`;
    expect(await run(page, 'cancelChild', parentId, [c.type, c.cleanupMs])).toEqual({
      ok: {
        name: 'ChildWorkflowFailure',
        workflowId: childId,
        workflowType: 'longRunningJob',
        cause: expect.objectContaining({ name: 'CancelledFailure' }),
      },
    });

    const parent = await history(page, parentId);
    expectWellFormed(parent, 'parent');
    const types = parent.map((e) => e.eventType);
    const completedAt = types.indexOf('WorkflowExecutionCompleted');
    expect(types.includes('RequestCancelExternalWorkflowExecutionInitiated')).toBe(c.requested);
    if (c.type === 'WAIT_CANCELLATION_REQUESTED') {
      // The parent waited for the request to be delivered.
      expect(types.indexOf('ExternalWorkflowExecutionCancelRequested')).toBeGreaterThan(
        types.indexOf('RequestCancelExternalWorkflowExecutionInitiated'),
      );
      expect(types.indexOf('ExternalWorkflowExecutionCancelRequested')).toBeLessThan(completedAt);
    }
    if (c.type === 'WAIT_CANCELLATION_COMPLETED' || c.type === 'WAIT_CANCELLATION_REQUESTED') {
      // The parent saw the child's end (after its cleanup) before its own result settled.
      expect(types.indexOf('ChildWorkflowExecutionCanceled')).toBeGreaterThan(0);
      expect(types.indexOf('ChildWorkflowExecutionCanceled')).toBeLessThan(completedAt);
    } else {
      expect(types).not.toContain('ChildWorkflowExecutionCanceled');
    }

    // The close policy applies in the parent's closing commit: no waiting needed.
    const child = await describeRun(page, childId);
    expect(child.status).toBe(c.childStatus);
    const childEventsList = await history(page, childId);
    expectWellFormed(childEventsList, 'child');
    const childTypes = childEventsList.map((e) => e.eventType);
    expect(childTypes.includes('WorkflowExecutionCancelRequested')).toBe(c.requested);
    if (c.childStatus === 'TERMINATED') {
      expect(childEventsList.at(-1)?.attributes).toMatchObject({
        reason: expect.stringMatching(/parent close policy TERMINATE/),
      });
    }
    expect(await effectCounts(page, childId)).toEqual(c.cleanups ? { cleanUp: c.cleanups } : {});
  });
}

test('cancelling a parent from the page cancels its child and waits for its cleanup', async ({ page }) => {
  await start(page, 'supervisor', 'sup-1', [500]);
  await expect.poll(() => eventTypes(page, 'sup-1-job').catch((): string[] => [])).toContain('TimerStarted');

  await page.evaluate(() => window.weft.client.workflow.getHandle('sup-1').cancel());
  expect(await outcome(page, 'sup-1')).toMatchObject({
    error: { name: 'WorkflowFailedError', cause: { name: 'CancelledFailure' } },
  });
  expect(await status(page, 'sup-1')).toBe('CANCELED');
  expect(await status(page, 'sup-1-job')).toBe('CANCELED');
  expect(await effectCounts(page, 'sup-1-job')).toEqual({ cleanUp: 1 });
  expect(await effectCounts(page, 'sup-1')).toEqual({ notify: 1 });

  const parent = await history(page, 'sup-1');
  expectWellFormed(parent, 'parent');
  const types = parent.map((e) => e.eventType);
  expect(types.indexOf('WorkflowExecutionCancelRequested')).toBeLessThan(
    types.indexOf('RequestCancelExternalWorkflowExecutionInitiated'),
  );
  // The child's end (after its cleanup) reached the parent before the parent closed.
  expect(types.indexOf('ChildWorkflowExecutionCanceled')).toBeGreaterThan(
    types.indexOf('RequestCancelExternalWorkflowExecutionInitiated'),
  );
  expect(types.indexOf('ChildWorkflowExecutionCanceled')).toBeLessThan(
    types.indexOf('WorkflowExecutionCanceled'),
  );
  const child = await history(page, 'sup-1-job');
  expectWellFormed(child, 'child');
  expect(child.at(-1)?.eventType).toBe('WorkflowExecutionCanceled');
});

test('terminating a parent from the page applies its close policy (TERMINATE) to its child', async ({
  page,
}) => {
  await start(page, 'supervisor', 'sup-2', [500]);
  await expect.poll(() => eventTypes(page, 'sup-2-job').catch((): string[] => [])).toContain('TimerStarted');

  await page.evaluate(() => window.weft.client.workflow.getHandle('sup-2').terminate('operator stop'));
  expect(await outcome(page, 'sup-2')).toMatchObject({
    error: { name: 'WorkflowFailedError', cause: { name: 'TerminatedFailure', message: 'operator stop' } },
  });
  // Both closed in one commit: no waiting needed.
  expect(await status(page, 'sup-2-job')).toBe('TERMINATED');
  const child = await history(page, 'sup-2-job');
  expectWellFormed(child, 'child');
  expect(child.at(-1)?.attributes).toMatchObject({
    reason: expect.stringMatching(/parent close policy TERMINATE/),
  });
  const parent = await history(page, 'sup-2');
  expectWellFormed(parent, 'parent');
  expect(parent.at(-1)?.eventType).toBe('WorkflowExecutionTerminated');
  expect(await effectCounts(page, 'sup-2-job')).toEqual({});
  expect(await effectCounts(page, 'sup-2')).toEqual({});
});

// ---- close policies ---------------------------------------------------------------------------

test('close policies side by side: TERMINATE ends, REQUEST_CANCEL cancels, ABANDON keeps running', async ({
  page,
}) => {
  expect(await run(page, 'closePolicies', 'cp-1')).toEqual({
    ok: ['cp-1-TERMINATE', 'cp-1-REQUEST_CANCEL', 'cp-1-ABANDON'],
  });
  const parent = await eventTypes(page, 'cp-1');
  expect(parent.at(-1)).toBe('WorkflowExecutionCompleted');

  expect(await status(page, 'cp-1-TERMINATE')).toBe('TERMINATED');
  const terminated = await history(page, 'cp-1-TERMINATE');
  expectWellFormed(terminated, 'TERMINATE child');
  expect(terminated.at(-1)?.attributes).toMatchObject({
    reason: expect.stringMatching(/parent close policy TERMINATE/),
  });

  // REQUEST_CANCEL: the request is delivered with the parent's close; the child cleans up and ends CANCELED.
  expect(await eventTypes(page, 'cp-1-REQUEST_CANCEL')).toContain('WorkflowExecutionCancelRequested');
  await expect.poll(() => status(page, 'cp-1-REQUEST_CANCEL')).toBe('CANCELED');
  const cancelled = await eventTypes(page, 'cp-1-REQUEST_CANCEL');
  expect(cancelled).toContain('TimerCanceled');
  expect(cancelled.at(-1)).toBe('WorkflowExecutionCanceled');

  expect(await status(page, 'cp-1-ABANDON')).toBe('RUNNING');
  expect(await eventTypes(page, 'cp-1-ABANDON')).not.toContain('WorkflowExecutionCancelRequested');

  expect(
    Object.fromEntries((await list(page, { parentWorkflowId: 'cp-1' })).map((c) => [c.workflowId, c.status])),
  ).toEqual({ 'cp-1-TERMINATE': 'TERMINATED', 'cp-1-REQUEST_CANCEL': 'CANCELED', 'cp-1-ABANDON': 'RUNNING' });
  expect(await effectCounts(page, 'cp-1-TERMINATE')).toEqual({});
  expect(await effectCounts(page, 'cp-1-REQUEST_CANCEL')).toEqual({ cleanUp: 1 });
  expect(await effectCounts(page, 'cp-1-ABANDON')).toEqual({});
});

// ---- outcomes ---------------------------------------------------------------------------------

test('a failing child: the parent catches ChildWorkflowFailure whose cause keeps message, type, details', async ({
  page,
}) => {
  expect(await run(page, 'childFailure', 'fail-1', ['ord-9'])).toEqual({
    ok: {
      name: 'ChildWorkflowFailure',
      workflowId: 'ord-9-payment',
      workflowType: 'declinedPayment',
      cause: {
        name: 'ApplicationFailure',
        message: 'card declined for ord-9',
        type: 'CardDeclined',
        details: [{ orderId: 'ord-9', code: 51 }],
      },
    },
  });
  const parent = await history(page, 'fail-1');
  expectWellFormed(parent, 'parent');
  const failed = parent.find((e) => e.eventType === 'ChildWorkflowExecutionFailed');
  expect(failed?.attributes).toMatchObject({
    workflowType: 'declinedPayment',
    failure: { name: 'ApplicationFailure', message: 'card declined for ord-9', type: 'CardDeclined' },
  });
  expect(await status(page, 'ord-9-payment')).toBe('FAILED');

  // The same failure reaches the page, typed, through the child's own handle.
  const child = await outcome(page, 'ord-9-payment');
  expect(child).toEqual({
    error: expect.objectContaining({
      name: 'WorkflowFailedError',
      instanceOf: ['WorkflowFailedError'],
      cause: expect.objectContaining({
        name: 'ApplicationFailure',
        message: 'card declined for ord-9',
        type: 'CardDeclined',
        details: [{ orderId: 'ord-9', code: 51 }],
        instanceOf: ['ApplicationFailure'],
      }),
    }),
  });
});

test('a child timeout: workflowExecutionTimeout reaches the parent as ChildWorkflowFailure(TimeoutFailure)', async ({
  page,
}) => {
  expect(await run(page, 'childTimeout', 'to-1', [1000])).toEqual({
    ok: {
      name: 'ChildWorkflowFailure',
      workflowId: 'to-1-approval',
      workflowType: 'awaitApproval',
      cause: expect.objectContaining({ name: 'TimeoutFailure' }),
    },
  });
  const parent = await history(page, 'to-1');
  expectWellFormed(parent, 'parent');
  expect(childEvents(parent.map((e) => e.eventType))).toEqual([
    'StartChildWorkflowExecutionInitiated',
    'ChildWorkflowExecutionStarted',
    'ChildWorkflowExecutionTimedOut',
  ]);
  const child = await describeRun(page, 'to-1-approval');
  expect(child.status).toBe('TIMED_OUT');
  expect((child.closeTime ?? 0) - child.startTime).toBeGreaterThanOrEqual(950);
  const childEventsList = await history(page, 'to-1-approval');
  expectWellFormed(childEventsList, 'child');
  expect(childEventsList.at(-1)?.eventType).toBe('WorkflowExecutionTimedOut');
  expect((await outcome(page, 'to-1-approval')) as unknown).toMatchObject({
    error: { name: 'WorkflowFailedError', cause: { name: 'TimeoutFailure', instanceOf: ['TimeoutFailure'] } },
  });
});

test('a child retried to success: three runs under one ID, the parent sees only the final outcome', async ({
  page,
}) => {
  // Retry policy: initialInterval 500 ms, backoffCoefficient 1.
  expect(await run(page, 'retryChild', 'retry-1', [500])).toEqual({ ok: 'succeeded on attempt 3' });

  const runs = await list(page, { workflowId: 'retry-1-flaky' });
  expect(runs).toHaveLength(3);
  expect(runs.map((r) => r.status).sort()).toEqual(['COMPLETED', 'FAILED', 'FAILED']);
  const attempts: Record<string, HistoryEvent[]> = {};
  for (const r of runs) attempts[r.runId] = await history(page, 'retry-1-flaky', r.runId);
  const ordered = Object.values(attempts).sort(
    (a, b) =>
      ((a[0]?.attributes as { attempt?: number } | undefined)?.attempt ?? 0) -
      ((b[0]?.attributes as { attempt?: number } | undefined)?.attempt ?? 0),
  );
  expect(
    ordered.map((events) => ({
      attempt: (events[0]?.attributes as { attempt?: number } | undefined)?.attempt,
      last: events.at(-1)?.eventType,
    })),
  ).toEqual([
    { attempt: 1, last: 'WorkflowExecutionFailed' },
    { attempt: 2, last: 'WorkflowExecutionFailed' },
    { attempt: 3, last: 'WorkflowExecutionCompleted' },
  ]);
  for (const events of ordered) expectWellFormed(events, 'child run');
  // Each retry waited out the retry policy's interval before its first workflow task ran.
  const firstTask = (events: HistoryEvent[]) =>
    events.find((e) => e.eventType === 'WorkflowTaskStarted')?.eventTime ?? 0;
  const closedAt = (events: HistoryEvent[]) => events.at(-1)?.eventTime ?? 0;
  const waits = [1, 2].map((i) => firstTask(ordered[i] ?? []) - closedAt(ordered[i - 1] ?? []));
  expect(waits[0], 'backoff before attempt 2').toBeGreaterThanOrEqual(490);
  expect(waits[1], 'backoff before attempt 3').toBeGreaterThanOrEqual(490);

  const parent = await eventTypes(page, 'retry-1');
  expect(childEvents(parent)).toEqual([
    'StartChildWorkflowExecutionInitiated',
    'ChildWorkflowExecutionStarted',
    'ChildWorkflowExecutionCompleted',
  ]);
  expect((await effects(page)).filter((e) => e.workflowId === 'retry-1-flaky').map((e) => e.detail)).toEqual([
    'attempt 1',
    'attempt 2',
    'attempt 3',
  ]);
});
