import type { MachineInit, WorkflowFunction } from '../../engine/index.ts';
import type { Store, StoreStatus } from '../../store/types.ts';
import type { WakeBus } from '../bus.ts';
import type { Clock } from '../clock.ts';
import type { Activities } from './activities.ts';
import type { ClientCalls } from './client-calls.ts';
import type { Leadership } from './leadership.ts';
import type { HostOptions } from './options.ts';
import type { Peers } from './peers.ts';
import type { Retention } from './retention.ts';
import type { AnyFunction } from './support.ts';
import type { WorkflowTasks } from './tasks.ts';
import type { DurableTimers } from './timers.ts';
import type { Wakeups } from './wakeups.ts';
import type { Writes } from './writes.ts';

/**
 * One host's rooms, and what they share: each role is an object of its own, and finds the
 * others here. A `Host` builds them together; none is used alone.
 */
export interface HostParts {
  readonly hostId: string;
  readonly taskQueues: string[];
  readonly store: Store;
  readonly options: HostOptions;
  readonly bus: WakeBus;
  readonly clock: Clock;
  /** Tells whoever watches (`Host.onSettle`) that some work may have just finished. */
  settle(): void;
  /** Largest payload, in bytes. */
  readonly payloadLimit: number;
  readonly workflows: Map<string, WorkflowFunction>;
  readonly activityFunctions: Map<string, AnyFunction>;
  /** What every run's machine gets from this host, built once. */
  readonly machineBase: Omit<MachineInit, 'workflowId' | 'runId'>;
  /** Set by `shutdown`: nothing new starts. */
  stopped: boolean;
  /** Tells whoever watches (`Host.onStorage`) how the storage this host's writes go to is. */
  reportStorage(status: StoreStatus): void;
  /** This host's own store's trouble, while it lasts: out of space (or gone). */
  storageTrouble: StoreStatus | undefined;
  /** The lease: electing, leading, renewing, following, stepping down. */
  readonly leadership: Leadership;
  /** The other hosts of the database: notes, calls between hosts, who runs which queue. */
  readonly peers: Peers;
  /** The write path: transactions, group commit, and acting on what a commit made ready. */
  readonly writes: Writes;
  /** Who waits for what: results, changes, updates, `watch` listeners. */
  readonly wakeups: Wakeups;
  /** The workflow-task executor: the ready set, batches, the machine cache. */
  readonly tasks: WorkflowTasks;
  /** The activity runner: slots, attempts, timeouts, cancellation. */
  readonly activities: Activities;
  readonly timers: DurableTimers;
  readonly retention: Retention;
  /** The client API, as the endpoint exposes it. */
  readonly calls: ClientCalls;
}
