/**
 * A call sent again takes effect once (issue 16), in real Chromium: a follower worker forwards
 * its client's signal to the leader worker, which commits it to IndexedDB and dies before its
 * answer arrives; the follower takes over (the leader's Web Lock is released), reads the
 * database and sends the signal again, to itself. The run keeps the signal's request ID with
 * the signal, so the second sending finds it, delivers nothing and answers success.
 */
import { expect, type Page, type TestInfo, test, type Worker } from '@playwright/test';
import type {} from './pages/pool.ts';

function dbName(testInfo: TestInfo): string {
  return `e2e-resend-${testInfo.workerIndex}-${Date.now().toString(36)}`;
}

/** The pool worker named `name`, as Playwright sees it (to reach its test hooks). */
async function poolWorker(page: Page, name: string): Promise<Worker> {
  const find = () => page.workers().find((w) => new URL(w.url()).searchParams.get('name') === name);
  await expect.poll(() => find() !== undefined).toBe(true);
  return find()!;
}

test('a signal through a follower, committed by a leader that died before answering, is sent again and delivered once', async ({
  page,
}, testInfo) => {
  const db = dbName(testInfo);
  await page.goto(`/test/e2e/pages/pool.html?db=${encodeURIComponent(db)}&workers=w1:default,w2:default`);
  await page.waitForFunction(() => window.pool !== undefined);
  // w1 started first and leads; w2 forwards its client's calls to it.
  await page.evaluate(() =>
    window.pool!.clients[0]!.workflow.start('poolCollector', { workflowId: 'resent', args: [2] }),
  );
  const leader = await poolWorker(page, 'w1');
  await leader.evaluate(() => {
    (globalThis as { dropAnswers?: boolean }).dropAnswers = true;
  });

  await page.evaluate(() => {
    const call = window.pool!.clients[1]!.workflow.getHandle('resent').signal('addItem', 'once');
    const state = { settled: false, call };
    call.then(() => {
      state.settled = true;
    });
    (window as unknown as { resent: typeof state }).resent = state;
  });
  // The leader committed the signal, durably, and answered: nobody heard.
  await expect
    .poll(() => leader.evaluate(() => (globalThis as { droppedAnswers?: number }).droppedAnswers))
    .toBe(1);
  expect(
    await page.evaluate(() => (window as unknown as { resent: { settled: boolean } }).resent.settled),
  ).toBe(false);

  // It dies. The follower takes over and sends the signal again: answered, not delivered again.
  await page.evaluate(() => window.pool!.workers[0]!.terminate());
  await page.evaluate(() => (window as unknown as { resent: { call: Promise<void> } }).resent.call);
  const outcome = await page.evaluate(async () => {
    const handle = window.pool!.clients[1]!.workflow.getHandle('resent');
    await handle.signal('addItem', 'second');
    const items = await handle.result();
    const { events } = await handle.fetchHistory();
    return { items, signaled: events.filter((e) => e.eventType === 'WorkflowExecutionSignaled').length };
  });
  // Delivered twice, the first signal would have closed the run as ['once', 'once'].
  expect(outcome).toEqual({ items: ['once', 'second'], signaled: 2 });
});
