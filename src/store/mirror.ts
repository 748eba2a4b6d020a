import type { HistoryEvent } from '../engine/events.ts';
import { copy } from './copy.ts';
import { StoreConflictError } from './errors.ts';
import {
  checkFence,
  chunkedEvents,
  createTables,
  type DurableKey,
  durableKeyOf,
  memoryKey,
  recordKey,
  rollback,
  TABLES,
  type TableName,
  type Tables,
  type TxState,
  tableOf,
  tablesTx,
} from './tables.ts';
import type {
  ActivityTaskRecord,
  ExecutionRecord,
  Fence,
  HistoryChunk,
  InboxRecord,
  LeaseRecord,
  Store,
  StoreTx,
  TimerRecord,
  WorkflowIdRecord,
  WorkflowTaskRecord,
} from './types.ts';

/** Everything but history, as a durable database holds it, and the version it is at. */
export interface MirrorSnapshot {
  /** Bumped by every commit of every connection: a commit checks it first (optimistic lock). */
  version: number;
  executions: ExecutionRecord[];
  workflowIds: WorkflowIdRecord[];
  inbox: InboxRecord[];
  workflowTasks: WorkflowTaskRecord[];
  activityTasks: ActivityTaskRecord[];
  timers: TimerRecord[];
  leases: LeaseRecord[];
  /** Commits not yet folded into the records above, oldest first. */
  changes: Change[];
}

/** What one flush makes durable, in one transaction. */
export interface FlushBatch {
  /** The version the mirror was built on; the commit is refused unless it is still current. */
  expectedVersion: number;
  nextInboxId: number;
  puts: { table: TableName; value: object }[];
  deletes: { table: TableName; key: DurableKey }[];
  /** At most one chunk per run: what the run appended since the last flush. */
  history: HistoryChunk[];
}

/** One commit's record changes, as another connection made them. */
export interface Change {
  nextInboxId: number;
  puts: { table: TableName; value: object }[];
  deletes: { table: TableName; key: DurableKey }[];
}

/** The durable side of a mirrored store (IndexedDB in the browser). */
export interface Backing {
  readonly name: string;
  load(): Promise<MirrorSnapshot>;
  /** Durable events of `runId` with eventId >= fromEventId, in order. */
  readHistory(runId: string, fromEventId: number): Promise<HistoryEvent[]>;
  /**
   * What other connections committed after `version`, oldest first, or undefined when that is
   * no longer known piece by piece (compacted): then the mirror loads everything again.
   */
  changesSince(version: number): Promise<{ version: number; changes: Change[] } | undefined>;
  /**
   * Writes `batch` in one transaction, at version `expectedVersion + 1`.
   * @returns false, writing nothing, when the durable version is no longer `expectedVersion`.
   */
  commit(batch: FlushBatch): Promise<boolean>;
  close(): void;
}

/** Writes nobody waits for are flushed within this delay. */
const FLUSH_DELAY_MS = 8;

interface Waiter {
  /** Someone waits for the writes themselves, not just for a later flush. */
  urgent?: boolean;
  promise: Promise<void>;
  resolve(): void;
  reject(error: unknown): void;
}

function waiter(): Waiter {
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

/**
 * Per table, the keys of the records changed since the last flush began, each with the value the
 * database held before (undefined: none).
 */
type Dirty = Record<TableName, Map<string | number, unknown>>;

function newDirty(): Dirty {
  return Object.fromEntries(TABLES.map((table) => [table, new Map()])) as Dirty;
}

/**
 * A {@link Store} that keeps every record but history in memory and writes behind to a
 * durable {@link Backing}. Transactions run against memory, so they cost no I/O and never wait
 * for a disk; what they changed is flushed in the background, all of it in one durable
 * transaction per flush, one flush at a time, so the durable state always lies on a boundary
 * between transactions. Several writes to a record between two flushes cost one durable write,
 * and a record created and deleted between them costs none.
 *
 * Other connections to the same database (other tabs, workers) are detected by the version
 * each flush checks: a flush built on a stale version writes nothing, and the mirror reloads.
 */
export function mirrorStore(
  backing: Backing,
  initial: MirrorSnapshot,
): Store & { close(reason?: Error): void } {
  let delayTimer: ReturnType<typeof setTimeout> | undefined;
  let tables = fill(initial);
  let version = initial.version;
  const nextInboxId = { value: nextInboxIdAfter(1, initial) };
  /** Records changed since the last flush began, with what the database held before. */
  let dirty = newDirty();
  /** Record writes since the last flush began (an upper bound on the records in `dirty`). */
  let dirtyCount = 0;
  /** Chunks taken by the flush in flight; they are durable once it commits. */
  let historyInFlight = new Map<string, HistoryEvent[]>();
  /**
   * Flushes are numbered: writes made now go into flush `window`; the one in flight, if any,
   * is `window - 1`. A waiter per flush someone waits for.
   */
  let window = 1;
  const waiters = new Map<number, Waiter>();
  /** Every flush up to this one is over: committed, or lost (the last ones lost are these). */
  let finished = 0;
  let lostFlushes: { from: number; to: number; error: unknown } | undefined;
  let flushing = false;
  let closed = false;
  /** Why the store closed, if not by its owner's choice: what every later call fails with. */
  let closedBy: Error | undefined;
  let broken: { error: unknown } | undefined;
  const listeners = new Set<() => void>();
  let tail: Promise<unknown> = Promise.resolve();

  /** Runs `step` alone: after every earlier transaction, before every later one. */
  function exclusive<T>(step: () => Promise<T> | T): Promise<T> {
    const result = tail.then(step);
    tail = result.catch(() => undefined);
    return result;
  }

  function waitFor(flush: number, urgent = true): Promise<void> {
    // Already over: say how it went.
    if (flush <= finished) {
      const gone = lostFlushes && flush >= lostFlushes.from && flush <= lostFlushes.to;
      return gone ? Promise.reject(lostFlushes!.error) : Promise.resolve();
    }
    let w = waiters.get(flush);
    if (w === undefined) {
      w = waiter();
      waiters.set(flush, w);
    }
    if (urgent && !w.urgent) {
      w.urgent = true;
      // Someone waits: the flush that holds their writes starts now, not after the delay.
      if (delayTimer !== undefined) {
        clearTimeout(delayTimer);
        delayTimer = undefined;
        startFlushing();
      }
    }
    return w.promise;
  }

  /** Waits until what was written so far is durable. */
  function waitForWrites(urgent = true): Promise<void> {
    if (pendingWrites()) return waitFor(window, urgent);
    return flushing ? waitFor(window - 1, urgent) : Promise.resolve();
  }

  /** Whether anyone waits for what is not yet flushed (rather than for a flush to happen). */
  function urgentWaiting(): boolean {
    for (const w of waiters.values()) if (w.urgent) return true;
    return false;
  }

  function run<T>(
    writable: boolean,
    fn: (tx: StoreTx) => Promise<T>,
    options: { durable?: boolean; fence?: Fence } = {},
  ): Promise<T> {
    let flush: number | undefined;
    const result = exclusive(async () => {
      if (broken) throw broken.error;
      if (closed) throw closedBy ?? new DOMException('The store is closed.', 'InvalidStateError');
      const state: TxState = { writable, active: true, writes: [], failure: undefined, readHistory };
      try {
        // Against memory, which may be behind the database: a lease taken by another
        // connection since is caught when this write's flush finds the version moved on.
        if (options.fence) checkFence(tables, options.fence);
        const value = await fn(tablesTx(tables, nextInboxId, state));
        if (state.failure) throw state.failure.error;
        for (const { table, key, previous } of state.writes) {
          // History is flushed from the tables as a whole.
          if (table === undefined) continue;
          const changed = dirty[table];
          if (!changed.has(key)) changed.set(key, previous);
          dirtyCount++;
        }
        if (state.writes.length > 0) {
          scheduleFlush();
          flush = window;
        }
        return value;
      } catch (error) {
        rollback(state);
        throw error;
      } finally {
        state.active = false;
      }
    });
    if (!options.durable) return result;
    return result.then(async (value) => {
      if (flush !== undefined) await waitFor(flush);
      return value;
    });
  }

  /** History lives in memory only until flushed: older events are read from the backing. */
  async function readHistory(runId: string, fromEventId: number): Promise<HistoryEvent[]> {
    const local = [...(historyInFlight.get(runId) ?? []), ...chunkedEvents(tables.history.get(runId))].filter(
      (event) => event.eventId >= fromEventId,
    );
    const firstLocal = local[0]?.eventId;
    if (firstLocal === fromEventId) return copy(local);
    // Read after taking `local`: a chunk flushed meanwhile is in both, and kept once.
    const durable = await backing.readHistory(runId, fromEventId);
    if (firstLocal === undefined) return durable;
    return [...durable.filter((event) => event.eventId < firstLocal), ...copy(local)];
  }

  /**
   * Flushes at once when someone waits for durability; otherwise within `FLUSH_DELAY_MS`, so that
   * internal progress (nobody told of it yet) is written in fewer, larger flushes.
   */
  function scheduleFlush(): void {
    if (flushing || closed || delayTimer !== undefined) return;
    if (urgentWaiting()) {
      startFlushing();
      return;
    }
    delayTimer = setTimeout(() => {
      delayTimer = undefined;
      startFlushing();
    }, FLUSH_DELAY_MS);
    (delayTimer as { unref?: () => void }).unref?.();
  }

  function startFlushing(): void {
    if (flushing || closed) return;
    flushing = true;
    void flushLoop();
  }

  function pendingWrites(): boolean {
    return dirtyCount > 0 || tables.history.size > 0;
  }

  async function flushLoop(): Promise<void> {
    try {
      // The next flush follows at once only for someone waiting; otherwise after the delay.
      for (let first = true; pendingWrites() && !broken && (first || urgentWaiting()); first = false) {
        const batch = await exclusive(takeBatch);
        const flush = window - 1;
        if (batch.puts.length + batch.deletes.length + batch.history.length === 0) {
          settle(flush);
          continue;
        }
        let committed = false;
        let failure: unknown;
        try {
          committed = await backing.commit(batch);
        } catch (error) {
          failure = error;
        }
        if (committed) {
          version = batch.expectedVersion + 1;
          historyInFlight = new Map();
          settle(flush);
          continue;
        }
        await exclusive(() =>
          reload(
            new StoreConflictError(
              `${backing.name}: ${failure === undefined ? 'another connection wrote first' : 'a flush failed'}; unflushed writes were dropped`,
              { cause: failure },
            ),
          ),
        );
      }
    } finally {
      flushing = false;
      // A write may have landed while the last commit was in flight.
      if (pendingWrites() && !broken) scheduleFlush();
    }
  }

  /** Takes what changed since the last flush; runs between transactions. */
  function takeBatch(): FlushBatch {
    const batch: FlushBatch = {
      expectedVersion: version,
      nextInboxId: nextInboxId.value,
      puts: [],
      deletes: [],
      history: [],
    };
    for (const table of TABLES) {
      for (const [key, previous] of dirty[table]) {
        const value = tableOf(tables, table).get(key);
        if (value !== undefined) batch.puts.push({ table, value });
        // Created and deleted since the last flush: the database never saw it.
        else if (previous !== undefined) {
          batch.deletes.push({ table, key: durableKeyOf(table, previous as object) });
        }
      }
    }
    dirty = newDirty();
    dirtyCount = 0;
    for (const [runId, chunks] of tables.history) {
      const events = chunkedEvents(chunks);
      historyInFlight.set(runId, events);
      batch.history.push({ runId, firstEventId: events[0]!.eventId, events });
    }
    tables.history.clear();
    window++;
    return batch;
  }

  /** Flush `flush` committed: its writes, and every earlier one, are durable. */
  function settle(flush: number): void {
    finished = Math.max(finished, flush);
    for (const [n, w] of waiters) {
      if (n > flush) continue;
      waiters.delete(n);
      w.resolve();
    }
  }

  /** Every write not yet durable is gone; later writes go into a flush of a new number. */
  function failAll(error: unknown): void {
    lostFlushes = { from: finished + 1, to: window, error };
    finished = window;
    window++;
    for (const w of waiters.values()) w.reject(error);
    waiters.clear();
  }

  /** Drops unflushed writes and loads what is durable; runs between transactions. */
  async function reload(lost: StoreConflictError | undefined): Promise<void> {
    let snapshot: MirrorSnapshot;
    try {
      snapshot = await backing.load();
    } catch (error) {
      broken = { error };
      failAll(error);
      return;
    }
    tables = fill(snapshot);
    version = snapshot.version;
    // IDs are never reused within this store, even ones whose writes were lost.
    nextInboxId.value = nextInboxIdAfter(nextInboxId.value, snapshot);
    dirty = newDirty();
    dirtyCount = 0;
    historyInFlight = new Map();
    if (lost) {
      failAll(lost);
      for (const listener of listeners) {
        try {
          listener();
        } catch (error) {
          console.error('weft: a store reload listener threw', error);
        }
      }
    }
  }

  return {
    name: backing.name,
    read: (fn) => run(false, fn),
    write: (fn, options) => run(true, fn, options),
    flushed(options) {
      return broken ? Promise.reject(broken.error) : waitForWrites(!options?.lazy);
    },
    async refresh() {
      // A few rounds at most: under a stream of own writes, catching up can wait for a quieter turn.
      for (let round = 0; round < 3 && !broken && !closed; round++) {
        // Writes of ours not yet flushed are built on the version we know: if someone wrote
        // since, their flush fails and the store reloads, which catches up too. Wait for that.
        if (flushing || pendingWrites()) {
          await waitForWrites().catch(() => undefined);
          continue;
        }
        const done = await exclusive(async () => {
          if (flushing || pendingWrites()) return false;
          const caughtUp = await backing.changesSince(version);
          if (caughtUp === undefined) {
            await reload(undefined);
            return true;
          }
          applyChanges(tables, caughtUp.changes);
          nextInboxId.value = nextInboxIdAfter(nextInboxId.value, caughtUp);
          version = caughtUp.version;
          return true;
        });
        if (done) return;
      }
    },
    onReload(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    close(reason?: Error) {
      if (closed) return;
      closed = true;
      closedBy = reason;
      // What was written is flushed first; the connection closes once nothing is in flight.
      const drain = async (): Promise<void> => {
        clearTimeout(delayTimer);
        delayTimer = undefined;
        while (flushing || (pendingWrites() && !broken)) {
          if (!flushing) {
            flushing = true;
            await flushLoop();
          } else await waitFor(window - 1).catch(() => undefined);
        }
      };
      void drain().finally(() => backing.close());
    },
  };
}

function fill(snapshot: MirrorSnapshot): Tables {
  const tables = createTables();
  for (const table of TABLES) {
    for (const r of snapshot[table]) tableOf(tables, table).set(recordKey(table, r), r);
  }
  applyChanges(tables, snapshot.changes);
  return tables;
}

/** Applies commits, oldest first: each record's last value wins. */
function applyChanges(tables: Tables, changes: Change[]): void {
  for (const change of changes) {
    for (const { table, key } of change.deletes) tableOf(tables, table).delete(memoryKey(key));
    for (const { table, value } of change.puts) {
      tableOf(tables, table).set(recordKey(table, value), value);
    }
  }
}

/** The first inbox ID nobody has handed out, given `next` and the records and commits known. */
function nextInboxIdAfter(next: number, known: { inbox?: InboxRecord[]; changes: Change[] }): number {
  for (const m of known.inbox ?? []) next = Math.max(next, m.id + 1);
  for (const change of known.changes) next = Math.max(next, change.nextInboxId);
  return next;
}
