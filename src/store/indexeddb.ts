import { type DBSchema, type IDBPDatabase, type StoreNames, unwrap, wrap } from 'idb';
import type { HistoryEvent } from '../engine/events.ts';
import { SchemaMismatchError } from '../engine/failure.ts';
import { copy } from './copy.ts';
import { type Backing, type MirrorSnapshot, mirrorStore, type Put } from './mirror.ts';
import {
  type DurableKey,
  durableKeyOf,
  KEY_PATHS,
  matchesFilter,
  memoryKey,
  pairKey,
  TABLES,
  type TableName,
} from './tables.ts';
import type {
  ActivityTaskRecord,
  ExecutionCursor,
  ExecutionFilter,
  ExecutionRecord,
  HistoryChunk,
  InboxRecord,
  LeaseRecord,
  Store,
  TimerRecord,
  WorkflowIdRecord,
  WorkflowTaskRecord,
} from './types.ts';

/**
 * The schema this build writes. Bump it, add an `if (oldVersion < N)` step to migrate, and make
 * new databases at the new schema (see `upgrade`).
 */
export const SCHEMA_VERSION = 4;

/** How long to wait for other connections to let go of an old version before giving up. */
const BLOCKED_TIMEOUT_MS = 5_000;

/** Stored under `meta['schema']`; tells weft's databases from other applications'. */
interface SchemaMeta {
  app: 'weft';
  version: number;
}

/**
 * What one flush wrote, as one record: the platform writes a few large records far faster
 * than many small ones. Compaction later folds it into the stores below. Its history goes
 * into a {@link Pack} under the same key.
 */
interface LogEntry {
  nextInboxId: number;
  puts: Put[];
  deletes: { table: TableName; key: DurableKey }[];
  dropHistory?: string[];
  /** The runs with events in this flush's pack. */
  historyRuns?: string[];
}

/**
 * Young open work a fold left out of the stores: records it found freshly written and still
 * open (a workflow task, a timer, a running execution...), most of which the next few flushes
 * delete or close. Writing them to the stores and again at the next fold would be most of a busy
 * fold's work; they stay in `meta` instead, as part of the log, and the next fold writes what
 * is left of them. Each is carried once: the next fold finds it older than its entries.
 */
interface Carry {
  /** The fold's last version: the carry is the state of these records as of it. */
  version: number;
  nextInboxId: number;
  puts: Put[];
}

/** The tables whose fresh records may be carried, when open. */
const CARRIED_TABLES: ReadonlySet<TableName> = new Set([
  'workflowTasks',
  'activityTasks',
  'timers',
  'inbox',
  'executions',
]);

/**
 * One flush's history: each run's new events, as one record for all of them. A run's events are
 * found through the multi-entry index on `runs`. Packs are never moved: folding history into a
 * record per run would cost the platform one request per run, the bulk of a busy database's
 * writes.
 */
interface Pack {
  runs: string[];
  chunks: HistoryChunk[];
}

/**
 * The stores, as `idb` types them (types only: the schema itself is made by `upgrade`). The
 * durable state is the tables' stores (records keyed by KEY_PATHS) with the log applied on top,
 * in key order. Open work is loaded at open; the rest is read through the executions' indexes.
 */
interface WeftDB extends DBSchema {
  /**
   * The {@link SchemaMeta} under `'schema'`; under `'folded'`, the last log version the stores
   * hold; under `'carry'`, the {@link Carry} of the last fold.
   */
  meta: { key: string; value: SchemaMeta | number | Carry };
  /** {@link LogEntry}s, keyed by the version each flush created. */
  log: { key: number; value: LogEntry };
  /** {@link Pack}s, keyed by the version of the flush that wrote them. */
  packs: { key: number; value: Pack; indexes: { runs: string } };
  /** {@link HistoryChunk}s of schema 3 and before, keyed by `[runId, firstEventId]`. */
  history: { key: [string, number]; value: HistoryChunk };
  executions: {
    key: string;
    value: ExecutionRecord;
    indexes: {
      start: [number, string];
      status: [string, number, string];
      type: [string, number, string];
      parent: [string, number, string];
      workflowId: [string, number, string];
    };
  };
  workflowIds: { key: string; value: WorkflowIdRecord };
  inbox: { key: number; value: InboxRecord };
  workflowTasks: { key: string; value: WorkflowTaskRecord };
  activityTasks: { key: [string, number]; value: ActivityTaskRecord };
  timers: { key: [string, string]; value: TimerRecord };
  leases: { key: string; value: LeaseRecord };
}

const STORE_NAMES: StoreNames<WeftDB>[] = ['meta', 'log', 'packs', 'history', ...TABLES];

/** The executions' indexes: each sorts by start time then run ID after its own field. */
const EXECUTION_INDEXES = {
  start: ['startTime', 'runId'],
  status: ['status', 'startTime', 'runId'],
  type: ['workflowType', 'startTime', 'runId'],
  parent: ['parentWorkflowId', 'startTime', 'runId'],
  workflowId: ['workflowId', 'startTime', 'runId'],
} as const;

/** Compaction issues its writes this many at a time, each slice once the last is done. */
const COMPACT_SLICE = 64;

/**
 * A run with events in this many of the packs a fold covers has them merged into one chunk of
 * the history store: a long history reads as a few records, not one per flush.
 */
const CONSOLIDATE_PACKS = 16;

/** The history of its own recent flushes a connection keeps at hand, in events. */
const PACK_CACHE_EVENTS = 10_000;

/**
 * A {@link Store} in IndexedDB, through `idb`. Opening refuses (with `SchemaMismatchError`,
 * writing nothing) a database written by a newer weft or by another application. When another
 * tab upgrades the database, this connection closes and `onVersionChange` is called, so that
 * tab is not blocked; every later call fails with `SchemaMismatchError`.
 *
 * @example
 * const store = await indexedDbStore({ name: 'weft', onVersionChange: () => location.reload() });
 * // In Node: indexedDbStore({ name: 'test', indexedDB: new IDBFactory() }) with fake-indexeddb.
 */
export async function indexedDbStore(options: {
  name: string;
  indexedDB?: IDBFactory;
  /** Another tab or worker upgrades the database (to `newVersion`; null when it deletes it). */
  onVersionChange?: (newVersion: number | null) => void;
}): Promise<Store> {
  const { name, indexedDB: factory = globalThis.indexedDB, onVersionChange } = options;
  const db = await openWeftDatabase(factory, name);
  const backing = idbBacking(db, `indexeddb:${name}`);
  let snapshot: MirrorSnapshot;
  try {
    snapshot = await backing.load();
  } catch (error) {
    db.close();
    throw error;
  }
  const store = mirrorStore(backing, snapshot);
  db.addEventListener('versionchange', (event) => {
    // What was written is flushed, then the connection closes and the upgrade goes on.
    const { newVersion } = event as IDBVersionChangeEvent;
    store.close(
      new SchemaMismatchError(
        `IndexedDB database "${name}" was ${newVersion === null ? 'deleted' : `upgraded to version ${newVersion}`} by another tab or worker; this engine stopped (reload to go on)`,
      ),
    );
    onVersionChange?.(newVersion);
  });
  return store;
}

/** A filter's best index, and the key range within it (before the page's own bounds). */
function indexFor(filter: ExecutionFilter): {
  index: keyof typeof EXECUTION_INDEXES;
  prefix: string[];
} {
  if (filter.status !== undefined) return { index: 'status', prefix: [filter.status] };
  if (filter.workflowId !== undefined) return { index: 'workflowId', prefix: [filter.workflowId] };
  if (filter.parentWorkflowId !== undefined) return { index: 'parent', prefix: [filter.parentWorkflowId] };
  if (filter.workflowType !== undefined) return { index: 'type', prefix: [filter.workflowType] };
  return { index: 'start', prefix: [] };
}

/** The index's range for a filter's start times, ending before `after` when given. */
function rangeFor(prefix: string[], filter: ExecutionFilter, after?: ExecutionCursor): IDBKeyRange {
  const lower = [...prefix, filter.startTimeFrom ?? Number.NEGATIVE_INFINITY];
  // Past every start time of the prefix: arrays sort after numbers.
  let upper: unknown[] = [...prefix, filter.startTimeTo ?? []];
  if (after && (filter.startTimeTo === undefined || after.startTime < filter.startTimeTo))
    upper = [...prefix, after.startTime, after.runId];
  return IDBKeyRange.bound(lower, upper, false, true);
}

/** Whether the filter is all its index's range says: the index counts it alone. */
function indexCovers(filter: ExecutionFilter, index: keyof typeof EXECUTION_INDEXES): boolean {
  const fields = Object.entries(filter)
    .filter(([, v]) => v !== undefined)
    .map(([k]) => k);
  const own: Record<string, string> = {
    status: 'status',
    workflowId: 'workflowId',
    parent: 'parentWorkflowId',
    type: 'workflowType',
    start: '',
  };
  return fields.every((f) => f === own[index] || f === 'startTimeFrom' || f === 'startTimeTo');
}

/**
 * The mirror's durable side in IndexedDB. A flush is one record appended to `log` and one to
 * `packs` (plus the version check); compaction folds the log into the stores.
 */
function idbBacking(db: IDBPDatabase<WeftDB>, name: string): Backing {
  /** For the flush commit and compaction, which issue their requests raw (see `commit`). */
  const raw = unwrap(db);
  /**
   * This connection's recent packs, by version, each run's events in them: read back without
   * asking the database, and copied for each reader. Older packs go first, so what is kept of a
   * run is always its latest chunks.
   */
  let recent = new Map<number, Map<string, HistoryEvent[]>>();
  /** The same by run: its chunks in the recent packs, oldest first. */
  let recentByRun = new Map<string, HistoryEvent[][]>();
  let recentEvents = 0;
  let closed = false;
  /**
   * The log's entries this connection caught up with or wrote, by version: what compaction
   * folds. Those it found at open are read again when it first folds (keeping them would hold
   * every value they superseded, in a connection that has just opened).
   */
  let unfolded = new Map<number, LogEntry>();
  let readLog = true;

  function remember(version: number, chunks: HistoryChunk[]): void {
    const byRun = new Map<string, HistoryEvent[]>();
    for (const chunk of chunks) {
      byRun.set(chunk.runId, chunk.events);
      const list = recentByRun.get(chunk.runId) ?? [];
      list.push(chunk.events);
      recentByRun.set(chunk.runId, list);
      recentEvents += chunk.events.length;
    }
    recent.set(version, byRun);
    for (const [v, old] of recent) {
      if (recentEvents <= PACK_CACHE_EVENTS) break;
      recent.delete(v);
      for (const [runId, events] of old) {
        recentEvents -= events.length;
        const list = recentByRun.get(runId);
        list?.shift();
        if (list?.length === 0) recentByRun.delete(runId);
      }
    }
  }

  function forgetRuns(runIds: readonly string[]): void {
    if (runIds.length === 0) return;
    for (const runId of runIds) recentByRun.delete(runId);
    for (const byRun of recent.values()) {
      for (const runId of runIds) {
        const events = byRun.get(runId);
        if (events === undefined) continue;
        recentEvents -= events.length;
        byRun.delete(runId);
      }
    }
  }

  /** Walks an index cursor, collecting what `take` accepts, until `limit` or the range ends. */
  function collect<T>(
    request: IDBRequest<IDBCursorWithValue | null>,
    limit: number,
    take: (value: T) => boolean,
  ): Promise<T[]> {
    return new Promise((resolve, reject) => {
      const out: T[] = [];
      request.addEventListener('error', () => reject(request.error));
      request.addEventListener('success', () => {
        const cursor = request.result;
        if (cursor === null) return resolve(out);
        const value = cursor.value as T;
        if (take(value)) out.push(value);
        if (out.length >= limit) return resolve(out);
        cursor.continue();
      });
    });
  }

  return {
    name,
    async load() {
      // What another connection wrote is not in the recent packs: they no longer tell a run's latest chunks.
      recent = new Map();
      recentByRun = new Map();
      recentEvents = 0;
      const tx = db.transaction(
        ['meta', 'log', 'executions', 'inbox', 'workflowTasks', 'activityTasks', 'timers', 'leases'],
        'readonly',
      );
      const log = tx.objectStore('log');
      // Issued together: queued requests answer far faster than requests awaited one by one.
      const [carry, keys, entries, executions, inbox, workflowTasks, activityTasks, timers, leases] =
        await Promise.all([
          tx.objectStore('meta').get('carry') as Promise<Carry | undefined>,
          log.getAllKeys(),
          log.getAll(),
          tx
            .objectStore('executions')
            .index('status')
            .getAll(IDBKeyRange.bound(['RUNNING'], ['RUNNING', []])),
          tx.objectStore('inbox').getAll(),
          tx.objectStore('workflowTasks').getAll(),
          tx.objectStore('activityTasks').getAll(),
          tx.objectStore('timers').getAll(),
          tx.objectStore('leases').getAll(),
        ]);
      unfolded = new Map();
      readLog = true;
      return {
        // The newest entry always stays in the log (see compact): its key is the version.
        version: keys[keys.length - 1] ?? 0,
        executions,
        inbox,
        workflowTasks,
        activityTasks,
        timers,
        leases,
        changes: [
          // The last fold's carry is the log's oldest part: what the entries wrote comes after it.
          ...(carry
            ? [{ version: carry.version, nextInboxId: carry.nextInboxId, puts: carry.puts, deletes: [] }]
            : []),
          ...entries.map((entry, i) => ({ ...entry, version: keys[i]! })),
        ],
      };
    },
    async changesSince(version) {
      const log = db.transaction('log', 'readonly').objectStore('log');
      const range = IDBKeyRange.lowerBound(version, true);
      const [keys, entries] = await Promise.all([log.getAllKeys(range), log.getAll(range)]);
      const durable = keys[keys.length - 1] ?? version;
      // Every version since ours must still be in the log, or some changes are only in the stores.
      // The keys are distinct whole versions above ours up to `durable`: all there if as many.
      if (keys.length !== durable - version) return undefined;
      keys.forEach((key, i) => {
        unfolded.set(key, entries[i]!);
        // Another connection wrote these runs' newest events: what is at hand of them is no
        // longer their latest, and a read must go to the packs.
        forgetRuns(entries[i]!.historyRuns ?? []);
      });
      return { version: durable, changes: entries.map((entry, i) => ({ ...entry, version: keys[i]! })) };
    },
    async get(table, key) {
      if (table === 'executions') return db.get(table, key);
      // The stores keep a workflow-ID record only when the start order cannot tell (see
      // `foldLog`): the ID's current run is the one it names, unless a later run started.
      const tx = db.transaction(['workflowIds', 'executions'], 'readonly');
      const [record, newest] = await Promise.all([
        tx.objectStore('workflowIds').get(key),
        tx
          .objectStore('executions')
          .index('workflowId')
          .openCursor(IDBKeyRange.bound([key], [key, []]), 'prev'),
      ]);
      const last = newest?.value;
      if (!last) return record;
      if (record && record.runId !== last.runId) {
        const named = await tx.objectStore('executions').get(record.runId);
        if (named && named.startTime >= last.startTime) return record;
      }
      return { workflowId: key, runId: last.runId };
    },
    async getMany(table, keys) {
      const store = db.transaction(table, 'readonly').objectStore(table);
      return Promise.all(keys.map((key) => store.get(key)));
    },
    page(query, skip) {
      const filter = query.filter ?? {};
      const { index, prefix } = indexFor(filter);
      const store = raw.transaction('executions', 'readonly').objectStore('executions');
      const request = store.index(index).openCursor(rangeFor(prefix, filter, query.after), 'prev');
      return collect<ExecutionRecord>(
        request,
        query.limit,
        (record) => !skip(record.runId) && matchesFilter(record, filter),
      );
    },
    closedBefore(time, limit, after, skip) {
      const store = raw.transaction('executions', 'readonly').objectStore('executions');
      // A run closed before `time` started before it: the start index holds them all, in start
      // order, with the runs still open or closed since among them (few: open work, and what
      // closed within the retention after starting before it). One index fewer to keep up.
      const range = IDBKeyRange.bound(
        after ? [after.startTime, after.runId] : [Number.NEGATIVE_INFINITY],
        [time],
        after !== undefined,
        true,
      );
      return collect<ExecutionRecord>(
        store.index('start').openCursor(range),
        limit,
        (record) => !skip(record.runId) && record.closeTime !== undefined && record.closeTime < time,
      );
    },
    count(filter, correction) {
      const { index, prefix } = indexFor(filter);
      const store = raw.transaction('executions', 'readonly').objectStore('executions');
      const range = rangeFor(prefix, filter);
      return new Promise((resolve, reject) => {
        if (indexCovers(filter, index)) {
          const request = store.index(index).count(range);
          request.addEventListener('error', () => reject(request.error));
          request.addEventListener('success', () => resolve(request.result + correction()));
          return;
        }
        // Fields of several indexes: the best index narrows it, the records say the rest.
        let n = 0;
        const request = store.index(index).openCursor(range);
        request.addEventListener('error', () => reject(request.error));
        request.addEventListener('success', () => {
          const cursor = request.result;
          if (cursor === null) return resolve(n + correction());
          if (matchesFilter(cursor.value as ExecutionRecord, filter)) n++;
          cursor.continue();
        });
      });
    },
    async readHistory(runId, fromEventId) {
      // The run's latest chunks are at hand, back to `fromEventId`: no need to ask the database.
      const mine = recentByRun.get(runId);
      if (mine !== undefined && (mine[0]?.[0]?.eventId ?? Number.POSITIVE_INFINITY) <= fromEventId) {
        return copy(mine.flat().filter((event) => event.eventId >= fromEventId));
      }
      const tx = db.transaction(['history', 'packs'], 'readonly');
      const history = tx.objectStore('history');
      const packs = tx.objectStore('packs');
      // The chunk holding `fromEventId` may start before it: fetch the last chunk that starts
      // below it (a reverse cursor, one step) alongside every chunk that starts at or after it.
      // The run's packs in one request (in the index, by version: the order they were written).
      const [before, rest, runPacks] = await Promise.all([
        history.openCursor(IDBKeyRange.bound([runId, -Infinity], [runId, fromEventId], false, true), 'prev'),
        history.getAll(IDBKeyRange.bound([runId, fromEventId], [runId, Infinity])),
        packs.index('runs').getAll(runId),
      ]);
      /** The events read, in order: each once, none before `fromEventId`. */
      const events: HistoryEvent[] = [];
      let last = fromEventId - 1;
      const add = (chunk: HistoryEvent[] = []): void => {
        for (const event of chunk) {
          if (event.eventId <= last) continue;
          events.push(event);
          last = event.eventId;
        }
      };
      add(before?.value.events);
      for (const chunk of rest) add(chunk.events);
      for (const pack of runPacks) add(pack.chunks.find((c) => c.runId === runId)?.events);
      return events;
    },
    commit(batch) {
      // The raw API, events rather than idb's promise per request: a flush is on the engine's
      // critical path. What throws here (no transaction, a value that cannot be stored) rejects.
      return new Promise<boolean>((resolve, reject) => {
        const withHistory = batch.history.length > 0;
        const tx = raw.transaction(withHistory ? ['log', 'packs'] : ['log'], 'readwrite');
        const { expectedVersion, history, dropHistory, ...rest } = batch;
        const key = expectedVersion + 1;
        const entry: LogEntry = {
          ...rest,
          ...(dropHistory.length > 0 && { dropHistory }),
          ...(withHistory && { historyRuns: history.map((c) => c.runId) }),
        };
        let conflict = false;
        tx.addEventListener('complete', () => {
          unfolded.set(key, entry);
          if (withHistory) remember(key, history);
          if (dropHistory.length > 0) forgetRuns(dropHistory);
          resolve(true);
        });
        tx.addEventListener('abort', () => {
          if (conflict) resolve(false);
          else reject(tx.error ?? new Error('aborted'));
        });
        try {
          const log = tx.objectStore('log');
          // Anyone's commit after ours left an entry above it (compaction keeps the newest).
          const check = log.getKey(IDBKeyRange.lowerBound(expectedVersion, true));
          check.addEventListener('success', () => {
            if (check.result !== undefined) {
              conflict = true;
              tx.abort();
            }
          });
          // `add`: two writers at one version cannot both succeed, even past the check.
          log.add(entry, key);
          if (withHistory) {
            const pack: Pack = { runs: history.map((c) => c.runId), chunks: history };
            tx.objectStore('packs').add(pack, key);
          }
        } catch (error) {
          abortQuietly(tx);
          throw error;
        }
      });
    },
    async compact(version, stored) {
      if (readLog) {
        const log = db.transaction('log', 'readonly').objectStore('log');
        const [keys, entries] = await Promise.all([log.getAllKeys(), log.getAll()]);
        keys.forEach((key, i) => {
          if (!unfolded.has(key)) unfolded.set(key, entries[i]!);
        });
        // In version order again: what was written meanwhile comes after what was read.
        unfolded = new Map([...unfolded].sort(([a], [b]) => a - b));
        readLog = false;
      }
      // What the log holds is at hand: read once, caught up with, or written by this connection.
      const versions = [...unfolded.keys()];
      const newest = versions[versions.length - 1];
      // The newest entry stays: its key is how a commit sees that someone wrote after it.
      const last = versions[versions.length - 2];
      if (newest !== undefined && newest > version) return null;
      if (last === undefined || closed) return undefined;
      // One transaction: the stores, the version they are at, and the entries out of the log.
      // (A flush waits for it either way: Chromium runs read-write transactions one at a time.)
      const entries = versions.filter((v) => v <= last);
      const drops = entries.some((v) => (unfolded.get(v)!.dropHistory?.length ?? 0) > 0);
      // Runs whose history these entries' packs spread thin.
      const packsOf = new Map<string, number>();
      for (const v of entries)
        for (const runId of unfolded.get(v)!.historyRuns ?? [])
          packsOf.set(runId, (packsOf.get(runId) ?? 0) + 1);
      const consolidate = [...packsOf].filter(([, n]) => n >= CONSOLIDATE_PACKS).map(([runId]) => runId);
      const scope: StoreNames<WeftDB>[] = [
        'meta',
        'log',
        ...TABLES,
        ...(drops || consolidate.length > 0 ? (['history', 'packs'] as const) : []),
      ];
      return new Promise<number | undefined | null>((resolve, reject) => {
        const tx = raw.transaction(scope, 'readwrite');
        let fold: ReturnType<typeof foldLog> | undefined;
        let conflict = false;
        tx.addEventListener('complete', () => {
          if (!fold) return resolve(undefined);
          for (const v of entries) unfolded.delete(v);
          stored(fold.executions, fold.carried);
          resolve(last);
        });
        tx.addEventListener('abort', () => {
          if (conflict) resolve(null);
          else reject(tx.error ?? new Error('compaction aborted'));
        });
        try {
          const log = tx.objectStore('log');
          const meta = tx.objectStore('meta');
          // Someone wrote after `version`: they fold the log now.
          const check = log.getKey(IDBKeyRange.lowerBound(version, true));
          check.addEventListener('success', () => {
            if (check.result === undefined) return;
            conflict = true;
            abortQuietly(tx);
          });
          const folded = meta.get('folded');
          const carried = meta.get('carry');
          // Requests on one store succeed in the order issued: both are in when this one is.
          carried.addEventListener('success', () => {
            if (conflict) return;
            // Entries at or below the last fold's version, which this connection may still hold,
            // are in the stores or carried already.
            const upTo = (folded.result as number | undefined) ?? 0;
            const carry = carried.result as Carry | undefined;
            fold = foldLog(
              entries.filter((v) => v > upTo).map((v) => ({ version: v, entry: unfolded.get(v)! })),
              carry,
            );
            const nextInboxId = Math.max(
              carry?.nextInboxId ?? 0,
              ...entries.map((v) => unfolded.get(v)!.nextInboxId),
            );
            // Raw requests without handlers, not a promise each: a failed one aborts the
            // transaction, and its abort reports it. A slice at a time, the next issued when the
            // last of the slice succeeds: the worker's thread is never held for long (issuing a
            // request costs it about 40 µs, mostly the structured clone).
            const { records, dropHistory } = fold;
            let next = 0;
            const issue = (): void => {
              try {
                const end = Math.min(next + COMPACT_SLICE, records.length);
                let request: IDBRequest | undefined;
                for (; next < end; next++) {
                  const { table, key, value } = records[next]!;
                  const store = tx.objectStore(table);
                  request = value === undefined ? store.delete(key as IDBValidKey) : store.put(value);
                }
                if (next < records.length) {
                  request!.addEventListener('success', issue);
                  return;
                }
                for (const runId of dropHistory) dropRun(tx, runId);
                for (const runId of consolidate)
                  if (!dropHistory.includes(runId)) consolidateRun(tx, runId, last);
                meta.put(Math.max(last, upTo), 'folded');
                if (fold!.carried.length > 0)
                  meta.put({ version: last, nextInboxId, puts: fold!.carried } satisfies Carry, 'carry');
                else if (carry) meta.delete('carry');
                log.delete(IDBKeyRange.upperBound(last));
              } catch (error) {
                abortQuietly(tx);
                reject(error);
              }
            };
            issue();
          });
        } catch (error) {
          abortQuietly(tx);
          reject(error);
        }
      });
    },
    close() {
      closed = true;
      db.close();
    },
  };
}

/** Deletes a run's history: its old chunks, and its events in every pack (a pack left empty goes). */
function dropRun(tx: IDBTransaction, runId: string): void {
  tx.objectStore('history').delete(IDBKeyRange.bound([runId, -Infinity], [runId, Infinity]));
  const request = tx.objectStore('packs').index('runs').openCursor(IDBKeyRange.only(runId));
  request.addEventListener('success', () => {
    const cursor = request.result;
    if (cursor === null) return;
    const pack = cursor.value as Pack;
    const runs = pack.runs.filter((r) => r !== runId);
    if (runs.length === 0) cursor.delete();
    else cursor.update({ runs, chunks: pack.chunks.filter((c) => c.runId !== runId) } satisfies Pack);
    cursor.continue();
  });
}

/**
 * Moves a run's events out of the packs up to version `last` into one chunk of the history
 * store (a pack left empty goes). Readers see one or the other: the transaction is atomic, and a
 * history read takes each event once from wherever it is.
 */
function consolidateRun(tx: IDBTransaction, runId: string, last: number): void {
  const events: HistoryEvent[] = [];
  const request = tx.objectStore('packs').index('runs').openCursor(IDBKeyRange.only(runId));
  request.addEventListener('success', () => {
    const cursor = request.result;
    if (cursor === null || (cursor.primaryKey as number) > last) {
      const first = events[0];
      if (first)
        tx.objectStore('history').put({ runId, firstEventId: first.eventId, events } satisfies HistoryChunk);
      return;
    }
    const pack = cursor.value as Pack;
    for (const chunk of pack.chunks) if (chunk.runId === runId) events.push(...chunk.events);
    const runs = pack.runs.filter((r) => r !== runId);
    if (runs.length === 0) cursor.delete();
    else cursor.update({ runs, chunks: pack.chunks.filter((c) => c.runId !== runId) } satisfies Pack);
    cursor.continue();
  });
}

/**
 * The last value of every record the log touched (a record created and deleted within it is
 * left out: the stores never held it; so is a workflow-ID record that names the ID's last started
 * run and nothing more), the executions among them, and the runs whose history goes; with
 * `carry`, the last fold's carry first, and what this one carries on (see {@link Carry}).
 */
function foldLog(
  entries: { version: number; entry: LogEntry }[],
  carry: Carry | undefined,
): {
  records: { table: TableName; key: DurableKey; value: object | undefined }[];
  executions: Map<string, ExecutionRecord | null>;
  dropHistory: string[];
  carried: Put[];
} {
  const records = new Map<
    string,
    { table: TableName; key: DurableKey; value: object | undefined; fresh: boolean; at: number }
  >();
  const dropHistory = new Set<string>();
  const all = carry
    ? [
        { version: carry.version, entry: { nextInboxId: carry.nextInboxId, puts: carry.puts, deletes: [] } },
        ...entries,
      ]
    : entries;
  for (const { version: at, entry } of all) {
    for (const { table, key } of entry.deletes) {
      const k = pairKey(table, memoryKey(key));
      records.set(k, { table, key, value: undefined, fresh: records.get(k)?.fresh ?? false, at });
    }
    for (const { table, value, fresh } of entry.puts) {
      const key = durableKeyOf(table, value);
      const k = pairKey(table, memoryKey(key));
      records.set(k, { table, key, value, fresh: records.get(k)?.fresh ?? fresh === true, at });
    }
    for (const runId of entry.dropHistory ?? []) dropHistory.add(runId);
  }
  const executions = new Map<string, ExecutionRecord | null>();
  const out: { table: TableName; key: DurableKey; value: object | undefined }[] = [];
  const carried: Put[] = [];
  const carriedBefore = carry?.version ?? Number.NEGATIVE_INFINITY;
  for (const { table, key, value, fresh, at } of records.values()) {
    if (value === undefined && fresh) continue;
    // The ID's last started run is its current one: this record says nothing the index does not.
    if (table === 'workflowIds' && value !== undefined && !('supersedes' in value)) continue;
    if (
      value !== undefined &&
      fresh &&
      at > carriedBefore &&
      CARRIED_TABLES.has(table) &&
      (table !== 'executions' || (value as ExecutionRecord).status === 'RUNNING')
    ) {
      carried.push({ table, value, fresh: true });
      continue;
    }
    out.push({ table, key, value });
    if (table === 'executions') executions.set(key as string, (value as ExecutionRecord | undefined) ?? null);
  }
  return { records: out, executions, dropHistory: [...dropHistory], carried };
}

/**
 * Opens `name` at {@link SCHEMA_VERSION}, creating or upgrading weft's schema, and refuses
 * databases that are not weft's or are newer, without writing to them.
 */
async function openWeftDatabase(factory: IDBFactory, name: string): Promise<IDBPDatabase<WeftDB>> {
  const db = await openDatabase(factory, name);
  const problem = await schemaProblem(db);
  if (problem !== undefined) {
    db.close();
    throw new SchemaMismatchError(`IndexedDB database "${name}": ${problem}`);
  }
  return db;
}

/**
 * Opens `name` at {@link SCHEMA_VERSION} through `factory` (any factory: fake-indexeddb in
 * Node; `idb`'s `openDB` only uses the global `indexedDB`), with a time limit on being blocked
 * and a veto in the upgrade, and wraps the connection in `idb`. A database at a newer version
 * is opened as it is instead, never created (it existed a moment ago), for the caller to check.
 */
function openDatabase(factory: IDBFactory, name: string): Promise<IDBPDatabase<WeftDB>> {
  return new Promise((resolve, reject) => {
    /** Blocked too long: the caller has an error already, and a late open must change nothing. */
    let gaveUp = false;
    let refusal: string | undefined;
    let blockedTimer: ReturnType<typeof setTimeout> | undefined;

    const open = (version?: number): void => {
      const request = factory.open(name, version);

      request.addEventListener('blocked', (event) => {
        blockedTimer ??= setTimeout(() => {
          gaveUp = true;
          reject(
            new Error(
              `IndexedDB database "${name}" (version ${event.oldVersion}) is held open by another tab or worker; close it and reload`,
            ),
          );
        }, BLOCKED_TIMEOUT_MS);
      });

      request.addEventListener('upgradeneeded', (event) => {
        const transaction = request.transaction!;
        // Opened as it is (the database is gone since), or we gave up while blocked: write nothing.
        if (version === undefined || gaveUp) {
          transaction.abort();
          return;
        }
        upgrade(request.result, event.oldVersion, transaction, (reason) => {
          refusal ??= reason;
          abortQuietly(transaction);
        });
      });

      request.addEventListener('success', () => {
        clearTimeout(blockedTimer);
        const db = request.result;
        if (gaveUp) db.close();
        // `idb`'s view of a database opened without it.
        else resolve(wrap(db) as unknown as IDBPDatabase<WeftDB>);
      });

      request.addEventListener('error', (event) => {
        // Handled here: keep the error from reaching a global `onerror`.
        event.preventDefault();
        const error = request.error;
        // Opening below the database's version fails with a VersionError and changes nothing.
        // Opened as it is (which changes nothing either), it says whose it is.
        if (version !== undefined && error?.name === 'VersionError') {
          open();
          return;
        }
        clearTimeout(blockedTimer);
        // After giving up, the promise is settled already and ignores this.
        reject(
          refusal === undefined ? error : new SchemaMismatchError(`IndexedDB database "${name}": ${refusal}`),
        );
      });
    };
    open(SCHEMA_VERSION);
  });
}

/**
 * Brings a database from `oldVersion` to {@link SCHEMA_VERSION}: a new one at once, an existing
 * one a step per version. Runs inside the versionchange transaction; `refuse` aborts it, which
 * rolls back every step.
 */
function upgrade(
  db: IDBDatabase,
  oldVersion: number,
  transaction: IDBTransaction,
  refuse: (reason: string) => void,
): void {
  if (oldVersion > 0) {
    // An existing database must be weft's before any step changes it. The check reads the old
    // meta record: requests run in order, so it is read before the last step rewrites it.
    if (!db.objectStoreNames.contains('meta')) {
      refuse('not a weft database (it has no meta store)');
      return;
    }
    const read = transaction.objectStore('meta').get('schema');
    read.addEventListener('success', () => {
      if (!isWeftMeta(read.result)) refuse('not a weft database (its meta record is not weft’s)');
    });
  }

  if (oldVersion < 1) {
    // A new database is made at the current schema at once: what the steps below make of
    // version 1's (whose indexes and hosts store they drop).
    db.createObjectStore('meta');
    db.createObjectStore('history', { keyPath: ['runId', 'firstEventId'] });
    db.createObjectStore('log');
    for (const table of TABLES) {
      db.createObjectStore(table, { keyPath: KEY_PATHS[table], autoIncrement: table === 'inbox' });
    }
  } else {
    if (oldVersion < 2) {
      // Version 2 queried in memory and wrote a log. Version 1 had indexes on its tables and
      // hosts; a foreign database is refused once its meta record has been read, which rolls
      // this back.
      for (const name of [...db.objectStoreNames]) {
        const store = transaction.objectStore(name);
        for (const index of [...store.indexNames]) store.deleteIndex(index);
      }
      db.createObjectStore('log');
    }

    if (oldVersion < 3) {
      // Version 3 elects one executor per database through a lease; hosts' heartbeat records
      // had no other use.
      if (db.objectStoreNames.contains('hosts')) db.deleteObjectStore('hosts');
      // The guards only spare a foreign database a throw here; it is refused all the same.
      if (!db.objectStoreNames.contains('leases')) db.createObjectStore('leases', { keyPath: 'name' });
    }
  }

  if (oldVersion < 4) {
    // Version 4 keeps only open work in memory and finds the rest through indexes; history goes
    // into packs, one per flush. (Building the indexes reads every execution, once.)
    const packs = db.createObjectStore('packs');
    packs.createIndex('runs', 'runs', { multiEntry: true });
    if (db.objectStoreNames.contains('executions')) {
      const executions = transaction.objectStore('executions');
      for (const [index, keyPath] of Object.entries(EXECUTION_INDEXES))
        executions.createIndex(index, [...keyPath]);
    }
    if (oldVersion > 0 && db.objectStoreNames.contains('log')) {
      migrateLog(transaction.objectStore('log'), packs, oldVersion);
    }
  }

  const meta: SchemaMeta = { app: 'weft', version: SCHEMA_VERSION };
  // A failed request aborts the upgrade, and the open request reports it.
  transaction.objectStore('meta').put(meta, 'schema');
}

/**
 * Brings every log entry to the current schema, in one pass (two cursors over one store would
 * interleave their updates): a dropped table's writes go (loading and compaction would look
 * for a table that is gone), and an entry's history moves to a pack under its key. Keys stay,
 * so the database's version does too.
 */
function migrateLog(log: IDBObjectStore, packs: IDBObjectStore, oldVersion: number): void {
  const request = log.openCursor();
  request.addEventListener('success', () => {
    const cursor = request.result;
    if (cursor === null) return;
    const { history, ...entry } = cursor.value as LogEntry & { history?: HistoryChunk[] };
    // Widened: the table is no longer one of TableName's.
    const kept = (change: { table: string }): boolean => oldVersion >= 3 || change.table !== 'hosts';
    if (history && history.length > 0) {
      packs.add({ runs: history.map((c) => c.runId), chunks: history } satisfies Pack, cursor.key);
    }
    cursor.update({ ...entry, puts: entry.puts.filter(kept), deletes: entry.deletes.filter(kept) });
    cursor.continue();
  });
}

/** Why an open database is not usable as weft's, or undefined when it is. */
async function schemaProblem(db: IDBPDatabase<WeftDB>): Promise<string | undefined> {
  if (!db.objectStoreNames.contains('meta')) return 'not a weft database (it has no meta store)';
  const meta: unknown = await db.get('meta', 'schema');
  if (!isWeftMeta(meta)) return 'not a weft database (its meta record is not weft’s)';
  if (meta.version > SCHEMA_VERSION) {
    return `newer weft schema ${meta.version} vs supported ${SCHEMA_VERSION}`;
  }
  const missing = STORE_NAMES.filter((store) => !db.objectStoreNames.contains(store));
  if (missing.length > 0) return `not a weft database (missing stores: ${missing.join(', ')})`;
  return undefined;
}

function isWeftMeta(value: unknown): value is SchemaMeta {
  const meta = value as Partial<SchemaMeta> | null | undefined;
  // A primitive has no such properties either: `?.` reads undefined from it.
  return meta?.app === 'weft' && typeof meta.version === 'number';
}

function abortQuietly(tx: { abort(): void }): void {
  try {
    tx.abort();
  } catch {
    // Already committed or aborted: nothing left to undo.
  }
}
