/**
 * The playground, driven as a person would (issue 6, first part): start patterns from the
 * gallery, watch the tree and the timeline fill in, use the forms; bad input gets a message on
 * the page and changes nothing. Screenshots are kept as test artifacts.
 */
import { readFile } from 'node:fs/promises';
import { expect, type Page, type TestInfo, test } from '@playwright/test';
import { SAMPLES } from '../../demo/gallery.ts';
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
  // A signal the workflow does not handle: said, and not sent.
  await signalForm.getByLabel('signal name').fill('aprove');
  await signalForm.getByLabel('signal arguments (JSON array)').fill('["bob"]');
  await signalForm.getByRole('button', { name: 'Send signal' }).click();
  await expect(page.locator('[data-testid=signal-error]')).toContainText(
    "InvalidArgumentError: Unknown signal 'aprove': order handles 'approve'",
  );
  await expect(
    page.locator('[data-testid=history] li[data-event-type=WorkflowExecutionSignaled]'),
  ).toHaveCount(0);
  await signalForm.getByLabel('signal name').fill('approve');
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

/** What each gallery pattern ends as: the parent, and its direct children (sorted statuses). */
const expected: Record<string, { parent: string; children?: string[] }> = {
  'sync-child': { parent: 'COMPLETED', children: ['COMPLETED'] },
  'async-child': { parent: 'COMPLETED', children: ['COMPLETED'] },
  'fan-out': { parent: 'COMPLETED', children: Array.from({ length: 10 }, () => 'COMPLETED') },
  'fire-and-forget': { parent: 'COMPLETED', children: ['RUNNING'] },
  conditional: { parent: 'COMPLETED', children: ['COMPLETED', 'COMPLETED'] },
  'order-payment': { parent: 'COMPLETED', children: ['COMPLETED'] },
  'signal-child': { parent: 'COMPLETED', children: ['COMPLETED'] },
  'cancel-try-cancel': { parent: 'COMPLETED', children: ['TERMINATED'] },
  'cancel-wait-cancellation-requested': { parent: 'COMPLETED', children: ['CANCELED'] },
  'cancel-wait-cancellation-completed': { parent: 'COMPLETED', children: ['CANCELED'] },
  'cancel-abandon': { parent: 'COMPLETED', children: ['TERMINATED'] },
  'close-policies': { parent: 'COMPLETED', children: ['CANCELED', 'RUNNING', 'TERMINATED'] },
  'failing-child': { parent: 'COMPLETED', children: ['FAILED'] },
  'child-timeout': { parent: 'COMPLETED', children: ['TIMED_OUT'] },
  // Retried: each run of the child is listed; the last completes.
  'retried-child': { parent: 'COMPLETED' },
};

for (const sample of SAMPLES) {
  test(`pattern “${sample.title}”: started from its card, its tree and outcome show on the page`, async ({
    page,
  }, testInfo) => {
    const want = expected[sample.id];
    expect(want, `an expectation for ${sample.id}`).toBeDefined();
    await open(page, testInfo);
    await page.locator(`[data-start="${sample.id}"]`).click();
    // The new run is selected: its heading shows its status once it closes.
    await expect(page.locator('#details h2 .status').first()).toHaveText(want!.parent);
    const children = page.locator('ul.tree > li > ul[role=group] > li > button[data-tree-node]');
    const statuses = () =>
      children.evaluateAll((els) => els.map((el) => el.getAttribute('data-status')).sort());
    if (want!.children) await expect.poll(statuses).toEqual(want!.children);
    else await expect.poll(statuses).toContain('COMPLETED');
    await expect(page.locator('[data-testid=history] li').last()).toHaveAttribute(
      'data-event-type',
      'WorkflowExecutionCompleted',
    );
  });
}

test('a signal sent from the form ends the abandoned child; cancel from its button', async ({
  page,
}, testInfo) => {
  await open(page, testInfo);
  await page.locator('[data-start="fire-and-forget"]').click();
  const child = page.locator('ul.tree ul[role=group] button[data-tree-node]');
  await expect(child).toHaveAttribute('data-status', 'RUNNING');
  await child.click();
  const signalForm = page.getByRole('form', { name: 'Send a signal' });
  await signalForm.getByLabel('signal name').fill('confirm');
  await signalForm.getByLabel('signal arguments (JSON array)').fill('["from the form"]');
  await signalForm.getByRole('button', { name: 'Send signal' }).click();
  await expect(child).toHaveAttribute('data-status', 'COMPLETED');
  await expect(
    page.locator('[data-testid=history] li[data-event-type=WorkflowExecutionSignaled]'),
  ).toHaveCount(1);

  // An order waiting for approval, cancelled from its button: it cleans up and ends CANCELED.
  await page.locator('#wf-approval').check();
  await page.locator('#start').click();
  await expect(page.locator('#details h2 .status').first()).toHaveText('RUNNING');
  await page.locator('#details button[data-action=cancel]').click();
  await expect(page.locator('#details h2 .status').first()).toHaveText('CANCELED');
});

test('killing the worker and reloading the page mid-run from the header: the runs still finish', async ({
  page,
}, testInfo) => {
  await open(page, testInfo);
  await page.locator('#wf-delay').fill('1500');
  await page.locator('#start').click();
  await expect(page.locator('#details h2 .status').first()).toHaveText('RUNNING');
  await page.getByRole('button', { name: 'Kill & restart worker' }).click();
  await page.locator('[data-start="child-timeout"]').click();
  // Its start acknowledged (the details show it, not the order still running): only then is
  // it the engine's to keep. (Its child times out in half a second: it may be done already.)
  await expect(page.locator('#details h2').first()).toContainText(/^child-timeout-[a-z0-9]+ /);
  await page.getByRole('button', { name: 'Reload page' }).click();
  // After the reload the page lists what is in the database; both runs complete.
  const rows = page.locator('#executions tr');
  await expect(rows.filter({ has: page.locator('td', { hasText: /^order-/ }) })).toHaveAttribute(
    'data-status',
    'COMPLETED',
  );
  await expect(
    rows.filter({ has: page.locator('td', { hasText: /^child-timeout-[a-z0-9]+$/ }) }),
  ).toHaveAttribute('data-status', 'COMPLETED');
});

test('at phone width nothing scrolls sideways, and a pattern starts from the keyboard', async ({
  page,
}, testInfo) => {
  await open(page, testInfo);
  await page.setViewportSize({ width: 390, height: 800 });
  const sideways = () => page.evaluate(() => document.documentElement.scrollWidth);
  expect(await sideways()).toBeLessThanOrEqual(390);
  await page.locator('[data-start="sync-child"]').focus();
  await page.keyboard.press('Enter');
  await expect(page.locator('#details h2 .status').first()).toHaveText('COMPLETED');
  // The tree's nodes are buttons: reachable and opened with the keyboard.
  await page.locator('ul.tree ul[role=group] [data-tree-node]').focus();
  await page.keyboard.press('Enter');
  await expect(page.locator('#details h2').first()).toContainText('/child-1');
  expect(await sideways()).toBeLessThanOrEqual(390);
  await shot(page, testInfo, 'phone');
});

test('filters, the query form, a failure’s cause chain, child links and clearing the database', async ({
  page,
}, testInfo) => {
  await open(page, testInfo);
  await page.locator('[data-start="failing-child"]').click();
  await expect(page.locator('#details h2 .status').first()).toHaveText('COMPLETED');
  await page.locator('[data-start="sync-child"]').click();
  await expect(page.locator('#details h2 .status').first()).toHaveText('COMPLETED');

  // Filters: by status, then by type.
  const rows = page.locator('#executions tr');
  await expect(rows).toHaveCount(4);
  await page.getByLabel('Status').selectOption('FAILED');
  await expect(rows).toHaveCount(1);
  await expect(rows.first().locator('td').nth(1)).toHaveText('declinedPayment');
  await page.getByLabel('Status').selectOption('');
  await page.getByLabel('Type').selectOption('syncChild');
  await expect(rows).toHaveCount(1);
  await page.getByLabel('Type').selectOption('');
  await expect(rows).toHaveCount(4);

  // The failing child's parent: its history shows the child's failure with its cause, and links to it.
  await page.locator('#executions tr', { hasText: 'childFailure' }).click();
  const failed = page.locator('[data-testid=history] li[data-event-type=ChildWorkflowExecutionFailed]');
  await expect(failed.locator('[data-testid=cause]')).toContainText(
    'card declined for order-9 (CardDeclined)',
  );
  await failed.locator('button[data-child]').click();
  await expect(page.locator('#details h2 .status').first()).toHaveText('FAILED');
  await expect(page.locator('[data-testid=outcome]')).toContainText('cause:');

  // The query form: a query the run has, then one it has not.
  await page.locator('#executions tr', { hasText: 'syncChild' }).click();
  const queryForm = page.getByRole('form', { name: 'Run a query' });
  await queryForm.getByLabel('query name').fill('__temporal_workflow_metadata');
  await queryForm.getByRole('button', { name: 'Run query' }).click();
  await expect(page.locator('[data-testid=query-answer]')).toContainText('"type": "syncChild"');
  await queryForm.getByLabel('query name').fill('nosuchquery');
  await queryForm.getByRole('button', { name: 'Run query' }).click();
  await expect(page.locator('[data-testid=query-error]')).toContainText('QueryNotRegisteredError');

  // Clear database: everything goes, the page starts afresh.
  page.once('dialog', (dialog) => void dialog.accept());
  await page.getByRole('button', { name: 'Clear database' }).click();
  await expect(page.locator('#log')).toHaveText('Database cleared.');
  await expect(rows).toHaveCount(0);
  await expect(page.locator('#empty')).toBeVisible();
});

test('an execution downloads as Temporal JSON, which replays with the page’s code; a tampered copy does not', async ({
  page,
}, testInfo) => {
  await open(page, testInfo);
  await page.getByLabel('Parallel fan-out: arguments (JSON array)', { exact: true }).fill('[3]');
  await page.locator('[data-start="fan-out"]').click();
  await expect(page.locator('#details h2').first()).toContainText(/^fan-out-[a-z0-9]+ /);
  await expect(page.locator('#details h2 .status').first()).toHaveText('COMPLETED');
  const downloading = page.waitForEvent('download');
  await page.getByRole('button', { name: 'Download as Temporal JSON' }).click();
  const download = await downloading;
  expect(download.suggestedFilename()).toMatch(/^fan-out-[a-z0-9]+\.temporal\.json$/);
  const text = await readFile((await download.path())!, 'utf8');
  const history = JSON.parse(text) as { events: Record<string, unknown>[] };
  // Temporal's format: string event IDs, attributes named for the event type, payloads encoded.
  expect(history.events[0]).toMatchObject({ eventId: '1' });
  const started = history.events[0]!.workflowExecutionStartedEventAttributes as {
    workflowType: { name: string };
    input: { payloads: { metadata: { encoding: string }; data: string }[] };
  };
  expect(started.workflowType.name).toBe('fanOut');
  expect(atob(started.input.payloads[0]!.metadata.encoding)).toBe('json/plain');
  expect(JSON.parse(atob(started.input.payloads[0]!.data))).toBe(3);

  const result = page.getByTestId('replay-result');
  const replay = (name: string, body: string) =>
    page
      .getByLabel(/Replay a history/)
      .setInputFiles({ name, mimeType: 'application/json', buffer: Buffer.from(body) });
  await replay('fan-out.temporal.json', text);
  await expect(result).toContainText('fan-out.temporal.json replays with this page’s code (v1)');
  await expect(result).toHaveAttribute('data-ok', 'true');
  // Two children instead of three: the recorded third child has no command to match.
  started.input.payloads[0]!.data = btoa('2');
  await replay('tampered.json', JSON.stringify(history));
  await expect(result).toContainText(
    'tampered.json does not replay with this page’s code (v1): DeterminismViolationError',
  );
  await expect(result).toHaveAttribute('data-ok', 'false');
  await replay('broken.json', '{ not json');
  await expect(result).toContainText('broken.json is not JSON');
  await shot(page, testInfo, 'replay a history');
});
