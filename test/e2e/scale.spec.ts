/**
 * Scale in real Chromium: a database that holds many closed executions opens and runs as an
 * empty one does (the figures are `npm run bench`'s open100k; here, correctness at a smaller
 * size), lists them a page at a time from its indexes, and retention deletes them, a whole
 * execution at a time even when the tab reloads in the middle.
 */
import { expect, type Page, type TestInfo, test } from '@playwright/test';
import type {} from '../../demo/page-api.ts';

function dbName(testInfo: TestInfo): string {
  const slug = testInfo.title.replace(/[^a-z0-9]+/gi, '-').slice(0, 30);
  return `e2e-${slug}-${Date.now().toString(36)}`;
}

async function openPlayground(page: Page, db: string, query = ''): Promise<void> {
  await page.goto(`/?db=${encodeURIComponent(db)}${query}`);
  await page.waitForFunction((d) => window.weft !== undefined && window.weft.db === d, db);
}

/** Runs `n` `doubler` workflows to completion from the page, 100 at a time. */
function fill(page: Page, n: number, prefix: string): Promise<void> {
  return page.evaluate(
    async ([count, p]) => {
      const wf = window.weft.client.workflow;
      for (let i = 0; i < count; i += 100) {
        await Promise.all(
          Array.from({ length: Math.min(100, count - i) }, (_, j) =>
            wf.execute('doubler', { workflowId: `${p}-${i + j}`, args: [i + j] }),
          ),
        );
      }
    },
    [n, prefix] as const,
  );
}

const count = (page: Page, filter = {}) =>
  page.evaluate(async (f) => (await window.weft.client.workflow.count(f)).count, filter);

test('a database of 1,500 closed executions opens and runs on each reload, and pages through them from its indexes', async ({
  page,
}, testInfo) => {
  test.setTimeout(120_000);
  const db = dbName(testInfo);
  await openPlayground(page, db);
  await fill(page, 1_500, 'old');
  for (let open = 1; open <= 3; open++) {
    // As a user reopening the tab: the page and its worker go, a new one opens the database.
    await openPlayground(page, db);
    expect(
      await page.evaluate(
        (id) => window.weft.client.workflow.execute('doubler', { workflowId: id, args: [21] }),
        `new-${open}`,
      ),
    ).toBe(42);
    expect(await count(page)).toBe(1_500 + open);
    expect(await count(page, { status: 'COMPLETED', workflowType: 'doubler' })).toBe(1_500 + open);
  }
  // A closed execution from before is read from disk, with its history.
  expect(
    await page.evaluate(async () => {
      const handle = window.weft.client.workflow.getHandle('old-777');
      return [(await handle.describe()).status, (await handle.fetchHistory()).events.at(-1)?.eventType];
    }),
  ).toEqual(['COMPLETED', 'WorkflowExecutionCompleted']);
  // Every execution once across the pages, newest first; starts between pages do not show up.
  const paged = await page.evaluate(async () => {
    const wf = window.weft.client.workflow;
    const ids: string[] = [];
    const times: number[] = [];
    let token: string | undefined;
    let i = 0;
    do {
      const p = await wf.listPage({ pageSize: 200, ...(token && { nextPageToken: token }) });
      ids.push(...p.executions.map((d) => d.workflowId));
      times.push(...p.executions.map((d) => d.startTime.getTime()));
      token = p.nextPageToken;
      await wf.start('doubler', { workflowId: `during-${i++}`, args: [1] });
    } while (token);
    return { ids, sorted: times.every((t, k) => k === 0 || times[k - 1]! >= t) };
  });
  expect(paged.ids).toHaveLength(1_503);
  expect(new Set(paged.ids).size).toBe(1_503);
  expect(paged.ids.some((id) => id.startsWith('during-'))).toBe(false);
  expect(paged.sorted).toBe(true);

  // The playground's table pages too: 50 at a time, with the count from the index.
  await expect(page.locator('#executions tr')).toHaveCount(50);
  await expect(page.locator('#page-info')).toContainText('of 1,5');
  const firstRow = await page.locator('#executions tr').first().getAttribute('data-workflow-id');
  await page.getByRole('button', { name: 'Older' }).click();
  await expect(page.locator('#page-info')).toContainText('51–100');
  await expect(page.locator('#executions tr').first()).not.toHaveAttribute('data-workflow-id', firstRow!);
  await page.getByRole('button', { name: 'Newer' }).click();
  await expect(page.locator('#page-info')).toContainText('1–50');
  // A filter is applied by the engine, not to the page shown.
  await page.locator('#filter-status').selectOption('RUNNING');
  await expect(page.locator('#executions tr')).toHaveCount(0);
});

/** The database as it would load: the stores with the log applied on top, and where history is. */
async function durableState(page: Page, db: string) {
  return page.evaluate(async (name) => {
    const idb = await new Promise<IDBDatabase>((resolve, reject) => {
      const request = indexedDB.open(name);
      request.onsuccess = () => resolve(request.result);
      request.onerror = () => reject(request.error);
    });
    // One transaction for every store: a consistent snapshot, even while the engine folds its
    // log into the stores (store by store, a fold committed between two reads tore the picture).
    const tx = idb.transaction(['executions', 'workflowIds', 'packs', 'log']);
    const all = (store: string) =>
      new Promise<unknown[]>((resolve, reject) => {
        const request = tx.objectStore(store).getAll();
        request.onsuccess = () => resolve(request.result);
        request.onerror = () => reject(request.error);
      });
    const executions = new Map<string, unknown>();
    for (const e of (await all('executions')) as { runId: string }[]) executions.set(e.runId, e);
    const ids = new Map<string, string>();
    for (const w of (await all('workflowIds')) as { workflowId: string; runId: string }[])
      ids.set(w.workflowId, w.runId);
    const withHistory = new Set<string>();
    for (const p of (await all('packs')) as { runs: string[] }[]) for (const r of p.runs) withHistory.add(r);
    type Entry = {
      puts: { table: string; value: { runId: string; workflowId: string } }[];
      deletes: { table: string; key: string }[];
      dropHistory?: string[];
    };
    for (const entry of (await all('log')) as Entry[]) {
      for (const d of entry.deletes) {
        if (d.table === 'executions') executions.delete(d.key);
        if (d.table === 'workflowIds') ids.delete(d.key);
      }
      for (const p of entry.puts) {
        if (p.table === 'executions') executions.set(p.value.runId, p.value);
        if (p.table === 'workflowIds') ids.set(p.value.workflowId, p.value.runId);
      }
      for (const r of entry.dropHistory ?? []) withHistory.delete(r);
    }
    idb.close();
    return {
      executions: [...executions.keys()],
      ids: Object.fromEntries(ids),
      withHistory: [...withHistory],
    };
  }, db);
}

test('retention deletes whole executions: a tab that reloads mid-deletion leaves none half-deleted', async ({
  page,
}, testInfo) => {
  test.setTimeout(120_000);
  const db = dbName(testInfo);
  const n = 3_000;
  await openPlayground(page, db, '&retention=Infinity');
  await fill(page, n, 'r');
  const runs = await page.evaluate(async () => {
    const map: Record<string, string> = {};
    for await (const d of window.weft.client.workflow.list({ pageSize: 1000 })) map[d.workflowId] = d.runId;
    return map;
  });
  // The same database with retention 0: the leader starts deleting, 50 executions a transaction.
  await openPlayground(page, db, '&retention=0');
  await expect.poll(() => count(page), { intervals: [5] }).toBeLessThan(n);
  // Reloaded in the middle of it, where deleting stops.
  await openPlayground(page, db, '&retention=Infinity');
  const left = await count(page);
  expect(left).toBeGreaterThan(0);
  expect(left).toBeLessThan(n);

  const state = await durableState(page, db);
  const present = new Set(state.executions);
  const withHistory = new Set(state.withHistory);
  let deleted = 0;
  for (const [workflowId, runId] of Object.entries(runs)) {
    const has = present.has(runId);
    // All of it or none of it: the record, its workflow-ID record (on disk only where it says more
    // than that the run is the ID's last started, see WorkflowIdRecord), its history.
    const named = state.ids[workflowId];
    expect({
      workflowId,
      record: has,
      id: named === runId || (named === undefined && has),
      history: withHistory.has(runId),
    }).toEqual({
      workflowId,
      record: has,
      id: has,
      history: has,
    });
    if (!has) deleted++;
  }
  expect(deleted).toBeGreaterThan(0);
  expect(deleted + left).toBe(n);
  // What is left is whole: it reads as before, history and all.
  const survivor = Object.keys(runs).find((id) => present.has(runs[id]!))!;
  expect(
    await page.evaluate(
      async (id) => (await window.weft.client.workflow.getHandle(id).fetchHistory()).events.at(-1)?.eventType,
      survivor,
    ),
  ).toBe('WorkflowExecutionCompleted');
});
