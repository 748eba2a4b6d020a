/**
 * Flushing: what transactions changed, written to the backing in one durable transaction per
 * flush, one flush at a time, and the waiters for each flush.
 */

import { StoreConflictError } from '../errors.ts';
import { chunkedEvents, durableKeyOf, isDurableTable, pairKey, TABLES, tableOf } from '../tables.ts';
import { scheduleCompaction } from './compact.ts';
import { exclusive, fill, MAYBE, type MirrorState, NEW, newDirty, PENDING, report, waiter } from './state.ts';
import type { FlushBatch, MirrorSnapshot } from './types.ts';

/** Writes nobody waits for are flushed within this delay. */
const FLUSH_DELAY_MS = 8;
/**
 * A flush the database refused for lack of space is tried again after this long, twice as long
 * each time up to the most: a refused transaction costs the database next to nothing.
 */
const FULL_RETRY_FIRST_MS = 200;
const FULL_RETRY_MAX_MS = 2_000;

export function waitFor(m: MirrorState, flush: number, urgent = true): Promise<void> {
  // Already over: say how it went.
  if (flush <= m.finished) {
    const gone = m.lostFlushes && flush >= m.lostFlushes.from && flush <= m.lostFlushes.to;
    return gone ? Promise.reject(m.lostFlushes!.error) : Promise.resolve();
  }
  let w = m.waiters.get(flush);
  if (w === undefined) {
    w = waiter();
    m.waiters.set(flush, w);
  }
  if (urgent && !w.urgent) {
    w.urgent = true;
    // Someone waits: the flush that holds their writes starts now, not after the delay.
    if (m.delayTimer !== undefined) {
      clearTimeout(m.delayTimer);
      m.delayTimer = undefined;
      startFlushing(m);
    }
  }
  return w.promise;
}

/** Waits until what was written so far is durable. */
export function waitForWrites(m: MirrorState, urgent = true): Promise<void> {
  if (pendingWrites(m)) return waitFor(m, m.window, urgent);
  return m.flushing ? waitFor(m, m.window - 1, urgent) : Promise.resolve();
}

/** Whether anyone waits for what is not yet flushed (rather than for a flush to happen). */
function urgentWaiting(m: MirrorState): boolean {
  for (const w of m.waiters.values()) if (w.urgent) return true;
  return false;
}

/**
 * Flushes at once when someone waits for durability; otherwise within `FLUSH_DELAY_MS`, so that
 * internal progress (nobody told of it yet) is written in fewer, larger flushes.
 */
export function scheduleFlush(m: MirrorState): void {
  if (m.flushing || m.closed || m.delayTimer !== undefined) return;
  if (urgentWaiting(m)) {
    startFlushing(m);
    return;
  }
  m.delayTimer = setTimeout(() => {
    m.delayTimer = undefined;
    startFlushing(m);
  }, FLUSH_DELAY_MS);
  (m.delayTimer as { unref?: () => void }).unref?.();
}

function startFlushing(m: MirrorState): void {
  if (m.flushing || m.closed) return;
  void runFlushes(m);
}

/** The flush loop: the one running, or a new one. @returns once it ends. */
export function runFlushes(m: MirrorState): Promise<void> {
  if (m.flushing && m.flushRun) return m.flushRun;
  m.flushing = true;
  const run = flushLoop(m).finally(() => {
    if (m.flushRun === run) m.flushRun = undefined;
  });
  m.flushRun = run;
  return run;
}

export function pendingWrites(m: MirrorState): boolean {
  return m.dirtyCount > 0 || m.tables.history.size > 0 || m.droppedHistory.length > 0;
}

async function flushLoop(m: MirrorState): Promise<void> {
  try {
    // The next flush follows at once only for someone waiting; otherwise after the delay.
    for (let first = true; pendingWrites(m) && !m.broken && (first || urgentWaiting(m)); first = false) {
      const batch = await exclusive(m, () => takeBatch(m));
      const flush = m.window - 1;
      const records = batch.puts.length + batch.deletes.length;
      if (records + batch.history.length + batch.dropHistory.length === 0) {
        settle(m, flush);
        continue;
      }
      let { committed, failure } = await commit(m, batch);
      // No space: the transaction aborted, nothing of the batch is in the database. The batch is
      // kept and tried again, and every later write waits (see `mirrorStore`), so nothing more is
      // acknowledged or acted on until the database takes it: then all goes on, none of it lost
      // or done twice. Memory already holds the batch, as it held it before the flush.
      for (let attempt = 0; !committed && isQuotaExceeded(failure) && !m.closed; attempt++) {
        if (!m.full) storageFull(m, failure);
        await retryDelay(m, attempt);
        if (m.closed) break;
        ({ committed, failure } = await commit(m, batch));
      }
      if (m.full) {
        if (!committed && m.closed) {
          // Closing while full (e.g. another tab upgrades the database): the writes held in
          // memory are dropped, unacknowledged, rather than holding the other tab up.
          const error =
            m.closedBy ??
            new StoreConflictError(
              `${m.backing.name}: the store closed while the database was full; unflushed writes were dropped`,
              {
                cause: failure,
              },
            );
          m.broken = { error };
          failAll(m, error);
        }
        storageBack(m, committed || !m.closed);
        if (m.broken) break;
      }
      if (committed) {
        m.version = batch.expectedVersion + 1;
        m.historyInFlight = new Map();
        m.wroteLog = true;
        m.logEntries++;
        m.logRecords += records;
        settle(m, flush);
        scheduleCompaction(m);
        continue;
      }
      await exclusive(m, () =>
        reload(
          m,
          new StoreConflictError(
            `${m.backing.name}: ${failure === undefined ? 'another connection wrote first' : 'a flush failed'}; unflushed writes were dropped`,
            { cause: failure },
          ),
        ),
      );
    }
  } finally {
    m.flushing = false;
    // A write may have landed while the last commit was in flight.
    if (pendingWrites(m) && !m.broken) scheduleFlush(m);
  }
}

async function commit(m: MirrorState, batch: FlushBatch): Promise<{ committed: boolean; failure?: unknown }> {
  m.lastActivity = performance.now();
  try {
    return { committed: await m.backing.commit(batch) };
  } catch (failure) {
    return { committed: false, failure };
  } finally {
    m.lastActivity = performance.now();
  }
}

function isQuotaExceeded(error: unknown): boolean {
  return (error as { name?: unknown } | undefined)?.name === 'QuotaExceededError';
}

/** The database refused a flush for lack of space: writes wait from now on. */
function storageFull(m: MirrorState, error: unknown): void {
  let resume!: () => void;
  const resumed = new Promise<void>((resolve) => {
    resume = resolve;
  });
  m.full = { error, resumed, resume };
  report(m, {
    state: 'full',
    message: `${m.backing.name}: the database is out of space (${error instanceof Error ? error.message : String(error)}); writes wait until it takes them`,
  });
}

/** The flush held back for lack of space is over (`ok`: it went in, or the store moved on). */
function storageBack(m: MirrorState, ok: boolean): void {
  const full = m.full;
  if (!full) return;
  m.full = undefined;
  full.resume();
  if (ok) report(m, { state: 'ok' });
}

/** Waits before trying a refused flush again; closing the store cuts it short. */
function retryDelay(m: MirrorState, attempt: number): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, Math.min(FULL_RETRY_MAX_MS, FULL_RETRY_FIRST_MS * 2 ** attempt));
    (timer as { unref?: () => void }).unref?.();
    if (m.full)
      m.full.wake = () => {
        clearTimeout(timer);
        resolve();
      };
  });
}

/** Takes what changed since the last flush; runs between transactions. */
function takeBatch(m: MirrorState): FlushBatch {
  const batch: FlushBatch = {
    expectedVersion: m.version,
    nextInboxId: m.nextInboxId.value,
    puts: [],
    deletes: [],
    history: [],
    dropHistory: m.droppedHistory,
  };
  const at = m.version + 1;
  for (const table of TABLES) {
    const durableTable = isDurableTable(table);
    for (const [key, previous] of m.dirty[table]) {
      const value = tableOf(m.tables, table).get(key);
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
        if (m.known.get(k) === PENDING) m.known.set(k, at);
      }
    }
  }
  m.dirty = newDirty();
  m.dirtyCount = 0;
  for (const runId of m.droppedHistory) m.dropped.set(runId, at);
  m.droppedHistory = [];
  for (const [runId, chunks] of m.tables.history) {
    const events = chunkedEvents(chunks);
    m.historyInFlight.set(runId, events);
    batch.history.push({ runId, firstEventId: events[0]!.eventId, events });
  }
  m.tables.history.clear();
  m.window++;
  return batch;
}

/** Flush `flush` committed: its writes, and every earlier one, are durable. */
function settle(m: MirrorState, flush: number): void {
  m.finished = Math.max(m.finished, flush);
  for (const [n, w] of m.waiters) {
    if (n > flush) continue;
    m.waiters.delete(n);
    w.resolve();
  }
}

/** Every write not yet durable is gone; later writes go into a flush of a new number. */
function failAll(m: MirrorState, error: unknown): void {
  m.lostFlushes = { from: m.finished + 1, to: m.window, error };
  m.finished = m.window;
  m.window++;
  for (const w of m.waiters.values()) w.reject(error);
  m.waiters.clear();
}

/** Drops unflushed writes and loads what is durable; runs between transactions. */
export async function reload(m: MirrorState, lost: StoreConflictError | undefined): Promise<void> {
  let snapshot: MirrorSnapshot;
  try {
    snapshot = await m.backing.load();
  } catch (error) {
    m.broken = { error };
    failAll(m, error);
    return;
  }
  fill(m, snapshot);
  m.dirty = newDirty();
  m.dirtyCount = 0;
  m.droppedHistory = [];
  m.historyInFlight = new Map();
  if (lost) {
    failAll(m, lost);
    for (const listener of m.listeners) {
      try {
        listener();
      } catch (error) {
        console.error('weft: a store reload listener threw', error);
      }
    }
  }
}
