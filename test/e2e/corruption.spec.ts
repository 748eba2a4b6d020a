/**
 * Corrupt or foreign records in real Chromium: the page damages records of the engine's
 * IndexedDB database directly (a connection of its own, while no engine runs), the playground's
 * worker starts again on it, and each damaged run is quarantined (blocked with the reason, shown
 * so in the playground) while the other runs, and new ones, go on.
 */
import { expect, type TestInfo, test } from '@playwright/test';
import type { OrderStatus } from '../../demo/defs.ts';
import type {} from '../../demo/page-api.ts';

function dbName(testInfo: TestInfo): string {
  const slug = testInfo.title.replace(/[^a-z0-9]+/gi, '-').slice(0, 32);
  return `e2e-corrupt-${slug}-${Date.now().toString(36)}`;
}

/** The runs whose histories the page damages, each in its own way (see below). */
const DAMAGED = ['unknown-type', 'gap', 'duplicate', 'proto', 'cut-off'] as const;

test('damaged records quarantine their runs, the playground shows why, and the others go on', async ({
  page,
}, testInfo) => {
  const db = dbName(testInfo);
  await page.goto(`/?db=${encodeURIComponent(db)}`);
  await page.waitForFunction((d) => window.weft?.db === d, db);
  const ids = ['healthy', ...DAMAGED];
  const runIds: Record<string, string> = {};
  for (const id of ids) {
    runIds[id] = await page.evaluate(async (id) => {
      const handle = await window.weft.client.workflow.start('order', {
        workflowId: id,
        args: [{ item: id, delayMs: 0, requireApproval: true }],
      });
      return handle.firstExecutionRunId!;
    }, id);
  }
  // Each waits for its approval, its activity and timer done (a query answers once durable).
  for (const id of ids) {
    await expect
      .poll(() =>
        page.evaluate((id) => window.weft.client.workflow.getHandle(id).query<OrderStatus>('status'), id),
      )
      .toMatchObject({ stage: 'awaiting-approval' });
  }
  const lengths: Record<string, number> = {};
  for (const id of ids)
    lengths[id] = await page.evaluate(
      async (id) => (await window.weft.client.workflow.getHandle(id).describe()).historyLength,
      id,
    );

  // No engine on the database while the page damages it, straight through IndexedDB.
  await page.evaluate(
    ([db, runIds]) =>
      window.weft.restartWorker(
        () =>
          new Promise<void>((resolve, reject) => {
            type Event = { eventId: number; eventType: string; attributes: unknown };
            const damage: Record<string, (e: Event) => Event[]> = {
              'unknown-type': (e) => [e.eventId === 2 ? { ...e, eventType: 'BogusEvent' } : e],
              gap: (e) => (e.eventId === 3 ? [] : [e]),
              duplicate: (e) => (e.eventId === 3 ? [e, e] : [e]),
              proto: (e) =>
                e.eventId === 2 ? [{ ...e, attributes: JSON.parse('{"__proto__":{"polluted":true}}') }] : [e],
              'cut-off': (e) => (e.eventId >= 4 ? [] : [e]),
            };
            const byRun = new Map(Object.entries(damage).map(([id, fn]) => [runIds[id]!, fn]));
            const open = indexedDB.open(db);
            open.onerror = () => reject(open.error);
            open.onsuccess = () => {
              const database = open.result;
              const tx = database.transaction('packs', 'readwrite');
              const cursor = tx.objectStore('packs').openCursor();
              cursor.onsuccess = () => {
                const at = cursor.result;
                if (!at) return;
                const pack = at.value as { runs: string[]; chunks: { runId: string; events: Event[] }[] };
                const chunks = pack.chunks.map((chunk) => {
                  const fn = byRun.get(chunk.runId);
                  return fn ? { ...chunk, events: chunk.events.flatMap(fn) } : chunk;
                });
                at.update({ ...pack, chunks });
                at.continue();
              };
              tx.oncomplete = () => {
                database.close();
                resolve();
              };
              tx.onerror = () => reject(tx.error);
            };
          }),
      ),
    [db, runIds] as const,
  );

  // Every run is approved: the healthy one completes, each damaged one is quarantined.
  for (const id of ids)
    await page.evaluate((id) => window.weft.client.workflow.getHandle(id).signal('approve', 'e2e'), id);
  expect(
    await page.evaluate(
      async () => (await window.weft.client.workflow.getHandle('healthy').result()) as unknown,
    ),
  ).toMatchObject({ item: 'healthy', approvedBy: 'e2e' });
  const reasons: Record<(typeof DAMAGED)[number], RegExp> = {
    'unknown-type': /event 2 has an unknown event type "BogusEvent"/,
    gap: /skips from event 2 to 4/,
    duplicate: /event 3 is stored twice/,
    proto: /event 2 \(WorkflowTaskScheduled\) has a __proto__ key in its attributes/,
    'cut-off': /the history ends at event 3, but the run has \d+ events/,
  };
  for (const id of DAMAGED) {
    const describe = () =>
      page.evaluate(async (id) => {
        const d = await window.weft.client.workflow.getHandle(id).describe();
        return { status: d.status, reason: d.blocked?.reason ?? '', historyLength: d.historyLength };
      }, id);
    await expect.poll(async () => (await describe()).reason).toMatch(reasons[id]);
    expect(await describe()).toMatchObject({ status: 'RUNNING', historyLength: lengths[id] });
  }

  // The playground shows a quarantined run as blocked, with the reason, and no timeline.
  await page.evaluate(() => window.weft.select('unknown-type'));
  await expect(page.getByTestId('blocked')).toContainText(
    'Corrupt records: event 2 has an unknown event type',
  );
  await expect(page.getByTestId('history-error')).toContainText('CorruptRecordError');
  await expect(page.locator('#executions tr', { hasText: 'unknown-type' })).toContainText(
    'RUNNING (blocked)',
  );

  // The engine takes new work, and nothing leaked into Object.prototype.
  expect(
    await page.evaluate(() =>
      window.weft.client.workflow.execute('order', {
        workflowId: 'after',
        args: [{ item: 'after', delayMs: 0 }],
      }),
    ),
  ).toMatchObject({ item: 'after' });
  expect(await page.evaluate(() => ({}) as { polluted?: unknown }).then((o) => o.polluted)).toBeUndefined();
});
