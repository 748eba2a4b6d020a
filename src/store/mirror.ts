import type { HistoryEvent } from '../engine/events.ts';
import { copy } from './copy.ts';
import { StoreConflictError } from './errors.ts';
import {
  checkFence,
  chunkedEvents,
  createTables,
  type DurableKey,
  type DurableSide,
  durableKeyOf,
  isDurableTable,
  matchesFilter,
  memoryKey,
  pairKey,
  recordKey,
  rollback,
  TABLES,
  type TableName,
  type TxState,
  tableOf,
  tablesTx,
} from './tables.ts';
import type {
  ActivityTaskRecord,
  ExecutionFilter,
  ExecutionRecord,
  Fence,
  HistoryChunk,
  InboxRecord,
  LeaseRecord,
  Store,
  StoreTx,
  TimerRecord,
  WorkflowTaskRecord,
} from './types.ts';

/**
 * What a connection holds in memory when it opens a database: its open work (running
 * executions and every inbox message, task, timer and lease, which only open runs have) as
 * the stores hold it, and the log of commits not yet folded into the stores. Closed executions
 * stay on disk: opening costs in proportion to the open work, not to the database.
 */
export interface MirrorSnapshot {
  /** Bumped by every commit of every connection: a commit checks it first (optimistic lock). */
  version: number;
  /** The RUNNING executions in the stores (the log may have closed some since). */
  executions: ExecutionRecord[];
  inbox: InboxRecord[];
  workflowTasks: WorkflowTaskRecord[];
  activityTasks: ActivityTaskRecord[];
  timers: TimerRecord[];
  leases: LeaseRecord[];
  /** Commits not yet folded into the stores, oldest first. */
  changes: Change[];
}

/** A record written by a commit. `fresh`: nothing was stored under its key before. */
export interface Put {
  table: TableName;
  value: object;
  fresh?: true;
}

/** What one flush makes durable, in one transaction. */
export interface FlushBatch {
  /** The version the mirror was built on; the commit is refused unless it is still current. */
  expectedVersion: number;
  nextInboxId: number;
  puts: Put[];
  deletes: { table: TableName; key: DurableKey }[];
  /** At most one chunk per run: what the run appended since the last flush. */
  history: HistoryChunk[];
  /** Runs whose every event is deleted. */
  dropHistory: string[];
}

/** One commit's record changes, as the log holds them, with the version it made. */
export interface Change {
  version: number;
  nextInboxId: number;
  puts: Put[];
  deletes: { table: TableName; key: DurableKey }[];
  dropHistory?: string[];
}

/**
 * The durable side of a mirrored store (IndexedDB in the browser). Its `get`, `page` and
 * `closedBefore` answer from the stores, as {@link DurableSide}'s (the log may hold newer
 * values: the mirror knows those).
 */
export interface Backing extends Pick<DurableSide, 'get' | 'page' | 'closedBefore'> {
  readonly name: string;
  load(): Promise<MirrorSnapshot>;
  /** Durable events of `runId` with eventId >= fromEventId, in order. */
  readHistory(runId: string, fromEventId: number): Promise<HistoryEvent[]>;
  /** Several records as the stores hold them, in one transaction. */
  getMany(table: 'executions', keys: string[]): Promise<(ExecutionRecord | undefined)[]>;
  /**
   * How many executions of the stores match, plus `correction()`, which is called when the
   * stores' answer arrives, so that it sees them as they were counted.
   */
  count(filter: ExecutionFilter, correction: () => number): Promise<number>;
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
  /**
   * Folds the log, but its newest entry, into the stores, if `version` is still the newest (no
   * other connection wrote since: only the writer folds, as only it knows what the stores held
   * under what it wrote), and drops the folded entries, in one transaction. `stored` is called,
   * with the executions folded (null: deleted), and the records the fold carried instead of
   * storing them (still the log's, as of the version folded), once the stores hold them, before
   * any later transaction of the database starts.
   * @returns the last version folded; undefined when there was nothing to fold; null when
   *   another connection wrote after `version`.
   */
  compact(
    version: number,
    stored: (executions: Map<string, ExecutionRecord | null>, carried: Put[]) => void,
  ): Promise<number | undefined | null>;
  close(): void;
}

/** Writes nobody waits for are flushed within this delay. */
const FLUSH_DELAY_MS = 8;
/**
 * The log is folded into the stores when nothing was flushed or read for this long, so that
 * compaction does not compete with work...
 */
const COMPACT_IDLE_MS = 1_000;
/**
 * ...or at once past this many records or entries in it: the log is what every connection
 * reads when it opens, so it must stay short however busy the database is.
 */
const COMPACT_MAX_RECORDS = 10_000;
const COMPACT_MAX_ENTRIES = 300;

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

/** A dirty record that the database never held: a put of it is fresh, a delete is nothing. */
const NEW = Symbol('new');
/** A dirty record of a table kept on disk, not in memory: the database may hold it. */
const MAYBE = Symbol('maybe');

/**
 * Per table, the keys of the records changed since the last flush began, each with the value the
 * database held before, or {@link NEW} or {@link MAYBE}.
 */
type Dirty = Record<TableName, Map<string | number, unknown>>;

function newDirty(): Dirty {
  return Object.fromEntries(TABLES.map((table) => [table, new Map()])) as Dirty;
}

/** Not yet in a flush: newer than every version. */
const PENDING = Number.POSITIVE_INFINITY;

/**
 * A {@link Store} that keeps open work in memory and writes behind to a durable
 * {@link Backing}. Transactions run against memory, so they cost no I/O and never wait for a
 * disk, but for what only the disk holds: the records of closed runs, read on demand through
 * the stores' indexes. What transactions changed is flushed in the background, all of it in
 * one durable transaction per flush, one flush at a time, so the durable state always lies on a
 * boundary between transactions. Several writes to a record between two flushes cost one
 * durable write, and a record created and deleted between them costs none.
 *
 * Memory holds: every record of open work; every record written since the log was last folded
 * into the stores (the log holds their newest values, the stores may not); unflushed history.
 * Once the log is folded, closed executions leave memory.
 *
 * Other connections to the same database (other tabs, workers) are detected by the version
 * each flush checks: a flush built on a stale version writes nothing, and the mirror reloads.
 */
export function mirrorStore(
  backing: Backing,
  initial: MirrorSnapshot,
): Store & { close(reason?: Error): void } {
  let delayTimer: ReturnType<typeof setTimeout> | undefined;
  let tables = createTables();
  /**
   * Records of the tables kept on disk that memory knows better than the stores: written since
   * the log was folded, by `pairKey(table, key)`, with the version of the last commit that wrote
   * each ({@link PENDING}: not flushed yet). A key known and absent from memory is deleted.
   */
  let known = new Map<string, number>();
  /**
   * For known executions, what the stores hold under them (null: nothing), where known; so
   * that a count from the stores' indexes can be corrected by what memory knows better.
   */
  let storeValues = new Map<string, ExecutionRecord | null>();
  /** Keys of the records the last fold of this connection carried (see `Backing.compact`). */
  let carried = new Set<string>();
  /** Runs whose history was deleted since the log was folded (the packs still hold it), with the version. */
  let dropped = new Map<string, number>();
  let version = 0;
  const nextInboxId = { value: 1 };
  /** Log entries and records since the stores last caught up, as far as this connection knows. */
  let logEntries = 0;
  let logRecords = 0;
  /** This connection wrote the log since it loaded it: only a writer folds the log. */
  let wroteLog = false;
  let compacting = false;
  let idleTimer: ReturnType<typeof setTimeout> | undefined;
  /**
   * When the last flush or history read began or ended; at first, when the store opened (a
   * connection that took long to open has not been idle for that long).
   */
  let lastActivity = performance.now();
  /** When this connection opened or last reloaded. */
  let openedAt = lastActivity;
  /** Records changed since the last flush began, with what the database held before. */
  let dirty = newDirty();
  /** Record writes since the last flush began (an upper bound on the records in `dirty`). */
  let dirtyCount = 0;
  /** Runs whose history was deleted since the last flush began. */
  let droppedHistory: string[] = [];
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

  fill(initial);

  /** Replaces memory with a snapshot of the database. */
  function fill(snapshot: MirrorSnapshot): void {
    tables = createTables();
    known = new Map();
    storeValues = new Map();
    carried = new Set();
    dropped = new Map();
    for (const table of TABLES) {
      // Workflow-ID records are on disk only, until written.
      if (table === 'workflowIds') continue;
      for (const r of snapshot[table] as object[]) tableOf(tables, table).set(recordKey(table, r), r);
    }
    const fromStores = new Map(snapshot.executions.map((e) => [e.runId, e]));
    applyChanges(snapshot.changes, fromStores);
    version = snapshot.version;
    logEntries = snapshot.changes.length;
    logRecords = snapshot.changes.reduce((n, c) => n + c.puts.length + c.deletes.length, 0);
    wroteLog = false;
    openedAt = performance.now();
    // IDs are never reused within this store, even ones whose writes were lost.
    nextInboxId.value = nextInboxIdAfter(nextInboxId.value, snapshot);
  }

  /**
   * Applies commits, oldest first: each record's last value wins. `fromStores`: executions
   * whose stored value is known (what memory held of them before, as the stores hold it).
   */
  function applyChanges(changes: Change[], fromStores?: Map<string, ExecutionRecord>): void {
    const learn = (table: TableName, key: string | number, at: number): void => {
      if (!isDurableTable(table)) return;
      const k = pairKey(table, key);
      if (table === 'executions' && !known.has(k)) {
        const stored = fromStores?.get(key as string);
        if (stored) storeValues.set(key as string, stored);
      }
      known.set(k, at);
    };
    for (const change of changes) {
      for (const { table, key } of change.deletes) {
        const k = memoryKey(key);
        learn(table, k, change.version);
        tableOf(tables, table).delete(k);
      }
      for (const { table, value } of change.puts) {
        const k = recordKey(table, value);
        learn(table, k, change.version);
        tableOf(tables, table).set(k, value);
      }
      for (const runId of change.dropHistory ?? []) dropped.set(runId, change.version);
    }
  }

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

  /** What memory does not hold: the stores, read through their indexes. */
  const durable: DurableSide = {
    knows: (table, key) => known.has(pairKey(table, key)),
    get: backing.get,
    page: backing.page,
    closedBefore: backing.closedBefore,
    async count(filter) {
      const unknown: string[] = [];
      for (const k of known.keys()) {
        const runId = executionKey(k);
        if (runId !== undefined && !storeValues.has(runId)) unknown.push(runId);
      }
      if (unknown.length > 0) {
        const values = await backing.getMany('executions', unknown);
        unknown.forEach((runId, i) => {
          // Still known (no compaction in between, which would have told us what it stored).
          if (known.has(pairKey('executions', runId)) && !storeValues.has(runId))
            storeValues.set(runId, values[i] ?? null);
        });
      }
      return backing.count(filter, () => {
        let correction = 0;
        for (const k of known.keys()) {
          const runId = executionKey(k);
          if (runId === undefined) continue;
          const held = tables.executions.get(runId);
          const stored = storeValues.get(runId);
          if (held && matchesFilter(held, filter)) correction++;
          if (stored && matchesFilter(stored, filter)) correction--;
        }
        return correction;
      });
    },
  };

  function run<T>(
    writable: boolean,
    fn: (tx: StoreTx) => Promise<T>,
    options: { durable?: boolean; fence?: Fence } = {},
  ): Promise<T> {
    let flush: number | undefined;
    const result = exclusive(async () => {
      if (broken) throw broken.error;
      if (closed) throw closedBy ?? new DOMException('The store is closed.', 'InvalidStateError');
      const state: TxState = {
        writable,
        active: true,
        writes: [],
        failure: undefined,
        readHistory,
        durable,
      };
      try {
        // Against memory, which may be behind the database: a lease taken by another
        // connection since is caught when this write's flush finds the version moved on.
        if (options.fence) checkFence(tables, options.fence);
        const value = await fn(tablesTx(tables, nextInboxId, state));
        if (state.failure) throw state.failure.error;
        for (const { table, key, previous, created } of state.writes) {
          // History is flushed from the tables as a whole.
          if (table === undefined) continue;
          const changed = dirty[table];
          if (!changed.has(key)) {
            changed.set(
              key,
              previous !== undefined ? previous : created || !isDurableTable(table) ? NEW : MAYBE,
            );
          }
          if (isDurableTable(table)) {
            const k = pairKey(table, key);
            if (table === 'executions' && !known.has(k)) {
              // Not known until now: memory held it as the stores do, or `add` made it new.
              if (previous !== undefined) storeValues.set(key as string, previous as ExecutionRecord);
              else if (created) storeValues.set(key as string, null);
            }
            known.set(k, PENDING);
          }
          dirtyCount++;
        }
        if (state.droppedHistory) {
          droppedHistory.push(...state.droppedHistory);
          for (const runId of state.droppedHistory) dropped.set(runId, PENDING);
        }
        if (state.writes.length > 0 || state.droppedHistory) {
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
    // Deleted: the durable side drops it when the log is next folded.
    if (dropped.has(runId)) return copy(local);
    // A history read, and the replay that follows, is work too: compaction waits for it.
    lastActivity = performance.now();
    // Read after taking `local`: a chunk flushed meanwhile is in both, and kept once.
    const durable = await backing.readHistory(runId, fromEventId);
    lastActivity = performance.now();
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
    return dirtyCount > 0 || tables.history.size > 0 || droppedHistory.length > 0;
  }

  async function flushLoop(): Promise<void> {
    try {
      // The next flush follows at once only for someone waiting; otherwise after the delay.
      for (let first = true; pendingWrites() && !broken && (first || urgentWaiting()); first = false) {
        const batch = await exclusive(takeBatch);
        const flush = window - 1;
        const records = batch.puts.length + batch.deletes.length;
        if (records + batch.history.length + batch.dropHistory.length === 0) {
          settle(flush);
          continue;
        }
        let committed = false;
        let failure: unknown;
        lastActivity = performance.now();
        try {
          committed = await backing.commit(batch);
        } catch (error) {
          failure = error;
        }
        lastActivity = performance.now();
        if (committed) {
          version = batch.expectedVersion + 1;
          historyInFlight = new Map();
          wroteLog = true;
          logEntries++;
          logRecords += records;
          settle(flush);
          scheduleCompaction();
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
      dropHistory: droppedHistory,
    };
    const at = version + 1;
    for (const table of TABLES) {
      const durableTable = isDurableTable(table);
      for (const [key, previous] of dirty[table]) {
        const value = tableOf(tables, table).get(key);
        if (value !== undefined)
          batch.puts.push(previous === NEW ? { table, value, fresh: true } : { table, value });
        // Created and deleted since the last flush: the database never saw it.
        else if (previous !== NEW) {
          batch.deletes.push({
            table,
            // MAYBE is only ever a disk table's, keyed by a string.
            key: previous === MAYBE ? (key as string) : durableKeyOf(table, previous as object),
          });
        }
        if (durableTable) {
          const k = pairKey(table, key);
          if (known.get(k) === PENDING) known.set(k, at);
        }
      }
    }
    dirty = newDirty();
    dirtyCount = 0;
    for (const runId of droppedHistory) dropped.set(runId, at);
    droppedHistory = [];
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
    fill(snapshot);
    dirty = newDirty();
    dirtyCount = 0;
    droppedHistory = [];
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

  // ---- compaction: the log folded into the stores, and closed runs out of memory ----------

  function scheduleCompaction(): void {
    if (closed || broken || !wroteLog || compacting || logEntries <= 1) return;
    // A log left by an earlier connection waits for a quiet moment: folding it first thing would
    // compete with the work that waited for this connection to open.
    const settled = performance.now() - openedAt > COMPACT_IDLE_MS;
    if (settled && (logRecords >= COMPACT_MAX_RECORDS || logEntries >= COMPACT_MAX_ENTRIES)) {
      clearTimeout(idleTimer);
      idleTimer = undefined;
      compact();
      return;
    }
    if (idleTimer !== undefined) return;
    const wait = (): void => {
      const idleFor = performance.now() - lastActivity;
      if (flushing || idleFor < COMPACT_IDLE_MS) {
        idleTimer = setTimeout(wait, COMPACT_IDLE_MS - Math.min(idleFor, COMPACT_IDLE_MS / 2));
        // Node: a pending compaction must not keep the process alive.
        (idleTimer as { unref?: () => void }).unref?.();
        return;
      }
      idleTimer = undefined;
      compact();
    };
    wait();
  }

  function compact(): void {
    if (compacting || closed) return;
    compacting = true;
    const entriesBefore = logEntries;
    const recordsBefore = logRecords;
    backing
      .compact(version, (executions, carriedPuts) => {
        // The stores hold these now: what a count of theirs must be corrected by changes.
        for (const [runId, value] of executions) {
          if (storeValues.has(runId) || known.has(pairKey('executions', runId)))
            storeValues.set(runId, value);
        }
        // These the stores do not hold: memory goes on knowing better, until a fold stores them.
        carried = new Set(carriedPuts.map(({ table, value }) => pairKey(table, recordKey(table, value))));
        logRecords += carried.size;
      })
      .then((upTo) => {
        if (upTo === null) {
          // Another connection writes the log now: it folds it, knowing what it wrote.
          wroteLog = false;
          return;
        }
        if (upTo === undefined) return;
        // All but the newest entry were folded; what was flushed meanwhile stays counted.
        logEntries = Math.max(1, logEntries - entriesBefore + 1);
        logRecords = Math.max(0, logRecords - recordsBefore);
        return exclusive(() => forget(upTo));
      })
      .catch((error: unknown) => {
        // The log stays as it is, complete: compaction only saves memory, space and load time.
        // The next try waits for a quiet second, as a first one does.
        lastActivity = performance.now();
        if (!closed) console.error('weft: log compaction failed (will retry)', error);
      })
      .finally(() => {
        compacting = false;
        scheduleCompaction();
      });
  }

  /**
   * The stores hold every commit up to `upTo`: memory no longer needs to know better for what
   * those wrote, and the closed runs among them leave memory. Runs between transactions.
   */
  function forget(upTo: number): void {
    for (const [runId, at] of dropped) if (at <= upTo) dropped.delete(runId);
    for (const [k, at] of known) {
      if (at > upTo || carried.has(k)) continue;
      known.delete(k);
      const [table, key] = splitKey(k);
      if (table === 'executions') {
        storeValues.delete(key);
        const exec = tables.executions.get(key);
        if (exec && exec.status !== 'RUNNING') {
          tables.executions.delete(key);
          const id = tables.workflowIds.get(exec.workflowId);
          if (id?.runId === key && !known.has(pairKey('workflowIds', exec.workflowId)))
            tables.workflowIds.delete(exec.workflowId);
        }
      } else {
        const id = tables.workflowIds.get(key);
        if (id && tables.executions.get(id.runId)?.status !== 'RUNNING') tables.workflowIds.delete(key);
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
          applyChanges(caughtUp.changes);
          logEntries += caughtUp.changes.length;
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
      clearTimeout(idleTimer);
      idleTimer = undefined;
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

/** The run ID of a known key of the executions table, or undefined for another table's. */
function executionKey(k: string): string | undefined {
  return k.startsWith('executions\u0000') ? k.slice('executions\u0000'.length) : undefined;
}

function splitKey(k: string): [string, string] {
  const at = k.indexOf('\u0000');
  return [k.slice(0, at), k.slice(at + 1)];
}

/** The first inbox ID nobody has handed out, given `next` and the records and commits known. */
function nextInboxIdAfter(next: number, known: { inbox?: InboxRecord[]; changes: Change[] }): number {
  for (const m of known.inbox ?? []) next = Math.max(next, m.id + 1);
  for (const change of known.changes) next = Math.max(next, change.nextInboxId);
  return next;
}
