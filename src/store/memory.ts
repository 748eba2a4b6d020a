import type { HistoryEvent } from '../engine/events.ts';
import { compareExecutions, matchesFilter } from './filter.ts';
import type {
  ActivityTaskRecord,
  ExecutionFilter,
  ExecutionRecord,
  HostRecord,
  InboxRecord,
  NewInboxRecord,
  Store,
  StoreTx,
  TimerRecord,
  WorkflowIdRecord,
  WorkflowTaskRecord,
} from './types.ts';

/**
 * A Map with one secondary index, kept in `set` and `delete`, so the undo log (which calls
 * them) keeps the index right on rollback too. Like an IndexedDB index: lookups by a field
 * touch only the matching records, not the whole table.
 */
class IndexedMap<K, V> extends Map<K, V> {
  private readonly index = new Map<string, Set<K>>();
  constructor(private readonly indexKey: (value: V) => string | undefined) {
    super();
  }
  override set(key: K, value: V): this {
    this.unindex(key);
    super.set(key, value);
    const ik = this.indexKey(value);
    if (ik !== undefined) {
      const keys = this.index.get(ik) ?? new Set<K>();
      keys.add(key);
      this.index.set(ik, keys);
    }
    return this;
  }
  override delete(key: K): boolean {
    this.unindex(key);
    return super.delete(key);
  }
  private unindex(key: K): void {
    const old = super.get(key);
    if (old === undefined) return;
    const ik = this.indexKey(old);
    if (ik === undefined) return;
    const keys = this.index.get(ik);
    keys?.delete(key);
    if (keys?.size === 0) this.index.delete(ik);
  }
  /** The values whose index key is `ik`. */
  byIndex(ik: string): V[] {
    return [...(this.index.get(ik) ?? [])].map((key) => super.get(key)!);
  }
}

/** Everything the store holds. History is nested by run so a read touches one run only. */
interface Tables {
  /** Indexed by parent run, for close policies. */
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
  hosts: Map<string, HostRecord>;
}

/** What one transaction needs besides the tables: its undo log and its state. */
interface TxState {
  readonly writable: boolean;
  active: boolean;
  /** Undoes each write, newest last; replayed backwards when the transaction fails. */
  readonly undo: (() => void)[];
  /** The first write that failed. Like IndexedDB, the transaction fails even if `fn` catches it. */
  failure: { error: unknown } | undefined;
}

/**
 * An in-memory {@link Store}: plain Maps, for tests, Node and edge runtimes. It behaves like
 * the IndexedDB store: values are structured-cloned in and out (uncloneable values throw a
 * `DataCloneError`), a failed write changes nothing, and transactions run one at a time.
 *
 * @example
 * const store = memoryStore();
 * await store.write(async (tx) => tx.hosts.put({ hostId: 'tab-1', heartbeat: 0, taskQueues: [] }));
 * const hosts = await store.read((tx) => tx.hosts.list());
 */
export function memoryStore(options: { name?: string } = {}): Store {
  const tables: Tables = {
    executions: new IndexedMap((e) => e.parentRunId),
    workflowIds: new Map(),
    history: new Map(),
    inbox: new IndexedMap((m) => m.runId),
    workflowTasks: new Map(),
    activityTasks: new IndexedMap((a) => a.runId),
    timers: new IndexedMap((t) => t.runId),
    hosts: new Map(),
  };
  const nextInboxId = { value: 1 };
  let closed = false;
  // Every transaction, read or write, runs alone, so a transaction sees a consistent state
  // and a write's undo log is never interleaved with another transaction's reads.
  let tail: Promise<unknown> = Promise.resolve();

  function run<T>(writable: boolean, fn: (tx: StoreTx) => Promise<T>): Promise<T> {
    const result = tail.then(async () => {
      if (closed) throw new DOMException('The store is closed.', 'InvalidStateError');
      const state: TxState = { writable, active: true, undo: [], failure: undefined };
      try {
        const value = await fn(memoryTx(tables, nextInboxId, state));
        if (state.failure) throw state.failure.error;
        return value;
      } catch (error) {
        for (let i = state.undo.length - 1; i >= 0; i--) state.undo[i]?.();
        throw error;
      } finally {
        state.active = false;
      }
    });
    tail = result.catch(() => undefined);
    return result;
  }

  return {
    name: options.name === undefined ? 'memory' : `memory:${options.name}`,
    read: (fn) => run(false, fn),
    write: (fn) => run(true, fn),
    close() {
      closed = true;
    },
  };
}

function memoryTx(tables: Tables, nextInboxId: { value: number }, state: TxState): StoreTx {
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

  function set<K, V>(map: Map<K, V>, key: K, value: V): void {
    const previous = map.get(key);
    state.undo.push(previous === undefined ? () => map.delete(key) : () => map.set(key, previous));
    map.set(key, value);
  }

  function remove<K, V>(map: Map<K, V>, key: K): void {
    const previous = map.get(key);
    if (previous === undefined) return;
    state.undo.push(() => map.set(key, previous));
    map.delete(key);
  }

  /** Reads answer at call time, like an IndexedDB request queued in order. */
  function read<T>(compute: () => T): Promise<T> {
    try {
      checkActive();
      return Promise.resolve(structuredClone(compute()));
    } catch (error) {
      return Promise.reject(error);
    }
  }

  return {
    executions: {
      get: (runId) => read(() => tables.executions.get(runId)),
      put: (record) => write(() => set(tables.executions, record.runId, structuredClone(record))),
      list: (filter = {}) =>
        read(() =>
          (filter.parentRunId !== undefined
            ? tables.executions.byIndex(filter.parentRunId)
            : [...tables.executions.values()]
          )
            .filter((record) => matchesFilter(record, filter))
            .sort(compareExecutions),
        ),
    },
    workflowIds: {
      get: (workflowId) => read(() => tables.workflowIds.get(workflowId)),
      put: (record) => write(() => set(tables.workflowIds, record.workflowId, structuredClone(record))),
    },
    history: {
      append: (runId, events) =>
        write(() => {
          const first = events[0];
          if (first === undefined) throw new RangeError('history.append needs at least one event');
          const copy = structuredClone(events);
          let chunks = tables.history.get(runId);
          if (chunks === undefined) {
            chunks = new Map();
            set(tables.history, runId, chunks);
          }
          if (chunks.has(first.eventId)) {
            // IndexedDB's `add` reports a duplicate key later, through the transaction, not
            // by throwing: fail the transaction the same way.
            state.failure ??= {
              error: new DOMException(
                `History of run ${runId} already has a chunk starting at event ${first.eventId}.`,
                'ConstraintError',
              ),
            };
            return;
          }
          set(chunks, first.eventId, copy);
        }),
      read: (runId, fromEventId = 1) =>
        read(() => {
          const chunks = tables.history.get(runId);
          if (chunks === undefined) return [];
          return [...chunks.entries()]
            .sort(([a], [b]) => a - b)
            .flatMap(([, events]) => events)
            .filter((event) => event.eventId >= fromEventId);
        }),
    },
    inbox: {
      add: (record) =>
        write(() => {
          const copy: NewInboxRecord = structuredClone(record);
          // Ids are never reused: a rolled-back add just leaves a gap.
          const id = nextInboxId.value++;
          set(tables.inbox, id, { ...copy, id });
        }),
      list: (runId) => read(() => tables.inbox.byIndex(runId).sort((a, b) => a.id - b.id)),
      delete: (id) => write(() => remove(tables.inbox, id)),
    },
    workflowTasks: {
      get: (runId) => read(() => tables.workflowTasks.get(runId)),
      put: (record) => write(() => set(tables.workflowTasks, record.runId, structuredClone(record))),
      delete: (runId) => write(() => remove(tables.workflowTasks, runId)),
      list: (taskQueue) =>
        read(() =>
          [...tables.workflowTasks.values()]
            .filter((task) => taskQueue === undefined || task.taskQueue === taskQueue)
            .sort((a, b) => a.scheduledTime - b.scheduledTime || compareKeys(a.runId, b.runId)),
        ),
    },
    activityTasks: {
      get: (runId, seq) => read(() => tables.activityTasks.get(pairKey(runId, seq))),
      put: (record) =>
        write(() => set(tables.activityTasks, pairKey(record.runId, record.seq), structuredClone(record))),
      delete: (runId, seq) => write(() => remove(tables.activityTasks, pairKey(runId, seq))),
      list: (taskQueue) =>
        read(() =>
          [...tables.activityTasks.values()]
            .filter((task) => taskQueue === undefined || task.taskQueue === taskQueue)
            .sort(compareActivityTasks),
        ),
      listByRun: (runId) => read(() => tables.activityTasks.byIndex(runId).sort(compareActivityTasks)),
    },
    timers: {
      put: (record) =>
        write(() => set(tables.timers, pairKey(record.runId, record.key), structuredClone(record))),
      delete: (runId, key) => write(() => remove(tables.timers, pairKey(runId, key))),
      list: () =>
        read(() => [...tables.timers.values()].sort((a, b) => a.fireAt - b.fireAt || compareTimerKeys(a, b))),
      listByRun: (runId) => read(() => tables.timers.byIndex(runId).sort(compareTimerKeys)),
    },
    hosts: {
      get: (hostId) => read(() => tables.hosts.get(hostId)),
      put: (record) => write(() => set(tables.hosts, record.hostId, structuredClone(record))),
      delete: (hostId) => write(() => remove(tables.hosts, hostId)),
      list: () => read(() => [...tables.hosts.values()].sort((a, b) => compareKeys(a.hostId, b.hostId))),
    },
  };
}

/** A Map key for a compound key; JSON keeps `('a', 1)` and `('a1', '')` apart. */
function pairKey(first: string, second: string | number): string {
  return JSON.stringify([first, second]);
}

/** Orders strings by code unit, as IndexedDB orders string keys (not `localeCompare`). */
function compareKeys(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

// The orders below match the IndexedDB store, whose lists come back in key order.
function compareActivityTasks(a: ActivityTaskRecord, b: ActivityTaskRecord): number {
  return compareKeys(a.runId, b.runId) || a.seq - b.seq;
}

function compareTimerKeys(a: TimerRecord, b: TimerRecord): number {
  return compareKeys(a.runId, b.runId) || compareKeys(a.key, b.key);
}
