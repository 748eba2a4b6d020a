import {
  type DBSchema,
  type IDBPDatabase,
  type IDBPObjectStore,
  type IDBPTransaction,
  type StoreNames,
  wrap,
} from 'idb';
import type { ExecutionStatus, HistoryEvent } from '../engine/events.ts';
import { SchemaMismatchError } from '../engine/failure.ts';
import { compareExecutions, matchesFilter } from './filter.ts';
import type {
  ActivityTaskRecord,
  ExecutionFilter,
  ExecutionRecord,
  HistoryChunk,
  HostRecord,
  InboxRecord,
  Store,
  StoreTx,
  TimerRecord,
  WorkflowIdRecord,
  WorkflowTaskRecord,
} from './types.ts';

/** The schema this build writes. Bump it and add an `if (oldVersion < N)` step to migrate. */
export const SCHEMA_VERSION = 1;

/** How long to wait for other connections to let go of an old version before giving up. */
const BLOCKED_TIMEOUT_MS = 5_000;

/** Stored under `meta['schema']`; tells weft's databases from other applications'. */
interface SchemaMeta {
  app: 'weft';
  version: number;
}

interface WeftDB extends DBSchema {
  meta: { key: string; value: SchemaMeta };
  executions: {
    key: string;
    value: ExecutionRecord;
    indexes: {
      workflowId: string;
      parentRunId: string;
      parentWorkflowId: string;
      workflowType: string;
      status: ExecutionStatus;
    };
  };
  workflowIds: { key: string; value: WorkflowIdRecord };
  /** One record per commit: `[runId, firstEventId]`. */
  history: { key: [string, number]; value: HistoryChunk };
  inbox: { key: number; value: InboxRecord; indexes: { runId: string } };
  workflowTasks: { key: string; value: WorkflowTaskRecord; indexes: { taskQueue: string } };
  activityTasks: {
    key: [string, number];
    value: ActivityTaskRecord;
    indexes: { taskQueue: string; runId: string };
  };
  timers: { key: [string, string]; value: TimerRecord; indexes: { fireAt: number; runId: string } };
  hosts: { key: string; value: HostRecord };
}

type StoreName = StoreNames<WeftDB>;
type WeftTx = IDBPTransaction<WeftDB, StoreName[], 'readwrite'>;

const STORE_NAMES: StoreName[] = [
  'meta',
  'executions',
  'workflowIds',
  'history',
  'inbox',
  'workflowTasks',
  'activityTasks',
  'timers',
  'hosts',
];

/**
 * A {@link Store} in IndexedDB, through `idb`. Opening refuses (with `SchemaMismatchError`,
 * writing nothing) a database written by a newer weft or by another application. When another
 * tab upgrades the database, this connection closes and `onVersionChange` is called, so that
 * tab is not blocked.
 *
 * @example
 * const store = await indexedDbStore({ name: 'weft', onVersionChange: () => location.reload() });
 * // In Node: indexedDbStore({ name: 'test', indexedDB: new IDBFactory() }) with fake-indexeddb.
 */
export async function indexedDbStore(options: {
  name: string;
  indexedDB?: IDBFactory;
  onVersionChange?: () => void;
}): Promise<Store> {
  const { name, indexedDB: factory = globalThis.indexedDB, onVersionChange } = options;
  const db = await openWeftDatabase(factory, name);
  db.addEventListener('versionchange', () => {
    db.close();
    onVersionChange?.();
  });
  return {
    name: `indexeddb:${name}`,
    read: (fn) => runTransaction(db, 'readonly', fn),
    write: (fn) => runTransaction(db, 'readwrite', fn),
    close: () => db.close(),
  };
}

async function runTransaction<T>(
  db: IDBPDatabase<WeftDB>,
  mode: IDBTransactionMode,
  fn: (tx: StoreTx) => Promise<T>,
): Promise<T> {
  // Typed as read-write for both modes: in a read-only transaction IndexedDB itself throws a
  // ReadOnlyError from put/delete/add, which fails the transaction like any other write error.
  const tx = db.transaction(STORE_NAMES, mode) as WeftTx;
  const done = tx.done;
  done.catch(ignore);
  const pending: Promise<unknown>[] = [];
  // A write that fails (synchronously, like DataCloneError, or later, like ConstraintError)
  // fails the transaction even when `fn` catches it or never looks at it.
  let writeError: { error: unknown } | undefined;
  const track = (write: () => Promise<unknown>): void => {
    let request: Promise<unknown>;
    try {
      request = write();
    } catch (error) {
      writeError ??= { error };
      throw error;
    }
    request.catch((error: unknown) => {
      writeError ??= { error };
    });
    pending.push(request);
  };

  let result: T;
  try {
    result = await fn(idbTx(tx, track));
    if (writeError) throw writeError.error;
    await Promise.all(pending);
    await done;
  } catch (error) {
    // When a write failed first, `fn`'s own error is usually its consequence (an aborted
    // transaction); the write's error says what went wrong. Taken before aborting, which
    // fails every pending write with an AbortError.
    const cause = writeError;
    abortQuietly(tx);
    await done.catch(ignore);
    throw cause ? cause.error : error;
  }
  return result;
}

function idbTx(tx: WeftTx, track: (write: () => Promise<unknown>) => void): StoreTx {
  const executions = tx.objectStore('executions');
  const workflowIds = tx.objectStore('workflowIds');
  const history = tx.objectStore('history');
  const inbox = tx.objectStore('inbox');
  const workflowTasks = tx.objectStore('workflowTasks');
  const activityTasks = tx.objectStore('activityTasks');
  const timers = tx.objectStore('timers');
  const hosts = tx.objectStore('hosts');

  return {
    executions: {
      get: (runId) => executions.get(runId),
      put: (record) => track(() => executions.put(record)),
      async list(filter = {}) {
        const candidates = await executionsByMostSelectiveIndex(executions, filter);
        return candidates.filter((record) => matchesFilter(record, filter)).sort(compareExecutions);
      },
    },
    workflowIds: {
      get: (workflowId) => workflowIds.get(workflowId),
      put: (record) => track(() => workflowIds.put(record)),
    },
    history: {
      append: (runId, events) =>
        track(() => {
          const first = events[0];
          if (first === undefined) throw new RangeError('history.append needs at least one event');
          const chunk: HistoryChunk = { runId, firstEventId: first.eventId, events };
          // `add`, not `put`: a second chunk at the same event ID means two writers raced,
          // and overwriting would silently lose history.
          return history.add(chunk);
        }),
      async read(runId, fromEventId = 1) {
        // The chunk holding `fromEventId` may start before it: fetch the last chunk that starts
        // below it (a reverse cursor, one step) alongside every chunk that starts at or after it.
        const [before, rest] = await Promise.all([
          history.openCursor(
            IDBKeyRange.bound([runId, -Infinity], [runId, fromEventId], false, true),
            'prev',
          ),
          history.getAll(IDBKeyRange.bound([runId, fromEventId], [runId, Infinity])),
        ]);
        const events: HistoryEvent[] = [];
        if (before) {
          for (const event of before.value.events) if (event.eventId >= fromEventId) events.push(event);
        }
        for (const chunk of rest) events.push(...chunk.events);
        return events;
      },
    },
    inbox: {
      add: (record) =>
        track(() => {
          const value: Record<string, unknown> = { ...record };
          // IndexedDB would take a stray `id` as the key; the key generator must assign it.
          delete value.id;
          // The stored object gains its `id` from the key generator (keyPath + autoIncrement).
          return inbox.add(value as InboxRecord);
        }),
      list: (runId) => inbox.index('runId').getAll(runId),
      delete: (id) => track(() => inbox.delete(id)),
    },
    workflowTasks: {
      get: (runId) => workflowTasks.get(runId),
      put: (record) => track(() => workflowTasks.put(record)),
      delete: (runId) => track(() => workflowTasks.delete(runId)),
      async list(taskQueue) {
        const tasks = await (taskQueue === undefined
          ? workflowTasks.getAll()
          : workflowTasks.index('taskQueue').getAll(taskQueue));
        // Stable sort: equal times stay in runId (key) order.
        return tasks.sort((a, b) => a.scheduledTime - b.scheduledTime);
      },
    },
    activityTasks: {
      get: (runId, seq) => activityTasks.get([runId, seq]),
      put: (record) => track(() => activityTasks.put(record)),
      delete: (runId, seq) => track(() => activityTasks.delete([runId, seq])),
      list: (taskQueue) =>
        taskQueue === undefined ? activityTasks.getAll() : activityTasks.index('taskQueue').getAll(taskQueue),
      listByRun: (runId) => activityTasks.index('runId').getAll(runId),
    },
    timers: {
      put: (record) => track(() => timers.put(record)),
      delete: (runId, key) => track(() => timers.delete([runId, key])),
      list: () => timers.index('fireAt').getAll(),
      listByRun: (runId) => timers.index('runId').getAll(runId),
    },
    hosts: {
      get: (hostId) => hosts.get(hostId),
      put: (record) => track(() => hosts.put(record)),
      delete: (hostId) => track(() => hosts.delete(hostId)),
      list: () => hosts.getAll(),
    },
  };
}

/** Narrows by the index most likely to match few records; the rest is filtered in memory. */
function executionsByMostSelectiveIndex(
  executions: IDBPObjectStore<WeftDB, StoreName[], 'executions', 'readwrite'>,
  filter: ExecutionFilter,
): Promise<ExecutionRecord[]> {
  if (filter.parentRunId !== undefined) return executions.index('parentRunId').getAll(filter.parentRunId);
  if (filter.parentWorkflowId !== undefined) {
    return executions.index('parentWorkflowId').getAll(filter.parentWorkflowId);
  }
  if (filter.workflowId !== undefined) return executions.index('workflowId').getAll(filter.workflowId);
  if (filter.workflowType !== undefined) return executions.index('workflowType').getAll(filter.workflowType);
  if (filter.status !== undefined) return executions.index('status').getAll(filter.status);
  return executions.getAll();
}

/**
 * Opens `name` at {@link SCHEMA_VERSION}, creating or upgrading weft's schema, and refuses
 * databases that are not weft's or are newer, without writing to them.
 */
async function openWeftDatabase(factory: IDBFactory, name: string): Promise<IDBPDatabase<WeftDB>> {
  let db: IDBPDatabase<WeftDB>;
  try {
    db = await openAtSchemaVersion(factory, name);
  } catch (error) {
    // Opening below the database's version fails with a VersionError and changes nothing.
    if (error instanceof DOMException && error.name === 'VersionError') {
      throw await describeNewerDatabase(factory, name);
    }
    throw error;
  }
  const problem = await schemaProblem(db);
  if (problem !== undefined) {
    db.close();
    throw new SchemaMismatchError(`IndexedDB database "${name}": ${problem}`);
  }
  return db;
}

/**
 * `idb`'s `openDB` always uses the global `indexedDB`; this is the same, for any factory
 * (fake-indexeddb in Node), plus a time limit on being blocked and a veto in the upgrade.
 */
function openAtSchemaVersion(factory: IDBFactory, name: string): Promise<IDBPDatabase<WeftDB>> {
  return new Promise((resolve, reject) => {
    const request = factory.open(name, SCHEMA_VERSION);
    let settled = false;
    let refusal: string | undefined;
    let blockedTimer: ReturnType<typeof setTimeout> | undefined;
    const settle = (): boolean => {
      if (settled) return false;
      settled = true;
      clearTimeout(blockedTimer);
      return true;
    };

    request.addEventListener('blocked', (event) => {
      blockedTimer ??= setTimeout(() => {
        if (!settle()) return;
        reject(
          new Error(
            `IndexedDB database "${name}" is held open at version ${event.oldVersion} by another tab or ` +
              `worker that did not close it; close other tabs of this app and reload.`,
          ),
        );
      }, BLOCKED_TIMEOUT_MS);
    });

    request.addEventListener('upgradeneeded', (event) => {
      const transaction = request.transaction;
      if (transaction === null) return;
      // We gave up while blocked: the caller has an error already, so write nothing.
      if (settled) {
        transaction.abort();
        return;
      }
      const refuse = (reason: string): void => {
        refusal ??= reason;
        abortQuietly(transaction);
      };
      const upgradeTx = wrap(transaction) as unknown as IDBPTransaction<WeftDB, StoreName[], 'versionchange'>;
      // Wrapping creates `done`, which rejects if we refuse; the request reports that instead.
      upgradeTx.done.catch(ignore);
      upgrade(wrap(request.result) as unknown as IDBPDatabase<WeftDB>, event.oldVersion, upgradeTx, refuse);
    });

    request.addEventListener('success', () => {
      const db = request.result;
      if (!settle()) {
        db.close();
        return;
      }
      resolve(wrap(db) as unknown as IDBPDatabase<WeftDB>);
    });

    request.addEventListener('error', (event) => {
      // Handled here: keep the error from reaching a global `onerror`.
      event.preventDefault();
      if (!settle()) return;
      reject(
        refusal === undefined
          ? request.error
          : new SchemaMismatchError(`IndexedDB database "${name}": ${refusal}`),
      );
    });
  });
}

/**
 * Brings a database from `oldVersion` to {@link SCHEMA_VERSION}, one step per version.
 * Runs inside the versionchange transaction; `refuse` aborts it, which rolls back every step.
 */
function upgrade(
  db: IDBPDatabase<WeftDB>,
  oldVersion: number,
  transaction: IDBPTransaction<WeftDB, StoreName[], 'versionchange'>,
  refuse: (reason: string) => void,
): void {
  if (oldVersion > 0) {
    // An existing database must be weft's before any step changes it. The check reads the old
    // meta record: requests run in order, so it is read before the last step rewrites it.
    if (!db.objectStoreNames.contains('meta')) {
      refuse('not a weft database (it has no meta store)');
      return;
    }
    transaction
      .objectStore('meta')
      .get('schema')
      .then((meta) => {
        if (!isWeftMeta(meta)) refuse('not a weft database (its meta record is not weft’s)');
      }, ignore);
  }

  if (oldVersion < 1) {
    db.createObjectStore('meta');

    const executions = db.createObjectStore('executions', { keyPath: 'runId' });
    executions.createIndex('workflowId', 'workflowId');
    executions.createIndex('parentRunId', 'parentRunId');
    executions.createIndex('parentWorkflowId', 'parentWorkflowId');
    executions.createIndex('workflowType', 'workflowType');
    executions.createIndex('status', 'status');

    db.createObjectStore('workflowIds', { keyPath: 'workflowId' });
    db.createObjectStore('history', { keyPath: ['runId', 'firstEventId'] });

    const inbox = db.createObjectStore('inbox', { keyPath: 'id', autoIncrement: true });
    inbox.createIndex('runId', 'runId');

    const workflowTasks = db.createObjectStore('workflowTasks', { keyPath: 'runId' });
    workflowTasks.createIndex('taskQueue', 'taskQueue');

    const activityTasks = db.createObjectStore('activityTasks', { keyPath: ['runId', 'seq'] });
    activityTasks.createIndex('taskQueue', 'taskQueue');
    activityTasks.createIndex('runId', 'runId');

    const timers = db.createObjectStore('timers', { keyPath: ['runId', 'key'] });
    timers.createIndex('fireAt', 'fireAt');
    timers.createIndex('runId', 'runId');

    db.createObjectStore('hosts', { keyPath: 'hostId' });
  }

  const meta: SchemaMeta = { app: 'weft', version: SCHEMA_VERSION };
  transaction.objectStore('meta').put(meta, 'schema').catch(ignore);
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

/**
 * Builds the error for a database whose version is above ours: opens it at its own version
 * (which changes nothing) to tell a newer weft from another application.
 */
async function describeNewerDatabase(factory: IDBFactory, name: string): Promise<Error> {
  const db = await new Promise<IDBDatabase>((resolve, reject) => {
    const request = factory.open(name);
    // Only if the database vanished meanwhile: do not create an empty one.
    request.addEventListener('upgradeneeded', () => request.transaction?.abort());
    request.addEventListener('success', () => resolve(request.result));
    request.addEventListener('error', (event) => {
      event.preventDefault();
      reject(request.error);
    });
  });
  try {
    const version = db.version;
    let meta: unknown;
    if (db.objectStoreNames.contains('meta')) {
      meta = await wrap(db.transaction('meta').objectStore('meta').get('schema'));
    }
    const what = isWeftMeta(meta)
      ? `newer weft schema ${version} vs supported ${SCHEMA_VERSION}`
      : `not a weft database (version ${version})`;
    return new SchemaMismatchError(`IndexedDB database "${name}": ${what}`);
  } finally {
    db.close();
  }
}

function isWeftMeta(value: unknown): value is SchemaMeta {
  return (
    typeof value === 'object' &&
    value !== null &&
    'app' in value &&
    value.app === 'weft' &&
    'version' in value &&
    typeof value.version === 'number'
  );
}

function abortQuietly(tx: { abort(): void }): void {
  try {
    tx.abort();
  } catch {
    // Already committed or aborted: nothing left to undo.
  }
}

function ignore(): void {}
