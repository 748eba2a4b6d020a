import { type DBSchema, type IDBPDatabase, type StoreNames, unwrap, wrap } from 'idb';
import type { HistoryEvent } from '../engine/events.ts';
import { SchemaMismatchError } from '../engine/failure.ts';
import { copy } from './copy.ts';
import { type Backing, type MirrorSnapshot, mirrorStore } from './mirror.ts';
import {
  type DurableKey,
  durableKeyOf,
  KEY_PATHS,
  memoryKey,
  pairKey,
  TABLES,
  type TableName,
} from './tables.ts';
import type {
  ActivityTaskRecord,
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
export const SCHEMA_VERSION = 3;

/** How long to wait for other connections to let go of an old version before giving up. */
const BLOCKED_TIMEOUT_MS = 5_000;

/** Stored under `meta['schema']`; tells weft's databases from other applications'. */
interface SchemaMeta {
  app: 'weft';
  version: number;
}

/**
 * What one flush wrote, as one record: the platform writes a few large records far faster
 * than many small ones. Compaction later folds it into the stores below.
 */
interface LogEntry {
  nextInboxId: number;
  puts: { table: TableName; value: object }[];
  deletes: { table: TableName; key: DurableKey }[];
  history: HistoryChunk[];
}

/**
 * The stores, as `idb` types them (types only: the schema itself is made by `upgrade`). The
 * durable state is the tables' stores (records keyed by KEY_PATHS) with the log applied on top,
 * in key order. Every query runs in memory (see `mirror.ts`), so the stores need no indexes.
 */
interface WeftDB extends DBSchema {
  /** The {@link SchemaMeta} under `'schema'`. */
  meta: { key: string; value: SchemaMeta };
  /** {@link LogEntry}s, keyed by the version each flush created. */
  log: { key: number; value: LogEntry };
  /** {@link HistoryChunk}s, keyed by `[runId, firstEventId]`: a run's events, in chunks. */
  history: { key: [string, number]; value: HistoryChunk };
  executions: { key: string; value: ExecutionRecord };
  workflowIds: { key: string; value: WorkflowIdRecord };
  inbox: { key: number; value: InboxRecord };
  workflowTasks: { key: string; value: WorkflowTaskRecord };
  activityTasks: { key: [string, number]; value: ActivityTaskRecord };
  timers: { key: [string, string]; value: TimerRecord };
  leases: { key: string; value: LeaseRecord };
}

const STORE_NAMES: StoreNames<WeftDB>[] = ['meta', 'log', 'history', ...TABLES];

/**
 * Compaction waits for this long without a flush or a history read, so it does not compete with
 * work (it reads the whole log: a cold replay right after a start would share the CPU with it).
 */
const COMPACT_IDLE_MS = 1_000;
/** ...unless the log grew past this many entries: then it runs at once. */
const COMPACT_MAX_ENTRIES = 2_000;

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

/** Where a run's events in the log are (see `logged`). */
interface LoggedChunk {
  key: number;
  chunk?: HistoryChunk;
  own: boolean;
}

/**
 * The mirror's durable side in IndexedDB. A flush is one record appended to `log` (plus the
 * version check); when the database has been idle for a moment, or the log is long, compaction
 * folds the log into the stores, a record's last value once, in one transaction.
 */
function idbBacking(db: IDBPDatabase<WeftDB>, name: string): Backing {
  /** For the flush commit, which issues its requests raw (see `commit`). */
  const raw = unwrap(db);
  /**
   * Which log entries hold events of which run, in key order, with the chunks at hand. Chunks of
   * this connection's own flushes are copied for each reader. Chunks read from the database (at
   * load, or catching up) are fresh objects: the first reader takes them as they are, and the
   * next reads them from the log again.
   */
  let logged = new Map<string, LoggedChunk[]>();
  let logEntries = 0;
  let compacting = false;
  let idleTimer: ReturnType<typeof setTimeout> | undefined;
  let closed = false;

  /** Log entries read from the database: indexed, and counted towards compaction. */
  function noteEntries(keys: number[], entries: LogEntry[]): void {
    entries.forEach((entry, i) => {
      indexLogged(keys[i]!, entry.history, false);
    });
    logEntries += entries.length;
    scheduleCompaction();
  }

  function indexLogged(key: number, chunks: HistoryChunk[], own: boolean): void {
    for (const chunk of chunks) {
      const list = logged.get(chunk.runId) ?? [];
      list.push({ key, chunk, own });
      logged.set(chunk.runId, list);
    }
  }

  /** A chunk's events for a reader: copies of ours; fresh ones handed over once. */
  function take(item: LoggedChunk): HistoryEvent[] {
    const events = item.chunk?.events ?? [];
    if (item.own) return copy(events);
    delete item.chunk;
    return events;
  }

  /** When the last flush (or history read) began or ended, and how many flushes are in flight. */
  let lastFlush = 0;
  let flushesInFlight = 0;

  function scheduleCompaction(): void {
    if (closed || logEntries === 0) return;
    if (logEntries >= COMPACT_MAX_ENTRIES) {
      clearTimeout(idleTimer);
      idleTimer = undefined;
      void compact();
      return;
    }
    if (idleTimer !== undefined) return;
    const wait = (): void => {
      const idleFor = performance.now() - lastFlush;
      if (flushesInFlight > 0 || idleFor < COMPACT_IDLE_MS) {
        idleTimer = setTimeout(wait, COMPACT_IDLE_MS - Math.min(idleFor, COMPACT_IDLE_MS / 2));
        // Node: a pending compaction must not keep the process alive.
        (idleTimer as { unref?: () => void }).unref?.();
        return;
      }
      idleTimer = undefined;
      void compact();
    };
    wait();
  }

  function compact(): void {
    if (compacting) return;
    compacting = true;
    compactLog()
      .catch((error: unknown) => {
        // The log stays as it is, complete: compaction only saves space and load time.
        if (!closed) console.error('weft: log compaction failed (will retry)', error);
      })
      .finally(() => {
        compacting = false;
      });
  }

  async function compactLog(): Promise<void> {
    const tx = db.transaction(STORE_NAMES, 'readwrite');
    const log = tx.objectStore('log');
    const [keys, entries] = await Promise.all([log.getAllKeys(), log.getAll()]);
    // The newest entry stays: its key is how a commit sees that someone wrote after it.
    const folding = keys.length - 1;
    const last = keys[folding - 1];
    if (last === undefined) {
      await tx.done;
      return;
    }
    const folded = foldLog(entries.slice(0, folding));
    // Raw requests without handlers, not a promise each: a failed one aborts the transaction,
    // and `tx.done` reports it.
    const rawTx = unwrap(tx);
    for (const { table, key, value } of folded.records) {
      const store = rawTx.objectStore(table);
      if (value === undefined) store.delete(key);
      else store.put(value);
    }
    const history = rawTx.objectStore('history');
    for (const chunk of folded.history) history.add(chunk);
    rawTx.objectStore('log').delete(IDBKeyRange.upperBound(last));
    await tx.done;
    logEntries = Math.max(0, logEntries - folding);
    for (const [runId, list] of logged) {
      const rest = list.filter((item) => item.key > last);
      if (rest.length > 0) logged.set(runId, rest);
      else logged.delete(runId);
    }
  }

  return {
    name,
    async load() {
      const tx = db.transaction(STORE_NAMES, 'readonly');
      const log = tx.objectStore('log');
      // Issued together: queued requests answer far faster than requests awaited one by one.
      const [keys, entries, ...tables] = await Promise.all([
        log.getAllKeys(),
        log.getAll(),
        ...TABLES.map((table) => tx.objectStore(table).getAll()),
      ]);
      logged = new Map();
      logEntries = 0;
      noteEntries(keys, entries);
      return {
        // The newest entry always stays in the log (see compactLog): its key is the version.
        version: keys[keys.length - 1] ?? 0,
        ...Object.fromEntries(TABLES.map((table, i) => [table, tables[i]])),
        changes: entries,
      } as unknown as MirrorSnapshot;
    },
    async changesSince(version) {
      const log = db.transaction('log', 'readonly').objectStore('log');
      const range = IDBKeyRange.lowerBound(version, true);
      const [keys, entries] = await Promise.all([log.getAllKeys(range), log.getAll(range)]);
      const durable = keys[keys.length - 1] ?? version;
      // Every version since ours must still be in the log, or some changes are only in the stores.
      // The keys are distinct whole versions above ours up to `durable`: all there if as many.
      if (keys.length !== durable - version) return undefined;
      noteEntries(keys, entries);
      return { version: durable, changes: entries };
    },
    async readHistory(runId, fromEventId) {
      // A history read, and the replay that follows, is work too: compaction waits for it.
      lastFlush = performance.now();
      const items = logged.get(runId) ?? [];
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
      const first = items[0]?.chunk?.events[0]?.eventId;
      // All of the run from `fromEventId` on is at hand.
      if (first !== undefined && first <= fromEventId && items.every((item) => item.chunk)) {
        for (const item of items) add(take(item));
        return events;
      }
      // One snapshot of the stores and the log: compaction moves events from one to the other
      // atomically, so each event is in exactly one of them here.
      const tx = db.transaction(['history', 'log'], 'readonly');
      const history = tx.objectStore('history');
      const log = tx.objectStore('log');
      // The chunk holding `fromEventId` may start before it: fetch the last chunk that starts
      // below it (a reverse cursor, one step) alongside every chunk that starts at or after it.
      const [before, rest, ...entries] = await Promise.all([
        history.openCursor(IDBKeyRange.bound([runId, -Infinity], [runId, fromEventId], false, true), 'prev'),
        history.getAll(IDBKeyRange.bound([runId, fromEventId], [runId, Infinity])),
        ...items.map((item) => (item.chunk ? undefined : log.get(item.key))),
      ]);
      // The stores' chunks, then the log's, in order: each event once (what compaction already
      // moved is in the stores above).
      add(before?.value.events);
      for (const chunk of rest) add(chunk.events);
      items.forEach((item, i) => {
        add(item.chunk ? take(item) : entries[i]?.history.find((c) => c.runId === runId)?.events);
      });
      lastFlush = performance.now();
      return events;
    },
    commit(batch) {
      // The raw API, events rather than idb's promise per request: a flush is on the engine's
      // critical path. What throws here (no transaction, a value that cannot be stored) rejects.
      return new Promise<boolean>((resolve, reject) => {
        const tx = raw.transaction('log', 'readwrite');
        const { expectedVersion, ...entry } = batch;
        const key = expectedVersion + 1;
        let conflict = false;
        flushesInFlight++;
        lastFlush = performance.now();
        const ended = (): void => {
          flushesInFlight--;
          lastFlush = performance.now();
        };
        tx.addEventListener('complete', () => {
          ended();
          logEntries++;
          indexLogged(key, batch.history, true);
          scheduleCompaction();
          resolve(true);
        });
        tx.addEventListener('abort', () => {
          ended();
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
          log.add(entry satisfies LogEntry, key);
        } catch (error) {
          abortQuietly(tx);
          throw error;
        }
      });
    },
    close() {
      closed = true;
      clearTimeout(idleTimer);
      idleTimer = undefined;
      db.close();
    },
  };
}

/** The last value of every record the log touched, and each run's new events as one chunk. */
function foldLog(entries: LogEntry[]): {
  records: { table: TableName; key: DurableKey; value: object | undefined }[];
  history: HistoryChunk[];
} {
  const records = new Map<string, { table: TableName; key: DurableKey; value: object | undefined }>();
  const history = new Map<string, HistoryEvent[]>();
  for (const entry of entries) {
    for (const { table, key } of entry.deletes) {
      records.set(pairKey(table, memoryKey(key)), { table, key, value: undefined });
    }
    for (const { table, value } of entry.puts) {
      const key = durableKeyOf(table, value);
      records.set(pairKey(table, memoryKey(key)), { table, key, value });
    }
    for (const chunk of entry.history) {
      const events = history.get(chunk.runId) ?? [];
      events.push(...chunk.events);
      history.set(chunk.runId, events);
    }
  }
  return {
    records: [...records.values()],
    history: [...history].map(([runId, events]) => ({ runId, firstEventId: events[0]!.eventId, events })),
  };
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
      // Version 2 queries in memory and writes a log: indexes would only slow compaction.
      // Version 1 had them on its tables and hosts; a foreign database is refused once its meta
      // record has been read, which rolls this back.
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
      if (db.objectStoreNames.contains('log')) dropFromLog(transaction.objectStore('log'), 'hosts');
    }
  }

  const meta: SchemaMeta = { app: 'weft', version: SCHEMA_VERSION };
  // A failed request aborts the upgrade, and the open request reports it.
  transaction.objectStore('meta').put(meta, 'schema');
}

/**
 * Removes a dropped table's writes from every log entry: loading and compaction would
 * otherwise look for a table that is gone. Keys stay, so the database's version does too.
 */
function dropFromLog(log: IDBObjectStore, table: string): void {
  const request = log.openCursor();
  request.addEventListener('success', () => {
    const cursor = request.result;
    if (cursor === null) return;
    const entry = cursor.value as LogEntry;
    // Widened: the table is no longer one of TableName's.
    const kept = (change: { table: string }): boolean => change.table !== table;
    const puts = entry.puts.filter(kept);
    const deletes = entry.deletes.filter(kept);
    if (puts.length !== entry.puts.length || deletes.length !== entry.deletes.length) {
      cursor.update({ ...entry, puts, deletes });
    }
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
