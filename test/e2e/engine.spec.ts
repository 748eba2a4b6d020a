/**
 * Acceptance tests of the engine in real Chromium: the playground page's client, its real
 * module worker, Comlink and IndexedDB. Every call goes through `window.weft` (see
 * demo/page-api.ts). Errors lose their classes when they cross into Playwright, so the page
 * turns them into plain `{ name, message, cause* }` objects first.
 *
 * Each test uses its own database (`?db=`); activities record every run in a separate
 * IndexedDB database, so a test can count real side effects across reloads.
 */
import { expect, type Page, type TestInfo, test } from '@playwright/test';
import type {} from '../../demo/page-api.ts';
import type { OrderInput } from '../../demo/workflows.ts';
import type { HistoryEvent } from '../../src/client/index.ts';

// ---- helpers ----------------------------------------------------------------------------------

/** A database name of its own for each test (and each run of it). */
function dbName(testInfo: TestInfo): string {
  const slug = testInfo.title.replace(/[^a-z0-9]+/gi, '-').slice(0, 40);
  return `e2e-${slug}-${Date.now().toString(36)}`;
}

/** Opens (or re-opens) the playground on a database, optionally with another code deployment. */
async function openPlayground(page: Page, db: string, variant?: string): Promise<void> {
  await page.goto(`/?db=${encodeURIComponent(db)}${variant ? `&variant=${variant}` : ''}`);
  await waitReady(page, db, variant ?? 'v1');
}

async function waitReady(page: Page, db: string, variant = 'v1'): Promise<void> {
  await page.waitForFunction(
    ([d, v]) => window.weft !== undefined && window.weft.db === d && window.weft.variant === v,
    [db, variant] as const,
  );
}

async function startOrder(page: Page, workflowId: string, input: OrderInput): Promise<void> {
  await page.evaluate(
    async ([id, args]) => {
      await window.weft.client.workflow.start('order', { workflowId: id, args: [args] });
    },
    [workflowId, input] as const,
  );
}

/** Event types of the current run's history, in order. */
function eventTypes(page: Page, workflowId: string): Promise<string[]> {
  return page.evaluate(async (id) => {
    const { events } = await window.weft.client.workflow.getHandle(id).fetchHistory();
    return events.map((e) => e.eventType);
  }, workflowId);
}

function history(page: Page, workflowId: string): Promise<HistoryEvent[]> {
  return page.evaluate(
    async (id) => (await window.weft.client.workflow.getHandle(id).fetchHistory()).events,
    workflowId,
  );
}

/** How many times each activity ran for this workflow, from the effects database. */
function effectCounts(page: Page, workflowId: string): Promise<Record<string, number>> {
  return page.evaluate(async (id) => {
    const counts: Record<string, number> = {};
    for (const effect of await window.weft.effects()) {
      if (effect.workflowId === id) counts[effect.activity] = (counts[effect.activity] ?? 0) + 1;
    }
    return counts;
  }, workflowId);
}

function describeRun(page: Page, workflowId: string) {
  return page.evaluate(async (id) => {
    const d = await window.weft.client.workflow.getHandle(id).describe();
    return { status: d.status, blocked: d.blocked?.reason, historyLength: d.historyLength, runId: d.runId };
  }, workflowId);
}

function queryStatus(page: Page, workflowId: string) {
  return page.evaluate(
    (id) => window.weft.client.workflow.getHandle(id).query<Record<string, unknown>>('status'),
    workflowId,
  );
}

interface Settled {
  ok?: unknown;
  name?: string;
  message?: string;
  causeName?: string | undefined;
  causeMessage?: string | undefined;
  isWorkflowFailedError?: boolean;
  causeIsCancelled?: boolean;
  causeIsTerminated?: boolean;
}

/** Awaits `handle.result()` in the page and reports how it settled, as plain data. */
function outcome(page: Page, workflowId: string): Promise<Settled> {
  return page.evaluate(async (id) => {
    const { client, errors } = window.weft;
    try {
      return { ok: await client.workflow.getHandle(id).result() };
    } catch (e) {
      const error = e as Error;
      const cause = error.cause instanceof Error ? error.cause : undefined;
      return {
        name: error.name,
        message: error.message,
        causeName: cause?.name,
        causeMessage: cause?.message,
        isWorkflowFailedError: error instanceof errors.WorkflowFailedError,
        causeIsCancelled: cause instanceof errors.CancelledFailure,
        causeIsTerminated: cause instanceof errors.TerminatedFailure,
      };
    }
  }, workflowId);
}

function count(list: string[], item: string): number {
  return list.filter((x) => x === item).length;
}

// ---- a. durability across a reload ---------------------------------------------------------------

test('a workflow survives a page reload during its timer, and a finished activity does not run again', async ({
  page,
}, testInfo) => {
  const db = dbName(testInfo);
  const id = 'reload-1';
  await openPlayground(page, db);
  await startOrder(page, id, { item: 'lamp', delayMs: 3000 });

  // The activity has completed and the durable timer is running.
  await expect.poll(() => eventTypes(page, id)).toContain('TimerStarted');
  const before = await eventTypes(page, id);
  expect(before).toContain('ActivityTaskCompleted');
  expect(before).not.toContain('TimerFired');
  expect(await effectCounts(page, id)).toEqual({ reserve: 1 });

  const reloadedAt = Date.now();
  await page.reload();
  await waitReady(page, db);

  // The new page's worker picks the run up and the timer fires after the reload.
  expect(await outcome(page, id)).toEqual({
    ok: expect.objectContaining({ item: 'lamp', reservation: expect.stringMatching(/^res-lamp-/) }),
  });
  expect(await effectCounts(page, id)).toEqual({ reserve: 1, ship: 1 });
  expect(await describeRun(page, id)).toMatchObject({ status: 'COMPLETED' });

  const events = await history(page, id);
  const types = events.map((e) => e.eventType);
  expect(count(types, 'ActivityTaskScheduled')).toBe(2);
  expect(count(types, 'TimerStarted')).toBe(1);
  expect(count(types, 'TimerFired')).toBe(1);
  expect(types.at(-1)).toBe('WorkflowExecutionCompleted');
  const started = events.find((e) => e.eventType === 'TimerStarted')!;
  const fired = events.find((e) => e.eventType === 'TimerFired')!;
  expect(fired.eventTime).toBeGreaterThan(reloadedAt);
  expect(fired.eventTime - started.eventTime).toBeGreaterThanOrEqual(2950);
  expect(events.map((e) => e.eventId)).toEqual(events.map((_, i) => i + 1));

  // The page lists it after the reload and shows its history; keep a picture of it.
  await page.evaluate((wf) => window.weft.select(wf), id);
  await expect(page.locator(`#executions tr[data-workflow-id="${id}"]`)).toHaveAttribute(
    'data-status',
    'COMPLETED',
  );
  await expect(page.locator('[data-testid=history] li').last()).toHaveAttribute(
    'data-event-type',
    'WorkflowExecutionCompleted',
  );
  await expect(page.locator('[data-testid=outcome]')).toContainText('trk-');
  const screenshot = await page.screenshot({ path: 'test-results/demo-completed.png', fullPage: true });
  await testInfo.attach('demo-completed', { body: screenshot, contentType: 'image/png' });
});

// ---- b. signal, query, cancel, terminate from the page --------------------------------------------

test.describe('from the page', () => {
  test('signal and query: the query shows the state the signal changed', async ({ page }, testInfo) => {
    const db = dbName(testInfo);
    const id = 'approve-1';
    await openPlayground(page, db);
    await startOrder(page, id, { item: 'desk', delayMs: 50, requireApproval: true });

    await expect.poll(() => queryStatus(page, id)).toMatchObject({ stage: 'awaiting-approval' });
    expect((await queryStatus(page, id)).approvedBy).toBeUndefined();

    // Signal through the playground's own button (its approver field defaults to "alice").
    await page.evaluate((wf) => window.weft.select(wf), id);
    await page.locator('#details button[data-action=approve]').click();

    await expect.poll(async () => (await queryStatus(page, id)).approvedBy).toBe('alice');
    expect(await outcome(page, id)).toEqual({
      ok: expect.objectContaining({ item: 'desk', approvedBy: 'alice' }),
    });
    expect(await queryStatus(page, id)).toMatchObject({ stage: 'done', approvedBy: 'alice' });

    const signaled = (await history(page, id)).filter((e) => e.eventType === 'WorkflowExecutionSignaled');
    expect(signaled).toHaveLength(1);
    expect(signaled[0]?.attributes).toMatchObject({ signalName: 'approve', input: ['alice'] });
    expect(await effectCounts(page, id)).toEqual({ reserve: 1, ship: 1 });
  });

  test('cancel: the workflow cleans up and closes CANCELED with a CancelledFailure', async ({
    page,
  }, testInfo) => {
    const db = dbName(testInfo);
    const id = 'cancel-1';
    await openPlayground(page, db);
    await startOrder(page, id, { item: 'sofa', delayMs: 60_000 });
    await expect.poll(() => eventTypes(page, id)).toContain('TimerStarted');

    await page.evaluate((wf) => window.weft.client.workflow.getHandle(wf).cancel(), id);

    expect(await outcome(page, id)).toMatchObject({
      name: 'WorkflowFailedError',
      causeName: 'CancelledFailure',
      isWorkflowFailedError: true,
      causeIsCancelled: true,
    });
    expect(await describeRun(page, id)).toMatchObject({ status: 'CANCELED' });
    const types = await eventTypes(page, id);
    expect(types).toContain('WorkflowExecutionCancelRequested');
    expect(types).toContain('TimerCanceled');
    expect(types).not.toContain('TimerFired');
    expect(types.at(-1)).toBe('WorkflowExecutionCanceled');
    // The cancellation handler released the reservation, once; nothing was shipped.
    expect(await effectCounts(page, id)).toEqual({ reserve: 1, release: 1 });
  });

  test('terminate: the run closes TERMINATED with a TerminatedFailure and the reason', async ({
    page,
  }, testInfo) => {
    const db = dbName(testInfo);
    const id = 'terminate-1';
    await openPlayground(page, db);
    await startOrder(page, id, { item: 'rug', delayMs: 50, requireApproval: true });
    await expect.poll(() => queryStatus(page, id)).toMatchObject({ stage: 'awaiting-approval' });

    await page.evaluate((wf) => window.weft.client.workflow.getHandle(wf).terminate('no longer needed'), id);

    expect(await outcome(page, id)).toMatchObject({
      name: 'WorkflowFailedError',
      causeName: 'TerminatedFailure',
      causeMessage: 'no longer needed',
      isWorkflowFailedError: true,
      causeIsTerminated: true,
    });
    expect(await describeRun(page, id)).toMatchObject({ status: 'TERMINATED' });
    const events = await history(page, id);
    const last = events.at(-1);
    expect(last?.eventType).toBe('WorkflowExecutionTerminated');
    expect(last?.attributes).toMatchObject({ reason: 'no longer needed' });
    // Termination runs no workflow code: no cleanup, no shipping.
    expect(await effectCounts(page, id)).toEqual({ reserve: 1 });
    await expect(page.locator(`#executions tr[data-workflow-id="${id}"]`)).toHaveAttribute(
      'data-status',
      'TERMINATED',
    );
  });
});

// ---- c. nondeterminism: changed code blocks the run, fixed code resumes it -------------------------

test('a deployment whose commands differ fails the workflow task, blocks the run and loses nothing', async ({
  page,
}, testInfo) => {
  const db = dbName(testInfo);
  const id = 'nd-1';
  await openPlayground(page, db);
  await startOrder(page, id, { item: 'chair', delayMs: 50, requireApproval: true });
  await expect.poll(() => queryStatus(page, id)).toMatchObject({ stage: 'awaiting-approval' });
  const recorded = await history(page, id);
  expect(await effectCounts(page, id)).toEqual({ reserve: 1 });

  // Deploy changed code (v2 calls `audit` before `reserve`) on the same database, and give
  // the run something to do: the signal makes the v2 worker replay it.
  await openPlayground(page, db, 'v2');
  await page.evaluate((wf) => window.weft.client.workflow.getHandle(wf).signal('approve', 'bob'), id);

  await expect.poll(() => eventTypes(page, id)).toContain('WorkflowTaskFailed');
  const events = await history(page, id);
  // The recorded history is untouched; the signal (recorded on arrival, as in Temporal) and
  // the failed task were appended.
  expect(events.slice(0, recorded.length)).toEqual(recorded);
  expect(events.slice(recorded.length).map((e) => e.eventType)).toEqual([
    'WorkflowExecutionSignaled',
    'WorkflowTaskScheduled',
    'WorkflowTaskStarted',
    'WorkflowTaskFailed',
  ]);
  const failed = events.at(-1);
  expect(failed?.attributes).toMatchObject({ cause: 'NON_DETERMINISTIC_ERROR' });
  const run = await describeRun(page, id);
  expect(run.status).toBe('RUNNING');
  expect(run.blocked).toEqual(expect.any(String));
  // No side effect of the new code (audit) nor of the old one (ship) ran.
  expect(await effectCounts(page, id)).toEqual({ reserve: 1 });
  await expect(page.locator(`#executions tr[data-workflow-id="${id}"] .status.blocked`)).toBeVisible();
  // Its details say it is blocked, and why; the timeline shows the failed task.
  await page.locator(`#executions tr[data-workflow-id="${id}"]`).click();
  await expect(page.locator('[data-testid=blocked]')).toContainText('blocked: ');
  await expect(page.locator('[data-testid=blocked]')).toContainText(run.blocked ?? '');
  await expect(page.locator('[data-testid=history] li').last()).toHaveAttribute(
    'data-event-type',
    'WorkflowTaskFailed',
  );

  // Roll back to the original code: the run resumes, and the signal sent while it was
  // blocked was not lost.
  await openPlayground(page, db);
  expect(await outcome(page, id)).toEqual({
    ok: expect.objectContaining({ item: 'chair', approvedBy: 'bob' }),
  });
  expect(await describeRun(page, id)).toMatchObject({ status: 'COMPLETED', blocked: undefined });
  expect(await effectCounts(page, id)).toEqual({ reserve: 1, ship: 1 });
  const types = await eventTypes(page, id);
  expect(count(types, 'WorkflowTaskFailed')).toBe(1);
  expect(count(types, 'WorkflowExecutionSignaled')).toBe(1);
  expect(types.at(-1)).toBe('WorkflowExecutionCompleted');
});

// ---- d. bad input: a clear typed error, and nothing written ------------------------------------

test('bad input is rejected with a typed error and changes nothing', async ({ page }, testInfo) => {
  const db = dbName(testInfo);
  await openPlayground(page, db);
  await startOrder(page, 'open-1', { item: 'vase', delayMs: 50, requireApproval: true });
  await startOrder(page, 'closed-1', { item: 'mug', delayMs: 0 });
  expect(await outcome(page, 'closed-1')).toMatchObject({ ok: { item: 'mug' } });
  await expect.poll(() => queryStatus(page, 'open-1')).toMatchObject({ stage: 'awaiting-approval' });

  const snapshot = () =>
    page.evaluate(async () => {
      const { client, effects } = window.weft;
      const runs = await client.workflow.list();
      const histories: Record<string, number> = {};
      for (const run of runs) {
        histories[run.workflowId] = (
          await client.workflow.getHandle(run.workflowId).fetchHistory()
        ).events.length;
      }
      return {
        runs: runs.map((r) => [r.workflowId, r.runId, r.status, r.historyLength]),
        histories,
        effects: (await effects()).length,
      };
    });
  const before = await snapshot();
  expect(before.runs).toHaveLength(2);

  const attempts = await page.evaluate(async () => {
    const { client, errors } = window.weft;
    const classes = {
      InvalidArgumentError: errors.InvalidArgumentError,
      WorkflowNotFoundError: errors.WorkflowNotFoundError,
      WorkflowExecutionAlreadyStartedError: errors.WorkflowExecutionAlreadyStartedError,
    };
    const attempt = async (expected: keyof typeof classes, fn: () => Promise<unknown>) => {
      try {
        await fn();
        return { resolved: true };
      } catch (e) {
        const error = e as Error;
        return { name: error.name, message: error.message, typed: error instanceof classes[expected] };
      }
    };
    const wf = client.workflow;
    return {
      unknownType: await attempt('InvalidArgumentError', () =>
        wf.start('noSuchWorkflow', { workflowId: 'bad-type', args: [] }),
      ),
      functionArg: await attempt('InvalidArgumentError', () =>
        wf.start('order', { workflowId: 'bad-args-1', args: [() => 'not data'] }),
      ),
      methodInArg: await attempt('InvalidArgumentError', () =>
        wf.start('order', {
          workflowId: 'bad-args-2',
          args: [
            {
              item: 'x',
              f() {
                return 1;
              },
            },
          ],
        }),
      ),
      uncloneableSignal: await attempt('InvalidArgumentError', () =>
        wf.getHandle('open-1').signal('approve', { f() {} }),
      ),
      signalUnknown: await attempt('WorkflowNotFoundError', () =>
        wf.getHandle('no-such-execution').signal('approve', 'eve'),
      ),
      signalClosed: await attempt('WorkflowNotFoundError', () =>
        wf.getHandle('closed-1').signal('approve', 'eve'),
      ),
      duplicateId: await attempt('WorkflowExecutionAlreadyStartedError', () =>
        wf.start('order', { workflowId: 'open-1', args: [{ item: 'vase' }] }),
      ),
    };
  });

  expect(attempts.unknownType).toMatchObject({ name: 'InvalidArgumentError', typed: true });
  expect(attempts.unknownType.message).toContain('noSuchWorkflow');
  expect(attempts.functionArg).toMatchObject({ name: 'InvalidArgumentError', typed: true });
  expect(attempts.methodInArg).toMatchObject({ name: 'InvalidArgumentError', typed: true });
  expect(attempts.uncloneableSignal).toMatchObject({ name: 'InvalidArgumentError', typed: true });
  expect(attempts.signalUnknown).toMatchObject({ name: 'WorkflowNotFoundError', typed: true });
  expect(attempts.signalUnknown.message).toContain('no-such-execution');
  expect(attempts.signalClosed).toMatchObject({ name: 'WorkflowNotFoundError', typed: true });
  expect(attempts.signalClosed.message).toContain('closed-1');
  expect(attempts.duplicateId).toMatchObject({ name: 'WorkflowExecutionAlreadyStartedError', typed: true });

  // Nothing was written: same executions, same histories, no side effects.
  expect(await snapshot()).toEqual(before);
  expect(await queryStatus(page, 'open-1')).toMatchObject({ stage: 'awaiting-approval' });
  expect(await eventTypes(page, 'open-1')).not.toContain('WorkflowExecutionSignaled');
});
