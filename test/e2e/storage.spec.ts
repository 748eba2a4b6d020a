/**
 * Storage faults in real Chromium: the playground's client, its module worker and IndexedDB.
 * The database runs out of space (`?faults=1`: the worker's IndexedDB connections refuse
 * writes with a QuotaExceededError while the test says so, see demo/faults.ts), is deleted by
 * another tab, is closed by the browser (chrome://indexeddb-internals's "Force close", and the
 * DevTools protocol's `Storage.clearDataForOrigin`), and the page asks to persist its storage.
 */
import { type BrowserContext, chromium, expect, type Page, type TestInfo, test } from '@playwright/test';
import { chromiumLaunchOptions } from '../../browser.mjs';
import type {} from '../../demo/page-api.ts';
import type { StorageStatus } from '../../src/client/index.ts';

function dbName(testInfo: TestInfo): string {
  const slug = testInfo.title.replace(/[^a-z0-9]+/gi, '-').slice(0, 32);
  return `e2e-storage-${slug}-${Date.now().toString(36)}`;
}

async function openPlayground(page: Page, db: string, query = ''): Promise<void> {
  await page.goto(`/?db=${encodeURIComponent(db)}${query}`);
  await page.waitForFunction((d) => window.weft !== undefined && window.weft.db === d, db);
}

/** Records the `storage` events the page's client hears, as `window.storageEvents`. */
async function recordStorageEvents(page: Page): Promise<void> {
  await page.evaluate(() => {
    const w = window as unknown as { storageEvents: StorageStatus[] };
    w.storageEvents = [];
    window.weft.client.addEventListener('storage', (event) =>
      w.storageEvents.push((event as CustomEvent<StorageStatus>).detail),
    );
  });
}

function storageEvents(page: Page): Promise<StorageStatus['state'][]> {
  return page.evaluate(() =>
    (window as unknown as { storageEvents: StorageStatus[] }).storageEvents.map((s) => s.state),
  );
}

/** Makes the worker's database refuse writes (or take them again), once the worker confirms. */
function setQuotaFault(page: Page, db: string, quota: boolean): Promise<void> {
  return page.evaluate(
    ([db, quota]) =>
      new Promise<void>((resolve) => {
        const channel = new BroadcastChannel('weft-test-faults');
        channel.onmessage = (event) => {
          const data = event.data as { db?: string; applied?: { quota: boolean } };
          if (data.db !== db || data.applied?.quota !== quota) return;
          channel.close();
          resolve();
        };
        channel.postMessage({ db, quota });
      }),
    [db, quota] as const,
  );
}

/**
 * The workflow IDs of the executions the engine's database holds (in its stores or in its log),
 * read with a connection of the page's own, without weft.
 */
function storedWorkflowIds(page: Page, db: string): Promise<string[]> {
  return page.evaluate(
    (name) =>
      new Promise<string[]>((resolve, reject) => {
        const open = indexedDB.open(name);
        open.onerror = () => reject(open.error);
        open.onsuccess = () => {
          const database = open.result;
          const tx = database.transaction(['log', 'executions'], 'readonly');
          const log = tx.objectStore('log').getAll();
          const executions = tx.objectStore('executions').getAll();
          tx.oncomplete = () => {
            database.close();
            type Put = { table: string; value: { workflowId?: string } };
            const logged = (log.result as { puts: Put[] }[])
              .flatMap((entry) => entry.puts)
              .filter((put) => put.table === 'executions')
              .map((put) => put.value.workflowId!);
            const stored = (executions.result as { workflowId: string }[]).map((e) => e.workflowId);
            resolve([...new Set([...stored, ...logged])].sort());
          };
        };
      }),
    db,
  );
}

function start(page: Page, workflowId: string, delayMs = 0): Promise<void> {
  return page.evaluate(
    async ([id, delayMs]) => {
      await window.weft.client.workflow.start('order', { workflowId: id, args: [{ item: id, delayMs }] });
    },
    [workflowId, delayMs] as const,
  );
}

function result(page: Page, workflowId: string): Promise<unknown> {
  return page.evaluate((id) => window.weft.client.workflow.getHandle(id).result(), workflowId);
}

function historyOf(page: Page, workflowId: string): Promise<{ eventId: number; eventType: string }[]> {
  return page.evaluate(
    async (id) =>
      (await window.weft.client.workflow.getHandle(id).fetchHistory()).events.map(
        ({ eventId, eventType }) => ({
          eventId,
          eventType,
        }),
      ),
    workflowId,
  );
}

async function effectCounts(page: Page, workflowId: string): Promise<Record<string, number>> {
  return page.evaluate(async (id) => {
    const counts: Record<string, number> = {};
    for (const e of await window.weft.effects())
      if (e.workflowId === id) counts[e.activity] = (counts[e.activity] ?? 0) + 1;
    return counts;
  }, workflowId);
}

test('storage full mid-run: the flush aborts whole, the page hears it, nothing is acknowledged until space is back, then all resumes once', async ({
  page,
}, testInfo) => {
  const db = dbName(testInfo);
  await openPlayground(page, db, '&faults=1');
  await start(page, 'before');
  expect(await result(page, 'before')).toMatchObject({ item: 'before' });
  await recordStorageEvents(page);

  await setQuotaFault(page, db, true);
  // A start is a write the client waits on: it is not acknowledged while the database refuses it.
  await page.evaluate(() => {
    const w = window as unknown as { started?: string };
    void window.weft.client.workflow
      .start('order', { workflowId: 'during', args: [{ item: 'during', delayMs: 0 }] })
      .then(() => {
        w.started = 'yes';
      });
  });
  await expect.poll(() => storageEvents(page)).toEqual(['full']);
  await expect(page.locator('#storage')).toContainText('Storage is full');
  // The refused flush wrote nothing: the database has the earlier run, and not a record of this one.
  expect(await storedWorkflowIds(page, db)).toEqual(['before']);
  expect(await page.evaluate(() => (window as unknown as { started?: string }).started)).toBeUndefined();

  await setQuotaFault(page, db, false);
  await expect.poll(() => storageEvents(page)).toEqual(['full', 'ok']);
  await expect(page.locator('#storage')).toHaveText('');
  await page.waitForFunction(() => (window as unknown as { started?: string }).started === 'yes');
  expect(await result(page, 'during')).toMatchObject({ item: 'during' });
  // Once: each activity ran once, each event is there once, in order.
  expect(await effectCounts(page, 'during')).toEqual({ reserve: 1, ship: 1 });
  const events = await historyOf(page, 'during');
  expect(events.map((e) => e.eventId)).toEqual(events.map((_, i) => i + 1));
  expect(events.filter((e) => e.eventType === 'WorkflowExecutionCompleted')).toHaveLength(1);
  expect(await storedWorkflowIds(page, db)).toEqual(['before', 'during']);
});

test('storage full at the leader: another tab’s page hears it too, and its call completes once space is back', async ({
  context,
}, testInfo) => {
  const db = dbName(testInfo);
  // Tab 1 leads (it opened first and answered a start); only its worker can be made to refuse.
  const tab1 = await context.newPage();
  await openPlayground(tab1, db, '&faults=1');
  await start(tab1, 'first');
  const tab2 = await context.newPage();
  await openPlayground(tab2, db);
  expect(await result(tab2, 'first')).toMatchObject({ item: 'first' });
  await recordStorageEvents(tab1);
  await recordStorageEvents(tab2);

  await setQuotaFault(tab1, db, true);
  // Tab 2's start goes to the leader, whose flush is refused: it waits, and tab 2 hears why.
  await tab2.evaluate(() => {
    const w = window as unknown as { started?: string };
    void window.weft.client.workflow
      .start('order', { workflowId: 'from-tab-2', args: [{ item: 'from-tab-2', delayMs: 0 }] })
      .then(() => {
        w.started = 'yes';
      });
  });
  await expect.poll(() => storageEvents(tab2)).toEqual(['full']);
  await expect(tab2.locator('#storage')).toContainText('Storage is full');
  expect(await storageEvents(tab1)).toEqual(['full']);
  expect(await tab2.evaluate(() => (window as unknown as { started?: string }).started)).toBeUndefined();

  await setQuotaFault(tab1, db, false);
  await expect.poll(() => storageEvents(tab2)).toEqual(['full', 'ok']);
  await tab2.waitForFunction(() => (window as unknown as { started?: string }).started === 'yes');
  expect(await result(tab2, 'from-tab-2')).toMatchObject({ item: 'from-tab-2' });
  expect(await effectCounts(tab2, 'from-tab-2')).toEqual({ reserve: 1, ship: 1 });
});

/** How a call settles in the page, as `name: message`, or 'answered'. */
function callError(page: Page, call: 'list' | 'start'): Promise<string> {
  return page.evaluate(async (call) => {
    try {
      if (call === 'list') await window.weft.client.workflow.count();
      else
        await window.weft.client.workflow.start('order', { workflowId: 'after', args: [{ item: 'after' }] });
      return 'answered';
    } catch (e) {
      return `${(e as Error).name}: ${(e as Error).message}`;
    }
  }, call);
}

function databaseNames(page: Page): Promise<string[]> {
  return page.evaluate(async () => (await indexedDB.databases()).map((d) => d.name ?? ''));
}

/** Waits until the page's clock passes `time` (ms since the epoch). */
async function until(page: Page, time: number): Promise<void> {
  await page.waitForFunction((t) => Date.now() > t, time, { polling: 200, timeout: 30_000 });
}

/** An order mid-run: its durable timer started, due `delayMs` from about now. */
async function midRun(page: Page, workflowId: string, delayMs: number): Promise<number> {
  await start(page, workflowId, delayMs);
  await expect
    .poll(async () => (await historyOf(page, workflowId)).map((e) => e.eventType))
    .toContain('TimerStarted');
  return Date.now() + delayMs;
}

test('the database deleted from another tab mid-run: the engine stops and says so, and never recreates it', async ({
  context,
}, testInfo) => {
  const db = dbName(testInfo);
  const tab1 = await context.newPage();
  await openPlayground(tab1, db);
  await recordStorageEvents(tab1);
  const due = await midRun(tab1, 'sleeper', 2_000);

  const tab2 = await context.newPage();
  await tab2.goto('/test/e2e/pages/blank.html');
  const deleted = await tab2.evaluate(
    (name) =>
      new Promise<string>((resolve) => {
        const request = indexedDB.deleteDatabase(name);
        request.onsuccess = () => resolve('deleted');
        request.onblocked = () => resolve('blocked');
        request.onerror = () => resolve(`error: ${request.error?.message}`);
      }),
    db,
  );
  expect(deleted).toBe('deleted');

  // Tab 1 hears it, shows it, and its calls fail clearly rather than hang or start afresh.
  await expect.poll(() => storageEvents(tab1)).toEqual(['lost']);
  await expect(tab1.locator('#storage')).toContainText('The database is gone');
  expect(await callError(tab1, 'list')).toMatch(/^StorageLostError: .*deleted by another tab/);
  expect(await callError(tab1, 'start')).toMatch(/^StorageLostError: /);
  // Past the time its timer was due, nothing ran and no database came back.
  await until(tab1, due + 1_000);
  expect(await effectCounts(tab1, 'sleeper')).toEqual({ reserve: 1 });
  expect(await databaseNames(tab2)).not.toContain(db);
});

test('the connection force-closed by the browser (chrome://indexeddb-internals): the engine reopens it, and no write is lost or doubled', async ({
  context,
}, testInfo) => {
  const db = dbName(testInfo);
  const page = await context.newPage();
  await openPlayground(page, db);
  await recordStorageEvents(page);
  const ids = (prefix: string, n: number) => Array.from({ length: n }, (_, i) => `${prefix}-${i}`);
  for (const id of ids('before', 5)) await start(page, id, 0);
  // Starts and their workflows in flight while the browser closes the connection.
  await page.evaluate(
    (ids) => {
      const w = window as unknown as { stream: Promise<string[]> };
      w.stream = Promise.all(
        ids.map((id) =>
          window.weft.client.workflow
            .start('order', { workflowId: id, args: [{ item: id, delayMs: 200 }] })
            .then(
              () => 'started',
              (error: Error) => `${error.name}: ${error.message}`,
            ),
        ),
      );
    },
    ids('during', 30),
  );

  const internals = await context.newPage();
  await internals.goto('chrome://indexeddb-internals');
  // The origin's bucket: its first count is of every connection it has open.
  const bucket = internals.locator('indexeddb-bucket').first();
  await expect(bucket.locator('.connection-count').first()).not.toHaveText('0');
  await bucket.locator('.force-close').first().click();
  await expect(bucket.locator('.connection-count').first()).toHaveText('0');

  // Every start was acknowledged, and every run completes, each activity's outcome once.
  const settled = await page.evaluate(() => (window as unknown as { stream: Promise<string[]> }).stream);
  expect(settled).toEqual(settled.map(() => 'started'));
  for (const id of [...ids('before', 5), ...ids('during', 30)]) {
    expect(await result(page, id)).toMatchObject({ item: id });
    const events = await historyOf(page, id);
    expect(events.map((e) => e.eventId)).toEqual(events.map((_, i) => i + 1));
    expect(events.filter((e) => e.eventType === 'ActivityTaskCompleted')).toHaveLength(2);
  }
  expect(await storageEvents(page)).toEqual([]);
  // The engine's connection is open again.
  await internals.reload();
  await expect(internals.locator('indexeddb-bucket .connection-count').first()).not.toHaveText('0');
});

test('the site’s storage cleared by the browser (DevTools Storage.clearDataForOrigin): the engine says its data is gone, and does not start afresh', async ({
  page,
  context,
}, testInfo) => {
  const db = dbName(testInfo);
  await openPlayground(page, db);
  await recordStorageEvents(page);
  const due = await midRun(page, 'sleeper', 2_000);
  const cdp = await context.newCDPSession(page);
  await cdp.send('Storage.clearDataForOrigin', {
    origin: new URL(page.url()).origin,
    storageTypes: 'indexeddb',
  });

  await expect.poll(() => storageEvents(page)).toEqual(['lost']);
  await expect(page.locator('#storage')).toContainText('The database is gone');
  expect(await callError(page, 'list')).toMatch(/^StorageLostError: .*(deleted|cleared)/);
  await until(page, due + 1_000);
  expect(await databaseNames(page)).not.toContain(db);
});

// ---- persistence: navigator.storage.persist() asked, and the answer reported ----------------------

/** Counts the page's calls of `navigator.storage.persist()` (each still goes to the browser). */
async function countPersistCalls(context: BrowserContext): Promise<void> {
  await context.addInitScript(() => {
    const storage = navigator.storage;
    const persist = storage.persist.bind(storage);
    const w = window as unknown as { persistCalls: number };
    w.persistCalls = 0;
    storage.persist = () => {
      w.persistCalls++;
      return persist();
    };
  });
}

/** What the page's client says of durability, whether the page asked, and what the browser says. */
function durability(page: Page) {
  return page.evaluate(async () => ({
    durable: await window.weft.client.durable,
    asked: (window as unknown as { persistCalls: number }).persistCalls,
    persisted: await navigator.storage.persisted(),
  }));
}

test('an ephemeral context (Playwright’s default, an incognito profile): persistence is asked for, refused, and the page is told the data is not durable', async ({
  page,
  context,
}, testInfo) => {
  await countPersistCalls(context);
  await openPlayground(page, dbName(testInfo));
  expect(await durability(page)).toEqual({ durable: false, asked: 1, persisted: false });
});

test('a profile on disk: refused without the permission, granted with it, and the page is told each', async ({
  baseURL,
}, testInfo) => {
  const launch = async (name: string) => {
    const context = await chromium.launchPersistentContext(testInfo.outputPath(name), {
      ...chromiumLaunchOptions(),
      ...(baseURL !== undefined && { baseURL }),
    });
    await countPersistCalls(context);
    return context;
  };
  const refused = await launch('profile-refused');
  try {
    const page = refused.pages()[0] ?? (await refused.newPage());
    await openPlayground(page, dbName(testInfo));
    expect(await durability(page)).toEqual({ durable: false, asked: 1, persisted: false });
  } finally {
    await refused.close();
  }

  const granted = await launch('profile-granted');
  try {
    const page = granted.pages()[0] ?? (await granted.newPage());
    await page.goto('/test/e2e/pages/blank.html');
    const cdp = await granted.newCDPSession(page);
    await cdp.send('Browser.grantPermissions', {
      origin: new URL(page.url()).origin,
      permissions: ['durableStorage'],
    });
    await openPlayground(page, dbName(testInfo));
    expect(await durability(page)).toEqual({ durable: true, asked: 1, persisted: true });
  } finally {
    await granted.close();
  }
});
