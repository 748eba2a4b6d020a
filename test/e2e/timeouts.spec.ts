/**
 * The timeouts Temporal enforces, in real Chromium (issue 16): a frozen worker's workflow task
 * times out and runs on another worker; a worker terminated mid-activity is taken over as the
 * next attempt, which starts from the heartbeat details stored in IndexedDB; a cancellation
 * reaches an activity that another worker runs.
 */
import { type CDPSession, expect, type Page, type TestInfo, test } from '@playwright/test';
import type { HistoryEvent } from '../../src/index.ts';
import type {} from './pages/pool.ts';

function dbName(testInfo: TestInfo): string {
  return `e2e-timeouts-${testInfo.workerIndex}-${Date.now().toString(36)}`;
}

async function openPool(page: Page, db: string, workers: string): Promise<void> {
  await page.goto(`/test/e2e/pages/pool.html?db=${encodeURIComponent(db)}&workers=${workers}`);
  await page.waitForFunction(() => window.pool !== undefined);
}

/** The pool worker named `name`, to pause and resume through its debugger (DevTools protocol). */
async function workerDebugger(page: Page, name: string) {
  const cdp: CDPSession = await page.context().newCDPSession(page);
  const sessionId = new Promise<string>((resolve) =>
    cdp.on('Target.attachedToTarget', (event) => {
      if (
        event.targetInfo.type === 'worker' &&
        new URL(event.targetInfo.url).searchParams.get('name') === name
      )
        resolve(event.sessionId);
    }),
  );
  await cdp.send('Target.setAutoAttach', { autoAttach: true, waitForDebuggerOnStart: false, flatten: false });
  const id = await sessionId;
  let messageId = 0;
  const send = (method: string) =>
    cdp.send('Target.sendMessageToTarget', {
      sessionId: id,
      message: JSON.stringify({ id: ++messageId, method, params: {} }),
    });
  return {
    /** Pauses the worker: it runs nothing (no message handled, no timer) until resumed. */
    async freeze() {
      await send('Debugger.enable');
      await send('Debugger.pause');
    },
    resume: () => send('Debugger.resume'),
  };
}

function history(page: Page, workflowId: string): Promise<HistoryEvent[]> {
  return page.evaluate(
    async (id) => (await window.pool!.client.workflow.getHandle(id).fetchHistory()).events,
    workflowId,
  );
}

function effects(page: Page, activity: string) {
  return page.evaluate(
    async (activity) => (await window.pool!.effects()).filter((e) => e.activity === activity),
    activity,
  );
}

test('a frozen worker holds a workflow task: it times out (WorkflowTaskTimedOut) and another worker of its queue runs it; thawed, its late answer changes nothing', async ({
  page,
}, testInfo) => {
  const db = dbName(testInfo);
  // w2 offers its queue before w3: the leader (w1) hands the task to w2 first.
  // ('%2B': the page reads `+` between queues, and a bare `+` in a query is a space.)
  await openPool(page, db, 'w1:default,w2:other%2Bsolo,w3:other');
  const w2 = await workerDebugger(page, 'w2');
  // Frozen while idle: a paused worker holding an IndexedDB transaction would hold up the others.
  await w2.freeze();
  const result = await page.evaluate(() =>
    window.pool!.client.workflow.execute<string>('poolChild', {
      workflowId: 'frozen',
      taskQueue: 'other',
      args: [0],
      workflowTaskTimeout: '1s',
    }),
  );
  // The activity too went to the worker that answers.
  expect(result).toBe('w3');
  const events = await history(page, 'frozen');
  expect(events.map((e) => e.eventType).slice(0, 8)).toEqual([
    'WorkflowExecutionStarted',
    'WorkflowTaskScheduled',
    'WorkflowTaskStarted',
    'WorkflowTaskTimedOut',
    'WorkflowTaskScheduled',
    'WorkflowTaskStarted',
    'WorkflowTaskCompleted',
    'ActivityTaskScheduled',
  ]);
  const identities = events
    .filter((e) => e.eventType === 'WorkflowTaskStarted')
    .map((e) => (e.attributes as { identity: string }).identity);
  expect(identities[0]).toMatch(/^w2-/);
  expect(identities.slice(1).every((identity) => identity.startsWith('w3-'))).toBe(true);

  // w2 thaws and answers the task it held, too late. Then it runs a workflow of a queue only it
  // serves: its bus messages go out in order, so by then its late answer has reached the leader.
  await w2.resume();
  expect(
    await page.evaluate(() =>
      window.pool!.client.workflow.execute<string>('poolChild', {
        workflowId: 'solo',
        taskQueue: 'solo',
        args: [1],
      }),
    ),
  ).toBe('w2');
  const after = await history(page, 'frozen');
  expect(after).toEqual(events);
  expect(after.map((e) => e.eventId)).toEqual(after.map((_, i) => i + 1));
  expect(after.filter((e) => e.eventType === 'WorkflowExecutionCompleted')).toHaveLength(1);
});

test('a worker terminated mid-activity: another takes the attempt over as attempt 2, from the heartbeat details in IndexedDB', async ({
  page,
}, testInfo) => {
  const db = dbName(testInfo);
  await openPool(page, db, 'w1:default,w2:default');
  await page.evaluate(() =>
    window
      .pool!.client.workflow.start('poolProgress', { workflowId: 'progress', args: [12, 250] })
      .then(() => undefined),
  );
  // Step 1 was heartbeated (and stored at once, the throttle allowing one every 1.6 s); two
  // steps later (500 ms on), its write has long been flushed.
  await expect
    .poll(async () => (await effects(page, 'progress')).length, { timeout: 30_000 })
    .toBeGreaterThan(3);
  const first = await effects(page, 'progress');
  const runner = first[0]!.detail.split('@')[1]!;
  expect(first.every((e) => e.attempt === 1)).toBe(true);
  // The worker running the attempt dies (its Web Lock goes with it): the other takes over.
  const survivor = runner === 'w1' ? 1 : 0;
  await page.evaluate((name) => {
    const pool = window.pool!;
    pool.workers[name === 'w1' ? 0 : 1]!.terminate();
  }, runner);
  const result = await page.evaluate(
    (i) => window.pool!.clients[i]!.workflow.getHandle('progress').result(),
    survivor,
  );
  const all = await page.evaluate(async () =>
    (await window.pool!.effects()).filter((e) => e.activity === 'progress'),
  );
  const done = Math.max(
    ...all
      .filter((e) => e.attempt === 1 && e.detail.startsWith('step'))
      .map((e) => Number(e.detail.split(/[ @]/)[1])),
  );
  const start = all.find((e) => e.attempt === 2 && e.detail.startsWith('start'))!;
  const from = Number(start.detail.split(/[ @]/)[1]);
  // Attempt 2 starts from a step attempt 1 heartbeated, and finishes the rest.
  expect(from).toBeGreaterThanOrEqual(1);
  expect(from).toBeLessThanOrEqual(done);
  expect(result).toBe(`${runner === 'w1' ? 'w2' : 'w1'}: attempt 2 from ${from}`);
  expect(
    all.filter((e) => e.attempt === 2 && e.detail.startsWith('step')).map((e) => e.detail.split('@')[0]),
  ).toEqual(Array.from({ length: 12 - from }, (_, i) => `step ${from + 1 + i}`));
  const events = await page.evaluate(
    async (i) => (await window.pool!.clients[i]!.workflow.getHandle('progress').fetchHistory()).events,
    survivor,
  );
  expect(events.filter((e) => e.eventType === 'ActivityTaskStarted').map((e) => e.attributes)).toMatchObject([
    { attempt: 2 },
  ]);
});

test('a cancellation reaches an activity another worker runs: its signal aborts, and the call ends cancelled', async ({
  page,
}, testInfo) => {
  const db = dbName(testInfo);
  await openPool(page, db, 'w1:default,w2:other');
  await page.evaluate(() =>
    window.pool!.client.workflow.start('poolCancelled', { workflowId: 'cancelled' }).then(() => undefined),
  );
  await expect.poll(async () => (await effects(page, 'untilCancelled')).length).toBe(1);
  const result = await page.evaluate(async () => {
    const handle = window.pool!.client.workflow.getHandle('cancelled');
    await handle.signal('stop');
    return handle.result();
  });
  expect(result).toBe('ActivityFailure/CancelledFailure');
  await expect
    .poll(async () => (await effects(page, 'untilCancelled')).map((e) => e.detail))
    .toEqual(['started@w2', 'CancelledFailure: Activity cancelled@w2']);
});
