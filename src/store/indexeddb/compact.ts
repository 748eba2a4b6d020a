/**
 * Compaction: the log folded into the stores, in one transaction with the entries' removal, and
 * the history of the runs it drops or consolidates.
 */

import type { StoreNames } from 'idb';
import type { HistoryEvent } from '../../engine/events.ts';
import type { Backing, Put } from '../mirror.ts';
import { type DurableKey, durableKeyOf, memoryKey, pairKey, TABLES, type TableName } from '../tables.ts';
import type { ExecutionRecord, HistoryChunk, WorkflowIdRecord } from '../types.ts';
import type { Connection } from './connection.ts';
import { abortQuietly, type Carry, type LogEntry, type Pack, type WeftDB } from './schema.ts';

/** The tables whose fresh records may be carried, when open. */
const CARRIED_TABLES: ReadonlySet<TableName> = new Set([
  'workflowTasks',
  'activityTasks',
  'timers',
  'inbox',
  'executions',
]);

/** Compaction issues its writes this many at a time, each slice once the last is done. */
const COMPACT_SLICE = 64;

/**
 * A run with events in this many of the packs a fold covers has them merged into one chunk of
 * the history store: a long history reads as a few records, not one per flush.
 */
const CONSOLIDATE_PACKS = 16;

/**
 * What of the log a connection has to fold, and the fold: the backing's `compact`. The backing
 * tells it of every entry it catches up with or writes, and of every load.
 */
export interface Compaction {
  /** An entry this connection caught up with or wrote, at `version`. */
  add(version: number, entry: LogEntry): void;
  /** The backing loaded the database again: the log is read again when it next folds. */
  reload(): void;
  close(): void;
  compact: Backing['compact'];
}

/**
 * Compaction over the connection `conn` holds (`conn.raw` for the fold's requests, which it
 * issues raw: see the backing's `commit`).
 */
export function compactor(conn: Connection): Compaction {
  let closed = false;
  /**
   * The log's entries this connection caught up with or wrote, by version: what compaction
   * folds. Those it found at open are read again when it first folds (keeping them would hold
   * every value they superseded, in a connection that has just opened).
   */
  let unfolded = new Map<number, LogEntry>();
  let readLog = true;

  return {
    add(version, entry) {
      unfolded.set(version, entry);
    },
    reload() {
      unfolded = new Map();
      readLog = true;
    },
    close() {
      closed = true;
    },
    async compact(version, stored) {
      if (readLog) {
        const log = conn.db.transaction('log', 'readonly').objectStore('log');
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
        const tx = conn.raw.transaction(scope, 'readwrite');
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
  };
}

/** Deletes a run's history: its old chunks, and its events in every pack (a pack left empty goes). */
function dropRun(tx: IDBTransaction, runId: string): void {
  tx.objectStore('history').delete(IDBKeyRange.bound([runId, -Infinity], [runId, Infinity]));
  const request = tx.objectStore('packs').index('runs').openCursor(IDBKeyRange.only(runId));
  request.addEventListener('success', () => {
    const cursor = request.result;
    if (cursor === null) return;
    const pack: unknown = cursor.value;
    // A pack weft did not write is left as it is: a fold never fails on it (the run it names is
    // quarantined when its history is read).
    if (isPack(pack)) {
      const runs = pack.runs.filter((r) => r !== runId);
      if (runs.length === 0) cursor.delete();
      else cursor.update({ runs, chunks: pack.chunks.filter((c) => c.runId !== runId) } satisfies Pack);
    }
    cursor.continue();
  });
}

/** Whether `value` has a pack's shape: runs, and chunks each with a run ID and events. */
function isPack(value: unknown): value is Pack {
  const pack = value as Partial<Pack> | null;
  return (
    Array.isArray(pack?.runs) &&
    Array.isArray(pack.chunks) &&
    pack.chunks.every((c) => typeof c?.runId === 'string' && Array.isArray(c.events))
  );
}

/**
 * Moves a run's events out of the packs up to version `last` into one chunk of the history
 * store (a pack left empty goes). Readers see one or the other: the transaction is atomic, and a
 * history read takes each event once from wherever it is.
 */
function consolidateRun(tx: IDBTransaction, runId: string, last: number): void {
  const events: HistoryEvent[] = [];
  const merged = (): void => {
    const first = events[0];
    if (first)
      tx.objectStore('history').put({ runId, firstEventId: first.eventId, events } satisfies HistoryChunk);
  };
  const request = tx.objectStore('packs').index('runs').openCursor(IDBKeyRange.only(runId));
  request.addEventListener('success', () => {
    const cursor = request.result;
    if (cursor === null || (cursor.primaryKey as number) > last) return merged();
    const pack: unknown = cursor.value;
    // A pack weft did not write ends the merge: it, and the run's packs after it, stay as they
    // are (its next read finds it, and quarantines the run); a fold never fails on it.
    if (!isPack(pack)) return merged();
    for (const chunk of pack.chunks) if (chunk.runId === runId) events.push(...chunk.events);
    const runs = pack.runs.filter((r) => r !== runId);
    if (runs.length === 0) cursor.delete();
    else cursor.update({ runs, chunks: pack.chunks.filter((c) => c.runId !== runId) } satisfies Pack);
    cursor.continue();
  });
}

/** A record's last value in the entries a fold covers. */
interface FoldedRecord {
  table: TableName;
  key: DurableKey;
  value: object | undefined;
  /** Nothing was stored under its key before these entries. */
  fresh: boolean;
  /** The version of its last write. */
  at: number;
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
  const records = new Map<string, FoldedRecord>();
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
  const carries = ({ table, value, fresh, at }: FoldedRecord): boolean =>
    value !== undefined &&
    fresh &&
    at > carriedBefore &&
    CARRIED_TABLES.has(table) &&
    (table !== 'executions' || (value as ExecutionRecord).status === 'RUNNING');
  /** Runs carried: their workflow-ID records go with them, for the stores cannot find them by ID. */
  const carriedRuns = new Set<string>();
  for (const record of records.values())
    if (record.table === 'executions' && carries(record)) carriedRuns.add(record.key as string);
  for (const record of records.values()) {
    const { table, key, value, fresh } = record;
    if (value === undefined && fresh) continue;
    if (table === 'workflowIds' && value !== undefined) {
      if (carriedRuns.has((value as WorkflowIdRecord).runId)) {
        carried.push({ table, value, ...(fresh && { fresh: true as const }) });
        continue;
      }
      // The ID's last started run is its current one: this record says nothing the index does not.
      if (!('supersedes' in value)) continue;
    }
    if (carries(record)) {
      carried.push({ table, value: value!, fresh: true });
      continue;
    }
    out.push({ table, key, value });
    if (table === 'executions') executions.set(key as string, (value as ExecutionRecord | undefined) ?? null);
  }
  return { records: out, executions, dropHistory: [...dropHistory], carried };
}
