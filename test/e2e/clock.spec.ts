/**
 * Time in the browser: a wall clock set forward and back while timers wait, and a hidden tab's
 * timers. The engine's timers are durable records with a due time; whatever the clock does,
 * each fires once, none is lost, and replay sees the times the history recorded.
 */
import { expect, type Page, type TestInfo, test } from '@playwright/test';
import type { HistoryEvent } from '../../src/client/index.ts';
import { replayHistory } from '../../src/temporal/index.ts';
import type {} from './pages/clock.ts';
import * as workflows from './pages/clock-workflows.ts';

const HOUR = 3_600_000;

function dbName(testInfo: TestInfo): string {
  return `e2e-clock-${testInfo.workerIndex}-${Date.now().toString(36)}`;
}

async function openClock(page: Page, db: string): Promise<void> {
  await page.goto(`/test/e2e/pages/clock.html?db=${encodeURIComponent(db)}`);
  await page.waitForFunction(() => window.clock !== undefined);
}

/** Starts `count` nappers of `ms`, all at once. */
function startNappers(page: Page, prefix: string, count: number, ms: number): Promise<void> {
  return page.evaluate(
    async ([p, n, d]) => {
      await Promise.all(
        Array.from({ length: n }, (_, i) =>
          window.clock!.client.workflow.start('napper', { workflowId: `${p}-${i}`, args: [d] }),
        ),
      );
    },
    [prefix, count, ms] as const,
  );
}

function results(page: Page, prefix: string, count: number): Promise<[number, number][]> {
  return page.evaluate(
    ([p, n]) =>
      Promise.all(
        Array.from({ length: n }, (_, i) =>
          window.clock!.client.workflow.getHandle<[number, number]>(`${p}-${i}`).result(),
        ),
      ),
    [prefix, count] as const,
  );
}

function histories(page: Page, prefix: string, count: number): Promise<HistoryEvent[][]> {
  return page.evaluate(
    ([p, n]) =>
      Promise.all(
        Array.from({ length: n }, async (_, i) => {
          const { events } = await window.clock!.client.workflow.getHandle(`${p}-${i}`).fetchHistory();
          return events;
        }),
      ),
    [prefix, count] as const,
  );
}

const count = (events: HistoryEvent[], type: string) => events.filter((e) => e.eventType === type).length;

test('a clock set forward past waiting timers fires them, once each; set back, new timers are not held up; replay sees the recorded times', async ({
  page,
}, testInfo) => {
  const db = dbName(testInfo);
  await openClock(page, db);

  // An hour's timers, and the machine's clock set two hours ahead: they are due, and fire.
  await startNappers(page, 'ahead', 5, HOUR);
  await page.evaluate(() => window.clock!.shift(2 * 3_600_000));
  const ahead = await results(page, 'ahead', 5);
  for (const [before, after] of ahead) expect(after - before).toBeGreaterThanOrEqual(HOUR);

  // Set three hours back: a two-second timer still fires after two seconds of waiting, not
  // three hours later, and the workflow's clock did not run backwards.
  await page.evaluate(() => window.clock!.shift(-3 * 3_600_000));
  await startNappers(page, 'behind', 3, 2_000);
  const behind = await results(page, 'behind', 3);
  for (const [before, after] of behind) {
    expect(after - before).toBeGreaterThanOrEqual(2_000);
    expect(after - before).toBeLessThan(HOUR);
    expect(before).toBeGreaterThanOrEqual(Math.max(...ahead.map(([, a]) => a)));
  }

  // Each timer fired once; the histories replay with the same code, their times as recorded.
  for (const [prefix, n] of [
    ['ahead', 5],
    ['behind', 3],
  ] as const) {
    for (const events of await histories(page, prefix, n)) {
      expect(count(events, 'TimerStarted')).toBe(1);
      expect(count(events, 'TimerFired')).toBe(1);
      expect(count(events, 'WorkflowExecutionCompleted')).toBe(1);
      await expect(replayHistory({ workflows }, { events })).resolves.toBeUndefined();
    }
  }
});

/**
 * Pauses a page and its engine worker through the DevTools protocol (headless Chromium has no
 * hidden tabs: a page in the background stays `visible` there, measured; and it neither
 * freezes a page nor its workers on `Page.setWebLifecycleState` alone): no timer of either
 * wakes until `resume`, the extreme of a background tab's throttled wake-ups.
 */
async function freeze(page: Page): Promise<{ resume(): Promise<void> }> {
  const cdp = await page.context().newCDPSession(page);
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
  return {
    async resume() {
      await toWorker('Debugger.resume');
      await cdp.send('Page.setWebLifecycleState', { state: 'active' });
    },
  };
}

test('a tab whose timers cannot wake: once it does, its 100 one-second timers all fire, each once, none early, in the order they were due', async ({
  page,
}, testInfo) => {
  test.setTimeout(120_000);
  const db = dbName(testInfo);
  await openClock(page, db);
  await startNappers(page, 'asleep', 100, 1_000);
  // A quiet moment first: every timer recorded (no transaction of the worker is left open).
  await expect
    .poll(async () =>
      (await histories(page, 'asleep', 100)).every((events) => count(events, 'TimerStarted') === 1),
    )
    .toBe(true);
  const frozen = await freeze(page);
  const frozenAt = Date.now();
  // The timers come due while nothing in the tab can wake.
  await expect.poll(() => Date.now() - frozenAt, { timeout: 10_000 }).toBeGreaterThan(2_500);
  await frozen.resume();

  const woke = await results(page, 'asleep', 100);
  expect(woke).toHaveLength(100);
  const fired: { i: number; due: number; at: number }[] = [];
  (await histories(page, 'asleep', 100)).forEach((events, i) => {
    expect(count(events, 'TimerFired')).toBe(1);
    const started = events.find((e) => e.eventType === 'TimerStarted')!;
    const at = events.find((e) => e.eventType === 'TimerFired')!.eventTime;
    fired.push({ i, due: started.eventTime + 1_000, at });
  });
  for (const { due, at } of fired) expect(at).toBeGreaterThanOrEqual(due);
  // Most came due while the tab was frozen and fired at its first wake-up.
  expect(fired.filter(({ at }) => at >= frozenAt + 2_500).length).toBeGreaterThan(50);
  // In the order they were due: sorted by due time, their firing times never go back.
  const byDue = [...fired].sort((a, b) => a.due - b.due || a.i - b.i);
  for (let k = 1; k < byDue.length; k++) expect(byDue[k]!.at).toBeGreaterThanOrEqual(byDue[k - 1]!.at);
});
