/**
 * `client.workflow.signalWithStart` through the page client, in real Chromium: Comlink to the
 * engine worker, IndexedDB underneath, and, on the pool page, a follower worker that forwards
 * the call to the leader over the bus. Each test uses its own database.
 */
import { expect, type Page, type TestInfo, test } from '@playwright/test';
import type {} from '../../demo/page-api.ts';
import type {} from './pages/pool.ts';

function dbName(testInfo: TestInfo): string {
  const slug = testInfo.title.replace(/[^a-z0-9]+/gi, '-').slice(0, 30);
  return `e2e-sws-${slug}-${testInfo.workerIndex}-${Date.now().toString(36)}`;
}

async function openPlayground(page: Page, db: string): Promise<void> {
  await page.goto(`/?db=${encodeURIComponent(db)}`);
  await page.waitForFunction((d) => window.weft !== undefined && window.weft.db === d, db);
}

/** The event types of a run's history, with each signal's arguments. */
function historyOf(page: Page, workflowId: string, runId?: string) {
  return page.evaluate(
    async ([id, run]) => {
      const { events } = await window.weft.client.workflow.getHandle(id, run).fetchHistory();
      return events.map((e) => ({
        type: e.eventType,
        ...(e.eventType === 'WorkflowExecutionSignaled' && { signal: e.attributes }),
      }));
    },
    [workflowId, runId] as const,
  );
}

test('a new run has the signal first, and its workflow sees it; a running one gets it, no new run', async ({
  page,
}, testInfo) => {
  await openPlayground(page, dbName(testInfo));

  // No execution yet: a run starts, with the approval already in its history.
  const started = await page.evaluate(async () => {
    const handle = await window.weft.client.workflow.signalWithStart('order', {
      workflowId: 'sws-new',
      args: [{ item: 'lamp', delayMs: 50, requireApproval: true }],
      signal: 'approve',
      signalArgs: ['alice'],
    });
    return {
      signaledRunId: handle.signaledRunId,
      firstExecutionRunId: handle.firstExecutionRunId,
      result: await handle.result(),
      runId: (await handle.describe()).runId,
    };
  });
  expect(started.signaledRunId).toBe(started.runId);
  expect(started.firstExecutionRunId).toBe(started.runId);
  // The handler set at the top of `order` saw it before the approval was awaited.
  expect(started.result).toMatchObject({ item: 'lamp', approvedBy: 'alice' });
  const events = await historyOf(page, 'sws-new');
  expect(events.slice(0, 5)).toEqual([
    { type: 'WorkflowExecutionStarted' },
    {
      type: 'WorkflowExecutionSignaled',
      signal: { signalName: 'approve', input: ['alice'], identity: 'client' },
    },
    { type: 'WorkflowTaskScheduled' },
    { type: 'WorkflowTaskStarted' },
    { type: 'WorkflowTaskCompleted' },
  ]);
  expect(events.filter((e) => e.type === 'WorkflowExecutionSignaled')).toHaveLength(1);

  // Running (a long timer): the signal goes to it, and its start options are not used.
  const running = await page.evaluate(async () => {
    const wf = window.weft.client.workflow;
    const first = await wf.start('order', {
      workflowId: 'sws-running',
      args: [{ item: 'desk', delayMs: 600_000, requireApproval: true }],
    });
    const handle = await wf.signalWithStart('order', {
      workflowId: 'sws-running',
      args: [{ item: 'other', delayMs: 0 }],
      signal: 'approve',
      signalArgs: ['bob'],
    });
    return {
      firstRunId: first.firstExecutionRunId,
      signaledRunId: handle.signaledRunId,
      runs: (await wf.list({ workflowId: 'sws-running' })).map((r) => r.runId),
    };
  });
  expect(running.signaledRunId).toBe(running.firstRunId);
  expect(running.runs).toEqual([running.firstRunId]);
  await expect
    .poll(() =>
      page.evaluate(() =>
        window.weft.client.workflow.getHandle('sws-running').query<{ approvedBy?: string }>('status'),
      ),
    )
    .toMatchObject({ item: 'desk', approvedBy: 'bob' });
  await page.evaluate(() => window.weft.client.workflow.getHandle('sws-running').terminate('done'));
});

test('bad input is refused with InvalidArgumentError across Comlink, and nothing is written', async ({
  page,
}, testInfo) => {
  await openPlayground(page, dbName(testInfo));
  const outcome = await page.evaluate(async () => {
    const { client, errors } = window.weft;
    const wf = client.workflow;
    const attempt = async (fn: () => Promise<unknown>) => {
      try {
        await fn();
        return { resolved: true };
      } catch (e) {
        const error = e as Error;
        return { name: error.name, typed: error instanceof errors.InvalidArgumentError };
      }
    };
    const options = { workflowId: 'sws-bad', args: [{ item: 'cup', delayMs: 50 }] };
    return {
      unknownType: await attempt(() =>
        wf.signalWithStart('noSuchWorkflow', { ...options, signal: 'approve' }),
      ),
      uncloneable: await attempt(() =>
        wf.signalWithStart('order', { ...options, signal: 'approve', signalArgs: [{ f() {} }] }),
      ),
      oversized: await attempt(() =>
        wf.signalWithStart('order', { ...options, signal: 'approve', signalArgs: ['x'.repeat(3 << 20)] }),
      ),
      noSignal: await attempt(() => wf.signalWithStart('order', options as never)),
      count: await wf.count(),
    };
  });
  const refused = { name: 'InvalidArgumentError', typed: true };
  expect(outcome).toEqual({
    unknownType: refused,
    uncloneable: refused,
    oversized: refused,
    noSignal: refused,
    count: { count: 0 },
  });
});

test('concurrent calls through the leader and a follower worker make one run with every signal', async ({
  page,
}, testInfo) => {
  const db = dbName(testInfo);
  await page.goto(`/test/e2e/pages/pool.html?db=${encodeURIComponent(db)}&workers=w1:default,w2:default`);
  await page.waitForFunction(() => window.pool !== undefined);
  const n = 10;
  const result = await page.evaluate(async (count) => {
    // clients[0] is the leader's (w1, started first); clients[1] w2's, which forwards to it.
    const { clients } = window.pool!;
    const handles = await Promise.all(
      Array.from({ length: count }, (_, i) =>
        clients[i % 2]!.workflow.signalWithStart('poolCollector', {
          workflowId: 'sws-together',
          args: [count],
          signal: 'addItem',
          signalArgs: [`item-${i}`],
        }),
      ),
    );
    const items = (await handles[0]!.result()) as string[];
    const { events } = await handles[0]!.fetchHistory();
    return {
      runIds: [...new Set(handles.map((h) => h.signaledRunId))].length,
      items: items.sort(),
      signaled: events.filter((e) => e.eventType === 'WorkflowExecutionSignaled').length,
      second: events[1]?.eventType,
      runs: (await clients[1]!.workflow.count({ workflowId: 'sws-together' })).count,
    };
  }, n);
  expect(result).toEqual({
    runIds: 1,
    items: Array.from({ length: n }, (_, i) => `item-${i}`).sort(),
    signaled: n,
    second: 'WorkflowExecutionSignaled',
    runs: 1,
  });
});
