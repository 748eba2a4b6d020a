/**
 * What a mirrored store holds and knows (see `mirrorStore`), shared by its parts: memory, the
 * writes since the last flush, the flushes, and compaction's schedule.
 */

import type { HistoryEvent } from '../../engine/events.ts';
import {
  createTables,
  isDurableTable,
  memoryKey,
  pairKey,
  recordKey,
  TABLES,
  type TableName,
  tableOf,
} from '../tables.ts';
import type { ExecutionRecord, InboxRecord, StoreStatus } from '../types.ts';
import type { Backing, Change, MirrorSnapshot } from './types.ts';

export interface Waiter {
  /** Someone waits for the writes themselves, not just for a later flush. */
  urgent?: boolean;
  promise: Promise<void>;
  resolve(): void;
  reject(error: unknown): void;
}

export function waiter(): Waiter {
  let resolve!: () => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  // Nobody may be waiting; a lost flush must not become an unhandled rejection.
  promise.catch(() => undefined);
  return { promise, resolve, reject };
}

/** A dirty record that the database never held: a put of it is fresh, a delete is nothing. */
export const NEW = Symbol('new');
/** A dirty record of a table kept on disk, not in memory: the database may hold it. */
export const MAYBE = Symbol('maybe');

/**
 * Per table, the keys of the records changed since the last flush began, each with the value the
 * database held before, or {@link NEW} or {@link MAYBE}.
 */
type Dirty = Record<TableName, Map<string | number, unknown>>;

export function newDirty(): Dirty {
  return Object.fromEntries(TABLES.map((table) => [table, new Map()])) as Dirty;
}

/** Not yet in a flush: newer than every version. */
export const PENDING = Number.POSITIVE_INFINITY;

/** One mirrored store's state, which `mirror.ts` and the files beside this one work on. */
export class MirrorState {
  readonly backing: Backing;
  delayTimer: ReturnType<typeof setTimeout> | undefined;
  tables = createTables();
  /**
   * Records of the tables kept on disk that memory knows better than the stores: written since
   * the log was folded, by `pairKey(table, key)`, with the version of the last commit that wrote
   * each ({@link PENDING}: not flushed yet). A key known and absent from memory is deleted.
   */
  known = new Map<string, number>();
  /**
   * For known executions, what the stores hold under them (null: nothing), where known; so
   * that a count from the stores' indexes can be corrected by what memory knows better.
   */
  storeValues = new Map<string, ExecutionRecord | null>();
  /** Keys of the records the last fold of this connection carried (see `Backing.compact`). */
  carried = new Set<string>();
  /** Runs whose history was deleted since the log was folded (the packs still hold it), with the version. */
  dropped = new Map<string, number>();
  version = 0;
  readonly nextInboxId = { value: 1 };
  /** Log entries and records since the stores last caught up, as far as this connection knows. */
  logEntries = 0;
  logRecords = 0;
  /** This connection wrote the log since it loaded it: only a writer folds the log. */
  wroteLog = false;
  compacting = false;
  idleTimer: ReturnType<typeof setTimeout> | undefined;
  /**
   * When the last flush or history read began or ended; at first, when the store opened (a
   * connection that took long to open has not been idle for that long).
   */
  lastActivity = performance.now();
  /** When this connection opened or last reloaded. */
  openedAt = this.lastActivity;
  /** Records changed since the last flush began, with what the database held before. */
  dirty = newDirty();
  /** Record writes since the last flush began (an upper bound on the records in `dirty`). */
  dirtyCount = 0;
  /** Runs whose history was deleted since the last flush began. */
  droppedHistory: string[] = [];
  /** Chunks taken by the flush in flight; they are durable once it commits. */
  historyInFlight = new Map<string, HistoryEvent[]>();
  /**
   * Flushes are numbered: writes made now go into flush `window`; the one in flight, if any,
   * is `window - 1`. A waiter per flush someone waits for.
   */
  window = 1;
  readonly waiters = new Map<number, Waiter>();
  /** Every flush up to this one is over: committed, or lost (the last ones lost are these). */
  finished = 0;
  lostFlushes: { from: number; to: number; error: unknown } | undefined;
  flushing = false;
  /** The flush loop running while `flushing`: ends once nothing more is flushed at once. */
  flushRun: Promise<void> | undefined;
  closed = false;
  /** Why the store closed, if not by its owner's choice: what every later call fails with. */
  closedBy: Error | undefined;
  broken: { error: unknown } | undefined;
  /**
   * The database refused the flush in flight for lack of space: it is tried again, and every
   * write waits for `resumed` (see `flush.ts`). `wake` cuts the wait before the next try short.
   */
  full: { error: unknown; resumed: Promise<void>; resume(): void; wake?: () => void } | undefined;
  readonly listeners = new Set<() => void>();
  readonly statusListeners = new Set<(status: StoreStatus) => void>();
  tail: Promise<unknown> = Promise.resolve();

  constructor(backing: Backing) {
    this.backing = backing;
  }
}

/** Replaces memory with a snapshot of the database. */
export function fill(m: MirrorState, snapshot: MirrorSnapshot): void {
  m.tables = createTables();
  m.known = new Map();
  m.storeValues = new Map();
  m.carried = new Set();
  m.dropped = new Map();
  for (const table of TABLES) {
    // Workflow-ID records are on disk only, until written.
    if (table === 'workflowIds') continue;
    for (const r of snapshot[table] as object[]) tableOf(m.tables, table).set(recordKey(table, r), r);
  }
  const fromStores = new Map(snapshot.executions.map((e) => [e.runId, e]));
  applyChanges(m, snapshot.changes, fromStores);
  m.version = snapshot.version;
  m.logEntries = snapshot.changes.length;
  m.logRecords = snapshot.changes.reduce((n, c) => n + c.puts.length + c.deletes.length, 0);
  m.wroteLog = false;
  m.openedAt = performance.now();
  // IDs are never reused within this store, even ones whose writes were lost.
  m.nextInboxId.value = nextInboxIdAfter(m.nextInboxId.value, snapshot);
}

/**
 * Applies commits, oldest first: each record's last value wins. `fromStores`: executions
 * whose stored value is known (what memory held of them before, as the stores hold it).
 */
export function applyChanges(
  m: MirrorState,
  changes: Change[],
  fromStores?: Map<string, ExecutionRecord>,
): void {
  const learn = (table: TableName, key: string | number, at: number): void => {
    if (!isDurableTable(table)) return;
    const k = pairKey(table, key);
    if (table === 'executions' && !m.known.has(k)) {
      const stored = fromStores?.get(key as string);
      if (stored) m.storeValues.set(key as string, stored);
    }
    m.known.set(k, at);
  };
  for (const change of changes) {
    for (const { table, key } of change.deletes) {
      const k = memoryKey(key);
      learn(table, k, change.version);
      tableOf(m.tables, table).delete(k);
    }
    for (const { table, value } of change.puts) {
      const k = recordKey(table, value);
      learn(table, k, change.version);
      tableOf(m.tables, table).set(k, value);
    }
    for (const runId of change.dropHistory ?? []) m.dropped.set(runId, change.version);
  }
}

/** Runs `step` alone: after every earlier transaction, before every later one. */
export function exclusive<T>(m: MirrorState, step: () => Promise<T> | T): Promise<T> {
  const result = m.tail.then(step);
  m.tail = result.catch(() => undefined);
  return result;
}

/** The first inbox ID nobody has handed out, given `next` and the records and commits known. */
export function nextInboxIdAfter(next: number, known: { inbox?: InboxRecord[]; changes: Change[] }): number {
  for (const m of known.inbox ?? []) next = Math.max(next, m.id + 1);
  for (const change of known.changes) next = Math.max(next, change.nextInboxId);
  return next;
}

/** Tells the store's status listeners (see `Store.onStatus`). */
export function report(m: MirrorState, status: StoreStatus): void {
  for (const listener of m.statusListeners) {
    try {
      listener(status);
    } catch (error) {
      console.error('weft: a store status listener threw', error);
    }
  }
}
