/**
 * The mirror's {@link Backing} in IndexedDB: loading, catching up, the reads of what is on disk
 * only, and the flush commit. Compaction is in `compact.ts`.
 */

import type { HistoryEvent } from '../../engine/events.ts';
import { CorruptRecordError } from '../../engine/failure.ts';
import { copy } from '../copy.ts';
import type { Backing } from '../mirror.ts';
import { matchesFilter } from '../tables.ts';
import type { ExecutionCursor, ExecutionFilter, ExecutionRecord, HistoryChunk } from '../types.ts';
import { compactor } from './compact.ts';
import type { Connection } from './connection.ts';
import { abortQuietly, type Carry, type EXECUTION_INDEXES, type LogEntry, type Pack } from './schema.ts';

/** The history of its own recent flushes a connection keeps at hand, in events. */
const PACK_CACHE_EVENTS = 10_000;

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
 * `packs` (plus the version check); compaction folds the log into the stores. Everything goes
 * through `conn`, which reopens the database if the browser closes it (and runs again what the
 * close cut short); the flush commit and compaction issue their requests raw (`conn.raw`).
 */
export function idbBacking(conn: Connection, name: string): Backing {
  /**
   * This connection's recent packs, by version, each run's events in them: read back without
   * asking the database, and copied for each reader. Older packs go first, so what is kept of a
   * run is always its latest chunks.
   */
  let recent = new Map<number, Map<string, HistoryEvent[]>>();
  /** The same by run: its chunks in the recent packs, oldest first. */
  let recentByRun = new Map<string, HistoryEvent[][]>();
  let recentEvents = 0;
  /** The log's entries this connection caught up with or wrote, which compaction folds. */
  const compaction = compactor(conn);

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

  const backing: Backing = {
    name,
    async load() {
      // What another connection wrote is not in the recent packs: they no longer tell a run's latest chunks.
      recent = new Map();
      recentByRun = new Map();
      recentEvents = 0;
      const tx = conn.db.transaction(
        ['meta', 'log', 'executions', 'inbox', 'workflowTasks', 'activityTasks', 'timers', 'leases'],
        'readonly',
      );
      const log = tx.objectStore('log');
      // Issued together: queued requests answer far faster than requests awaited one by one.
      const [id, carry, keys, entries, executions, inbox, workflowTasks, activityTasks, timers, leases] =
        await Promise.all([
          tx.objectStore('meta').get('id'),
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
      compaction.reload();
      // The newest entry always stays in the log (see compact): its key is the version.
      const version = keys[keys.length - 1] ?? 0;
      if (!conn.identified) {
        conn.id = id;
        conn.identified = true;
      }
      conn.version = Math.max(conn.version, version);
      return {
        version,
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
      const log = conn.db.transaction('log', 'readonly').objectStore('log');
      const range = IDBKeyRange.lowerBound(version, true);
      const [keys, entries] = await Promise.all([log.getAllKeys(range), log.getAll(range)]);
      const durable = keys[keys.length - 1] ?? version;
      // Every version since ours must still be in the log, or some changes are only in the stores.
      // The keys are distinct whole versions above ours up to `durable`: all there if as many.
      if (keys.length !== durable - version) return undefined;
      conn.version = Math.max(conn.version, durable);
      keys.forEach((key, i) => {
        compaction.add(key, entries[i]!);
        // Another connection wrote these runs' newest events: what is at hand of them is no
        // longer their latest, and a read must go to the packs.
        forgetRuns(entries[i]!.historyRuns ?? []);
      });
      return { version: durable, changes: entries.map((entry, i) => ({ ...entry, version: keys[i]! })) };
    },
    async get(table, key) {
      if (table === 'executions') return conn.db.get(table, key);
      // The stores keep a workflow-ID record only when the start order cannot tell (see
      // `foldLog`): the ID's current run is the one it names, unless a later run started.
      const tx = conn.db.transaction(['workflowIds', 'executions'], 'readonly');
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
      const store = conn.db.transaction(table, 'readonly').objectStore(table);
      return Promise.all(keys.map((key) => store.get(key)));
    },
    page(query, skip) {
      const filter = query.filter ?? {};
      const { index, prefix } = indexFor(filter);
      const store = conn.raw.transaction('executions', 'readonly').objectStore('executions');
      const request = store.index(index).openCursor(rangeFor(prefix, filter, query.after), 'prev');
      return collect<ExecutionRecord>(
        request,
        query.limit,
        (record) => !skip(record.runId) && matchesFilter(record, filter),
      );
    },
    closedBefore(time, limit, after, skip) {
      const store = conn.raw.transaction('executions', 'readonly').objectStore('executions');
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
      const store = conn.raw.transaction('executions', 'readonly').objectStore('executions');
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
      const tx = conn.db.transaction(['history', 'packs'], 'readonly');
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
      /** The events read, in order, none before `fromEventId`. */
      const events: HistoryEvent[] = [];
      let last = fromEventId - 1;
      // What the stores hold was written by weft, each event once, in order; anything else (a
      // record of another shape, an event twice, a gap) is refused, never skipped over or
      // dereferenced: the run it belongs to is quarantined (see the host's `integrity.ts`).
      const corrupt = (what: string): never => {
        throw new CorruptRecordError(`run ${runId}: ${what}`);
      };
      const add = (chunk: unknown, where: string): void => {
        if (!Array.isArray(chunk)) corrupt(`${where} holds no list of events`);
        for (const event of chunk as unknown[]) {
          const eventId = (event as { eventId?: unknown } | null)?.eventId;
          if (typeof eventId !== 'number') corrupt(`${where} holds an event without an event ID`);
          if ((eventId as number) < fromEventId) continue;
          if (eventId !== last + 1) {
            corrupt(
              (eventId as number) <= last
                ? `event ${eventId} is stored twice`
                : `the stored history skips from event ${last} to ${eventId}`,
            );
          }
          events.push(event as HistoryEvent);
          last = eventId as number;
        }
      };
      if (before) add((before.value as Partial<HistoryChunk>).events, 'a history chunk');
      for (const chunk of rest) add((chunk as Partial<HistoryChunk>).events, 'a history chunk');
      for (const pack of runPacks) {
        const chunks = (pack as Partial<Pack>).chunks;
        if (!Array.isArray(chunks)) corrupt('a pack of its history holds no chunks');
        const chunk = (chunks as unknown[]).find((c) => (c as Partial<HistoryChunk> | null)?.runId === runId);
        if (chunk !== undefined) add((chunk as Partial<HistoryChunk>).events, 'a pack of its history');
      }
      return events;
    },
    commit(batch) {
      // The raw API, events rather than idb's promise per request: a flush is on the engine's
      // critical path. What throws here (no transaction, a value that cannot be stored) rejects.
      return new Promise<boolean>((resolve, reject) => {
        const withHistory = batch.history.length > 0;
        const tx = conn.raw.transaction(withHistory ? ['log', 'packs'] : ['log'], 'readwrite');
        const { expectedVersion, history, dropHistory, ...rest } = batch;
        const key = expectedVersion + 1;
        const entry: LogEntry = {
          ...rest,
          ...(dropHistory.length > 0 && { dropHistory }),
          ...(withHistory && { historyRuns: history.map((c) => c.runId) }),
        };
        let conflict = false;
        tx.addEventListener('complete', () => {
          conn.version = Math.max(conn.version, key);
          compaction.add(key, entry);
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
    compact: compaction.compact,
    close() {
      compaction.close();
      conn.close();
    },
  };
  // Each on the connection of the moment, and run again if the browser closed it meanwhile.
  return {
    ...backing,
    load: () => conn.run(() => backing.load()),
    changesSince: (version) => conn.run(() => backing.changesSince(version)),
    get: ((table, key) => conn.run(() => backing.get(table, key))) as Backing['get'],
    getMany: (table, keys) => conn.run(() => backing.getMany(table, keys)),
    page: (query, skip) => conn.run(() => backing.page(query, skip)),
    closedBefore: (time, limit, after, skip) =>
      conn.run(() => backing.closedBefore(time, limit, after, skip)),
    count: (filter, correction) => conn.run(() => backing.count(filter, correction)),
    readHistory: (runId, fromEventId) => conn.run(() => backing.readHistory(runId, fromEventId)),
    commit: (batch) => conn.run(() => backing.commit(batch)),
    compact: (version, stored) => conn.run(() => backing.compact(version, stored)),
  };
}
