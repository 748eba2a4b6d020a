/**
 * The benchmark's workflows. Every exported function is a workflow type, registered under its
 * export name (in the bench worker and in the Node variant alike).
 */
import {
  condition,
  defineQuery,
  executeChild,
  proxyActivities,
  setHandler,
  sleep,
  workflowInfo,
} from '../src/workflow/index.ts';
import type * as activities from './activities.ts';

const { value, increment, one } = proxyActivities<typeof activities>({ startToCloseTimeout: '1 minute' });

/** What `historyOf` has done so far: activities completed and whether it reached its target. */
export const progressQuery = defineQuery<{ total: number; done: boolean }>('progress');

/** fanOut1000: `n` children in parallel, each one activity; returns their sum (n²). */
export async function fanOut(n: number): Promise<number> {
  const results = await Promise.all(
    Array.from({ length: n }, (_, i) => executeChild(fanChild, { args: [i] })),
  );
  return results.reduce((sum, v) => sum + v, 0);
}

export async function fanChild(i: number): Promise<number> {
  return value(i);
}

/** chain1000: `n` children one after another, each one activity adding 1; returns n. */
export async function chain(n: number): Promise<number> {
  let v = 0;
  for (let i = 0; i < n; i++) v = await executeChild(chainStep, { args: [v] });
  return v;
}

export async function chainStep(v: number): Promise<number> {
  return increment(v);
}

/** starts1000 and coldStart: returns its input, in one workflow task. */
export async function echo(x: unknown): Promise<unknown> {
  return x;
}

/** idle10k: waits on a long durable timer. */
export async function idler(): Promise<void> {
  await sleep('1 day');
}

/**
 * replay10k/50k: grows its history to about `targetEvents` events with batches of up to
 * `perBatch` parallel activities (three events each: scheduled, started, completed; plus three
 * per workflow task), then waits for ever. The loop reads `workflowInfo().historyLength`, which
 * replay reproduces.
 */
export async function historyOf(targetEvents: number, perBatch: number): Promise<number> {
  let total = 0;
  let done = false;
  setHandler(progressQuery, () => ({ total, done }));
  // Room left for the last batch's workflow tasks and the final one.
  const slack = 30;
  for (;;) {
    const room = Math.floor((targetEvents - slack - workflowInfo().historyLength) / 3);
    if (room < 1) break;
    const results = await Promise.all(Array.from({ length: Math.min(perBatch, room) }, () => one()));
    for (const r of results) total += r;
  }
  done = true;
  await condition(() => false);
  return total;
}
