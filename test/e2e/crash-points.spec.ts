/**
 * A crash at each point of a commit to IndexedDB, in the browser: before its writes, after
 * them (not committed), and after the commit before anyone is told. Whatever the point, what
 * was acknowledged is there after a reload, the crashed commit is there whole or not at all,
 * and every execution goes on.
 */
import { expect, type Page, type TestInfo, test } from '@playwright/test';
import type { HistoryEvent } from '../../src/client/index.ts';
import type {} from './pages/faults.ts';

const HOUR = 3_600_000;

async function openFaults(page: Page, db: string): Promise<void> {
  await page.goto(`/test/e2e/pages/faults.html?db=${encodeURIComponent(db)}`);
  await page.waitForFunction(() => window.faults !== undefined);
}

function historyOf(page: Page, workflowId: string): Promise<HistoryEvent[] | string> {
  return page.evaluate(async (id) => {
    try {
      return (await window.faults!.client.workflow.getHandle(id).fetchHistory()).events;
    } catch (error) {
      return (error as Error).name;
    }
  }, workflowId);
}

/** Event IDs 1, 2, 3...: none missing, none twice. */
function contiguous(events: HistoryEvent[]): boolean {
  return events.every((e, i) => e.eventId === i + 1);
}

for (const point of ['before-writes', 'after-writes', 'after-commit'] as const) {
  test(`a crash ${point.replace('-', ' ')} of a commit: the acknowledged stays, the crashed commit is whole or absent, all goes on`, async ({
    page,
  }, testInfo: TestInfo) => {
    const db = `e2e-crash-${point}-${testInfo.workerIndex}-${Date.now().toString(36)}`;
    await openFaults(page, db);
    // Acknowledged before the crash: three starts and two signals.
    await page.evaluate(async (hour) => {
      const { workflow } = window.faults!.client;
      for (let i = 0; i < 3; i++) await workflow.start('napper', { workflowId: `nap-${i}`, args: [hour] });
      const notebook = await workflow.start('notebook', { workflowId: 'notebook', args: [3] });
      await notebook.signal('note', 'one');
      await notebook.signal('note', 'two');
    }, HOUR);

    // The commit of this start crashes at `point`; its caller is never answered.
    await page.evaluate(async (p) => {
      await window.faults!.arm(p, 'crashed-start');
      void window
        .faults!.client.workflow.start('napper', { workflowId: 'crashed-start', args: [10] })
        .catch(() => undefined);
    }, point);
    await page.waitForFunction((p) => window.faults!.crashed === p, point);

    // A new worker on the same database.
    await openFaults(page, db);
    for (const id of ['nap-0', 'nap-1', 'nap-2', 'notebook']) {
      const events = await historyOf(page, id);
      expect(Array.isArray(events) && contiguous(events), id).toBe(true);
    }
    const crashed = await historyOf(page, 'crashed-start');
    if (point === 'after-commit') {
      // Committed, though never acknowledged: it is there whole, and runs to its end.
      expect(Array.isArray(crashed) && contiguous(crashed)).toBe(true);
      const result = await page.evaluate(() =>
        window.faults!.client.workflow.getHandle('crashed-start').result(),
      );
      expect(result).toHaveLength(2);
    } else {
      // Never committed: not a trace of it.
      expect(crashed).toBe('WorkflowNotFoundError');
    }
    // The notebook has both signals and takes a third.
    const notes = await page.evaluate(async () => {
      const handle = window.faults!.client.workflow.getHandle<string[]>('notebook');
      await handle.signal('note', 'three');
      return handle.result();
    });
    expect(notes).toEqual(['one', 'two', 'three']);
  });
}
