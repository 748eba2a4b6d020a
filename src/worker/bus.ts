import type { FailureRecord } from '../engine/failure.ts';
import type { LeaseRecord, Store } from '../store/types.ts';
import type { Reply, WorkflowChange } from './api.ts';

/**
 * What the leader made visible, once it is durable: watchers in every host hear of it, and
 * hosts waiting on an update learn its outcome.
 */
export interface WakeNote {
  from: string;
  changes: WorkflowChange[];
  /** Updates that completed (or were rejected by their validator). */
  updates: UpdateOutcome[];
}

export type UpdateOutcome = { updateId: string } & (
  | { success: unknown }
  | { failure: FailureRecord; rejected?: boolean }
);

/** What hosts say to each other to share one database: who leads, who runs what, and calls. */
export interface HostNote {
  from: string;
  /** The leader announces its lease: when it wins it, each time it renews it, and to newcomers. */
  lease?: LeaseRecord;
  /** A host offers to run the workflows and activities of these task queues. */
  serves?: string[];
  /** A host stops. */
  gone?: true;
  /** `to: ''` is whoever leads. */
  call?: { id: number; to: string; method: string; args: unknown[] };
  answer?: { id: number; to: string; reply: Reply<unknown> };
}

export type BusNote = WakeNote | HostNote;

/**
 * How hosts that share one database talk: the leader's wake notes, leases, offers and calls.
 * No polling: an idle host does nothing until a note arrives. The store stays the truth.
 */
export interface WakeBus {
  publish(note: BusNote): void;
  subscribe(listener: (note: BusNote) => void): () => void;
}

const localBuses = new WeakMap<Store, WakeBus>();

/** Hosts in one process that share a store object share this bus. */
export function localBus(store: Store): WakeBus {
  let bus = localBuses.get(store);
  if (!bus) {
    const listeners = new Set<(note: BusNote) => void>();
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

/**
 * Hosts in other workers, tabs and service workers of this origin, sharing a database.
 * A host alone on its database posts no wake notes (each costs a structured clone): hosts
 * announce themselves when they start, so any message means another host is there.
 */
export function broadcastBus(databaseName: string): WakeBus {
  const channel = new BroadcastChannel(`weft:${databaseName}`);
  const listeners = new Set<(note: BusNote) => void>();
  let peers = false;
  channel.onmessage = (event: MessageEvent<BusNote>) => {
    peers = true;
    for (const listener of listeners) listener(event.data);
  };
  return {
    publish: (note) => {
      if (peers || !('changes' in note)) channel.postMessage(note);
    },
    subscribe: (listener) => {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
  };
}
