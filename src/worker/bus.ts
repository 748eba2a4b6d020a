import type { FailureRecord } from '../engine/failure.ts';
import type { ActivityTaskRecord, Store, TimerRecord } from '../store/types.ts';
import type { WorkflowChange } from './api.ts';

/**
 * How hosts that share one database wake each other: after each commit a host publishes what
 * it made ready, and every other host picks up what concerns the task queues it serves. No
 * polling: an idle host does nothing until a note arrives. Notes only wake; the store stays
 * the truth, so a lost note delays work until the next start but loses nothing.
 */
export interface WakeNote {
  from: string;
  workflowTasks: [runId: string, taskQueue: string][];
  activities: ActivityTaskRecord[];
  timers: TimerRecord[];
  cancelledTimers: [runId: string, key: string][];
  abortActivities: [runId: string, seq: number][];
  changes: WorkflowChange[];
  /** Updates that completed (or were rejected by their validator), for the host awaiting each. */
  updates: UpdateOutcome[];
}

export type UpdateOutcome = { updateId: string } & (
  | { success: unknown }
  | { failure: FailureRecord; rejected?: boolean }
);

export interface WakeBus {
  publish(note: WakeNote): void;
  subscribe(listener: (note: WakeNote) => void): () => void;
}

const localBuses = new WeakMap<Store, WakeBus>();

/** Hosts in one process that share a store object share this bus. */
export function localBus(store: Store): WakeBus {
  let bus = localBuses.get(store);
  if (!bus) {
    const listeners = new Set<(note: WakeNote) => void>();
    bus = {
      publish: (note) => {
        // Delivered asynchronously, like a BroadcastChannel: never inside the publisher's commit.
        // Not copied: hosts treat notes as read-only.
        queueMicrotask(() => {
          for (const listener of listeners) listener(note);
        });
      },
      subscribe: (listener) => {
        listeners.add(listener);
        return () => listeners.delete(listener);
      },
    };
    localBuses.set(store, bus);
  }
  return bus;
}

/** Hosts in other workers, tabs and service workers of this origin, sharing a database. */
export function broadcastBus(databaseName: string): WakeBus {
  const channel = new BroadcastChannel(`weft:${databaseName}`);
  const listeners = new Set<(note: WakeNote) => void>();
  channel.onmessage = (event: MessageEvent<WakeNote>) => {
    for (const listener of listeners) listener(event.data);
  };
  return {
    publish: (note) => channel.postMessage(note),
    subscribe: (listener) => {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
  };
}
