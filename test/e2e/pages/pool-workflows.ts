/**
 * Workflows for the pool page: a parent on one task queue fans out children on another; a
 * collector of signals for signal-with-start through any worker.
 */
import {
  condition,
  defineSignal,
  executeChild,
  proxyActivities,
  setHandler,
} from '../../../src/workflow/index.ts';

/** `where` answers the name of the worker that ran it. */
const { where } = proxyActivities<{ where(tag: string): Promise<string> }>({ startToCloseTimeout: '30s' });

export async function poolParent(n: number): Promise<{ parent: string; children: string[] }> {
  const parent = await where('parent');
  const children = await Promise.all(
    Array.from({ length: n }, (_, i) => executeChild(poolChild, { args: [i], taskQueue: 'other' })),
  );
  return { parent, children };
}

export async function poolChild(i: number): Promise<string> {
  return where(`child-${i}`);
}

const addItem = defineSignal<[string]>('addItem');

/** Collects `addItem` signals (its handler set at the top) until it has `expected` of them. */
export async function poolCollector(expected: number): Promise<string[]> {
  const items: string[] = [];
  setHandler(addItem, (item) => {
    items.push(item);
  });
  await condition(() => items.length >= expected);
  return items;
}
