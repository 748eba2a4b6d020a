import type { HistoryEvent } from '../engine/events.ts';
import { copy, own } from './copy.ts';
import { LeaseLostError } from './errors.ts';
import type {
  ActivityTaskRecord,
  ExecutionCursor,
  ExecutionFilter,
  ExecutionPageQuery,
  ExecutionRecord,
  Fence,
  InboxRecord,
  LeaseRecord,
  StoreTx,
  TimerRecord,
  WorkflowIdRecord,
  WorkflowTaskRecord,
} from './types.ts';

/**
 * A Map with secondary indexes on fields of its values, kept in `set` and `delete`, so a
 * rollback (which calls them) keeps the indexes right too. Like an IndexedDB index: lookups by
 * a field touch only the matching records, not the whole table.
 */
export class IndexedMap<K, V extends object> extends Map<K, V> {
  readonly #indexes: Map<keyof V, Map<unknown, Set<K>>>;
  constructor(...fields: (keyof V)[]) {
    super();
    this.#indexes = new Map(fields.map((field) => [field, new Map()]));
  }
  override set(key: K, value: V): this {
    this.#unindex(key);
    super.set(key, value);
    for (const [field, index] of this.#indexes) {
      const ik = value[field];
      if (ik === undefined) continue;
      const keys = index.get(ik) ?? new Set<K>();
      keys.add(key);
      index.set(ik, keys);
    }
    return this;
  }
  override delete(key: K): boolean {
    this.#unindex(key);
    return super.delete(key);
  }
  #unindex(key: K): void {
    const old = super.get(key);
    if (old === undefined) return;
    for (const [field, index] of this.#indexes) {
      const ik = old[field];
      const keys = index.get(ik);
      keys?.delete(key);
      if (keys?.size === 0) index.delete(ik);
    }
  }
  /** The values whose `field` is `ik` (`field` must be one the map indexes). */
  byIndex(ik: unknown, field: keyof V = this.#indexes.keys().next().value!): V[] {
    return [...(this.#indexes.get(field)?.get(ik) ?? [])].map((key) => super.get(key)!);
  }
}

/** Everything the store holds. History is nested by run so a read touches one run only. */
export interface Tables {
  /** Indexed by parent run (close policies) and by workflow ID (a workflow's open run). */
  executions: IndexedMap<string, ExecutionRecord>;
  workflowIds: Map<string, WorkflowIdRecord>;
  history: Map<string, Map<number, HistoryEvent[]>>;
  /** Indexed by run. */
  inbox: IndexedMap<number, InboxRecord>;
  workflowTasks: Map<string, WorkflowTaskRecord>;
  /** Keyed by `pairKey(runId, seq)`, indexed by run. */
  activityTasks: IndexedMap<string, ActivityTaskRecord>;
  /** Keyed by `pairKey(runId, key)`, indexed by run. */
  timers: IndexedMap<string, TimerRecord>;
  leases: Map<string, LeaseRecord>;
}

/** The tables whose records a write can touch one by one (history is appended in chunks). */
export type TableName =
  | 'executions'
  | 'workflowIds'
  | 'inbox'
  | 'workflowTasks'
  | 'activityTasks'
  | 'timers'
  | 'leases';

/**
 * Each table's key path in the durable database (IndexedDB's `keyPath`): the fields a record's
 * key is made of. Its keys list the tables, in the order `TABLES` gives them.
 */
export const KEY_PATHS: Record<TableName, string | [string, string]> = {
  executions: 'runId',
  workflowIds: 'workflowId',
  inbox: 'id',
  workflowTasks: 'runId',
  activityTasks: ['runId', 'seq'],
  timers: ['runId', 'key'],
  leases: 'name',
};

/** Every table but history, in one fixed order (the durable snapshot's and log's). */
export const TABLES = Object.keys(KEY_PATHS) as TableName[];

/**
 * One write of a transaction: what was under `key` in `map` before (undefined: nothing), to
 * undo it by, and for a mirror to flush the record by.
 */
export interface Write {
  /** The record's table; none for history, which a mirror flushes from the tables as a whole. */
  table: TableName | undefined;
  map: Map<string | number, unknown>;
  key: string | number;
  previous: unknown;
  /** Written by `add`: the key was never used, on disk either. */
  created?: boolean;
}

/** The tables whose records of closed runs live on disk only, in a store that keeps open work in memory. */
export function isDurableTable(table: TableName): table is 'executions' | 'workflowIds' {
  return table === 'executions' || table === 'workflowIds';
}

export function createTables(): Tables {
  return {
    executions: new IndexedMap('parentRunId', 'workflowId'),
    workflowIds: new Map(),
    history: new Map(),
    inbox: new IndexedMap('runId'),
    workflowTasks: new Map(),
    activityTasks: new IndexedMap('runId'),
    timers: new IndexedMap('runId'),
    leases: new Map(),
  };
}

/**
 * Throws {@link LeaseLostError} unless the lease `fence.name` is held by `fence.holder` at
 * `fence.epoch`. Both stores call it at the start of a fenced write, before its `fn`, so a
 * host that lost the lease runs none of the write's code.
 */
export function checkFence(tables: Tables, fence: Fence): void {
  const lease = tables.leases.get(fence.name);
  if (lease?.holder === fence.holder && lease.epoch === fence.epoch) return;
  const now = lease === undefined ? 'no one holds it now' : `now ${lease.holder} at epoch ${lease.epoch}`;
  throw new LeaseLostError(
    `Lease "${fence.name}" is no longer held by ${fence.holder} at epoch ${fence.epoch} (${now})`,
  );
}

/**
 * What memory does not hold, for a store that keeps only open work in memory (see
 * `mirror.ts`): executions and workflow-ID records of closed runs live on disk.
 */
export interface DurableSide {
  /** Whether memory holds the truth about this record (at hand, or written since the disk last caught up). */
  knows(table: 'executions' | 'workflowIds', key: string): boolean;
  /** The record as the disk holds it; called only for keys memory does not know. */
  get(table: 'executions' | 'workflowIds', key: string): Promise<object | undefined>;
  /** Up to `limit` matching records from the disk, newest first, none that `skip` names. */
  page(query: ExecutionPageQuery, skip: (runId: string) => boolean): Promise<ExecutionRecord[]>;
  /** Up to `limit` records closed before `time`, oldest start first, after `after`, none that `skip` names. */
  closedBefore(
    time: number,
    limit: number,
    after: ClosedCursor | undefined,
    skip: (runId: string) => boolean,
  ): Promise<ExecutionRecord[]>;
  /** How many executions match, memory and disk together. */
  count(filter: ExecutionFilter): Promise<number>;
}

/** What one transaction needs besides the tables: its writes and its state. */
export interface TxState {
  readonly writable: boolean;
  active: boolean;
  /** Every write, oldest first: undone backwards when the transaction fails. */
  readonly writes: Write[];
  /** The first write that failed. Like IndexedDB, the transaction fails even if `fn` catches it. */
  failure: { error: unknown } | undefined;
  /** When set, answers history reads (a mirror keeps only unflushed history in the tables). */
  readonly readHistory?: (runId: string, fromEventId: number) => Promise<HistoryEvent[]>;
  /** Runs whose history this transaction deleted (a mirror deletes their durable events too). */
  droppedHistory?: string[];
  /** When set, holds what the tables do not: records of closed runs. */
  readonly durable?: DurableSide;
}

/** Undoes a failed transaction's writes, newest first. */
export function rollback(state: TxState): void {
  for (const { map, key, previous } of state.writes.reverse()) {
    if (previous === undefined) map.delete(key);
    else map.set(key, previous);
  }
}

/** Records per page when `list` reads every page. */
const LIST_PAGE = 1_000;

/**
 * A transaction over in-memory tables. Reads hand out copies; a write keeps the record (or
 * event) object it is given, which the caller builds for it and leaves alone afterwards, and
 * copies what that object holds. So neither the caller's code nor workflow or activity code
 * sees the tables change, nor the tables theirs; writes are undone when the transaction fails.
 */
export function tablesTx(tables: Tables, nextInboxId: { value: number }, state: TxState): StoreTx {
  const durable = state.durable;

  /** Guards every operation: no use after the transaction ended, as in IndexedDB. */
  function checkActive(): void {
    if (!state.active) {
      throw new DOMException('The transaction has finished.', 'TransactionInactiveError');
    }
  }

  /** Runs one write; a write that throws fails the whole transaction, even if `fn` catches it. */
  function write(apply: () => void): void {
    try {
      checkActive();
      if (!state.writable) {
        throw new DOMException('The transaction is read-only.', 'ReadOnlyError');
      }
      apply();
    } catch (error) {
      state.failure ??= { error };
      throw error;
    }
  }

  /** Fails the transaction later, through the transaction, as IndexedDB reports a request's error. */
  function failLater(message: string, name: string): void {
    state.failure ??= { error: new DOMException(message, name) };
  }

  function set(
    table: TableName | undefined,
    map: Map<string | number, unknown>,
    key: string | number,
    value: unknown,
    created?: boolean,
  ): void {
    state.writes.push({ table, map, key, previous: map.get(key), ...(created && { created }) });
    map.set(key, value);
  }

  /** Writes `record` (what it holds copied) into `table`, under the key its key path gives. */
  function put(table: TableName, record: object): void {
    write(() => set(table, tableOf(tables, table), recordKey(table, record), own(record)));
  }

  function remove(table: TableName, key: string | number): void {
    write(() => {
      const map = tableOf(tables, table);
      const previous = map.get(key);
      // A record on disk only is deleted too: memory records the delete, for the flush to carry out.
      const onDiskOnly =
        previous === undefined &&
        durable !== undefined &&
        isDurableTable(table) &&
        !durable.knows(table, key as string);
      if (previous === undefined && !onDiskOnly) return;
      state.writes.push({ table, map, key, previous });
      map.delete(key);
    });
  }

  /** Reads answer at call time, like an IndexedDB request queued in order. */
  function read<T>(compute: () => T): Promise<T> {
    try {
      checkActive();
      return Promise.resolve(copy(compute()));
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /** A record of a table that lives on disk too: from memory if memory knows it, else from disk. */
  async function getDurable<T>(table: 'executions' | 'workflowIds', key: string): Promise<T | undefined> {
    checkActive();
    const held = (tables[table] as Map<string, T>).get(key);
    if (held !== undefined || !durable || durable.knows(table, key)) return copy(held);
    const found = (await durable.get(table, key)) as T | undefined;
    checkActive();
    // Fresh from the disk: nobody else holds it.
    return found;
  }

  /** The executions in memory a filter can match: through an index where it names one. */
  function candidates(filter: ExecutionFilter): Iterable<ExecutionRecord> {
    if (filter.workflowId !== undefined) return tables.executions.byIndex(filter.workflowId, 'workflowId');
    if (filter.parentRunId !== undefined) return tables.executions.byIndex(filter.parentRunId, 'parentRunId');
    return tables.executions.values();
  }

  /** Whether only the disk holds this execution: memory neither has it nor knows it deleted. */
  function onDisk(runId: string): boolean {
    return !tables.executions.has(runId) && !durable?.knows('executions', runId);
  }

  /** Memory's matching executions after the cursor, newest first. */
  function memoryPage(query: ExecutionPageQuery): ExecutionRecord[] {
    const filter = query.filter ?? {};
    const after = query.after;
    const out: ExecutionRecord[] = [];
    for (const record of candidates(filter)) {
      if (matchesFilter(record, filter) && (after === undefined || compareNewestFirst(after, record) < 0))
        out.push(record);
    }
    return out.sort(compareNewestFirst).slice(0, query.limit);
  }

  async function page(query: ExecutionPageQuery): Promise<ExecutionRecord[]> {
    checkActive();
    if (!(query.limit > 0)) return [];
    const held = copy(memoryPage(query));
    if (!durable) return held;
    const stored = await durable.page(query, (runId) => !onDisk(runId));
    checkActive();
    return [...held, ...stored].sort(compareNewestFirst).slice(0, query.limit);
  }

  async function closedBefore(time: number, limit: number, after?: ClosedCursor): Promise<ExecutionRecord[]> {
    checkActive();
    const held: ExecutionRecord[] = [];
    for (const record of tables.executions.values()) {
      if (record.closeTime !== undefined && record.closeTime < time && isAfter(record, after))
        held.push(record);
    }
    held.sort(compareStarts);
    const mine = copy(held.slice(0, limit));
    if (!durable) return mine;
    const stored = await durable.closedBefore(time, limit, after, (runId) => !onDisk(runId));
    checkActive();
    return [...mine, ...stored].sort(compareStarts).slice(0, limit);
  }

  return {
    executions: {
      get: (runId) => getDurable('executions', runId),
      put: (record) => put('executions', record),
      add: (record) =>
        write(() => {
          if (tables.executions.has(record.runId)) {
            failLater(`An execution with run ID ${record.runId} exists already.`, 'ConstraintError');
            return;
          }
          set('executions', tables.executions, record.runId, own(record), true);
        }),
      delete: (runId) => remove('executions', runId),
      open: (filter) =>
        read(() =>
          [...candidates(filter)]
            .filter((record) => record.status === 'RUNNING' && matchesFilter(record, filter))
            .sort(compareExecutions),
        ),
      page,
      count: async (filter = {}) => {
        checkActive();
        if (durable) return durable.count(filter);
        let n = 0;
        for (const record of tables.executions.values()) if (matchesFilter(record, filter)) n++;
        return n;
      },
      closedBefore,
      list: async (filter = {}) => {
        const all: ExecutionRecord[] = [];
        let after: ExecutionCursor | undefined;
        for (;;) {
          const batch = await page({ filter, limit: LIST_PAGE, ...(after && { after }) });
          all.push(...batch);
          if (batch.length < LIST_PAGE) return all.reverse();
          const last = batch[batch.length - 1]!;
          after = { startTime: last.startTime, runId: last.runId };
        }
      },
    },
    workflowIds: {
      get: (workflowId) => getDurable('workflowIds', workflowId),
      put: (record) => put('workflowIds', record),
      delete: (workflowId) => remove('workflowIds', workflowId),
    },
    history: {
      append: (runId, chunk) =>
        write(() => {
          const first = chunk[0];
          if (first === undefined) throw new RangeError('history.append needs at least one event');
          // Each event and its attributes are kept; what the attributes hold is copied.
          const events = chunk.map((event) => own(event, 2));
          let chunks = tables.history.get(runId);
          if (chunks === undefined) {
            chunks = new Map();
            set(undefined, tables.history, runId, chunks);
          }
          if (chunks.has(first.eventId)) {
            // IndexedDB's `add` reports a duplicate key later, through the transaction, not
            // by throwing: fail the transaction the same way.
            failLater(
              `History of run ${runId} already has a chunk starting at event ${first.eventId}.`,
              'ConstraintError',
            );
            return;
          }
          set(undefined, chunks, first.eventId, events);
        }),
      read: (runId, fromEventId = 1) =>
        state.readHistory?.(runId, fromEventId) ??
        read(() => chunkedEvents(tables.history.get(runId)).filter((event) => event.eventId >= fromEventId)),
      delete: (runId) =>
        write(() => {
          const previous = tables.history.get(runId);
          if (previous !== undefined) {
            state.writes.push({ table: undefined, map: tables.history, key: runId, previous });
            tables.history.delete(runId);
          }
          state.droppedHistory ??= [];
          state.droppedHistory.push(runId);
        }),
    },
    inbox: {
      add: (record) =>
        write(() => {
          // Ids are never reused: a rolled-back add just leaves a gap.
          const id = nextInboxId.value++;
          set('inbox', tables.inbox, id, own({ ...record, id }));
        }),
      list: (runId) => read(() => tables.inbox.byIndex(runId).sort((a, b) => a.id - b.id)),
      delete: (id) => remove('inbox', id),
    },
    workflowTasks: {
      get: (runId) => read(() => tables.workflowTasks.get(runId)),
      put: (record) => put('workflowTasks', record),
      delete: (runId) => remove('workflowTasks', runId),
      list: (taskQueue) =>
        read(() =>
          [...tables.workflowTasks.values()]
            .filter((task) => taskQueue === undefined || task.taskQueue === taskQueue)
            .sort((a, b) => a.scheduledTime - b.scheduledTime || compareKeys(a.runId, b.runId)),
        ),
    },
    activityTasks: {
      get: (runId, seq) => read(() => tables.activityTasks.get(pairKey(runId, seq))),
      put: (record) => put('activityTasks', record),
      delete: (runId, seq) => remove('activityTasks', pairKey(runId, seq)),
      list: (taskQueue) =>
        read(() =>
          [...tables.activityTasks.values()]
            .filter((task) => taskQueue === undefined || task.taskQueue === taskQueue)
            .sort(compareActivityTasks),
        ),
      listByRun: (runId) => read(() => tables.activityTasks.byIndex(runId).sort(compareActivityTasks)),
    },
    timers: {
      put: (record) => put('timers', record),
      delete: (runId, key) => remove('timers', pairKey(runId, key)),
      list: () =>
        read(() => [...tables.timers.values()].sort((a, b) => a.fireAt - b.fireAt || compareTimerKeys(a, b))),
      listByRun: (runId) => read(() => tables.timers.byIndex(runId).sort(compareTimerKeys)),
    },
    leases: {
      get: (name) => read(() => tables.leases.get(name)),
      put: (record) => put('leases', record),
    },
  };
}

/** A run's history chunks (keyed by their first event ID) as one list of events, in order. */
export function chunkedEvents(chunks: Map<number, HistoryEvent[]> | undefined): HistoryEvent[] {
  return [...(chunks ?? [])].sort(([a], [b]) => a - b).flatMap(([, events]) => events);
}

/**
 * A Map key for a compound key: the parts joined by a NUL, which neither part holds (run IDs
 * are UUIDs, the second part a sequence number or an engine-made timer key).
 */
export function pairKey(first: string, second: string | number): string {
  return `${first}\u0000${second}`;
}

/** The key a table's record has in the durable database. */
export type DurableKey = string | number | [string, number] | [string, string];

/** A durable key as the tables in memory hold it: compound keys as one string (see `pairKey`). */
export function memoryKey(key: DurableKey): string | number {
  return typeof key === 'object' ? pairKey(key[0], key[1]) : key;
}

/** A record's key in its store (the stores' key paths, in code). */
export function durableKeyOf(table: TableName, value: object): DurableKey {
  const path = KEY_PATHS[table];
  const v = value as Record<string, string | number>;
  return (typeof path === 'string' ? v[path] : [v[path[0]], v[path[1]]]) as DurableKey;
}

/** A record's key in the tables in memory. */
export function recordKey(table: TableName, value: object): string | number {
  return memoryKey(durableKeyOf(table, value));
}

/** A table as a plain Map, for code that handles every table alike. */
export function tableOf(tables: Tables, table: TableName): Map<string | number, object> {
  return tables[table] as Map<string | number, object>;
}

/** Orders strings by code unit, as IndexedDB orders string keys (not `localeCompare`). */
export function compareKeys(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Whether an execution passes every field of a filter (fields combine with AND). */
export function matchesFilter(record: ExecutionRecord, filter: ExecutionFilter): boolean {
  return (
    (filter.workflowType === undefined || record.workflowType === filter.workflowType) &&
    (filter.status === undefined || record.status === filter.status) &&
    (filter.parentWorkflowId === undefined || record.parentWorkflowId === filter.parentWorkflowId) &&
    (filter.parentRunId === undefined || record.parentRunId === filter.parentRunId) &&
    (filter.workflowId === undefined || record.workflowId === filter.workflowId) &&
    (filter.startTimeFrom === undefined || record.startTime >= filter.startTimeFrom) &&
    (filter.startTimeTo === undefined || record.startTime < filter.startTimeTo)
  );
}

/** By start time, then run ID (the order of `open` and `list`). */
function compareExecutions(a: ExecutionRecord, b: ExecutionRecord): number {
  return a.startTime - b.startTime || compareKeys(a.runId, b.runId);
}

/** The order of pages: newest first, by start time then run ID, as the stores' indexes sort them backwards. */
export function compareNewestFirst(a: ExecutionCursor, b: ExecutionCursor): number {
  return b.startTime - a.startTime || compareKeys(b.runId, a.runId);
}

/** Where a scan of closed executions stopped. */
export type ClosedCursor = Pick<ExecutionRecord, 'startTime' | 'runId'>;

/** Whether a record comes after the cursor in start order. */
export function isAfter(record: ExecutionRecord, after: ClosedCursor | undefined): boolean {
  return after === undefined || compareStarts(after, record) < 0;
}

/** Oldest start first, then by run ID: the order retention deletes in. */
function compareStarts(a: ClosedCursor, b: ClosedCursor): number {
  return a.startTime - b.startTime || compareKeys(a.runId, b.runId);
}

// The orders below match the IndexedDB store, whose lists come back in key order.
function compareActivityTasks(a: ActivityTaskRecord, b: ActivityTaskRecord): number {
  return compareKeys(a.runId, b.runId) || a.seq - b.seq;
}

function compareTimerKeys(a: TimerRecord, b: TimerRecord): number {
  return compareKeys(a.runId, b.runId) || compareKeys(a.key, b.key);
}
