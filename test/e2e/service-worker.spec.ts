/**
 * The engine in a service worker (issue 5): pages connect to it; its workflows go on after the
 * last page closes, for as long as the browser keeps it; stopped, it resumes from IndexedDB
 * when it starts again.
 */
import { type BrowserContext, expect, type Page, type TestInfo, test } from '@playwright/test';
import type {} from './pages/sw.ts';

function dbName(testInfo: TestInfo): string {
  return `e2e-sw-${testInfo.workerIndex}-${Date.now().toString(36)}`;
}

async function openPage(context: BrowserContext, db: string): Promise<Page> {
  const page = await context.newPage();
  await page.goto(`/test/e2e/pages/sw.html?db=${encodeURIComponent(db)}`);
  await page.waitForFunction(() => window.swPage !== undefined);
  return page;
}

/** Starts an `order` from `page` and closes the page once the order has reserved (its first effect). */
async function startThenClose(page: Page, workflowId: string, input: { item: string; delayMs: number }) {
  await page.evaluate(
    async ([id, args]) => {
      await window.swPage!.client.workflow.start('order', { workflowId: id, args: [args] });
    },
    [workflowId, input] as const,
  );
  await expect.poll(() => page.evaluate(() => window.swPage!.effects().then((e) => e.length))).toBe(1);
  await page.close();
}

test('a workflow in the service worker sleeps past the page’s close and completes; the reopened page sees it', async ({
  context,
}, testInfo) => {
  const db = dbName(testInfo);
  const page = await openPage(context, db);
  await startThenClose(page, 'sw-order', { item: 'lamp', delayMs: 1_500 });
  expect(context.pages()).toHaveLength(0);

  // No page is open: the service worker fires the timer and ships.
  const [serviceWorker] = context.serviceWorkers();
  expect(serviceWorker).toBeDefined();
  await expect
    .poll(
      () =>
        serviceWorker!.evaluate(
          (name) =>
            new Promise<number>((resolve, reject) => {
              const request = indexedDB.open(name);
              request.onerror = () => reject(request.error);
              request.onsuccess = () => {
                const database = request.result;
                const count = database.transaction('effects').objectStore('effects').count();
                count.onsuccess = () => {
                  resolve(count.result);
                  database.close();
                };
              };
            }),
          `weft-test-effects-${db}`,
        ),
      { timeout: 15_000 },
    )
    .toBe(2);
  const closedWithoutPages = Date.now();

  const again = await openPage(context, db);
  const outcome = await again.evaluate(async () => {
    const handle = window.swPage!.client.workflow.getHandle('sw-order');
    const result = await handle.result();
    const description = await handle.describe();
    return { result, closeTime: description.closeTime?.getTime() };
  });
  expect(outcome.result).toMatchObject({ item: 'lamp' });
  expect(outcome.closeTime).toBeLessThanOrEqual(closedWithoutPages);
});

test('a service worker stopped mid-sleep resumes the workflow from IndexedDB when a page wakes it', async ({
  context,
}, testInfo) => {
  const db = dbName(testInfo);
  const page = await openPage(context, db);
  await startThenClose(page, 'sw-stopped', { item: 'kettle', delayMs: 1_000 });
  // The browser stops the service worker (as it does after about 30 s without events).
  const cdp = await context.newCDPSession(await context.newPage());
  await cdp.send('ServiceWorker.enable');
  await cdp.send('ServiceWorker.stopAllWorkers');
  for (const p of context.pages()) await p.close();

  // A page opens: the service worker starts again, loads the run and its overdue timer.
  const again = await openPage(context, db);
  const result = await again.evaluate(() => window.swPage!.client.workflow.getHandle('sw-stopped').result());
  expect(result).toMatchObject({ item: 'kettle' });
  const effects = await again.evaluate(() => window.swPage!.effects());
  expect(effects.map((e) => e.activity).sort()).toEqual(['reserve', 'ship']);
});
