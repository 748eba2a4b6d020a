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
  /** From the bus itself: notes may have been missed; look at the store again. */
  rescan?: boolean;
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

/** What buses say to each other about who is listening. */
type Presence = { weftPresence: 'hello' | 'here' | 'ready' };

/**
 * Hosts in other workers, tabs and service workers of this origin, sharing a database.
 *
 * A host alone on its database publishes nothing (a note costs a structured clone per flush).
 * So buses first find each other: a new one says `hello`, those already there answer `here`,
 * and the new one confirms `ready`. Each side then publishes, and rescans the store once, at a
 * moment when every commit it could have missed is durable: the new one on `here`, the others
 * on `ready`.
 */
export function broadcastBus(databaseName: string): WakeBus {
  const channel = new BroadcastChannel(`weft:${databaseName}`);
  const listeners = new Set<(note: WakeNote) => void>();
  let peers = false;
  let rescanWaiting = false;
  const say = (weftPresence: Presence['weftPresence']): void => channel.postMessage({ weftPresence });
  const rescan = (): void => {
    if (listeners.size === 0) rescanWaiting = true;
    for (const listener of listeners) listener(rescanNote());
  };
  channel.onmessage = (event: MessageEvent<WakeNote | Presence>) => {
    const data = event.data;
    if (!('weftPresence' in data)) {
      for (const listener of listeners) listener(data);
      return;
    }
    peers = true;
    if (data.weftPresence === 'hello') say('here');
    else {
      if (data.weftPresence === 'here') say('ready');
      rescan();
    }
  };
  say('hello');
  return {
    publish: (note) => {
      if (peers) channel.postMessage(note);
    },
    subscribe: (listener) => {
      listeners.add(listener);
      if (rescanWaiting) {
        rescanWaiting = false;
        queueMicrotask(() => listener(rescanNote()));
      }
      return () => listeners.delete(listener);
    },
  };
}

function rescanNote(): WakeNote {
  return {
    from: '',
    workflowTasks: [],
    activities: [],
    timers: [],
    cancelledTimers: [],
    abortActivities: [],
    changes: [],
    updates: [],
    rescan: true,
  };
}
