import type { HistoryEvent } from '../engine/events.ts';
import { copy } from './copy.ts';
import { durableSide } from './mirror/durable.ts';
import { pendingWrites, reload, runFlushes, scheduleFlush, waitFor, waitForWrites } from './mirror/flush.ts';
import {
  applyChanges,
  exclusive,
  fill,
  MAYBE,
  MirrorState,
  NEW,
  nextInboxIdAfter,
  PENDING,
  report,
} from './mirror/state.ts';
import type { Backing, MirrorSnapshot } from './mirror/types.ts';
import {
  checkFence,
  chunkedEvents,
  isDurableTable,
  pairKey,
  rollback,
  type TxState,
  tablesTx,
} from './tables.ts';
import type { ExecutionRecord, Fence, Store, StoreStatus, StoreTx } from './types.ts';

export type { Backing, Change, FlushBatch, MirrorSnapshot, Put } from './mirror/types.ts';

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
): Store & { close(reason?: Error): void; report(status: StoreStatus): void } {
  const m = new MirrorState(backing);
  fill(m, initial);
  const durable = durableSide(m);

  function run<T>(
    writable: boolean,
    fn: (tx: StoreTx) => Promise<T>,
    options: { durable?: boolean; fence?: Fence } = {},
  ): Promise<T> {
    // Closed or broken: said at once, not after whatever is in flight (a store whose database
    // was deleted or cleared may have a request in flight that the browser never answers).
    if (m.broken) return Promise.reject(m.broken.error);
    if (m.closed)
      return Promise.reject(m.closedBy ?? new DOMException('The store is closed.', 'InvalidStateError'));
    // The database is out of space: a write waits until the flush held back goes in (or the
    // store closes), so that nothing is acted on that the database may never hold.
    if (writable && m.full) return m.full.resumed.then(() => run(writable, fn, options));
    let flush: number | undefined;
    const result = exclusive(m, async () => {
      if (m.broken) throw m.broken.error;
      if (m.closed) throw m.closedBy ?? new DOMException('The store is closed.', 'InvalidStateError');
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
        if (options.fence) checkFence(m.tables, options.fence);
        const value = await fn(tablesTx(m.tables, m.nextInboxId, state));
        if (state.failure) throw state.failure.error;
        for (const { table, key, previous, created } of state.writes) {
          // History is flushed from the tables as a whole.
          if (table === undefined) continue;
          const changed = m.dirty[table];
          if (!changed.has(key)) {
            changed.set(
              key,
              previous !== undefined ? previous : created || !isDurableTable(table) ? NEW : MAYBE,
            );
          }
          if (isDurableTable(table)) {
            const k = pairKey(table, key);
            if (table === 'executions' && !m.known.has(k)) {
              // Not known until now: memory held it as the stores do, or `add` made it new.
              if (previous !== undefined) m.storeValues.set(key as string, previous as ExecutionRecord);
              else if (created) m.storeValues.set(key as string, null);
            }
            m.known.set(k, PENDING);
          }
          m.dirtyCount++;
        }
        if (state.droppedHistory) {
          m.droppedHistory.push(...state.droppedHistory);
          for (const runId of state.droppedHistory) m.dropped.set(runId, PENDING);
        }
        if (state.writes.length > 0 || state.droppedHistory) {
          scheduleFlush(m);
          flush = m.window;
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
      if (flush !== undefined) await waitFor(m, flush);
      return value;
    });
  }

  /** History lives in memory only until flushed: older events are read from the backing. */
  async function readHistory(runId: string, fromEventId: number): Promise<HistoryEvent[]> {
    const local = [
      ...(m.historyInFlight.get(runId) ?? []),
      ...chunkedEvents(m.tables.history.get(runId)),
    ].filter((event) => event.eventId >= fromEventId);
    const firstLocal = local[0]?.eventId;
    if (firstLocal === fromEventId) return copy(local);
    // Deleted: the durable side drops it when the log is next folded.
    if (m.dropped.has(runId)) return copy(local);
    // A history read, and the replay that follows, is work too: compaction waits for it.
    m.lastActivity = performance.now();
    // Read after taking `local`: a chunk flushed meanwhile is in both, and kept once.
    const durable = await backing.readHistory(runId, fromEventId);
    m.lastActivity = performance.now();
    if (firstLocal === undefined) return durable;
    return [...durable.filter((event) => event.eventId < firstLocal), ...copy(local)];
  }

  return {
    name: backing.name,
    read: (fn) => run(false, fn),
    write: (fn, options) => run(true, fn, options),
    flushed(options) {
      return m.broken ? Promise.reject(m.broken.error) : waitForWrites(m, !options?.lazy);
    },
    async refresh() {
      // A few rounds at most: under a stream of own writes, catching up can wait for a quieter turn.
      for (let round = 0; round < 3 && !m.broken && !m.closed; round++) {
        // Writes of ours not yet flushed are built on the version we know: if someone wrote
        // since, their flush fails and the store reloads, which catches up too. Wait for that.
        if (m.flushing || pendingWrites(m)) {
          await waitForWrites(m).catch(() => undefined);
          continue;
        }
        const done = await exclusive(m, async () => {
          if (m.flushing || pendingWrites(m)) return false;
          const caughtUp = await backing.changesSince(m.version);
          if (caughtUp === undefined) {
            await reload(m, undefined);
            return true;
          }
          applyChanges(m, caughtUp.changes);
          m.logEntries += caughtUp.changes.length;
          m.nextInboxId.value = nextInboxIdAfter(m.nextInboxId.value, caughtUp);
          m.version = caughtUp.version;
          return true;
        });
        if (done) return;
      }
    },
    onReload(listener) {
      m.listeners.add(listener);
      return () => m.listeners.delete(listener);
    },
    onStatus(listener) {
      m.statusListeners.add(listener);
      return () => m.statusListeners.delete(listener);
    },
    report: (status) => report(m, status),
    close(reason?: Error) {
      if (m.closed) return;
      m.closed = true;
      m.closedBy = reason;
      // A flush waiting to be tried again for lack of space gives up now.
      m.full?.wake?.();
      clearTimeout(m.idleTimer);
      m.idleTimer = undefined;
      // What was written is flushed first; the connection closes once nothing is in flight.
      const drain = async (): Promise<void> => {
        clearTimeout(m.delayTimer);
        m.delayTimer = undefined;
        // The loop in flight is awaited as a whole: between two of its flushes (waiting for a
        // compaction or a reload to let go) there is no flush to wait for, and waiting for the
        // last one, over already, would spin without end, starving the very I/O it waits for.
        while (m.flushing || (pendingWrites(m) && !m.broken)) await runFlushes(m);
      };
      void drain().finally(() => backing.close());
    },
  };
}
