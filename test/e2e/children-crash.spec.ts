/**
 * Child workflows across crashes, in real Chromium: the page is reloaded (its worker dies with
 * it) or the worker alone is killed and replaced (`window.weft.restartWorker()`) while children
 * are in flight. Nothing may be lost: every parent completes, every child closes once, with a
 * contiguous history, and an activity that had completed before the crash does not run again
 * (counted in the effects database, which survives the crash).
 */
import { expect, type Page, test } from '@playwright/test';
import type { HistoryEvent } from '../../src/client/index.ts';
import {
  dbName,
  describe as describeRun,
  effectCounts,
  effects,
  eventTypes,
  expectWellFormed,
  histories,
  history,
  list,
  openPlayground,
  outcome,
  start,
  waitReady,
} from './children-helpers.ts';

type Crash = (page: Page, db: string) => Promise<void>;

const crashes: [string, Crash][] = [
  [
    'the page is reloaded',
    async (page, db) => {
      await page.reload();
      await waitReady(page, db);
    },
  ],
  [
    'the worker is killed and replaced',
    async (page, db) => {
      await page.evaluate(() => window.weft.restartWorker());
      await waitReady(page, db);
    },
  ],
];

function completedActivities(events: HistoryEvent[]): string[] {
  const scheduled = new Map<number, string>();
  for (const e of events) {
    if (e.eventType === 'ActivityTaskScheduled') scheduled.set(e.eventId, e.attributes.activityType);
  }
  return events.flatMap((e) =>
    e.eventType === 'ActivityTaskCompleted' ? [scheduled.get(e.attributes.scheduledEventId) ?? '?'] : [],
  );
}

/** Which host started each workflow task of a run, in order. */
function identities(events: HistoryEvent[]): string[] {
  return events.flatMap((e) => (e.eventType === 'WorkflowTaskStarted' ? [e.attributes.identity] : []));
}

// ---- a. a crash while 50 children are mid-flight ----------------------------------------------

const PARTS = 50;
const PAUSE_MS = 4000;

/**
 * Where each child of the batch stood, from its history: the activities it had completed, and
 * whether it was asleep with its timer due well after the crash that follows (so the timer
 * cannot fire on the dying host between this look and the crash).
 */
type Snapshot = Record<string, { completed: string[]; asleep: boolean }>;

async function snapshot(page: Page): Promise<Snapshot> {
  const now = Date.now();
  const children = await list(page, { parentWorkflowId: 'batch' });
  const all = await histories(
    page,
    children.map((c) => c.workflowId),
  );
  return Object.fromEntries(
    Object.entries(all).map(([id, events]) => {
      const timer = events.find((e) => e.eventType === 'TimerStarted');
      const dueAt =
        timer?.eventType === 'TimerStarted' ? timer.eventTime + timer.attributes.startToFireTimeout : 0;
      const fired = events.some((e) => e.eventType === 'TimerFired');
      return [id, { completed: completedActivities(events), asleep: !fired && dueAt > now + 1500 }];
    }),
  );
}

function summary(before: Snapshot): string {
  const children = Object.values(before);
  const fetched = children.filter((c) => c.completed.includes('fetchPart')).length;
  const asleep = children.filter((c) => c.asleep).length;
  const stored = children.filter((c) => c.completed.includes('storePart')).length;
  return `${children.length} children, ${fetched} fetched, ${asleep} asleep, ${stored} stored`;
}

/**
 * Starts a batch of 50 children (each: fetchPart, a durable sleep, storePart), crashes once
 * `ready` holds for the children's state, then checks that the batch completed as if nothing
 * had happened. Returns the state at the crash.
 */
async function batchAcrossCrash(
  page: Page,
  db: string,
  crash: Crash,
  ready: (before: Snapshot) => boolean,
): Promise<Snapshot> {
  await start(page, 'batchJob', 'batch', [PARTS, PAUSE_MS]);
  let before: Snapshot = {};
  await expect
    .poll(
      async () => {
        before = await snapshot(page);
        return ready(before) || summary(before);
      },
      { timeout: 30_000, intervals: [50] },
    )
    .toBe(true);
  const crashedAt = Date.now();
  await crash(page, db);

  // The parent completes with every child's result, in order.
  expect(await outcome(page, 'batch')).toEqual({
    ok: Array.from({ length: PARTS }, (_, i) => `stored:part-${i}`),
  });
  const children = await list(page, { parentWorkflowId: 'batch' });
  expect(children).toHaveLength(PARTS);
  expect(children.filter((c) => c.status === 'COMPLETED')).toHaveLength(PARTS);

  // Every history is contiguous with exactly one closing event; each child completed its two
  // activities and one timer, once; the timers of the children asleep at the crash fired after
  // it, on the host that replaced the dead one.
  const parent = await history(page, 'batch');
  expectWellFormed(parent, 'parent');
  expect(parent.filter((e) => e.eventType === 'ChildWorkflowExecutionCompleted')).toHaveLength(PARTS);
  const after = await histories(
    page,
    children.map((c) => c.workflowId),
  );
  for (const [id, events] of Object.entries(after)) {
    expectWellFormed(events, id);
    expect(completedActivities(events), id).toEqual(['fetchPart', 'storePart']);
    expect(
      events.filter((e) => e.eventType === 'TimerFired'),
      id,
    ).toHaveLength(1);
    if (before[id]?.asleep) {
      expect(events.find((e) => e.eventType === 'TimerFired')?.eventTime, id).toBeGreaterThan(crashedAt);
      expect(identities(events).at(-1), id).not.toBe(identities(events)[0]);
    }
  }

  // Effects: an activity that had completed before the crash ran exactly once; any other ran at
  // least once (at most twice: an attempt cut short by the crash runs again).
  const ran: Record<string, { fetchPart: number; storePart: number }> = {};
  for (const e of await effects(page)) {
    if (e.activity !== 'fetchPart' && e.activity !== 'storePart') continue;
    ran[e.workflowId] ??= { fetchPart: 0, storePart: 0 };
    ran[e.workflowId]![e.activity] += 1;
  }
  expect(Object.keys(ran).sort()).toEqual(children.map((c) => c.workflowId).sort());
  for (const [id, counts] of Object.entries(ran)) {
    for (const activity of ['fetchPart', 'storePart'] as const) {
      if (before[id]?.completed.includes(activity)) expect(counts[activity], `${id} ${activity}`).toBe(1);
      else expect(counts[activity], `${id} ${activity}`).toBeGreaterThanOrEqual(1);
      expect(counts[activity], `${id} ${activity}`).toBeLessThanOrEqual(2);
    }
  }
  return before;
}

for (const [what, crash] of crashes) {
  test(`${what} while ${PARTS} children sleep between two activities: nothing lost, nothing run twice`, async ({
    page,
  }, testInfo) => {
    const db = dbName(testInfo);
    await openPlayground(page, db);
    // Crash once all 50 children have started and completed their first activity (each is
    // in its durable sleep or past it), while some are still asleep.
    const before = await batchAcrossCrash(page, db, crash, (children) => {
      const states = Object.values(children);
      return (
        states.length === PARTS &&
        states.every((c) => c.completed.includes('fetchPart')) &&
        states.some((c) => c.asleep)
      );
    });
    testInfo.annotations.push({ type: 'at the crash', description: summary(before) });
    // So the first activity of every child ran exactly once.
    for (const [id, state] of Object.entries(before)) expect(state.completed, id).toContain('fetchPart');
  });
}

test(`the page is reloaded as the first activities of ${PARTS} children complete: nothing lost`, async ({
  page,
}, testInfo) => {
  const db = dbName(testInfo);
  await openPlayground(page, db);
  // Crash as soon as the children exist and the first of their first activities has completed
  // (most are then still running, or about to).
  const before = await batchAcrossCrash(page, db, crashes[0]![1], (children) => {
    const states = Object.values(children);
    return states.length === PARTS && states.some((c) => c.completed.includes('fetchPart'));
  });
  testInfo.annotations.push({ type: 'at the crash', description: summary(before) });
});

// ---- b. a crash right after the parent task that initiated a child and completed -------------

for (const [what, crash] of crashes) {
  for (const policy of ['ABANDON', 'TERMINATE'] as const) {
    test(`${what} right after a parent completed in the task that initiated its ${policy} child`, async ({
      page,
    }, testInfo) => {
      const db = dbName(testInfo);
      await openPlayground(page, db);
      const parentId = `sr-${policy}`;
      const childId = `${parentId}-child`;
      // The parent calls startChild without awaiting it and returns: one workflow task
      // initiates the child and completes the parent. Crash as soon as the page learns of it.
      const parentResult = await page.evaluate(
        async ([id, p]) =>
          window.weft.client.workflow.execute('startAndReturn', { workflowId: id, args: [p, 3000] }),
        [parentId, policy] as const,
      );
      const crashedAt = Date.now();
      await crash(page, db);
      expect(parentResult).toBe('parent done');

      // The parent's history ends with its completion; the child was created in that commit.
      const parent = await history(page, parentId);
      expectWellFormed(parent, 'parent');
      expect(parent.at(-1)?.eventType).toBe('WorkflowExecutionCompleted');
      const initiated = parent.find((e) => e.eventType === 'StartChildWorkflowExecutionInitiated');
      expect(initiated?.attributes).toMatchObject({ workflowId: childId, parentClosePolicy: policy });
      const parentRun = await describeRun(page, parentId);
      expect(parentRun.status).toBe('COMPLETED');
      expect(await describeRun(page, childId)).toMatchObject({
        type: 'reminder',
        parent: { workflowId: parentId, runId: parentRun.runId },
      });

      if (policy === 'ABANDON') {
        // It runs on after the crash: its timer fires and its activity runs, once.
        expect(await outcome(page, childId)).toEqual({ ok: `reminded: from ${parentId}` });
        expect(await describeRun(page, childId)).toMatchObject({ status: 'COMPLETED' });
        expect(await effectCounts(page, childId)).toEqual({ notify: 1 });
        const child = await history(page, childId);
        expectWellFormed(child, 'child');
        expect(child.at(-1)?.eventType).toBe('WorkflowExecutionCompleted');
        // Its timer fired, and its activity ran, on the host that replaced the dead one.
        expect(child.find((e) => e.eventType === 'TimerFired')?.eventTime).toBeGreaterThan(crashedAt);
        const started = child.find((e) => e.eventType === 'TimerStarted');
        testInfo.annotations.push({
          type: 'child timer',
          description:
            started && started.eventTime < crashedAt ? 'started before the crash' : 'started after the crash',
        });
        expect(identities(child).at(-1)).not.toBe(identities(parent)[0]);
      } else {
        // Created and terminated by the close policy in the parent's closing commit: it never
        // ran a workflow task, so none of its activities can have run.
        expect(await describeRun(page, childId)).toMatchObject({ status: 'TERMINATED' });
        const child = await history(page, childId);
        expectWellFormed(child, 'child');
        expect(child.at(-1)?.attributes).toMatchObject({
          reason: expect.stringMatching(/parent close policy TERMINATE/),
        });
        const types = await eventTypes(page, childId);
        expect(types).not.toContain('WorkflowTaskCompleted');
        expect(types).not.toContain('ActivityTaskScheduled');
        expect(await effectCounts(page, childId)).toEqual({});
        expect(await outcome(page, childId)).toMatchObject({
          error: { name: 'WorkflowFailedError', cause: { name: 'TerminatedFailure' } },
        });
      }
    });
  }
}

// ---- c. a crash in the middle of other child patterns ----------------------------------------

for (const [what, crash] of crashes) {
  test(`${what} while a child waits out its retry backoff: the retries go on, the parent sees the end`, async ({
    page,
  }, testInfo) => {
    const db = dbName(testInfo);
    await openPlayground(page, db);
    await start(page, 'retryChild', 'rr', [2000]);
    // The first attempt has failed; the second waits 2 s.
    await expect
      .poll(async () => (await list(page, { workflowId: 'rr-flaky' })).map((r) => r.status).sort())
      .toContain('FAILED');
    expect((await effects(page)).filter((e) => e.workflowId === 'rr-flaky').map((e) => e.detail)).toEqual([
      'attempt 1',
    ]);
    await crash(page, db);

    expect(await outcome(page, 'rr')).toEqual({ ok: 'succeeded on attempt 3' });
    const runs = await list(page, { workflowId: 'rr-flaky' });
    expect(runs.map((r) => r.status).sort()).toEqual(['COMPLETED', 'FAILED', 'FAILED']);
    expect((await effects(page)).filter((e) => e.workflowId === 'rr-flaky').map((e) => e.detail)).toEqual([
      'attempt 1',
      'attempt 2',
      'attempt 3',
    ]);
    const parent = await history(page, 'rr');
    expectWellFormed(parent, 'parent');
    expect(
      parent.filter((e) => e.eventType.startsWith('ChildWorkflowExecution')).map((e) => e.eventType),
    ).toEqual(['ChildWorkflowExecutionStarted', 'ChildWorkflowExecutionCompleted']);
  });

  test(`${what} while a child runs toward its execution timeout: it still times out, once`, async ({
    page,
  }, testInfo) => {
    const db = dbName(testInfo);
    await openPlayground(page, db);
    await start(page, 'childTimeout', 'tor', [3000]);
    await expect.poll(() => eventTypes(page, 'tor')).toContain('ChildWorkflowExecutionStarted');
    const crashedAt = Date.now();
    await crash(page, db);

    expect(await outcome(page, 'tor')).toEqual({
      ok: expect.objectContaining({
        name: 'ChildWorkflowFailure',
        workflowId: 'tor-approval',
        cause: expect.objectContaining({ name: 'TimeoutFailure' }),
      }),
    });
    const child = await describeRun(page, 'tor-approval');
    expect(child.status).toBe('TIMED_OUT');
    expect(child.closeTime).toBeGreaterThan(crashedAt);
    expect((child.closeTime ?? 0) - child.startTime).toBeGreaterThanOrEqual(2950);
    expectWellFormed(await history(page, 'tor-approval'), 'child');
    const parent = await history(page, 'tor');
    expectWellFormed(parent, 'parent');
    expect(parent.filter((e) => e.eventType === 'ChildWorkflowExecutionTimedOut')).toHaveLength(1);
  });

  test(`${what} while a cancelled child cleans up (WAIT_CANCELLATION_COMPLETED): the parent still waits for it`, async ({
    page,
  }, testInfo) => {
    const db = dbName(testInfo);
    await openPlayground(page, db);
    await start(page, 'cancelChild', 'cwc', ['WAIT_CANCELLATION_COMPLETED', 3000]);
    // The child got the request and is in its cleanup sleep (its second timer).
    await expect
      .poll(async () => {
        const types = await eventTypes(page, 'cwc-job').catch((): string[] => []);
        return (
          types.includes('WorkflowExecutionCancelRequested') &&
          types.filter((t) => t === 'TimerStarted').length
        );
      })
      .toBe(2);
    const crashedAt = Date.now();
    await crash(page, db);

    expect(await outcome(page, 'cwc')).toEqual({
      ok: expect.objectContaining({
        name: 'ChildWorkflowFailure',
        workflowId: 'cwc-job',
        cause: expect.objectContaining({ name: 'CancelledFailure' }),
      }),
    });
    const child = await describeRun(page, 'cwc-job');
    expect(child.status).toBe('CANCELED');
    expect(child.closeTime).toBeGreaterThan(crashedAt);
    expectWellFormed(await history(page, 'cwc-job'), 'child');
    expect(await effectCounts(page, 'cwc-job')).toEqual({ cleanUp: 1 });
    const parent = (await history(page, 'cwc')).map((e) => e.eventType);
    expect(parent.indexOf('ChildWorkflowExecutionCanceled')).toBeGreaterThan(0);
    expect(parent.indexOf('ChildWorkflowExecutionCanceled')).toBeLessThan(
      parent.indexOf('WorkflowExecutionCompleted'),
    );
  });
}
