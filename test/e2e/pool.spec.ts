/**
 * A pool of workers on one database (issue 5): the workers elect one leader, which runs what
 * it serves and hands the tasks of other queues to a worker that serves them.
 */
import { expect, type Page, type TestInfo, test } from '@playwright/test';
import type {} from './pages/pool.ts';

function dbName(testInfo: TestInfo): string {
  return `e2e-pool-${testInfo.workerIndex}-${Date.now().toString(36)}`;
}

async function openPool(page: Page, db: string, workers: string): Promise<void> {
  await page.goto(`/test/e2e/pages/pool.html?db=${encodeURIComponent(db)}&workers=${workers}`);
  await page.waitForFunction(() => window.pool !== undefined);
}

for (const [workers, leader] of [
  ['w1:default,w2:other', 'w1, on the parent’s queue,'],
  ['w2:other,w1:default', 'w2, on the children’s queue,'],
] as const) {
  test(`two workers on two queues, ${leader} leading: 100 children run on the worker of their queue`, async ({
    page,
  }, testInfo) => {
    const db = dbName(testInfo);
    await openPool(page, db, workers);
    const result = await page.evaluate(() =>
      window.pool!.client.workflow.execute<{ parent: string; children: string[] }>('poolParent', {
        workflowId: 'pool-parent',
        taskQueue: 'default',
        args: [100],
      }),
    );
    expect(result.parent).toBe('w1');
    expect(result.children).toEqual(Array.from({ length: 100 }, () => 'w2'));

    // Each activity ran once, on the worker of its queue.
    const effects = await page.evaluate(() => window.pool!.effects());
    expect(effects).toHaveLength(101);
    const details = effects.map((e) => e.detail).sort();
    expect(details).toEqual(['parent@w1', ...Array.from({ length: 100 }, (_, i) => `child-${i}@w2`)].sort());
    // The children are executions of their own, on queue `other`, all completed.
    const children = await page.evaluate(() =>
      window.pool!.client.workflow.list({ parentWorkflowId: 'pool-parent' }),
    );
    expect(children).toHaveLength(100);
    expect(children.every((c) => c.taskQueue === 'other' && c.status === 'COMPLETED')).toBe(true);
  });
}

test('a client that closes does not cut off the other clients of its worker', async ({ page }, testInfo) => {
  const db = dbName(testInfo);
  await openPool(page, db, 'w1:default,w2:other');
  // Two clients on worker 1: the one made when it started, and the pool's. Close the first.
  await page.evaluate(() => window.pool!.clients[0]!.close());
  const listed = await page.evaluate(async () => (await window.pool!.client.workflow.list()).length);
  expect(listed).toBe(0);
  expect(
    await page.evaluate(() =>
      window.pool!.client.workflow.execute<{ parent: string }>('poolParent', {
        workflowId: 'after-close',
        args: [2],
      }),
    ),
  ).toMatchObject({ parent: 'w1' });
});
