/**
 * Hand-made Comlink messages to the engine worker (issue 16), in real Chromium: a page (or
 * anything that holds the worker's port) may post any wire message, not only what the client
 * sends. Comlink follows a message's path property by property from the exposed object, so a
 * path through `__proto__`, `constructor` or `prototype` would reach and change
 * `Object.prototype` and the other built-ins of the worker. The worker refuses every message
 * that is not a call of one of its API's methods, answers it with an error, and keeps serving.
 */
import { expect, type Page, test, type Worker } from '@playwright/test';
import type {} from './pages/pool.ts';

const RAW = (value: unknown) => ({ type: 'RAW', value });

/** Messages a client never sends; each tries a path out of the API and into the built-ins. */
const messages: Record<string, unknown>[] = [
  { type: 'GET', path: ['__proto__', 'polluted'] },
  { type: 'SET', path: ['__proto__', 'polluted'], value: RAW('yes') },
  { type: 'SET', path: ['constructor', 'prototype', 'polluted'], value: RAW('yes') },
  // Each property of the exposed object is a function, whose prototype chain ends at Object's.
  { type: 'SET', path: ['start', '__proto__', '__proto__', '__proto__', 'polluted'], value: RAW('yes') },
  { type: 'SET', path: ['start', 'constructor', 'prototype', 'polluted'], value: RAW('yes') },
  { type: 'SET', path: ['start', 'apply', 'polluted'], value: RAW('yes') },
  { type: 'APPLY', path: ['start', '__proto__'], argumentList: [] },
  { type: 'APPLY', path: ['constructor'], argumentList: [RAW('x')] },
  { type: 'APPLY', path: ['start', 'constructor', 'constructor'], argumentList: [RAW('return 1')] },
  { type: 'APPLY', path: ['__defineGetter__'], argumentList: [RAW('polluted'), RAW(1)] },
  { type: 'GET', path: ['constructor', 'prototype'] },
  { type: 'CONSTRUCT', path: ['start'], argumentList: [] },
  { type: 'ENDPOINT', path: [] },
  { type: 'APPLY', path: 'start', argumentList: [] },
  { type: 'APPLY', path: ['count'], argumentList: [{ type: 'HANDLER', name: 'throw', value: {} }] },
];

/** The engine worker, as Playwright sees it (to look inside it). */
async function engineWorker(page: Page): Promise<Worker> {
  await expect.poll(() => page.workers().length).toBeGreaterThan(0);
  return page.workers()[0]!;
}

/** What `polluted` reads on every built-in the paths above could reach. */
const pollution = () => {
  const probe = (o: unknown) => (o as { polluted?: unknown }).polluted;
  const fn = () => undefined;
  return [
    probe({}),
    probe([]),
    probe(fn),
    probe(Object.getPrototypeOf(async () => undefined)),
    probe(Function.prototype.apply),
    Object.getOwnPropertyNames(Object.prototype).includes('polluted'),
  ];
};

test('raw Comlink messages with paths out of the API are refused; nothing is polluted; the worker keeps serving', async ({
  page,
}, testInfo) => {
  const db = `e2e-raw-${testInfo.workerIndex}-${Date.now().toString(36)}`;
  await page.goto(`/test/e2e/pages/pool.html?db=${encodeURIComponent(db)}&workers=w1:default`);
  await page.waitForFunction(() => window.pool !== undefined);

  const replies = await page.evaluate(async (sent) => {
    const worker = window.pool!.workers[0]!;
    const replies: Record<string, unknown> = {};
    worker.addEventListener('message', (event: MessageEvent) => {
      const data = event.data as { weftBatch?: unknown[] } | null;
      for (const message of data?.weftBatch ?? [data]) {
        const id = (message as { id?: unknown } | null)?.id;
        if (typeof id === 'string' && id.startsWith('raw-')) replies[id] = message;
      }
    });
    sent.forEach((message, i) => {
      worker.postMessage({ id: `raw-${i}`, ...message });
    });
    // The worker answers in order: by the time a call made after them is answered, they are.
    await window.pool!.client.workflow.count();
    return replies;
  }, messages);

  // Each got an error back, saying why.
  expect(Object.keys(replies).sort()).toEqual(messages.map((_, i) => `raw-${i}`).sort());
  for (const [i, message] of messages.entries()) {
    expect(replies[`raw-${i}`], JSON.stringify(message)).toMatchObject({
      type: 'HANDLER',
      name: 'throw',
      value: {
        isError: true,
        value: { name: 'InvalidArgumentError', message: expect.stringMatching(/^weft refused a Comlink /) },
      },
    });
  }
  expect((replies['raw-1'] as { value: { value: { message: string } } }).value.value.message).toContain(
    "'__proto__'",
  );

  // Nothing changed in the worker, nor in the page.
  const clean = [undefined, undefined, undefined, undefined, undefined, false];
  expect(await (await engineWorker(page)).evaluate(pollution)).toEqual(clean);
  expect(await page.evaluate(pollution)).toEqual(clean);

  // It still answers its clients, through the same port.
  const result = await page.evaluate(async () => {
    const wf = window.pool!.client.workflow;
    const handle = await wf.start('poolCollector', { workflowId: 'after-raw', args: [1] });
    await handle.signal('addItem', 'still serving');
    return handle.result();
  });
  expect(result).toEqual(['still serving']);
});
