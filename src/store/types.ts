import type {
  ExecutionRef,
  ExecutionStatus,
  HistoryEvent,
  ParentClosePolicy,
  RetryPolicy,
} from '../engine/events.ts';
import type { FailureRecord } from '../engine/failure.ts';
import type { InboxMessage } from '../engine/inbox.ts';

/**
 * One run of a workflow. `runId` is the key; a workflow ID maps to its current run through
 * {@link WorkflowIdRecord}. Parent links are kept flat (`parentRunId`, `parentWorkflowId`)
 * so the store can index them: close policies find a run's open children by `parentRunId`.
 */
export interface ExecutionRecord {
  runId: string;
  workflowId: string;
  workflowType: string;
  taskQueue: string;
  status: ExecutionStatus;
  startTime: number;
  closeTime?: number;
  firstExecutionRunId: string;
  /** The request that started it: the same start sent again (to a new leader) finds this run. */
  startRequestId?: string;
  /**
   * The request IDs of the latest calls that may come again and took effect on this run
   * (forwarded signals, signal-with-starts, cancel requests and terminates; every update's ID),
   * written in the transaction of their effect: one sent again to a new leader finds its ID
   * here and does nothing twice. At most 32, handed on to the next run by continue-as-new and
   * retries. (Schema 4 named a signal-with-start's `signalRequestIds`.)
   */
  requestIds?: string[];
  /** Set when this run continues another (continue-as-new or retry). */
  continuedFromRunId?: string;
  /** Set when this run was closed by continue-as-new or a retry. */
  nextRunId?: string;
  parentWorkflowId?: string;
  parentRunId?: string;
  /** The parent's `StartChildWorkflowExecutionInitiated` event ID. */
  parentInitiatedEventId?: number;
  parentClosePolicy?: ParentClosePolicy;
  /**
   * Other parents that attached to this run with `workflowIdConflictPolicy: USE_EXISTING`:
   * they learn its outcome too (their close policies do not apply to it).
   */
  attachedParents?: { runId: string; initiatedEventId: number }[];
  root?: ExecutionRef;
  /** Next event ID to write: historyLength + 1. Commits compare it (optimistic concurrency). */
  nextEventId: number;
  /**
   * The attempt of the run's current workflow task, once an earlier attempt timed out (absent:
   * 1). A completion computed for another attempt is refused, as one for another event.
   */
  workflowTaskAttempt?: number;
  /** Set while the last workflow task failed (e.g. nondeterminism): the run waits for a fix. */
  blocked?: { reason: string; failure: FailureRecord; since: number };
  /** The outcome, copied from the closing event so `result()` needs no history read. */
  result?: unknown;
  failure?: FailureRecord;
  attempt: number;
  retryPolicy?: RetryPolicy;
  /** Absolute deadlines, milliseconds since the epoch. */
  executionExpirationTime?: number;
  runExpirationTime?: number;
  workflowRunTimeout?: number;
  workflowTaskTimeout?: number;
  memo?: Record<string, unknown>;
}

/**
 * Maps a workflow ID to the run that currently holds it. The current run is also the ID's last
 * started, so a store may drop a record without `supersedes` once the run is on disk, and answer
 * with the last started run (the IndexedDB store does); a record with it is kept: the run may
 * have started in the same millisecond as the one it follows.
 */
export interface WorkflowIdRecord {
  workflowId: string;
  runId: string;
  /** The run this one took over from (continue-as-new, a retry, a start that found it). */
  supersedes?: string;
}

/** One commit's events for one run: history is stored in chunks, not a record per event. */
export interface HistoryChunk {
  runId: string;
  firstEventId: number;
  events: HistoryEvent[];
}

/** A message waiting in a run's inbox; `id` is assigned by the store and orders the inbox. */
export type InboxRecord = { id: number; runId: string; time: number } & InboxMessage;
export type NewInboxRecord = { runId: string; time: number } & InboxMessage;

/** A run has work for its workflow code. At most one per run. */
export interface WorkflowTaskRecord {
  runId: string;
  workflowId: string;
  taskQueue: string;
  scheduledTime: number;
}

/** An activity to run (or running). Deleted when its outcome is delivered to the run's inbox. */
export interface ActivityTaskRecord {
  runId: string;
  seq: number;
  workflowId: string;
  workflowType: string;
  activityType: string;
  taskQueue: string;
  input: unknown[];
  scheduledEventId: number;
  scheduledTime: number;
  attempt: number;
  /** Not before this time (retry backoff). */
  notBefore: number;
  startToCloseTimeout?: number;
  scheduleToCloseTimeout?: number;
  heartbeatTimeout?: number;
  retryPolicy?: RetryPolicy;
  /** Host running the current attempt. */
  owner?: string;
  startedTime?: number;
  cancelRequested?: boolean;
  lastFailure?: FailureRecord;
  /**
   * The last heartbeat details recorded by any attempt (the current one's, stored at most every
   * 0.8 x heartbeatTimeout): what the next attempt finds in `info.heartbeatDetails`.
   */
  heartbeatDetails?: unknown;
}

/** `backoff`: a retried run's first workflow task waits for it. */
export type TimerKind = 'timer' | 'runTimeout' | 'executionTimeout' | 'backoff';

/** A durable timer. `key` is unique within the run (`t3` for timer seq 3, `run`, `execution`). */
export interface TimerRecord {
  runId: string;
  key: string;
  kind: TimerKind;
  fireAt: number;
  workflowId: string;
  taskQueue: string;
  seq?: number;
}

/**
 * A lease on the database (SPEC 5.9, one executor): the host that holds it is the only one
 * that advances executions. Acquired and renewed in a write transaction, like any record.
 */
export interface LeaseRecord {
  /** The lease's key. weft's hosts share one lease per database, {@link ENGINE_LEASE}. */
  name: string;
  /** The host holding it. */
  holder: string;
  /** The fencing token: one more at each acquisition, by whichever host. Fenced writes compare it. */
  epoch: number;
  /** Until when it holds without renewal, in milliseconds since the epoch. */
  expiresAt: number;
}

/** The lease weft's hosts contend for. */
export const ENGINE_LEASE = 'engine';

/** What a fenced write requires of the lease `name`: held by `holder` at `epoch`. */
export interface Fence {
  name: string;
  holder: string;
  epoch: number;
}

export interface ExecutionFilter {
  workflowType?: string;
  status?: ExecutionStatus;
  parentWorkflowId?: string;
  parentRunId?: string;
  workflowId?: string;
  /** Started at or after this time (milliseconds since the epoch). */
  startTimeFrom?: number;
  /** Started before this time (milliseconds since the epoch). */
  startTimeTo?: number;
}

/** Where a page of executions ends: the next page starts strictly after it (newest first). */
export interface ExecutionCursor {
  startTime: number;
  runId: string;
}

/** One page of {@link StoreTx.executions}`.page`: newest first, by start time then run ID. */
export interface ExecutionPageQuery {
  filter?: ExecutionFilter;
  /** At most this many records. */
  limit: number;
  /** Only records that sort after this one (older, or as old with a smaller run ID). */
  after?: ExecutionCursor;
}

/**
 * The operations of one transaction, grouped by noun. Writes are queued in the
 * transaction and take effect together when it commits, or not at all.
 * Inside a transaction, await nothing but these methods (IndexedDB closes a transaction
 * that waits on anything else).
 */
export interface StoreTx {
  executions: {
    get(runId: string): Promise<ExecutionRecord | undefined>;
    put(record: ExecutionRecord): void;
    /**
     * Puts a record under a run ID that was never used (a new run): the store may take it that
     * the database holds nothing under it (IndexedDB's `add`; a store that holds the key fails
     * the transaction with a `ConstraintError`).
     */
    add(record: ExecutionRecord): void;
    delete(runId: string): void;
    /**
     * The open (RUNNING) executions matching the filter, ordered by startTime then runId. Every
     * store keeps open work at hand: this never waits for a disk, whatever the database holds.
     */
    open(filter: ExecutionFilter): Promise<ExecutionRecord[]>;
    /** A page of the matching executions, newest first (see {@link ExecutionPageQuery}). */
    page(query: ExecutionPageQuery): Promise<ExecutionRecord[]>;
    /** How many executions match; answered from indexes, without reading the records. */
    count(filter?: ExecutionFilter): Promise<number>;
    /**
     * Closed executions whose closeTime is before `time`, oldest start first (then by run ID),
     * at most `limit`, after `after` in that order when given.
     */
    closedBefore(
      time: number,
      limit: number,
      after?: Pick<ExecutionRecord, 'startTime' | 'runId'>,
    ): Promise<ExecutionRecord[]>;
    /**
     * Every matching execution, oldest first. Reads them all: for tests and small databases;
     * code that serves users pages through {@link StoreTx.executions}`.page`.
     */
    list(filter?: ExecutionFilter): Promise<ExecutionRecord[]>;
  };
  workflowIds: {
    get(workflowId: string): Promise<WorkflowIdRecord | undefined>;
    put(record: WorkflowIdRecord): void;
    delete(workflowId: string): void;
  };
  history: {
    /** Adds one chunk; `events[0].eventId` is its key within the run. */
    append(runId: string, events: HistoryEvent[]): void;
    /** Events with eventId >= fromEventId (default 1), in order. */
    read(runId: string, fromEventId?: number): Promise<HistoryEvent[]>;
    /** Deletes every event of the run. */
    delete(runId: string): void;
  };
  inbox: {
    add(record: NewInboxRecord): void;
    /** The run's messages in the order they were added. */
    list(runId: string): Promise<InboxRecord[]>;
    delete(id: number): void;
  };
  workflowTasks: {
    get(runId: string): Promise<WorkflowTaskRecord | undefined>;
    put(record: WorkflowTaskRecord): void;
    delete(runId: string): void;
    /** Ordered by scheduledTime. */
    list(taskQueue?: string): Promise<WorkflowTaskRecord[]>;
  };
  activityTasks: {
    get(runId: string, seq: number): Promise<ActivityTaskRecord | undefined>;
    put(record: ActivityTaskRecord): void;
    delete(runId: string, seq: number): void;
    list(taskQueue?: string): Promise<ActivityTaskRecord[]>;
    listByRun(runId: string): Promise<ActivityTaskRecord[]>;
  };
  timers: {
    put(record: TimerRecord): void;
    delete(runId: string, key: string): void;
    /** All timers, ordered by fireAt. */
    list(): Promise<TimerRecord[]>;
    listByRun(runId: string): Promise<TimerRecord[]>;
  };
  leases: {
    get(name: string): Promise<LeaseRecord | undefined>;
    put(record: LeaseRecord): void;
  };
}

/**
 * Persistence behind one interface: `memoryStore()` and `indexedDbStore()` implement it and
 * pass the same contract suite (`test/unit/store-contract.ts`).
 *
 * A store may answer from memory and write behind: `write` then resolves once the change is
 * visible to every later transaction of this store, and {@link Store.flushed} once it is
 * durable. Whatever is acknowledged outside the engine (a reply to a client, a note to
 * another host) waits for `flushed()`; work inside the engine goes on at once. A crash loses
 * at most writes nobody was told about, and always a suffix of them: writes become durable in
 * the order they were made.
 */
export interface Store {
  /** A human-readable name, e.g. `memory` or `indexeddb:weft`. */
  readonly name: string;
  /** Runs `fn` in a read-only transaction. */
  read<T>(fn: (tx: StoreTx) => Promise<T>): Promise<T>;
  /**
   * Runs `fn` in one read-write transaction over every store. If `fn` throws, or a write
   * fails, nothing is written and the promise rejects. Transactions are serialised.
   * With `durable`, resolves only once the writes are durable, and rejects with
   * `StoreConflictError` if they were lost instead (see {@link Store.flushed}).
   *
   * With `fence`, the transaction first checks that the lease `fence.name` is held by
   * `fence.holder` at `fence.epoch`; if not, nothing is written and the promise rejects with
   * `LeaseLostError`. A store that writes behind also refuses, when it flushes, writes made on
   * a view of the database that another connection has changed since (`StoreConflictError`):
   * so a host that lost its lease while frozen cannot commit what it did meanwhile.
   */
  write<T>(fn: (tx: StoreTx) => Promise<T>, options?: { durable?: boolean; fence?: Fence }): Promise<T>;
  /**
   * Resolves once every write that resolved before this call is durable. Rejects with
   * `StoreConflictError` when such writes were lost instead (another connection wrote to the
   * database first, or the database refused them): the store has then reloaded what is durable,
   * and its {@link Store.onReload} listeners have been called.
   */
  flushed(options?: {
    /** Do not hurry: the writes may wait for the store's next regular flush. */
    lazy?: boolean;
  }): Promise<void>;
  /** Catches up with what other connections to the same database wrote, if anything. */
  refresh(): Promise<void>;
  /**
   * Calls `listener` after the store dropped its unflushed writes and reloaded (see
   * {@link Store.flushed}); whoever acted on those writes must look at the store again.
   * @returns a function that removes the listener.
   */
  onReload(listener: () => void): () => void;
  /**
   * Calls `listener` whenever the store's health changes (see {@link StoreStatus}): the
   * database ran out of space and writes wait, space came back, or the database is gone. A
   * store without it is taken to be always well (the memory store is).
   * @returns a function that removes the listener.
   */
  onStatus?(listener: (status: StoreStatus) => void): () => void;
  /** Releases the connection. */
  close(): void;
}

/**
 * How a store is doing, as `Store.onStatus` reports it:
 * - `full`: the database refused a flush for lack of space (a `QuotaExceededError`). Nothing of
 *   it was written (the transaction aborted as a whole); the store keeps it, retries it, and
 *   holds every later write until it goes in, so nothing is acknowledged or advances meanwhile;
 * - `ok`: a flush went in again after `full`, and the held writes go on;
 * - `lost`: the database was deleted or its data cleared (another tab, the user, the browser),
 *   or it could not be reopened after the browser closed it. The store is closed for good and
 *   never creates an empty database in its place.
 */
export type StoreStatus =
  | { state: 'ok' }
  | { state: 'full'; message: string }
  | { state: 'lost'; message: string };
