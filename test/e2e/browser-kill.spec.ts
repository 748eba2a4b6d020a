/**
 * The browser process killed (SIGKILL: no unload, no flush, no goodbye) and launched again on
 * the same profile: every commit the page was told of is there, and the work goes on.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { type BrowserContext, chromium, expect, type Page, test } from '@playwright/test';
import { chromiumLaunchOptions } from '../../browser.mjs';
import type { HistoryEvent } from '../../src/client/index.ts';
import type {} from './pages/clock.ts';

const HOUR = 3_600_000;

async function launch(profile: string, baseURL: string): Promise<{ context: BrowserContext; page: Page }> {
  const context = await chromium.launchPersistentContext(profile, { ...chromiumLaunchOptions(), baseURL });
  const page = context.pages()[0] ?? (await context.newPage());
  await page.goto('/test/e2e/pages/clock.html?db=killed');
  await page.waitForFunction(() => window.clock !== undefined);
  return { context, page };
}

function historyOf(page: Page, workflowId: string): Promise<HistoryEvent[]> {
  return page.evaluate(
    async (id) => (await window.clock!.client.workflow.getHandle(id).fetchHistory()).events,
    workflowId,
  );
}

// biome-ignore lint/correctness/noEmptyPattern: Playwright reads the fixtures a test uses from its first parameter's pattern; this one launches its own browser.
test('every acknowledged commit survives the browser process killed and relaunched on its profile', async ({}, testInfo) => {
  test.setTimeout(120_000);
  const baseURL = testInfo.project.use.baseURL!;
  const profile = mkdtempSync(path.join(os.tmpdir(), 'weft-e2e-profile-'));
  try {
    const first = await launch(profile, baseURL);
    // Acknowledged: a completed run, 20 starts, 5 signals (each awaited: the page was told).
    const done = await first.page.evaluate(() =>
      window.clock!.client.workflow.execute('napper', { workflowId: 'done', args: [10] }),
    );
    await first.page.evaluate(async (hour) => {
      const { workflow } = window.clock!.client;
      for (let i = 0; i < 20; i++) await workflow.start('napper', { workflowId: `nap-${i}`, args: [hour] });
      const notebook = await workflow.start('notebook', { workflowId: 'notebook', args: [6] });
      for (let i = 0; i < 5; i++) await notebook.signal('note', `note-${i}`);
    }, HOUR);

    // Every process of that browser, at once: no chance to write anything more.
    const closed = new Promise<void>((resolve) => first.context.once('close', () => resolve()));
    execFileSync('pkill', ['-KILL', '-f', '--', profile]);
    await closed;

    const second = await launch(profile, baseURL);
    try {
      const { page } = second;
      expect(await page.evaluate(() => window.clock!.client.workflow.getHandle('done').result())).toEqual(
        done,
      );
      for (let i = 0; i < 20; i++) {
        const events = await historyOf(page, `nap-${i}`);
        expect(events.filter((e) => e.eventType === 'WorkflowExecutionStarted')).toHaveLength(1);
      }
      // The five signals are there, and the work goes on: a sixth completes the notebook.
      const notes = await page.evaluate(async () => {
        const handle = window.clock!.client.workflow.getHandle<string[]>('notebook');
        await handle.signal('note', 'note-5');
        return handle.result();
      });
      expect(notes).toEqual(['note-0', 'note-1', 'note-2', 'note-3', 'note-4', 'note-5']);
      // The hour's timers wait on, each once, and fire when the clock gets there.
      await page.evaluate(() => window.clock!.shift(2 * 3_600_000));
      const woke = await page.evaluate(() =>
        Promise.all(
          Array.from({ length: 20 }, (_, i) => window.clock!.client.workflow.getHandle(`nap-${i}`).result()),
        ),
      );
      expect(woke).toHaveLength(20);
      for (let i = 0; i < 20; i++) {
        const events = await historyOf(page, `nap-${i}`);
        expect(events.filter((e) => e.eventType === 'TimerFired')).toHaveLength(1);
      }
    } finally {
      await second.context.close();
    }
  } finally {
    rmSync(profile, { recursive: true, force: true });
  }
});
