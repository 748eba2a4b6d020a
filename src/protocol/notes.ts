import type { FailureRecord } from '../engine/failure.ts';
import type { LeaseRecord, StoreStatus } from '../store/types.ts';
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
  /** The leader's store ran out of space, or has it again: the other hosts' writes wait on it. */
  storage?: Exclude<StoreStatus, { state: 'lost' }>;
}

export type BusNote = WakeNote | HostNote;
