/**
 * Weft's IndexedDB schema: the stores and the records they hold, and opening a database at the
 * current schema (creating, migrating or refusing it).
 */

import { type DBSchema, type IDBPDatabase, type StoreNames, wrap } from 'idb';
import { SchemaMismatchError, StorageLostError } from '../../engine/failure.ts';
import type { Put } from '../mirror.ts';
import { type DurableKey, KEY_PATHS, TABLES, type TableName } from '../tables.ts';
import type {
  ActivityTaskRecord,
  ExecutionRecord,
  HistoryChunk,
  InboxRecord,
  LeaseRecord,
  TimerRecord,
  WorkflowIdRecord,
  WorkflowTaskRecord,
} from '../types.ts';

import { SCHEMA_VERSION } from './version.ts';

export { SCHEMA_VERSION };

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
export interface LogEntry {
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
export interface Carry {
  /** The fold's last version: the carry is the state of these records as of it. */
  version: number;
  nextInboxId: number;
  puts: Put[];
}

/**
 * One flush's history: each run's new events, as one record for all of them. A run's events are
 * found through the multi-entry index on `runs`. Packs are never moved: folding history into a
 * record per run would cost the platform one request per run, the bulk of a busy database's
 * writes.
 */
export interface Pack {
  runs: string[];
  chunks: HistoryChunk[];
}

/**
 * The stores, as `idb` types them (types only: the schema itself is made by `upgrade`). The
 * durable state is the tables' stores (records keyed by KEY_PATHS) with the log applied on top,
 * in key order. Open work is loaded at open; the rest is read through the executions' indexes.
 */
export interface WeftDB extends DBSchema {
  /**
   * The {@link SchemaMeta} under `'schema'`; under `'folded'`, the last log version the stores
   * hold; under `'carry'`, the {@link Carry} of the last fold; under `'id'`, a random ID given
   * the database when it was made (a database made before weft gave one has none).
   */
  meta: { key: string; value: SchemaMeta | number | Carry | string };
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
export const EXECUTION_INDEXES = {
  start: ['startTime', 'runId'],
  status: ['status', 'startTime', 'runId'],
  type: ['workflowType', 'startTime', 'runId'],
  parent: ['parentWorkflowId', 'startTime', 'runId'],
  workflowId: ['workflowId', 'startTime', 'runId'],
} as const;

/**
 * Opens `name` at {@link SCHEMA_VERSION}, creating or upgrading weft's schema, and refuses
 * databases that are not weft's or are newer, without writing to them. With `existing`, a
 * database that is not there is not created: the open fails with `StorageLostError` (the
 * database this engine had open is gone).
 */
export async function openWeftDatabase(
  factory: IDBFactory,
  name: string,
  { existing = false }: { existing?: boolean } = {},
): Promise<IDBPDatabase<WeftDB>> {
  const db = await openDatabase(factory, name, existing);
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
function openDatabase(factory: IDBFactory, name: string, existing: boolean): Promise<IDBPDatabase<WeftDB>> {
  return new Promise((resolve, reject) => {
    /** Blocked too long: the caller has an error already, and a late open must change nothing. */
    let gaveUp = false;
    let refusal: string | undefined;
    /** The database is not there, and must not be created. */
    let gone = false;
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
        // Nor when it must exist and does not: aborting its creation leaves no database behind.
        gone = existing && event.oldVersion === 0;
        if (version === undefined || gaveUp || gone) {
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
        if (gone) {
          reject(
            new StorageLostError(
              `IndexedDB database "${name}" was deleted or its data cleared while this engine had it open; this engine stopped, and did not create an empty one in its place`,
            ),
          );
        } else {
          reject(
            refusal === undefined
              ? error
              : new SchemaMismatchError(`IndexedDB database "${name}": ${refusal}`),
          );
        }
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
  // Which database this is: a connection the browser closed tells, on reopening, this one from
  // one cleared and made again meanwhile (see `Connection`).
  if (oldVersion < 1) transaction.objectStore('meta').put(crypto.randomUUID(), 'id');
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

export function abortQuietly(tx: { abort(): void }): void {
  try {
    tx.abort();
  } catch {
    // Already committed or aborted: nothing left to undo.
  }
}
