/**
 * One executor per execution across tabs (issue 5, SPEC 5.9): the tabs' workers elect one
 * leader through the database's lease; the others forward to it. When the leader's tab closes
 * or freezes, another takes over, and what the old one does after losing the lease is refused.
 */
import { type BrowserContext, expect, type Page, type TestInfo, test } from '@playwright/test';
import type {} from '../../demo/page-api.ts';

function dbName(testInfo: TestInfo): string {
  const slug = testInfo.title.replace(/[^a-z0-9]+/gi, '-').slice(0, 30);
  return `e2e-${slug}-${testInfo.workerIndex}-${Date.now().toString(36)}`;
}

async function openTab(context: BrowserContext, db: string, query = ''): Promise<Page> {
  const page = await context.newPage();
  await page.goto(`/?db=${encodeURIComponent(db)}${query}`);
  await page.waitForFunction((d) => window.weft !== undefined && window.weft.db === d, db);
  await page.evaluate(() => window.weft.client.workflow.list());
  return page;
}

/** Starts `order`s `${prefix}-0` ... from `page`, all at once. */
function startOrders(page: Page, prefix: string, n: number, input: object): Promise<void> {
  return page.evaluate(
    async ([prefix, n, input]) => {
      await Promise.all(
        Array.from({ length: n }, (_, i) =>
          window.weft.client.workflow.start('order', {
            workflowId: `${prefix}-${i}`,
            args: [{ item: `${prefix}${i}`, ...input }],
          }),
        ),
      );
    },
    [prefix, n, input] as const,
  );
}

/** Waits for every workflow to close; returns the statuses of those that did not complete. */
function awaitAll(page: Page, ids: string[]): Promise<string[]> {
  return page.evaluate(async (ids) => {
    const outcomes = await Promise.all(
      ids.map((id) =>
        window.weft.client.workflow
          .getHandle(id)
          .result()
          .then(
            () => 'ok',
            (error: Error) => `${id}: ${error.name} ${error.message}`,
          ),
      ),
    );
    return outcomes.filter((o) => o !== 'ok');
  }, ids);
}

/** Each history: event IDs 1..n with no gap or repeat, and exactly one closing event. */
function historyProblems(page: Page, ids: string[]): Promise<string[]> {
  return page.evaluate(async (ids) => {
    const problems: string[] = [];
    for (const id of ids) {
      const { events } = await window.weft.client.workflow.getHandle(id).fetchHistory();
      if (events.some((e, i) => e.eventId !== i + 1)) problems.push(`${id}: event IDs not contiguous`);
      const closing = events.filter((e) =>
        /^WorkflowExecution(Completed|Failed|Canceled|Terminated|TimedOut)$/.test(e.eventType),
      );
      if (closing.length !== 1) problems.push(`${id}: ${closing.length} closing events`);
    }
    return problems;
  }, ids);
}

const ids = (prefix: string, n: number) => Array.from({ length: n }, (_, i) => `${prefix}-${i}`);

test('two tabs start 200 workflows between them at once: each completes once, each activity runs once, histories stay linear', async ({
  context,
}, testInfo) => {
  test.setTimeout(120_000);
  const db = dbName(testInfo);
  const [tab1, tab2] = await Promise.all([openTab(context, db), openTab(context, db)]);
  await Promise.all([
    startOrders(tab1, 'a', 100, { delayMs: 0 }),
    startOrders(tab2, 'b', 100, { delayMs: 0 }),
  ]);
  const all = [...ids('a', 100), ...ids('b', 100)];
  expect(await awaitAll(tab1, all)).toEqual([]);
  expect(await historyProblems(tab2, all)).toEqual([]);
  // `reserve` and `ship` ran exactly once for each order, whichever worker ran them.
  const effects = await tab1.evaluate(() => window.weft.effects());
  const runs = new Map<string, number>();
  for (const e of effects)
    runs.set(`${e.workflowId}/${e.activity}`, (runs.get(`${e.workflowId}/${e.activity}`) ?? 0) + 1);
  expect([...runs.values()].filter((n) => n !== 1)).toEqual([]);
  expect(runs.size).toBe(400);
});

test('closing the tab whose worker leads, mid-run: the other tab finishes every workflow', async ({
  context,
}, testInfo) => {
  const db = dbName(testInfo);
  const tab1 = await openTab(context, db);
  const tab2 = await openTab(context, db);
  // Started from tab 2 and run by tab 1's worker (it leads: it came first).
  await startOrders(tab2, 'c', 20, { delayMs: 1_500 });
  await expect
    .poll(() =>
      tab2.evaluate(() =>
        window.weft.effects().then((e) => e.filter((x) => x.activity === 'reserve').length),
      ),
    )
    .toBe(20);
  await tab1.close();
  expect(await awaitAll(tab2, ids('c', 20))).toEqual([]);
  expect(await historyProblems(tab2, ids('c', 20))).toEqual([]);
});

test('a frozen leader tab: another takes over after the lease; once thawed, its stale commits are refused', async ({
  context,
}, testInfo) => {
  const db = dbName(testInfo);
  const lease = '&lease=3000';
  const tab1 = await openTab(context, db, lease);
  const tab2 = await openTab(context, db, lease);
  await startOrders(tab1, 'f', 20, { delayMs: 3_000 });
  // Frozen once every order sleeps (TimerStarted is event 11): no commit of theirs is then in
  // flight, whose open transaction a paused worker would hold (see below).
  await expect
    .poll(() =>
      tab2.evaluate(async () => {
        const runs = await window.weft.client.workflow.list({ workflowType: 'order' });
        return runs.filter((run) => run.historyLength >= 11).length;
      }),
    )
    .toBe(20);
  // Freeze tab 1 with the DevTools protocol. Headless Chromium 156 neither freezes the page nor
  // its workers on `Page.setWebLifecycleState` alone (its timers keep firing, measured), so
  // tab 1's engine worker is frozen too, through its debugger: no task of it runs until resumed.
  // (Unlike a frozen tab, which Chromium evicts when it holds up others' IndexedDB transactions,
  // a paused worker would hold an open transaction for ever: hence the quiet moment above.)
  const cdp = await context.newCDPSession(tab1);
  const workerSession = new Promise<string>((resolve) =>
    cdp.on('Target.attachedToTarget', (event) => {
      if (event.targetInfo.type === 'worker') resolve(event.sessionId);
    }),
  );
  await cdp.send('Target.setAutoAttach', { autoAttach: true, waitForDebuggerOnStart: false, flatten: false });
  const sessionId = await workerSession;
  let messageId = 0;
  const toWorker = (method: string) =>
    cdp.send('Target.sendMessageToTarget', {
      sessionId,
      message: JSON.stringify({ id: ++messageId, method, params: {} }),
    });
  await cdp.send('Page.setWebLifecycleState', { state: 'frozen' });
  await toWorker('Debugger.enable');
  await toWorker('Debugger.pause');
  // Tab 1's worker stops renewing its lease: tab 2's takes over and finishes the orders.
  expect(await awaitAll(tab2, ids('f', 20))).toEqual([]);
  // Another host recorded `ship` than the one that recorded `reserve`: the lease changed hands.
  const identities = await tab2.evaluate(async () => {
    const { events } = await window.weft.client.workflow.getHandle('f-0').fetchHistory();
    return events
      .filter((e) => e.eventType === 'ActivityTaskStarted')
      .map((e) => (e.attributes as { identity?: string }).identity);
  });
  expect(identities).toHaveLength(2);
  expect(identities[0]).not.toBe(identities[1]);
  await toWorker('Debugger.resume');
  await cdp.send('Page.setWebLifecycleState', { state: 'active' });
  // Tab 1 wakes up with timers due and writes in memory: the fence refuses them, and it
  // follows the new leader; it sees the orders completed, histories unchanged.
  expect(await awaitAll(tab1, ids('f', 20))).toEqual([]);
  expect(await historyProblems(tab1, ids('f', 20))).toEqual([]);
  // What is durable agrees: with tab 2 closed, whoever leads next reads it from IndexedDB.
  await tab2.close();
  const tab3 = await openTab(context, db, lease);
  expect(await awaitAll(tab3, ids('f', 20))).toEqual([]);
  expect(await historyProblems(tab3, ids('f', 20))).toEqual([]);
});

test('another tab upgrades the database: this tab’s engine lets go at once, and its page hears of it', async ({
  context,
}, testInfo) => {
  const db = dbName(testInfo);
  const tab1 = await openTab(context, db);
  await startOrders(tab1, 'v', 1, { delayMs: 0 });
  expect(await awaitAll(tab1, ids('v', 1))).toEqual([]);
  await tab1.evaluate(() => {
    const w = window as unknown as { versionChanges: unknown[] };
    w.versionChanges = [];
    window.weft.client.addEventListener('versionchange', (event) =>
      w.versionChanges.push((event as CustomEvent<{ newVersion: number | null }>).detail.newVersion),
    );
  });

  // A newer build in another tab opens the database at a higher version: not blocked.
  const tab2 = await context.newPage();
  await tab2.goto('/test/e2e/pages/blank.html');
  const opened = await tab2.evaluate(
    (name) =>
      new Promise<string>((resolve) => {
        const request = indexedDB.open(name, 99);
        request.onblocked = () => resolve('blocked');
        request.onsuccess = () => {
          request.result.close();
          resolve('opened');
        };
        request.onerror = () => resolve(`error: ${request.error?.message}`);
      }),
    db,
  );
  expect(opened).toBe('opened');

  // Tab 1 is told, in an event; its calls then fail clearly instead of hanging.
  await expect
    .poll(() => tab1.evaluate(() => (window as unknown as { versionChanges: unknown[] }).versionChanges))
    .toEqual([99]);
  const error = await tab1.evaluate(async () => {
    try {
      await window.weft.client.workflow.list();
      return 'answered';
    } catch (e) {
      return `${(e as Error).name}: ${(e as Error).message}`;
    }
  });
  expect(error).toMatch(/^SchemaMismatchError: .*upgraded to version 99/);
  await expect(tab1.locator('#log')).toContainText('upgraded by another tab');
});
