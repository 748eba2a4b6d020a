/**
 * The playground, driven as a person would (issue 6, first part): start patterns from the
 * gallery, watch the tree and the timeline fill in, use the forms; bad input gets a message on
 * the page and changes nothing. Screenshots are kept as test artifacts.
 */
import { expect, type Page, type TestInfo, test } from '@playwright/test';
import type {} from '../../demo/page-api.ts';

async function open(page: Page, testInfo: TestInfo): Promise<void> {
  const db = `e2e-ui-${testInfo.workerIndex}-${Date.now().toString(36)}`;
  await page.setViewportSize({ width: 1280, height: 1000 });
  await page.goto(`/?db=${db}`);
  await expect(page.locator('#meta')).toContainText(db);
}

/** Kept in the test's output folder (test-results/...) and attached to the report. */
async function shot(page: Page, testInfo: TestInfo, name: string): Promise<void> {
  const path = testInfo.outputPath(`${name.replaceAll(' ', '-')}.png`);
  await page.screenshot({ path, fullPage: true });
  await testInfo.attach(name, { path, contentType: 'image/png' });
}

test('the gallery starts a fan-out of the chosen size; the tree shows its children, the timeline a child’s history', async ({
  page,
}, testInfo) => {
  await open(page, testInfo);
  await expect(page.locator('#gallery [data-sample]')).toHaveCount(15);
  await shot(page, testInfo, 'gallery');

  await page.getByLabel('Parallel fan-out: arguments (JSON array)', { exact: true }).fill('[6]');
  await page.locator('[data-start="fan-out"]').click();
  // The parent is selected; its tree fills in: six children, each COMPLETED, under TERMINATE.
  const tree = page.getByRole('tree', { name: 'Parents and children' });
  await expect(tree.locator('ul[role=group] > li')).toHaveCount(6);
  await expect(tree.locator('ul[role=group] [data-tree-node][data-status=COMPLETED]')).toHaveCount(6);
  await expect(tree.locator('ul[role=group] .edge').first()).toHaveText('TERMINATE');
  await expect(page.locator('[data-testid=outcome]')).toHaveText('result: [0,2,4,6,8,10]');
  await shot(page, testInfo, 'fan-out tree');

  // Selecting a child opens its timeline; its start event links back to nothing, its parent is named.
  await tree.locator('ul[role=group] [data-tree-node]').first().click();
  const timeline = page.locator('[data-testid=history]');
  await expect(timeline.locator('li').first()).toHaveAttribute('data-event-type', 'WorkflowExecutionStarted');
  await expect(timeline.locator('li').last()).toHaveAttribute(
    'data-event-type',
    'WorkflowExecutionCompleted',
  );
  await expect(timeline.locator('li[data-event-type=ActivityTaskCompleted]')).toHaveCount(1);
  // Attributes expand on demand.
  await timeline.locator('li[data-event-type=ActivityTaskScheduled] summary').click();
  await expect(timeline.locator('li[data-event-type=ActivityTaskScheduled] pre')).toContainText(
    '"activityType": "multiply"',
  );
  await shot(page, testInfo, 'child timeline');

  // Back to the parent through its link; its child events link to the children.
  await page.locator('#details p.muted button.link').click();
  await expect(page.locator('#details h2').first()).toContainText('fan-out-');
  await expect(
    timeline.locator('li[data-event-type=ChildWorkflowExecutionCompleted] button[data-child]'),
  ).toHaveCount(6);
});

test('bad input in the forms gets a clear message and starts or sends nothing', async ({
  page,
}, testInfo) => {
  await open(page, testInfo);
  await page.getByLabel('Synchronous child: arguments (JSON array)', { exact: true }).fill('[21');
  await page.locator('[data-start="sync-child"]').click();
  await expect(page.locator('[data-sample="sync-child"] [role=alert]')).toContainText('not valid JSON');
  await page.getByLabel('Synchronous child: arguments (JSON array)', { exact: true }).fill('{"n": 21}');
  await page.locator('[data-start="sync-child"]').click();
  await expect(page.locator('[data-sample="sync-child"] [role=alert]')).toContainText('must be a JSON array');
  await expect(page.locator('#executions tr')).toHaveCount(0);

  // A signal with bad JSON to a running order, then a signal to a closed execution.
  await page.locator('#wf-approval').check();
  await page.locator('#start').click();
  await expect(page.locator('#executions tr')).toHaveCount(1);
  const signalForm = page.getByRole('form', { name: 'Send a signal' });
  await signalForm.getByLabel('signal arguments (JSON array)').fill('["bob"');
  await signalForm.getByRole('button', { name: 'Send signal' }).click();
  await expect(page.locator('[data-testid=signal-error]')).toContainText('not valid JSON');
  await page.locator('#details button[data-action=terminate]').click();
  await expect(page.locator('#executions tr').first()).toHaveAttribute('data-status', 'TERMINATED');
  await signalForm.getByLabel('signal arguments (JSON array)').fill('["bob"]');
  await signalForm.getByRole('button', { name: 'Send signal' }).click();
  await expect(page.locator('[data-testid=signal-error]')).toContainText('WorkflowNotFoundError');
  // The terminated run's history took no signal.
  await expect(
    page.locator('[data-testid=history] li[data-event-type=WorkflowExecutionSignaled]'),
  ).toHaveCount(0);
});
