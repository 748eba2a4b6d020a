/**
 * A client and the life of its worker (issue 16), in real Chromium: a call made before the
 * worker is ready waits for it and is answered; a worker that is terminated with calls in
 * flight fails them, and every later call, with `EngineGoneError` (the worker holds a Web Lock
 * while it lives, and the client is granted it once the worker is gone), never leaving one to
 * wait for ever.
 */
import { expect, type Page, type TestInfo, test } from '@playwright/test';
import type {} from './pages/connect.ts';

function dbName(testInfo: TestInfo): string {
  const slug = testInfo.title.replace(/[^a-z0-9]+/gi, '-').slice(0, 24);
  return `e2e-conn-${slug}-${testInfo.workerIndex}-${Date.now().toString(36)}`;
}

async function openHarness(page: Page): Promise<void> {
  await page.goto('/test/e2e/pages/connect.html');
  await page.waitForFunction(() => window.harness !== undefined);
}

/** Whether a worker of this origin holds its host lock (`weft-host:<name>-...`): its script runs. */
function workerLockHeld(page: Page, name: string): Promise<boolean> {
  return page.evaluate(
    async (prefix) => ((await navigator.locks.query()).held ?? []).some((l) => l.name?.startsWith(prefix)),
    `weft-host:${name}-`,
  );
}

test('a start called right after connect, while the worker cannot open its database yet, waits and succeeds', async ({
  page,
}, testInfo) => {
  const db = dbName(testInfo);
  await openHarness(page);
  // A first worker makes the database (its schema), then goes.
  await page.evaluate(async (db) => {
    const { harness } = window;
    const worker = harness!.worker(db, 'maker');
    await (await harness!.connect(worker)).workflow.count();
    worker.terminate();
  }, db);
  await expect.poll(() => workerLockHeld(page, 'maker')).toBe(false);

  // The page holds every store: the next worker's load of the database waits behind it.
  await page.evaluate(async (db) => {
    const held = await window.harness!.hold(db);
    const worker = window.harness!.worker(db, 'late');
    const client = await window.harness!.connect(worker);
    // At once: the worker has not even started its script.
    const call = client.workflow.start('poolCollector', { workflowId: 'early', args: [1] });
    const state = { settled: false, call, held, client };
    call.then(
      () => {
        state.settled = true;
      },
      () => {
        state.settled = true;
      },
    );
    (window as unknown as { early: typeof state }).early = state;
  }, db);
  // The worker runs (it holds its lock) and is opening the database, which it cannot read yet.
  await expect.poll(() => workerLockHeld(page, 'late')).toBe(true);
  expect(
    await page.evaluate(() => (window as unknown as { early: { settled: boolean } }).early.settled),
  ).toBe(false);

  // Let go: the worker opens the database, and the call that waited is answered.
  const result = await page.evaluate(async () => {
    const { early } = window as unknown as {
      early: {
        call: Promise<{
          workflowId: string;
          firstExecutionRunId?: string;
          signal(n: string, a: string): Promise<void>;
          result(): Promise<unknown>;
        }>;
        held: { release(): Promise<void> };
      };
    };
    await early.held.release();
    const handle = await early.call;
    await handle.signal('addItem', 'after the wait');
    return {
      workflowId: handle.workflowId,
      runId: handle.firstExecutionRunId,
      result: await handle.result(),
    };
  });
  expect(result).toMatchObject({
    workflowId: 'early',
    runId: expect.any(String),
    result: ['after the wait'],
  });
});

test('a worker terminated with a call in flight fails it, and every later call, with EngineGoneError', async ({
  page,
}, testInfo) => {
  const db = dbName(testInfo);
  await openHarness(page);
  const outcome = await page.evaluate(async (db) => {
    const { harness } = window;
    const worker = harness!.worker(db, 'doomed');
    const client = await harness!.connect(worker);
    const handle = await client.workflow.start('poolCollector', { workflowId: 'cut-off', args: [2] });
    // In flight: the run waits for two signals that never come.
    const settle = (p: Promise<unknown>) =>
      p.then(
        () => ({ resolved: true }),
        (e: Error) => ({ name: e.name, typed: e instanceof harness!.EngineGoneError, message: e.message }),
      );
    const inFlight = settle(handle.result());
    const terminatedAt = performance.now();
    worker.terminate();
    // Sent to a worker that has just gone, before anyone could know.
    const justAfter = settle(handle.describe());
    const first = await inFlight;
    const noticedMs = performance.now() - terminatedAt;
    return {
      first,
      justAfter: await justAfter,
      later: await settle(client.workflow.count()),
      laterSignal: await settle(handle.signal('addItem', 'x')),
      noticedMs,
    };
  }, db);
  const gone = {
    name: 'EngineGoneError',
    typed: true,
    message: expect.stringContaining("The engine's worker is gone"),
  };
  expect(outcome).toMatchObject({ first: gone, justAfter: gone, later: gone, laterSignal: gone });
  // The lock is released with the worker: noticed at once, well within the bound.
  expect(outcome.noticedMs).toBeLessThan(5_000);
});
