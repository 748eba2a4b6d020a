/**
 * Two tabs on one database (SPEC 5.9, "one executor"): each tab starts its own engine worker
 * over the same IndexedDB. Only one may advance an execution or run its activities, and a
 * tab must see what another tab's worker did (results, live changes).
 */
import { expect, type Page, type TestInfo, test } from '@playwright/test';
import type {} from '../../demo/page-api.ts';
import type { OrderInput } from '../../demo/workflows.ts';

function dbName(testInfo: TestInfo): string {
  const slug = testInfo.title.replace(/[^a-z0-9]+/gi, '-').slice(0, 40);
  return `e2e-${slug}-${Date.now().toString(36)}`;
}

async function openPlayground(page: Page, db: string): Promise<void> {
  await page.goto(`/?db=${encodeURIComponent(db)}`);
  await page.waitForFunction((d) => window.weft !== undefined && window.weft.db === d, db);
  // The first call answers once this tab's engine has started (and loaded pending work).
  await page.evaluate(() => window.weft.client.workflow.list());
}

async function startOrder(page: Page, workflowId: string, input: OrderInput): Promise<void> {
  await page.evaluate(
    async ([id, args]) => {
      await window.weft.client.workflow.start('order', { workflowId: id, args: [args] });
    },
    [workflowId, input] as const,
  );
}

function runs(page: Page, activity: string): Promise<number> {
  return page.evaluate(
    async (name) => (await window.weft.effects()).filter((e) => e.activity === name).length,
    activity,
  );
}

test('a second tab does not run again an activity that the first tab is running', async ({
  context,
}, testInfo) => {
  const db = dbName(testInfo);
  const tab1 = await context.newPage();
  await openPlayground(tab1, db);
  await startOrder(tab1, 'tabs-1', { item: 'kettle', delayMs: 0, shipDurationMs: 3000 });
  // `ship` has started in tab 1's worker (it records its effect first, then takes 3 s).
  await expect.poll(() => runs(tab1, 'ship')).toBe(1);

  const tab2 = await context.newPage();
  await openPlayground(tab2, db);
  expect(await tab1.evaluate(() => window.weft.client.workflow.getHandle('tabs-1').result())).toMatchObject({
    item: 'kettle',
  });
  // A second run of `ship` would have recorded its effect as soon as it started.
  expect(await runs(tab1, 'ship')).toBe(1);
});

test("a tab sees a run that another tab's worker completed (result and watch)", async ({
  context,
}, testInfo) => {
  const db = dbName(testInfo);
  const tab1 = await context.newPage();
  await openPlayground(tab1, db);
  await startOrder(tab1, 'tabs-2', { item: 'toaster', delayMs: 0, requireApproval: true });
  await expect
    .poll(() =>
      tab1.evaluate(() => window.weft.client.workflow.getHandle('tabs-2').query<{ stage: string }>('status')),
    )
    .toMatchObject({ stage: 'awaiting-approval' });

  const tab2 = await context.newPage();
  await openPlayground(tab2, db);
  await tab2.evaluate(() => {
    const w = window as unknown as { tab2Result: string };
    w.tab2Result = 'pending';
    window.weft.client.workflow
      .getHandle('tabs-2')
      .result()
      .then(
        () => {
          w.tab2Result = 'resolved';
        },
        (error: Error) => {
          w.tab2Result = `rejected: ${error.name}`;
        },
      );
  });

  // Queried and signalled from the tab that did not start it (its worker forwards to the leader).
  expect(
    await tab2.evaluate(() =>
      window.weft.client.workflow.getHandle('tabs-2').query<{ stage: string }>('status'),
    ),
  ).toMatchObject({ stage: 'awaiting-approval' });
  await tab2.evaluate(() => window.weft.client.workflow.getHandle('tabs-2').signal('approve', 'tab2'));
  expect(await tab1.evaluate(() => window.weft.client.workflow.getHandle('tabs-2').result())).toMatchObject({
    approvedBy: 'tab2',
  });

  await expect
    .poll(() => tab2.evaluate(() => (window as unknown as { tab2Result: string }).tab2Result))
    .toBe('resolved');
  // Tab 2's live list (client.workflow.watch) shows the close.
  await expect(tab2.locator('#executions tr[data-workflow-id="tabs-2"]')).toHaveAttribute(
    'data-status',
    'COMPLETED',
  );
});
