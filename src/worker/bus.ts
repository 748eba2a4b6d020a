import type { BusNote } from '../protocol/notes.ts';
import type { Store } from '../store/types.ts';

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
