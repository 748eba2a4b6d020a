/**
 * The durable side of the mirror's transactions: what memory does not hold, read from the
 * stores, and counts of the stores corrected by what memory knows better.
 */

import { type DurableSide, matchesFilter, pairKey } from '../tables.ts';
import type { MirrorState } from './state.ts';

/** What memory does not hold: the stores, read through their indexes. */
export function durableSide(m: MirrorState): DurableSide {
  return {
    knows: (table, key) => m.known.has(pairKey(table, key)),
    get: m.backing.get,
    page: m.backing.page,
    closedBefore: m.backing.closedBefore,
    async count(filter) {
      const unknown: string[] = [];
      for (const k of m.known.keys()) {
        const runId = executionKey(k);
        if (runId !== undefined && !m.storeValues.has(runId)) unknown.push(runId);
      }
      if (unknown.length > 0) {
        const values = await m.backing.getMany('executions', unknown);
        unknown.forEach((runId, i) => {
          // Still known (no compaction in between, which would have told us what it stored).
          if (m.known.has(pairKey('executions', runId)) && !m.storeValues.has(runId))
            m.storeValues.set(runId, values[i] ?? null);
        });
      }
      return m.backing.count(filter, () => {
        let correction = 0;
        for (const k of m.known.keys()) {
          const runId = executionKey(k);
          if (runId === undefined) continue;
          const held = m.tables.executions.get(runId);
          const stored = m.storeValues.get(runId);
          if (held && matchesFilter(held, filter)) correction++;
          if (stored && matchesFilter(stored, filter)) correction--;
        }
        return correction;
      });
    },
  };
}

/** The run ID of a known key of the executions table, or undefined for another table's. */
function executionKey(k: string): string | undefined {
  return k.startsWith('executions\u0000') ? k.slice('executions\u0000'.length) : undefined;
}
