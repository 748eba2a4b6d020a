/**
 * When activity outcomes became durable, as a host's store shows them: the writes of a
 * transaction that record an attempt's end (or the activity's), once the flush that holds the
 * transaction is done. Node's hosts (world.ts) and the browser's (test/e2e/pages/fuzz.worker.ts)
 * watch their stores with it.
 */
import type { StoreOperation, StoreOutcome } from '../src/store/faulty.ts';
import type { ActivityTaskRecord, InboxRecord, Store, StoreTx } from '../src/store/types.ts';
import { realTime } from './clock.ts';

/**
 * An activity's outcome, durable: attempt `attempt` of activity `seq` of run `runId` ended (a
 * retry or the final outcome recorded), or, without `attempt`, the activity is gone (done, or
 * its run closed), as of `time`.
 */
export interface Resolution {
  runId: string;
  seq: number;
  attempt?: number;
  /**
   * The attempt was lost with its host and recorded as timed out by the next: it counts as an
   * attempt (as on Temporal's server), whether or not it had run.
   */
  lost?: boolean;
  time: number;
}

/** The failure a host records for an attempt another host claimed and never finished. */
export const isLostAttempt = (failure: { message?: string } | undefined): boolean =>
  /^Activity attempt \d+ was lost: /.test(failure?.message ?? '');

/**
 * The activity outcome a write inside a transaction records, if it is one: a message of an
 * attempt's end in the run's inbox, a retry (the task put back at its next attempt, with the
 * failure), or the task deleted (the activity is over).
 */
function activityOutcome(op: StoreOperation): Omit<Resolution, 'time'> | undefined {
  if (op.name === 'inbox.add') {
    const message = op.args[0] as InboxRecord;
    if (message.kind.startsWith('activity') && 'attempt' in message)
      return {
        runId: message.runId,
        seq: message.seq,
        attempt: message.attempt,
        ...('failure' in message && isLostAttempt(message.failure) && { lost: true }),
      };
  }
  if (op.name === 'activityTasks.put') {
    const task = op.args[0] as ActivityTaskRecord;
    if (task.lastFailure && task.owner === undefined)
      return {
        runId: task.runId,
        seq: task.seq,
        attempt: task.attempt - 1,
        ...(isLostAttempt(task.lastFailure) && { lost: true }),
      };
  }
  if (op.name === 'activityTasks.delete') return { runId: op.args[0] as string, seq: op.args[1] as number };
  return undefined;
}

/**
 * Hooks for a {@link faultyStore} around `base`: `onDurable` hears of each committed
 * transaction's activity outcomes once `base` has flushed it (never, if its host dies first).
 */
export function outcomeWatch(
  base: Store,
  onDurable: (resolutions: Resolution[]) => void,
): { before(op: StoreOperation): void; after(op: StoreOperation, outcome: StoreOutcome): void } {
  const outcomes = new WeakMap<StoreTx, Omit<Resolution, 'time'>[]>();
  return {
    before(op) {
      if (!op.tx || !op.writable) return;
      const outcome = activityOutcome(op);
      if (outcome) outcomes.set(op.tx, [...(outcomes.get(op.tx) ?? []), outcome]);
    },
    after(op, outcome) {
      const recorded = op.tx && outcomes.get(op.tx);
      if (!recorded || !outcome.ok) return;
      base.flushed({ lazy: true }).then(
        () => {
          const time = realTime();
          onDurable(recorded.map((r) => ({ ...r, time })));
        },
        () => undefined,
      );
    },
  };
}
