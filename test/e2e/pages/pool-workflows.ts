/**
 * Workflows for the pool page: a parent on one task queue fans out children on another; a
 * collector of signals for signal-with-start through any worker; a long activity that
 * heartbeats its progress; an activity on another queue, cancelled while it runs.
 */
import {
  type ActivityFailure,
  CancellationScope,
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

/** `progress`: a long activity whose attempts resume from their heartbeats. */
export async function poolProgress(steps: number, stepMs: number): Promise<string> {
  const { progress } = proxyActivities<{ progress(steps: number, stepMs: number): Promise<string> }>({
    startToCloseTimeout: '2 minutes',
    heartbeatTimeout: '2s',
    retry: { initialInterval: '100ms' },
  });
  return progress(steps, stepMs);
}

/** Runs `untilCancelled` on queue `other` until the `stop` signal; returns how the call ended. */
export async function poolCancelled(): Promise<string> {
  const { untilCancelled } = proxyActivities<{ untilCancelled(): Promise<string> }>({
    startToCloseTimeout: '2 minutes',
    heartbeatTimeout: '5s',
    taskQueue: 'other',
  });
  let stop = false;
  setHandler(defineSignal('stop'), () => {
    stop = true;
  });
  const scope = new CancellationScope();
  const call = scope.run(() => untilCancelled());
  await condition(() => stop);
  scope.cancel();
  try {
    return await call;
  } catch (error) {
    return `${(error as Error).name}/${(error as ActivityFailure).cause?.name}`;
  }
}
