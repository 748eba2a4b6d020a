import { defined } from '../engine/defined.ts';
import type { WorkflowFunction } from '../engine/index.ts';
import type { EngineApi } from '../protocol/api.ts';
import { ENGINE_LEASE, type StoreStatus } from '../store/types.ts';
import { localBus } from './bus.ts';
import { realClock } from './clock.ts';
import { installDeterminism } from './determinism.ts';
import { Activities } from './host/activities.ts';
import { ClientCalls } from './host/client-calls.ts';
import { Leadership } from './host/leadership.ts';
import type { HostOptions } from './host/options.ts';
import type { HostParts } from './host/parts.ts';
import { Peers } from './host/peers.ts';
import { Retention } from './host/retention.ts';
import { functionsOf } from './host/support.ts';
import { WorkflowTasks } from './host/tasks.ts';
import { DurableTimers } from './host/timers.ts';
import { Wakeups } from './host/wakeups.ts';
import { Writes } from './host/writes.ts';
import { DEFAULT_PAYLOAD_LIMIT } from './payload.ts';

export { DEFAULT_RETENTION, type HostOptions } from './host/options.ts';

/**
 * Runs workflows and activities from a store: the task loop, the sticky cache of live
 * workflow instances, durable timers, activity execution, and the flat API of plain data
 * that clients call. Runtime-neutral: the same host runs in a Web Worker, a service worker,
 * Node or an edge runtime.
 *
 * Hosts that share a database (pool workers, tabs, a service worker) elect one leader through
 * the store's lease, like a Temporal history shard: only the leader writes, and each of its
 * writes is fenced by the lease's epoch, so no two hosts ever advance the same execution. The
 * others forward their clients' calls to it, and run for it the workflow and activity tasks
 * of queues it does not serve. When the leader goes (its lock is released, or it stops
 * renewing the lease), another host takes the lease over and resumes everything from the store.
 *
 * Each role is a room of its own under `host/` (see docs/architecture.md); this class builds
 * them and is what the rest of weft holds.
 */
export class Host {
  readonly hostId: string;
  readonly taskQueues: string[];
  readonly #h: HostParts;
  /** Undoes `start`'s subscriptions (to the bus, to the store's reloads). */
  #unsubscribe: (() => void)[] = [];
  readonly #settleListeners = new Set<() => void>();
  readonly #storageListeners = new Set<(status: StoreStatus) => void>();
  #shutdown: Promise<void> | undefined;

  constructor(options: HostOptions) {
    installDeterminism();
    this.hostId = options.identity ?? `host-${crypto.randomUUID().slice(0, 8)}`;
    this.taskQueues = options.taskQueues ?? ['default'];
    const workflows = new Map(functionsOf(options.workflows) as [string, WorkflowFunction][]);
    /** Registered type of each workflow function, by identity (never by `fn.name`, which minifiers change). */
    const workflowTypes = new Map([...workflows].map(([name, fn]) => [fn as Function, name]));
    const base = {
      hostId: this.hostId,
      taskQueues: this.taskQueues,
      store: options.store,
      options,
      bus: options.bus ?? localBus(options.store),
      clock: options.clock ?? realClock,
      settle: () => {
        for (const listener of this.#settleListeners) listener();
      },
      payloadLimit: options.payloadLimit ?? DEFAULT_PAYLOAD_LIMIT,
      reportStorage: (status: StoreStatus) => {
        for (const listener of this.#storageListeners) listener(status);
      },
      storageTrouble: undefined,
      workflows,
      activityFunctions: new Map(functionsOf(options.activities ?? {})),
      machineBase: {
        workflowTypeOf: (fn: Function) => workflowTypes.get(fn),
        resolveWorkflow: (type: string) => workflows.get(type),
        identity: this.hostId,
        ...defined({
          maxPendingChildren: options.maxPendingChildren,
          suggestContinueAsNewAt: options.suggestContinueAsNewAt,
        }),
      },
      stopped: false,
    };
    // The rooms find each other through `h`, and only in their methods: each can be built
    // before the others exist.
    const h = base as HostParts;
    Object.assign(h, {
      leadership: new Leadership(h),
      peers: new Peers(h),
      writes: new Writes(h),
      wakeups: new Wakeups(h),
      tasks: new WorkflowTasks(h),
      activities: new Activities(h),
      timers: new DurableTimers(h),
      retention: new Retention(h),
      calls: new ClientCalls(h),
    });
    this.#h = h;
  }

  /** Joins the hosts of the store: wins the lease and loads pending work, or follows the leader. */
  async start(): Promise<void> {
    const h = this.#h;
    this.#unsubscribe = [
      h.bus.subscribe((note) => h.peers.onNote(note)),
      h.store.onStatus?.((status) => {
        h.storageTrouble = status.state === 'ok' ? undefined : status;
        h.reportStorage(status);
        // The other hosts' writes go to this one's store while it leads: they wait on it too.
        if (status.state !== 'lost' && h.leadership.lease) h.bus.publish({ from: h.hostId, storage: status });
        // The database is gone: nothing more can be done here, and calls say why (see `ClientCalls`).
        if (status.state === 'lost') void this.shutdown();
      }) ?? (() => undefined),
      h.store.onReload(() => {
        // Writes this host acted on were lost: nothing cached can be trusted. If the lease went
        // with them, another host leads now; otherwise look at the store again.
        h.tasks.dropCache();
        h.store
          .read((tx) => tx.leases.get(ENGINE_LEASE))
          .then((lease) => {
            const held = h.leadership.lease;
            if (!held) return;
            if (lease?.holder !== this.hostId || lease.epoch !== held.epoch) h.leadership.stepDown();
            else return h.leadership.lookAgain();
          })
          .catch((error: unknown) => console.error('weft: rescanning the store failed', error));
      }),
    ];
    // The store was just opened: no need to catch up before the first election.
    await h.leadership.elect(false);
  }

  /**
   * Stops timers and activities; the store keeps everything for the next host. Once: a later
   * call gets the first one's promise.
   */
  shutdown(): Promise<void> {
    this.#shutdown ??= this.#stop();
    return this.#shutdown;
  }

  async #stop(): Promise<void> {
    const h = this.#h;
    const lease = h.leadership.lease;
    h.stopped = true;
    h.leadership.stop();
    h.retention.stop();
    for (const unsubscribe of this.#unsubscribe) unsubscribe();
    h.timers.clear();
    const stopped = new Error('Host shut down');
    h.activities.stopAll(stopped);
    h.peers.rejectAll(stopped);
    await h.tasks.draining;
    await h.writes.idle;
    // The lease is let go, so the next host need not wait for it to expire.
    if (lease) {
      await h.store
        .write(async (tx) => tx.leases.put({ ...lease, expiresAt: 0 }), { fence: lease })
        .catch(() => undefined);
    }
    // What this host wrote reaches the database before it says it has stopped.
    await h.store.flushed().catch((error: unknown) => console.error('weft: final flush failed', error));
    h.bus.publish({ from: this.hostId, gone: true });
  }

  /**
   * Deletes the closed executions whose retention ran out (the leader does so on its own,
   * now and then); see {@link Retention.sweep}.
   * @returns how many executions were deleted.
   */
  sweep(): Promise<number> {
    return this.#h.retention.sweep();
  }

  /**
   * What this host has in hand right now: writes queued or in flight, workflow tasks ready or
   * running, activity attempts running or waiting for a slot. All zero: it only waits (for
   * timers, messages, or other hosts).
   */
  get busy(): { writes: boolean; workflowTasks: boolean; activities: number } {
    const h = this.#h;
    return {
      writes: h.writes.idle !== undefined,
      workflowTasks: h.tasks.busy,
      activities: h.activities.busy,
    };
  }

  /**
   * Calls `listener` whenever some of this host's work may have just finished (a flush, a batch
   * of workflow tasks, an activity attempt): read `busy` to see what is left. For tools that
   * wait for a host to go quiet, such as `weft/testing`'s time skipping.
   * @returns a function that removes the listener
   */
  onSettle(listener: () => void): () => void {
    this.#settleListeners.add(listener);
    return () => this.#settleListeners.delete(listener);
  }

  /**
   * Calls `listener` when the storage this host's work is written to changes health (see
   * `StoreStatus`): its own store's `full`, `ok` and `lost`, and, while another host leads, the
   * leader's `full` and `ok` (the calls this host forwards wait on the leader's writes).
   * `startWorker` tells the pages; an in-process engine may listen here.
   * @returns a function that removes the listener
   */
  onStorage(listener: (status: StoreStatus) => void): () => void {
    this.#storageListeners.add(listener);
    return () => this.#storageListeners.delete(listener);
  }

  /**
   * The flat API with errors as records, for Comlink or an in-process client. A host that does
   * not lead forwards calls to the leader; only `watch` stays here (the leader's notes feed it).
   */
  api(): EngineApi {
    return this.#h.calls.api();
  }
}
