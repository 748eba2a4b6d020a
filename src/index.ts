/**
 * In-process entry for Node, Deno, edge runtimes and tests: the same engine and the same
 * `client.workflow` API as in the browser, without a worker.
 */
import { WorkflowClient } from './client/client.ts';
import { memoryStore } from './store/memory.ts';
import type { Store } from './store/types.ts';
import { Host, type HostOptions } from './worker/host.ts';

export { WorkflowClient, WorkflowHandle, WorkflowHandleWithSignaledRunId } from './client/client.ts';
export type { EventType, ExecutionStatus, HistoryEvent } from './engine/events.ts';
export * from './engine/failure.ts';
export type * from './protocol/api.ts';
export { indexedDbStore } from './store/indexeddb.ts';
export { memoryStore } from './store/memory.ts';
export type * from './store/types.ts';
export { Context } from './worker/activity.ts';

export interface EngineOptions extends Omit<HostOptions, 'store'> {
  /** Default: a fresh `memoryStore()`. `indexedDbStore(...)` may be passed as it is (a promise). */
  store?: Store | Promise<Store>;
}

export interface Engine {
  client: { workflow: WorkflowClient };
  host: Host;
  /** Stops timers and activities; the store keeps everything. */
  shutdown(): Promise<void>;
}

/**
 * Creates an engine in this process and starts it.
 * @example
 * const { client, shutdown } = await createEngine({ workflows, activities });
 * const result = await client.workflow.execute('order', { workflowId: 'o-1', args: [cart] });
 */
export async function createEngine(options: EngineOptions): Promise<Engine> {
  const store = await (options.store ?? memoryStore());
  const host = new Host({ ...options, store });
  await host.start();
  return {
    client: { workflow: new WorkflowClient(host.api()) },
    host,
    shutdown: () => host.shutdown(),
  };
}
