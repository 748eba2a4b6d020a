/**
 * Compaction: the log folded into the stores, and closed runs out of memory.
 */

import { pairKey, recordKey } from '../tables.ts';
import { exclusive, type MirrorState } from './state.ts';

/**
 * The log is folded into the stores when nothing was flushed or read for this long, so that
 * compaction does not compete with work...
 */
const COMPACT_IDLE_MS = 1_000;
/**
 * ...or at once past this many records or entries in it: the log is what every connection
 * reads when it opens, so it must stay short however busy the database is.
 */
const COMPACT_MAX_RECORDS = 10_000;
const COMPACT_MAX_ENTRIES = 300;

export function scheduleCompaction(m: MirrorState): void {
  // Not while the database is out of space: a fold is writes too, and the next flush that goes
  // in schedules it again.
  if (m.closed || m.broken || m.full || !m.wroteLog || m.compacting || m.logEntries <= 1) return;
  // A log left by an earlier connection waits for a quiet moment: folding it first thing would
  // compete with the work that waited for this connection to open.
  const settled = performance.now() - m.openedAt > COMPACT_IDLE_MS;
  if (settled && (m.logRecords >= COMPACT_MAX_RECORDS || m.logEntries >= COMPACT_MAX_ENTRIES)) {
    clearTimeout(m.idleTimer);
    m.idleTimer = undefined;
    compact(m);
    return;
  }
  if (m.idleTimer !== undefined) return;
  const wait = (): void => {
    const idleFor = performance.now() - m.lastActivity;
    if (m.flushing || idleFor < COMPACT_IDLE_MS) {
      m.idleTimer = setTimeout(wait, COMPACT_IDLE_MS - Math.min(idleFor, COMPACT_IDLE_MS / 2));
      // Node: a pending compaction must not keep the process alive.
      (m.idleTimer as { unref?: () => void }).unref?.();
      return;
    }
    m.idleTimer = undefined;
    compact(m);
  };
  wait();
}

function compact(m: MirrorState): void {
  if (m.compacting || m.closed) return;
  m.compacting = true;
  const entriesBefore = m.logEntries;
  const recordsBefore = m.logRecords;
  m.backing
    .compact(m.version, (executions, carriedPuts) => {
      // The stores hold these now: what a count of theirs must be corrected by changes.
      for (const [runId, value] of executions) {
        if (m.storeValues.has(runId) || m.known.has(pairKey('executions', runId)))
          m.storeValues.set(runId, value);
      }
      // These the stores do not hold: memory goes on knowing better, until a fold stores them.
      m.carried = new Set(carriedPuts.map(({ table, value }) => pairKey(table, recordKey(table, value))));
      m.logRecords += m.carried.size;
    })
    .then((upTo) => {
      if (upTo === null) {
        // Another connection writes the log now: it folds it, knowing what it wrote.
        m.wroteLog = false;
        return;
      }
      if (upTo === undefined) return;
      // All but the newest entry were folded; what was flushed meanwhile stays counted.
      m.logEntries = Math.max(1, m.logEntries - entriesBefore + 1);
      m.logRecords = Math.max(0, m.logRecords - recordsBefore);
      return exclusive(m, () => forget(m, upTo));
    })
    .catch((error: unknown) => {
      // The log stays as it is, complete: compaction only saves memory, space and load time.
      // The next try waits for a quiet second, as a first one does.
      m.lastActivity = performance.now();
      if (!m.closed) console.error('weft: log compaction failed (will retry)', error);
    })
    .finally(() => {
      m.compacting = false;
      scheduleCompaction(m);
    });
}

/**
 * The stores hold every commit up to `upTo`: memory no longer needs to know better for what
 * those wrote, and the closed runs among them leave memory. Runs between transactions.
 */
function forget(m: MirrorState, upTo: number): void {
  for (const [runId, at] of m.dropped) if (at <= upTo) m.dropped.delete(runId);
  for (const [k, at] of m.known) {
    if (at > upTo || m.carried.has(k)) continue;
    m.known.delete(k);
    const [table, key] = splitKey(k);
    if (table === 'executions') {
      m.storeValues.delete(key);
      const exec = m.tables.executions.get(key);
      if (exec && exec.status !== 'RUNNING') {
        m.tables.executions.delete(key);
        const id = m.tables.workflowIds.get(exec.workflowId);
        if (id?.runId === key && !m.known.has(pairKey('workflowIds', exec.workflowId)))
          m.tables.workflowIds.delete(exec.workflowId);
      }
    } else {
      const id = m.tables.workflowIds.get(key);
      if (id && m.tables.executions.get(id.runId)?.status !== 'RUNNING') m.tables.workflowIds.delete(key);
    }
  }
}

function splitKey(k: string): [string, string] {
  const at = k.indexOf('\u0000');
  return [k.slice(0, at), k.slice(at + 1)];
}
